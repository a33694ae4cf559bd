# What the throwaway servers share: one server process in its own session, stopped, killed -9 as a
# crash would, and its log read back for an error message.
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


class ServerProcess:
    """The lifecycle of one server process (`self.process`) that writes `self.log_file`."""

    stop_signal = signal.SIGTERM
    process: subprocess.Popen | None = None
    log_file: Path

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def kill(self):
        """kill -9, as a crash would."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def tail_log(self, chars=2000):
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    @contextlib.contextmanager
    def admin_cursor(self, database):
        """An autocommit cursor as the server's administrator inside `database`."""
        conn = self.admin(database)
        cur = conn.cursor()
        try:
            yield cur
        finally:
            cur.close()
            conn.close()

    def admin(self, database):
        raise NotImplementedError

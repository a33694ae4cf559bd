# What the throwaway servers share: one server process in its own session, stopped, killed -9 as a
# crash would, and its log read back for an error message.
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


class ServerProcess:
    """The lifecycle of one server process (`self.process`) that writes `self.log_file`."""

    stop_signal = signal.SIGTERM
    process: subprocess.Popen | None = None
    log_file: Path

    def launch(self, command, output, not_ready, name, timeout=60, **popen):
        """Start `command` (output to the file `output`) and wait until admin() connects; `not_ready` is
        the driver's error while it cannot yet."""
        log = open(output, "ab")
        # Own process group: a test's kill -9 reaches the server only, never pytest.
        self.process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True, **popen)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("%s exited with %s: %s" % (name, self.process.returncode, self.tail_log()))
            try:
                self.admin().close()
                return
            except not_ready:
                time.sleep(0.2)
        raise RuntimeError("%s did not accept connections within %ss: %s" % (name, timeout, self.tail_log()))

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

    def admin(self, database=None):
        raise NotImplementedError

# What other users of the machine could see of a running job: every process's command line
# (`ps -eo args`) and environment. Tests poll them while backups and playbooks run and search
# them for secrets.
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

DUMP_TOOLS = ("mariadb-dump", "mariadb", "mysqldump", "mysql", "pg_dump", "pg_restore")


def proc_snapshot():
    """(pid, argv, environment) of every process this user can read, as bytes."""
    seen = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read()
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read()
        except OSError:
            continue
        seen.append((pid, argv, env))
    return seen


def tool_name(argv):
    """The program name of a NUL-separated argv."""
    return os.path.basename(argv.split(b"\0", 1)[0]).decode(errors="replace")


class ProcessWatcher(threading.Thread):
    """Polls `ps -eo args` and /proc until stopped; keeps every line holding one of `needles`.

    with ProcessWatcher([b"secret"]) as watcher: ...   then watcher.hits, watcher.tools_seen
    """

    # A dump of a small table lives some tens of milliseconds: poll /proc often enough to catch it even
    # when the machine is loaded (a missed tool makes "no secret seen" prove nothing).
    def __init__(self, needles, interval=0.02, ps_every=20):
        super().__init__(daemon=True)
        self.needles = [n if isinstance(n, bytes) else n.encode() for n in needles]
        self.interval = interval
        # /proc is read on every poll (cheap); `ps -eo args` every ps_every-th (a process each time).
        self.ps_every = ps_every
        self.hits = []
        self.tools_seen = set()
        self.polls = 0
        self._halt = threading.Event()

    def _search(self, where, data):
        for needle in self.needles:
            if needle in data:
                self.hits.append((where, data[:300]))

    def run(self):
        while not self._halt.is_set():
            if self.polls % self.ps_every == 0:
                listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, check=False).stdout
                self._search("ps -eo args", listing)
            for pid, argv, env in proc_snapshot():
                name = tool_name(argv)
                if name in DUMP_TOOLS:
                    self.tools_seen.add(name)
                self._search("argv of %s (%s)" % (pid, name), argv)
                self._search("environment of %s (%s)" % (pid, name), env)
            self.polls += 1
            time.sleep(self.interval)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._halt.set()
        self.join(10)


def files_under(*roots):
    """Every regular file under `roots` that exists."""
    return [p for root in roots if Path(root).exists() for p in sorted(Path(root).rglob("*")) if p.is_file() and not p.is_symlink()]

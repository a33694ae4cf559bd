# A throwaway PostgreSQL server for tests, the demo and the benchmark (issue 18): its own data
# directory, socket directory and port under one directory, made with initdb and run as one
# postgres process that a test may stop or kill -9.
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from tools.devstack.mariadb_server import TOOL_PASSWORD, TOOL_USER, free_port
from tools.devstack.server_process import ServerProcess

ADMIN_USER = "postgres"  # over the socket, trust: only this process's user reaches the socket directory
APP_USER = "app"
APP_PASSWORD = "App-pw-5Lk2"
INSTALL_HINT = "PostgreSQL server binaries not found: install them with 'sudo apt-get install -y postgresql' (Debian/Ubuntu)"
# initdb refuses to run as root: as root, the server runs as this system user (Debian's package creates it).
SYSTEM_USER = "postgres"


def find_bindir():
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and postgres, else the PATH's."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    for bindir in reversed(versions):
        if (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres and Path(initdb).parent == Path(postgres).parent:
        return Path(initdb).parent
    return None


class PostgresServer(ServerProcess):
    stop_signal = signal.SIGINT  # fast shutdown: roll back open transactions, then stop

    """One postgres process owning `base` (data directory, socket directory, log)."""

    def __init__(self, base, port=None, home=None):
        self.base = Path(base).resolve()
        self.base.mkdir(parents=True, exist_ok=True)
        self.log = self.log_file = self.base / "postgres.log"
        self.port = port or free_port()
        self.process = None
        self.bindir = find_bindir()
        if self.bindir is None:
            raise RuntimeError(INSTALL_HINT)
        self.as_user = SYSTEM_USER if os.geteuid() == 0 else None
        # As root, the server's user may not traverse the caller's directory (pytest's is 0700):
        # its data and socket then live in a directory of their own, which remove() deletes.
        # `home`: that of a server started earlier (the demo's, found again by `stop`).
        self.home = Path(home) if home else Path(tempfile.mkdtemp(prefix="jsonmend-pg-")) if self.as_user else self.base
        self.datadir = self.home / "data"
        self.socket_dir = self.home  # the socket is <home>/.s.PGSQL.<port>

    # -- lifecycle -------------------------------------------------------------
    def _run_as(self):
        return {"user": self.as_user, "group": pwd.getpwnam(self.as_user).pw_gid} if self.as_user else {}

    def initialize(self):
        if (self.datadir / "PG_VERSION").exists():
            return
        if self.as_user:
            entry = pwd.getpwnam(self.as_user)
            os.chown(self.home, entry.pw_uid, entry.pw_gid)
        cmd = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            ADMIN_USER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.home, **self._run_as())
        if result.returncode:
            raise RuntimeError("initdb failed: %s" % (result.stderr or result.stdout)[-2000:])

    def command(self):
        return [
            str(self.bindir / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",  # throwaway data: speed over durability
            "-c",
            "shared_buffers=128MB",
        ]

    def start(self, timeout=60):
        self.initialize()
        self.launch(self.command(), self.log, psycopg.OperationalError, "postgres", timeout, cwd=self.home, **self._run_as())
        self._create_roles()
        return self

    def remove(self):
        """Stop, then delete what lives outside `base` (as root, the data directory)."""
        self.stop()
        if self.home != self.base:
            shutil.rmtree(self.home, ignore_errors=True)

    def running_pid(self):
        """The pid of this data directory's postmaster when it runs (postmaster.pid), else None."""
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    # -- access ----------------------------------------------------------------
    def admin(self, database="postgres", autocommit=True):
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=ADMIN_USER, dbname=database, autocommit=autocommit)

    def connect(self, database="postgres", user=TOOL_USER, password=TOOL_PASSWORD, autocommit=True):
        return psycopg.connect(host="127.0.0.1", port=self.port, user=user, password=password, dbname=database, autocommit=autocommit)

    def _create_roles(self):
        with self.admin() as conn:
            for user, password in ((TOOL_USER, TOOL_PASSWORD), (APP_USER, APP_PASSWORD)):
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
                verb = "ALTER" if exists else "CREATE"
                # The tool needs more than SELECT for repair and backup; tests of a read-only role create their own.
                conn.execute(sql.SQL("{} ROLE {} LOGIN SUPERUSER PASSWORD {}").format(sql.SQL(verb), sql.Identifier(user), sql.Literal(password)))

    def create_database(self, name, owner=TOOL_USER):
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
        return name

    def login_params(self, database):
        """Module parameters that reach this server as the tool's role over TCP."""
        return dict(login_host="127.0.0.1", login_port=self.port, login_user=TOOL_USER, login_password=TOOL_PASSWORD, database=database, dialect="postgresql")

    def write_pgpass(self, path, database="*", user=TOOL_USER, password=TOOL_PASSWORD):
        """A password file, as an operator's ~/.pgpass would be; mode 0600 (libpq ignores it otherwise)."""
        path = Path(path)
        path.write_text("127.0.0.1:%d:%s:%s:%s\n" % (self.port, database, user, password.replace("\\", "\\\\").replace(":", "\\:")))
        path.chmod(0o600)
        return path


def main(argv=None):
    """Command line for the demo: start|stop|status BASE [PORT]; the server outlives the command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] not in ("start", "stop", "status"):
        print("usage: postgres_server.py start|stop|status BASE [PORT]", file=sys.stderr)
        return 2
    action, base = argv[0], Path(argv[1])
    base.mkdir(parents=True, exist_ok=True)
    port_file, home_file = base / "port", base / "home"
    port = int(argv[2]) if len(argv) > 2 else (int(port_file.read_text()) if port_file.exists() else None)
    home = home_file.read_text().strip() if home_file.exists() else None
    if action != "start" and home is None:
        print("stopped")
        return 0 if action == "stop" else 1
    server = PostgresServer(base, port=port, home=home)
    home_file.write_text(str(server.home))
    pid = server.running_pid()
    if action == "start":
        if pid:
            server._create_roles()
            print("PostgreSQL already running (pid %d) on 127.0.0.1:%d, socket directory %s" % (pid, server.port, server.socket_dir))
            return 0
        server.start()
        port_file.write_text(str(server.port))
        server.process = None  # detach: the demo server outlives this command until `stop`
        print("PostgreSQL started on 127.0.0.1:%d, socket directory %s" % (server.port, server.socket_dir))
        return 0
    if action == "stop":
        if pid:
            os.kill(pid, PostgresServer.stop_signal)
            for _ in range(300):
                if server.running_pid() is None:
                    break
                time.sleep(0.2)
        print("PostgreSQL stopped")
        return 0
    print("running (pid %d, port %d)" % (pid, server.port) if pid else "stopped")
    return 0 if pid else 1


if __name__ == "__main__":
    sys.exit(main())

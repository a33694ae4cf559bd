# A throwaway MariaDB server for tests, the demo and the benchmark: its own datadir,
# socket and port under one directory, started and stopped (or killed) on demand.
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pymysql

from tools.devstack.server_process import ServerProcess

ADMIN_USER = "root"  # over the socket, no password: only this process's user can reach it
TOOL_USER = "jsonmend"
TOOL_PASSWORD = "Jm-t0ol-pw-7Qx9"  # recognisable, so tests can search output for it
APP_USER = "app"
APP_PASSWORD = "App-pw-5Lk2"
INSTALL_HINT = "MariaDB server binaries not found: install them with 'sudo apt-get install -y mariadb-server' (Debian/Ubuntu)"


def find_binary(*names):
    """First of `names` on PATH or in the usual sbin directories, else None."""
    for name in names:
        found = shutil.which(name) or next(
            (str(Path(d) / name) for d in ("/usr/sbin", "/usr/local/sbin", "/usr/bin") if (Path(d) / name).exists()),
            None,
        )
        if found:
            return found
    return None


_HANDED_OUT: set[int] = set()


def free_port():
    """A TCP port free now. Under pytest-xdist each worker draws from its own range below the
    ephemeral ports, so two workers never pick the same port for servers they start (and restart)
    after closing the probe; alone, the kernel picks one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        low = 20000 + (int(worker[2:]) % 8) * 1500
        for _ in range(200):
            port = random.randrange(low, low + 1500)
            if port in _HANDED_OUT:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _HANDED_OUT.add(port)
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDBServer(ServerProcess):
    """One mariadbd process owning `base` (datadir, socket, logs, option files)."""

    def __init__(self, base, port=None, binlog=True, buffer_pool="256M"):
        self.base = Path(base).resolve()
        self.datadir = self.base / "data"
        # Its own tmpdir: a starting mariadbd deletes every #sql* file in its tmpdir (leftovers of a crash),
        # so servers sharing /tmp deleted each other's on-disk temporary tables (ERROR 6 on delete).
        self.tmpdir = self.base / "tmp"
        self.socket = str(self.base / "mysqld.sock")
        self.pidfile = self.base / "mysqld.pid"
        self.errorlog = self.log_file = self.base / "error.log"
        self.port = port or free_port()
        self.binlog = binlog
        self.buffer_pool = buffer_pool
        self.process = None
        self.mariadbd = find_binary("mariadbd", "mysqld")
        self.install_db = find_binary("mariadb-install-db", "mysql_install_db")
        if not self.mariadbd or not self.install_db:
            raise RuntimeError(INSTALL_HINT)

    # -- lifecycle -------------------------------------------------------------
    def initialize(self):
        if (self.datadir / "mysql").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        # The bootstrap server gets the same own tmpdir: two installs at once in /tmp deleted each
        # other's #sql-temptable files (ERROR 1051 'mysql.tmp_user_sys').
        cmd = [
            self.install_db,
            "--no-defaults",
            "--datadir=%s" % self.datadir,
            "--tmpdir=%s" % self.tmpdir,
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        env = dict(os.environ, TMPDIR=str(self.tmpdir))
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if result.returncode:
            raise RuntimeError("mariadb-install-db failed: %s" % (result.stderr or result.stdout)[-2000:])

    def command(self):
        cmd = [
            self.mariadbd,
            "--no-defaults",
            "--datadir=%s" % self.datadir,
            "--socket=%s" % self.socket,
            "--tmpdir=%s" % self.tmpdir,
            "--port=%d" % self.port,
            "--bind-address=127.0.0.1",
            "--pid-file=%s" % self.pidfile,
            "--log-error=%s" % self.errorlog,
            "--innodb-buffer-pool-size=%s" % self.buffer_pool,
            "--innodb-log-file-size=256M",
            "--max-allowed-packet=256M",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ]
        if self.binlog:
            cmd += ["--log-bin=%s" % (self.datadir / "binlog"), "--server-id=1", "--binlog-format=ROW"]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        return cmd

    def start(self, timeout=60):
        self.initialize()
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.launch(self.command(), self.base / "mariadbd.out", pymysql.err.MySQLError, "mariadbd", timeout)
        self._create_users()
        return self

    def restart(self):
        self.stop()
        return self.start()

    # -- access ----------------------------------------------------------------
    def admin(self, database=None, autocommit=True):
        return pymysql.connect(unix_socket=self.socket, user=ADMIN_USER, password="", database=database, autocommit=autocommit, charset="utf8mb4")

    def connect(self, database=None, user=TOOL_USER, password=TOOL_PASSWORD, autocommit=True):
        return pymysql.connect(host="127.0.0.1", port=self.port, user=user, password=password, database=database, autocommit=autocommit, charset="utf8mb4")

    def _create_users(self):
        with self.admin() as conn, conn.cursor() as cur:
            for user, password in ((TOOL_USER, TOOL_PASSWORD), (APP_USER, APP_PASSWORD)):
                for host in ("localhost", "127.0.0.1", "%"):
                    cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, password))
                    # The tool needs more than SELECT for repair and backup; tests of a
                    # read-only user create their own.
                    cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s", (user, host))

    def login_params(self, database):
        """Module parameters that reach this server as the tool's user over TCP."""
        return dict(login_host="127.0.0.1", login_port=self.port, login_user=TOOL_USER, login_password=TOOL_PASSWORD, database=database, config_file="")

    def write_client_option_file(self, path, database=None, user=TOOL_USER, password=TOOL_PASSWORD):
        """A [client] option file, as an operator's ~/.my.cnf would be; mode 0600."""
        path = Path(path)
        lines = ["[client]", "user=%s" % user, "password=%s" % password, "host=127.0.0.1", "port=%d" % self.port]
        if database:
            lines.append("database=%s" % database)
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path


def main(argv=None):
    """Command line for scripts: start|stop|status BASE [PORT]."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2:
        print("usage: mariadb_server.py start|stop|status BASE [PORT]", file=sys.stderr)
        return 2
    action, base = argv[0], argv[1]
    port_file = Path(base) / "port"
    port = int(argv[2]) if len(argv) > 2 else (int(port_file.read_text()) if port_file.exists() else None)
    Path(base).mkdir(parents=True, exist_ok=True)
    server = MariaDBServer(base, port=port)
    if action == "start":
        pid = _running_pid(server)
        if pid:
            server._create_users()
            print("MariaDB already running (pid %d) on 127.0.0.1:%d, socket %s" % (pid, server.port, server.socket))
            return 0
        server.start()
        port_file.write_text(str(server.port))
        # Detach: the demo server outlives this command until `stop`.
        server.process = None
        print("MariaDB started on 127.0.0.1:%d, socket %s" % (server.port, server.socket))
        return 0
    if action == "stop":
        pid = _running_pid(server)
        if pid:
            os.kill(pid, signal.SIGTERM)
            for _ in range(300):
                if not _alive(pid):
                    break
                time.sleep(0.2)
            print("MariaDB stopped")
        return 0
    if action == "status":
        pid = _running_pid(server)
        print("running (pid %d, port %d)" % (pid, server.port) if pid else "stopped")
        return 0 if pid else 1
    print("unknown action %r" % action, file=sys.stderr)
    return 2


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _running_pid(server):
    try:
        pid = int(server.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


if __name__ == "__main__":
    sys.exit(main())

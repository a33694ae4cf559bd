# A real MariaDB replica of a test server, for the replica-lag throttle: its own throwaway
# server following the primary's binlog from the current position, one database pattern only,
# with a lag the test sets through MASTER_DELAY or by stopping the SQL thread.
from __future__ import annotations

import secrets
import time

import pymysql

from tools.devstack.mariadb_server import MariaDBServer

REPL_USER = "jsonmend_repl"


class MariaDBReplica(MariaDBServer):
    """A server without a binlog of its own that replicates `databases` (a LIKE pattern) only."""

    def __init__(self, base, databases, **kwargs):
        kwargs.setdefault("buffer_pool", "64M")
        super().__init__(base, binlog=False, **kwargs)
        self.databases = databases

    def command(self):
        return super().command() + [
            "--server-id=2",
            "--relay-log=%s" % (self.datadir / "relay"),
            # Only the test's database: other tests' events on the primary never reach it.
            "--replicate-wild-do-table=%s.%%" % self.databases,
        ]

    def follow(self, primary, delay=0):
        """Replicate `primary` from its current binlog position, `delay` seconds behind."""
        password = secrets.token_urlsafe(16)  # a fresh one per replica, never shown
        with primary.admin() as conn, conn.cursor() as cur:
            cur.execute("CREATE OR REPLACE USER %s@'127.0.0.1' IDENTIFIED BY %s", (REPL_USER, password))
            cur.execute("GRANT REPLICATION SLAVE ON *.* TO %s@'127.0.0.1'", (REPL_USER,))
            cur.execute("SHOW MASTER STATUS")
            log_file, log_pos = cur.fetchone()[:2]
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%s, MASTER_USER=%s, MASTER_PASSWORD=%s, "
                "MASTER_LOG_FILE=%s, MASTER_LOG_POS=%s, MASTER_DELAY=%s",
                (primary.port, REPL_USER, password, log_file, log_pos, int(delay)),
            )
            cur.execute("START SLAVE")
        self.wait(lambda s: s["Slave_IO_Running"] == "Yes", "the replica's IO thread to connect")
        return self

    def status(self):
        with self.admin() as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute("SHOW SLAVE STATUS")
            return cur.fetchone() or {}

    def lag(self):
        """Seconds_Behind_Master: what the throttle reads; None while the SQL thread is stopped."""
        return self.status().get("Seconds_Behind_Master")

    def stop_sql_thread(self):
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("STOP SLAVE SQL_THREAD")

    def set_delay(self, delay):
        """A new MASTER_DELAY; replication stops for the change and starts again."""
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("STOP SLAVE")
            cur.execute("CHANGE MASTER TO MASTER_DELAY=%s", (int(delay),))
            cur.execute("START SLAVE")

    def catch_up(self, primary, timeout=60):
        """Wait until the replica has applied everything the primary wrote so far."""
        with primary.admin() as conn, conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            log_file, log_pos = cur.fetchone()[:2]
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT MASTER_POS_WAIT(%s, %s, %s)", (log_file, log_pos, timeout))
            waited = cur.fetchone()[0]  # NULL: the SQL thread is not running; -1: timed out
        if waited is None or waited < 0:
            raise AssertionError("the replica did not catch up (%s): %s" % (waited, self.tail_log()))

    def wait(self, condition, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status = self.status()
            if status and condition(status):
                return status
            if status.get("Last_Error") or status.get("Last_IO_Error"):
                raise AssertionError("replication failed: %s %s" % (status.get("Last_IO_Error"), status.get("Last_Error")))
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s" % what)

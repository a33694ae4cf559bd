# Align two InnoDB snapshots: ours (for row counts and checksums) and the dump tool's. One
# session holds a read lock on the dumped tables only for the moment between the two
# START TRANSACTION WITH CONSISTENT SNAPSHOT statements, so both see the same rows.
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.connection import connect, driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

LOCK_WAIT_TIMEOUT_ERRORS = (1205,)  # lock wait timeout (MDL and InnoDB)
LONG_TRANSACTION_SECONDS = 5


class AlignedSnapshot:
    """Writes to `tables` pause from open() to release(); `db` then reads the frozen state.

    Why two sessions: START TRANSACTION releases the table locks of its own session, so the
    session that holds LOCK TABLES cannot also be the one that reads the snapshot. LOCK TABLES
    ... READ (not FLUSH TABLES ... WITH READ LOCK) waits only for transactions that wrote the
    tables, never for long SELECTs, and needs no RELOAD privilege.
    """

    def __init__(self, params: Mapping[str, Any], database: str, tables: Iterable[str], lock_wait_timeout: int = 5, lock_retries: int = 3) -> None:
        self.params = params
        self.database = database
        self.tables = list(tables)
        self.lock_wait_timeout = max(1, int(lock_wait_timeout))
        self.lock_retries = max(1, int(lock_retries))
        self.lock_db = None
        self.db = None
        self.locked_at = None
        self.held_s = None
        self.binlog = {}

    # -- opening --------------------------------------------------------------
    def open(self) -> AlignedSnapshot:
        """Pause writes, open our snapshot, read the binlog position. Returns self."""
        self.db = connect(self.params)
        self.lock_db = connect(self.params, autocommit=True)
        try:
            self._lock()
            cur = self.db.cursor()
            try:
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            finally:
                cur.close()
            if self.db.dialect.name != "mariadb":
                # MySQL has no per-snapshot position: read it while writes are paused.
                self.binlog = self._binlog_position()
        except BaseException:
            self.close()
            raise
        return self

    def _lock(self):
        d = self.lock_db.dialect
        targets = ", ".join("%s.%s READ" % (d.qn(self.database), d.qn(t)) for t in self.tables)
        cur = self.lock_db.cursor()
        try:
            cur.execute("SET SESSION lock_wait_timeout = %s", (self.lock_wait_timeout,))
            cur.execute("SET SESSION innodb_lock_wait_timeout = %s", (self.lock_wait_timeout,))
            for attempt in range(1, self.lock_retries + 1):
                try:
                    cur.execute("LOCK TABLES " + targets)
                    self.locked_at = time.monotonic()
                    return
                except driver_error_types() as exc:
                    code = getattr(exc, "args", [None])[0]
                    if code not in LOCK_WAIT_TIMEOUT_ERRORS:
                        raise JsonmendError("could not lock %s for reading: %s" % (self._names(), driver_message(exc))) from None
                    if attempt == self.lock_retries:
                        raise JsonmendError(
                            "could not pause writes to %s for the snapshot: %d attempts of %ds each timed out"
                            " waiting for transactions that wrote them%s. Nothing was written; retry when they"
                            " have finished or raise backup_lock_wait_timeout" % (self._names(), attempt, self.lock_wait_timeout, self._long_transactions())
                        ) from None
                    time.sleep(min(2.0, 0.2 * attempt))
        finally:
            cur.close()

    def _names(self):
        shown = ", ".join("%s.%s" % (self.database, t) for t in self.tables[:5])
        return shown + (" and %d more" % (len(self.tables) - 5) if len(self.tables) > 5 else "")

    def _long_transactions(self):
        try:
            rows = self.lock_db.query(
                "SELECT t.trx_mysql_thread_id, p.USER, TIMESTAMPDIFF(SECOND, t.trx_started, NOW())"
                " FROM information_schema.INNODB_TRX t LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id"
                " WHERE t.trx_started < NOW() - INTERVAL %s SECOND ORDER BY t.trx_started LIMIT 5",
                (LONG_TRANSACTION_SECONDS,),
            )
        except driver_error_types():
            return ""
        if not rows:
            return ""
        return " (open transactions: %s)" % ", ".join("thread %s of %s, open %ss" % row for row in rows)

    def binlog_position(self) -> dict[str, Any]:
        """The binlog position of our snapshot; on MariaDB read after the lock is gone (it is
        tied to the snapshot, and BINLOG_GTID_POS() reads the binlog file, which takes time)."""
        if not self.binlog:
            self.binlog = self._binlog_position()
        return self.binlog

    def _binlog_position(self):
        """{file, position, gtid} consistent with our snapshot, or {} when binary logging is off."""
        if self.db.dialect.name == "mariadb":
            status = dict(self.db.query("SHOW STATUS LIKE %s", ("binlog_snapshot_%",)))
            log_bin = self.db.query_one("SELECT @@GLOBAL.log_bin")[0]
            if not int(log_bin or 0) or not status.get("Binlog_snapshot_file"):
                return dict(enabled=False)
            name, pos = status["Binlog_snapshot_file"], int(status["Binlog_snapshot_position"])
            gtid = self.db.query_one("SELECT BINLOG_GTID_POS(%s, %s)", (name, pos))[0]
            # MariaDB reports the position at which our snapshot was taken: exact for every table.
            return dict(enabled=True, file=name, position=pos, gtid=gtid or "", exact="server")
        # MySQL: read while the lock holds, so the position is exact for the dumped tables.
        try:
            row = self.db.query_one("SHOW BINARY LOG STATUS")
        except driver_error_types():
            try:
                row = self.db.query_one("SHOW MASTER STATUS")
            except driver_error_types():
                row = None
        if not row:
            return dict(enabled=False)
        gtid = self.db.query_one("SELECT @@GLOBAL.gtid_executed")[0] if len(row) < 5 else row[4]
        return dict(enabled=True, file=row[0], position=int(row[1]), gtid=(gtid or "").replace("\n", ""), exact="dumped tables")

    # -- closing --------------------------------------------------------------
    def release(self) -> float | None:
        """Let writes resume (idempotent). Returns how long they were paused, in seconds."""
        if self.lock_db is not None:
            try:
                self.lock_db.query("UNLOCK TABLES")
            except driver_error_types():
                pass  # closing the session releases the lock as well
            finally:
                self.lock_db.close()
                self.lock_db = None
                if self.locked_at is not None:
                    self.held_s = time.monotonic() - self.locked_at
        return self.held_s

    def cancel(self) -> None:
        """Stop a statement running on the snapshot connection (called from another thread)."""
        if self.db is None:
            return
        try:
            killer = connect(self.params, autocommit=True)
        except (JsonmendError,) + driver_error_types():
            return
        try:
            killer.query("KILL QUERY %s", (self.db.conn.thread_id(),))
        except driver_error_types():
            pass
        finally:
            killer.close()

    def close(self) -> None:
        self.release()
        if self.db is not None:
            try:
                self.db.conn.rollback()
            except driver_error_types():
                pass
            self.db.close()
            self.db = None

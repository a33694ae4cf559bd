# What repair and undo share: session settings (READ COMMITTED, short lock waits, binary log
# stance), the advisory lock, precondition checks, throttling, retries and progress.
from __future__ import annotations

import os
import random
import re
import time
from typing import TYPE_CHECKING, Any, TypeVar

from ansible.module_utils.jsonmend.db.clock import utc_compact
from ansible.module_utils.jsonmend.db.connection import driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.grants import missing_privileges, parse_grants, redact
from ansible.module_utils.jsonmend.db.locks import AdvisoryLock, table_lock_name
from ansible.module_utils.jsonmend.repair.policy import ACTIONS, WRITING_ACTIONS
from ansible.module_utils.jsonmend.repair.progress import ProgressLog, eta_seconds, progress_line
from ansible.module_utils.jsonmend.repair.throttle import Throttle, replica_probes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence, Sized

    from ansible.module_utils.jsonmend.db.connection import Database
    from ansible.module_utils.jsonmend.repair.ledger import Ledger
    from ansible.module_utils.jsonmend.repair.target import RepairTarget

_T = TypeVar("_T")

RETRYABLE = (1205, 1213)  # lock wait timeout, deadlock
# Errors that are not about one row's data: they end the chunk (and are retried or reported),
# never turn a row into "unwritable". Codes from 2000 up are the client's (connection lost...).
NOT_ROW_ERRORS = RETRYABLE + (
    1044,  # access denied to the database
    1045,  # access denied
    1053,  # server shutdown
    1054,  # unknown column
    1064,  # syntax error
    1142,  # command denied on a table
    1143,  # command denied on a column
    1146,  # table does not exist
    1180,  # commit failed
    1181,  # rollback failed
    1227,  # privilege needed
    1317,  # query interrupted
    1927,  # connection killed
    1969,  # max_statement_time exceeded
    3024,  # max_execution_time exceeded
)
GOOD_ACCESS = ("range", "const", "eq_ref", "ref", "system")
SAMPLE_CHARS = 200


def new_run_id() -> str:
    return "%s-%04x" % (utc_compact(), random.randrange(65536))


def text(value: object, limit: int = SAMPLE_CHARS) -> str | None:
    """A value for output: bytes decoded, cut to `limit` characters; None stays None (SQL NULL)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    value = str(value)
    return value if len(value) <= limit else value[:limit] + "…"


def plain(value: object) -> object:
    """A key for output."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value


def placeholders(values: Sized) -> str:
    return ", ".join(["%s"] * len(values))


def is_row_error(exc: BaseException) -> bool:
    """True for a driver error about the data of the row(s) a statement wrote (1048, 1406, 1366, CHECK, ...)."""
    code = exc.args[0] if getattr(exc, "args", None) else None
    return isinstance(code, int) and code < 2000 and code not in NOT_ROW_ERRORS


def reason_key(reason: str) -> str:
    """A reason without what varies per row (the row number, the bytes quoted): groups failures."""
    reason = re.sub(r" at row \d+", "", reason)
    reason = re.sub(r"value: '.*?' for", "value for", reason)
    return reason.split(": ", 1)[0] if reason.startswith("the ") else reason[:160]


class Stats:
    """Counters of one run: carried over from its checkpoint when resumed, plus this invocation's."""

    def __init__(self, carried: Mapping[str, Any] | None = None) -> None:
        carried = carried or {}
        self.actions = dict((a, int((carried.get("actions") or {}).get(a, 0))) for a in ACTIONS)
        self.by_type = dict((k, dict(v)) for k, v in (carried.get("by_type") or {}).items())
        self.restored = int(carried.get("restored", 0))
        self.conflicts = int(carried.get("conflicts", 0))
        self.unwritable = dict((k, int(v)) for k, v in (carried.get("unwritable") or {}).items())
        self.run_chunks = int(carried.get("chunks", 0))
        self.chunks = 0
        self.rows_examined = 0
        self.rows_changed_now = 0
        self.retries = 0

    def rows_changed(self) -> int:
        return sum(self.actions[a] for a in WRITING_ACTIONS)

    def unwritable_rows(self) -> int:
        return sum(self.unwritable.values())

    def add(self, kind: str, action: str, rows: int = 1) -> None:
        self.actions[action] += rows
        entry = self.by_type.setdefault(kind, dict(action=action, rows=0))
        entry["rows"] += rows
        entry["action"] = action

    def ledger_counts(self) -> dict[str, Any]:
        """A copy of the run's counters, as the runs table stores them."""
        return dict(
            actions=dict(self.actions),
            by_type=dict((k, dict(v)) for k, v in self.by_type.items()),
            restored=self.restored,
            conflicts=self.conflicts,
            unwritable=dict(self.unwritable),
            unwritable_rows=self.unwritable_rows(),
            chunks=self.run_chunks + self.chunks,
        )


class Job:
    """What repair and undo share: session settings, lock, checks, throttling, retries, progress."""

    kind = "repair"

    def __init__(self, params: Mapping[str, Any], db: Database, target: RepairTarget, ledger: Ledger, check_mode: bool, diff: bool = False) -> None:
        self.params = params
        self.db = db
        self.t = target
        self.ledger = ledger
        self.check_mode = check_mode
        self.diff = diff
        self.warnings = []
        self.samples = []
        self.started = time.monotonic()
        self.last_progress = None
        self.chunk_size = params["chunk_size"]
        self.stopped = False
        self.lock = AdvisoryLock(db, table_lock_name(target.database, target.table), "%s.%s" % (target.database, target.table))
        self.progress = ProgressLog(params["progress_file"]) if params["progress_file"] and not check_mode else ProgressLog(None)
        self.throttle = Throttle(
            db,
            max_threads_running=params["max_threads_running"],
            max_replica_lag=params["max_replica_lag"],
            probes=replica_probes(params, params["replicas"], params["replica_lag_query"]),
            pause_file=params["pause_file"],
            interval=params["throttle_interval"],
            max_wait=params["max_throttle_time"],
        )

    # -- session -------------------------------------------------------------
    # -- the key walk a repair and an undo share ----------------------------------
    def resume_walk(self, previous: Mapping[str, Any]) -> None:
        """Continue an unfinished run of the ledger from its checkpoint, with its counts."""
        self.run_id = previous["run_id"]
        self.run_recorded = True
        self.resumed = True
        self.stats = Stats(previous["counts"])
        self.start_key, self.end_key = previous["start_key"], previous["end_key"]
        self.position, self.inclusive = (previous["last_key"], False) if previous["last_key"] is not None else (self.start_key, True)

    def start_walk(self, low: Any, high: Any) -> None:
        """Walk the key range [low, high] from its start, with no counts yet."""
        self.stats = Stats()
        self.start_key, self.end_key = low, high
        self.position, self.inclusive = low, True

    def walk_rows(self) -> int:
        """Rows the walk expects, for the fraction of a non-integer key."""
        raise NotImplementedError

    def fraction(self) -> float:
        """How far the walk is, by key for integer keys, else by rows against walk_rows()."""
        if self.end_key is None:
            return 1.0
        if self.t.pk_is_integer:
            if self.end_key == self.start_key:
                return 0.0 if self.inclusive else 1.0
            return (self.position - self.start_key) / float(self.end_key - self.start_key)
        return min(1.0, self.stats.rows_examined / float(max(1, self.walk_rows())))

    def open_session(self) -> dict[str, Any]:
        """Strict sql_mode, READ COMMITTED (no gap locks on the application's rows), a short lock wait, the binary log stance."""
        db = self.db
        cur = db.cursor()
        try:
            # Whatever the server's global mode: a value that does not fit fails, it is never cut or replaced.
            db.dialect.pin_sql_mode(cur)
        finally:
            cur.close()
        db.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        db.query("SET SESSION innodb_lock_wait_timeout = %s", (int(self.params["innodb_lock_wait_timeout"]),))
        return self.binlog_stance()

    def binlog_stance(self) -> dict[str, Any]:
        db = self.db
        log_bin, session_log_bin, fmt = db.query_one("SELECT @@GLOBAL.log_bin, @@SESSION.sql_log_bin, @@SESSION.binlog_format")
        log_bin, session_log_bin = bool(int(log_bin)), bool(int(session_log_bin))
        wanted = self.params["sql_log_bin"]
        if not self.check_mode and session_log_bin != wanted:
            try:
                db.query("SET SESSION sql_log_bin = %s", (1 if wanted else 0,))
            except driver_error_types() as exc:
                raise JsonmendError(
                    "could not set sql_log_bin=%d for the session (needs SUPER or BINLOG ADMIN): %s" % (1 if wanted else 0, driver_message(exc))
                ) from None
            session_log_bin = wanted
        if log_bin and session_log_bin and (fmt or "").upper() == "STATEMENT" and not self.check_mode:
            # InnoDB cannot log READ COMMITTED writes as statements.
            try:
                db.query("SET SESSION binlog_format = 'ROW'")
                fmt = "ROW"
            except driver_error_types() as exc:
                raise JsonmendError(
                    "binlog_format is STATEMENT, which cannot log READ COMMITTED changes, and the session could not switch to ROW: %s" % driver_message(exc)
                ) from None
        logged = log_bin and session_log_bin
        if logged:
            message = "changes go to the binary log (%s): replicas apply them" % fmt
        elif not log_bin:
            message = "binary logging is off on this server: the changes reach no replica and no binlog-based backup"
        else:
            message = "sql_log_bin=0 for this session: the changes are NOT in the binary log; replicas will not get them"
        if not logged:
            self.warnings.append(message)
        return dict(log_bin=log_bin, sql_log_bin=session_log_bin, format=fmt, logged=logged, message=message)

    def check_grants(self, needed_by_table: Iterable[tuple[str, Sequence[str]]]) -> str:
        """Refuse when SHOW GRANTS gives no needed privilege; return a summary."""
        if not self.params["check_grants"]:
            return "not checked (check_grants=false)"
        lines = [row[0] for row in self.db.query("SHOW GRANTS")]
        grants = parse_grants(lines)
        missing = []
        for table, needed in needed_by_table:
            for privilege in missing_privileges(grants, self.t.database, table, needed):
                missing.append("%s on %s.%s" % (privilege, self.t.database, table))
        if missing:
            raise JsonmendError(
                "the user lacks %s (SHOW GRANTS: %s). Grant them, or set check_grants=false if they come from a role"
                " this check cannot see; nothing was changed" % (", ".join(missing), " | ".join(redact(line) for line in lines))
            )
        return "ok"

    def explain(self, label: str, statement: str, args: Sequence[Any]) -> dict[str, Any]:
        """EXPLAIN a chunk statement; refuse unless it reads a range of the primary key."""
        cur = self.db.cursor()
        try:
            cur.execute("EXPLAIN " + statement, args)
            names = [d[0].lower() for d in cur.description]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            cur.close()
        first = rows[0] if rows else {}
        access, key = first.get("type"), first.get("key")
        entry = dict(statement=label, type=access, key=key, rows=first.get("rows"))
        if access is None and "impossible" in str(first.get("extra") or "").lower():
            # Nothing left in the range: the statement reads no row at all.
            entry["type"] = "none"
            return entry
        if access not in GOOD_ACCESS or key != "PRIMARY":
            raise JsonmendError(
                "EXPLAIN of the %s shows access type %s on key %s, not a range of the primary key: refusing to scan the table; nothing was changed"
                % (label, access, key)
            )
        return entry

    # -- operator controls ---------------------------------------------------
    def stop_requested(self) -> bool:
        return bool(self.params["stop_file"]) and os.path.exists(self.params["stop_file"])

    def refuse_if_stop_file(self) -> None:
        if self.stop_requested():
            raise JsonmendError("the stop file %s exists: remove it to start the run; nothing was changed" % self.params["stop_file"])

    def wait_for_throttle(self, rows_done: int, fraction: float | None, changed: int) -> bool:
        def report(reason, waited):
            self.progress.write(progress_line(self.kind, self.run_id, rows_done, fraction, self.rate(), None, changed, self.chunk_size, reason))

        go = self.throttle.wait(should_stop=self.stop_requested, on_wait=report)
        if not go:
            self.stopped = True
        return go

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.stats.rows_examined / elapsed if elapsed > 0 else 0

    def maybe_progress(self, fraction: float | None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and self.last_progress is not None and now - self.last_progress < self.params["progress_interval"]:
            return
        self.last_progress = now
        elapsed = now - self.started
        self.progress.write(
            progress_line(
                self.kind,
                self.run_id,
                self.stats.rows_examined,
                fraction,
                self.rate(),
                eta_seconds(fraction, elapsed) if fraction else None,
                self.stats.rows_changed_now,
                self.chunk_size,
                self.throttle.last_reason if self.throttle.waits else None,
            )
        )

    def adapt(self, elapsed: float) -> None:
        """Move the chunk size toward chunk_time, at most doubling or halving per step."""
        p = self.params
        if not p["chunk_time"] or elapsed <= 0:
            return
        factor = min(2.0, max(0.5, p["chunk_time"] / elapsed))
        self.chunk_size = int(min(p["chunk_size_max"], max(p["chunk_size_min"], self.chunk_size * factor)))

    # -- transactions --------------------------------------------------------
    def rollback(self) -> None:
        try:
            self.db.conn.rollback()
        except Exception:  # noqa: BLE001 - the connection may be gone; the server rolls back itself
            pass

    def transaction(self, work: Callable[[], _T], what: str) -> _T:
        """Run work() in one transaction; retry on deadlock or lock wait timeout."""
        attempt = 0
        while True:
            try:
                self.db.query("START TRANSACTION")
                result = work()
                self.db.conn.commit()
                return result
            except driver_error_types() as exc:
                self.rollback()
                code = exc.args[0] if exc.args else None
                if code in RETRYABLE and attempt < self.params["max_retries"]:
                    attempt += 1
                    self.stats.retries += 1
                    time.sleep(min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
                    continue
                if code in RETRYABLE:
                    raise JsonmendError(
                        "%s failed %d times on row locks (%s); it was rolled back, earlier chunks are committed: run again to resume"
                        % (what, attempt + 1, driver_message(exc))
                    ) from None
                raise
            except BaseException:
                self.rollback()
                raise

    def warnings_of(self, cur: Any) -> str | None:
        """The warnings of the cursor's last statement as one reason, or None (any warning fails the row).

        Notes are not warnings: JSON_VALID leaves one (4038) for every text it finds invalid,
        which the classification in a statement's WHERE does by design.
        """
        if not getattr(cur, "warning_count", 0):
            return None
        rows = [row for row in self.db.query("SHOW WARNINGS") if str(row[0]).lower() != "note"]
        if not rows:
            return None
        return "; ".join("(%s) %s" % (code, message) for _level, code, message in rows[:3])

    def statistics(self, status: str) -> dict[str, Any]:
        duration = time.monotonic() - self.started
        s = self.stats
        values = dict(
            chunks=s.chunks,
            rows_examined=s.rows_examined,
            rows_changed=s.rows_changed() if self.kind == "repair" else s.restored,
            actions=s.actions if self.kind == "repair" else {},
            unwritable=s.unwritable,
            unwritable_rows=s.unwritable_rows(),
            retries=s.retries,
            throttle_waits=self.throttle.waits,
            throttle_seconds=round(self.throttle.seconds, 3),
            duration_s=round(duration, 3),
            rows_per_s=int(s.rows_examined / duration) if duration > 0 else 0,
        )
        if self.kind == "undo":
            values.update(restored=s.restored, conflicts=s.conflicts)
        return values

    def close(self) -> None:
        self.throttle.close()
        self.progress.close()

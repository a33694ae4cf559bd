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
from ansible.module_utils.jsonmend.db.dialects import Dialect
from ansible.module_utils.jsonmend.db.errors import JsonmendError
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
_MYSQL_FAMILY = Dialect()

# Which driver errors are retried, about a row's data or fatal: the dialect's error_kind().
GOOD_ACCESS = Dialect.GOOD_ACCESS
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


def is_row_error(exc: BaseException, dialect: Dialect | None = None) -> bool:
    """True for a driver error about the data of the row(s) a statement wrote (1048, 1406, CHECK, a trigger's refusal ...)."""
    return (dialect or _MYSQL_FAMILY).error_kind(exc) == "row"


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
        self.lock = AdvisoryLock(db, table_lock_name(target.database, target.lock_table), "%s.%s" % (target.database, target.lock_table))
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
        db.dialect.open_writer_session(db, self.params["innodb_lock_wait_timeout"])
        return self.binlog_stance()

    def binlog_stance(self) -> dict[str, Any]:
        """Whether the changes reach replicas (binary log or WAL), as the dialect says; a warning when not."""
        stance = self.db.dialect.replication_stance(self.db, self.params["sql_log_bin"], self.check_mode)
        if not stance["logged"]:
            self.warnings.append(stance["message"])
        return stance

    def check_grants(self, needed_by_table: Iterable[tuple[str, Sequence[str]]]) -> str:
        """Refuse when the user lacks a needed privilege (the dialect reads SHOW GRANTS or has_*_privilege); return a summary."""
        if not self.params["check_grants"]:
            return "not checked (check_grants=false)"
        missing, held = self.db.dialect.missing_grants(self.db, self.t.database, needed_by_table)
        if missing:
            raise JsonmendError(
                "the user lacks %s (%s). Grant them, or set check_grants=false if they come from a role"
                " this check cannot see; nothing was changed" % (", ".join(missing), held)
            )
        return "ok"

    def explain(self, label: str, statement: str, args: Sequence[Any]) -> dict[str, Any]:
        """EXPLAIN a chunk statement; refuse unless it reads a range of the primary key."""
        cur = self.db.cursor()
        try:
            found = self.db.dialect.explain_access(cur, statement, args)
        finally:
            cur.close()
        entry = dict(statement=label, type=found["type"], key=found["key"], rows=found["rows"])
        if found["empty"]:
            # Nothing left in the range: the statement reads no row at all.
            entry["type"] = "none"
            return entry
        if not self.db.dialect.access_ok(found, "PRIMARY"):
            raise JsonmendError(
                "EXPLAIN of the %s shows access type %s on key %s, not a range of the primary key: refusing to scan the table; nothing was changed"
                % (label, found["type"], found["key"])
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
                self.db.dialect.begin_chunk(self.db, self.params["innodb_lock_wait_timeout"], self.statement_seconds())
                result = work()
                self.db.conn.commit()
                return result
            except driver_error_types() as exc:
                self.rollback()
                retry = self.db.dialect.error_kind(exc) == "retry"
                if retry and attempt < self.params["max_retries"]:
                    attempt += 1
                    self.stats.retries += 1
                    time.sleep(min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
                    continue
                if retry:
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
        return self.db.dialect.statement_warnings(self.db, cur)

    def statement_seconds(self) -> float:
        """The cap on one chunk statement where the server takes one per transaction (PostgreSQL):
        ten times the chunk's time target, at least the dialect's floor."""
        return 10.0 * float(self.params["chunk_time"] or 0)

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

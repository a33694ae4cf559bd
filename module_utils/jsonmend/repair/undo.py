# Undo of one repair run: walk its quarantined rows; put a pre-image back only where the row
# is still as the repair left it (the column holds exactly what was read back after the write,
# and the row's fingerprint is unchanged), check what the column holds afterwards, and report
# every other row as a conflict with its reason.
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar

from ansible.module_utils.jsonmend.db.chunks import Chunk, KeysetWalker
from ansible.module_utils.jsonmend.db.clock import utc_compact, utc_iso
from ansible.module_utils.jsonmend.db.connection import driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.repair.job import (
    SAMPLE_CHARS,
    Job,
    is_row_error,
    placeholders,
    plain,
    text,
)
from ansible.module_utils.jsonmend.repair.ledger import ABANDONED, FINISHED, REPAIR, RUNNING, STOPPED, UNDO
from ansible.module_utils.jsonmend.repair.progress import stats_block

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from ansible.module_utils.jsonmend.db.connection import Database
    from ansible.module_utils.jsonmend.repair.ledger import Ledger
    from ansible.module_utils.jsonmend.repair.target import RepairTarget

_T = TypeVar("_T")


class RowTrouble(Exception):
    """A row of the chunk could not be restored as planned: the chunk goes row by row."""


class Undo(Job):
    """Put back the quarantined pre-images of one repair run where nothing changed them since."""

    kind = "undo"

    def __init__(self, params: Mapping[str, Any], db: Database, target: RepairTarget, ledger: Ledger, check_mode: bool, diff: bool = False) -> None:
        super().__init__(params, db, target, ledger, check_mode, diff)
        self.run_id = None
        self.undo_of = None
        self.run_recorded = False
        self.resumed = False
        self.conflict_samples = []
        self.conflict_reasons = {}

    def plan(self) -> None:
        p = self.params
        if not self.ledger.exists():
            raise JsonmendError(
                "no repair has been recorded for %s.%s.%s (table %s does not exist): nothing to undo"
                % (self.t.database, self.t.table, self.t.column, self.ledger.quarantine)
            )
        if p["run_id"]:
            target = self.ledger.run(p["run_id"])
            if target is None or target["kind"] != REPAIR:
                elsewhere = self.ledger.run_elsewhere(p["run_id"])
                if elsewhere:
                    raise JsonmendError(
                        "run %s is a run of %s, not of %s: it is never undone here; nothing was changed" % (p["run_id"], elsewhere, self.t.where())
                    )
                raise JsonmendError("run %s is not a repair run of %s.%s in %s" % (p["run_id"], self.t.table, self.t.column, self.ledger.runs))
        else:
            target = self.ledger.latest_repair()
            if target is None:
                raise JsonmendError("no repair run of %s.%s is recorded in %s: nothing to undo" % (self.t.table, self.t.column, self.ledger.runs))
        self.undo_of = target["run_id"]
        self.undo_of_unfinished = target["status"] in (RUNNING, STOPPED)
        if self.undo_of_unfinished:
            self.warnings.append("run %s is unfinished (%s): undoing what it changed so far" % (self.undo_of, target["status"]))
        total, undone, low, high = self.ledger.quarantined_rows(self.undo_of)
        self.total, self.already_undone = total, undone
        previous = self.ledger.unfinished(UNDO, undo_of=self.undo_of)
        if previous:
            # Counts carried from the checkpoint: conflicts before it are not walked again.
            self.resume_walk(previous)
            self.warnings.append("resumed undo %s of run %s after key %s" % (self.run_id, self.undo_of, previous["last_key"]))
            return
        self.run_id = "%s-undo-%s" % (self.undo_of[:40], utc_compact())
        self.start_walk(low, high)

    def walk_rows(self) -> int:
        return self.total

    def preconditions(self) -> dict[str, Any]:
        t = self.t
        checked = dict(primary_key=t.pk, engine=t.engine, quarantined_rows=self.total, already_undone=self.already_undone)
        alter = ["ALTER"] if self.ledger.legacy else []
        checked["grants"] = self.check_grants(
            [
                (t.table, ["SELECT", "UPDATE"]),
                (self.ledger.quarantine, ["SELECT", "UPDATE"] + alter),
                (self.ledger.runs, ["SELECT", "INSERT", "UPDATE"] + alter),
            ]
        )
        if self.start_key is not None:
            whole = Chunk(self.position, self.inclusive, self.end_key)
            checked["explain"] = [
                self.explain(
                    "undo update",
                    "UPDATE %s SET %s = NULL WHERE %s AND %s IN (%%s)" % (t.scan_sql, t.col_sql, whole.where(t.pk_sql), t.pk_sql),
                    whole.args() + (self.end_key,),
                )
            ]
            entry = self.explain_quarantine(whole)
            checked["explain"].append(entry)
        return checked

    def explain_quarantine(self, whole: Chunk) -> dict[str, Any]:
        d, index = self.db.dialect, self.db.dialect.index_name(self.ledger.quarantine, "run_row")
        cur = self.db.cursor()
        try:
            row = d.explain_access(
                cur,
                "SELECT id FROM %s WHERE run_id = %%s AND %s" % (d.force_index(self.ledger.q_sql, index), whole.where("row_pk")),
                (self.undo_of,) + whole.args(),
            )
        finally:
            cur.close()
        if row["empty"]:
            return dict(statement="quarantine select", type="none", key=None, rows=0)
        if not d.access_ok(row, index):
            raise JsonmendError(
                "EXPLAIN of the quarantine walk shows %s on %s, not a range of run_row; nothing was changed" % (row.get("type"), row.get("key"))
            )
        return dict(statement="quarantine select", type=row.get("type"), key=row.get("key"), rows=row.get("rows"))

    def run(self) -> str:
        self.refuse_if_stop_file()
        self.binlog = self.open_session()
        if not self.check_mode:
            # Pre-images may be invalid text a CHECK would refuse now (MariaDB's json_valid).
            self.db.dialect.allow_invalid_restore(self.db)
        self.lock.acquire(self.params["lock_timeout"])
        try:
            self.plan()
            self.checked = self.preconditions()
            if not self.check_mode:
                migrated = self.ledger.migrate()
                if migrated:
                    self.warnings.append(
                        "bookkeeping tables %s and %s of an earlier version were migrated in place (their rows belong to %s); their"
                        " rows carry no fingerprint, so they are compared by value only" % (self.ledger.quarantine, self.ledger.runs, migrated["owner"])
                    )
                if self.resumed:
                    # After the migration: an earlier version's runs table has no deploy_ids yet.
                    self.ledger.add_deploy_id(self.run_id)
            self.progress.write(
                "%s undo run=%s of repair run %s on %s.%s.%s: %d quarantined rows, %d already undone; %s"
                % (
                    utc_iso(),
                    self.run_id,
                    self.undo_of,
                    self.t.database,
                    self.t.table,
                    self.t.column,
                    self.total,
                    self.already_undone,
                    self.binlog["message"],
                )
            )
            self.walk()
            status = STOPPED if self.stopped else FINISHED
            if not self.check_mode and self.run_recorded:

                def finish():
                    self.ledger.checkpoint(self.run_id, self.position, self.stats.ledger_counts(), status)
                    if status == FINISHED:
                        self.ledger.mark_undone(self.undo_of, self.run_id)
                        if self.undo_of_unfinished:
                            # A later repair must start afresh, not resume past the rows undone here.
                            self.ledger.set_status(self.undo_of, ABANDONED)

                self.transaction(finish, "the final checkpoint")
            return status
        finally:
            self.lock.release()

    def walk(self) -> None:
        q, d = self.ledger.q_sql, self.db.dialect
        # The quarantine may be newer than its statistics (a run just finished): the undo joins it by batch.
        d.refresh_statistics(self.db, q)
        walker = KeysetWalker(
            self.db,
            d.force_index(q, d.index_name(self.ledger.quarantine, "run_row")),
            "row_pk",
            self.position,
            self.end_key,
            self.inclusive,
            where="run_id = %s",
            where_args=(self.undo_of,),
        )
        while True:
            if self.stop_requested():
                self.stopped = True
                break
            if not self.wait_for_throttle(self.stats.rows_examined, self.fraction(), self.stats.rows_changed_now):
                break
            began = time.monotonic()
            chunk = walker.next_chunk(self.chunk_size)
            if chunk is None:
                break
            if self.check_mode:
                examined = self.check_chunk(chunk)
            else:
                try:
                    examined = self.transaction(lambda c=chunk: self.undo_chunk(c), "undo chunk %r" % chunk)
                except RowTrouble:
                    # Rolled back whole: one row at a time, so only the rows that cannot be restored are left.
                    examined = self.transaction(lambda c=chunk: self.undo_chunk(c, row_by_row=True), "undo chunk %r row by row" % chunk)
            self.stats.chunks += 1
            self.stats.rows_examined += examined
            self.position, self.inclusive = chunk.high, False
            self.maybe_progress(self.fraction())
            self.adapt(time.monotonic() - began)
            if self.params["chunk_sleep"]:
                time.sleep(self.params["chunk_sleep"])
        self.maybe_progress(self.fraction() if self.stopped else 1.0, force=True)

    def chunk_rows(self, chunk: Chunk, lock: bool) -> Sequence[tuple[Any, ...]]:
        """Quarantined rows of the chunk not undone yet, each with whether it may be restored."""
        t, q, ledger, d = self.t, self.ledger.q_sql, self.ledger, self.db.dialect
        fingerprint = ledger.column_sql("fingerprint", "q")
        return self.db.query(
            "SELECT q.row_pk, t.%s IS NULL, %s, %s IS NULL OR %s = %s,"
            " EXISTS (SELECT 1 FROM %s AS later WHERE later.row_pk = q.row_pk AND %s"
            "         AND later.id > q.id AND later.undone_at IS NULL AND %s),"
            " %s, %s, %s, q.json_type, q.action"
            " FROM %s LEFT JOIN %s AS t ON t.%s = q.row_pk"
            " WHERE q.run_id = %%s AND %s AND q.undone_at IS NULL AND %s ORDER BY q.row_pk%s"
            % (
                t.pk_sql,
                d.null_safe_equal(d.bytes_expr("t.%s" % t.col_sql), "q.new_value"),
                fingerprint,
                d.bytes_expr(fingerprint),
                d.bytes_expr(t.fingerprint_sql_t),
                q,
                ledger.same_target_sql("later", "q"),
                ledger.written_sql("later"),
                d.left_expr("t.%s" % t.col_sql, SAMPLE_CHARS + 1),
                d.bytes_left("q.new_value", SAMPLE_CHARS + 1),
                d.bytes_left("q.original_value", SAMPLE_CHARS + 1),
                d.force_index(q, d.index_name(ledger.quarantine, "run_row"), "q"),
                t.table_sql,
                t.pk_sql,
                chunk.where("q.row_pk"),
                ledger.written_sql("q"),
                # The quarantine rows; the table's rows are locked by lock_rows() (the nullable side of the join).
                d.for_update("q") if lock else "",
            ),
            (self.undo_of,) + chunk.args(),
        )

    def lock_rows(self, chunk: Chunk) -> None:
        """Lock the table's rows of the chunk's quarantined keys before they are compared and restored."""
        t, d = self.t, self.db.dialect
        self.db.query(
            "SELECT t.%s FROM %s JOIN %s AS q ON q.row_pk = t.%s WHERE q.run_id = %%s AND %s AND q.undone_at IS NULL%s"
            % (t.pk_sql, d.force_index(t.table_sql, "PRIMARY", "t"), self.ledger.q_sql, t.pk_sql, chunk.where("q.row_pk"), d.for_update("t")),
            (self.undo_of,) + chunk.args(),
        )

    def classify(self, rows: Iterable[tuple[Any, ...]]) -> tuple[list[tuple[Any, str, str, Any, Any]], list[dict[str, Any]]]:
        restorable, conflicts = [], []
        for key, gone, same, row_same, later, current, repaired, original, kind, action in rows:
            if gone:
                conflicts.append(dict(id=plain(key), reason="row deleted since the repair", current=None, repaired_to=text(repaired)))
            elif later:
                conflicts.append(
                    dict(id=plain(key), reason="repaired again by a later run: undo that run first", current=text(current), repaired_to=text(repaired))
                )
            elif not same:
                conflicts.append(dict(id=plain(key), reason="changed since the repair", current=text(current), repaired_to=text(repaired)))
            elif not row_same:
                # The column holds what the repair wrote (SQL NULL, {} ...), but the row was written
                # since: the application may have written that same value. Its write wins.
                conflicts.append(
                    dict(
                        id=plain(key),
                        reason="the row was written since the repair (other columns changed; the column may hold the application's own value)",
                        current=text(current),
                        repaired_to=text(repaired),
                    )
                )
            else:
                restorable.append((key, kind, action, original, repaired))
        return restorable, conflicts

    def note(self, restorable: Sequence[tuple[Any, str, str, Any, Any]], conflicts: Sequence[dict[str, Any]]) -> None:
        self.stats.conflicts += len(conflicts)
        for conflict in conflicts:
            reason = conflict["reason"].split(": ", 1)[0]
            self.conflict_reasons[reason] = self.conflict_reasons.get(reason, 0) + 1
        room = self.params["sample_limit"] - len(self.conflict_samples)
        self.conflict_samples += conflicts[: max(0, room)]
        room = self.params["sample_limit"] - len(self.samples)
        for key, kind, action, original, repaired in restorable[: max(0, room)]:
            self.samples.append(dict(id=plain(key), type=kind, action="undo " + action, before=text(repaired), after=text(original)))

    def check_chunk(self, chunk: Chunk) -> int:
        rows = self.chunk_rows(chunk, lock=False)
        restorable, conflicts = self.classify(rows)
        self.stats.restored += len(restorable)
        self.note(restorable, conflicts)
        return len(rows)

    def restore_rows(self, keys: Sequence[Any]) -> str | None:
        """Put the pre-images of `keys` back and check them; return why they could not be, or None."""
        t, q, db = self.t, self.ledger.q_sql, self.db
        d = db.dialect
        cur = db.cursor()
        try:
            try:
                # Re-checked in the UPDATE's own WHERE: the column still holds exactly what the repair wrote.
                cur.execute(
                    d.update_join(
                        t.table_sql,
                        "t",
                        q,
                        "q",
                        "q.row_pk = t.%s AND q.run_id = %%s" % t.pk_sql,
                        ((t.col_sql, d.restore_expr("q.original_value", t.native_json, t.column_type)),) + t.keep_pairs_t,
                        "t.%s IN (%s) AND %s" % (t.pk_sql, placeholders(keys), d.null_safe_equal(d.bytes_expr("t.%s" % t.col_sql), "q.new_value")),
                        index="PRIMARY",
                    ),
                    (self.undo_of,) + tuple(keys),
                )
                restored = cur.rowcount
            except driver_error_types() as exc:
                if is_row_error(exc, d):
                    return "could not be restored: %s" % driver_message(exc)
                raise
            warned = self.warnings_of(cur)
            if warned:
                return "could not be restored: %s" % warned
        finally:
            cur.close()
        if restored != len(keys):
            return "could not be restored: %d of %d rows changed (a trigger may have kept the repaired value)" % (restored, len(keys))
        # A BEFORE UPDATE trigger may rewrite what undo writes: the column must hold the pre-image, byte for byte.
        differ = db.query(
            "SELECT t.%s, %s FROM %s AS t JOIN %s AS q ON q.row_pk = t.%s AND q.run_id = %%s"
            " WHERE t.%s IN (%s) AND NOT (%s)"
            % (
                t.pk_sql,
                d.left_expr("t.%s" % t.col_sql, SAMPLE_CHARS + 1),
                t.table_sql,
                q,
                t.pk_sql,
                t.pk_sql,
                placeholders(keys),
                d.null_safe_equal(d.bytes_expr("t.%s" % t.col_sql), "q.original_value"),
            ),
            (self.undo_of,) + tuple(keys),
        )
        if differ:
            return "could not be restored: the column holds %s after the write, not the original (a trigger rewrote it?)" % text(differ[0][1], 60)
        return None

    def undo_chunk(self, chunk: Chunk, row_by_row: bool = False) -> int:
        q, db = self.ledger.q_sql, self.db
        self.lock_rows(chunk)
        rows = self.chunk_rows(chunk, lock=True)
        restorable, conflicts = self.classify(rows)
        keys = [r[0] for r in restorable]
        started = False
        if keys and not self.run_recorded:
            self.ledger.start_run(self.run_id, UNDO, {}, self.start_key, self.end_key, undo_of=self.undo_of)
            started = True
        if keys and not row_by_row:
            trouble = self.restore_rows(keys)
            if trouble:
                raise RowTrouble(trouble)
        elif keys:
            kept = []
            for entry in restorable:
                db.query("SAVEPOINT jsonmend_row")
                trouble = self.restore_rows([entry[0]])
                if trouble:
                    db.query("ROLLBACK TO SAVEPOINT jsonmend_row")
                    conflicts.append(dict(id=plain(entry[0]), reason=trouble, current=text(entry[4]), repaired_to=text(entry[4])))
                else:
                    kept.append(entry)
                db.query("RELEASE SAVEPOINT jsonmend_row")
            restorable = kept
            keys = [r[0] for r in restorable]
        if keys:
            cur = db.cursor()
            try:
                cur.execute(
                    "UPDATE %s SET undone_by = %%s, undone_at = %s WHERE run_id = %%s AND row_pk IN (%s)" % (q, db.dialect.utc_now_sql(), placeholders(keys)),
                    (self.run_id, self.undo_of) + tuple(keys),
                )
                marked = cur.rowcount
            finally:
                cur.close()
            if marked != len(keys):
                raise JsonmendError("undo chunk %r: %d rows restored, %d marked; rolled back" % (chunk, len(keys), marked))
        recorded = self.run_recorded or started
        if recorded:
            counts = self.stats.ledger_counts()
            counts.update(restored=counts["restored"] + len(keys), conflicts=counts["conflicts"] + len(conflicts), chunks=counts["chunks"] + 1)
            self.ledger.checkpoint(self.run_id, chunk.high, counts)
        # Counted, and the run's row taken as written, only once the transaction has committed
        # (a retry runs this again).
        self.pending = (restorable, conflicts, recorded)
        return len(rows)

    def transaction(self, work: Callable[[], _T], what: str) -> _T:
        self.pending = None
        result = super().transaction(work, what)
        if self.pending:
            restorable, conflicts, recorded = self.pending
            self.run_recorded = self.run_recorded or recorded
            self.stats.restored += len(restorable)
            self.stats.rows_changed_now += len(restorable)
            self.note(restorable, conflicts)
        return result

    def result(self, status: str) -> dict[str, Any]:
        stats = self.statistics(status)
        return dict(
            mode="undo",
            run_id=self.run_id,
            undo_of=self.undo_of,
            resumed=self.resumed,
            status=status,
            restored=self.stats.restored,
            conflicts=self.stats.conflicts,
            conflict_samples=self.conflict_samples,
            conflicts_by_reason=self.conflict_reasons,
            rows_changed=self.stats.restored,
            rows_changed_now=self.stats.rows_changed_now if not self.check_mode else self.stats.restored,
            rows_examined=self.stats.rows_examined,
            chunks=self.stats.chunks,
            retries=self.stats.retries,
            throttle_waits=stats["throttle_waits"],
            throttle_seconds=stats["throttle_seconds"],
            duration_s=stats["duration_s"],
            rows_per_s=stats["rows_per_s"],
            chunk_size=dict(initial=self.params["chunk_size"], final=self.chunk_size, min=self.params["chunk_size_min"], max=self.params["chunk_size_max"]),
            key_range=dict(start=plain(self.start_key), end=plain(self.end_key), last=plain(self.position)),
            samples=self.samples,
            binlog=self.binlog,
            preconditions=self.checked,
            ledger_migrated=self.ledger.migrated,
            statistics=stats_block("undo", self.run_id, status + (" (check mode: nothing changed)" if self.check_mode else ""), stats),
        )

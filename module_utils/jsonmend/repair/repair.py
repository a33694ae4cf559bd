# The repair walk: keyset chunks over the table; per chunk, one short transaction that locks
# the rows still corrupt, copies their exact bytes to the quarantine, updates them, reads back
# what the column now holds (and the row's fingerprint) and records the checkpoint. A chunk
# with a row that cannot be written falls back to one savepoint per row: that row is left as
# it was and recorded with its reason; the run goes on.
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db import appjson
from ansible.module_utils.jsonmend.db.chunks import Chunk, KeysetWalker
from ansible.module_utils.jsonmend.db.clock import utc_iso
from ansible.module_utils.jsonmend.db.connection import driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.inspector import notes as inspection_notes
from ansible.module_utils.jsonmend.repair.job import (
    SAMPLE_CHARS,
    Job,
    is_row_error,
    new_run_id,
    placeholders,
    plain,
    reason_key,
    text,
)
from ansible.module_utils.jsonmend.repair.ledger import ABANDONED, FINISHED, REPAIR, RUNNING, STOPPED
from ansible.module_utils.jsonmend.repair.policy import NULL, SKIP, Policy, expression_group, group_sql, writes_null
from ansible.module_utils.jsonmend.repair.progress import stats_block

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ansible.module_utils.jsonmend.db.connection import Database
    from ansible.module_utils.jsonmend.repair.ledger import Ledger
    from ansible.module_utils.jsonmend.repair.target import RepairTarget

CHECKPOINT_SECONDS = 5.0  # longest stretch of clean chunks a killed run re-reads
SAMPLE_ROWS = 10000  # rows read to judge whether the column holds JSON at all
SAMPLE_PROBES = 10  # places of the key range they are read from
# What counts against a column being JSON: text no JSON decoder reads (not numbers or strings, which are JSON).
NOT_JSON_KINDS = ("INVALID", appjson.UNREADABLE)


# Refresh the quarantine's statistics at 500 rows written, then each time the count has grown 4x.
STATISTICS_FIRST = 500
STATISTICS_GROWTH = 4


class RowTrouble(Exception):
    """A row of the chunk could not be written as planned: the chunk goes row by row."""


class Repair(Job):
    """Walk the table, quarantine and repair corrupt values chunk by chunk."""

    kind = "repair"

    def __init__(self, params: Mapping[str, Any], db: Database, target: RepairTarget, ledger: Ledger, check_mode: bool, diff: bool = False) -> None:
        super().__init__(params, db, target, ledger, check_mode, diff)
        self.policy = Policy(params["policy"], params["default_action"], params["wrap_key"], nullable=target.nullable)
        problems = self.policy.column_problems(target.where())
        if problems:
            raise JsonmendError("; ".join(problems))
        self.decoder = target.decoder
        self.run_id = None
        self.run_recorded = False
        self.resumed = False
        self.last_checkpoint = time.monotonic()
        self.failures = []
        self.column_check = None
        self.statistics_at = STATISTICS_FIRST  # rows written when the quarantine's statistics are next refreshed

    # -- before the first change ---------------------------------------------
    def check_column_is_json(self) -> None:
        """Refuse a text column whose values are mostly not JSON objects (a mistyped column name)."""
        t, p = self.t, self.params
        low, high = t.key_range(self.db)
        if low is None:
            self.column_check = dict(sampled=0, non_null=0, not_object=0, percent=0.0, threshold=p["not_json_percent"])
            return
        per_probe = SAMPLE_ROWS // SAMPLE_PROBES
        starts = [low + (high - low) * i // SAMPLE_PROBES for i in range(SAMPLE_PROBES)] if t.pk_is_integer else [low]
        if not t.pk_is_integer:
            per_probe = SAMPLE_ROWS
        seen, non_null, invalid = set(), 0, 0
        for start in starts:
            rows = self.db.query(
                "SELECT %s, %s, %s FROM %s WHERE %s >= %%s ORDER BY %s LIMIT %d" % (t.pk_sql, t.cls_sql, t.col_sql, t.scan_sql, t.pk_sql, t.pk_sql, per_probe),
                (start,),
            )
            for key, label, value in rows:
                if key in seen:
                    continue
                seen.add(key)
                kind = appjson.resolve(label, value, self.decoder)
                if kind == "SQL NULL":
                    continue
                non_null += 1
                if kind in NOT_JSON_KINDS:
                    invalid += 1
        percent = round(100.0 * invalid / non_null, 1) if non_null else 0.0
        self.column_check = dict(sampled=len(seen), non_null=non_null, invalid=invalid, percent=percent, threshold=p["not_json_percent"])
        if non_null and percent >= p["not_json_percent"] and not p["column_is_json"]:
            raise JsonmendError(
                "column %s does not look like a JSON column: %d of %d sampled non-NULL values (%.1f%%) are not valid JSON, at or above"
                " the threshold of %s%% (not_json_percent). Refusing before any change; check the column name. If it really is the JSON"
                " column, say so with column_is_json=true (jsonmend_column_is_json=yes)" % (t.where(), invalid, non_null, percent, p["not_json_percent"])
            )
        if non_null and percent >= p["not_json_percent"]:
            self.warnings.append(
                "column %s: %d of %d sampled non-NULL values (%.1f%%) are not valid JSON; repairing because column_is_json=true"
                % (t.where(), invalid, non_null, percent)
            )

    def plan(self) -> None:
        """Pick the run (new or resumed) and its key range."""
        p = self.params
        previous = self.ledger.unfinished(REPAIR)
        if previous and not p["resume"]:
            if not self.check_mode:
                self.ledger.set_status(previous["run_id"], ABANDONED)
            self.warnings.append("unfinished run %s was abandoned (resume=false); its quarantined rows remain undoable" % previous["run_id"])
            previous = None
        if previous and not self.policy.compatible(previous["policy"]):
            nulls = writes_null(previous["policy"])
            if self.t.nullable or not nulls:
                raise JsonmendError(
                    "run %s stopped unfinished with another policy (%s); run again with that policy to resume it, or set resume=false to"
                    " abandon it and start a new run" % (previous["run_id"], (previous["policy"] or {}).get("actions"))
                )
            # An earlier version set these kinds to NULL on this NOT NULL column, which can never
            # be written: that run cannot be resumed as it was. It is closed; what it did stays undoable.
            total = self.ledger.quarantined_rows(previous["run_id"])[0]
            if not self.check_mode:
                self.ledger.set_status(previous["run_id"], ABANDONED)
            self.warnings.append(
                "unfinished run %s set %s to NULL, which the NOT NULL column %s cannot hold, so it could never finish: it was closed"
                " (abandoned) and this run starts afresh with %s for them. The %d rows it repaired stay in the quarantine; undo them"
                " with run_id=%s" % (previous["run_id"], ", ".join(nulls), self.t.where(), self.policy.default_action, total, previous["run_id"])
            )
            previous = None
        if previous:
            self.resume_walk(previous)
            self.warnings.append("resumed run %s after key %s" % (self.run_id, previous["last_key"]))
            if p["run_id"] and p["run_id"] != self.run_id:
                self.warnings.append("run_id %s was not used: the unfinished run %s was resumed instead" % (p["run_id"], self.run_id))
            return
        if p["run_id"] and (self.ledger.run(p["run_id"]) or self.ledger.run_elsewhere(p["run_id"])):
            raise JsonmendError("run %s is already recorded; a new repair needs a new run_id (or none)" % p["run_id"])
        self.run_id = p["run_id"] or new_run_id()
        self.start_walk(*self.t.key_range(self.db))

    def preflight(self) -> dict[str, Any]:
        """Read-only: every refusal the repair would make before its first change, and its plan.

        For playbooks to call before a backup or a deploy; reads the catalog, the bookkeeping
        tables and the column sample, takes no lock and writes nothing.
        """
        self.binlog = self.open_session()
        problems = self.ledger.key_problems(self.t.data_type, self.t.pk_max_chars)
        if problems:
            raise JsonmendError("; ".join(problems))
        self.check_column_is_json()
        self.plan()
        col = self.t.description["column"]
        return dict(
            mode="preflight",
            target=dict(
                column=self.t.where(),
                column_type=col["column_type"],
                nullable=col["nullable"],
                character_set=col["charset"],
                native_json=col["native_json"],
                json_check_constraint=col["json_check_constraint"],
                triggers=self.t.description["triggers"],
                on_update_columns=self.t.description["on_update_columns"],
            ),
            policy=self.policy.describe(),
            column_check=self.column_check,
            run_id=self.run_id,
            resumed=self.resumed,
            ledger_needs_migration=self.ledger.legacy,
            preconditions=self.preconditions(),
        )

    def walk_rows(self) -> int:
        return self.t.estimated_rows

    def preconditions(self) -> dict[str, Any]:
        t = self.t
        checked = dict(
            primary_key=t.pk,
            engine=t.engine,
            column_type=t.column_type,
            nullable=t.nullable,
            json_check_constraint=t.json_check_constraint,
            decoder=self.decoder,
            column_check=self.column_check,
        )
        # Grants first: EXPLAIN UPDATE itself needs the UPDATE privilege.
        ledger_needs = ["SELECT", "INSERT", "UPDATE"] + ([] if self.ledger.exists() else ["CREATE"]) + (["ALTER"] if self.ledger.legacy else [])
        checked["grants"] = self.check_grants(
            [(t.table, ["SELECT", "UPDATE"]), (self.ledger.quarantine, ledger_needs), (self.ledger.runs, ledger_needs)],
        )
        if self.start_key is None:
            checked["explain"] = "table is empty"
        else:
            whole = Chunk(self.position, self.inclusive, self.end_key)
            checked["explain"] = [
                self.explain(
                    "chunk select",
                    "SELECT %s FROM %s WHERE %s AND %s" % (t.pk_sql, t.scan_sql, whole.where(t.pk_sql), t.corrupt_sql),
                    whole.args(),
                ),
                self.explain(
                    "chunk update",
                    "UPDATE %s SET %s = NULL WHERE %s AND %s IN (%%s) AND %s" % (t.scan_sql, t.col_sql, whole.where(t.pk_sql), t.pk_sql, t.corrupt_sql),
                    whole.args() + (self.end_key,),
                ),
            ]
        return checked

    # -- the walk ------------------------------------------------------------
    def run(self) -> str:
        self.refuse_if_stop_file()
        self.binlog = self.open_session()
        self.lock.acquire(self.params["lock_timeout"])
        try:
            problems = self.ledger.key_problems(self.t.data_type, self.t.pk_max_chars)
            if problems:
                raise JsonmendError("; ".join(problems))
            self.check_column_is_json()
            self.plan()
            self.checked = self.preconditions()
            self.warnings += inspection_notes(self.t.description)
            if not self.check_mode:
                migrated = self.ledger.migrate()
                if migrated:
                    self.warnings.append(
                        "bookkeeping tables %s and %s of an earlier version were migrated in place (their rows belong to %s)"
                        % (self.ledger.quarantine, self.ledger.runs, migrated["owner"] or "no known table")
                    )
                if self.resumed:
                    # After the migration: an earlier version's runs table has no deploy_ids yet.
                    self.ledger.add_deploy_id(self.run_id)
            self.progress.write(
                "%s repair run=%s starts on %s: policy %s; %s%s"
                % (
                    utc_iso(),
                    self.run_id,
                    self.t.where(),
                    self.policy.describe()["actions"],
                    self.binlog["message"],
                    "; resumed after key %s" % self.position if self.resumed else "",
                )
            )
            self.walk()
            status = STOPPED if self.stopped else FINISHED
            if not self.check_mode and (self.run_recorded or status == STOPPED):
                # A stopped run always leaves its checkpoint, so the next run resumes there.
                self.record_checkpoint(self.position, status)
            return status
        finally:
            self.lock.release()

    def walk(self) -> None:
        t = self.t
        walker = KeysetWalker(self.db, t.scan_sql, t.pk_sql, self.position, self.end_key, self.inclusive)
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
            rows = self.chunk_size if not walker.done else self.count(chunk)
            self.process(chunk)
            self.stats.chunks += 1
            self.stats.rows_examined += rows
            self.position, self.inclusive = chunk.high, False
            self.maybe_progress(self.fraction())
            self.adapt(time.monotonic() - began)
            if self.params["chunk_sleep"]:
                time.sleep(self.params["chunk_sleep"])
        self.maybe_progress(self.fraction() if self.stopped else 1.0, force=True)

    def count(self, chunk: Chunk) -> int:
        t = self.t
        return int(self.db.query_one("SELECT COUNT(*) FROM %s WHERE %s" % (t.scan_sql, chunk.where(t.pk_sql)), chunk.args())[0])

    def candidates(self, chunk: Chunk) -> list[tuple[Any, str, str]]:
        """Corrupt rows of the chunk as (key, label, kind), read without locks."""
        t = self.t
        rows = self.db.query(
            "SELECT %s, %s, %s FROM %s WHERE %s AND %s" % (t.pk_sql, t.cls_sql, t.col_sql, t.scan_sql, chunk.where(t.pk_sql), t.corrupt_sql),
            chunk.args(),
        )
        return [(key, label, appjson.resolve(label, value, self.decoder)) for key, label, value in rows]

    def process(self, chunk: Chunk) -> None:
        todo = []
        for key, _label, kind in self.candidates(chunk):
            if kind in ("OBJECT", "SQL NULL"):
                # The prefilter's false alarm: the application reads it.
                continue
            action = self.policy.action(kind)
            if action == SKIP:
                # Counted here: skipped rows are never locked or written.
                self.stats.add(kind, SKIP)
                continue
            todo.append((key, kind, action))
        if not todo:
            self.idle_checkpoint(chunk)
            return
        if self.check_mode:
            for _key, kind, action in todo:
                self.stats.add(kind, action)
                self.stats.rows_changed_now += 1
            self.collect_check_samples(chunk, todo)
            return
        if not self.ledger.exists():
            self.ledger.create(self.t.key_type)
        keys = [key for key, _kind, _action in todo]
        try:
            outcome = self.transaction(lambda: self.repair_chunk(chunk, keys, row_by_row=False), "chunk %r" % chunk)
        except RowTrouble:
            # Rolled back whole: do it again one row at a time, so only the rows that cannot be written stay as they were.
            outcome = self.transaction(lambda: self.repair_chunk(chunk, keys, row_by_row=True), "chunk %r row by row" % chunk)
        changed, failed = outcome
        if changed or failed:
            # Only now: the run's row exists once the chunk that wrote it has committed.
            self.run_recorded = True
        for kind, action, rows in changed:
            self.stats.add(kind, action, rows)
            self.stats.rows_changed_now += rows
        for failure in failed:
            self.stats.unwritable[failure["reason_key"]] = self.stats.unwritable.get(failure["reason_key"], 0) + 1
            if len(self.failures) < self.params["sample_limit"]:
                self.failures.append(dict((k, v) for k, v in failure.items() if k != "reason_key"))
        self.last_checkpoint = time.monotonic()
        if len(self.samples) < self.params["sample_limit"]:
            self.collect_samples(keys)
        if self.stats.rows_changed_now >= self.statistics_at:
            # The quarantine grows with the run: let the planner see it (a few refreshes per run).
            self.db.dialect.refresh_statistics(self.db, self.ledger.q_sql)
            self.statistics_at = self.stats.rows_changed_now * STATISTICS_GROWTH

    def repair_chunk(self, chunk: Chunk, keys: Sequence[Any], row_by_row: bool) -> tuple[list[tuple[str, str, int]], list[dict[str, Any]]]:
        """One transaction: lock the rows still corrupt, quarantine them, update them, read back, checkpoint."""
        t, db = self.t, self.db
        bounds, bound_args = chunk.where(t.pk_sql), chunk.args()
        keyed, key_args = db.dialect.in_list(t.pk_sql, keys)
        locked = db.query(
            "SELECT %s, %s, %s FROM %s WHERE %s AND %s AND %s%s"
            % (t.pk_sql, t.cls_sql, t.col_sql, t.scan_sql, bounds, keyed, t.corrupt_sql, db.dialect.for_update()),
            bound_args + key_args,
        )
        groups = {}
        for key, label, value in locked:
            kind = appjson.resolve(label, value, self.decoder)
            if kind in ("OBJECT", "SQL NULL"):
                continue
            action = self.policy.action(kind)
            if action == SKIP:
                continue
            groups.setdefault((expression_group(action, kind), kind, label), []).append((key, value))
        changed, failed, pending = [], [], []
        if not groups:
            return changed, failed
        if not self.run_recorded:
            self.ledger.start_run(self.run_id, REPAIR, self.policy.describe(), self.start_key, self.end_key)
        for (group, kind, label), members in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1], item[0][2])):
            action = group[0]
            if not row_by_row:
                trouble = self.write_rows(chunk, group, kind, label, [key for key, _value in members], pending)
                if trouble:
                    raise RowTrouble(trouble)
                changed.append((kind, action, len(members)))
                continue
            written = 0
            for key, value in members:
                db.query("SAVEPOINT jsonmend_row")
                trouble = self.write_rows(chunk, group, kind, label, [key])
                if trouble:
                    db.query("ROLLBACK TO SAVEPOINT jsonmend_row")
                    self.record_failure(key, kind, action, trouble)
                    failed.append(dict(id=plain(key), type=kind, action=action, reason=trouble, reason_key=reason_key(trouble), original=text(value)))
                else:
                    written += 1
                db.query("RELEASE SAVEPOINT jsonmend_row")
            if written:
                changed.append((kind, action, written))
        if pending:
            # One read-back for the chunk's kinds: any row that reads back wrong rolls the whole chunk back
            # (as a wrong row of any one kind did), to be done again row by row.
            trouble = self.read_back(pending)
            if trouble:
                raise RowTrouble(trouble)
        counts = self.stats.ledger_counts()
        for kind, action, rows in changed:
            counts["actions"][action] = counts["actions"].get(action, 0) + rows
            entry = counts["by_type"].setdefault(kind, dict(action=action, rows=0))
            counts["by_type"][kind] = dict(entry, rows=entry["rows"] + rows)
        for failure in failed:
            counts["unwritable"][failure["reason_key"]] = counts["unwritable"].get(failure["reason_key"], 0) + 1
        counts["unwritable_rows"] = sum(counts["unwritable"].values())
        counts["chunks"] += 1
        self.ledger.checkpoint(self.run_id, chunk.high, counts)
        return changed, failed

    def write_rows(self, chunk: Chunk, group: tuple[str, str], kind: str, label: str, ids: Sequence[Any], pending: list | None = None) -> str | None:
        """Quarantine, update and read back rows of one kind; return why they cannot be written, or None.

        With `pending`, the read-back is left to the caller's read_back(pending) after the chunk's writes.

        Any error about the rows' data, any warning, a row that did not change, or a value read
        back that is not what the action promises is trouble: the caller rolls back.
        """
        t, db, ledger = self.t, self.db, self.ledger
        action = group[0]
        bounds, bound_args = chunk.where(t.pk_sql), chunk.args()
        expression, expression_args = group_sql(group, t.col_sql, self.policy.wrap_key, db.dialect)
        d = db.dialect
        # The chunk's keys: one bound array where the server takes one (the same statement text every
        # time, nothing for the driver to parse per key).
        keyed, key_args = d.in_list(t.pk_sql, ids)
        quarantine = (
            "INSERT INTO %s (run_id, database_name, table_name, row_pk, column_name, json_type, action, original_value, repaired_at)"
            " SELECT %%s, %%s, %%s, %s, %%s, %%s, %%s, %s, %s FROM %s WHERE %s AND %s"
            % (ledger.q_sql, t.pk_sql, d.to_bytes(t.col_sql), d.utc_now_sql(), t.scan_sql, bounds, keyed),
            (self.run_id, t.database, t.table, t.column, kind, action) + bound_args + key_args,
        )
        # The "still corrupt" re-check is the UPDATE's own WHERE: a row the application
        # rewrote since it was read (READ COMMITTED re-reads it) is left alone.
        update = (
            "UPDATE %s SET %s = %s%s WHERE %s AND %s AND (%s) = %%s" % (t.scan_sql, t.col_sql, expression, t.keep_sql, bounds, keyed, t.cls_sql),
            tuple(expression_args or ()) + bound_args + key_args + (label,),
        )
        # Where the server can, one statement: the UPDATE returns each row's post-image and the
        # quarantine's INSERT reads the pre-image beside it (the statement's one snapshot), instead of
        # an INSERT, the UPDATE and an UPDATE of the quarantine's fresh rows (index entries twice).
        combined = d.with_returning(
            update[0],
            "%s AS jsonmend_key, %s AS jsonmend_new, %s AS jsonmend_fingerprint" % (t.pk_sql, d.to_bytes(t.col_sql), t.fingerprint_sql),
            "jsonmend_post",
            "INSERT INTO %s (run_id, database_name, table_name, row_pk, column_name, json_type, action, original_value, new_value, fingerprint, repaired_at)"
            # Joined by key alone: with the chunk's key list here too, PostgreSQL re-read the whole list
            # for each written row (117 ms instead of 7 for 462 rows).
            " SELECT %%s, %%s, %%s, %s, %%s, %%s, %%s, %s, jsonmend_new, jsonmend_fingerprint, %s FROM jsonmend_post JOIN %s ON %s = jsonmend_key"
            " RETURNING row_pk, fingerprint" % (ledger.q_sql, t.pk_sql, d.to_bytes(t.col_sql), d.utc_now_sql(), t.scan_sql, t.pk_sql),
        )
        written = {}
        cur = db.cursor()
        try:
            try:
                if combined:
                    cur.execute(combined, update[1] + (self.run_id, t.database, t.table, t.column, kind, action))
                    written = dict(cur.fetchall())
                    inserted = updated = len(written)
                else:
                    cur.execute(*quarantine)
                    inserted = cur.rowcount
                    cur.execute(*update)
                    updated = cur.rowcount
            except driver_error_types() as exc:
                if is_row_error(exc, d):
                    return driver_message(exc)
                raise
            warned = self.warnings_of(cur)
            if warned:
                return warned
        finally:
            cur.close()
        if inserted != len(ids) or updated != len(ids):
            return "the row did not change (%d of %d rows updated): a trigger may have kept the old value" % (updated, len(ids))
        actions = dict((key, action) for key in ids)
        if pending is not None:
            pending.append((actions, written if combined else None))
            return None
        return self.read_back([(actions, written if combined else None)])

    def read_back(self, batches: Sequence[tuple[Mapping[Any, str], Mapping[Any, str] | None]]) -> str | None:
        """Check what the written rows hold now and record it as their post-image; return why not, or None.

        `batches` are ({key: action}, {key: fingerprint recorded by the write} or None) per write. What
        the column holds now, byte for byte (the server or a trigger may store something else than was
        written): it must be what the action promises, and undo compares against it. One statement after
        the chunk's writes: it reads what the rows hold now, after every trigger.
        """
        t, db, d = self.t, self.db, self.db.dialect
        actions, recorded = {}, {}
        for batch_actions, batch_recorded in batches:
            actions.update(batch_actions)
            if batch_recorded is None:
                recorded.update((key, None) for key in batch_actions)
            else:
                recorded.update(batch_recorded)
        keyed, key_args = d.in_list(t.pk_sql, list(actions))
        back = db.query("SELECT %s, %s, %s, %s FROM %s WHERE %s" % (t.pk_sql, t.cls_sql, t.col_sql, t.fingerprint_sql, t.scan_sql, keyed), key_args)
        for key, label, value, _fingerprint in back:
            now = appjson.resolve(label, value, self.decoder)
            if now == "OBJECT" or (now == "SQL NULL" and actions[key] == NULL):
                continue
            return "the written value is not %s: it reads back as %s (%s)" % (
                "SQL NULL or an object" if actions[key] == NULL else "an object the application reads",
                now,
                text(value, 60),
            )
        # The post-image the undo compares against: what the row holds now. A write that returned it
        # recorded the UPDATE's own; a row changed since (an AFTER trigger's own UPDATE), or written
        # where the server returns nothing (MySQL), is recorded here.
        again = [key for key, _label, _value, fingerprint in back if recorded.get(key) is None or recorded[key] != fingerprint]
        if again:
            q_keyed, q_args = d.in_list("q.row_pk", again)
            t_keyed, t_args = d.in_list("t.%s" % t.pk_sql, again)
            db.query(
                d.update_join(
                    self.ledger.q_sql,
                    "q",
                    t.table_sql,
                    "t",
                    "t.%s = q.row_pk" % t.pk_sql,
                    (("new_value", d.to_bytes("t.%s" % t.col_sql)), ("fingerprint", t.fingerprint_sql_t)),
                    # The keys on both sides: PostgreSQL does not carry an IN list across the join's equality,
                    # and joined the whole table to the quarantine's rows (4 ms per batch of 70 at 2M rows).
                    "q.run_id = %%s AND %s AND %s" % (q_keyed, t_keyed),
                ),
                (self.run_id,) + q_args + t_args,
            )
        return None

    def record_failure(self, key: Any, kind: str, action: str, reason: str) -> None:
        """Record a row that could not be written: its key, original bytes and the reason (nothing else changes)."""
        t, d = self.t, self.db.dialect
        self.db.query(
            "INSERT INTO %s (run_id, database_name, table_name, row_pk, column_name, json_type, action, original_value, failure, repaired_at)"
            " SELECT %%s, %%s, %%s, %s, %%s, %%s, %%s, %s, %%s, %s FROM %s WHERE %s = %%s"
            % (self.ledger.q_sql, t.pk_sql, d.to_bytes(t.col_sql), d.utc_now_sql(), t.scan_sql, t.pk_sql),
            (self.run_id, t.database, t.table, t.column, kind, action, reason[:512], key),
        )

    def idle_checkpoint(self, chunk: Chunk) -> None:
        """Clean chunks move the checkpoint every few seconds, so a resumed run skips them.

        A short run over a clean table writes nothing at all; a long one records its run
        (and creates the bookkeeping tables) at its first checkpoint, without changing a row.
        """
        if self.check_mode or time.monotonic() - self.last_checkpoint < CHECKPOINT_SECONDS:
            return
        self.record_checkpoint(chunk.high, RUNNING)

    def record_checkpoint(self, key: Any, status: str) -> None:
        if not self.ledger.exists():
            self.ledger.create(self.t.key_type)

        def write():
            if not self.run_recorded:
                self.ledger.start_run(self.run_id, REPAIR, self.policy.describe(), self.start_key, self.end_key)
            self.ledger.checkpoint(self.run_id, key, self.stats.ledger_counts(), status)

        self.transaction(write, "a checkpoint")
        self.run_recorded = True
        self.last_checkpoint = time.monotonic()

    def collect_samples(self, keys: Sequence[Any]) -> None:
        want = self.params["sample_limit"] - len(self.samples)
        d = self.db.dialect
        rows = self.db.query(
            "SELECT row_pk, json_type, action, %s, %s FROM %s"
            " WHERE run_id = %%s AND row_pk IN (%s) AND failure IS NULL ORDER BY row_pk LIMIT %d"
            % (d.bytes_left("original_value", SAMPLE_CHARS + 1), d.bytes_left("new_value", SAMPLE_CHARS + 1), self.ledger.q_sql, placeholders(keys), want),
            (self.run_id,) + tuple(keys),
        )
        for key, kind, action, before, after in rows:
            self.samples.append(dict(id=plain(key), type=kind, action=action, before=text(before), after=text(after)))

    def collect_check_samples(self, chunk: Chunk, todo: Sequence[tuple[Any, str, str]]) -> None:
        want = self.params["sample_limit"] - len(self.samples)
        if want <= 0:
            return
        t = self.t
        for key, kind, action in todo[:want]:
            d = self.db.dialect
            expression, args = group_sql(expression_group(action, kind), t.col_sql, self.policy.wrap_key, d)
            row = self.db.query_one(
                "SELECT %s, %s FROM %s WHERE %s = %%s"
                % (d.left_expr(t.col_sql, SAMPLE_CHARS + 1), d.left_expr(expression, SAMPLE_CHARS + 1), t.scan_sql, t.pk_sql),
                tuple(args or ()) + (key,),
            )
            if row:
                self.samples.append(dict(id=plain(key), type=kind, action=action, before=text(row[0]), after=text(row[1])))

    def result(self, status: str) -> dict[str, Any]:
        stats = self.statistics(status)
        counts = self.stats.ledger_counts()
        return dict(
            mode="repair",
            run_id=self.run_id,
            resumed=self.resumed,
            status=status,
            actions=counts["actions"],
            by_type=counts["by_type"],
            rows_changed=self.stats.rows_changed(),
            rows_changed_now=self.stats.rows_changed_now,
            rows_examined=self.stats.rows_examined,
            unwritable=dict(rows=self.stats.unwritable_rows(), by_reason=dict(self.stats.unwritable), samples=self.failures),
            chunks=self.stats.chunks,
            retries=self.stats.retries,
            throttle_waits=stats["throttle_waits"],
            throttle_seconds=stats["throttle_seconds"],
            duration_s=stats["duration_s"],
            rows_per_s=stats["rows_per_s"],
            chunk_size=dict(initial=self.params["chunk_size"], final=self.chunk_size, min=self.params["chunk_size_min"], max=self.params["chunk_size_max"]),
            key_range=dict(start=plain(self.start_key), end=plain(self.end_key), last=plain(self.position)),
            samples=self.samples,
            policy=self.policy.describe(),
            binlog=self.binlog,
            preconditions=self.checked,
            ledger_migrated=self.ledger.migrated,
            statistics=stats_block("repair", self.run_id, status + (" (check mode: nothing changed)" if self.check_mode else ""), stats),
        )

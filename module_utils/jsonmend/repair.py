# The repair walk: keyset chunks over the table; per chunk, one short transaction that locks
# the rows still corrupt, copies their exact bytes to the quarantine, updates them and
# records the checkpoint.
from __future__ import annotations

import datetime
import time

from ansible.module_utils.jsonmend.chunks import Chunk, KeysetWalker
from ansible.module_utils.jsonmend.errors import JsonmendError
from ansible.module_utils.jsonmend.job import SAMPLE_CHARS, Job, Stats, new_run_id, placeholders, plain, text
from ansible.module_utils.jsonmend.ledger import ABANDONED, FINISHED, REPAIR, RUNNING, STOPPED
from ansible.module_utils.jsonmend.policy import SKIP, Policy, expression_group, group_sql
from ansible.module_utils.jsonmend.progress import stats_block

CHECKPOINT_SECONDS = 5.0  # longest stretch of clean chunks a killed run re-reads


class Repair(Job):
    """Walk the table, quarantine and repair corrupt values chunk by chunk."""

    kind = "repair"

    def __init__(self, params, db, target, ledger, check_mode, diff=False):
        super().__init__(params, db, target, ledger, check_mode, diff)
        self.policy = Policy(params["policy"], params["default_action"], params["wrap_key"])
        self.run_id = None
        self.run_recorded = False
        self.resumed = False
        self.last_checkpoint = time.monotonic()

    def plan(self):
        """Pick the run (new or resumed) and its key range."""
        p = self.params
        described = self.policy.describe()
        if not self.check_mode:
            self.ledger.upgrade()
        previous = self.ledger.unfinished(REPAIR)
        if previous and not p["resume"]:
            if not self.check_mode:
                self.ledger.set_status(previous["run_id"], ABANDONED)
            self.warnings.append("unfinished run %s was abandoned (resume=false); its quarantined rows remain undoable" % previous["run_id"])
            previous = None
        if previous:
            if previous["policy"] and previous["policy"] != described:
                raise JsonmendError(
                    "run %s stopped unfinished with another policy (%s); run again with that policy to resume it, or set resume=false to"
                    " abandon it and start a new run" % (previous["run_id"], previous["policy"].get("actions"))
                )
            self.run_id = previous["run_id"]
            self.run_recorded = True
            self.resumed = True
            self.stats = Stats(previous["counts"])
            self.start_key, self.end_key = previous["start_key"], previous["end_key"]
            self.position, self.inclusive = (previous["last_key"], False) if previous["last_key"] is not None else (self.start_key, True)
            self.warnings.append("resumed run %s after key %s" % (self.run_id, previous["last_key"]))
            if not self.check_mode:
                self.ledger.add_deploy_id(self.run_id)
            if p["run_id"] and p["run_id"] != self.run_id:
                self.warnings.append("run_id %s was not used: the unfinished run %s was resumed instead" % (p["run_id"], self.run_id))
            return
        if p["run_id"] and self.ledger.run(p["run_id"]):
            raise JsonmendError("run %s is already recorded as finished; a new repair needs a new run_id (or none)" % p["run_id"])
        self.run_id = p["run_id"] or new_run_id()
        self.stats = Stats()
        low, high = self.t.key_range(self.db)
        self.start_key, self.end_key = low, high
        self.position, self.inclusive = low, True

    def fraction(self):
        """How far the walk is, by key for integer keys, else by rows against the estimate."""
        if self.end_key is None:
            return 1.0
        if self.t.pk_is_integer:
            if self.end_key == self.start_key:
                return 0.0 if self.inclusive else 1.0
            return (self.position - self.start_key) / float(self.end_key - self.start_key)
        return min(1.0, self.stats.rows_examined / float(max(1, self.t.estimated_rows)))

    def preconditions(self):
        t = self.t
        checked = dict(primary_key=t.pk, engine=t.engine, column_type=t.column_type, json_check_constraint=t.json_check_constraint)
        # Grants first: EXPLAIN UPDATE itself needs the UPDATE privilege.
        ledger_needs = ["SELECT", "INSERT", "UPDATE"] + ([] if self.ledger.exists() else ["CREATE"])
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
    def run(self):
        self.refuse_if_stop_file()
        self.binlog = self.open_session()
        self.lock.acquire(self.params["lock_timeout"])
        try:
            self.plan()
            self.checked = self.preconditions()
            self.progress.write(
                "%s repair run=%s starts on %s.%s.%s: policy %s; %s%s"
                % (
                    datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    self.run_id,
                    self.t.database,
                    self.t.table,
                    self.t.column,
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

    def walk(self):
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

    def count(self, chunk):
        t = self.t
        return int(self.db.query_one("SELECT COUNT(*) FROM %s WHERE %s" % (t.scan_sql, chunk.where(t.pk_sql)), chunk.args())[0])

    def candidates(self, chunk):
        """Corrupt rows of the chunk as (key, kind), read without locks."""
        t = self.t
        return self.db.query(
            "SELECT %s, %s FROM %s WHERE %s AND %s" % (t.pk_sql, t.cls_sql, t.scan_sql, chunk.where(t.pk_sql), t.corrupt_sql),
            chunk.args(),
        )

    def process(self, chunk):
        found = self.candidates(chunk)
        todo = []
        for key, kind in found:
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
        changed = self.transaction(lambda: self.repair_chunk(chunk, keys), "chunk %r" % chunk)
        if changed:
            # Only now: the run's row exists once the chunk that wrote it has committed.
            self.run_recorded = True
        for kind, action, rows in changed:
            self.stats.add(kind, action, rows)
            self.stats.rows_changed_now += rows
        self.last_checkpoint = time.monotonic()
        if len(self.samples) < self.params["sample_limit"]:
            self.collect_samples(keys)

    def repair_chunk(self, chunk, keys):
        """One transaction: lock the rows still corrupt, quarantine them, update them, checkpoint."""
        t, db = self.t, self.db
        bounds, bound_args = chunk.where(t.pk_sql), chunk.args()
        locked = db.query(
            "SELECT %s, %s FROM %s WHERE %s AND %s IN (%s) AND %s FOR UPDATE"
            % (t.pk_sql, t.cls_sql, t.scan_sql, bounds, t.pk_sql, placeholders(keys), t.corrupt_sql),
            bound_args + tuple(keys),
        )
        groups = {}
        for key, kind in locked:
            action = self.policy.action(kind)
            if action == SKIP:
                continue
            group = groups.setdefault(expression_group(action, kind), dict(keys=[], kinds=set(), per_kind={}))
            group["keys"].append(key)
            group["kinds"].add(kind)
            group["per_kind"][kind] = group["per_kind"].get(kind, 0) + 1
        changed = []
        if not groups:
            return changed
        if not self.run_recorded:
            self.ledger.start_run(self.run_id, REPAIR, self.policy.describe(), self.start_key, self.end_key)
        read_back = []
        for group, members in sorted(groups.items()):
            action = group[0]
            ids = members["keys"]
            kinds = sorted(members["kinds"])
            expression, expression_args = group_sql(group, t.col_sql, self.policy.wrap_key)
            cur = db.cursor()
            try:
                inserted = cur.execute(
                    "INSERT INTO %s (run_id, row_pk, column_name, json_type, action, original_value, repaired_at)"
                    " SELECT %%s, %s, %%s, %s, %%s, %s, UTC_TIMESTAMP(6) FROM %s WHERE %s AND %s IN (%s)"
                    % (self.ledger.q_sql, t.pk_sql, t.cls_sql, t.col_sql, t.scan_sql, bounds, t.pk_sql, placeholders(ids)),
                    (self.run_id, t.column, action) + bound_args + tuple(ids),
                )
                updated = cur.execute(
                    "UPDATE %s SET %s = %s WHERE %s AND %s IN (%s) AND (%s) IN (%s)"
                    % (t.scan_sql, t.col_sql, expression, bounds, t.pk_sql, placeholders(ids), t.cls_sql, placeholders(kinds)),
                    tuple(expression_args) + bound_args + tuple(ids) + tuple(kinds),
                )
            finally:
                cur.close()
            if inserted != len(ids) or updated != len(ids):
                raise JsonmendError(
                    "chunk %r: %d rows locked for %s but %d quarantined and %d updated; rolled back, nothing of this chunk was changed"
                    % (chunk, len(ids), action, inserted, updated)
                )
            if action != "null":
                read_back += ids
            changed += [(kind, action, rows) for kind, rows in sorted(members["per_kind"].items())]
        if read_back:
            # What the column holds now, byte for byte (the server may normalise what it stores):
            # undo compares against exactly this.
            db.query(
                "UPDATE %s AS q JOIN %s AS t ON t.%s = q.row_pk SET q.new_value = t.%s WHERE q.run_id = %%s AND q.row_pk IN (%s)"
                % (self.ledger.q_sql, t.table_sql, t.pk_sql, t.col_sql, placeholders(read_back)),
                (self.run_id,) + tuple(read_back),
            )
        counts = self.stats.ledger_counts()
        for kind, action, rows in changed:
            counts["actions"][action] = counts["actions"].get(action, 0) + rows
            entry = counts["by_type"].setdefault(kind, dict(action=action, rows=0))
            entry = dict(entry, rows=entry["rows"] + rows)
            counts["by_type"][kind] = entry
        counts["chunks"] += 1
        self.ledger.checkpoint(self.run_id, chunk.high, counts)
        return changed

    def idle_checkpoint(self, chunk):
        """Clean chunks move the checkpoint every few seconds, so a resumed run skips them.

        A short run over a clean table writes nothing at all; a long one records its run
        (and creates the bookkeeping tables) at its first checkpoint, without changing a row.
        """
        if self.check_mode or time.monotonic() - self.last_checkpoint < CHECKPOINT_SECONDS:
            return
        self.record_checkpoint(chunk.high, RUNNING)

    def record_checkpoint(self, key, status):
        if not self.ledger.exists():
            self.ledger.create(self.t.key_type)

        def write():
            if not self.run_recorded:
                self.ledger.start_run(self.run_id, REPAIR, self.policy.describe(), self.start_key, self.end_key)
            self.ledger.checkpoint(self.run_id, key, self.stats.ledger_counts(), status)

        self.transaction(write, "a checkpoint")
        self.run_recorded = True
        self.last_checkpoint = time.monotonic()

    def collect_samples(self, keys):
        want = self.params["sample_limit"] - len(self.samples)
        rows = self.db.query(
            "SELECT row_pk, json_type, action, LEFT(original_value, %d), LEFT(new_value, %d) FROM %s"
            " WHERE run_id = %%s AND row_pk IN (%s) ORDER BY row_pk LIMIT %d"
            % (SAMPLE_CHARS + 1, SAMPLE_CHARS + 1, self.ledger.q_sql, placeholders(keys), want),
            (self.run_id,) + tuple(keys),
        )
        for key, kind, action, before, after in rows:
            self.samples.append(dict(id=plain(key), type=kind, action=action, before=text(before), after=text(after)))

    def collect_check_samples(self, chunk, todo):
        want = self.params["sample_limit"] - len(self.samples)
        if want <= 0:
            return
        t = self.t
        for key, kind, action in todo[:want]:
            expression, args = group_sql(expression_group(action, kind), t.col_sql, self.policy.wrap_key)
            row = self.db.query_one(
                "SELECT LEFT(%s, %d), LEFT(%s, %d) FROM %s WHERE %s = %%s" % (t.col_sql, SAMPLE_CHARS + 1, expression, SAMPLE_CHARS + 1, t.scan_sql, t.pk_sql),
                tuple(args or ()) + (key,),
            )
            if row:
                self.samples.append(dict(id=plain(key), type=kind, action=action, before=text(row[0]), after=text(row[1])))

    def result(self, status):
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
            statistics=stats_block("repair", self.run_id, status + (" (check mode: nothing changed)" if self.check_mode else ""), stats),
        )

# The repair's own tables next to the repaired one: the quarantine (each changed row's exact
# pre-image, what was read back after the write and the row's fingerprint; rows that could not
# be written, with the reason) and the runs table (one row per repair or undo run, with its
# checkpoint). Both are written in the same transaction as the rows they describe. Every row
# names its target (database, table, column): one pair of tables may serve several targets,
# and a target never sees another's runs. Tables of earlier versions are migrated in place.
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.dialects import Dialect
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import validate_identifier
from ansible.module_utils.jsonmend.db.inspector import INTEGER_TYPES

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ansible.module_utils.jsonmend.db.connection import Database

REPAIR = "repair"
UNDO = "undo"
RUNNING = "running"
STOPPED = "stopped"
FINISHED = "finished"
ABANDONED = "abandoned"
UNFINISHED = (RUNNING, STOPPED)

QUARANTINE_SUFFIX = "_jsonmend_quarantine"
RUNS_SUFFIX = "_jsonmend_runs"
QUARANTINE_COLUMNS = ("id", "run_id", "row_pk", "column_name", "json_type", "action", "original_value", "new_value", "repaired_at", "undone_by", "undone_at")
RUNS_COLUMNS = ("run_id", "kind", "column_name", "undo_of", "status", "policy", "start_key", "end_key", "last_key", "counts", "started_at", "updated_at")
# Added by this version (0.2): the target of every row, the post-write fingerprint, failures.
DEPLOY_IDS = "deploy_ids"
QUARANTINE_ADDED = (
    ("database_name", "varchar(64) DEFAULT NULL AFTER `run_id`"),
    ("table_name", "varchar(64) DEFAULT NULL AFTER `database_name`"),
    ("fingerprint", "char(64) CHARACTER SET ascii DEFAULT NULL AFTER `new_value`"),
    ("failure", "varchar(512) DEFAULT NULL AFTER `fingerprint`"),
)
RUNS_ADDED = (
    ("database_name", "varchar(64) DEFAULT NULL AFTER `kind`"),
    ("table_name", "varchar(64) DEFAULT NULL AFTER `database_name`"),
    # Every deploy (playbook run) that started or resumed the run, so its rollback finds it.
    (DEPLOY_IDS, "text DEFAULT NULL"),
)
# The comment an earlier version gave both tables names the table that created them.
OWNER_RE = re.compile(r"jsonmend: .* of ([A-Za-z0-9_$]{1,64})\.([A-Za-z0-9_$]{1,64})$")


def default_names(table: str) -> tuple[str, str]:
    """(quarantine, runs) table names for a repaired table; JsonmendError when too long."""
    table = table.rpartition(".")[2]  # PostgreSQL's schema.table: the tables go in that schema (dialect.sibling_table)
    names = (table + QUARANTINE_SUFFIX, table + RUNS_SUFFIX)
    for name in names:
        if len(name) > 64:
            raise JsonmendError("the default bookkeeping table %s is longer than 64 characters: set quarantine_table and runs_table" % name)
    return names


def encode_key(value: Any) -> str | None:
    """A key value as stored in the runs table (JSON keeps ints ints and strings strings)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return None if value is None else json.dumps(value)


def decode_key(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def key_type_sql(column_type: str | None, charset: str | None = None, collation: str | None = None) -> str:
    """DDL type of the quarantine's row_pk on the MySQL family (the dialect's key_type_sql)."""
    return Dialect().key_type_sql(column_type, charset, collation)


class Ledger:
    """Reads and writes the quarantine and runs tables for one target (database, table, column)."""

    def __init__(self, db: Database, database: str, table: str, column: str, quarantine: str, runs: str, deploy_id: str | None = None) -> None:
        self.db = db
        # The playbook run (deploy) that started or resumed this job: every run records it.
        self.deploy_id = deploy_id
        self.database = database
        self.table = table
        self.column = column
        self.quarantine = validate_identifier(quarantine, "quarantine_table")
        self.runs = validate_identifier(runs, "runs_table")
        d = db.dialect
        # Catalog names: next to the repaired table (in its schema on PostgreSQL).
        self.quarantine_name = d.sibling_table(table, self.quarantine)
        self.runs_name = d.sibling_table(table, self.runs)
        self.q_sql = d.q(self.quarantine_name)
        self.runs_sql = d.q(self.runs_name)
        self._exists = None
        # Tables of an earlier version lack the target columns until migrate(); their rows
        # belong to the table their comment names (the one that created them).
        self.legacy = False
        self.owner = None
        self.migrated = None

    @property
    def now(self) -> str:
        """SQL for the current UTC time, as the bookkeeping tables store it."""
        return self.db.dialect.utc_now_sql()

    # -- tables ----------------------------------------------------------------
    def exists(self) -> bool:
        """True when both bookkeeping tables exist (their columns are checked)."""
        if self._exists:
            return True
        found = {}
        missing_added = False
        for name, wanted, added in ((self.quarantine, QUARANTINE_COLUMNS, QUARANTINE_ADDED), (self.runs, RUNS_COLUMNS, RUNS_ADDED)):
            columns = self._column_names(name)
            found[name] = bool(columns)
            if columns and not set(wanted) <= columns:
                raise JsonmendError(
                    "table %s.%s exists but is not a jsonmend %s table (missing columns %s): choose another name"
                    % (self.database, name, "quarantine" if name == self.quarantine else "runs", ", ".join(sorted(set(wanted) - columns)))
                )
            if columns and not set(c for c, _ddl in added) <= columns:
                missing_added = True
        if found[self.quarantine] != found[self.runs]:
            present, missing = (self.quarantine, self.runs) if found[self.quarantine] else (self.runs, self.quarantine)
            # An empty partner is what a run killed between the two CREATEs leaves: create()
            # completes the pair. A partner with rows means the other table was lost.
            if self.db.query_one("SELECT 1 FROM %s LIMIT 1" % self.db.dialect.q(self.db.dialect.sibling_table(self.table, present))):
                raise JsonmendError(
                    "table %s.%s is missing while %s holds rows: restore it from the backup before repairing or undoing" % (self.database, missing, present)
                )
            return False
        self._exists = found[self.quarantine]
        if self._exists and missing_added:
            self.legacy = True
            self.owner = self._owner()
        return self._exists

    def _column_names(self, name):
        cur = self.db.cursor()
        try:
            return set(self.db.dialect.column_names(cur, self.database, self.db.dialect.sibling_table(self.table, name)))
        finally:
            cur.close()

    def _owner(self):
        """(database, table) an earlier version's tables were created for, from their comments."""
        rows = self.db.query(
            "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN (%s, %s)",
            (self.database, self.quarantine, self.runs),
        )
        for (comment,) in rows:
            match = OWNER_RE.search((comment or "").strip())
            if match:
                return match.group(1), match.group(2)
        return None

    def owns_legacy_rows(self) -> bool:
        return self.owner == (self.database, self.table)

    def create(self, key_type: str) -> bool:
        """CREATE both tables (DDL commits, so never call this inside a chunk's transaction)."""
        if self.exists():
            return False
        d = self.db.dialect
        d.create_table(
            self.db,
            self.q_sql,
            (
                ("id", "serial", ""),
                ("run_id", "ascii64", "NOT NULL"),
                ("database_name", "varchar(64)", "DEFAULT NULL"),
                ("table_name", "varchar(64)", "DEFAULT NULL"),
                ("row_pk", key_type, "NOT NULL"),
                ("column_name", "varchar(64)", "NOT NULL"),
                ("json_type", "varchar(32)", "NOT NULL"),
                ("action", "varchar(8)", "NOT NULL"),
                # The exact pre-image bytes (LONGBLOB, bytea): undo writes them back unchanged.
                ("original_value", "bytes", ""),
                ("new_value", "bytes", ""),
                ("fingerprint", "ascii_hash", "DEFAULT NULL"),
                ("failure", "varchar(512)", "DEFAULT NULL"),
                ("repaired_at", "time", "NOT NULL"),
                ("undone_by", "ascii64", "DEFAULT NULL"),
                ("undone_at", "time", "DEFAULT NULL"),
            ),
            d.q("id"),
            ((d.index_name(self.quarantine, "run_row"), "%s, %s" % (d.q("run_id"), d.q("row_pk"))),),
            ((d.index_name(self.quarantine, "row_pk"), d.q("row_pk")),),
            "jsonmend: pre-images of repaired values of %s.%s" % (self.database, self.table),
        )
        d.create_table(
            self.db,
            self.runs_sql,
            (
                ("run_id", "ascii64", "NOT NULL"),
                ("kind", "varchar(8)", "NOT NULL"),
                ("database_name", "varchar(64)", "DEFAULT NULL"),
                ("table_name", "varchar(64)", "DEFAULT NULL"),
                ("column_name", "varchar(64)", "NOT NULL"),
                ("undo_of", "ascii64", "DEFAULT NULL"),
                ("status", "varchar(16)", "NOT NULL"),
                ("policy", "text", ""),
                ("start_key", "varchar(512)", "DEFAULT NULL"),
                ("end_key", "varchar(512)", "DEFAULT NULL"),
                ("last_key", "varchar(512)", "DEFAULT NULL"),
                ("counts", "text", ""),
                ("started_at", "time", "NOT NULL"),
                ("updated_at", "time", "NOT NULL"),
                ("finished_at", "time", "DEFAULT NULL"),
                ("undone_by", "ascii64", "DEFAULT NULL"),
                ("started_by", "varchar(160)", "DEFAULT NULL"),
                ("deploy_ids", "text", "DEFAULT NULL"),
            ),
            d.q("run_id"),
            (),
            (
                (d.index_name(self.runs, "column_kind"), ", ".join(d.q(c) for c in ("column_name", "kind", "started_at"))),
                (d.index_name(self.runs, "target_kind"), ", ".join(d.q(c) for c in ("table_name", "column_name", "kind", "started_at"))),
            ),
            "jsonmend: repair and undo runs (checkpoints) of %s.%s" % (self.database, self.table),
        )
        self._exists = True
        return True

    def migrate(self) -> dict[str, Any] | None:
        """Bring tables of an earlier version up to this one, in place (DDL: outside any chunk).

        The new columns are appended (instant on MariaDB 10.4+ and MySQL 8); rows written before
        get the target named in the tables' comment, which an earlier version wrote at creation.
        Returns what was done, or None when nothing was needed.
        """
        if not self.exists() or not self.legacy:
            return None
        done = dict(quarantine=self.quarantine, runs=self.runs, owner=".".join(self.owner) if self.owner else None)
        for name, added in ((self.quarantine, QUARANTINE_ADDED), (self.runs, RUNS_ADDED)):
            have = set(
                r[0]
                for r in self.db.query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (self.database, name))
            )
            clauses = ["ADD COLUMN `%s` %s" % (col, ddl) for col, ddl in added if col not in have]
            if clauses:
                self.db.query("ALTER TABLE %s %s" % (self.db.dialect.q(name), ", ".join(clauses)))
        keys = set(
            r[0]
            for r in self.db.query(
                "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (self.database, self.runs)
            )
        )
        if "target_kind" not in keys:
            self.db.query("ALTER TABLE %s ADD KEY `target_kind` (`table_name`, `column_name`, `kind`, `started_at`)" % self.runs_sql)
        rows = 0
        if self.owner:
            for table_sql in (self.q_sql, self.runs_sql):
                cur = self.db.cursor()
                try:
                    rows += cur.execute(
                        "UPDATE %s SET database_name = %%s, table_name = %%s WHERE table_name IS NULL" % table_sql,
                        self.owner,
                    )
                finally:
                    cur.close()
        done["rows_assigned"] = rows
        self.legacy = False
        self.migrated = done
        return done

    def key_problems(self, key_data_type: str, key_max_chars: int | None) -> list[str]:
        """Why this quarantine cannot hold the target's keys (created for another table's key type)."""
        if not self.exists():
            return []
        cur = self.db.cursor()
        try:
            details = [c for c in self.db.dialect.column_details(cur, self.database, self.quarantine_name) if c["name"] == "row_pk"]
        finally:
            cur.close()
        if not details:
            return []
        have, have_chars = (details[0]["data_type"] or "").lower(), details[0]["max_chars"]
        same_family = (have in INTEGER_TYPES) == (key_data_type in INTEGER_TYPES)
        too_short = have_chars is not None and key_max_chars is not None and int(have_chars) < int(key_max_chars)
        if same_family and not too_short:
            return []
        return [
            "quarantine table %s.%s keeps keys of type %s, which cannot hold the keys of %s.%s (%s): it was created for another"
            " table; give this one its own quarantine_table and runs_table. Nothing was changed"
            % (self.database, self.quarantine, have, self.database, self.table, key_data_type)
        ]

    # -- the target's rows -----------------------------------------------------
    def target_where(self, alias: str = "") -> tuple[str, tuple[Any, ...]]:
        """(SQL condition, args) selecting this target's rows of either table."""
        a = alias + "." if alias else ""
        if self.legacy:
            # Not migrated yet (check mode, status): earlier rows belong to the table that created the tables.
            if self.owns_legacy_rows():
                return "%scolumn_name = %%s" % a, (self.column,)
            return "FALSE", ()
        return "%sdatabase_name = %%s AND %stable_name = %%s AND %scolumn_name = %%s" % (a, a, a), (self.database, self.table, self.column)

    def same_target_sql(self, a: str, b: str) -> str:
        """SQL condition: rows aliased a and b belong to the same target."""
        if self.legacy:
            return "%s.column_name = %s.column_name" % (a, b)
        eq = self.db.dialect.null_safe_equal
        return "%s.column_name = %s.column_name AND %s AND %s" % (
            a,
            b,
            eq(a + ".table_name", b + ".table_name"),
            eq(a + ".database_name", b + ".database_name"),
        )

    def column_sql(self, name: str, alias: str = "") -> str:
        """A column added by this version, or NULL on tables not migrated yet."""
        if self.legacy:
            return "NULL"
        return ("%s.%s" % (alias, name)) if alias else name

    def written_sql(self, alias: str = "") -> str:
        """SQL condition: the quarantine row records a write (not a row that could not be written)."""
        if self.legacy:
            return "TRUE"
        return "%sfailure IS NULL" % (alias + "." if alias else "")

    # -- runs ------------------------------------------------------------------
    RUN_FIELDS = (
        "run_id, kind, column_name, undo_of, status, policy, start_key, end_key, last_key, counts, started_at, updated_at, finished_at, undone_by, started_by"
    )

    def _run(self, row):
        if row is None:
            return None
        names = [n.strip() for n in self.RUN_FIELDS.split(",")] + ["database_name", "table_name", DEPLOY_IDS]
        run = dict(zip(names, row, strict=True))
        run[DEPLOY_IDS] = json.loads(run[DEPLOY_IDS]) if run[DEPLOY_IDS] else []
        for key in ("policy", "counts"):
            run[key] = json.loads(run[key]) if run[key] else {}
        for key in ("start_key", "end_key", "last_key"):
            run[key] = decode_key(run[key])
        for key in ("started_at", "updated_at", "finished_at"):
            if run[key] is not None:
                run[key] = run[key].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return run

    def _fields(self, alias=""):
        a = alias + "." if alias else ""
        names = [a + n.strip() for n in self.RUN_FIELDS.split(",")]
        added = [self.column_sql(name, alias) for name in ("database_name", "table_name", DEPLOY_IDS)]
        return ", ".join(names + added)

    def run(self, run_id: str) -> dict[str, Any] | None:
        """A run of this target by id, or None (also when the id belongs to another target)."""
        if not self.exists():
            return None
        where, args = self.target_where()
        return self._run(self.db.query_one("SELECT %s FROM %s WHERE run_id = %%s AND %s" % (self._fields(), self.runs_sql, where), (run_id,) + args))

    def run_elsewhere(self, run_id: str) -> str | None:
        """'db.table.column' of a run recorded for another target, or None."""
        if not self.exists() or self.legacy:
            return None
        row = self.db.query_one("SELECT database_name, table_name, column_name FROM %s WHERE run_id = %%s" % self.runs_sql, (run_id,))
        if not row or (row[0], row[1], row[2]) == (self.database, self.table, self.column):
            return None
        return "%s.%s.%s" % row

    def unfinished(self, kind: str, undo_of: str | None = None) -> dict[str, Any] | None:
        """The newest unfinished run of this kind on this target (for undo: of that repair run)."""
        if not self.exists():
            return None
        where, args = self.target_where()
        sql = "SELECT %s FROM %s WHERE %s AND kind = %%s AND status IN ('running', 'stopped')" % (self._fields(), self.runs_sql, where)
        args = list(args) + [kind]
        if undo_of is not None:
            sql += " AND undo_of = %s"
            args.append(undo_of)
        return self._run(self.db.query_one(sql + " ORDER BY started_at DESC, run_id DESC LIMIT 1", tuple(args)))

    def latest_repair(self) -> dict[str, Any] | None:
        """The newest repair run on this target that changed (quarantined) at least one row."""
        if not self.exists():
            return None
        where, args = self.target_where("r")
        return self._run(
            self.db.query_one(
                "SELECT %s FROM %s AS r WHERE %s AND r.kind = 'repair'"
                " AND EXISTS (SELECT 1 FROM %s AS q WHERE q.run_id = r.run_id AND %s) ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1"
                % (self._fields("r"), self.runs_sql, where, self.q_sql, self.written_sql("q")),
                args,
            )
        )

    def runs_list(self, limit: int = 50) -> list[dict[str, Any] | None]:
        if not self.exists():
            return []
        where, args = self.target_where()
        rows = self.db.query(
            "SELECT %s FROM %s WHERE %s ORDER BY started_at DESC, run_id DESC LIMIT %d" % (self._fields(), self.runs_sql, where, int(limit)),
            args,
        )
        return [self._run(r) for r in rows]

    def start_run(self, run_id: str, kind: str, policy: Mapping[str, Any], start_key: Any, end_key: Any, undo_of: str | None = None) -> None:
        """INSERT the run's row; call inside the transaction of its first change."""
        self.db.query(
            "INSERT INTO %s (run_id, kind, database_name, table_name, column_name, undo_of, status, policy, start_key, end_key, last_key, counts,"
            " started_at, updated_at, started_by, deploy_ids)"
            " VALUES (%%s, %%s, %%s, %%s, %%s, %%s, 'running', %%s, %%s, %%s, NULL, '{}', %s, %s, %s, %%s)"
            % (self.runs_sql, self.now, self.now, self.db.dialect.current_user_sql),
            (run_id, kind, self.database, self.table, self.column, undo_of, json.dumps(policy, sort_keys=True), encode_key(start_key), encode_key(end_key))
            + (json.dumps([self.deploy_id] if self.deploy_id else []),),
        )

    def add_deploy_id(self, run_id: str) -> None:
        """Record that this deploy resumed the run (after migrate()): a resumed run keeps every
        deploy id that worked on it, so the rollback of any of them finds it."""
        if not self.deploy_id or self.legacy:
            return
        run = self.run(run_id)
        if run is None or self.deploy_id in run[DEPLOY_IDS]:
            return
        self.db.query(
            "UPDATE %s SET deploy_ids = %%s, updated_at = %s WHERE run_id = %%s" % (self.runs_sql, self.now),
            (json.dumps(run[DEPLOY_IDS] + [self.deploy_id]), run_id),
        )

    def checkpoint(self, run_id: str, last_key: Any, counts: Mapping[str, int], status: str = RUNNING) -> None:
        """Record how far the run got; in the chunk's transaction, so it is never ahead of the data."""
        finished = ", finished_at = %s" % self.now if status == FINISHED else ""
        self.db.query(
            "UPDATE %s SET last_key = %%s, counts = %%s, status = %%s, updated_at = %s%s WHERE run_id = %%s" % (self.runs_sql, self.now, finished),
            (encode_key(last_key), json.dumps(counts, sort_keys=True), status, run_id),
        )

    def set_status(self, run_id: str, status: str) -> None:
        self.db.query("UPDATE %s SET status = %%s, updated_at = %s WHERE run_id = %%s" % (self.runs_sql, self.now), (status, run_id))

    def mark_undone(self, repair_run_id: str, undo_run_id: str) -> None:
        self.db.query("UPDATE %s SET undone_by = %%s, updated_at = %s WHERE run_id = %%s" % (self.runs_sql, self.now), (undo_run_id, repair_run_id))

    def quarantined_rows(self, run_id: str) -> tuple[int, int, Any, Any]:
        """(rows the run wrote and quarantined, of which undone, lowest key, highest key)."""
        if not self.exists():
            return (0, 0, None, None)
        row = self.db.query_one(
            "SELECT COUNT(*), COUNT(undone_at), MIN(row_pk), MAX(row_pk) FROM %s WHERE run_id = %%s AND %s" % (self.q_sql, self.written_sql()),
            (run_id,),
        )
        return (int(row[0]), int(row[1]), row[2], row[3])

    def failed_rows(self, run_id: str) -> int:
        """Rows the run could not write, recorded with their reason."""
        if not self.exists() or self.legacy:
            return 0
        return int(self.db.query_one("SELECT COUNT(*) FROM %s WHERE run_id = %%s AND failure IS NOT NULL" % self.q_sql, (run_id,))[0])

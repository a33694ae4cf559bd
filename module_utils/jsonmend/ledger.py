# The repair's own tables next to the repaired one: the quarantine (each changed row's exact
# pre-image and what was written) and the runs table (one row per repair or undo run, with
# its checkpoint). Both are written in the same transaction as the rows they describe.
from __future__ import annotations

import json
import re

from ansible.module_utils.jsonmend.connection import driver_error_types, driver_message
from ansible.module_utils.jsonmend.errors import JsonmendError
from ansible.module_utils.jsonmend.identifiers import validate_identifier

REPAIR = "repair"
UNDO = "undo"
RUNNING = "running"
STOPPED = "stopped"
FINISHED = "finished"
ABANDONED = "abandoned"
UNFINISHED = (RUNNING, STOPPED)

QUARANTINE_SUFFIX = "_jsonmend_quarantine"
RUNS_SUFFIX = "_jsonmend_runs"
COLUMN_TYPE_RE = re.compile(r"[a-z]+(\(\d+(,\d+)?\))?( unsigned)?( zerofill)?")
QUARANTINE_COLUMNS = ("id", "run_id", "row_pk", "column_name", "json_type", "action", "original_value", "new_value", "repaired_at", "undone_by", "undone_at")
RUNS_COLUMNS = ("run_id", "kind", "column_name", "undo_of", "status", "policy", "start_key", "end_key", "last_key", "counts", "started_at", "updated_at")
# Added by later versions; upgrade() adds them to a ledger an earlier version created.
DEPLOY_IDS = "deploy_ids"
DUPLICATE_COLUMN = 1060


def default_names(table):
    """(quarantine, runs) table names for a repaired table; JsonmendError when too long."""
    names = (table + QUARANTINE_SUFFIX, table + RUNS_SUFFIX)
    for name in names:
        if len(name) > 64:
            raise JsonmendError("the default bookkeeping table %s is longer than 64 characters: set quarantine_table and runs_table" % name)
    return names


def encode_key(value):
    """A key value as stored in the runs table (JSON keeps ints ints and strings strings)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return None if value is None else json.dumps(value)


def decode_key(text):
    return None if text is None else json.loads(text)


def key_type_sql(column_type, charset=None, collation=None):
    """DDL type of the quarantine's row_pk: the repaired table's own key type."""
    column_type = (column_type or "").lower()
    if not COLUMN_TYPE_RE.fullmatch(column_type):
        raise JsonmendError("cannot copy the primary key's type %r into the quarantine table" % column_type)
    if charset:
        validate_identifier(charset, "key character set")
        sql = "%s CHARACTER SET %s" % (column_type, charset)
        if collation:
            validate_identifier(collation, "key collation")
            sql += " COLLATE %s" % collation
        return sql
    return column_type


class Ledger:
    """Reads and writes the quarantine and runs tables of one repaired table and column."""

    def __init__(self, db, database, table, column, quarantine, runs, deploy_id=None):
        self.db = db
        # The playbook run (deploy) that started or resumed this job: every run records it.
        self.deploy_id = deploy_id
        self.has_deploy_ids = False
        self.database = database
        self.table = table
        self.column = column
        self.quarantine = validate_identifier(quarantine, "quarantine_table")
        self.runs = validate_identifier(runs, "runs_table")
        self.q_sql = db.dialect.q(quarantine)
        self.runs_sql = db.dialect.q(runs)
        self._exists = None

    # -- tables ----------------------------------------------------------------
    def exists(self):
        """True when both bookkeeping tables exist (their columns are checked)."""
        if self._exists:
            return True
        found = {}
        for name, wanted in ((self.quarantine, QUARANTINE_COLUMNS), (self.runs, RUNS_COLUMNS)):
            rows = self.db.query(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (self.database, name),
            )
            columns = set(r[0] for r in rows)
            found[name] = bool(columns)
            if name == self.runs:
                self.has_deploy_ids = DEPLOY_IDS in columns
            if columns and not set(wanted) <= columns:
                raise JsonmendError(
                    "table %s.%s exists but is not a jsonmend %s table (missing columns %s): choose another name"
                    % (self.database, name, "quarantine" if name == self.quarantine else "runs", ", ".join(sorted(set(wanted) - columns)))
                )
        if found[self.quarantine] != found[self.runs]:
            present, missing = (self.quarantine, self.runs) if found[self.quarantine] else (self.runs, self.quarantine)
            # An empty partner is what a run killed between the two CREATEs leaves: create()
            # completes the pair. A partner with rows means the other table was lost.
            if self.db.query_one("SELECT 1 FROM %s LIMIT 1" % self.db.dialect.q(present)):
                raise JsonmendError(
                    "table %s.%s is missing while %s holds rows: restore it from the backup before repairing or undoing" % (self.database, missing, present)
                )
            return False
        self._exists = found[self.quarantine]
        return self._exists

    def create(self, key_type):
        """CREATE both tables (DDL commits, so never call this inside a chunk's transaction)."""
        if self.exists():
            return False
        comment = "jsonmend: pre-images of repaired values of %s.%s" % (self.database, self.table)
        self.db.query(
            "CREATE TABLE IF NOT EXISTS %s ("
            " `id` bigint unsigned NOT NULL AUTO_INCREMENT,"
            " `run_id` varchar(64) CHARACTER SET ascii NOT NULL,"
            " `row_pk` %s NOT NULL,"
            " `column_name` varchar(64) NOT NULL,"
            " `json_type` varchar(32) NOT NULL,"
            " `action` varchar(8) NOT NULL,"
            " `original_value` longblob,"
            " `new_value` longblob,"
            " `repaired_at` datetime(6) NOT NULL,"
            " `undone_by` varchar(64) CHARACTER SET ascii DEFAULT NULL,"
            " `undone_at` datetime(6) DEFAULT NULL,"
            " PRIMARY KEY (`id`),"
            " UNIQUE KEY `run_row` (`run_id`, `row_pk`),"
            " KEY `row_pk` (`row_pk`)"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT=%%s" % (self.q_sql, key_type),
            (comment,),
        )
        self.db.query(
            "CREATE TABLE IF NOT EXISTS %s ("
            " `run_id` varchar(64) CHARACTER SET ascii NOT NULL,"
            " `kind` varchar(8) NOT NULL,"
            " `column_name` varchar(64) NOT NULL,"
            " `undo_of` varchar(64) CHARACTER SET ascii DEFAULT NULL,"
            " `status` varchar(16) NOT NULL,"
            " `policy` text,"
            " `start_key` varchar(512) DEFAULT NULL,"
            " `end_key` varchar(512) DEFAULT NULL,"
            " `last_key` varchar(512) DEFAULT NULL,"
            " `counts` text,"
            " `started_at` datetime(6) NOT NULL,"
            " `updated_at` datetime(6) NOT NULL,"
            " `finished_at` datetime(6) DEFAULT NULL,"
            " `undone_by` varchar(64) CHARACTER SET ascii DEFAULT NULL,"
            " `started_by` varchar(160) DEFAULT NULL,"
            " `deploy_ids` text DEFAULT NULL,"
            " PRIMARY KEY (`run_id`),"
            " KEY `column_kind` (`column_name`, `kind`, `started_at`)"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT=%%s" % self.runs_sql,
            ("jsonmend: repair and undo runs (checkpoints) of %s.%s" % (self.database, self.table),),
        )
        self._exists = True
        self.has_deploy_ids = True
        return True

    def upgrade(self):
        """Add the deploy_ids column to a runs table an earlier version created (DDL: call it
        before any chunk's transaction, under the run's advisory lock). Returns what was added."""
        if not self.exists() or self.has_deploy_ids:
            return []
        try:
            self.db.query("ALTER TABLE %s ADD COLUMN `%s` text DEFAULT NULL" % (self.runs_sql, DEPLOY_IDS))
        except driver_error_types() as exc:
            if (exc.args[0] if exc.args else None) != DUPLICATE_COLUMN:
                raise JsonmendError(
                    "the runs table %s.%s predates the deploy_ids column and could not be given it (%s): grant ALTER on it once,"
                    " or run this version's first repair or undo as a user who may; nothing was changed" % (self.database, self.runs, driver_message(exc))
                ) from None
        self.has_deploy_ids = True
        return [DEPLOY_IDS]

    # -- runs ------------------------------------------------------------------
    RUN_FIELDS = (
        "run_id, kind, column_name, undo_of, status, policy, start_key, end_key, last_key, counts, started_at, updated_at, finished_at, undone_by, started_by"
    )

    def _fields(self):
        """RUN_FIELDS plus deploy_ids (NULL for a runs table an earlier version created)."""
        return self.RUN_FIELDS + (", deploy_ids" if self.has_deploy_ids else ", NULL AS deploy_ids")

    def _run(self, row):
        if row is None:
            return None
        names = [n.strip() for n in self.RUN_FIELDS.split(",")] + [DEPLOY_IDS]
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

    def run(self, run_id):
        if not self.exists():
            return None
        return self._run(self.db.query_one("SELECT %s FROM %s WHERE run_id = %%s" % (self._fields(), self.runs_sql), (run_id,)))

    def unfinished(self, kind, undo_of=None):
        """The newest unfinished run of this kind on this column (for undo: of that repair run)."""
        if not self.exists():
            return None
        sql = "SELECT %s FROM %s WHERE column_name = %%s AND kind = %%s AND status IN ('running', 'stopped')" % (self._fields(), self.runs_sql)
        args = [self.column, kind]
        if undo_of is not None:
            sql += " AND undo_of = %s"
            args.append(undo_of)
        return self._run(self.db.query_one(sql + " ORDER BY started_at DESC, run_id DESC LIMIT 1", tuple(args)))

    def latest_repair(self):
        """The newest repair run on this column that changed (quarantined) at least one row."""
        if not self.exists():
            return None
        return self._run(
            self.db.query_one(
                "SELECT %s FROM %s AS r WHERE column_name = %%s AND kind = 'repair'"
                " AND EXISTS (SELECT 1 FROM %s AS q WHERE q.run_id = r.run_id) ORDER BY started_at DESC, run_id DESC LIMIT 1"
                % (self._fields(), self.runs_sql, self.q_sql),
                (self.column,),
            )
        )

    def runs_list(self, limit=50):
        if not self.exists():
            return []
        rows = self.db.query(
            "SELECT %s FROM %s WHERE column_name = %%s ORDER BY started_at DESC, run_id DESC LIMIT %d" % (self._fields(), self.runs_sql, int(limit)),
            (self.column,),
        )
        return [self._run(r) for r in rows]

    def start_run(self, run_id, kind, policy, start_key, end_key, undo_of=None):
        """INSERT the run's row; call inside the transaction of its first change."""
        deploy = ", deploy_ids" if self.has_deploy_ids else ""
        self.db.query(
            "INSERT INTO %s (run_id, kind, column_name, undo_of, status, policy, start_key, end_key, last_key, counts, started_at, updated_at, started_by%s)"
            " VALUES (%%s, %%s, %%s, %%s, 'running', %%s, %%s, %%s, NULL, '{}', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), CURRENT_USER()%s)"
            % (self.runs_sql, deploy, ", %s" if deploy else ""),
            (run_id, kind, self.column, undo_of, json.dumps(policy, sort_keys=True), encode_key(start_key), encode_key(end_key))
            + ((json.dumps([self.deploy_id] if self.deploy_id else []),) if deploy else ()),
        )

    def add_deploy_id(self, run_id):
        """Record that this deploy resumed the run: a resumed run keeps every deploy id that worked on it,
        so the rollback of any of them finds it. Its own short transaction."""
        if not self.deploy_id or not self.has_deploy_ids:
            return
        run = self.run(run_id)
        if run is None or self.deploy_id in run[DEPLOY_IDS]:
            return
        self.db.query(
            "UPDATE %s SET deploy_ids = %%s, updated_at = UTC_TIMESTAMP(6) WHERE run_id = %%s" % self.runs_sql,
            (json.dumps(run[DEPLOY_IDS] + [self.deploy_id]), run_id),
        )

    def checkpoint(self, run_id, last_key, counts, status=RUNNING):
        """Record how far the run got; in the chunk's transaction, so it is never ahead of the data."""
        finished = ", finished_at = UTC_TIMESTAMP(6)" if status == FINISHED else ""
        self.db.query(
            "UPDATE %s SET last_key = %%s, counts = %%s, status = %%s, updated_at = UTC_TIMESTAMP(6)%s WHERE run_id = %%s" % (self.runs_sql, finished),
            (encode_key(last_key), json.dumps(counts, sort_keys=True), status, run_id),
        )

    def set_status(self, run_id, status):
        self.db.query("UPDATE %s SET status = %%s, updated_at = UTC_TIMESTAMP(6) WHERE run_id = %%s" % self.runs_sql, (status, run_id))

    def mark_undone(self, repair_run_id, undo_run_id):
        self.db.query("UPDATE %s SET undone_by = %%s, updated_at = UTC_TIMESTAMP(6) WHERE run_id = %%s" % self.runs_sql, (undo_run_id, repair_run_id))

    def quarantined_rows(self, run_id):
        """(rows quarantined by the run, of which undone, lowest key, highest key)."""
        if not self.exists():
            return (0, 0, None, None)
        row = self.db.query_one(
            "SELECT COUNT(*), COUNT(undone_at), MIN(row_pk), MAX(row_pk) FROM %s WHERE run_id = %%s" % self.q_sql,
            (run_id,),
        )
        return (int(row[0]), int(row[1]), row[2], row[3])

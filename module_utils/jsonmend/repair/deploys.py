# The deploy records, in the database beside the repair ledger: one row per deploy (playbook
# run) of a target, with its status, commits and repair runs, and the whole run record as JSON.
# reports/ on the controller that ran the deploy keeps its copy; this one is what a rollback
# from another controller, or a fresh AWX job, finds.
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import validate_identifier, validate_table

if TYPE_CHECKING:
    from ansible.module_utils.jsonmend.db.connection import Database

DEPLOYS_SUFFIX = "_jsonmend_deploys"
STATUSES = ("in_progress", "deployed", "check", "refused", "rolling_back", "rolled_back", "rollback_failed", "failed")
COLUMNS = ("run_id", "database_name", "table_name", "column_name", "status", "previous", "target", "new", "repair_run_ids", "record")
RUN_ID_CHARS = 64
# The record is what reports/<run id>/deploy.json holds; a scan's samples are never in it.
MAX_RECORD_BYTES = 4 * 1024 * 1024


# The table's columns (logical types through Dialect.DDL_TYPES), in order.
DDL = (
    ("run_id", "ascii64", "NOT NULL"),
    ("database_name", "varchar(64)", "NOT NULL"),
    ("table_name", "varchar(64)", "NOT NULL"),
    ("column_name", "varchar(64)", "NOT NULL"),
    ("status", "varchar(16)", "NOT NULL"),
    ("previous", "ascii_sha1", "DEFAULT NULL"),
    ("target", "ascii_sha1", "DEFAULT NULL"),
    ("new", "ascii_sha1", "DEFAULT NULL"),
    ("repair_run_ids", "text", ""),
    ("record", "long_text", "NOT NULL"),
    ("started_at", "time", "NOT NULL"),
    ("updated_at", "time", "NOT NULL"),
)
UPDATED_ON_REWRITE = ("status", "previous", "target", "new", "repair_run_ids", "record")


def default_name(table: str) -> str:
    """<table>_jsonmend_deploys, in the table's schema when it names one (PostgreSQL's schema.table)."""
    schema, dot, bare = table.rpartition(".")
    name = bare + DEPLOYS_SUFFIX
    if len(name) > 64:
        raise JsonmendError("the default deploys table %s is longer than 64 characters: set deploys_table" % name)
    return schema + dot + name


def summary(record: object) -> dict[str, Any]:
    """The columns a record fills besides itself: status, commits, repair run ids."""
    if not isinstance(record, dict):
        raise JsonmendError("a deploy record must be a dict")
    release = record.get("release") or {}
    repair = record.get("repair") or {}
    runs = [r for r in (repair.get("run_id"),) if r]
    status = str(record.get("outcome") or "refused")
    return dict(
        status=status[:16],
        previous=release.get("previous"),
        target=release.get("target"),
        new=release.get("new"),
        repair_run_ids=json.dumps(runs),
    )


class DeployState:
    """Reads and writes the deploys table of one target database."""

    def __init__(self, db: Database, database: str, table: str, column: str, deploys_table: str) -> None:
        self.db = db
        self.database = database
        flavour = db.dialect.name
        # PostgreSQL's records name the table schema.table, however the input spelled it.
        self.table = db.dialect.sibling_table(validate_table(table, "table", flavour), table.rpartition(".")[2])
        self.column = validate_identifier(column, "column")
        self.name = validate_table(deploys_table, "deploys_table", flavour)
        self.sql_name = db.dialect.q(deploys_table)

    def exists(self) -> bool:
        cur = self.db.cursor()
        try:
            columns = set(self.db.dialect.column_names(cur, self.database, self.name))
        finally:
            cur.close()
        if columns and not set(COLUMNS) <= columns:
            raise JsonmendError(
                "table %s.%s exists but is not a jsonmend deploys table (missing columns %s): choose another deploys_table"
                % (self.database, self.name, ", ".join(sorted(set(COLUMNS) - columns)))
            )
        return bool(columns)

    def create(self) -> bool:
        if self.exists():
            return False
        d = self.db.dialect
        d.create_table(
            self.db,
            self.sql_name,
            DDL,
            d.q("run_id"),
            (),
            ((d.index_name(self.name.rpartition(".")[2], "target_started"), ", ".join(d.q(c) for c in ("table_name", "column_name", "started_at"))),),
            "jsonmend: deploys of %s.%s (rollback reads them from any controller)" % (self.database, self.table),
        )
        self.db.conn.commit()
        return True

    def write(self, run_id: object, record: object) -> dict[str, Any]:
        """Insert or replace the record of deploy run_id; returns the row's summary."""
        if not isinstance(run_id, str) or not run_id or len(run_id) > RUN_ID_CHARS:
            raise JsonmendError("run_id must be 1-%d characters" % RUN_ID_CHARS)
        text = json.dumps(record, sort_keys=True, default=str)
        if len(text.encode("utf-8")) > MAX_RECORD_BYTES:
            raise JsonmendError("the deploy record of %s is larger than %d bytes" % (run_id, MAX_RECORD_BYTES))
        row = summary(record)
        self.create()
        d = self.db.dialect
        now = d.utc_now_sql()
        self.db.query(
            "INSERT INTO %s (%s) VALUES (%s, %s, %s)%s, %s = %s"
            % (
                self.sql_name,
                ", ".join(d.q(c) for c, _type, _extra in DDL),
                ", ".join(["%s"] * (len(DDL) - 2)),
                now,
                now,
                d.upsert_clause("run_id", UPDATED_ON_REWRITE),
                d.q("updated_at"),
                now,
            ),
            (run_id, self.database, self.table, self.column, row["status"], row["previous"], row["target"], row["new"], row["repair_run_ids"], text),
        )
        self.db.conn.commit()
        return dict(row, run_id=run_id)

    def mark(self, run_id: str, status: str, by: str) -> bool:
        """Set the status of a recorded deploy (a rollback marks the deploy it undid)."""
        if status not in STATUSES:
            raise JsonmendError("status must be one of %s" % ", ".join(STATUSES))
        if not self.exists():
            return False
        d = self.db.dialect
        cur = self.db.cursor()
        try:
            cur.execute(
                # The record keeps its own outcome (what the deploy did); the status says what became of it.
                "UPDATE %s SET status = %%s, record = %s, updated_at = %s WHERE run_id = %%s AND table_name = %%s AND status <> %%s"
                % (self.sql_name, d.json_text_set_object("record", "marked", ("status", "by")), d.utc_now_sql()),
                (status, status, by, run_id, self.table, status),
            )
            changed = cur.rowcount
        finally:
            cur.close()
        self.db.conn.commit()
        return bool(changed)

    def read(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest `limit` records of this table, newest first (records as stored, with `status`)."""
        if not self.exists():
            return []
        rows = self.db.query(
            "SELECT run_id, status, record FROM %s WHERE database_name = %%s AND table_name = %%s ORDER BY started_at DESC, run_id DESC LIMIT %d"
            % (self.sql_name, int(limit)),
            (self.database, self.table),
        )
        records = []
        for run_id, status, text in rows:
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            try:
                record = json.loads(text)
            except ValueError:
                continue
            if isinstance(record, dict):
                record["db_status"] = status
                record.setdefault("run", {}).setdefault("id", run_id)
                records.append(record)
        return records

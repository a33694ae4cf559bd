# The deploy records, in the database beside the repair ledger: one row per deploy (playbook
# run) of a target, with its status, commits and repair runs, and the whole run record as JSON.
# reports/ on the controller that ran the deploy keeps its copy; this one is what a rollback
# from another controller, or a fresh AWX job, finds.
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import validate_identifier

if TYPE_CHECKING:
    from ansible.module_utils.jsonmend.db.connection import Database

DEPLOYS_SUFFIX = "_jsonmend_deploys"
STATUSES = ("in_progress", "deployed", "check", "refused", "rolling_back", "rolled_back", "rollback_failed", "failed")
COLUMNS = ("run_id", "database_name", "table_name", "column_name", "status", "previous", "target", "new", "repair_run_ids", "record")
RUN_ID_CHARS = 64
# The record is what reports/<run id>/deploy.json holds; a scan's samples are never in it.
MAX_RECORD_BYTES = 4 * 1024 * 1024


def default_name(table: str) -> str:
    name = table + DEPLOYS_SUFFIX
    if len(name) > 64:
        raise JsonmendError("the default deploys table %s is longer than 64 characters: set deploys_table" % name)
    return name


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
        self.table = validate_identifier(table, "table")
        self.column = validate_identifier(column, "column")
        self.name = validate_identifier(deploys_table, "deploys_table")
        self.sql_name = db.dialect.q(deploys_table)

    def exists(self) -> bool:
        rows = self.db.query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (self.database, self.name))
        columns = set(r[0] for r in rows)
        if columns and not set(COLUMNS) <= columns:
            raise JsonmendError(
                "table %s.%s exists but is not a jsonmend deploys table (missing columns %s): choose another deploys_table"
                % (self.database, self.name, ", ".join(sorted(set(COLUMNS) - columns)))
            )
        return bool(columns)

    def create(self) -> bool:
        if self.exists():
            return False
        self.db.query(
            "CREATE TABLE IF NOT EXISTS %s ("
            " `run_id` varchar(64) CHARACTER SET ascii NOT NULL,"
            " `database_name` varchar(64) NOT NULL,"
            " `table_name` varchar(64) NOT NULL,"
            " `column_name` varchar(64) NOT NULL,"
            " `status` varchar(16) NOT NULL,"
            " `previous` char(40) CHARACTER SET ascii DEFAULT NULL,"
            " `target` char(40) CHARACTER SET ascii DEFAULT NULL,"
            " `new` char(40) CHARACTER SET ascii DEFAULT NULL,"
            " `repair_run_ids` text,"
            " `record` longtext NOT NULL,"
            " `started_at` datetime(6) NOT NULL,"
            " `updated_at` datetime(6) NOT NULL,"
            " PRIMARY KEY (`run_id`),"
            " KEY `target_started` (`table_name`, `column_name`, `started_at`)"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT=%%s" % self.sql_name,
            ("jsonmend: deploys of %s.%s (rollback reads them from any controller)" % (self.database, self.table),),
        )
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
        self.db.query(
            "INSERT INTO %s (run_id, database_name, table_name, column_name, status, previous, target, new, repair_run_ids, record,"
            " started_at, updated_at) VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
            " ON DUPLICATE KEY UPDATE status = VALUES(status), previous = VALUES(previous), target = VALUES(target), new = VALUES(new),"
            " repair_run_ids = VALUES(repair_run_ids), record = VALUES(record), updated_at = UTC_TIMESTAMP(6)" % self.sql_name,
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
        cur = self.db.cursor()
        try:
            changed = cur.execute(
                # The record keeps its own outcome (what the deploy did); the status says what became of it.
                "UPDATE %s SET status = %%s, record = JSON_SET(record, '$.marked', JSON_OBJECT('status', %%s, 'by', %%s)),"
                " updated_at = UTC_TIMESTAMP(6) WHERE run_id = %%s AND table_name = %%s AND status <> %%s" % self.sql_name,
                (status, status, by, run_id, self.table, status),
            )
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

# The scan's view of its target: the one inspection (db/inspector.py) checked for what a scan
# needs, and the SQL expressions built from the validated, quoted names.
from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db import appjson, inspector
from ansible.module_utils.jsonmend.db.dialects import (
    BRACED_INVALID,
    INVALID,
    OBJECT,
    SQL_NULL,
)
from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ansible.module_utils.jsonmend.db.connection import Database

READABLE = appjson.READABLE
UNREADABLE = appjson.UNREADABLE
# Listed first, in this order, so reports have a stable shape; other types follow as seen.
STANDARD_TYPES = ("OBJECT", "ARRAY", "INTEGER", "UNSIGNED INTEGER", "DOUBLE", "DECIMAL", "STRING", "BOOLEAN", "NULL", INVALID, UNREADABLE, READABLE)
# Rows that are not corrupt: the application reads a READABLE OBJECT, so it is not counted.
NOT_CORRUPT = (OBJECT, SQL_NULL, READABLE)
# Text no JSON decoder reads: what makes a column look like it is not JSON at all.
NOT_JSON = (INVALID, UNREADABLE)
PRIORITY_RANK = {"HIGH": 0, "MEDIUM": 1, "LOW": 2}
SAMPLE_VALUE_CHARS = 200
PARALLEL_MIN_ROWS = 100000
PARALLEL_CAP = 4
CANDIDATE_BATCH = 2000  # candidate rows fetched per statement for the decoder
# Rows the one pass does not list one by one (healthy objects, SQL NULL, '{'-first candidates) are
# counted per bucket of this many neighbouring keys: a few thousand groups per million rows, and a
# bucket holding three or more candidates is the most the decoder's fetch re-reads.
BUCKET_KEYS = 1024
# MariaDB max_statement_time, MySQL max_execution_time (error numbers); PostgreSQL statement_timeout
# (SQLSTATE 57014 query_canceled).
TIMEOUT_ERRORS = (1969, 3024, "57014")


def timed_out(exc: BaseException) -> bool:
    """Did the server stop the statement for running past the session's time limit?"""
    # PyMySQL errors carry both: the error number first in args, and a SQLSTATE (70100 for MariaDB's).
    number = (getattr(exc, "args", None) or [None])[0]
    return number in TIMEOUT_ERRORS or getattr(exc, "sqlstate", None) in TIMEOUT_ERRORS


def iso(value: Any) -> Any:
    """JSON-friendly form of a timestamp, date or key."""
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class Target:
    """Validated, quoted names and the SQL expressions built from them."""

    def __init__(self, db: Database, params: Mapping[str, Any]) -> None:
        d = db.dialect
        self.params = params
        self.database = params["database"]
        self.table = params["table"]
        self.column = params["column"]
        self.pk = params["primary_key"]
        self.group_by = params["group_by"] or None
        self.timestamp = params["timestamp_column"] or None
        self.user = params["user_column"] or None
        others = [(k, v) for k, v in (("group_by", self.group_by), ("timestamp_column", self.timestamp), ("user_column", self.user)) if v]
        self.description = desc = inspector.inspect_target(db, self.database, self.table, self.column, self.pk, others)
        problems = inspector.column_problems(desc)
        if problems:
            raise JsonmendError("; ".join(problems))
        self.column_type = desc["column"]["data_type"]
        self.native_json = self.column_type == "json"
        self.json_check_constraint = desc["column"]["json_check_constraint"]
        self.estimated_rows, self.table_bytes = desc["estimated_rows"], desc["table_bytes"]
        self.pk_is_primary = desc["primary_key_columns"] == [self.pk]
        self.pk_is_integer = desc["primary_key"]["integer"]
        cur = db.cursor()
        try:
            self.server_cpus = d.server_cpus(cur)
        finally:
            cur.close()
        # SQLite has no REGEXP: its own json_valid stands (see dialects.SQLite.classify_expr).
        self.decoder = params["decoder"] if d.name != "sqlite" else appjson.SERVER
        self.table_sql = d.q(self.table)
        self.pk_sql = d.q(self.pk)
        col = d.q(self.column)
        self.col_sql = col
        # Rows only Python can settle carry a candidate label; every other label is final.
        self.cls_sql = d.classify_expr(col, self.native_json, BRACED_INVALID, self.decoder)
        self.corrupt_sql = d.corrupt_predicate(col, self.native_json, self.decoder, settled_only=True)
        # Settled corrupt rows never start with '{' (those are objects or candidates).
        self.suspect_sql = d.suspect_predicate(col, self.native_json)
        self.group_sql = d.q(self.group_by) if self.group_by else "NULL"
        self.ts_sql = d.q(self.timestamp) if self.timestamp else "NULL"
        self.day_sql = d.date_expr(self.ts_sql) if self.timestamp else "NULL"
        self.user_sql = d.q(self.user) if self.user else "NULL"
        self.value_sql = d.left_expr(col, SAMPLE_VALUE_CHARS)
        # The one pass lists every row the parse-free prefilter lets through (all settled corrupt
        # rows, and the rare padded object) by key; the rest it counts per class and key bucket.
        self.row_key_sql = "CASE WHEN %s THEN %s END" % (self.suspect_sql, self.pk_sql)
        # Where that test is the column's own type test (json, jsonb, MySQL's JSON), every row to
        # report is listed: the rest need neither key buckets nor their first and last keys (the
        # bucket's grouping and two aggregates per row: a sixth of the statement's time on jsonb).
        self.lists_every_suspect = d.suspect_is_exact(col, self.native_json)
        # A listed row is alone in its group whatever its bucket: the bucket needs no test of its own.
        self.bucket_sql = d.key_bucket_expr(self.pk_sql, BUCKET_KEYS) if self.pk_is_integer and not self.lists_every_suspect else "NULL"
        self.length_sql = d.length_expr(col)

    def describe(self) -> dict[str, Any]:
        desc, col = self.description, self.description["column"]
        return dict(
            database=self.database,
            table=self.table,
            column=self.column,
            primary_key=self.pk,
            group_by=self.group_by,
            timestamp_column=self.timestamp,
            user_column=self.user,
            column_type=self.column_type,
            column_definition=col["column_type"],
            nullable=col["nullable"],
            character_set=col["charset"],
            max_characters=col["max_chars"],
            native_json=self.native_json,
            json_check_constraint=self.json_check_constraint,
            primary_key_is_unique=self.pk_is_primary,
            primary_key_problems=inspector.key_problems(desc, self.pk),
            triggers=desc["triggers"],
            on_update_columns=desc["on_update_columns"],
            generated_columns=desc["generated_columns"],
            foreign_keys=desc["foreign_keys"],
            decoder=self.decoder,
        )

#!/usr/bin/python
# Read-only scan of a JSON column: counts each row's JSON type with the server's own
# functions and returns the findings an operator needs to choose a repair strategy.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: json_type_scan
short_description: Count the JSON types held by a column and find rows that are not objects
description:
  - Classifies every row of one JSON column with the server's own C(JSON_VALID) and C(JSON_TYPE)
    (MariaDB 10.5+, MySQL 8 native JSON or text columns, SQLite JSON1) and returns the counts per
    type, the corrupted rows (neither SQL NULL nor an object) by group, day and user, sample rows,
    and the server's flavour.
  - Read-only. Every statement runs inside a read-only transaction with a consistent snapshot, takes
    no locks and never reports C(changed).
  - On MariaDB, text that is not valid JSON is counted as C(INVALID) instead of being folded into
    the SQL NULL bucket, and JSON strings whose text is an object (double-encoded) are counted apart.
  - The application's decoder is the judge (O(decoder)) - where MariaDB's C(JSON_VALID) and Python's C(json.loads) disagree,
    rows get a kind of their own - C(UNREADABLE OBJECT) (an object for the server that Python cannot read - C({"a":-}),
    C({"a":1.}), C({"\x":1})), counted as corrupted; C(READABLE OBJECT) (text the server rejects that Python reads as an
    object - NaN, Infinity, lone surrogates, deep nesting), not counted as corrupted. A server-side prefilter finds both
    without decoding healthy rows in Python; only the rows it flags are read and decoded, in batches.
  - Refuses a column that cannot hold JSON (numeric, temporal, binary); RV(column_check) says whether most non-NULL values
    are not valid JSON at all (a mistyped column name), which the cleanup then refuses.
version_added: "0.1.0"
author: jsonmend maintainers (@jsonmend)
extends_documentation_fragment:
  - jsonmend_connection
options:
  database:
    description: Database (schema) name; for V(sqlite) the path of the database file.
    type: str
    required: true
    aliases: [login_db, db]
  table:
    description: Table holding the JSON column.
    type: str
    default: analytics_activityevent
  column:
    description: JSON column that must hold an object in every row.
    type: str
    default: metadata
  primary_key:
    description: Single-column primary key used to walk and split the table.
    type: str
    default: id
  group_by:
    description: Column whose values group corrupted rows (event types); empty to skip.
    type: str
    default: event_type
  timestamp_column:
    description: Creation time column, for corrupted rows by day; empty to skip.
    type: str
    default: created_at
  user_column:
    description: Owner column, for the users with most corrupted rows; empty to skip.
    type: str
    default: user_id
  sample_limit:
    description: Number of corrupted rows returned as samples (value cut to 200 characters).
    type: int
    default: 200
  top_users:
    description: Number of users listed by corrupted row count.
    type: int
    default: 20
  chunk_size:
    description:
      - V(0) counts with one server-side aggregate per worker.
      - A positive value walks the primary key in keyset chunks of that many rows, so no statement
        runs long on a busy primary.
    type: int
    default: 0
  parallel:
    description:
      - Worker connections, each scanning its own part of the primary key range.
      - V(0) sizes it to the server (half its CPUs, at least 2 and at most 4) for tables above
        100,000 rows and uses 1 below that. Use V(1) on a saturated primary.
      - Each worker reads its own consistent snapshot of its range.
    type: int
    default: 0
  max_execution_time:
    description: Seconds (fractions allowed) any single statement may run before the server stops it; V(0) for no limit.
    type: float
    default: 0
  priorities:
    description: Priority of each group value (event type); others get O(default_priority).
    type: dict
    default:
      quiz_answer_submitted: HIGH
      quiz_completed: HIGH
      content_viewed: LOW
  default_priority:
    description: Priority of group values missing from O(priorities).
    type: str
    default: MEDIUM
  decoder:
    description:
      - V(python) counts a row healthy only if Python's C(json.loads) (what Django's C(JSONField) decodes with) reads it as a
        dict; V(server) trusts the server's C(JSON_VALID) alone (the runbook's query). SQLite always uses V(server).
    type: str
    default: python
    choices: [python, server]
  column_is_json:
    description: The operator names the column as JSON; RV(column_check) then says so instead of warning.
    type: bool
    default: false
  not_json_percent:
    description: RV(column_check) warns when at least this percentage of non-NULL values are not valid JSON at all.
    type: float
    default: 50
  catalog_only:
    description:
      - Only check the target (database, table, every named column, the key) and return RV(target) and
        RV(server); no row is read. Playbooks run it before a backup, so that a wrong name is refused
        before anything is written.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module never writes; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
requirements:
  - PyMySQL (MariaDB and MySQL) on the host that runs the module
notes:
  - The rule is C(not SQL NULL and type <> OBJECT), never a list of bad types, because MySQL can also
    report UNSIGNED INTEGER, DECIMAL, temporal, BLOB and OPAQUE types, and MariaDB says INTEGER for C(1e3).
  - With O(parallel) above 1, each worker has its own snapshot; rows written during the scan may be seen
    by one range and not another. Run on a replica for a single-instant picture of a busy table.
"""

EXAMPLES = r"""
- name: Scan the runbook's column with the option file of the current user
  ansible.legacy.json_type_scan:
    database: app

- name: Scan another JSON column online, in chunks, with a statement time limit
  ansible.legacy.json_type_scan:
    login_host: db1.example.com
    login_user: jsonmend
    login_password: "{{ vault_jsonmend_db_password }}"
    database: shop
    table: orders_order
    column: attributes
    group_by: channel
    timestamp_column: placed_at
    user_column: customer_id
    chunk_size: 20000
    max_execution_time: 30
  register: diagnose_scan_result

- name: Scan a local development SQLite database (the runbook's Phase 1)
  ansible.legacy.json_type_scan:
    dialect: sqlite
    database: /srv/app/db.sqlite3
"""

RETURN = r"""
total_rows:
  description: Rows in the table when scanned.
  returned: success
  type: int
  sample: 54325
corrupted_rows:
  description:
    - Rows that are neither SQL NULL nor a JSON object the application reads (invalid text and RV(unreadable_object_rows)
      included). RV(readable_object_rows) are not counted - the application reads them.
  returned: success
  type: int
  sample: 179
sql_null_rows:
  description: Rows whose column is SQL NULL (not the JSON null literal, which is corrupt).
  returned: success
  type: int
  sample: 8912
object_rows:
  description: Rows holding a JSON object.
  returned: success
  type: int
  sample: 45234
double_encoded_rows:
  description: Corrupted rows holding a JSON string whose text is an object; repairable without loss.
  returned: success
  type: int
  sample: 3
invalid_rows:
  description: Rows whose text is not valid JSON (possible on MariaDB, SQLite and MySQL text columns).
  returned: success
  type: int
  sample: 0
unreadable_object_rows:
  description: Objects for the server's C(JSON_VALID) that the application's decoder cannot read (C(UNREADABLE OBJECT)); corrupted.
  returned: success
  type: int
  sample: 2
readable_object_rows:
  description:
    - Text the server's C(JSON_VALID) rejects that the application's decoder reads as an object (C(READABLE OBJECT) - NaN,
      Infinity, lone surrogates, deep nesting); not counted in RV(corrupted_rows); the default policy leaves them alone.
  returned: success
  type: int
  sample: 1
column_check:
  description:
    - Whether the column looks like JSON - the share of non-NULL values that are not valid JSON at all, against
      O(not_json_percent); C(message) is the warning the diagnosis shows when it does not.
  returned: success
  type: dict
  sample: {"non_null_rows": 4000, "not_json_rows": 4000, "percent": 100.0, "threshold": 50.0, "looks_like_json": false,
           "named_json": false, "message": "column app.t.notes does not look like a JSON column ..."}
warnings_text:
  description: What the diagnosis should show besides the counts (column check, readable objects).
  returned: success
  type: list
  elements: str
  sample: []
by_type:
  description:
    - Rows per JSON type as the server names it, plus C(INVALID), C(UNREADABLE OBJECT) and C(READABLE OBJECT); SQL NULL is in
      RV(sql_null_rows).
    - C(STRING) includes the double-encoded rows.
  returned: success
  type: dict
  sample: {"OBJECT": 45234, "INTEGER": 156, "DOUBLE": 23, "STRING": 0, "ARRAY": 0, "INVALID": 0, "UNREADABLE OBJECT": 0, "READABLE OBJECT": 0}
by_group:
  description: Corrupted rows per group value and type, highest priority first.
  returned: success
  type: list
  elements: dict
  sample:
    - {"group": "quiz_answer_submitted", "type": "INTEGER", "double_encoded": false, "count": 142,
       "priority": "HIGH", "first_at": "2026-11-02T08:00:00", "last_at": "2026-11-20T17:12:09"}
by_group_totals:
  description: Corrupted rows per group value with its priority.
  returned: success
  type: list
  elements: dict
  sample: [{"group": "quiz_answer_submitted", "count": 142, "priority": "HIGH"}]
by_day:
  description: Corrupted rows per creation day, newest first.
  returned: success
  type: list
  elements: dict
  sample: [{"day": "2026-11-20", "count": 12}]
top_users:
  description: Users with the most corrupted rows.
  returned: success
  type: list
  elements: dict
  sample: [{"user": 42, "count": 17, "first_at": "2026-11-02T08:00:00", "last_at": "2026-11-20T17:12:09"}]
first_corrupt:
  description: Lowest key and earliest timestamp among corrupted rows (null values when none).
  returned: success
  type: dict
  sample: {"id": 1201, "at": "2026-10-01T00:00:03"}
last_corrupt:
  description: Highest key and latest timestamp among corrupted rows.
  returned: success
  type: dict
  sample: {"id": 98811, "at": "2026-11-20T17:12:09"}
samples:
  description: Up to O(sample_limit) corrupted rows in key order, value cut to 200 characters.
  returned: success
  type: list
  elements: dict
  sample: [{"id": 1201, "group": "quiz_completed", "user": 7, "at": "2026-10-01T00:00:03",
            "type": "DOUBLE", "double_encoded": false, "value": "3.5", "length": 3, "truncated": false}]
sql:
  description: The scan's statements over the whole table, for a DBA to run by hand (all read-only).
  returned: success
  type: list
  elements: dict
  sample: [{"title": "Type distribution", "statement": "SELECT CASE WHEN ... END AS json_type, COUNT(*) ..."}]
server:
  description:
    - Server flavour, version and identity (C(uuid:<server_uuid>) on MySQL, C(<hostname>:<port>) on MariaDB), the
      identity a backup manifest records and a cleanup compares before relying on a backup.
  returned: success
  type: dict
  sample: {"flavour": "mariadb", "version": "10.11.19-MariaDB-0+deb12u1", "identity": "db1.example.com:3306"}
target:
  description:
    - What was scanned - the shared inspection of the column (type, definition, nullability, character set, native JSON, a
      CHECK (json_valid)) and of the table (primary key and why the repair could not walk it, triggers, ON UPDATE and
      generated columns, foreign keys).
  returned: success
  type: dict
  sample: {"database": "app", "table": "analytics_activityevent", "column": "metadata", "primary_key": "id",
           "group_by": "event_type", "timestamp_column": "created_at", "user_column": "user_id",
           "column_type": "longtext", "native_json": false, "json_check_constraint": true}
scan:
  description: How the scan ran.
  returned: success
  type: dict
  sample: {"mode": "aggregate", "chunk_size": 0, "parallel": 2, "chunks": 2, "duration_s": 0.91,
           "rows_per_s": 59697, "scanned_at": "2026-11-26T23:10:00Z", "estimated_rows": 54000}
"""

import datetime
import threading
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.jsonmend.db import appjson, inspector
from ansible.module_utils.jsonmend.db.chunks import KeysetWalker, split_range
from ansible.module_utils.jsonmend.db.connection import (
    CONNECTION_ARGUMENT_SPEC,
    PYMYSQL_IMPORT_ERROR,
    TARGET_ARGUMENT_SPEC,
    connect,
    driver_error_types,
    driver_message,
)
from ansible.module_utils.jsonmend.db.dialects import (
    BRACED_INVALID,
    CANDIDATES,
    DOUBLE_ENCODED,
    INVALID,
    OBJECT,
    SQL_NULL,
)
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import validate_identifier
from ansible.module_utils.jsonmend.db.servers import read_identity

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
TIMEOUT_ERRORS = (1969, 3024)  # MariaDB max_statement_time, MySQL max_execution_time


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(TARGET_ARGUMENT_SPEC)
    spec.update(
        group_by=dict(type="str", default="event_type"),
        timestamp_column=dict(type="str", default="created_at"),
        user_column=dict(type="str", default="user_id"),
        sample_limit=dict(type="int", default=200),
        top_users=dict(type="int", default=20),
        chunk_size=dict(type="int", default=0),
        parallel=dict(type="int", default=0),
        max_execution_time=dict(type="float", default=0),
        priorities=dict(
            type="dict",
            default=dict(quiz_answer_submitted="HIGH", quiz_completed="HIGH", content_viewed="LOW"),
        ),
        default_priority=dict(type="str", default="MEDIUM"),
        catalog_only=dict(type="bool", default=False),
        decoder=dict(type="str", default="python", choices=list(appjson.DECODERS)),
        column_is_json=dict(type="bool", default=False),
        not_json_percent=dict(type="float", default=50),
    )
    return spec


def validate_params(params):
    """Refuse bad input before connecting; return the list of problems (empty when fine)."""
    problems = []
    for key in ("table", "column", "primary_key"):
        try:
            validate_identifier(params[key], key)
        except JsonmendError as exc:
            problems.append(str(exc))
    for key in ("group_by", "timestamp_column", "user_column"):
        if params[key]:
            try:
                validate_identifier(params[key], key)
            except JsonmendError as exc:
                problems.append(str(exc))
    for key in ("sample_limit", "top_users", "chunk_size", "parallel", "max_execution_time"):
        if params[key] < 0:
            problems.append("%s must be 0 or more, got %s" % (key, params[key]))
    if not 0 < params["not_json_percent"] <= 100:
        problems.append("not_json_percent must be above 0 and at most 100, got %s" % params["not_json_percent"])
    if params["dialect"] != "sqlite":
        try:
            validate_identifier(params["database"], "database")
        except JsonmendError as exc:
            problems.append(str(exc))
    return problems


def iso(value):
    """JSON-friendly form of a timestamp, date or key."""
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class Target:
    """Validated, quoted names and the SQL expressions built from them."""

    def __init__(self, db, params):
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
        self.candidate_sql = "(%s) IN (%s)" % (self.cls_sql, ", ".join("'%s'" % c for c in CANDIDATES))
        # Settled corrupt rows never start with '{' (those are objects or candidates).
        self.suspect_sql = d.suspect_predicate(col, self.native_json)
        self.group_sql = d.q(self.group_by) if self.group_by else "NULL"
        self.ts_sql = d.q(self.timestamp) if self.timestamp else "NULL"
        self.day_sql = d.date_expr(self.ts_sql) if self.timestamp else "NULL"
        self.user_sql = d.q(self.user) if self.user else "NULL"
        self.value_sql = d.left_expr(col, SAMPLE_VALUE_CHARS)
        self.length_sql = d.length_expr(col)

    def describe(self):
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


class Partial:
    """What one worker found in its range; partials add up."""

    def __init__(self, sample_limit=0):
        self.classes = {}  # class -> [count, min pk, max pk]
        self.details = {}  # (group, class, day) -> [count, min ts, max ts]
        self.users = {}  # user -> [count, min ts, max ts] of decoder-settled corrupt rows
        self.samples = []  # decoder-settled corrupt rows, lowest keys first
        self.sample_limit = sample_limit
        self.chunks = 0

    def add_classes(self, rows):
        for cls, count, low, high, *_rest in rows:
            entry = self.classes.setdefault(cls, [0, low, high])
            entry[0] += int(count)
            entry[1], entry[2] = min_none(entry[1], low), max_none(entry[2], high)

    def add_details(self, rows):
        for group, cls, day, count, first, last in rows:
            entry = self.details.setdefault((group, cls, day), [0, first, last])
            entry[0] += int(count)
            entry[1], entry[2] = min_none(entry[1], first), max_none(entry[2], last)

    def add_users(self, users):
        for user, (count, first, last) in users.items():
            entry = self.users.setdefault(user, [0, first, last])
            entry[0] += count
            entry[1], entry[2] = min_none(entry[1], first), max_none(entry[2], last)

    def add_samples(self, samples):
        self.samples = sorted(self.samples + list(samples), key=lambda s: s["id"])[: self.sample_limit]

    def merge(self, other):
        self.add_classes([(k,) + tuple(v) for k, v in other.classes.items()])
        self.add_details([k + tuple(v) for k, v in other.details.items()])
        self.add_users(other.users)
        self.add_samples(other.samples)
        self.chunks += other.chunks
        return self


def min_none(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def max_none(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def corrupt_range(classes):
    """(lowest, highest) key over the corrupted classes, or (None, None)."""
    low = high = None
    for cls, entry in classes.items():
        if cls not in NOT_CORRUPT and entry[0]:
            low, high = min_none(low, entry[1]), max_none(high, entry[2])
    return low, high


def sample_entry(pk, group, user, at, cls, value, length):
    value = iso(value)
    if isinstance(value, str) and len(value) > SAMPLE_VALUE_CHARS:
        value = value[:SAMPLE_VALUE_CHARS]
    return dict(
        id=iso(pk),
        group=iso(group),
        user=iso(user),
        at=iso(at),
        type="STRING" if cls == DOUBLE_ENCODED else cls,
        double_encoded=cls == DOUBLE_ENCODED,
        value=value,
        length=int(length or 0),
        truncated=int(length or 0) > len((value or "").encode("utf-8") if isinstance(value, str) else value or ""),
    )


class Scanner:
    """Runs the statements of one worker over one key range, in one snapshot.

    Pass 1 classifies every row (one JSON parse for a healthy object, like the runbook's own
    query, plus the decoder's prefilter). Rows only the application's decoder can settle are
    then read and decoded in Python, in key order and in batches. Everything else reads only
    the key range holding corrupted rows, behind a prefilter that needs no parse (a healthy
    object starts with '{', and so does every row the decoder settles).
    """

    def __init__(self, db, target, sample_limit=0):
        self.db = db
        self.t = target
        self.sample_limit = sample_limit

    def classes(self, where, args):
        t = self.t
        return self.db.query(
            "SELECT %s AS cls, COUNT(*), MIN(%s), MAX(%s) FROM %s WHERE %s GROUP BY cls" % (t.cls_sql, t.pk_sql, t.pk_sql, t.table_sql, where),
            args,
        )

    def corrupt_filter(self):
        t = self.t
        return "%s AND %s" % (t.suspect_sql, t.corrupt_sql)

    def details(self, first, last):
        t = self.t
        return self.db.query(
            "SELECT %s AS grp, %s AS cls, %s AS day, COUNT(*), MIN(%s), MAX(%s) FROM %s"
            " WHERE %s >= %%s AND %s <= %%s AND %s GROUP BY grp, cls, day"
            % (t.group_sql, t.cls_sql, t.day_sql, t.ts_sql, t.ts_sql, t.table_sql, t.pk_sql, t.pk_sql, self.corrupt_filter()),
            (first, last),
        )

    def settle(self, part):
        """Decode the candidate rows of `part` in Python and count them by what the application reads."""
        found = dict((label, part.classes.pop(label)) for label in CANDIDATES if label in part.classes)
        if not found:
            return
        t = self.t
        low = min(entry[1] for entry in found.values())
        high = max(entry[2] for entry in found.values())
        users, samples = {}, []
        position, inclusive = low, True
        while True:
            rows = self.db.query(
                "SELECT %s, %s, %s, %s, %s, %s, %s, %s FROM %s WHERE %s %s %%s AND %s <= %%s AND %s ORDER BY %s LIMIT %d"
                % (
                    t.pk_sql,
                    t.group_sql,
                    t.user_sql,
                    t.ts_sql,
                    t.day_sql,
                    t.cls_sql,
                    t.col_sql,
                    t.length_sql,
                    t.table_sql,
                    t.pk_sql,
                    ">=" if inclusive else ">",
                    t.pk_sql,
                    t.candidate_sql,
                    t.pk_sql,
                    CANDIDATE_BATCH,
                ),
                (position, high),
            )
            for pk, group, user, at, day, label, value, length in rows:
                kind = appjson.resolve(label, value, t.decoder)
                part.add_classes([(kind, 1, pk, pk)])
                if kind in NOT_CORRUPT:
                    continue
                part.add_details([(group, kind, day, 1, at, at)])
                entry = users.setdefault(iso(user), [0, at, at])
                entry[0] += 1
                entry[1], entry[2] = min_none(entry[1], at), max_none(entry[2], at)
                if len(samples) < self.sample_limit:
                    samples.append(sample_entry(pk, group, user, at, kind, value, length))
            if len(rows) < CANDIDATE_BATCH:
                break
            position, inclusive = rows[-1][0], False
        if t.user:
            part.add_users(users)
        part.add_samples(samples)

    def add_details(self, part):
        first, last = corrupt_range(part.classes)
        if first is not None:
            part.add_details(self.details(first, last))

    def scan_range(self, low, high, chunk_size):
        """Scan keys in [low, high]; aggregate (chunk_size 0) or keyset chunks."""
        part = Partial(self.sample_limit)
        pk = self.t.pk_sql
        if not chunk_size:
            part.add_classes(self.classes("%s >= %%s AND %s <= %%s" % (pk, pk), (low, high)))
            part.chunks = 1
            self.add_details(part)
            self.settle(part)
            return part
        walker = KeysetWalker(self.db, self.t.table_sql, pk, low, high)
        while True:
            chunk = walker.next_chunk(chunk_size)
            if chunk is None:
                return part
            found = Partial(self.sample_limit)
            found.add_classes(self.classes(chunk.where(pk), chunk.args()))
            found.chunks = 1
            self.add_details(found)
            self.settle(found)
            part.merge(found)

    def top_users(self, first, last, limit, settled_users):
        """Users with most corrupted rows: SQL counts of settled rows plus the decoder's, merged exactly."""
        t = self.t
        if not t.user or not limit or first is None:
            return []

        def counts(where_users, args, row_limit):
            return self.db.query(
                "SELECT %s AS usr, COUNT(*) AS n, MIN(%s), MAX(%s) FROM %s WHERE %s >= %%s AND %s <= %%s AND %s%s"
                " GROUP BY usr ORDER BY n DESC, usr%s"
                % (t.user_sql, t.ts_sql, t.ts_sql, t.table_sql, t.pk_sql, t.pk_sql, self.corrupt_filter(), where_users, row_limit),
                (first, last) + tuple(args),
            )

        totals = dict((iso(u), [int(n), a, b]) for u, n, a, b in counts("", (), " LIMIT %d" % int(limit)))
        # A user outside the SQL top list can only enter it with rows the decoder settled: count those users exactly.
        extra = [u for u in settled_users if u not in totals and u is not None]
        if extra:
            for u, n, a, b in counts(" AND %s IN (%s)" % (t.user_sql, ", ".join(["%s"] * len(extra))), extra, ""):
                totals[iso(u)] = [int(n), a, b]
        for user, (n, a, b) in settled_users.items():
            entry = totals.setdefault(user, [0, a, b])
            entry[0] += n
            entry[1], entry[2] = min_none(entry[1], a), max_none(entry[2], b)
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1][0], str(kv[0])))[: int(limit)]
        return [dict(user=u, count=n, first_at=iso(a), last_at=iso(b)) for u, (n, a, b) in ranked]

    def samples(self, first, last, limit, settled_samples):
        t = self.t
        if not limit or first is None:
            return []
        rows = self.db.query(
            "SELECT %s, %s, %s, %s, %s, %s, %s FROM %s WHERE %s >= %%s AND %s <= %%s AND %s ORDER BY %s LIMIT %d"
            % (
                t.pk_sql,
                t.group_sql,
                t.user_sql,
                t.ts_sql,
                t.cls_sql,
                t.value_sql,
                t.length_sql,
                t.table_sql,
                t.pk_sql,
                t.pk_sql,
                self.corrupt_filter(),
                t.pk_sql,
                int(limit),
            ),
            (first, last),
        )
        out = [sample_entry(*row) for row in rows] + list(settled_samples)
        return sorted(out, key=lambda s: s["id"])[: int(limit)]


def plan_parallel(params, target, key_range):
    """How many workers to run: the operator's number, or one sized to the server."""
    if params["dialect"] == "sqlite" or not target.pk_is_integer or key_range[0] is None:
        return 1
    if params["parallel"]:
        return params["parallel"]
    if target.estimated_rows < PARALLEL_MIN_ROWS and key_range[1] - key_range[0] < PARALLEL_MIN_ROWS:
        return 1
    cpus = target.server_cpus or 4
    return max(2, min(PARALLEL_CAP, cpus // 2))


def open_session(db, params):
    """Prepare a connection for scanning: known sql_mode, statement limit, read-only snapshot."""
    cur = db.cursor()
    try:
        # The prefilter's patterns are string literals with backslashes: no NO_BACKSLASH_ESCAPES.
        db.dialect.pin_sql_mode(cur)
        if params["max_execution_time"]:
            db.dialect.set_statement_timeout(cur, params["max_execution_time"])
        db.dialect.begin_read_only_snapshot(cur)
    finally:
        cur.close()


def run_workers(params, main_db, target, ranges):
    """Scan each range on its own connection (the first on the main one); merge the partials."""
    results = [None] * len(ranges)
    errors = []

    def work(index, low, high):
        db = main_db
        try:
            if index:
                db = connect(params)
                open_session(db, params)
            results[index] = Scanner(db, target, params["sample_limit"]).scan_range(low, high, params["chunk_size"])
        except Exception as exc:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(exc)
        finally:
            if index:
                db.close()

    threads = [threading.Thread(target=work, args=(i, low, high)) for i, (low, high) in enumerate(ranges)]
    for thread in threads[1:]:
        thread.start()
    work(0, ranges[0][0], ranges[0][1])
    for thread in threads[1:]:
        thread.join()
    if errors:
        raise errors[0]
    total = Partial(params["sample_limit"])
    for part in results:
        total.merge(part)
    return total


def summarize(partial, priorities, default_priority):
    """Turn merged partials into the counts, group and day tables (pure; unit tested)."""
    by_type = dict((name, 0) for name in STANDARD_TYPES)
    sql_null = double_encoded = 0
    for cls, entry in partial.classes.items():
        count = entry[0]
        if cls == SQL_NULL:
            sql_null += count
            continue
        if cls == DOUBLE_ENCODED:
            double_encoded += count
            cls = "STRING"
        by_type[cls] = by_type.get(cls, 0) + count
    total = sql_null + sum(by_type.values())
    corrupted = total - sql_null - by_type[OBJECT] - by_type[READABLE]

    groups, group_totals, days = {}, {}, {}
    for (group, cls, day), (count, first, last) in partial.details.items():
        key = (iso(group), cls)
        entry = groups.setdefault(key, [0, first, last])
        entry[0] += count
        entry[1], entry[2] = min_none(entry[1], first), max_none(entry[2], last)
        group_totals[iso(group)] = group_totals.get(iso(group), 0) + count
        if day is not None:
            days[iso(day)] = days.get(iso(day), 0) + count

    def priority(group):
        return priorities.get(group, default_priority) if group is not None else default_priority

    def rank(group, count):
        return (PRIORITY_RANK.get(priority(group), len(PRIORITY_RANK)), -count, str(group))

    by_group = [
        dict(
            group=group,
            type="STRING" if cls == DOUBLE_ENCODED else cls,
            double_encoded=cls == DOUBLE_ENCODED,
            count=count,
            priority=priority(group),
            first_at=iso(first),
            last_at=iso(last),
        )
        for (group, cls), (count, first, last) in groups.items()
    ]
    by_group.sort(key=lambda e: rank(e["group"], e["count"]) + (e["type"],))
    totals = [dict(group=g, count=n, priority=priority(g)) for g, n in group_totals.items()]
    totals.sort(key=lambda e: rank(e["group"], e["count"]))
    by_day = [dict(day=d, count=n) for d, n in sorted(days.items(), key=lambda kv: str(kv[0]), reverse=True)]

    first_id, last_id = corrupt_range(partial.classes)
    first_at = last_at = None
    for _count, first, last in partial.details.values():
        first_at, last_at = min_none(first_at, first), max_none(last_at, last)
    return dict(
        total_rows=total,
        corrupted_rows=corrupted,
        sql_null_rows=sql_null,
        object_rows=by_type[OBJECT],
        double_encoded_rows=double_encoded,
        invalid_rows=by_type[INVALID],
        unreadable_object_rows=by_type[UNREADABLE],
        readable_object_rows=by_type[READABLE],
        by_type=by_type,
        by_group=by_group,
        by_group_totals=totals,
        by_day=by_day,
        first_corrupt=dict(id=iso(first_id), at=iso(first_at)),
        last_corrupt=dict(id=iso(last_id), at=iso(last_at)),
    )


def column_check(summary, column, threshold, named_json):
    """Does the column look like JSON? The share of non-NULL values no JSON decoder reads (pure)."""
    non_null = summary["total_rows"] - summary["sql_null_rows"]
    not_json = sum(summary["by_type"].get(k, 0) for k in NOT_JSON)
    percent = round(100.0 * not_json / non_null, 1) if non_null else 0.0
    looks = not non_null or percent < threshold
    check = dict(non_null_rows=non_null, not_json_rows=not_json, percent=percent, threshold=threshold, looks_like_json=looks, named_json=bool(named_json))
    check["message"] = None
    if not looks:
        check["message"] = (
            "column %s does not look like a JSON column: %d of %d non-NULL values (%.1f%%) are not valid JSON (threshold %s%%)."
            % (column, not_json, non_null, percent, threshold)
        ) + (
            " It was named as JSON (column_is_json), so the cleanup repairs it."
            if named_json
            else " Check the column name; the cleanup refuses it unless it is named as JSON (jsonmend_column_is_json=yes)."
        )
    return check


def dba_queries(target, sample_limit, top_users):
    """The scan's statements over the whole table, for a DBA to run by hand (read-only)."""
    t = target
    corrupt = "WHERE %s" % t.corrupt_sql
    note = ""
    if t.decoder == appjson.PYTHON:
        note = " (rows labelled %s are settled by Python's json.loads, the application's decoder)" % " and ".join(CANDIDATES)
    queries = [
        dict(
            title="Type distribution (invalid text counted apart from SQL NULL)%s" % note,
            statement="SELECT %s AS json_type, COUNT(*) AS row_count FROM %s GROUP BY json_type ORDER BY row_count DESC" % (t.cls_sql, t.table_sql),
        ),
    ]
    if t.group_by:
        queries.append(
            dict(
                title="Corrupted rows by %s and type" % t.group_by,
                statement="SELECT %s AS grp, %s AS json_type, COUNT(*) AS row_count FROM %s %s GROUP BY grp, json_type ORDER BY row_count DESC"
                % (t.group_sql, t.cls_sql, t.table_sql, corrupt),
            )
        )
    if t.timestamp:
        queries.append(
            dict(
                title="Corrupted rows by day",
                statement="SELECT %s AS day, COUNT(*) AS corrupted_count FROM %s %s GROUP BY day ORDER BY day DESC" % (t.day_sql, t.table_sql, corrupt),
            )
        )
    if t.user and top_users:
        queries.append(
            dict(
                title="Users with the most corrupted rows",
                statement="SELECT %s AS usr, COUNT(*) AS corrupted_count FROM %s %s GROUP BY usr ORDER BY corrupted_count DESC LIMIT %d"
                % (t.user_sql, t.table_sql, corrupt, int(top_users)),
            )
        )
    if sample_limit:
        queries.append(
            dict(
                title="Sample corrupted rows",
                statement="SELECT %s, %s, %s, %s, %s AS json_type, %s AS value_start FROM %s %s ORDER BY %s LIMIT %d"
                % (t.pk_sql, t.group_sql, t.user_sql, t.ts_sql, t.cls_sql, t.value_sql, t.table_sql, corrupt, t.pk_sql, int(sample_limit)),
            )
        )
    return queries


def scan(params):
    """Connect, scan and return the module's result (without `changed`)."""
    started = time.time()
    db = connect(params)
    try:
        target = Target(db, params)
        server = dict(flavour=db.dialect.name, version=db.dialect.version, identity=read_identity(db)["identity"])
        if params["catalog_only"]:
            return dict(target=target.describe(), server=server)
        open_session(db, params)
        low, high = db.query_one("SELECT MIN(%s), MAX(%s) FROM %s" % (target.pk_sql, target.pk_sql, target.table_sql))
        parallel = plan_parallel(params, target, (low, high))
        if low is None:
            ranges = []
        elif target.pk_is_integer:
            ranges = split_range(low, high, parallel)
        else:
            ranges = [(low, high)]
        partial = run_workers(params, db, target, ranges) if ranges else Partial(params["sample_limit"])
        result = summarize(partial, params["priorities"], params["default_priority"])
        scanner = Scanner(db, target, params["sample_limit"])
        first, last = corrupt_range(partial.classes)
        result["top_users"] = scanner.top_users(first, last, params["top_users"], partial.users)
        result["samples"] = scanner.samples(first, last, params["sample_limit"], partial.samples)
        db.conn.rollback()
    finally:
        db.close()
    duration = time.time() - started
    result["sql"] = dba_queries(target, params["sample_limit"], params["top_users"])
    result["server"] = server
    result["target"] = target.describe()
    result["column_check"] = column_check(
        result, "%s.%s.%s" % (target.database, target.table, target.column), params["not_json_percent"], params["column_is_json"]
    )
    result["warnings_text"] = [result["column_check"]["message"]] if result["column_check"]["message"] else []
    if result["readable_object_rows"]:
        result["warnings_text"].append(
            "%d rows hold text the server's JSON_VALID rejects but the application reads as an object (NaN, Infinity, lone surrogates,"
            " deep nesting): counted as READABLE OBJECT, not in corrupted_rows, left alone by the default policy" % result["readable_object_rows"]
        )
    result["scan"] = dict(
        mode="chunked" if params["chunk_size"] else "aggregate",
        chunk_size=params["chunk_size"],
        parallel=len(ranges) or 1,
        chunks=partial.chunks,
        duration_s=round(duration, 3),
        rows_per_s=int(result["total_rows"] / duration) if duration > 0 else 0,
        scanned_at=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        estimated_rows=target.estimated_rows,
        decoder=target.decoder,
    )
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    if params["dialect"] != "sqlite" and PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    problems = validate_params(params)
    if problems:
        module.fail_json(msg="json_type_scan refused its input: " + "; ".join(problems))
    try:
        result = scan(params)
    except JsonmendError as exc:
        module.fail_json(msg="json_type_scan of %s.%s.%s: %s" % (params["database"], params["table"], params["column"], exc))
    except driver_error_types() as exc:
        code = getattr(exc, "args", [None])[0]
        hint = ""
        if code in TIMEOUT_ERRORS:
            hint = " (a statement ran past max_execution_time=%ss; set chunk_size to keep statements short)" % params["max_execution_time"]
        module.fail_json(msg="json_type_scan of %s.%s.%s failed: %s%s" % (params["database"], params["table"], params["column"], driver_message(exc), hint))
    for warning in result.get("warnings_text", []):
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

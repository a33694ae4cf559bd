#!/usr/bin/python
# Export every corrupted row (not SQL NULL, not a JSON object) to a CSV file, read-only on
# the database: the runbook's "SELECT * ... INTO OUTFILE '/tmp/corrupted_metadata.csv'",
# without needing the FILE privilege or a file on the database server.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: json_corrupt_export
short_description: Export the rows whose JSON column is not an object to a CSV file
description:
  - Walks the table by its primary key in keyset chunks inside one read-only transaction with a
    consistent snapshot and writes every corrupted row (neither SQL NULL nor a JSON object, the
    C(json_type_scan) rule) to O(dest) as CSV, all columns plus the value's class, values exactly as stored.
  - The file is written beside O(dest) and renamed into place when complete, so a partial export
    never looks like a finished one. It is never overwritten unless O(force) is set.
  - Returns what an impact summary needs - rows per class and group, distinct users, first and last
    creation time - and the file's size and SHA-256.
version_added: "0.1.0"
author: jsonmend maintainers (@jsonmend)
extends_documentation_fragment:
  - jsonmend_connection
  - jsonmend_target
options:
  database:
    description: Database (schema) name; for V(sqlite) the path of the database file.
  column:
    description: JSON column that must hold an object.
  primary_key:
    description: Single-column primary key used to walk the table.
  group_by:
    description: Column whose values group the exported rows in RV(by_group) (event types); empty to skip.
    type: str
    default: event_type
  user_column:
    description: Owner column, for RV(distinct_users); empty to skip.
    type: str
    default: user_id
  timestamp_column:
    description: Creation time column, for RV(first_at) and RV(last_at); empty to skip.
    type: str
    default: created_at
  dest:
    description: CSV file to write on the host that runs the module. Its directory must exist.
    type: path
    required: true
  mode:
    description: Permissions of the file (it holds application data).
    type: raw
    default: "0600"
  force:
    description: Replace O(dest) when it exists. Without it an existing file is an error.
    type: bool
    default: false
  chunk_size:
    description: Rows read per keyset chunk.
    type: int
    default: 10000
attributes:
  check_mode:
    support: full
    description: In check mode the rows are counted and summarized but no file is written.
  diff_mode:
    support: none
    description: The export is a new file; there is no earlier version to compare.
requirements:
  - PyMySQL (MariaDB and MySQL) or psycopg 3 (PostgreSQL) on the host that runs the module
"""

EXAMPLES = r"""
- name: Export the corrupted rows for analysis (the runbook's Strategy C, step 2)
  ansible.legacy.json_corrupt_export:
    database: app
    dest: /var/tmp/jsonmend/corrupted_metadata.csv
  register: investigate_export_result

- name: Fetch the export to the controller
  ansible.builtin.fetch:
    src: "{{ investigate_export_result.path }}"
    dest: reports/
    flat: true
"""

RETURN = r"""
path:
  description: The CSV file (not written in check mode).
  returned: success
  type: str
  sample: /var/tmp/jsonmend/corrupted_metadata.csv
rows:
  description: Corrupted rows exported (or that would be, in check mode).
  returned: success
  type: int
  sample: 179
columns:
  description: CSV header, the table's columns then C(json_class).
  returned: success
  type: list
  elements: str
  sample: [id, user_id, event_type, metadata, created_at, json_class]
by_class:
  description: Exported rows per JSON class.
  returned: success
  type: dict
  sample: {"INTEGER": 156, "DOUBLE": 23}
by_group:
  description: Exported rows per O(group_by) value.
  returned: success
  type: dict
  sample: {"quiz_answer_submitted": 142, "content_viewed": 14, "quiz_completed": 23}
distinct_users:
  description: Different O(user_column) values among the exported rows (null when skipped).
  returned: success
  type: int
  sample: 61
first_at:
  description: Earliest O(timestamp_column) among the exported rows.
  returned: success
  type: str
  sample: "2026-10-01T00:00:03"
last_at:
  description: Latest O(timestamp_column) among the exported rows.
  returned: success
  type: str
  sample: "2026-11-20T17:12:09"
bytes:
  description: Size of the file.
  returned: success
  type: int
  sample: 18211
sha256:
  description: SHA-256 of the file (null in check mode).
  returned: success
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
"""

import csv
import datetime
import hashlib
import os
import tempfile

from ansible.module_utils.jsonmend.db.appjson import SERVER, resolve
from ansible.module_utils.jsonmend.db.chunks import KeysetWalker
from ansible.module_utils.jsonmend.db.connection import CONNECTION_ARGUMENT_SPEC, TARGET_ARGUMENT_SPEC, connect
from ansible.module_utils.jsonmend.db.dialects import HEALTHY_CLASSES
from ansible.module_utils.jsonmend.db.identifiers import identifier_problems
from ansible.module_utils.jsonmend.db.inspector import inspect_target
from ansible.module_utils.jsonmend.db.runner import run_module

CLASS_COLUMN = "json_class"


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(TARGET_ARGUMENT_SPEC)
    spec.update(
        group_by=dict(type="str", default="event_type"),
        user_column=dict(type="str", default="user_id"),
        timestamp_column=dict(type="str", default="created_at"),
        dest=dict(type="path", required=True),
        mode=dict(type="raw", default="0600"),
        force=dict(type="bool", default=False),
        chunk_size=dict(type="int", default=10000),
    )
    return spec


def validate_params(params):
    """Problems with the input (empty when fine), found before connecting or writing."""
    problems = identifier_problems(params, ("table", "column", "primary_key"), ("group_by", "user_column", "timestamp_column"))
    if params["chunk_size"] < 1:
        problems.append("chunk_size must be 1 or more, got %s" % params["chunk_size"])
    directory = os.path.dirname(os.path.abspath(params["dest"]))
    if not os.path.isdir(directory):
        problems.append("the directory of dest %s does not exist" % params["dest"])
    elif os.path.exists(params["dest"]) and not params["force"]:
        problems.append("dest %s exists; set force to replace it" % params["dest"])
    return problems


def cell(value):
    """CSV text of a database value, exactly as stored for text and bytes."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return str(value)


class Summary:
    """Counts an impact summary needs, gathered while rows stream past."""

    def __init__(self):
        self.rows = 0
        self.by_class, self.by_group = {}, {}
        self.users = set()
        self.first_at = self.last_at = None
        self.columns = []

    def add(self, cls, group, user, at):
        self.rows += 1
        self.by_class[cls] = self.by_class.get(cls, 0) + 1
        if group is not None:
            key = cell(group)
            self.by_group[key] = self.by_group.get(key, 0) + 1
        if user is not None:
            self.users.add(user)
        if at is not None:
            self.first_at = at if self.first_at is None or at < self.first_at else self.first_at
            self.last_at = at if self.last_at is None or at > self.last_at else self.last_at

    def result(self, with_users):
        return dict(
            rows=self.rows,
            by_class=self.by_class,
            by_group=self.by_group,
            distinct_users=len(self.users) if with_users else None,
            first_at=cell(self.first_at) or None,
            last_at=cell(self.last_at) or None,
        )


def corrupt_rows_sql(d, table, column, pk, columns, native_json):
    """(head, tail) of the chunk query: every column and the class of the corrupted rows.

    The chunk's key range goes between them (the class expression holds literal braces).
    """
    col = d.q(column)
    head = "SELECT %s, %s FROM %s WHERE " % (", ".join(d.q(c) for c in columns), d.classify_expr(col, native_json), d.q(table))
    tail = " AND %s ORDER BY %s" % (d.corrupt_predicate(col, native_json), d.q(pk))
    return head, tail


def export(params, start):
    """Stream corrupted rows; `start(header)` returns the function each CSV row is given to.

    Returns the Summary.
    """
    db = connect(params)
    try:
        d = db.dialect
        others = [(k, params[k]) for k in ("group_by", "user_column", "timestamp_column")]
        desc = inspect_target(db, params["database"], params["table"], params["column"], params["primary_key"], others)
        columns = desc["columns"]
        table_sql, pk_sql = d.q(params["table"]), d.q(params["primary_key"])
        native_json = desc["column"]["native_json"]
        cur = db.cursor()
        try:
            d.begin_read_only_snapshot(cur)
        finally:
            cur.close()
        low, high = db.query_one("SELECT MIN(%s), MAX(%s) FROM %s" % (pk_sql, pk_sql, table_sql))
        positions = dict((name, i) for i, name in enumerate(columns))
        value_at = positions[params["column"]]
        select_head, select_tail = corrupt_rows_sql(d, params["table"], params["column"], params["primary_key"], columns, native_json)
        write = start(columns + [CLASS_COLUMN])
        summary = Summary()
        walker = KeysetWalker(db, table_sql, pk_sql, low, high)
        chunk = walker.next_chunk(params["chunk_size"])
        while chunk is not None:
            for row in db.query(select_head + chunk.where(pk_sql) + select_tail, chunk.args()):
                # A class the SQL left to Python (PostgreSQL before 16) is settled from the value.
                values, cls = row[:-1], resolve(row[-1], row[value_at], SERVER)
                if cls in HEALTHY_CLASSES:
                    continue
                summary.add(
                    cls,
                    values[positions[params["group_by"]]] if params["group_by"] else None,
                    values[positions[params["user_column"]]] if params["user_column"] else None,
                    values[positions[params["timestamp_column"]]] if params["timestamp_column"] else None,
                )
                write([cell(v) for v in values] + [cls])
            chunk = walker.next_chunk(params["chunk_size"])
        db.conn.rollback()
        summary.columns = columns + [CLASS_COLUMN]
        return summary
    finally:
        db.close()


def write_csv(module, params):
    """Export into a temporary file beside dest, then rename it into place; (Summary, bytes, sha256)."""
    dest = os.path.abspath(params["dest"])
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), suffix=".partial", dir=os.path.dirname(dest))
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
            writer = csv.writer(handle)

            def start(header):
                writer.writerow(header)
                return writer.writerow

            summary = export(params, start)
        module.set_mode_if_different(tmp, params["mode"], False)
        os.replace(tmp, dest)
        tmp = None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    digest = hashlib.sha256()
    with open(dest, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return summary, os.path.getsize(dest), digest.hexdigest()


def work(module):
    p = module.params
    if module.check_mode:
        summary = export(p, lambda header: lambda row: None)
        size = digest = None
    else:
        summary, size, digest = write_csv(module, p)
    result = summary.result(bool(p["user_column"]))
    result.update(path=p["dest"], columns=summary.columns, bytes=size, sha256=digest)
    # A new file on the host is a change; in check mode it is the change that would be made.
    return dict(changed=True, **result)


def main():
    run_module(
        argument_spec(),
        work,
        what=lambda p: "json_corrupt_export of %s.%s.%s" % (p["database"], p["table"], p["column"]),
        sqlite_ok=True,
        validate=validate_params,
        refusal="json_corrupt_export refused its input: ",
        on_error=lambda what, exc, p: "%s to %s: %s" % (what, p["dest"], exc),
        on_os_error=lambda what, exc, p: "json_corrupt_export could not write %s: %s" % (p["dest"], exc),
    )


if __name__ == "__main__":
    main()

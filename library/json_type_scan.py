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
    (MariaDB 10.5+, MySQL 8 native JSON or text columns, PostgreSQL 13+ C(jsonb), C(json) or text columns, SQLite JSON1)
    and returns the counts per type, the corrupted rows (neither SQL NULL nor an object) by group, day and user, sample rows,
    and the server's flavour.
  - Read-only. Every statement runs inside a read-only transaction with a consistent snapshot, takes
    no locks and never reports C(changed).
  - On PostgreSQL before 16 text columns are classified in Python for every row that may be JSON (no SQL function
    tests a text without aborting the statement on invalid text); 16+ uses C(pg_input_is_valid).
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
  - jsonmend_target
options:
  database:
    description: Database (schema) name; for V(sqlite) the path of the database file.
  primary_key:
    description: Single-column primary key used to walk and split the table.
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
  progress_file:
    description:
      - File on the managed host to append progress lines to (rows read, share of the key range, rate, ETA, corrupt rows
        so far), to follow with C(tail -f) during a long scan; the last line says C(scan done). Unset, nothing is written.
      - Chunked mode (O(chunk_size)) gives a line per interval; in aggregate mode each worker reports when its range is done.
    type: path
  progress_interval:
    description: Seconds between two progress lines.
    type: float
    default: 10
  column_is_json:
    description: The operator names the column as JSON; RV(column_check) then says so instead of warning.
    type: bool
    default: false
  not_json_percent:
    description: RV(column_check) warns when at least this percentage of non-NULL values are not valid JSON at all.
    type: float
    default: 50
  guard_status:
    description:
      - Also read the column's write guard as M(ansible.legacy.json_guard) with C(mode=status) does, on the scan's own
        connection once the scan is done (the weekly check - one module process instead of two), and return it as
        RV(guard_status). Not part of the scan's time (C(duration_s) of RV(scan)). Ignored with O(catalog_only).
      - A guard that cannot be read (no privilege, no guard support for the server, a failed statement) never fails the
        scan - RV(guard_status) then holds C(failed) and C(msg), as an ignored M(ansible.legacy.json_guard) failure would.
    type: dict
    suboptions:
      log_table:
        description: The log of observe; empty means C(<table>_jsonmend_guard_log).
        type: str
        default: ""
      since:
        description: Count the writes logged since this UTC time (C(2026-12-01T00:00:00Z)); empty counts all.
        type: str
        default: ""
      check_grants:
        description: Report the mode V(unknown), naming the GRANT, when SHOW GRANTS gives no TRIGGER privilege on the table.
        type: bool
        default: true
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
  - PyMySQL (MariaDB and MySQL) or psycopg 3 (PostgreSQL) on the host that runs the module
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
  description: Users with the most corrupted rows, counted exactly over every corrupted row; ties go to the lower user value.
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
guard_status:
  description:
    - With O(guard_status) - M(ansible.legacy.json_guard)'s status result (C(mode), C(installed_before), C(installed), C(log_table),
      C(nullable), C(statements), C(triggers), C(drifted), C(since), C(events), C(warnings_text), and C(message) when the
      mode is unknown); C(failed) and C(msg) instead when the guard could not be read.
  returned: when O(guard_status) is set and O(catalog_only) is not
  type: dict
  sample: {"mode": "status", "installed": "observe", "drifted": false, "events": {"total": 0, "all_total": 2,
           "checked_at": "2026-12-07T06:00:00.000000Z"}}
scan:
  description: How the scan ran.
  returned: success
  type: dict
  sample: {"mode": "aggregate", "chunk_size": 0, "parallel": 2, "chunks": 2, "duration_s": 0.91,
           "rows_per_s": 59697, "scanned_at": "2026-11-26T23:10:00Z", "estimated_rows": 54000}
"""

from ansible.module_utils.jsonmend.db.connection import driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.runner import failed, run_module, warn_all
from ansible.module_utils.jsonmend.scan.engine import argument_spec, scan, validate_params
from ansible.module_utils.jsonmend.scan.target import timed_out


def guard_status(module, db):
    """json_guard's status on the scan's connection; a failure is reported in the result, as json_guard's would be."""
    from ansible.module_utils.jsonmend.guard.guard import GUARD_ARGUMENT_SPEC, SQLITE_REFUSAL, run_guard

    params = dict((name, spec.get("default")) for name, spec in GUARD_ARGUMENT_SPEC.items())
    params.update(module.params)
    params.update(module.params["guard_status"], mode="status")
    label = "guard status of %s.%s.%s" % (params["database"], params["table"], params["column"])
    if params["dialect"] == "sqlite":
        return dict(failed=True, msg="%s refused: %s" % (label, SQLITE_REFUSAL))
    try:
        result = run_guard(db, params, module.check_mode)
    except JsonmendError as exc:
        return dict(failed=True, msg=failed(label, str(exc)))
    except driver_error_types() as exc:
        return dict(failed=True, msg=failed(label, driver_message(exc)))
    finally:
        try:
            db.conn.rollback()
        except driver_error_types():
            pass
    warn_all(module, result["warnings_text"])
    return result


def work(module):
    def read_guard(db):
        return guard_status(module, db)

    wanted = module.params["guard_status"] is not None and not module.params["catalog_only"]
    result = scan(module.params, read_guard if wanted else None)
    warn_all(module, result.get("warnings_text", []))
    return dict(changed=False, **result)


def driver_failure(what, exc, params):
    hint = ""
    if timed_out(exc):
        hint = " (a statement ran past max_execution_time=%ss; set chunk_size to keep statements short)" % params["max_execution_time"]
    return "%s failed: %s%s" % (what, driver_message(exc), hint)


def main():
    run_module(
        argument_spec(),
        work,
        what=lambda p: "json_type_scan of %s.%s.%s" % (p["database"], p["table"], p["column"]),
        sqlite_ok=True,
        validate=validate_params,
        refusal="json_type_scan refused its input: ",
        on_error=lambda what, exc, p: "%s: %s" % (what, exc),
        on_driver_error=driver_failure,
    )


if __name__ == "__main__":
    main()

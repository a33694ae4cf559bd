#!/usr/bin/python
# Read-only: the JSON class of a few rows picked by key, with the same classification as
# the scan. Verification uses it to check what a smoke-test request actually stored.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: json_row_types
short_description: Classify the JSON value of rows picked by primary key
description:
  - Returns, for each given key, the class of the row's JSON value as the C(json_type_scan) module
    counts it (C(OBJECT), C(SQL NULL), C(INTEGER), C(STRING+OBJECT), C(INVALID), ...), computed by
    the server's own JSON functions, plus the start of the stored text.
  - Read-only; never reports C(changed).
version_added: "0.1.0"
author: jsonmend maintainers (@jsonmend)
extends_documentation_fragment:
  - jsonmend_connection
  - jsonmend_target
options:
  database:
    description: Database (schema) name; for V(sqlite) the path of the database file.
  column:
    description: JSON column to classify.
  primary_key:
    description: Single-column primary key the O(keys) refer to.
  keys:
    description: Primary key values of the rows to classify (at most 1000).
    type: list
    elements: raw
    required: true
attributes:
  check_mode:
    support: full
    description: The module never writes; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing on the target changes, so there is no difference to show.
requirements:
  - PyMySQL (MariaDB and MySQL) or psycopg 3 (PostgreSQL) on the host that runs the module
"""

EXAMPLES = r"""
- name: Check that the smoke test's event holds an object
  ansible.legacy.json_row_types:
    database: app
    keys: ["{{ verify_smoke_result.json.id }}"]
  register: verify_row_result
  failed_when: verify_row_result.rows | map(attribute='class') | list != ['OBJECT']
"""

RETURN = r"""
rows:
  description: One entry per key found, in the order of O(keys).
  returned: success
  type: list
  elements: dict
  sample: [{"key": 100231, "class": "OBJECT", "value": "{\"question_id\": 1, \"answer\": \"b\"}", "length": 34}]
missing:
  description: Keys that match no row.
  returned: success
  type: list
  elements: raw
  sample: []
all_objects:
  description: Every key was found and holds a JSON object.
  returned: success
  type: bool
  sample: true
"""

from ansible.module_utils.jsonmend.db.appjson import SERVER, resolve
from ansible.module_utils.jsonmend.db.connection import CONNECTION_ARGUMENT_SPEC, TARGET_ARGUMENT_SPEC, driver_message
from ansible.module_utils.jsonmend.db.dialects import OBJECT
from ansible.module_utils.jsonmend.db.identifiers import identifier_problems
from ansible.module_utils.jsonmend.db.inspector import inspect_target
from ansible.module_utils.jsonmend.db.runner import connected, run_module

MAX_KEYS = 1000
VALUE_CHARS = 200


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(TARGET_ARGUMENT_SPEC)
    spec.update(keys=dict(type="list", elements="raw", required=True, no_log=False))  # row keys, not secrets
    return spec


def validate_params(params):
    """Problems with the input (empty when fine), found before connecting."""
    problems = identifier_problems(params, ("table", "column", "primary_key"))
    keys = params["keys"]
    if not keys:
        problems.append("keys must name at least one row")
    elif len(keys) > MAX_KEYS:
        problems.append("keys may name at most %d rows, got %d" % (MAX_KEYS, len(keys)))
    elif any(isinstance(k, (dict, list, bool)) or k is None for k in keys):
        problems.append("keys must be scalar key values")
    return problems


def classify_sql(d, table, column, pk, count, native_json=False):
    """The statement classifying `count` rows by key: key, class, the value, its length."""
    col = d.q(column)
    return "SELECT %s, %s, %s, %s FROM %s WHERE %s IN (%s)" % (
        d.q(pk),
        d.classify_expr(col, native_json),
        col,
        d.length_expr(col),
        d.q(table),
        d.q(pk),
        ", ".join(["%s"] * count),
    )


def classify_rows(db, database, table, column, pk, keys):
    """({key as str: row dict}) for the keys that exist; JsonmendError when the target does not."""
    desc = inspect_target(db, database, table, column, pk)
    found = {}
    for key, cls, value, length in db.query(classify_sql(db.dialect, table, column, pk, len(keys), desc["column"]["native_json"]), list(keys)):
        # A class the SQL left to Python (PostgreSQL before 16) is settled from the whole value.
        cls = resolve(cls, value, SERVER)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            value = value[:VALUE_CHARS]
        found[str(key)] = dict(key=key, value=value, length=length, **{"class": cls})
    return found


def work(module):
    p = module.params
    with connected(p, autocommit=True) as db:
        found = classify_rows(db, p["database"], p["table"], p["column"], p["primary_key"], p["keys"])
    rows = [found[str(k)] for k in p["keys"] if str(k) in found]
    missing = [k for k in p["keys"] if str(k) not in found]
    return dict(changed=False, rows=rows, missing=missing, all_objects=not missing and all(r["class"] == OBJECT for r in rows))


def main():
    run_module(
        argument_spec(),
        work,
        what=lambda p: "json_row_types",
        sqlite_ok=True,
        validate=validate_params,
        validate_first=True,
        refusal="json_row_types refused its input: ",
        on_error=lambda what, exc, p: str(exc),
        on_driver_error=lambda what, exc, p: "could not classify rows %s of %s.%s: %s" % (p["keys"], p["database"], p["table"], driver_message(exc)),
    )


if __name__ == "__main__":
    main()

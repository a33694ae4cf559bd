#!/usr/bin/python
# The deploy records in the database (module_utils/jsonmend/repair/deploys.py): write one, mark one
# rolled back, read the newest. Shared state, so a rollback from any controller finds the deploy.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_deploy_state
short_description: Record deploys in the database, beside the repair ledger
description:
  - Keeps one row per deploy (playbook run) of a table in a deploys table of the target database
    (default C(<table>_jsonmend_deploys)) with its status (in_progress, deployed, rolled_back, ...), the
    commits it started from, aimed at and left, its repair run ids, and the whole run record as JSON.
  - The controller's C(reports/) directory keeps a copy; this one is found from any controller or AWX job.
  - V(write) creates the table when missing and inserts or replaces the record of O(run_id);
    V(mark) sets the status of a recorded deploy; V(read) returns the newest records of the table.
version_added: "0.2.0"
author: jsonmend maintainers (@jsonmend)
extends_documentation_fragment:
  - jsonmend_connection
options:
  database:
    description: Database (schema) holding the table and its deploy records.
    type: str
    required: true
    aliases: [login_db, db]
  table:
    description: The repaired table the deploys are about.
    type: str
    default: analytics_activityevent
  column:
    description: Its JSON column.
    type: str
    default: metadata
  deploys_table:
    description: Name of the deploys table; empty means C(<table>_jsonmend_deploys).
    type: str
    default: ""
  mode:
    description: V(write) a record, V(mark) a recorded deploy with a status, or V(read) the newest records.
    type: str
    choices: [write, mark, read]
    default: read
  run_id:
    description: The deploy's run id (V(write), V(mark)).
    type: str
  record:
    description: The run record to store (V(write)), as C(reports/<run id>/deploy.json) holds it.
    type: dict
  status:
    description: Status to set (V(mark)).
    type: str
    choices: [in_progress, deployed, check, refused, rolling_back, rolled_back, rollback_failed, failed]
  marked_by:
    description: Who marks it (V(mark)), e.g. the rollback's run id.
    type: str
    default: ""
  limit:
    description: How many records V(read) returns, newest first.
    type: int
    default: 50
attributes:
  check_mode:
    support: full
    description: V(write) and V(mark) report what they would change and write nothing; V(read) reads.
  diff_mode:
    support: none
    description: The record is the run's own output; there is no difference to show.
requirements:
  - PyMySQL (MariaDB and MySQL) or psycopg 3 (PostgreSQL) on the host that runs the module
"""

EXAMPLES = r"""
- name: Record the deploy as in progress
  ansible.legacy.db_deploy_state:
    database: app
    mode: write
    run_id: "{{ preflight_run.id }}"
    record: "{{ deploy_record }}"

- name: Read the last deploys of the table
  ansible.legacy.db_deploy_state:
    database: app
    mode: read
  register: deploys
"""

RETURN = r"""
records:
  description: V(read) - the newest records, newest first, each with C(db_status) (the row's status now).
  returned: mode is read
  type: list
  elements: dict
  sample: [{"outcome": "deployed", "db_status": "rolled_back", "run": {"id": "20261206T101500Z-1a2b"}, "release": {}}]
deploys_table:
  description: The deploys table used.
  returned: always
  type: str
  sample: analytics_activityevent_jsonmend_deploys
row:
  description: V(write) - the columns written besides the record.
  returned: mode is write
  type: dict
  sample: {"run_id": "20261206T101500Z-1a2b", "status": "in_progress", "previous": "40ad8818...", "target": "9f1c...", "new": null}
"""

from ansible.module_utils.jsonmend.db.connection import CONNECTION_ARGUMENT_SPEC, driver_message
from ansible.module_utils.jsonmend.db.runner import connected, run_module
from ansible.module_utils.jsonmend.repair.deploys import STATUSES, DeployState, default_name, summary


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(
        table=dict(type="str", default="analytics_activityevent"),
        column=dict(type="str", default="metadata"),
        deploys_table=dict(type="str", default=""),
        mode=dict(type="str", default="read", choices=["write", "mark", "read"]),
        run_id=dict(type="str"),
        record=dict(type="dict"),
        status=dict(type="str", choices=list(STATUSES)),
        marked_by=dict(type="str", default=""),
        limit=dict(type="int", default=50),
    )
    return spec


def work(module):
    p = module.params
    name = p["deploys_table"] or default_name(p["table"])
    if p["mode"] == "write" and module.check_mode:
        return dict(changed=True, deploys_table=name, row=dict(summary(p["record"]), run_id=p["run_id"]))
    with connected(p) as db:
        state = DeployState(db, p["database"], p["table"], p["column"], name)
        if p["mode"] == "read":
            return dict(changed=False, deploys_table=name, records=state.read(max(1, min(p["limit"], 1000))))
        if p["mode"] == "mark":
            changed = state.exists() if module.check_mode else state.mark(p["run_id"], p["status"], p["marked_by"])
            return dict(changed=changed, deploys_table=name)
        return dict(changed=True, deploys_table=name, row=state.write(p["run_id"], p["record"]))


def main():
    run_module(
        argument_spec(),
        work,
        what=lambda p: "%s the deploy records of %s.%s" % (p["mode"], p["database"], p["table"]),
        sqlite_refusal="db_deploy_state records deploys in MariaDB, MySQL or PostgreSQL, not in a sqlite file",
        on_error=lambda what, exc, p: str(exc),
        on_driver_error=lambda what, exc, p: "could not %s: %s" % (what, driver_message(exc)),
        required_if=[("mode", "write", ("run_id", "record")), ("mode", "mark", ("run_id", "status"))],
    )


if __name__ == "__main__":
    main()

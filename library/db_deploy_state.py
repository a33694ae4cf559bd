#!/usr/bin/python
# The deploy records in the database (module_utils/jsonmend/deploys.py): write one, mark one
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
  - PyMySQL (MariaDB and MySQL) on the host that runs the module
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

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.jsonmend.connection import (
    CONNECTION_ARGUMENT_SPEC,
    PYMYSQL_IMPORT_ERROR,
    connect,
    driver_error_types,
    driver_message,
)
from ansible.module_utils.jsonmend.deploys import STATUSES, DeployState, default_name, summary
from ansible.module_utils.jsonmend.errors import JsonmendError


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


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[("mode", "write", ("run_id", "record")), ("mode", "mark", ("run_id", "status"))],
    )
    p = module.params
    if p["dialect"] == "sqlite":
        module.fail_json(msg="db_deploy_state records deploys in MariaDB or MySQL, not in a sqlite file")
    if PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    db = None
    try:
        name = p["deploys_table"] or default_name(p["table"])
        if p["mode"] == "write" and module.check_mode:
            module.exit_json(changed=True, deploys_table=name, row=dict(summary(p["record"]), run_id=p["run_id"]))
        db = connect(p, autocommit=False)
        state = DeployState(db, p["database"], p["table"], p["column"], name)
        if p["mode"] == "read":
            module.exit_json(changed=False, deploys_table=name, records=state.read(max(1, min(p["limit"], 1000))))
        if p["mode"] == "mark":
            if module.check_mode:
                module.exit_json(changed=state.exists(), deploys_table=name)
            module.exit_json(changed=state.mark(p["run_id"], p["status"], p["marked_by"]), deploys_table=name)
        row = state.write(p["run_id"], p["record"])
        module.exit_json(changed=True, deploys_table=name, row=row)
    except JsonmendError as exc:
        module.fail_json(msg=str(exc))
    except driver_error_types() as exc:
        module.fail_json(msg="could not %s the deploy records of %s.%s: %s" % (p["mode"], p["database"], p["table"], driver_message(exc)))
    finally:
        if db is not None:
            db.close()


if __name__ == "__main__":
    main()

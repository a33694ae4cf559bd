#!/usr/bin/python
# List the jsonmend backups in a directory, find the newest verified one, and apply retention
# (keep the newest N verified backups of each table or database).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_backup_catalog
short_description: List jsonmend backups, find the latest verified one, and prune old ones
description:
  - Reads every C(*.manifest.json) in O(backup_dir) (newest first) and returns their summaries, the newest
    verified backup matching O(database), O(scope) and O(table), and manifests it could not read.
  - With O(keep) above 0, deletes the dump and manifest of verified backups beyond the newest O(keep) good ones of
    each group - one server (the identity its manifest recorded), database, scope and table list; safety backups
    taken before a restore (C(backup_pre_restore_*)) are a group of their own.
  - A backup counts as good only when its dump file exists and has its manifest's sha256 (the file is read, for
    groups with more than O(keep) verified backups only). A verified backup whose file fails is kept, not counted,
    and named in RV(notes); nothing of a group is deleted until O(keep) good backups newer than it exist, so the
    last good backup of a target is never deleted.
  - Unverified backups, O(current_id) and backups whose manifest records no server identity (written by older
    versions) are never deleted.
  - Touches no database.
version_added: "0.2.0"
author: jsonmend maintainers (@jsonmend)
options:
  backup_dir:
    description: Directory holding the backups.
    type: path
    required: true
  database:
    description: Only backups of this database (all when empty).
    type: str
  scope:
    description: Only backups of this scope (all when empty).
    type: str
    choices: [table, database]
  table:
    description: Only backups that hold this table (all when empty).
    type: str
  server:
    description:
      - Only backups taken on this server, by the identity their manifest recorded (C(uuid:<server_uuid>) on MySQL,
        C(<hostname>:<port>) on MariaDB; RV(backups) shows it). All when empty.
      - V(latest) then never picks a backup whose manifest records no identity.
    type: str
  keep:
    description: Verified backups to keep per group; V(0) deletes nothing.
    type: int
    default: 0
  current_id:
    description: A backup that is never deleted (the one just taken).
    type: str
  backup_id:
    description:
      - Also return the full manifest of this backup in RV(manifest), or of the newest verified one matching the
        filters for V(latest). Fails when there is none. This is how another phase checks a given backup.
    type: str
  check_file:
    description: With O(backup_id), also check that the dump file still has its manifest's sha256 (reads the whole file).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports what retention would delete without deleting it.
  diff_mode:
    support: none
    description: Backups and restores have no before and after to show.
"""

EXAMPLES = r"""
- name: Keep the five newest verified backups of each table
  ansible.legacy.db_backup_catalog:
    backup_dir: /var/backups/jsonmend
    keep: 5

- name: Find the backup a rollback would restore, and check its file
  ansible.legacy.db_backup_catalog:
    backup_dir: /var/backups/jsonmend
    database: app
    table: analytics_activityevent
    backup_id: latest
    check_file: true
  register: backup_catalog_result
"""

RETURN = r"""
backups:
  description: Summaries of the matching backups, newest first (after retention).
  returned: always
  type: list
  elements: dict
  sample: [{id: backup_analytics_activityevent_20261126_231223, scope: table, database: app,
            tables: [analytics_activityevent], rows: {analytics_activityevent: 54325}, verified: true}]
latest_verified:
  description: Summary of the newest verified matching backup (safety backups excepted), or null.
  returned: always
  type: dict
notes:
  description: Why retention left a backup it might otherwise have deleted (a file that fails its sha256, no server identity).
  returned: always
  type: list
  elements: str
removed:
  description: Ids deleted by retention (that would be, in check mode).
  returned: always
  type: list
  elements: str
problems:
  description: Manifest files that could not be read, with the reason.
  returned: always
  type: list
  elements: str
manifest:
  description: The full manifest of O(backup_id), with C(file_checked) true when O(check_file) confirmed its sha256.
  returned: when backup_id is given
  type: dict
  sample: {id: backup_analytics_activityevent_20261126_231223, verified: true, sha256: 4ead6b12..., file_checked: true}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.jsonmend.backup import manifests
from ansible.module_utils.jsonmend.backup.plans import check_backup_dir
from ansible.module_utils.jsonmend.backup.verification import check_file, file_problem
from ansible.module_utils.jsonmend.db import servers
from ansible.module_utils.jsonmend.db.errors import JsonmendError


def argument_spec():
    return dict(
        backup_dir=dict(type="path", required=True),
        database=dict(type="str"),
        scope=dict(type="str", choices=["table", "database"]),
        table=dict(type="str"),
        server=dict(type="str"),
        keep=dict(type="int", default=0),
        current_id=dict(type="str"),
        backup_id=dict(type="str"),
        check_file=dict(type="bool", default=False),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if p["keep"] < 0:
        module.fail_json(msg="keep must be 0 (keep everything) or more, got %d" % p["keep"])
    try:
        check_backup_dir(p["backup_dir"], writable=bool(p["keep"]) and not module.check_mode)
        found, problems = manifests.list_manifests(p["backup_dir"])
    except JsonmendError as exc:
        module.fail_json(msg="listing backups failed: %s" % exc)
    selected = [m for m in found if manifests.matches(m, database=p["database"], scope=p["scope"], table=p["table"], server=p["server"])]
    doomed, notes = manifests.retention_plan(selected, p["keep"], p["current_id"], file_problem=file_problem)
    removed = []
    for manifest in doomed:
        if not module.check_mode:
            try:
                # The manifest goes first: a dump left without one is never taken for a backup.
                os.unlink(manifest["manifest_path"])
                for path in (manifest["path"], manifest.get("digests_path")):
                    if path and os.path.exists(path):
                        os.unlink(path)
            except OSError as exc:
                module.fail_json(msg="retention could not delete backup %s: %s" % (manifest["id"], exc), removed=removed)
        removed.append(manifest["id"])
    kept = [manifests.summary(m) for m in selected if m["id"] not in removed]
    latest = manifests.pick_latest([m for m in selected if m["id"] not in removed])
    latest = manifests.summary(latest) if latest else None
    result = dict(changed=bool(removed), backups=kept, latest_verified=latest, removed=removed, problems=problems, notes=notes)
    if p["backup_id"]:
        try:
            manifest = manifests.resolve(p["backup_dir"], p["backup_id"], database=p["database"], scope=p["scope"], table=p["table"], server=p["server"])
            if p["server"]:
                warning = servers.check_server(manifest, p["server"])
                if warning:
                    module.warn(warning)
            if p["check_file"]:
                check_file(manifest)
        except JsonmendError as exc:
            module.fail_json(msg="backup %s: %s" % (p["backup_id"], exc), **result)
        result["manifest"] = dict(manifest, file_checked=bool(p["check_file"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

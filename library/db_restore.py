#!/usr/bin/python
# Restore a table or a database in place from a verified jsonmend backup, keep a safety
# backup of what it replaces, and prove the result against the manifest.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_restore
short_description: Restore a table or database from a verified jsonmend backup and prove it
description:
  - The runbook's rollback (C(mysql db < backup.sql)) made safe. Finds the backup by O(backup_id), or the newest
    verified backup of O(table) (O(scope=table)) or of O(database) (O(scope=database)) for V(latest) - taken on this
    very server (by the server identity its manifest records), never a safety backup (C(backup_pre_restore_*)).
  - Refuses a backup taken on another server (a backup directory shared by staging and production) unless
    O(allow_other_server). A manifest written before identities were recorded is used only when named by
    O(backup_id), with a warning.
  - Holds the advisory lock of every table it restores - the lock each repair and undo of the table takes - from
    before the safety backup until the restored tables are proven. It is refused while a repair or undo runs on
    one of them, and they are refused while it runs (the lock names the connection holding it).
  - Refuses before any change when the backup is not verified (unless O(allow_unverified)), when its file differs
    from the sha256 in its manifest, or when its scope or database is not the one asked for.
  - Takes a safety backup of the current tables first (O(safety_backup)), so the restore itself can be undone;
    reports how many rows were added after the backup (keys above the backup's highest key) and would be lost.
  - Loads the dump in place with the client matching the dump tool and C(check_constraint_checks=0) (rows whose
    C(CHECK (json_valid)) was bypassed load too), then compares every restored table's row count and checksum with
    the manifest and fails if any differs.
  - Stop the application first (maintenance mode); each table is dropped and reloaded by the dump.
  - On PostgreSQL the custom dump is loaded with C(pg_restore --single-transaction --clean --if-exists), so the tables
    are replaced in one transaction, or not at all when anything fails (a view or another table's foreign key depending
    on one of them). The database must exist.
  - For O(scope=database), a database that does not exist (a rebuilt server) is created with the character set
    and collation the backup recorded.
version_added: "0.2.0"
author: jsonmend maintainers (@jsonmend)
extends_documentation_fragment:
  - jsonmend_connection
  - jsonmend_load_streams
  - jsonmend_target
options:
  database:
    description: Database to restore into; must be the backup's.
  table:
    description: Table to restore when O(scope=table) (picks the backup for V(latest)).
  column:
    description: Unused; accepted so the shared target options can be passed as they are.
  primary_key:
    description: Unused; accepted so the shared target options can be passed as they are.
  backup_dir:
    description: Directory holding the backups; the safety backup is written here too.
    type: path
    required: true
  backup_id:
    description: Backup to restore, or V(latest) for the newest verified one of the table or database.
    type: str
    default: latest
  scope:
    description: V(table) restores one table from a table backup; V(database) every table, view, routine and event of a database backup.
    type: str
    default: table
    choices: [table, database]
  allow_unverified:
    description: Restore a backup whose verification failed or never ran (its file must still match its sha256).
    type: bool
    default: false
  allow_other_server:
    description:
      - Restore a backup whose manifest records another server (for a server rebuilt from scratch, whose identity changed).
        Without it such a backup is refused before any change.
    type: bool
    default: false
  safety_backup:
    description: Back up the current tables (same scope, label C(pre_restore_<label>)) before replacing them.
    type: bool
    default: true
  safety_backup_verify:
    description: Verify the safety backup too (doubles the time; it can be verified later with db_backup_verify).
    type: bool
    default: false
  row_digests:
    description: Keep per-row digests and key ranges in the safety backup (see db_backup's O(row_digests)).
    type: bool
    default: true
  compress_level:
    description: gzip level of the safety backup.
    type: int
    default: 1
  space_factor:
    description: Free space required for the safety backup, as a multiple of the data size.
    type: float
    default: 1.0
  lock_wait_timeout:
    description: Seconds the safety backup waits to pause writes, per attempt.
    type: int
    default: 5
  lock_retries:
    description: Attempts of the safety backup at pausing writes.
    type: int
    default: 3
  snapshot_timeout:
    description: Seconds the safety backup's dump tool may take to open its snapshot.
    type: int
    default: 120
  verify_skip_binlog:
    description: Keep the safety backup's verification out of the binary log. The restore itself is always logged, so replicas follow it.
    type: bool
    default: true
  dump_binary:
    description: Dump tool for the safety backup. Default, the server vendor's.
    type: str
  client_binary:
    description: Client that loads the dump. Default, the one recorded in the manifest, else the vendor's.
    type: str
  run_id:
    description: Identifier of the jsonmend run, recorded in the safety backup's manifest.
    type: str
attributes:
  check_mode:
    support: full
    description: Resolves the backup, checks its file and reports what would be restored and lost; changes nothing.
  diff_mode:
    support: none
    description: Backups and restores have no before and after to show.
requirements:
  - PyMySQL (psycopg 3 for PostgreSQL) on the host that runs the module
  - mariadb-dump and mariadb (or mysqldump and mysql; pg_dump and pg_restore for PostgreSQL) on that host
notes:
  - The restore goes to the binary log like any write, so replicas restore too.
  - A table restore does not move the table aside and swap it in, on purpose - a cross-schema RENAME TABLE keeps
    foreign keys pointing at the scratch schema, and Django tables have foreign keys.
"""

EXAMPLES = r"""
- name: Restore the runbook's table from its newest verified backup
  ansible.legacy.db_restore:
    database: app
    backup_dir: /var/backups/jsonmend

- name: Emergency - restore the whole database from a given backup
  ansible.legacy.db_restore:
    database: app
    scope: database
    backup_dir: /var/backups/jsonmend
    backup_id: backup_20261126_231500
"""

RETURN = r"""
backup_id:
  description: The backup restored (or that would be).
  returned: always
  type: str
  sample: backup_analytics_activityevent_20261126_231223
manifest:
  description: Summary of that backup's manifest.
  returned: always
  type: dict
before:
  description: Per table, before the restore - whether it exists and its rows.
  returned: always
  type: dict
  sample: {analytics_activityevent: {exists: true, rows: 54410}}
impact:
  description:
    - What the restore changed (would change, in check mode), counted from content just before the load, as
      db_backup_compare's C(impact) gives it - rows inserted since the backup (removed), changed since (their old
      content put back), deleted since (brought back), in total and per table with keys. A count the backup cannot
      vouch for (no key ranges in its manifest) is null and named in C(unknown), with the reason per table.
    - The state before the restore stays in the safety backup.
  returned: always
  type: dict
  sample: {exact: true, unknown: [], rows_inserted_since: 85, rows_changed_since: 3, rows_deleted_since: 0,
           tables: {analytics_activityevent: {rows_now: 54410, rows_in_backup: 54325, inserted: {first_key: 54326, last_key: 54410}}}}
after:
  description: Per table, after the restore - rows, checksum, ok, problem.
  returned: success and not check mode
  type: dict
streams:
  description: Client sessions that loaded the dump (O(load_streams); 1 on PostgreSQL, where pg_restore runs in one transaction).
  returned: success and not check mode
  type: int
  sample: 2
safety_backup:
  description: Summary of the safety backup's manifest, or null.
  returned: always
  type: dict
tables_not_in_backup:
  description: Tables of the database that the backup does not hold; a database restore leaves them as they are.
  returned: always
  type: list
  elements: str
created_database:
  description: The database did not exist (a rebuilt server) and was created (would be, in check mode) for a database restore.
  returned: always
  type: bool
server:
  description: Identity of the server restored into (C(uuid:<server_uuid>), else C(<hostname>:<port>)).
  returned: always
  type: str
  sample: db1.example.com:3306
notes:
  description: Warnings about the backup's server (an old manifest without identity, another server allowed), also shown as warnings.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.jsonmend.backup.backups import BACKUP_ARGUMENT_SPEC
from ansible.module_utils.jsonmend.backup.restores import restore_backup
from ansible.module_utils.jsonmend.db.connection import CONNECTION_ARGUMENT_SPEC, TARGET_ARGUMENT_SPEC
from ansible.module_utils.jsonmend.db.runner import run_module, warn_all


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(TARGET_ARGUMENT_SPEC)
    spec.update(BACKUP_ARGUMENT_SPEC)
    for key in ("label", "verify", "create_dir"):
        spec.pop(key)
    spec.update(
        backup_id=dict(type="str", default="latest"),
        allow_unverified=dict(type="bool", default=False),
        allow_other_server=dict(type="bool", default=False),
        safety_backup=dict(type="bool", default=True),
        safety_backup_verify=dict(type="bool", default=False),
    )
    return spec


def work(module):
    result = restore_backup(module.params, check_mode=module.check_mode)
    warn_all(module, result["notes"])
    return dict(changed=True, **result)


def main():
    run_module(
        argument_spec(),
        work,
        what=lambda p: "restore of %s from backup %s" % (p["database"] if p["scope"] == "database" else "%s.%s" % (p["database"], p["table"]), p["backup_id"]),
        sqlite_refusal="db_restore needs a MariaDB, MySQL or PostgreSQL server",
    )


if __name__ == "__main__":
    main()

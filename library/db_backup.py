#!/usr/bin/python
# Take a consistent online backup of a table or database with mariadb-dump/mysqldump, write
# its manifest (row counts and checksums from the same snapshot), and prove it restores.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_backup
short_description: Back up a table or database with its checksummed manifest, and verify it restores
description:
  - Dumps one table (the default) or a whole database with the server vendor's dump tool
    (C(mariadb-dump) or C(mysqldump)) as a consistent online InnoDB dump, compressed with gzip into
    O(backup_dir) as C(backup_<label>_YYYYmmdd_HHMMSS.sql.gz) (UTC), mode 0600.
  - Beside it writes C(<id>.manifest.json) (mode 0600) with the row count and a content checksum of every
    table taken inside the same snapshot as the dump, the binlog/GTID position of that snapshot, the server
    and tool versions, sizes and the file's sha256.
  - The snapshots line up because writes to the dumped tables pause (C(LOCK TABLES ... READ) in a separate
    session) from the moment this module opens its own snapshot until the dump tool has opened its own,
    typically a few tens of milliseconds.
  - With O(verify) (the default) the dump is then restored into a scratch schema, every table is compared with
    the manifest, the scratch schema is dropped and the manifest is marked C(verified). A dump whose tool
    failed, whose output lacks the completion line, or whose restore differs never counts as a backup.
  - Credentials reach the tools through a temporary 0600 option file read with C(--defaults-file), never the
    command line or the environment.
  - On PostgreSQL (O(dialect=postgresql)) the dump is C(pg_dump --format=custom) of the table (O(table) may be
    C(schema.table)) or the database, written as C(<id>.pgdump); the counts and checksums are read in a REPEATABLE READ
    transaction whose snapshot C(pg_dump --snapshot) imports, so no write is paused. The verification restores it with
    C(pg_restore) into a scratch database (C(jmv_<hex>), needs CREATEDB) that is dropped after; a table backup's
    triggers and foreign keys are left out there (the dump holds neither their functions nor the tables they reference;
    C(verification.left_out) lists them). C(pg_dump) and
    C(pg_restore) older than the server's major version are refused; the password reaches them in a private 0600
    C(PGPASSFILE).
version_added: "0.2.0"
author: jsonmend maintainers (@jsonmend)
extends_documentation_fragment:
  - jsonmend_connection
  - jsonmend_load_streams
  - jsonmend_target
options:
  database:
    description: Database (schema) to back up, or that holds O(table).
  table:
    description: Table to back up when O(scope=table).
  column:
    description: The JSON column of the target (recorded only; the whole table is dumped).
  primary_key:
    description: The table's key (recorded only; the manifest records every table's primary key bounds).
  backup_dir:
    description:
      - Absolute directory on the host that runs the module. It must exist and be writable unless O(create_dir).
    type: path
    required: true
  create_dir:
    description:
      - Create O(backup_dir) (mode 0700, with missing parents) when it does not exist. Off by default so that a
        backup volume that is not mounted fails instead of filling another disk.
    type: bool
    default: false
  scope:
    description: V(table) dumps O(table) with its triggers; V(database) dumps every table, view, trigger, routine and event.
    type: str
    default: table
    choices: [table, database]
  label:
    description:
      - Middle part of the file name. Defaults to the table name for O(scope=table) and to nothing for
        O(scope=database) (the runbook's C(backup_YYYYmmdd_HHMMSS.sql)).
      - Set V(activityevent) for the runbook's exact C(backup_activityevent_YYYYmmdd_HHMMSS) name.
    type: str
  verify:
    description: Restore the dump into a scratch schema and compare it with the manifest before reporting success.
    type: bool
    default: true
  row_digests:
    description:
      - Read every table with a single-column primary key in key ranges inside the dump's snapshot, and keep each
        range's row count and checksums in the manifest (C(ranges)) and a digest of every row beside the dump
        (C(<id>.digests.gz), mode 0600, its sha256 in the manifest). A later restore, rollback or emergency counts
        from them, exactly and without restoring anything, which rows were inserted, changed or deleted since the
        backup (db_backup_compare's C(impact)).
      - The server hashes and joins each range's digests, in the same one read that gives the table's checksum;
        the file is about a fifth of the dump's size. V(false) keeps only the table checksums, and a restore then
        says the counts are unknown.
    type: bool
    default: true
  verify_skip_binlog:
    description:
      - Keep the scratch restore out of the binary log (C(sql_log_bin=0), needs BINLOG ADMIN or SUPER), so
        replicas never copy it. V(false) lets it replicate.
    type: bool
    default: true
  compress_level:
    description: gzip level, 0-9. 1 keeps compression faster than the dump on small machines.
    type: int
    default: 1
  space_factor:
    description: Free space required in O(backup_dir), as a multiple of the tables' data size.
    type: float
    default: 1.0
  lock_wait_timeout:
    description: Seconds to wait for transactions that wrote the tables before pausing writes, per attempt.
    type: int
    default: 5
  lock_retries:
    description: Attempts at pausing writes before giving up (nothing is written then).
    type: int
    default: 3
  snapshot_timeout:
    description: Seconds the dump tool may take to open its snapshot before it is stopped.
    type: int
    default: 120
  dump_binary:
    description: Dump tool to run (name or path). Default, the server vendor's C(mariadb-dump) or C(mysqldump).
    type: str
  client_binary:
    description: Client that loads the dump for verification. Default, the one beside the dump tool.
    type: str
  run_id:
    description: Identifier of the jsonmend run, recorded in the manifest.
    type: str
attributes:
  check_mode:
    support: full
    description: Checks everything (inputs, directory, free space, tools, privileges) and returns the plan; writes nothing.
  diff_mode:
    support: none
    description: Backups and restores have no before and after to show.
requirements:
  - PyMySQL (psycopg 3 for PostgreSQL) on the host that runs the module
  - mariadb-dump and mariadb (or mysqldump and mysql; pg_dump and pg_restore for PostgreSQL) on that host
notes:
  - Privileges needed for O(scope=table) - SELECT, LOCK TABLES, SHOW VIEW, TRIGGER; for the verification also
    SELECT, INSERT, CREATE, DROP, ALTER, INDEX, REFERENCES, LOCK TABLES, CREATE VIEW, TRIGGER on the scratch schemas
    (C(jmv_*)), and BINLOG ADMIN or SUPER
    for O(verify_skip_binlog). O(scope=database) also needs EVENT and SHOW CREATE ROUTINE (or SELECT on mysql.proc).
  - Non-InnoDB tables cannot be read consistently without a lock, so writes to the dumped tables stay paused for
    the whole dump when any is present (a warning says so).
"""

EXAMPLES = r"""
- name: Back up the runbook's table and prove it restores
  ansible.legacy.db_backup:
    database: app
    backup_dir: /var/backups/jsonmend
  register: backup_dump_result

- name: Back up the whole database under the runbook's file name
  ansible.legacy.db_backup:
    login_host: db1.example.com
    login_user: jsonmend
    login_password: "{{ vault_jsonmend_db_password }}"
    database: app
    scope: database
    backup_dir: /srv/backups
"""

RETURN = r"""
manifest:
  description: The manifest as written beside the dump (absent in check mode).
  returned: success and not check mode
  type: dict
  sample:
    id: backup_analytics_activityevent_20261126_231223
    path: /var/backups/jsonmend/backup_analytics_activityevent_20261126_231223.sql.gz
    manifest_path: /var/backups/jsonmend/backup_analytics_activityevent_20261126_231223.manifest.json
    scope: table
    database: app
    tables: [analytics_activityevent]
    rows: {analytics_activityevent: 54325}
    checksum: {analytics_activityevent: "crc32+crc32c:116717453122571:116719063120077"}
    server: {flavour: mariadb, version: 10.11.19-MariaDB-0+deb12u1-log}
    binlog: {enabled: true, file: binlog.000042, position: 1853, gtid: 0-1-977, exact: server}
    snapshot: {writes_paused_ms: 24.4}
    sha256: 4ead6b12accd45570aca4776553189c470fdc04bffd86e5088960e1618226b75
    size: 2811921
    created_at: "2026-11-26T23:12:23Z"
    verified: true
    verified_at: "2026-11-26T23:12:25Z"
plan:
  description: What the backup does or would do - paths, tables, estimated rows, free space, tools, warnings.
  returned: always
  type: dict
  sample: {id: backup_analytics_activityevent_20261126_231223, tables: [analytics_activityevent],
           space: {free_bytes: 80000000000, needed_bytes: 187416576}, verify: true, warnings: []}
"""

from ansible.module_utils.jsonmend.backup.backups import BACKUP_ARGUMENT_SPEC, take_backup
from ansible.module_utils.jsonmend.backup.verification import verify_backup
from ansible.module_utils.jsonmend.db.connection import CONNECTION_ARGUMENT_SPEC, TARGET_ARGUMENT_SPEC
from ansible.module_utils.jsonmend.db.runner import run_module, warn_all


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(TARGET_ARGUMENT_SPEC)
    spec.update(BACKUP_ARGUMENT_SPEC)
    return spec


def work(module):
    params = module.params
    manifest, plan = take_backup(params, check_mode=module.check_mode)
    if manifest is not None and params["verify"]:
        manifest = verify_backup(params, manifest)
    result = dict(changed=True, plan=plan)
    if manifest is not None:
        result["manifest"] = manifest
    warn_all(module, plan.get("warnings", []))
    return result


def main():
    run_module(
        argument_spec(),
        work,
        what=lambda p: "backup of %s" % (p["database"] if p["scope"] == "database" else "%s.%s" % (p["database"], p["table"])),
        sqlite_refusal="db_backup needs a MariaDB, MySQL or PostgreSQL server (sqlite is a local file: copy it)",
    )


if __name__ == "__main__":
    main()

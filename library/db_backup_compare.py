#!/usr/bin/python
# Read-only: does the live database (or table) still hold exactly what a verified backup holds?
# A restore that would change nothing is skipped, so a rollback can run twice.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_backup_compare
short_description: Compare the live tables with a verified jsonmend backup (read-only)
description:
  - Finds a backup by O(backup_id) in O(backup_dir), or the newest verified one of O(database) for V(latest)
    (of O(scope), holding O(table) for a table backup, taken on this very server; safety backups taken before a
    restore, C(backup_pre_restore_*), are never picked), or reads O(manifest).
  - Refuses a backup whose manifest records another server (unless O(allow_other_server)); a manifest written before
    server identities were recorded is used only when named (O(backup_id) or O(manifest)), with a warning.
  - Refuses a backup that is not verified (unless O(allow_unverified)), and with O(check_file) one whose dump file
    no longer has its manifest's sha256, so a caller can stop before its first change.
  - Compares every table of the backup with the live one - row counts first (cheap), then, only when every count
    matches, the same content checksum the backup recorded. RV(identical) is true only when every table exists
    with the backup's row count and checksum.
  - Never writes; reports C(changed=false).
version_added: "0.3.0"
author: jsonmend maintainers (@jsonmend)
extends_documentation_fragment:
  - jsonmend_connection
options:
  login_password:
    description: Password. Falls back to the option file. Never logged, never on a command line.
  dialect:
    description: Server flavour. V(auto) reads C(VERSION()). SQLite files are not supported here.
  database:
    description: The live database to compare; must be the backup's.
  table:
    description: With O(scope=table) and V(latest), the table the backup must hold.
    type: str
    default: analytics_activityevent
  backup_dir:
    description: Directory holding the backups.
    type: path
  backup_id:
    description: Backup to compare with, or V(latest) for the newest verified one.
    type: str
    default: latest
  manifest:
    description: Path of a manifest file, instead of O(backup_dir) and O(backup_id).
    type: path
  scope:
    description: With V(latest), the scope of the backup to pick.
    type: str
    default: table
    choices: [table, database]
  allow_unverified:
    description: Accept a backup whose verification failed or never ran.
    type: bool
    default: false
  allow_other_server:
    description: Accept a backup whose manifest records another server (a server rebuilt from scratch).
    type: bool
    default: false
  check_file:
    description: Also check that the dump file still has its manifest's sha256 (reads the whole file).
    type: bool
    default: false
  impact:
    description:
      - Also count, from content, what restoring the backup would change in each table (RV(impact)) - rows
        inserted since the backup (a restore removes them), rows changed since (a restore puts the old content
        back) and rows deleted since (a restore brings them back), each with its first, last and sample keys.
      - The live table is read once, summed over the key ranges the backup recorded; only ranges that differ
        are read row by row and matched against the backup's per-row digests. Nothing is restored.
      - A backup without ranges (taken before jsonmend kept them, or of a table without a single-column
        primary key) gives no counts, only whether the table differs; RV(impact)'s C(unknown) names the missing
        counts and its C(tables) entry says why.
    type: bool
    default: false
  timestamp_column:
    description: With O(impact), a column whose oldest and newest value among the inserted and changed rows is shown as context.
    type: str
  impact_samples:
    description: With O(impact), how many keys of each kind of difference to list.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    description: The module never writes; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
requirements:
  - PyMySQL on the host that runs the module
"""

EXAMPLES = r"""
- name: Find the newest verified database backup and compare the live database with it
  ansible.legacy.db_backup_compare:
    database: app
    backup_dir: /var/backups/jsonmend
    scope: database
    check_file: true
  register: rollback_compare_result

- name: Is the table still what this backup holds?
  ansible.legacy.db_backup_compare:
    database: app
    manifest: /var/backups/jsonmend/backup_analytics_activityevent_20261126_231223.manifest.json
"""

RETURN = r"""
backup_id:
  description: The backup compared with.
  returned: always
  type: str
  sample: backup_20261126_231500
manifest:
  description: Summary of its manifest (id, scope, database, tables, rows, created_at, verified, path).
  returned: always
  type: dict
database_exists:
  description: Whether the live database exists at all.
  returned: always
  type: bool
identical:
  description: Every table of the backup exists with the backup's row count and content checksum.
  returned: always
  type: bool
  sample: false
compared:
  description: How far the comparison went - V(counts) (a row count differs or a table is missing) or V(checksums).
  returned: always
  type: str
  sample: counts
tables:
  description: Per table of the backup - exists, rows now, rows in the backup, ok, and what differs.
  returned: always
  type: dict
  sample: {analytics_activityevent: {exists: true, rows: 1502, expected_rows: 1500, ok: false, problem: "1500 rows expected, 1502 found"}}
differences:
  description: One sentence per table that differs.
  returned: always
  type: list
  elements: str
impact:
  description:
    - With O(impact), what a restore would change, counted from content - totals over the backup's tables
      (a total is null when any table's count is unknown), whether every count is exact, which are unknown,
      and per table the counts, keys and reason.
  returned: when O(impact) is true and the database exists
  type: dict
  sample:
    exact: true
    unknown: []
    rows_inserted_since: 2
    rows_changed_since: 1
    rows_deleted_since: 1
    tables:
      analytics_activityevent:
        rows_now: 6001
        rows_in_backup: 6000
        ranges: 6
        ranges_differing: 2
        inserted: {first_key: 6001, last_key: 6002, sample_keys: [6001, 6002], timestamps: ["2019-01-01 00:00:00", "2019-01-01 00:00:00"]}
        changed: {first_key: 17, last_key: 17, sample_keys: [17]}
        deleted: {first_key: 42, last_key: 42, sample_keys: [42]}
server:
  description: Identity of the live server (C(uuid:<server_uuid>), else C(<hostname>:<port>)), which the backup's must match.
  returned: always
  type: str
  sample: db1.example.com:3306
"""

from ansible.module_utils.jsonmend.backup import manifests, ranges
from ansible.module_utils.jsonmend.backup.pg_backups import qualified as pg_qualified
from ansible.module_utils.jsonmend.backup.restores import database_exists, is_postgres, server_params
from ansible.module_utils.jsonmend.backup.verification import check_file, compare_tables
from ansible.module_utils.jsonmend.db import servers
from ansible.module_utils.jsonmend.db.connection import CONNECTION_ARGUMENT_SPEC, connect
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import validate_identifier
from ansible.module_utils.jsonmend.db.runner import run_module, warn_all


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(
        table=dict(type="str", default="analytics_activityevent"),
        backup_dir=dict(type="path"),
        backup_id=dict(type="str", default="latest"),
        manifest=dict(type="path"),
        scope=dict(type="str", default="table", choices=["table", "database"]),
        allow_unverified=dict(type="bool", default=False),
        allow_other_server=dict(type="bool", default=False),
        check_file=dict(type="bool", default=False),
        impact=dict(type="bool", default=False),
        timestamp_column=dict(type="str"),
        impact_samples=dict(type="int", default=10),
    )
    return spec


def find_manifest(params, identity):
    """(manifest to compare with, warnings), refused when it cannot be trusted."""
    if params["manifest"]:
        manifest = manifests.read_manifest(params["manifest"])
    elif not params["backup_dir"]:
        raise JsonmendError("give backup_dir (with backup_id) or manifest")
    elif params["backup_id"] == manifests.LATEST:
        found, _problems = manifests.list_manifests(params["backup_dir"])
        # A PostgreSQL manifest names its tables schema.table (public when unqualified).
        table = (pg_qualified(params["table"]) if is_postgres(params) else params["table"]) if params["scope"] == "table" else None
        manifest = manifests.pick_latest(found, params["database"], params["scope"], table, server=identity)
        if manifest is None:
            what = "database %s" % params["database"] if params["scope"] == "database" else "table %s.%s" % (params["database"], params["table"])
            raise JsonmendError(
                "no verified %s-scope backup of %s taken on this server (%s) in %s (safety backups excepted): take one with playbooks/backup.yml%s"
                % (params["scope"], what, identity, params["backup_dir"], " -e jsonmend_backup_scope=database" if params["scope"] == "database" else "")
            )
    else:
        manifest = manifests.resolve(params["backup_dir"], params["backup_id"])
    warnings = []
    warning = servers.check_server(manifest, identity, allow_other=params["allow_other_server"])
    if warning:
        warnings.append(warning)
    if manifest.get("database") != params["database"]:
        raise JsonmendError("backup %s is of database %s, not %s" % (manifest.get("id"), manifest.get("database"), params["database"]))
    if not manifest.get("verified") and not params["allow_unverified"]:
        reason = ((manifest.get("verification") or {}).get("error")) or "it was never verified"
        raise JsonmendError("backup %s is not verified (%s)" % (manifest.get("id"), reason))
    if params["check_file"]:
        check_file(manifest)
    return manifest, warnings


def _location(db, database, table):
    """(schema, table) of a manifest's table: the database on MariaDB/MySQL, schema.table's on PostgreSQL."""
    return db.dialect.table_location(table, database)


def count_rows(db, database, tables):
    """{table: rows or None when missing} for the backup's tables."""
    cur = db.cursor()
    try:
        present = set(db.dialect.table_names(cur, database))
    finally:
        cur.close()
    counts = {}
    for table in tables:
        # Names from the manifest (the catalog's): quoted, a hyphen or an accent is no reason to refuse.
        schema, name = _location(db, database, table)
        counts[table] = int(db.query_one("SELECT COUNT(*) FROM %s.%s" % (db.dialect.qn(schema), db.dialect.qn(name)))[0]) if table in present else None
    return counts


def compare(params, manifest):
    """Row counts first; checksums only when every count matches."""
    database = params["database"]
    tables = list(manifest.get("tables") or [])
    expected = manifest.get("rows") or {}
    # PostgreSQL connects to the database itself (a missing one is the connection's error).
    exists = True if is_postgres(params) else database_exists(params, database)
    result = dict(database_exists=exists, identical=False, compared="counts", tables={}, differences=[])
    if not result["database_exists"]:
        result["differences"] = ["database %s does not exist" % database]
        return result
    db = connect(params)
    try:
        counts = count_rows(db, database, tables)
        for table in tables:
            entry = dict(exists=counts[table] is not None, rows=counts[table], expected_rows=expected.get(table), ok=False, problem=None)
            if not entry["exists"]:
                entry["problem"] = "missing"
            elif entry["rows"] != entry["expected_rows"]:
                entry["problem"] = "%s rows expected, %s found" % (entry["expected_rows"], entry["rows"])
            result["tables"][table] = entry
        if tables and not any(e["problem"] for e in result["tables"].values()):
            result["compared"] = "checksums"
            if not manifest.get("checksum"):
                for entry in result["tables"].values():
                    entry["problem"] = "the manifest holds no checksum to compare with"
            else:
                for table, report in compare_tables(db, manifest, database).items():
                    result["tables"][table].update(ok=report["ok"], problem=report["problem"])
        if params["impact"]:
            result["impact"] = impact(db, manifest, database, tables, params)
    finally:
        db.close()
    result["differences"] = ["%s: %s" % (t, e["problem"]) for t, e in sorted(result["tables"].items()) if e["problem"]]
    result["identical"] = bool(tables) and not result["differences"]
    return result


def impact(db, manifest, database, tables, params):
    """What restoring the backup would change, per table and in total (ranges.compare_with_backup)."""
    if params["timestamp_column"]:
        validate_identifier(params["timestamp_column"], "timestamp column")
    entries = {}
    for table in tables:
        stamp = params["timestamp_column"] if params["timestamp_column"] in dict(_columns(db, database, table)) else None
        entries[table] = ranges.compare_with_backup(db, manifest, table, database, max(0, params["impact_samples"]), stamp)
    found = ranges.summarize(list(entries.values()))
    found["tables"] = entries
    return found


def _columns(db, database, table):
    return db.query("SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", _location(db, database, table))


def work(module):
    params = module.params
    validate_identifier(params["database"], "database")
    # Over a connection that names no database: the emergency's database may be gone (PostgreSQL
    # always connects to one: the database compared).
    identity = servers.identity_for(server_params(params))["identity"]
    manifest, warnings = find_manifest(params, identity)
    result = compare(params, manifest)
    warn_all(module, warnings)
    return dict(changed=False, backup_id=manifest["id"], manifest=manifests.summary(manifest), server=identity, **result)


def main():
    run_module(
        argument_spec(),
        work,
        what=lambda p: "comparison of %s with backup %s" % (p["database"], p["manifest"] or p["backup_id"]),
        sqlite_refusal="db_backup_compare needs a MariaDB or MySQL server",
        mutually_exclusive=[("manifest", "backup_dir")],
    )


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Prove an existing backup restores: check its file against the manifest, restore it into a
# scratch schema, compare every table, drop the scratch schema, record the outcome.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_backup_verify
short_description: Verify a jsonmend backup by restoring it into a scratch schema
description:
  - Finds a backup by O(backup_id) in O(backup_dir) (or takes O(manifest)), checks that the dump file still has
    the sha256 its manifest records, restores it into a new scratch schema (C(jmv_<hex>)) with the client that
    matches the dump tool, compares the row count and content checksum of every table with the manifest, drops
    the scratch schema and writes the outcome into the manifest (C(verified), C(verified_at), C(verification)).
  - A truncated or altered file, a dump without its completion line, a restore that fails part way or a table
    that differs all fail with a message that names the problem, and mark the manifest C(verified=false).
  - A PostgreSQL backup (C(.pgdump)) is restored with C(pg_restore --single-transaction) into a scratch database
    (C(jmv_<hex>), needs CREATEDB), dropped after.
  - The restoring session sets C(check_constraint_checks=0), so rows whose C(CHECK (json_valid)) was bypassed load
    like every other row; events restored into the scratch schema are created disabled.
version_added: "0.2.0"
author: jsonmend maintainers (@jsonmend)
extends_documentation_fragment:
  - jsonmend_connection
  - jsonmend_load_streams
options:
  database:
    description: Database to connect to (any existing one; the scratch schema is created beside it).
  backup_dir:
    description: Directory holding the backup and its manifest.
    type: path
  backup_id:
    description:
      - Id of the backup (the file name without C(.sql.gz)), or V(latest) for the newest one of O(database) taken on
        the server this module connects to (by the server identity its manifest records; older manifests without
        one are used only when named by id).
    type: str
    default: latest
  manifest:
    description: Path of a manifest file, instead of O(backup_dir) and O(backup_id).
    type: path
  verify_skip_binlog:
    description: Keep the scratch restore out of the binary log (needs BINLOG ADMIN or SUPER).
    type: bool
    default: true
  dump_binary:
    description: Dump tool whose client to use when the manifest's client is missing.
    type: str
  client_binary:
    description: Client that loads the dump. Default, the one recorded in the manifest, else the vendor's.
    type: str
attributes:
  check_mode:
    support: full
    description: Checks the file against its manifest and reports; restores nothing and writes nothing.
  diff_mode:
    support: none
    description: Backups and restores have no before and after to show.
requirements:
  - PyMySQL (psycopg 3 for PostgreSQL) on the host that runs the module
  - the mariadb (or mysql) client on that host; pg_restore for PostgreSQL
"""

EXAMPLES = r"""
- name: Re-verify the backup a cleanup will rely on
  ansible.legacy.db_backup_verify:
    database: app
    backup_dir: /var/backups/jsonmend
    backup_id: backup_analytics_activityevent_20261126_231223
"""

RETURN = r"""
manifest:
  description: The manifest with the verification's outcome (C(verified), C(verified_at), C(verification)).
  returned: success
  type: dict
  sample: {id: backup_analytics_activityevent_20261126_231223, verified: true, verified_at: "2026-11-26T23:12:25Z",
           verification: {ok: true, scratch_schema: jmv_2f5d50979f9777fd, scratch_dropped: true,
                          tables: {analytics_activityevent: {rows: 54325, ok: true}}}}
"""

from ansible.module_utils.jsonmend.backup import manifests
from ansible.module_utils.jsonmend.backup.backups import TOOLS_ARGUMENT_SPEC
from ansible.module_utils.jsonmend.backup.verification import check_file, verify_backup
from ansible.module_utils.jsonmend.db import servers
from ansible.module_utils.jsonmend.db.connection import CONNECTION_ARGUMENT_SPEC
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.runner import failed, run_module


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(TOOLS_ARGUMENT_SPEC)
    spec.update(
        backup_dir=dict(type="path"),
        backup_id=dict(type="str", default="latest"),
        manifest=dict(type="path"),
    )
    return spec


def find_manifest(params):
    """The manifest named by the parameters."""
    if params["manifest"]:
        return manifests.read_manifest(params["manifest"])
    if not params["backup_dir"]:
        raise JsonmendError("give backup_dir (with backup_id) or manifest")
    if params["backup_id"] == manifests.LATEST:
        identity = servers.identity_for(params)["identity"]
        found, _problems = manifests.list_manifests(params["backup_dir"])
        found = [m for m in found if manifests.matches(m, database=params["database"], server=identity)]
        if not found:
            raise JsonmendError("no backup of database %s taken on server %s in %s" % (params["database"], identity, params["backup_dir"]))
        return found[0]
    return manifests.resolve(params["backup_dir"], params["backup_id"])


def work(module):
    params = module.params
    manifest = find_manifest(params)
    if module.check_mode:
        check_file(manifest)
        return dict(changed=True, manifest=manifest, msg="the file matches its manifest; would restore it into a scratch schema")
    return dict(changed=True, manifest=verify_backup(params, manifest))


def main():
    run_module(
        argument_spec(),
        work,
        what=lambda p: "verification of backup %s" % (p["manifest"] or p["backup_id"]),
        # verify_backup's own messages already name the backup.
        on_error=lambda what, exc, p: str(exc) if str(exc).startswith("verification of backup") else failed(what, str(exc)),
        mutually_exclusive=[("manifest", "backup_dir")],
    )


if __name__ == "__main__":
    main()

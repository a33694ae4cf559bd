# Prove a backup restores: its file against the manifest's sha256, a restore into a scratch
# schema, every table compared with the manifest, the outcome written into the manifest.
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.backup import clitools, manifests, parallel_load, pg_tools
from ansible.module_utils.jsonmend.backup.backups import check_skip_binlog, client_tools
from ansible.module_utils.jsonmend.backup.checksums import compare_checksums, table_checksum
from ansible.module_utils.jsonmend.db.clock import utc_iso
from ansible.module_utils.jsonmend.db.connection import connect, driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.errors import BackupDefect, JsonmendError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ansible.module_utils.jsonmend.db.connection import Database

SCRATCH_PREFIX = "jmv_"


def scratch_name(prefix: str, ident: str) -> str:
    """A scratch schema name that is unique per backup and attempt, within 64 characters."""
    digest = hashlib.sha1(("%s:%s:%s" % (ident, os.getpid(), time.time())).encode()).hexdigest()[:16]
    return prefix + digest


def check_file(manifest: Mapping[str, Any]) -> str:
    """Refuse a dump whose file is missing or differs from the manifest's sha256 (BackupDefect)."""
    path = manifest["path"]
    if not os.path.isfile(path):
        raise BackupDefect("dump file %s of backup %s does not exist" % (path, manifest["id"]))
    try:
        actual = clitools.file_sha256(path)
    except OSError as exc:
        raise JsonmendError("could not read the dump file %s of backup %s: %s" % (path, manifest["id"], exc)) from None
    if actual != manifest["sha256"]:
        raise BackupDefect(
            "dump file %s does not match its manifest: sha256 %s, manifest says %s (%d bytes, manifest says %s)."
            " The file was altered or truncated after the backup; do not restore it"
            % (path, actual, manifest["sha256"], os.path.getsize(path), manifest.get("size"))
        )
    return actual


def file_problem(manifest: Mapping[str, Any]) -> str | None:
    """Why a backup's dump cannot be counted as good (missing, wrong size, wrong sha256), or None."""
    path = manifest.get("path") or ""
    if not os.path.isfile(path):
        return "dump file %s does not exist" % path
    size = manifest.get("size")
    if size is not None and os.path.getsize(path) != size:
        # Cheaper than hashing: a file of the wrong size cannot have the right sha256.
        return "dump file %s holds %d bytes, its manifest says %s" % (path, os.path.getsize(path), size)
    try:
        check_file(manifest)
    except JsonmendError as exc:
        return str(exc)
    return None


def compare_tables(db: Database, manifest: Mapping[str, Any], database: str, tables: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """{table: {rows, checksum, ok, problem}} of `database` against the manifest."""
    report = {}
    for t in tables or manifest["tables"]:
        expected = dict(rows=manifest["rows"].get(t), checksum=manifest["checksum"].get(t))
        try:
            actual = table_checksum(db, t, columns=manifest.get("columns", {}).get(t), database=database)
        except JsonmendError as exc:
            report[t] = dict(rows=None, checksum=None, ok=False, problem=str(exc))
            continue
        problem = compare_checksums(expected, actual)
        report[t] = dict(rows=actual["rows"], checksum=actual["checksum"], ok=problem is None, problem=problem)
    return report


def verify_backup(params: Mapping[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """Restore the dump into a scratch schema, compare every table with the manifest, drop the
    scratch schema, and record the outcome in the manifest (verified true or false).

    Returns the updated manifest; raises JsonmendError (after recording it) when it fails.
    """
    started = time.monotonic()
    skip_binlog = bool(params.get("verify_skip_binlog", True))
    verification = dict(started_at=utc_iso(), skip_binlog=skip_binlog)
    db = connect(params)
    try:
        check_file(manifest)
        verification["file_checked"] = True
        if manifests.dump_suffix(manifest) == manifests.PG_DUMP_SUFFIX:
            _verify_postgres(db, params, manifest, verification)
        else:
            _verify_mysql(db, params, manifest, verification)
    except (JsonmendError, OSError) + driver_error_types() as exc:
        message = driver_message(exc) if isinstance(exc, driver_error_types()) else str(exc)
        verification.update(ok=False, error=message, duration_s=round(time.monotonic() - started, 3))
        if manifest.get("verified") and not isinstance(exc, BackupDefect):
            # Nothing speaks against the backup itself (its file, or what its restore held):
            # the machine or server failed (disk full, client missing, connection lost). A good
            # backup stays verified; the failed attempt is recorded beside its proof.
            verification["backup_defect"] = False
            manifest = dict(manifest, last_failed_verification=verification)
            _save_verification(manifest)
            raise JsonmendError(
                "re-verification of backup %s could not run: %s. The backup stays verified (proven at %s%s): nothing in this"
                " failure speaks against the backup itself; fix the cause and verify again"
                % (manifest["id"], message, manifest.get("verified_at"), "; its file still has its sha256" if verification.get("file_checked") else "")
            ) from None
        verification["backup_defect"] = isinstance(exc, BackupDefect)
        manifest = dict(manifest, verified=False, verified_at=None, verification=verification)
        _save_verification(manifest)
        raise JsonmendError("verification of backup %s failed: %s" % (manifest["id"], message)) from None
    finally:
        db.close()
    verification.update(ok=True, duration_s=round(time.monotonic() - started, 3))
    manifest = dict(manifest, verified=True, verified_at=utc_iso(), verification=verification)
    manifest.pop("last_failed_verification", None)
    _save_verification(manifest)
    return manifest


def _save_verification(manifest):
    if os.path.isfile(manifest["manifest_path"]):
        manifests.write_manifest(manifest, manifest["manifest_path"])


def _verify_mysql(db: Database, params: Mapping[str, Any], manifest: Mapping[str, Any], verification: dict[str, Any]) -> None:
    """Load a mariadb-dump/mysqldump file into a scratch schema with the matching client and compare;
    the scratch schema is always dropped. Records into `verification`; BackupDefect when it differs."""
    skip_binlog = verification["skip_binlog"]
    scratch = None
    try:
        if skip_binlog:
            skip_binlog = check_skip_binlog(db)
            verification["skip_binlog"] = skip_binlog
        if skip_binlog:
            db.query("SET SESSION sql_log_bin = 0")
        stale = [
            r[0] for r in db.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s", (SCRATCH_PREFIX.replace("_", "\\_") + "%",))
        ]
        if stale:
            verification["stale_scratch_schemas"] = stale
        scratch = scratch_name(SCRATCH_PREFIX, manifest["id"])
        charset = db.query_one("SELECT @@character_set_server, @@collation_server")
        source = db.query_one(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
            (manifest["database"],),
        )
        cs, coll = source or charset
        db.query("CREATE DATABASE %s CHARACTER SET %s COLLATE %s" % (db.dialect.q(scratch), cs, coll))
        verification["scratch_schema"] = scratch
        client = client_tools(params.get("dump_binary"), params.get("client_binary"), db.dialect.name)
        options = clitools.connection_options(db.conn, params)
        groups = clitools.client_option_groups(skip_binlog, db.dialect.name)
        streams = parallel_load.plan_streams(db, params.get("load_streams") or 0)
        with clitools.OptionFile(options, groups=groups) as option_file:
            loaded = parallel_load.load_dump(manifest["path"], clitools.client_command(client, option_file, scratch), streams, disable_events=True)
        verification["streams"] = loaded["streams"]
        verification["parallel_retried"] = bool(loaded.get("parallel_retried"))
        verification["client"] = clitools.tool_version(client)
        verification["uncompressed_size"] = loaded["uncompressed_size"]
        report = compare_tables(db, manifest, scratch)
        verification["tables"] = report
        bad = ["%s: %s" % (t, r["problem"]) for t, r in report.items() if not r["ok"]]
        if bad:
            raise BackupDefect("the restored copy differs from the manifest: " + "; ".join(bad))
        if loaded["uncompressed_size"] != manifest.get("uncompressed_size"):
            raise BackupDefect("the dump holds %d bytes of SQL, the manifest says %s" % (loaded["uncompressed_size"], manifest.get("uncompressed_size")))
    finally:
        if scratch is not None:
            _drop_scratch(db, "DROP DATABASE IF EXISTS %s" % db.dialect.q(scratch), verification)


def _drop_scratch(db: Database, statement: str, verification: dict[str, Any]) -> None:
    """Drop the scratch schema or database (always, also after a failure); a failure to drop is recorded, never raised."""
    try:
        db.query(statement)
        verification["scratch_dropped"] = True
    except driver_error_types() as exc:
        verification["scratch_dropped"] = False
        verification["drop_error"] = driver_message(exc)


def _verify_postgres(db: Database, params: Mapping[str, Any], manifest: Mapping[str, Any], verification: dict[str, Any]) -> None:
    """pg_restore the custom dump into a new scratch database in one transaction, compare every table
    (schema.table, as the manifest names them) and drop the database (always). A scratch restore is
    written to the WAL like any write: physical standbys copy it until it is dropped."""
    d = db.dialect
    verification["skip_binlog"] = False
    tools = pg_tools.PgTools(d.major, params.get("dump_binary"), params.get("client_binary"))
    db.conn.autocommit = True  # CREATE and DROP DATABASE run outside a transaction
    stale = [r[0] for r in db.query("SELECT datname FROM pg_database WHERE datname LIKE %s", (SCRATCH_PREFIX.replace("_", "\\_") + "%",))]
    if stale:
        verification["stale_scratch_databases"] = stale
    encoding, collate, ctype = db.query_one("SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = current_database()")
    scratch = scratch_name(SCRATCH_PREFIX, manifest["id"])
    db.query(
        "CREATE DATABASE %s TEMPLATE template0 ENCODING %s LC_COLLATE %s LC_CTYPE %s"
        % (d.qn(scratch), d.quote_literal(encoding), d.quote_literal(collate), d.quote_literal(ctype))
    )
    verification["scratch_database"] = scratch
    try:
        copy = connect(dict(params, database=scratch), autocommit=True)
        try:
            if manifest["scope"] == "table":
                # A table dump holds no CREATE SCHEMA: the tables' schemas are made first.
                for schema in sorted(set(d.split_table(t)[0] for t in manifest["tables"])):
                    copy.query("CREATE SCHEMA IF NOT EXISTS %s" % d.qn(schema))
            with tempfile.TemporaryDirectory(prefix="jsonmend-") as private:
                use_list = None
                if manifest["scope"] == "table":
                    # Triggers and foreign keys name objects a table dump does not hold (pg_tools.SCRATCH_LEFT_OUT).
                    use_list = os.path.join(private, "toc.list")
                    left_out = pg_tools.scratch_list(tools.client, manifest["path"], use_list)
                    if left_out:
                        verification["left_out"] = left_out
                command = pg_tools.restore_command(tools.client, pg_tools.conninfo(copy, params), manifest["path"], scratch=True, use_list=use_list)
                pg_tools.run_tool(
                    command, pg_tools.connection_password(copy), "pg_restore of backup %s into the scratch database %s" % (manifest["id"], scratch)
                )
            verification["client"] = tools.client_version
            report = compare_tables(copy, manifest, scratch)
        finally:
            copy.close()
    finally:
        _drop_scratch(db, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % d.qn(scratch), verification)
    verification["tables"] = report
    bad = ["%s: %s" % (t, r["problem"]) for t, r in report.items() if not r["ok"]]
    if bad:
        raise BackupDefect("the restored copy differs from the manifest: " + "; ".join(bad))

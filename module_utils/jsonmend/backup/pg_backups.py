# Take a PostgreSQL backup: pg_dump's custom format of a table or a database, with every table's
# row count and checksum read in the very snapshot pg_dump reads (our REPEATABLE READ transaction
# exports it, pg_dump imports it with --snapshot), and the same manifest as the MySQL family's.
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.backup import manifests, pg_tools, ranges
from ansible.module_utils.jsonmend.backup.checksums import table_checksum
from ansible.module_utils.jsonmend.backup.clitools import file_sha256
from ansible.module_utils.jsonmend.backup.plans import (
    LOCAL_HOSTS,
    CatalogTotals,
    check_free_space,
    common_manifest,
    create_backup_dir,
    describe_plan,
    directory_warnings,
    free_bytes,
    json_value,
    plan_files,
    publish,
    require_scratch_room,
    scratch_bytes,
)
from ansible.module_utils.jsonmend.db.connection import connect, driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import validate_identifier, validate_table
from ansible.module_utils.jsonmend.db.servers import read_identity

if TYPE_CHECKING:
    import datetime
    from collections.abc import Mapping

    from ansible.module_utils.jsonmend.db.connection import Database

# Schemas no backup holds: the system catalogs, and pg_toast / pg_temp_* (LIKE 'pg\_%').
SYSTEM_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'"
RELATIONS = " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
SNAPSHOT_METHOD = "pg_export_snapshot() of our REPEATABLE READ transaction, imported by pg_dump --snapshot: no write is paused"


def qualified(table: str) -> str:
    """schema.table, `public` when the name gives no schema: how a PostgreSQL manifest names tables."""
    schema, _dot, name = table.rpartition(".")
    return "%s.%s" % (schema or "public", name)


class PgCatalog(CatalogTotals):
    """What a PostgreSQL backup holds: its tables (schema.table), sizes, keys, triggers, other objects."""

    def _read(self, db: Database, cur: Any, scope: str, table: str) -> None:
        d, database = db.dialect, self.database
        if scope == "table":
            where, args = " AND n.nspname = %s AND c.relname = %s", d.split_table(table)
        else:
            where, args = " AND " + SYSTEM_SCHEMAS, ()
        rows = db.query(
            "SELECT n.nspname || '.' || c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid), GREATEST(c.reltuples, 0)::bigint"
            + RELATIONS
            + " WHERE c.relkind IN ('r', 'p')"
            + where
            + " ORDER BY 1",
            args,
        )
        if scope == "table" and not rows:
            raise d.table_missing(cur, database, table)
        self.tables = [r[0] for r in rows]
        self.data_bytes = dict((r[0], int(r[1] or 0)) for r in rows)
        self.index_bytes = dict((r[0], int(r[2] or 0)) for r in rows)
        self.estimated_rows = dict((r[0], int(r[3] or 0)) for r in rows)
        self.engines = dict((t, "heap") for t in self.tables)
        self.non_transactional = []
        self._read_keys(db, cur)
        self.triggers = {}
        for t in self.tables:
            names = sorted(set(name for name, _timing, _event in d.triggers(cur, database, t)))
            if names:
                self.triggers[t] = names
        others = db.query(
            "SELECT c.relkind, n.nspname || '.' || c.relname" + RELATIONS + " WHERE c.relkind IN ('v', 'm', 'S') AND " + SYSTEM_SCHEMAS + " ORDER BY 2"
        )
        self.views = [name for kind, name in others if kind in ("v", "m")]
        self.sequences = [name for kind, name in others if kind == "S"]
        self.routines = int(
            db.query_one("SELECT COUNT(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE " + SYSTEM_SCHEMAS)[0]
            if scope == "database"
            else 0
        )
        self.events = 0
        self.charset, self.collation = db.query_one("SELECT pg_encoding_to_char(encoding), datcollate FROM pg_database WHERE datname = current_database()")


def check_scratch_privilege(db: Database) -> None:
    """The verification restores into a scratch database: refuse before writing when the role may not create one."""
    user, allowed = db.query_one("SELECT current_user, rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
    if not allowed:
        raise JsonmendError(
            "the verification restores the dump into a scratch database (jmv_<hex>, dropped after), which needs the CREATEDB"
            " privilege: run ALTER ROLE %s CREATEDB, or set backup_verify: false and verify later; nothing was written" % db.dialect.qn(user)
        )


def connection_is_local(db: Database) -> bool:
    """A Unix socket (libpq's host is then its directory) or a loopback address."""
    host = getattr(getattr(db.conn, "info", None), "host", None) or ""
    return host.startswith("/") or host in LOCAL_HOSTS


def check_server_space(db: Database, catalog: PgCatalog) -> dict[str, Any]:
    """Room in the server's data directory for the scratch database, when it is visible from here.

    The scratch database is created in the default tablespace (the data directory's base/) and
    holds the tables' data and indexes once more. Only a local server's directory is this host's
    (a remote one could share its path by chance), and only a superuser or pg_read_all_settings
    may read data_directory: otherwise the plan says why it was not checked.
    """
    if not connection_is_local(db):
        return dict(checked=False, reason="server is remote")
    allowed = db.query_one("SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_settings', 'USAGE') FROM pg_roles WHERE rolname = current_user")
    if not allowed or not allowed[0]:
        return dict(checked=False, reason="data_directory not readable by this role (superuser or pg_read_all_settings)")
    datadir = db.query_one("SELECT current_setting('data_directory')")[0]
    try:
        free = free_bytes(datadir)
    except (OSError, TypeError):
        return dict(checked=False, reason="data directory not readable from here")
    return require_scratch_room("the server's data directory %s" % datadir, free, scratch_bytes(catalog))


def plan_backup(db: Database, params: Mapping[str, Any], now: datetime.datetime) -> dict[str, Any]:
    """Everything checked before a single byte is written (inputs, directory, space, tools, privilege); the plan."""
    validate_identifier(params["database"], "database")
    validate_table(params["table"], "table", "postgresql")
    table = qualified(params["table"])
    scope = params["scope"]
    files = plan_files(params, table.replace(".", "_") if scope == "table" else "", now, manifests.PG_DUMP_SUFFIX)
    catalog = PgCatalog(db, params["database"], scope, table)
    space = check_free_space(files["space_dir"], catalog, params["space_factor"])
    server_space = dict(checked=False, reason="no verification")
    if params.get("verify"):
        check_scratch_privilege(db)
        server_space = check_server_space(db, catalog)
    tools = pg_tools.PgTools(db.dialect.major, params.get("dump_binary"), params.get("client_binary"))
    return dict(
        files,
        create_dir=files["dir_mode"] is None,
        catalog=catalog,
        tools=tools,
        space=space,
        server_space=server_space,
        warnings=directory_warnings(params["backup_dir"], files["dir_mode"]),
    )


def _read_sums(snap: Database, catalog: PgCatalog, results: dict[str, Any], digest_file: ranges.DigestFile | None = None) -> None:
    """Counts, checksums and key bounds of every table, in the exported snapshot (a thread beside pg_dump);
    with a digest file, a table with a single-column key is read range by range in key order instead
    (ranges.py), which gives the same count and checksum in the same one read, as on MariaDB."""
    try:
        d = snap.dialect
        for t in catalog.tables:
            key = catalog.keys.get(t)
            if key and digest_file is not None:
                result = ranges.write_table_digests(snap, catalog.database, t, key["column"], digest_file, catalog.estimated_rows.get(t, 0))
                low, high = result.pop("bounds")
                result["key"] = dict(column=key["column"], integer=key["integer"], min=json_value(low), max=json_value(high))
                results[t] = result
                continue
            result = table_checksum(snap, t)
            if key:
                key_sql = d.qn(key["column"])
                schema, name = d.split_table(t)
                # The key's index from each end: no MIN or MAX exists for a uuid or bytea key.
                source = "%s.%s" % (d.qn(schema), d.qn(name))
                low, high = snap.query_one(
                    "SELECT (SELECT %s FROM %s ORDER BY 1 LIMIT 1), (SELECT %s FROM %s ORDER BY 1 DESC LIMIT 1)" % (key_sql, source, key_sql, source)
                )
                result["key"] = dict(column=key["column"], integer=key["integer"], min=json_value(low), max=json_value(high))
            results[t] = result
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        results["__error__"] = exc


def redacted(cmd: list[str]) -> list[str]:
    """The dump's argv for the manifest: the tool's name, and no connection string."""
    return [os.path.basename(cmd[0])] + ["--dbname=<the module's connection>" if arg.startswith("--dbname=") else arg for arg in cmd[1:]]


def take_backup(
    db: Database, params: Mapping[str, Any], check_mode: bool, own_db: bool, now: datetime.datetime, started: float
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """backups.take_backup() on PostgreSQL: (manifest, plan description); nothing written in check mode."""
    try:
        plan = plan_backup(db, params, now)
        d = db.dialect
        server = dict(flavour=d.name, version=d.version, major=d.major)
        server.update(read_identity(db))
        connection = pg_tools.conninfo(db, params)
        password = pg_tools.connection_password(db)
        described = describe_plan(plan, params)
        if check_mode:
            return None, described
    finally:
        if own_db:
            db.close()
    if plan["create_dir"]:
        create_backup_dir(params["backup_dir"])
    catalog, tools = plan["catalog"], plan["tools"]
    partial = plan["path"] + ".partial"
    digests_partial = plan["digests_path"] + ".partial"
    keep_digests = bool(params.get("row_digests", True)) and bool(catalog.keys)
    results = {}
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # pg_dump writes into it, keeping 0600
    digest_handle = None
    try:
        if keep_digests:
            digest_handle = os.fdopen(os.open(digests_partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        snap = connect(params, autocommit=True)
    except BaseException:
        if digest_handle is not None:
            digest_handle.close()
        for path in (partial, digests_partial):
            if os.path.exists(path):
                os.unlink(path)
        raise
    digest_file = ranges.DigestFile(digest_handle) if keep_digests else None
    reader = threading.Thread(target=_read_sums, args=(snap, catalog, results, digest_file), daemon=True)
    try:
        snap.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = snap.query_one("SELECT pg_export_snapshot()")[0]
        lsn = snap.query_one("SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text")[0]
        reader.start()
        what = "pg_dump of %s" % (params["database"] if params["scope"] == "database" else ", ".join(catalog.tables))
        cmd = pg_tools.dump_command(
            tools.dump, connection, partial, params["scope"], catalog.tables, snapshot, params["compress_level"], params.get("lock_wait_timeout", 5)
        )
        # Our transaction stays open until pg_dump has finished: its snapshot lives as long as it does.
        dumped = pg_tools.run_tool(cmd, password, what)
        reader.join()
        if "__error__" in results:
            exc = results["__error__"]
            if isinstance(exc, JsonmendError):
                raise exc
            raise JsonmendError("reading row counts and checksums in the snapshot failed: %s" % driver_message(exc))
        entries = pg_tools.archive_entries(tools.client, partial)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        if digest_handle is not None:
            digest_handle.flush()
            os.fsync(digest_handle.fileno())
            digest_handle.close()
    except BaseException as exc:
        # A read in the snapshot that failed first ends the exported snapshot, and so pg_dump: say why.
        read_failed = not reader.is_alive() and "__error__" in results and results["__error__"] is not exc
        if reader.is_alive():
            snap.conn.cancel()
            reader.join(30)
        if digest_handle is not None:
            digest_handle.close()
        for path in (partial, digests_partial):
            if os.path.exists(path):
                os.unlink(path)
        if read_failed and isinstance(exc, JsonmendError):
            cause = results["__error__"]
            raise JsonmendError("reading row counts and checksums in the snapshot failed: %s (%s)" % (driver_message(cause), exc)) from cause
        raise
    finally:
        try:
            snap.query("ROLLBACK")
        except driver_error_types():
            pass
        snap.close()
    publish([(partial, plan["path"])] + ([(digests_partial, plan["digests_path"])] if keep_digests else []), params["backup_dir"])
    manifest = common_manifest(plan, params, catalog, results, server, now, started)
    manifest.update(
        # Per-key-range sums and the per-row digests file they index, as on MariaDB (ranges.py).
        digests_path=plan["digests_path"] if keep_digests else None,
        ranges=dict((t, results[t]["ranges"]) for t in catalog.tables if "ranges" in results[t]),
        digests=dict(file=os.path.basename(plan["digests_path"]), size=digest_file.offset, sha256=digest_file.sha.hexdigest()) if keep_digests else None,
        binlog=dict(enabled=False),
        wal=dict(lsn=lsn),
        snapshot=dict(method=SNAPSHOT_METHOD, exported=snapshot, writes_paused_ms=0.0),
        dump=dict(
            format=manifests.PG_DUMP_FORMAT,
            command=redacted(cmd),
            toc_entries=entries,
            compression="pg_dump custom format (zlib)",
            compress_level=params["compress_level"],
            stderr=dumped["stderr"],
        ),
        restore=dict(
            client=tools.client_version,
            session=None,
            note="Load with pg_restore of PostgreSQL %d or newer: --single-transaction --clean --if-exists in place, or into a new database" % tools.dump_major,
        ),
        size=os.path.getsize(plan["path"]),
        uncompressed_size=None,
        sha256=file_sha256(plan["path"]),
    )
    manifests.write_manifest(manifest, plan["manifest_path"], create=True)
    return manifest, described

# Take a backup: check everything first, pause writes for the snapshot, dump, checksum in the
# same snapshot, write the manifest (MySQL family; PostgreSQL's in pg_backups.py, shared parts in plans.py).
# The dump tool's client, used by verification.py and restores.py, is found here too.
from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.backup import clitools, manifests, pg_backups, ranges
from ansible.module_utils.jsonmend.backup.checksums import table_checksum
from ansible.module_utils.jsonmend.backup.plans import (
    LOCAL_HOSTS,
    SCOPES,
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
from ansible.module_utils.jsonmend.backup.snapshot import AlignedSnapshot
from ansible.module_utils.jsonmend.db.clock import utc_now
from ansible.module_utils.jsonmend.db.connection import connect, driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.errors import JsonmendError, table_missing
from ansible.module_utils.jsonmend.db.identifiers import validate_identifier
from ansible.module_utils.jsonmend.db.servers import read_identity

if TYPE_CHECKING:
    import datetime
    from collections.abc import Mapping

    from ansible.module_utils.jsonmend.db.connection import Database

TRANSACTIONAL_ENGINES = ("innodb",)

# Options shared by the backup modules, on top of the connection and target specs.
TOOLS_ARGUMENT_SPEC = dict(
    dump_binary=dict(type="str"),
    client_binary=dict(type="str"),
    verify_skip_binlog=dict(type="bool", default=True),
    load_streams=dict(type="int", default=0),
)

# Taking a backup (db_backup, and db_restore's safety backup).
BACKUP_ARGUMENT_SPEC = dict(
    backup_dir=dict(type="path", required=True),
    create_dir=dict(type="bool", default=False),
    scope=dict(type="str", default="table", choices=list(SCOPES)),
    label=dict(type="str"),
    verify=dict(type="bool", default=True),
    row_digests=dict(type="bool", default=True),
    compress_level=dict(type="int", default=1),
    space_factor=dict(type="float", default=1.0),
    lock_wait_timeout=dict(type="int", default=5),
    lock_retries=dict(type="int", default=3),
    snapshot_timeout=dict(type="int", default=120),
    run_id=dict(type="str"),
)
BACKUP_ARGUMENT_SPEC.update(TOOLS_ARGUMENT_SPEC)


def connection_is_local(db: Database) -> bool:
    conn = db.conn
    return bool(getattr(conn, "unix_socket", None)) or getattr(conn, "host", "") in LOCAL_HOSTS


class Catalog(CatalogTotals):
    """What the backup will hold: tables, their sizes, engines, keys, triggers and other objects."""

    def _read(self, db: Database, cur: Any, scope: str, table: str) -> None:
        d, database = db.dialect, self.database
        if not d.database_exists(cur, database):
            raise JsonmendError("database %r does not exist on the server" % database)
        rows = db.query(
            "SELECT TABLE_NAME, TABLE_TYPE, LOWER(IFNULL(ENGINE, '')), IFNULL(DATA_LENGTH, 0), IFNULL(INDEX_LENGTH, 0), IFNULL(TABLE_ROWS, 0)"
            " FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
            (database,),
        )
        info = dict((r[0], r) for r in rows)
        if scope == "table":
            if table not in info:
                raise table_missing(database, table)
            if info[table][1] != "BASE TABLE":
                raise JsonmendError("%s.%s is a %s, not a table" % (database, table, info[table][1].lower()))
            names = [table]
        else:
            names = [r[0] for r in rows if r[1] == "BASE TABLE"]
        self.tables = names
        self.views = [r[0] for r in rows if r[1] == "VIEW"]
        self.sequences = [r[0] for r in rows if r[1] == "SEQUENCE"]
        self.engines = dict((t, info[t][2]) for t in names)
        self.data_bytes = dict((t, int(info[t][3])) for t in names)
        self.index_bytes = dict((t, int(info[t][4])) for t in names)
        self.estimated_rows = dict((t, int(info[t][5])) for t in names)
        self.non_transactional = [t for t in names if self.engines[t] not in TRANSACTIONAL_ENGINES]
        self.triggers = {}
        for name, trigger_table in db.query(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s ORDER BY TRIGGER_NAME", (database,)
        ):
            if trigger_table in names:
                self.triggers.setdefault(trigger_table, []).append(name)
        self._read_keys(db, cur)
        self.routines = self.events = 0
        if scope == "database":
            self.routines = int(db.query_one("SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s", (database,))[0])
            self.events = int(db.query_one("SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s", (database,))[0])
        charset = db.query_one("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
        self.charset, self.collation = charset


def check_server_space(db: Database, catalog: Catalog) -> dict[str, Any]:
    """Room on the server for the scratch copy, when the datadir is visible from here."""
    if not connection_is_local(db):
        return dict(checked=False, reason="server is remote")
    try:
        datadir = db.query_one("SELECT @@datadir")[0]
        free = free_bytes(datadir)
    except (OSError, TypeError) + driver_error_types():
        return dict(checked=False, reason="datadir not readable from here")
    return require_scratch_room("the server's datadir %s" % datadir, free, scratch_bytes(catalog))


class Tools:
    """The dump tool and its matching client, with their versions."""

    def __init__(self, server_flavour: str, dump_binary: str | None = None, client_binary: str | None = None) -> None:
        self.dump = clitools.find_tool(clitools.dump_tool_names(server_flavour), dump_binary)
        self.dump_version = clitools.tool_version(self.dump)
        self.flavour = clitools.tool_flavour(self.dump_version)
        self.client = clitools.find_tool((), client_binary) if client_binary else clitools.client_tool_for(self.dump, self.flavour)
        self.client_version = clitools.tool_version(self.client)

    def describe(self) -> dict[str, dict[str, str]]:
        return dict(
            dump=dict(path=self.dump, version=self.dump_version, flavour=self.flavour),
            client=dict(path=self.client, version=self.client_version),
        )


def client_tools(dump_binary: str | None = None, client_binary: str | None = None, server_flavour: str = "mariadb") -> str:
    """The client that loads a dump: the one configured, else the vendor's from PATH.

    Never the one a manifest records (tools.client.path is information only): whoever can write
    a manifest would otherwise choose the program that receives the password's option file.
    """
    if client_binary:
        return clitools.find_tool((), client_binary)
    return Tools(server_flavour, dump_binary).client


def binlog_enabled(db: Database) -> bool:
    try:
        return bool(int(db.query_one("SELECT @@GLOBAL.log_bin")[0] or 0))
    except driver_error_types():
        return True  # assume it is, and let the privilege check speak


def check_skip_binlog(db: Database) -> bool:
    """Can this session keep its writes out of the binary log? Refuse clearly when not.

    Returns False (nothing to skip) when the server writes no binary log."""
    if not binlog_enabled(db):
        return False
    try:
        db.query("SET SESSION sql_log_bin = 0")
        db.query("SET SESSION sql_log_bin = 1")
    except driver_error_types() as exc:
        raise JsonmendError(
            "the verification restores into a scratch schema without writing the binary log (so replicas do not"
            " copy it), which needs the BINLOG ADMIN or SUPER privilege: %s. Grant it, or set"
            " backup_verify_skip_binlog: false to let the scratch restore replicate" % driver_message(exc)
        ) from None
    return True


# -- taking a backup -----------------------------------------------------------------
def plan_backup(db: Database, params: Mapping[str, Any], now: datetime.datetime) -> dict[str, Any]:
    """Everything checked before a single byte is written; returns the plan."""
    database, scope, table = params["database"], params["scope"], params["table"]
    validate_identifier(database, "database")
    validate_identifier(table, "table")
    files = plan_files(params, table if scope == "table" else "", now)
    catalog = Catalog(db, database, scope, table)
    space = check_free_space(files["space_dir"], catalog, params["space_factor"])
    server_space = check_server_space(db, catalog) if params.get("verify") else dict(checked=False, reason="no verification")
    if params.get("verify") and params.get("verify_skip_binlog"):
        check_skip_binlog(db)
    tools = Tools(db.dialect.name, params.get("dump_binary"), params.get("client_binary"))
    warnings = directory_warnings(params["backup_dir"], files["dir_mode"])
    if catalog.non_transactional:
        warnings.append(
            "tables %s are not InnoDB: writes to the dumped tables stay paused for the whole dump so they are consistent" % ", ".join(catalog.non_transactional)
        )
    return dict(
        id=files["id"],
        label=files["label"],
        create_dir=files["dir_mode"] is None,
        path=files["path"],
        manifest_path=files["manifest_path"],
        digests_path=files["digests_path"],
        catalog=catalog,
        tools=tools,
        space=space,
        server_space=server_space,
        warnings=warnings,
    )


def _snapshot_reader(snap, catalog, results, digest_file=None):
    """Counts, checksums and key bounds of every table, inside the aligned snapshot; with a
    digest file, each table with a single-column key is read range by range in key order
    (ranges.py) instead, which gives the same count and checksum in the same one read."""
    try:
        snap.binlog_position()
        d = snap.db.dialect
        for t in catalog.tables:
            key = catalog.keys.get(t)
            if key and digest_file is not None:
                result = ranges.write_table_digests(snap.db, catalog.database, t, key["column"], digest_file, catalog.estimated_rows.get(t, 0))
                low, high = result.pop("bounds")
            else:
                result = table_checksum(snap.db, t, database=catalog.database)
                if key:
                    # Names from the catalog: quoted, a hyphen or an accent is no reason to refuse.
                    key_sql = d.qn(key["column"])
                    low, high = snap.db.query_one("SELECT MIN(%s), MAX(%s) FROM %s.%s" % (key_sql, key_sql, d.qn(catalog.database), d.qn(t)))
            if key:
                result["key"] = dict(column=key["column"], integer=key["integer"], min=json_value(low), max=json_value(high))
            results[t] = result
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        results["__error__"] = exc


def take_backup(params: Mapping[str, Any], check_mode: bool = False, db: Database | None = None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Take one consistent, checksummed backup; verification.verify_backup() proves it.

    With params['verify'], the plan also checks what the verification will need (room for the
    scratch copy, the privilege to keep it out of the binary log) before anything is written.

    Returns (manifest, plan description). Raises JsonmendError before writing anything when
    an input or a precondition is wrong; removes partial files when the dump fails.
    """
    started = time.monotonic()
    now = utc_now()
    own_db = db is None
    db = db or connect(params)
    if db.dialect.name == "postgresql":
        # pg_dump's custom format, its snapshot shared with our checksums (pg_backups.py).
        return pg_backups.take_backup(db, params, check_mode, own_db, now, started)
    try:
        plan = plan_backup(db, params, now)
        catalog, tools = plan["catalog"], plan["tools"]
        options = clitools.connection_options(db.conn, params)
        server = dict(flavour=db.dialect.name, version=db.dialect.version)
        # The backup is bound to this server (servers.py): restores, comparisons and retention check it.
        server.update(read_identity(db))
        described = describe_plan(plan, params)
        if check_mode:
            return None, described
    finally:
        if own_db:
            db.close()

    if plan["create_dir"]:
        create_backup_dir(params["backup_dir"])
    partial = plan["path"] + ".partial"
    digests_partial = plan["digests_path"] + ".partial"
    keep_digests = bool(params.get("row_digests", True)) and bool(catalog.keys)
    snap = AlignedSnapshot(params, catalog.database, catalog.tables, params["lock_wait_timeout"], params.get("lock_retries", 3))
    results = {}
    stats = {}
    digest_handle = os.fdopen(os.open(digests_partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") if keep_digests else None
    digest_file = ranges.DigestFile(digest_handle) if keep_digests else None
    reader = threading.Thread(target=_snapshot_reader, args=(snap, catalog, results, digest_file), daemon=True)
    try:
        if catalog.tables:
            snap.open()
            reader.start()
        hold_whole_dump = bool(catalog.non_transactional)
        with clitools.OptionFile(options) as option_file:
            cmd = clitools.dump_command(tools.dump, option_file, catalog.database, catalog.tables, params["scope"], tools.flavour)
            stats = clitools.run_dump(
                cmd,
                partial,
                compress_level=params["compress_level"],
                on_snapshot=None if hold_whole_dump else snap.release,
                snapshot_timeout=params.get("snapshot_timeout", 120),
            )
        snap.release()
        if catalog.tables:
            reader.join()
        if "__error__" in results:
            exc = results["__error__"]
            if isinstance(exc, JsonmendError):
                raise exc
            raise JsonmendError("reading row counts and checksums in the snapshot failed: %s" % driver_message(exc))
        if digest_handle is not None:
            digest_handle.flush()
            os.fsync(digest_handle.fileno())
            digest_handle.close()
    except BaseException:
        if reader.is_alive():
            snap.cancel()
            reader.join(30)
        snap.close()
        if digest_handle is not None:
            digest_handle.close()
        for path in (partial, digests_partial):
            if os.path.exists(path):
                os.unlink(path)
        raise
    snap.close()
    finals = [(partial, plan["path"])] + ([(digests_partial, plan["digests_path"])] if keep_digests else [])
    publish(finals, params["backup_dir"])

    first_line = stats.get("first_line", "")
    manifest = common_manifest(plan, params, catalog, results, server, now, started)
    manifest.update(
        digests_path=plan["digests_path"] if keep_digests else None,
        # Per-key-range sums (what a restore would change is counted against them, ranges.py)
        # and the per-row digests file they index, checked by its sha256 before use.
        ranges=dict((t, results[t]["ranges"]) for t in catalog.tables if "ranges" in results[t]),
        digests=dict(file=os.path.basename(plan["digests_path"]), size=digest_file.offset, sha256=digest_file.sha.hexdigest()) if keep_digests else None,
        binlog=snap.binlog or dict(enabled=False),
        snapshot=dict(
            method="LOCK TABLES ... READ from our snapshot until the dump tool's snapshot opened"
            if not catalog.non_transactional
            else "LOCK TABLES ... READ for the whole dump (non-InnoDB tables)",
            writes_paused_ms=round((snap.held_s or 0) * 1000, 1),
        ),
        dump=dict(
            command=[os.path.basename(cmd[0])] + list(cmd[2:]),
            first_line=first_line,
            sandbox_mode="sandbox mode" in first_line,
            compression="gzip",
            compress_level=params["compress_level"],
            stderr=stats.get("stderr", ""),
        ),
        restore=dict(
            client=tools.client_version,
            session=clitools.restore_init_command(False, server["flavour"]),
            note=(
                "Load with the client above (or a newer one of the same vendor): the first line is mariadb-dump's sandbox-mode"
                " command, which clients older than MariaDB 10.5.25/10.6.18/10.11.8 reject. The session must set"
                " check_constraint_checks=0 or rows whose CHECK (json_valid) was bypassed stop the load."
            )
            if "sandbox mode" in first_line
            else "Load with the client above; the session must set check_constraint_checks=0 on MariaDB."
            if server["flavour"] == "mariadb"
            else "Load with the client above; MySQL needs no session setting (its CHECK constraints cannot be bypassed).",
        ),
        size=stats["size"],
        uncompressed_size=stats["uncompressed_size"],
        sha256=stats["sha256"],
        duration_s=round(time.monotonic() - started, 3),
    )
    manifests.write_manifest(manifest, plan["manifest_path"], create=True)
    return manifest, described

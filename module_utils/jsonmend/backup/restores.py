# Restore a table or database in place from a verified backup: refuse what cannot be proven,
# keep a safety backup, load the dump, compare every table with the manifest.
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.backup import clitools, manifests, parallel_load, pg_tools, ranges
from ansible.module_utils.jsonmend.backup.backups import client_tools, take_backup
from ansible.module_utils.jsonmend.backup.pg_backups import qualified as pg_qualified
from ansible.module_utils.jsonmend.backup.plans import SCOPES, check_backup_dir
from ansible.module_utils.jsonmend.backup.verification import check_file, compare_tables, verify_backup
from ansible.module_utils.jsonmend.db import servers
from ansible.module_utils.jsonmend.db.connection import connect, detect_flavour
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import validate_identifier, validate_table
from ansible.module_utils.jsonmend.db.locks import AdvisoryLock, table_lock_name

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from ansible.module_utils.jsonmend.db.connection import Database


def live_state(db: Database, manifest: Mapping[str, Any], database: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any], list[str]]:
    """(per table of the manifest: does it exist now and its rows; what the restore changes,
    counted from content against the backup's key ranges (ranges.compare_with_backup), with
    totals and per table; tables of the database the backup does not hold)."""
    state, entries = {}, {}
    cur = db.cursor()
    try:
        present = set(db.dialect.table_names(cur, database))
    finally:
        cur.close()
    for t in manifest["tables"]:
        entries[t] = ranges.compare_with_backup(db, manifest, t, database)
        state[t] = dict(exists=t in present, rows=entries[t]["rows_now"] if t in present else None)
    extra = sorted(present - set(manifest["tables"]) - set((manifest.get("objects") or {}).get("views", [])))
    return state, dict(ranges.summarize(list(entries.values())), tables=entries), extra


def is_postgres(params: Mapping[str, Any]) -> bool:
    """Do these connection inputs reach PostgreSQL (as connect() would decide)?"""
    name = params.get("dialect") or "auto"
    return name == "postgresql" or (name == "auto" and detect_flavour(params) == "postgresql")


def server_params(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """Inputs of a connection that needs no database: a MySQL database may be gone (the emergency);
    PostgreSQL always connects to one, the restored database itself."""
    return params if is_postgres(params) else dict(params, database=None)


def database_exists(params: Mapping[str, Any], database: str) -> bool:
    """Does the database exist? Asked over a connection that names no database."""
    db = connect(dict(params, database=None))
    try:
        return bool(db.query_one("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))[0])
    finally:
        db.close()


def create_database(params: Mapping[str, Any], database: str, manifest: Mapping[str, Any]) -> None:
    """CREATE DATABASE with the character set and collation the backup recorded."""
    db = connect(dict(params, database=None))
    try:
        charset = manifest.get("database_charset") or {}
        spec = ""
        if charset.get("charset") and charset.get("collation"):
            validate_identifier(charset["charset"], "character set")
            validate_identifier(charset["collation"], "collation")
            spec = " CHARACTER SET %s COLLATE %s" % (charset["charset"], charset["collation"])
        db.query("CREATE DATABASE %s%s" % (db.dialect.q(database), spec))
    finally:
        db.close()


def hold_table_locks(params: Mapping[str, Any], database: str, tables: Iterable[str]) -> tuple[Database, list[AdvisoryLock]]:
    """Take the advisory lock of every table a restore replaces - the lock each repair and undo
    of that table takes - on a connection of its own, held until release_table_locks().

    Refuses at once (JsonmendError naming the holder) while a repair or undo runs on one of
    them, and makes every repair or undo wait for the restore to end.
    """
    db = connect(server_params(params), autocommit=True)
    held = []
    try:
        for t in tables:
            held.append(AdvisoryLock(db, table_lock_name(database, t), "%s.%s" % (database, t)).acquire(0))
    except BaseException:
        release_table_locks(db, held)
        raise
    return db, held


def release_table_locks(db: Database, held: Iterable[AdvisoryLock]) -> None:
    for lock in held:
        lock.release()
    db.close()


def restore_backup(params: Mapping[str, Any], check_mode: bool = False) -> dict[str, Any]:
    """Restore a table or database in place from a verified backup, then prove it.

    Order: resolve the manifest (latest: of this server only); refuse one of another server,
    an unverified one (unless allowed) or one whose file differs from its sha256; take the
    tables' advisory locks (refused while a repair or undo runs); take a safety backup of the
    current state (unless disabled); load the dump; compare every restored table with the
    manifest; release the locks.
    """
    started = time.monotonic()
    database, scope = params["database"], params["scope"]
    postgres = is_postgres(params)
    validate_identifier(database, "database")
    validate_table(params["table"], "table", "postgresql" if postgres else None)
    if scope not in SCOPES:
        raise JsonmendError("scope %r is not one of %s" % (scope, ", ".join(SCOPES)))
    check_backup_dir(params["backup_dir"], writable=bool(params.get("safety_backup")) and not check_mode)
    table = (pg_qualified(params["table"]) if postgres else params["table"]) if scope == "table" else None
    # Asked over a connection that names no database: the emergency's database may be gone.
    identity = servers.identity_for(server_params(params))["identity"]
    manifest = manifests.resolve(
        params["backup_dir"], params.get("backup_id") or manifests.LATEST, database=database, scope=scope, table=table, server=identity
    )
    warnings = []
    warning = servers.check_server(manifest, identity, allow_other=bool(params.get("allow_other_server")))
    if warning:
        warnings.append(warning)
    if manifest["scope"] != scope:
        raise JsonmendError(
            "backup %s is a %s backup; restoring it restores %s. Ask for scope %s, or choose a %s backup"
            % (
                manifest["id"],
                manifest["scope"],
                "every table of %s" % manifest["database"] if manifest["scope"] == "database" else "table %s only" % ", ".join(manifest["tables"]),
                manifest["scope"],
                scope,
            )
        )
    if manifest["database"] != database:
        raise JsonmendError("backup %s is of database %s, not %s" % (manifest["id"], manifest["database"], database))
    if not manifest.get("verified") and not params.get("allow_unverified"):
        reason = ((manifest.get("verification") or {}).get("error")) or "it was never verified"
        raise JsonmendError(
            "backup %s is not verified (%s): verify it with db_backup_verify or playbooks/backup.yml first,"
            " or set allow_unverified to restore it anyway" % (manifest["id"], reason)
        )
    check_file(manifest)
    lock_db, locks = hold_table_locks(params, database, manifest["tables"])
    try:
        result = _restore_locked(params, manifest, check_mode, started)
    finally:
        release_table_locks(lock_db, locks)
    result["server"] = identity
    result["notes"] = warnings
    return result


def loader(db: Database, params: Mapping[str, Any], manifest: Mapping[str, Any]) -> tuple[Callable[[], object], str]:
    """(a function that loads the dump in place, the client it runs), for the server `db` reaches.

    MySQL family: the client matching the dump tool, check_constraint_checks=0 on MariaDB.
    PostgreSQL: pg_restore --single-transaction --clean --if-exists, so the table is replaced in one
    transaction or, on any error (a view or another table's foreign key depending on it), not at all.
    """
    if manifests.dump_suffix(manifest) == manifests.PG_DUMP_SUFFIX:
        tools = pg_tools.PgTools(getattr(db.dialect, "major", 0), params.get("dump_binary"), params.get("client_binary"))
        command = pg_tools.restore_command(tools.client, pg_tools.conninfo(db, params), manifest["path"])
        password = pg_tools.connection_password(db)
        what = "pg_restore of backup %s into %s (nothing was changed: it runs in one transaction)" % (manifest["id"], db.database)
        # One session: pg_restore --single-transaction (the loaders return the same shape).
        return (lambda: dict(pg_tools.run_tool(command, password, what), streams=1)), tools.client
    client = client_tools(params.get("dump_binary"), params.get("client_binary"), db.dialect.name)
    options = clitools.connection_options(db.conn, params)
    database, flavour = db.database, db.dialect.name
    # The binary log stays on: every session's rows reach the replicas.
    streams = parallel_load.plan_streams(db, params.get("load_streams") or 0)

    def load():
        with clitools.OptionFile(options, groups=clitools.client_option_groups(False, flavour)) as option_file:
            return parallel_load.load_dump(manifest["path"], clitools.client_command(client, option_file, database), streams)

    return load, client


def _restore_locked(params, manifest, check_mode, started):
    """The restore proper, under the tables' advisory locks (restore_backup)."""
    database, scope = params["database"], params["scope"]
    created_database = False
    if scope == "database" and not is_postgres(params) and not database_exists(params, database):
        # The emergency case: a rebuilt server, or a dropped database. Create it as it was.
        created_database = True
        if not check_mode:
            create_database(params, database, manifest)
    if created_database and check_mode:
        state = dict((t, dict(exists=False, rows=None)) for t in manifest["tables"])
        created = dict(
            (
                t,
                dict(
                    table=t,
                    rows_in_backup=n,
                    rows_now=0,
                    differs=True,
                    exact=True,
                    unknown=[],
                    reason="the database is created from the backup",
                    rows_inserted_since=0,
                    rows_changed_since=0,
                    rows_deleted_since=n,
                ),
            )
            for t, n in (manifest.get("rows") or {}).items()
        )
        return dict(
            manifest=manifests.summary(manifest),
            backup_id=manifest["id"],
            scope=scope,
            database=database,
            tables=manifest["tables"],
            before=state,
            impact=dict(ranges.summarize(list(created.values())), tables=created),
            tables_not_in_backup=[],
            safety_backup=None,
            created_database=True,
            would="create database %s, load %s into it, then compare %s with the manifest" % (database, manifest["path"], ", ".join(manifest["tables"])),
        )
    db = connect(params)
    try:
        state, impact, extra = live_state(db, manifest, database)
        load, client = loader(db, params, manifest)
        flavour = db.dialect.name
    finally:
        db.close()
    result = dict(
        manifest=manifests.summary(manifest),
        backup_id=manifest["id"],
        scope=scope,
        database=database,
        tables=manifest["tables"],
        before=state,
        impact=impact,
        tables_not_in_backup=extra if scope == "database" else [],
        safety_backup=None,
        created_database=created_database,
    )
    if check_mode:
        result["would"] = "load %s into %s (%s), then compare %s with the manifest" % (
            manifest["path"],
            database,
            "replacing " + ", ".join(manifest["tables"]),
            ", ".join(manifest["tables"]),
        )
        return result
    if params.get("safety_backup") and any(s["exists"] for s in state.values()):
        safety_params = dict(
            params, verify=bool(params.get("safety_backup_verify")), label=("pre_restore_" + (manifest.get("label") or manifest["database"]))[:64]
        )
        if scope == "table":
            safety_params["table"] = manifest["tables"][0]
        safety, _plan = take_backup(safety_params)
        if safety_params["verify"]:
            safety = verify_backup(safety_params, safety)
        result["safety_backup"] = manifests.summary(safety)
    loaded = load()
    result["streams"] = loaded["streams"]
    # A lock conflict between the load's own sessions: loaded again in one session (parallel_load.load_dump).
    result["parallel_retried"] = bool(loaded.get("parallel_retried"))
    db = connect(params)
    try:
        report = compare_tables(db, manifest, database)
    finally:
        db.close()
    result["after"] = report
    result["duration_s"] = round(time.monotonic() - started, 3)
    bad = ["%s: %s" % (t, r["problem"]) for t, r in report.items() if not r["ok"]]
    if bad:
        raise JsonmendError(
            "backup %s was loaded into %s but the tables differ from the manifest (%s). Was the application writing"
            " during the restore? Stop it and restore again%s"
            % (
                manifest["id"],
                database,
                "; ".join(bad),
                "; the state before is in backup %s" % result["safety_backup"]["id"] if result["safety_backup"] else "",
            )
        )
    result["client"] = client
    result["flavour"] = flavour
    return result

# What every backup shares, whatever the server: the backup directory and its free space, the
# plan's file names (never overwritten), publishing the finished files, and the manifest fields
# both the MySQL family's dumps (backups.py) and PostgreSQL's (pg_backups.py) record.
from __future__ import annotations

import decimal
import math
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.backup import manifests
from ansible.module_utils.jsonmend.db.clock import utc_iso
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.inspector import INTEGER_TYPES

if TYPE_CHECKING:
    import datetime
    from collections.abc import Iterable, Mapping

SCOPES = ("table", "database")


def check_backup_dir(path: str, writable: bool = True) -> int:
    """Refuse a backup directory that is missing, not a directory or not writable."""
    if not path:
        raise JsonmendError("no backup directory given")
    if not os.path.isabs(path):
        raise JsonmendError("backup directory %r must be an absolute path" % path)
    if not os.path.exists(path):
        raise JsonmendError(
            "backup directory %s does not exist: create it (mode 0700) on a volume with room for the dump, or set backup_create_dir: true" % path
        )
    if not os.path.isdir(path):
        raise JsonmendError("backup directory %s is not a directory" % path)
    if writable and not os.access(path, os.W_OK | os.X_OK):
        raise JsonmendError("backup directory %s is not writable by the user running the backup (uid %d)" % (path, os.geteuid()))
    mode = os.stat(path).st_mode & 0o777
    return mode


def nearest_existing(path: str) -> str:
    """The path itself or its closest existing ancestor."""
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def plan_backup_dir(path: str, create: bool | None) -> tuple[int | None, str]:
    """(mode of the directory or None when it will be created, directory to measure free space in)."""
    if create and path and os.path.isabs(path) and not os.path.lexists(path):
        parent = nearest_existing(path)
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
            raise JsonmendError("backup directory %s does not exist and cannot be created: %s is not a writable directory" % (path, parent))
        return None, parent
    return check_backup_dir(path), path


def free_bytes(path: str) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def human(n: float | None) -> str:
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else "%.1f %s" % (n, unit)
        n /= 1024.0
    return str(n)


def json_value(value: Any) -> Any:
    """Key bounds as JSON-friendly values."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if value is not None and not isinstance(value, (str, int, float, bool)):
        return str(value)  # a uuid key (PostgreSQL), as the server spells it
    return value


class CatalogTotals:
    """Sizes and object counts of what a backup holds, from the attributes a catalog fills:
    tables, data_bytes, index_bytes, views, sequences, routines, events, triggers, engines, non_transactional.

    A flavour's catalog fills them in `_read(db, cursor, scope, table)` on one cursor."""

    def __init__(self, db: Any, database: str, scope: str, table: str) -> None:
        self.database = database
        cur = db.cursor()
        try:
            self._read(db, cur, scope, table)
        finally:
            cur.close()

    def _read(self, db: Any, cur: Any, scope: str, table: str) -> None:
        raise NotImplementedError

    def _read_keys(self, db: Any, cur: Any) -> None:
        """Each table's single-column primary key and whether it is an integer (the key ranges' split)."""
        d = db.dialect
        self.keys = {}
        for t in self.tables:
            pk = d.primary_key(cur, self.database, t)
            if len(pk) == 1:
                self.keys[t] = dict(column=pk[0], integer=d.columns(cur, self.database, t).get(pk[0], "") in INTEGER_TYPES)

    def total_data_bytes(self) -> int:
        return sum(self.data_bytes.values())

    def total_bytes(self) -> int:
        return sum(self.data_bytes.values()) + sum(self.index_bytes.values())

    def objects(self) -> dict[str, Any]:
        return dict(
            views=self.views,
            sequences=self.sequences,
            routines=self.routines,
            events=self.events,
            triggers=self.triggers,
            engines=self.engines,
            non_transactional=self.non_transactional,
        )


def check_free_space(directory: str, catalog: Any, factor: float) -> dict[str, int]:
    """Refuse when the backup directory lacks room for data size x factor."""
    needed = int(math.ceil(catalog.total_data_bytes() * factor))
    free = free_bytes(directory)
    if free < needed:
        raise JsonmendError(
            "not enough free space in %s: %s free, %s needed (data size %s of %s x backup_space_factor %s)."
            " Free space or choose another backup_dir; nothing was written"
            % (directory, human(free), human(needed), human(catalog.total_data_bytes()), ", ".join(catalog.tables) or "no table", factor)
        )
    return dict(free_bytes=free, needed_bytes=needed, data_bytes=catalog.total_data_bytes())


# The verification's scratch copy: the tables' data and indexes, and a margin for the load.
SCRATCH_FACTOR = 1.1
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def scratch_bytes(catalog: Any) -> int:
    """Room the verification's scratch copy takes on the server."""
    return int(catalog.total_bytes() * SCRATCH_FACTOR)


def require_scratch_room(where: str, free: int, needed: int) -> dict[str, Any]:
    """Refuse before anything is written when `where` (the server's data directory) lacks room for
    the scratch copy; else the report the plan shows. Pure: sizes in, verdict out."""
    if free < needed:
        raise JsonmendError(
            "not enough free space in %s for the verification's scratch copy: %s free, %s needed."
            " Free space there, or set backup_verify: false and verify later (db_backup_verify) when there is room;"
            " nothing was written" % (where, human(free), human(needed))
        )
    return dict(checked=True, free_bytes=free, needed_bytes=needed)


def current_user() -> str:
    """The user running the backup, for the manifest's created_by."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def plan_files(params: Mapping[str, Any], default_label: str, now: datetime.datetime, suffix: str = manifests.DUMP_SUFFIX) -> dict[str, Any]:
    """Checks of the inputs every backup shares and the files it will write, none existing yet.

    Returns {id, label, dir_mode (None: to be created), space_dir, path, manifest_path, digests_path}.
    """
    if params["scope"] not in SCOPES:
        raise JsonmendError("scope %r is not one of %s" % (params["scope"], ", ".join(SCOPES)))
    directory = params["backup_dir"]
    dir_mode, space_dir = plan_backup_dir(directory, params.get("create_dir"))
    if params["compress_level"] < 0 or params["compress_level"] > 9:
        raise JsonmendError("compress_level must be 0-9, got %s" % params["compress_level"])
    if params["space_factor"] <= 0:
        raise JsonmendError("space_factor must be above 0, got %s" % params["space_factor"])
    label = params.get("label")
    if label is None:
        label = default_label
    ident = manifests.backup_id(label, now)
    dump_path, manifest_path = manifests.paths_for(directory, ident, suffix)
    digests_path = manifests.digests_path_for(directory, ident)
    for path in (dump_path, manifest_path, dump_path + ".partial", digests_path, digests_path + ".partial"):
        if os.path.lexists(path):
            raise JsonmendError("refusing to overwrite %s: a backup with id %s exists already" % (path, ident))
    return dict(id=ident, label=label, dir_mode=dir_mode, space_dir=space_dir, path=dump_path, manifest_path=manifest_path, digests_path=digests_path)


def directory_warnings(directory: str, dir_mode: int | None) -> list[str]:
    """What the plan says about the backup directory: created, or readable by others."""
    if dir_mode is None:
        return ["backup directory %s does not exist: it is created with mode 0700" % directory]
    if dir_mode & 0o077:
        return ["backup directory %s has mode %04o: group or others can list it (the files themselves are 0600)" % (directory, dir_mode)]
    return []


def create_backup_dir(path: str) -> None:
    try:
        os.makedirs(path, mode=0o700)
        os.chmod(path, 0o700)  # makedirs' mode is filtered by the umask
    except OSError as exc:
        raise JsonmendError("could not create backup directory %s: %s" % (path, exc)) from None


def publish(finals: Iterable[tuple[str, str]], directory: str) -> None:
    """Give finished .partial files their names: linked, never replacing a file that appeared meanwhile."""
    finals = list(finals)
    linked = []
    try:
        for source, final in finals:
            os.link(source, final)  # never replaces: fails when the name appeared meanwhile
            linked.append(final)
    except FileExistsError as exc:
        for path in linked + [source for source, _final in finals]:
            if os.path.exists(path):
                os.unlink(path)
        raise JsonmendError("refusing to overwrite %s: it appeared while the dump ran" % exc.filename2) from None
    for source, _final in finals:
        os.unlink(source)
    manifests.fsync_dir(directory)


def common_manifest(
    plan: Mapping[str, Any],
    params: Mapping[str, Any],
    catalog: Any,
    results: Mapping[str, Mapping[str, Any]],
    server: Mapping[str, Any],
    now: datetime.datetime,
    started: float,
) -> dict[str, Any]:
    """The manifest fields every backup records: what it holds (rows and checksums per table, in
    the dump's snapshot), where, from which server, when and by whom; not yet verified."""
    tables = catalog.tables
    return dict(
        format=manifests.FORMAT,
        id=plan["id"],
        label=plan["label"],
        path=plan["path"],
        manifest_path=plan["manifest_path"],
        scope=params["scope"],
        database=catalog.database,
        database_charset=dict(charset=catalog.charset, collation=catalog.collation),
        tables=tables,
        rows=dict((t, results[t]["rows"]) for t in tables),
        checksum=dict((t, results[t]["checksum"]) for t in tables),
        checksum_algorithm=results[tables[0]]["algorithm"] if tables else None,
        columns=dict((t, results[t]["columns"]) for t in tables),
        keys=dict((t, results[t]["key"]) for t in tables if "key" in results[t]),
        objects=catalog.objects(),
        table_bytes=dict((t, catalog.data_bytes[t] + catalog.index_bytes[t]) for t in tables),
        server=dict(server),
        tools=plan["tools"].describe(),
        created_at=utc_iso(now),
        duration_s=round(time.monotonic() - started, 3),
        created_by=dict(host=socket.gethostname(), user=current_user(), run_id=params.get("run_id")),
        verified=False,
        verified_at=None,
        verification=None,
    )


def describe_plan(plan: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    catalog = plan["catalog"]
    return dict(
        id=plan["id"],
        path=plan["path"],
        manifest_path=plan["manifest_path"],
        scope=params["scope"],
        database=catalog.database,
        tables=catalog.tables,
        estimated_rows=catalog.estimated_rows,
        data_bytes=catalog.total_data_bytes(),
        space=plan["space"],
        server_space=plan["server_space"],
        tools=plan["tools"].describe(),
        verify=bool(params.get("verify")),
        warnings=plan["warnings"],
    )

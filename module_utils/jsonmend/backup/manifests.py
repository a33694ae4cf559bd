# Backup manifests: the JSON document beside each dump that says what it holds and whether
# it was proven to restore. Names, atomic writes, lookup by id or "latest verified", retention.
from __future__ import annotations

import json
import os
import re
import tempfile
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterable, Mapping

FORMAT = "jsonmend-backup-manifest/1"
DUMP_SUFFIX = ".sql.gz"
# PostgreSQL's dumps are pg_dump's custom format (compressed, read by pg_restore), not SQL text.
PG_DUMP_SUFFIX = ".pgdump"
PG_DUMP_FORMAT = "pg_dump custom"
MANIFEST_SUFFIX = ".manifest.json"
# Per-row digests of the key ranges (ranges.py), beside the dump; optional.
DIGESTS_SUFFIX = ".digests.gz"
ID_RE = re.compile(r"backup_(?:[A-Za-z0-9_$]+_)?\d{8}_\d{6}")
LABEL_RE = re.compile(r"[A-Za-z0-9_$]{0,64}")
LATEST = "latest"
# Safety backups a restore takes of what it replaces: never "latest", retained apart.
SAFETY_PREFIX = "backup_pre_restore_"


def backup_id(label: str, when: datetime.datetime) -> str:
    """The runbook's name without its suffix: backup_<label>_YYYYmmdd_HHMMSS (UTC), or backup_<ts>."""
    if not LABEL_RE.fullmatch(label or ""):
        raise JsonmendError("backup label %r may only hold letters, digits, '_' and '$' (at most 64)" % label)
    stamp = when.strftime("%Y%m%d_%H%M%S")
    return "backup_%s_%s" % (label, stamp) if label else "backup_%s" % stamp


def paths_for(directory: str, ident: str, suffix: str = DUMP_SUFFIX) -> tuple[str, str]:
    """(dump path, manifest path) of a backup id in a directory."""
    return os.path.join(directory, ident + suffix), os.path.join(directory, ident + MANIFEST_SUFFIX)


def dump_suffix(manifest: Mapping[str, Any]) -> str:
    """The dump file's suffix: by the format the manifest records (SQL text unless pg_dump's custom format)."""
    return PG_DUMP_SUFFIX if (manifest.get("dump") or {}).get("format") == PG_DUMP_FORMAT else DUMP_SUFFIX


def digests_path_for(directory: str, ident: str) -> str:
    """Path of a backup's per-row digest file (ranges.py)."""
    return os.path.join(directory, ident + DIGESTS_SUFFIX)


def write_manifest(manifest: dict[str, Any], path: str, create: bool = False) -> None:
    """Write atomically (temp file, fsync, rename), mode 0600. create=True refuses to replace."""
    directory = os.path.dirname(path) or "."
    if create and os.path.lexists(path):
        raise JsonmendError("refusing to overwrite the existing manifest %s" % path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=MANIFEST_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)
            json.dump(manifest, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        if create:
            os.link(tmp, path)  # fails if a manifest appeared meanwhile
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        fsync_dir(directory)
    except FileExistsError:
        os.unlink(tmp)
        raise JsonmendError("refusing to overwrite the existing manifest %s" % path) from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_manifest(path: str) -> dict[str, Any]:
    """Load and sanity-check a manifest; raise JsonmendError naming the file when it is not one."""
    try:
        with open(path) as handle:
            manifest = json.load(handle)
    except FileNotFoundError:
        raise JsonmendError("manifest %s does not exist" % path) from None
    except (OSError, ValueError) as exc:
        raise JsonmendError("manifest %s cannot be read: %s" % (path, exc)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise JsonmendError("%s is not a jsonmend backup manifest (format %r)" % (path, FORMAT))
    for key in ("id", "scope", "database", "tables", "rows", "checksum", "sha256", "created_at"):
        if key not in manifest:
            raise JsonmendError("manifest %s lacks %r" % (path, key))
    # A manifest is data, never a path: its id is checked on every read and must be the file's
    # own name, so nothing read, loaded or deleted through it can be outside its directory.
    ident = manifest["id"]
    if not isinstance(ident, str) or not ID_RE.fullmatch(ident):
        raise JsonmendError("manifest %s is refused: its id %r is not a backup id (backup_<label>_YYYYmmdd_HHMMSS)" % (path, ident))
    if os.path.basename(path) != ident + MANIFEST_SUFFIX:
        raise JsonmendError("manifest %s is refused: it names backup %s, and a manifest must be <id>%s" % (path, ident, MANIFEST_SUFFIX))
    # Paths follow the files: a backup directory copied elsewhere still works. Paths a manifest
    # records (path, digests_path, tools) are never used.
    directory = os.path.dirname(os.path.abspath(path))
    manifest["manifest_path"] = os.path.abspath(path)
    manifest["path"] = os.path.join(directory, ident + dump_suffix(manifest))
    manifest.pop("digests_path", None)
    if manifest.get("digests"):
        manifest["digests_path"] = digests_path_for(directory, ident)
    for key in ("path", "digests_path"):
        if manifest.get(key) and not inside(directory, manifest[key]):
            raise JsonmendError("manifest %s is refused: its %s %s leads out of the backup directory %s" % (path, key, manifest[key], directory))
    return manifest


def inside(directory: str, path: str) -> bool:
    """Is `path` (symlinks resolved) within `directory` (symlinks resolved)?"""
    root = os.path.realpath(directory)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def list_manifests(directory: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(manifests newest first, [unreadable file: reason]) for every *.manifest.json in directory."""
    found, problems = [], []
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise JsonmendError("cannot list the backup directory %s: %s" % (directory, exc)) from None
    for name in names:
        if not name.endswith(MANIFEST_SUFFIX) or name.startswith("."):
            continue
        try:
            found.append(read_manifest(os.path.join(directory, name)))
        except JsonmendError as exc:
            problems.append(str(exc))
    found.sort(key=lambda m: (m.get("created_at", ""), m.get("id", "")), reverse=True)
    return found, problems


def is_safety(manifest: Mapping[str, Any] | None) -> bool:
    """A safety backup a restore took of the state it replaced (label pre_restore_...)."""
    return str((manifest or {}).get("id", "")).startswith(SAFETY_PREFIX)


def recorded_server(manifest: Mapping[str, Any] | None) -> str | None:
    """The server identity a manifest recorded (see servers.py), or None for an old manifest."""
    return ((manifest or {}).get("server") or {}).get("identity") or None


def matches(manifest: Mapping[str, Any], database: str | None = None, scope: str | None = None, table: str | None = None, server: str | None = None) -> bool:
    """Does a manifest hold what a restore or a retention group asks for (on that server)?"""
    if database and manifest.get("database") != database:
        return False
    if scope and manifest.get("scope") != scope:
        return False
    if table and table not in manifest.get("tables", []):
        return False
    if server and recorded_server(manifest) != server:
        return False
    return True


def pick_latest(
    found: Iterable[dict[str, Any]], database: str | None = None, scope: str | None = None, table: str | None = None, server: str | None = None
) -> dict[str, Any] | None:
    """The newest verified manifest matching the filters, safety backups excepted; None when none.

    With `server`, only a backup that recorded that server identity: an old manifest without
    one is never picked implicitly (name it by id to use it). `found` is newest first.
    """
    for manifest in found:
        if is_safety(manifest) or not manifest.get("verified"):
            continue
        if matches(manifest, database=database, scope=scope, table=table, server=server):
            return manifest
    return None


def resolve(
    directory: str, ident: str | None, database: str | None = None, scope: str | None = None, table: str | None = None, server: str | None = None
) -> dict[str, Any]:
    """The manifest for an id, or the newest verified one matching the filters for 'latest'.

    'latest' never picks a safety backup (backup_pre_restore_*) and, with `server`, only a
    backup of that server. A named id is returned whatever server it records: the caller
    checks it (servers.check_server) and shows the warning an old manifest deserves.
    """
    if ident and ident != LATEST:
        if not ID_RE.fullmatch(ident):
            raise JsonmendError("backup id %r is not of the form backup_<label>_YYYYmmdd_HHMMSS" % ident)
        manifest = read_manifest(paths_for(directory, ident)[1])
        if not matches(manifest, database=database, table=table):
            raise JsonmendError(
                "backup %s holds %s of database %s, not %s" % (ident, ", ".join(manifest["tables"]) or "no table", manifest["database"], table or database)
            )
        return manifest
    manifests, _problems = list_manifests(directory)
    manifest = pick_latest(manifests, database=database, scope=scope, table=table, server=server)
    if manifest is not None:
        return manifest
    what = "scope %s " % scope if scope else ""
    where = " taken on server %s" % server if server else ""
    raise JsonmendError(
        "no verified backup %sof %s%s in %s (safety backups excepted): take one with playbooks/backup.yml (verification is on by default)"
        % (what, table or database, where, directory)
    )


def retention_group(manifest: Mapping[str, Any]) -> tuple[str | None, str | None, str | None, tuple[str, ...], str]:
    """What one backup is a backup of: server, database, scope, tables (table backups), kind."""
    # A database's table list changes over time; its backups stay one group.
    tables = tuple(manifest.get("tables", [])) if manifest.get("scope") == "table" else ()
    kind = "safety" if is_safety(manifest) else "backup"
    return (recorded_server(manifest), manifest.get("database"), manifest.get("scope"), tables, kind)


def retention_plan(
    manifests: Iterable[dict[str, Any]], keep: int, current_id: str | None = None, file_problem: Callable[[dict[str, Any]], str | None] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """(manifests to delete, notes): verified backups beyond the newest `keep` GOOD ones of each group.

    A group is one server, one database and one table (table backups) or the whole database
    (database backups); safety backups taken before a restore form groups of their own. A backup
    counts as good only when `file_problem(manifest)` finds nothing wrong with its dump (it
    exists and has the manifest's sha256); a verified backup whose file fails is kept, not
    counted, and named in the notes. So retention deletes nothing of a group until `keep` good
    backups newer than the deleted ones exist: the last good backup of a target is never
    deleted. Unverified backups (the evidence of a failure), the current one, and backups
    without a recorded server identity (older manifests: which server they came from is
    unknown) are never deleted. keep=0 deletes nothing. Files are read only for groups with
    more than `keep` verified backups.
    """
    if not keep:
        return [], []
    file_problem = file_problem or (lambda manifest: None)
    groups, notes = {}, []
    for manifest in sorted(manifests, key=lambda m: (m.get("created_at", ""), m.get("id", "")), reverse=True):
        if not manifest.get("verified"):
            continue
        if recorded_server(manifest) is None:
            notes.append("backup %s records no server identity (an older manifest): retention leaves it; delete it by hand" % manifest.get("id"))
            continue
        groups.setdefault(retention_group(manifest), []).append(manifest)
    doomed = []
    for members in groups.values():
        if len(members) <= keep:
            continue
        good = 0
        for manifest in members:
            if good < keep:
                problem = file_problem(manifest)
                if problem:
                    notes.append("backup %s is verified but not counted as a good backup, and kept: %s" % (manifest.get("id"), problem))
                else:
                    good += 1
            elif manifest.get("id") != current_id:
                doomed.append(manifest)
    return doomed, notes


def summary(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a listing shows."""
    keys = ("id", "scope", "database", "tables", "rows", "created_at", "verified", "verified_at", "size", "path", "manifest_path")
    return dict(((k, manifest.get(k)) for k in keys), server=recorded_server(manifest))

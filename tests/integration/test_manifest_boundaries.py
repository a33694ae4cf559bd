# A manifest is data, never code or a path (issue 14): whoever can write a file into the backup
# directory must not choose what is read, loaded or deleted elsewhere, nor the program that
# receives the password's option file. Real backups of the session's MariaDB, then hostile
# manifests beside them: a sentinel file outside the directory must survive, a sentinel
# executable must never run.
import json
import os
import stat

import db_backup
import db_backup_catalog
import db_backup_verify
import db_restore
import pytest
from ansible.module_utils.jsonmend.backup import manifests
from ansible.module_utils.jsonmend.db.errors import JsonmendError

from tools.devstack import seed

pytestmark = pytest.mark.clock

TABLE = "analytics_activityevent"


def args_for(mariadb, database, backup_dir, **extra):
    args = mariadb.login_params(database)
    args.update(backup_dir=str(backup_dir), table=TABLE)
    args.update(extra)
    return args


@pytest.fixture
def site(tmp_path, admin_cursor):
    """A table, a backup directory and, beside it, sentinel files a hostile id would point at."""
    seed.create_table(admin_cursor)
    seed.seed(admin_cursor, 300, corrupt_percent=5)
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o700)
    outside = tmp_path / "outside"
    outside.mkdir()
    sentinels = []
    for suffix in (manifests.DUMP_SUFFIX, manifests.DIGESTS_SUFFIX):
        for where in (tmp_path / "victim", outside / "victim"):
            path = where.parent / (where.name + suffix)
            path.write_text("precious\n")
            sentinels.append(path)
    return dict(backups=backups, outside=outside, tmp=tmp_path, sentinels=sentinels)


def hostile_copy(manifest_path, ident, filename, **changes):
    """A copy of a real manifest under `filename`, claiming `ident`, one second older (so that
    retention would take it first), with `changes`."""
    data = json.loads(manifest_path.read_text())
    data.update(id=ident, created_at="2000-01-01T00:00:00Z", **changes)
    target = manifest_path.parent / filename
    target.write_text(json.dumps(data))
    return target


def test_a_hostile_id_is_refused_and_nothing_outside_is_deleted(mariadb, database, site, module_runner):
    backups = site["backups"]
    made = [module_runner(db_backup, args_for(mariadb, database, backups, label=label))["manifest"] for label in ("a", "b")]
    assert all(m["verified"] for m in made)
    real = backups / (made[0]["id"] + manifests.MANIFEST_SUFFIX)
    hostile = {
        "climbs out": hostile_copy(real, "../victim", "backup_x_20000101_000000.manifest.json"),
        "absolute": hostile_copy(real, str(site["outside"] / "victim"), "backup_y_20000101_000000.manifest.json"),
        "another file's id": hostile_copy(real, made[1]["id"], "backup_z_20000101_000000.manifest.json"),
        "not a string": hostile_copy(real, ["../victim"], "backup_w_20000101_000000.manifest.json"),
    }
    for path in hostile.values():
        with pytest.raises(JsonmendError, match="is refused"):
            manifests.read_manifest(str(path))

    # Retention keeps one: the hostile manifests, older and verified, would be first to go.
    pruned = module_runner(db_backup_catalog, dict(backup_dir=str(backups), database=database, keep=1))
    assert not pruned.failed, pruned.get("msg")
    assert pruned["removed"] == [made[0]["id"]]
    assert sum("is refused" in p for p in pruned["problems"]) == len(hostile)
    for sentinel in site["sentinels"]:
        assert sentinel.read_text() == "precious\n", sentinel
    assert all(path.exists() for path in hostile.values())  # not ours to delete either

    # Named by id, by manifest path, for a restore or a verification: refused, nothing loaded.
    for name, path in hostile.items():
        verify = module_runner(db_backup_verify, dict(mariadb.login_params(database), manifest=str(path)))
        assert verify.failed and "is refused" in verify["msg"], (name, verify.get("msg"))
    restore = module_runner(db_restore, args_for(mariadb, database, backups, backup_id="../victim"))
    assert restore.failed and "is not of the form" in restore["msg"]
    for sentinel in site["sentinels"]:
        assert sentinel.read_text() == "precious\n", sentinel


def test_a_manifests_tool_path_is_never_run(mariadb, database, site, module_runner):
    backups = site["backups"]
    made = module_runner(db_backup, args_for(mariadb, database, backups))["manifest"]
    # A program that records that it ran (and what it was given), then fails.
    marker = site["tmp"] / "sentinel-ran"
    tool = site["outside"] / "mariadb"
    tool.write_text('#!/bin/sh\necho "$@" >> %s\ncat >> %s\nexit 1\n' % (marker, marker))
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    path = backups / (made["id"] + manifests.MANIFEST_SUFFIX)
    data = json.loads(path.read_text())
    data["tools"]["client"]["path"] = str(tool)
    data["tools"]["dump"]["path"] = str(tool)
    path.write_text(json.dumps(data))

    verified = module_runner(db_backup_verify, dict(mariadb.login_params(database), backup_dir=str(backups), backup_id=made["id"]))
    assert not verified.failed, verified.get("msg")
    assert verified["manifest"]["verification"]["ok"]
    restored = module_runner(db_restore, args_for(mariadb, database, backups, backup_id=made["id"]))
    assert not restored.failed, restored.get("msg")
    assert not marker.exists(), marker.read_text()
    # The recorded tools stay information: the manifest still says what made the dump.
    assert json.loads(path.read_text())["tools"]["client"]["path"] == str(tool)


def test_paths_a_manifest_records_are_never_used(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    ident = "backup_t_20260101_000000"
    data = dict(
        format=manifests.FORMAT,
        id=ident,
        scope="table",
        database="d",
        tables=["t"],
        rows={},
        checksum={},
        sha256="0",
        created_at="2026-01-01T00:00:00Z",
        path="/etc/passwd",
        digests_path="/etc/shadow",
        digests=dict(file="../x"),
    )
    (backups / (ident + manifests.MANIFEST_SUFFIX)).write_text(json.dumps(data))
    manifest = manifests.read_manifest(str(backups / (ident + manifests.MANIFEST_SUFFIX)))
    assert manifest["path"] == str(backups / (ident + manifests.DUMP_SUFFIX))
    assert manifest["digests_path"] == str(backups / (ident + manifests.DIGESTS_SUFFIX))
    # A dump that is a symlink out of the directory is refused too.
    os.symlink("/etc/hostname", backups / (ident + manifests.DUMP_SUFFIX))
    with pytest.raises(JsonmendError, match="leads out of the backup directory"):
        manifests.read_manifest(str(backups / (ident + manifests.MANIFEST_SUFFIX)))

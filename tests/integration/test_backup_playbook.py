# playbooks/backup.yml, restore.yml and the backup step of phase2_diagnose.yml, run as an
# operator would: the fact other phases read, fetch, retention, confirmation, check mode, refusals.
import gzip
import stat
from pathlib import Path

import db_backup
import pytest
from ansible.module_utils.jsonmend.backup import clitools, manifests
from ansible.module_utils.jsonmend.backup.checksums import table_checksum
from ansible.module_utils.jsonmend.db.connection import connect

from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD
from tools.devstack.playbooks import db_vars, run_playbook

# Backups, restores, retention and records carry times: make clock runs these under faketime.
pytestmark = pytest.mark.clock

TABLE = "analytics_activityevent"


@pytest.fixture
def seeded(admin_cursor):
    seed.create_table(admin_cursor, check=True)
    seed.seed(admin_cursor, 4000, corrupt_percent=2, invalid=True)
    return admin_cursor


@pytest.fixture
def backup_dir(tmp_path):
    path = tmp_path / "backups"
    path.mkdir(mode=0o700)
    return path


def backup_vars(mariadb, database, backup_dir, tmp_path, **extra):
    return db_vars(mariadb, database, backup_dir=str(backup_dir), backup_create_dir=False, jsonmend_report_dir=str(tmp_path / "reports"), **extra)


def checksum_of(mariadb, database):
    db = connect(dict(mariadb.login_params(database), dialect="auto"))
    try:
        return table_checksum(db, TABLE)
    finally:
        db.close()


def names(path):
    return sorted(p.name for p in Path(path).iterdir()) if Path(path).exists() else []


def task_output(stdout, title):
    """What ansible-playbook printed for the first task whose title starts with `title`."""
    start = stdout.index("TASK [%s" % title)
    end = stdout.find("TASK [", start + 1)
    return stdout[start : end if end > 0 else None]


def test_backup_playbook_publishes_a_verified_manifest_fetches_and_keeps_the_newest(mariadb, database, seeded, backup_dir, tmp_path):
    fetched = tmp_path / "controller"
    variables = backup_vars(mariadb, database, backup_dir, tmp_path, backup_fetch=True, backup_fetch_dir=str(fetched))
    first = run_playbook("backup.yml", variables, tmp_path, verbosity=3)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "Backup backup_analytics_activityevent_" in first.stdout and "verified at" in first.stdout
    assert TOOL_PASSWORD not in first.stdout + first.stderr
    (manifest_file,) = [p for p in backup_dir.iterdir() if p.name.endswith(".manifest.json")]
    manifest = manifests.read_manifest(str(manifest_file))
    assert manifest["verified"] and manifest["rows"][TABLE] == 4000 and manifest["created_by"]["run_id"]
    # The controller holds the same bytes, owner-only.
    assert names(fetched) == names(backup_dir)
    assert stat.S_IMODE(fetched.stat().st_mode) == 0o700
    for path in fetched.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert clitools.file_sha256(str(fetched / (manifest["id"] + ".sql.gz"))) == manifest["sha256"]

    second = run_playbook("backup.yml", dict(variables, backup_keep=1, backup_fetch=False), tmp_path)
    assert second.returncode == 0, second.stdout[-4000:]
    assert "retention removed %s" % manifest["id"] in second.stdout
    remaining = names(backup_dir)
    # The newest backup's dump, manifest and row digests; nothing of the older one.
    assert len(remaining) == 3 and not [n for n in remaining if n.startswith(manifest["id"])]


def test_phase2_backs_up_first_unless_disabled_and_check_mode_writes_nothing(mariadb, database, seeded, backup_dir, tmp_path):
    variables = backup_vars(mariadb, database, backup_dir, tmp_path)
    run = run_playbook("phase2_diagnose.yml", variables, tmp_path)
    assert run.returncode == 0, run.stdout[-4000:]
    out = run.stdout
    assert out.index("TASK [backup : Back up") < out.index("TASK [diagnose : Scan")
    assert "METADATA CORRUPTION DIAGNOSTIC" in out and [n.split(".", 1)[1] for n in names(backup_dir)] == ["digests.gz", "manifest.json", "sql.gz"]

    empty = tmp_path / "empty"
    empty.mkdir()
    checked = run_playbook("phase2_diagnose.yml", dict(variables, backup_dir=str(empty)), tmp_path, check=True)
    assert checked.returncode == 0, checked.stdout[-4000:]
    assert "Would back up backup_analytics_activityevent_" in checked.stdout
    assert names(empty) == []

    skipped = run_playbook("phase2_diagnose.yml", dict(variables, backup_dir=str(empty), jsonmend_backup=False), tmp_path, check=True)
    assert skipped.returncode == 0, skipped.stdout[-4000:]
    # Without a backup the pre-backup checks and the backup are one include, skipped as one task.
    assert "skipping: [localhost]" in task_output(skipped.stdout, "Check the settings and the target, then back up")
    assert "TASK [backup :" not in skipped.stdout
    assert names(empty) == []


def take_backup(mariadb, database, backup_dir, module_runner):
    args = dict(mariadb.login_params(database), backup_dir=str(backup_dir), table=TABLE)
    result = module_runner(db_backup, args)
    assert not result.failed, result.get("msg")
    return result["manifest"]


def test_restore_playbook_asks_first_restores_and_refuses_an_altered_file(mariadb, database, seeded, backup_dir, tmp_path, module_runner):
    manifest = take_backup(mariadb, database, backup_dir, module_runner)
    original = checksum_of(mariadb, database)
    seeded.execute("DELETE FROM %s WHERE id <= 100" % TABLE)
    damaged = checksum_of(mariadb, database)
    variables = backup_vars(mariadb, database, backup_dir, tmp_path)

    unconfirmed = run_playbook("restore.yml", variables, tmp_path)
    assert unconfirmed.returncode != 0 and "Restore not confirmed" in unconfirmed.stdout
    # The question carries what the restore changes, counted from content, with the keys.
    assert "100 rows deleted since the backup come back (keys 1 to 100: 1, 2, 3" in " ".join(unconfirmed.stdout.split())
    assert checksum_of(mariadb, database) == damaged

    restored = run_playbook("restore.yml", dict(variables, jsonmend_confirm="yes"), tmp_path, verbosity=3)
    assert restored.returncode == 0, restored.stdout[-4000:]
    assert "Restored analytics_activityevent of %s from %s" % (database, manifest["id"]) in restored.stdout
    assert "(changed: 100 rows deleted since the backup come back" in " ".join(restored.stdout.split())
    assert TOOL_PASSWORD not in restored.stdout + restored.stderr
    assert checksum_of(mariadb, database) == original

    sql = gzip.decompress(Path(manifest["path"]).read_bytes())
    Path(manifest["path"]).write_bytes(gzip.compress(sql.replace(b"option_a", b"option_b", 1)))
    seeded.execute("DELETE FROM %s WHERE id <= 10" % TABLE)
    before = checksum_of(mariadb, database)
    refused = run_playbook("restore.yml", dict(variables, jsonmend_confirm="yes", backup_restore_id=manifest["id"]), tmp_path)
    assert refused.returncode != 0
    assert "does not match its manifest: sha256" in refused.stdout and "do not restore it" in refused.stdout
    assert checksum_of(mariadb, database) == before


@pytest.mark.parametrize(
    ("playbook", "variables", "message"),
    [
        ("backup.yml", {"backup_scope": "everything"}, "backup_scope"),
        ("backup.yml", {"backup_dir": "relative/dir"}, "backup_dir must be an absolute path"),
        ("backup.yml", {"backup_keep": -1}, "backup settings refused"),
        ("backup.yml", {"backup_dir": "/nonexistent/jsonmend-backups"}, "does not exist: create it (mode 0700)"),
        ("restore.yml", {"backup_restore_id": "../../etc/passwd", "jsonmend_confirm": "yes"}, "restore settings refused"),
        ("restore.yml", {"backup_restore_id": "backup_x_20200101_000000", "jsonmend_confirm": "yes"}, "does not exist"),
    ],
)
def test_bad_input_is_refused_before_any_change(mariadb, database, seeded, backup_dir, tmp_path, playbook, variables, message):
    before = checksum_of(mariadb, database)
    run = run_playbook(playbook, dict(backup_vars(mariadb, database, backup_dir, tmp_path), **variables), tmp_path)
    assert run.returncode != 0
    assert message in run.stdout, run.stdout[-3000:]
    assert TOOL_PASSWORD not in run.stdout + run.stderr
    assert names(backup_dir) == [] and checksum_of(mariadb, database) == before

# cleanup.yml's backup gate on the real server (issue 13, items 9 and 12): a dry run (--check)
# takes no backup and must still show the repair; a backup manifest of another server is refused
# before any change; an old manifest without server identity, named explicitly, is accepted with
# a warning.
import json
import subprocess

import db_backup

from tests.support import repair as r
from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD
from tools.devstack.playbooks import db_vars, run_playbook


def variables(mariadb, database, tmp_path, **extra):
    values = db_vars(
        mariadb,
        database,
        cleanup_control_dir=str(tmp_path / "control"),
        jsonmend_report_dir=str(tmp_path / "reports"),
        backup_dir=str(tmp_path / "backups"),
        jsonmend_confirm="yes",
    )
    values.update(extra)
    return values


def bookkeeping(cur):
    cur.execute("SHOW TABLES LIKE '%%jsonmend%%'")
    return cur.fetchall()


def test_check_mode_passes_the_backup_gate_and_shows_the_repair(mariadb, database, admin_cursor, tmp_path):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 2000, corrupt_percent=2.0, invalid=True)
    before = r.checksum(admin_cursor)
    (tmp_path / "backups").mkdir(mode=0o700)
    result = run_playbook("cleanup.yml", variables(mariadb, database, tmp_path), tmp_path, check=True, extra_args=["--diff"], stdin=subprocess.DEVNULL)
    out = " ".join(result.stdout.split())
    assert result.returncode == 0, out[-4000:]
    assert "Check mode: no backup was taken. The real run takes backup backup_analytics_activityevent_" in out
    assert "repairs only once it is verified" in out and "would refuse now" not in out
    assert "check mode: nothing changed" in out and "SQL NULL" in out  # the repair's statistics and diff pairs
    assert list((tmp_path / "backups").iterdir()) == []
    assert r.checksum(admin_cursor) == before and bookkeeping(admin_cursor) == ()
    assert TOOL_PASSWORD not in result.stdout + result.stderr


def test_a_manifest_of_another_server_is_refused_and_an_old_one_warned_about(mariadb, database, admin_cursor, tmp_path, module_runner):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 500, corrupt_percent=4.0)
    before = r.checksum(admin_cursor)
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o700)
    manifest = module_runner(db_backup, dict(mariadb.login_params(database), backup_dir=str(backups), table=r.TABLE))["manifest"]
    path = backups / (manifest["id"] + ".manifest.json")
    data = json.loads(path.read_text())
    path.write_text(json.dumps(dict(data, server=dict(data["server"], identity="staging.example.com:3306"))))
    given = variables(mariadb, database, tmp_path, jsonmend_backup=False, cleanup_backup_manifest_file=str(path))
    refused = run_playbook("cleanup.yml", given, tmp_path, stdin=subprocess.DEVNULL)
    out = " ".join(refused.stdout.split())
    assert refused.returncode != 0
    assert "was taken on server staging.example.com:3306, but the repair runs on server %s" % manifest["server"]["identity"] in out
    assert "Nothing was changed" in out and r.checksum(admin_cursor) == before and bookkeeping(admin_cursor) == ()

    data["server"].pop("identity")
    path.write_text(json.dumps(data))
    accepted = run_playbook("cleanup.yml", given, tmp_path, stdin=subprocess.DEVNULL)
    out = " ".join(accepted.stdout.split())
    assert accepted.returncode == 0, out[-4000:]
    assert "WARNING: backup %s records no server identity" % manifest["id"] in out

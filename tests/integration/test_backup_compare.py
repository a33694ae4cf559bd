# db_backup_compare against the real server: which backup it picks (safety backups never),
# what it refuses, and when the live tables are "identical" - the test that lets a rollback or
# an emergency skip a restore that would change nothing.
import json

import db_backup
import db_backup_compare
import pytest

from tools.devstack import seed

# Backups, restores, retention and records carry times: make clock runs these under faketime.
pytestmark = pytest.mark.clock


def args_for(mariadb, database, backup_dir, **extra):
    args = mariadb.login_params(database)
    args.update(backup_dir=str(backup_dir))
    args.update(extra)
    return args


def test_compare_picks_the_backup_and_sees_every_difference(mariadb, database, admin_cursor, tmp_path, module_runner):
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o700)
    seed.create_table(admin_cursor, check=True)
    seed.seed(admin_cursor, 500, corrupt_percent=4, invalid=True)
    missing = module_runner(db_backup_compare, args_for(mariadb, database, backups, scope="database"))
    assert missing.failed and "no verified database-scope backup of database %s" % database in missing["msg"]
    assert "playbooks/backup.yml -e jsonmend_backup_scope=database" in missing["msg"]

    taken = module_runner(db_backup, args_for(mariadb, database, backups, scope="database"))["manifest"]
    # A newer, verified safety backup (what a restore takes first) is never the one picked.
    safety = module_runner(db_backup, args_for(mariadb, database, backups, scope="database", label="pre_restore_" + database))["manifest"]
    assert safety["verified"] and safety["id"].startswith("backup_pre_restore_")

    same = module_runner(db_backup_compare, args_for(mariadb, database, backups, scope="database", check_file=True))
    assert not same.failed and same["changed"] is False
    assert same["backup_id"] == taken["id"] and same["identical"] and same["compared"] == "checksums"

    # An update in place keeps the count: only the checksum tells.
    admin_cursor.execute("UPDATE analytics_activityevent SET metadata = '{\"changed\": 1}' WHERE id = 3")
    updated = module_runner(db_backup_compare, args_for(mariadb, database, backups, scope="database"))
    assert not updated["identical"] and updated["compared"] == "checksums"
    assert "content differs" in updated["differences"][0]
    # A new row: the counts differ, no checksum is computed.
    seed.insert_rows(admin_cursor, [(1, "login", "{}", "2026-12-01 00:00:00")])
    added = module_runner(db_backup_compare, args_for(mariadb, database, backups, scope="database"))
    assert added["compared"] == "counts" and added["differences"] == ["analytics_activityevent: 500 rows expected, 501 found"]

    # An unverified backup is refused; a given id is used as it is.
    manifest = backups / (taken["id"] + ".manifest.json")
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(dict(data, verified=False)))
    refused = module_runner(db_backup_compare, args_for(mariadb, database, backups, backup_id=taken["id"]))
    assert refused.failed and "is not verified" in refused["msg"]


def test_compare_reports_a_missing_database(mariadb, database, admin_cursor, tmp_path, module_runner):
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o700)
    seed.create_table(admin_cursor, check=True)
    seed.seed(admin_cursor, 50)
    module_runner(db_backup, args_for(mariadb, database, backups, scope="database"))
    admin_cursor.execute("DROP DATABASE `%s`" % database)
    args = args_for(mariadb, database, backups, scope="database")
    args["database"] = database
    gone = module_runner(db_backup_compare, args)
    assert not gone.failed and gone["database_exists"] is False and not gone["identical"]

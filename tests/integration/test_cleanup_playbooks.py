# playbooks/cleanup.yml and playbooks/rollback.yml end to end on the real server: the backup
# gate, the runbook's confirmation, check mode, the repair and its re-scan, the lossless undo,
# the restore fallback's loss report, and the password never shown.
import datetime
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import db_backup
import pytest

from tests.support import repair as r
from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD
from tools.devstack.playbooks import db_vars, run_playbook


def manifest_file(tmp_path, database, **extra):
    """A backup manifest as the backup role writes it (the contract the cleanup role checks)."""
    manifest = dict(
        verified=True,
        id="backup-test",
        path=str(tmp_path / "backup-test.sql.gz"),
        manifest_path=str(tmp_path / "backup-test.json"),
        created_at=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        database=database,
        tables=["analytics_activityevent"],
    )
    manifest.update(extra)
    path = tmp_path / "backup-test.json"
    path.write_text(json.dumps(manifest))
    return str(path)


@pytest.fixture
def seeded(admin_cursor):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 6000, corrupt_percent=2.0, invalid=True)
    return r.checksum(admin_cursor)


def cleanup_vars(mariadb, database, tmp_path, **extra):
    # These tests hand the gate a manifest file; test_backup_then_cleanup_then_restore runs the real backup.
    values = db_vars(mariadb, database, cleanup_control_dir=str(tmp_path / "control"), jsonmend_report_dir=str(tmp_path / "reports"), jsonmend_backup=False)
    # rollback.yml puts back code and data by default; these tests have no application.
    values.update(jsonmend_rollback_scope="data")
    values.update(extra)
    return values


def play(name, variables, tmp_path, **kwargs):
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return run_playbook(name, variables, tmp_path, **kwargs)


def test_cleanup_refuses_without_a_verified_backup(mariadb, database, seeded, tmp_path, admin_cursor):
    result = play("cleanup.yml", cleanup_vars(mariadb, database, tmp_path, jsonmend_confirm="yes"), tmp_path)
    assert result.returncode != 0
    assert "No verified backup covers %s.analytics_activityevent.metadata" % database in result.stdout
    assert "cleanup_allow_without_backup=true" in result.stdout and "Nothing was changed" in result.stdout
    unverified = manifest_file(tmp_path, database, verified=False)
    result = play("cleanup.yml", cleanup_vars(mariadb, database, tmp_path, jsonmend_confirm="yes", cleanup_backup_manifest_file=unverified), tmp_path)
    assert result.returncode != 0 and "backup backup-test is not verified" in result.stdout
    assert r.checksum(admin_cursor) == seeded


def test_cleanup_asks_for_confirmation(mariadb, database, seeded, tmp_path, admin_cursor):
    variables = cleanup_vars(mariadb, database, tmp_path, cleanup_backup_manifest_file=manifest_file(tmp_path, database))
    result = play("cleanup.yml", variables, tmp_path)
    assert result.returncode != 0
    assert "About to repair" in result.stdout and "can be undone with playbooks/rollback.yml" in result.stdout
    assert "Not confirmed" in result.stdout and "jsonmend_confirm=yes" in result.stdout
    assert r.checksum(admin_cursor) == seeded


def test_cleanup_check_mode_changes_nothing(mariadb, database, seeded, tmp_path, admin_cursor):
    variables = cleanup_vars(mariadb, database, tmp_path, cleanup_backup_manifest_file=manifest_file(tmp_path, database))
    result = play("cleanup.yml", variables, tmp_path, check=True, extra_args=["--diff"])
    assert result.returncode == 0, result.stdout[-3000:]
    assert "check mode: nothing changed" in result.stdout and "SQL NULL" in result.stdout  # diff pairs
    # A dry run repairs nothing: the re-scan's count is not blamed on writers during the repair.
    assert "check mode: nothing was written" in result.stdout and "still corrupt after the repair" not in result.stdout
    assert r.checksum(admin_cursor) == seeded
    admin_cursor.execute("SHOW TABLES LIKE '%%jsonmend%%'")
    assert admin_cursor.fetchall() == ()
    assert not (tmp_path / "control").exists()


def test_cleanup_repairs_verifies_and_rollback_undoes(mariadb, database, seeded, tmp_path, admin_cursor):
    variables = cleanup_vars(
        mariadb,
        database,
        tmp_path,
        jsonmend_confirm="yes",
        cleanup_backup_manifest_file=manifest_file(tmp_path, database),
        cleanup_policy={"INTEGER": "wrap"},
        cleanup_chunk_size=500,
    )
    result = play("cleanup.yml", variables, tmp_path, verbosity=3)
    assert result.returncode == 0, result.stdout[-4000:]
    out = result.stdout
    assert "jsonmend repair statistics" in out and "the column is clean: 0 corrupted rows remain" in out
    assert TOOL_PASSWORD not in out + result.stderr
    assert set(r.classes(admin_cursor, database).values()) <= {"OBJECT", "SQL NULL"}
    # One directory per server and target, repair and undo apart (issue 13 item 7).
    target_dir = tmp_path / "control" / ("127.0.0.1_%d" % mariadb.port) / ("%s.analytics_activityevent.metadata" % database)
    progress = (target_dir / "repair.progress").read_text()
    assert "jsonmend repair statistics" in progress and TOOL_PASSWORD not in progress
    admin_cursor.execute("SELECT run_id FROM `%s`" % r.RUNS)
    run_id = admin_cursor.fetchone()[0]
    # Idempotent: a second cleanup finds nothing to change.
    again = play("cleanup.yml", variables, tmp_path)
    assert again.returncode == 0 and "rows changed   : 0" in again.stdout
    # Rollback, lossless path: the latest run is undone and the table is byte-identical.
    rollback = play("rollback.yml", cleanup_vars(mariadb, database, tmp_path, jsonmend_confirm="yes"), tmp_path)
    assert rollback.returncode == 0, rollback.stdout[-4000:]
    assert "About to undo" not in rollback.stdout  # confirmed up front
    assert "jsonmend undo statistics" in rollback.stdout and run_id in rollback.stdout
    assert r.checksum(admin_cursor) == seeded
    # Undoing again changes nothing.
    twice = play("rollback.yml", cleanup_vars(mariadb, database, tmp_path, jsonmend_confirm="yes", jsonmend_rollback_run_id=run_id), tmp_path)
    assert twice.returncode == 0 and "restored       : 0" in twice.stdout


def test_rows_corrupted_while_the_cleanup_runs_are_reported(mariadb, database, seeded, tmp_path, admin_cursor):
    stop = threading.Event()

    def writer():
        conn = mariadb.connect(database)
        cur = conn.cursor()
        cur.execute("SET SESSION check_constraint_checks = 0")
        while not stop.is_set():
            cur.execute("INSERT INTO analytics_activityevent (user_id, event_type, metadata, created_at) VALUES (1, 'quiz_completed', '99', NOW())")
            time.sleep(0.05)
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        variables = cleanup_vars(mariadb, database, tmp_path, jsonmend_confirm="yes", cleanup_backup_manifest_file=manifest_file(tmp_path, database))
        result = play("cleanup.yml", variables, tmp_path)
    finally:
        stop.set()
        thread.join()
    assert result.returncode != 0
    assert "rows are still corrupt after the repair (INTEGER" in result.stdout
    assert "where the repair's walk ended: they were written while it ran" in result.stdout


def test_bad_settings_are_refused_before_anything(mariadb, database, seeded, tmp_path, admin_cursor):
    base = cleanup_vars(mariadb, database, tmp_path, jsonmend_confirm="yes", cleanup_allow_without_backup=True)
    result = play("cleanup.yml", dict(base, cleanup_policy={"INTEGER": "unwrap"}), tmp_path)
    assert result.returncode != 0 and "cleanup settings refused" in result.stdout
    result = play("cleanup.yml", dict(base, cleanup_default_action="drop"), tmp_path)
    assert result.returncode != 0 and "cleanup_default_action" in result.stdout
    result = play("rollback.yml", dict(base, jsonmend_rollback_method="truncate"), tmp_path)
    assert result.returncode != 0 and "must be undo (lossless, default) or restore" in result.stdout
    assert r.checksum(admin_cursor) == seeded


def real_backup(module_runner, mariadb, database, backups):
    """A verified table backup taken by the backup module itself (key ranges and row digests)."""
    args = dict(mariadb.login_params(database), backup_dir=str(backups), create_dir=True, table="analytics_activityevent")
    manifest = module_runner(db_backup, args)["manifest"]
    assert manifest["verified"] and manifest["ranges"]
    return manifest


@pytest.mark.clock
def test_restore_fallback_counts_what_it_changes_from_content(mariadb, database, admin_cursor, tmp_path, module_runner):
    """Rows inserted after the backup with an old timestamp and with none, an old row updated and
    another deleted: the restore's question and cleanup_restore_impact count 2, 1 and 1 with their
    keys, whatever the timestamps say; after the restore the table equals the backup."""
    seed.create_table(admin_cursor, check=False)
    admin_cursor.execute("ALTER TABLE analytics_activityevent MODIFY created_at datetime(6) NULL")
    seed.seed(admin_cursor, 3000, corrupt_percent=2.0, invalid=True)
    taken = r.checksum(admin_cursor)
    backups = tmp_path / "backups"
    manifest = real_backup(module_runner, mariadb, database, backups)
    seed.insert_rows(admin_cursor, [(1, "login", '{"late": 1}', "2001-01-01 00:00:00"), (2, "login", '{"late": 2}', None)])
    admin_cursor.execute("SELECT MAX(id) FROM analytics_activityevent")
    newest = admin_cursor.fetchone()[0]
    admin_cursor.execute("UPDATE analytics_activityevent SET metadata = '{\"edited\": 1}' WHERE id = 17")
    admin_cursor.execute("DELETE FROM analytics_activityevent WHERE id = 42")
    variables = cleanup_vars(
        mariadb, database, tmp_path, jsonmend_rollback_method="restore", cleanup_backup_manifest_file=manifest["manifest_path"], backup_dir=str(backups)
    )
    # Without confirmation it stops after the report, before the backup role is called.
    result = play("rollback.yml", variables, tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode != 0 and "Not confirmed" in out, out[-3000:]
    assert "2 rows inserted since the backup are REMOVED (keys {0} to {1}: {0}, {1})".format(newest - 1, newest) in out
    assert "1 row changed since the backup gets its old content back (key 17)" in out
    assert "1 row deleted since the backup comes back (key 42)" in out
    # One question for code and data (rollback.yml's confirm), the restore's figures in it.
    assert "Data: would RESTORE from backup %s: 2 rows inserted since the backup are REMOVED" % manifest["id"] in out
    changed = r.checksum(admin_cursor)
    assert changed != taken

    result = play("rollback.yml", dict(variables, jsonmend_confirm="yes"), tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert r.checksum(admin_cursor) == taken
    record = json.loads(sorted((tmp_path / "reports").glob("*/record.json"))[-1].read_text())
    impact = record["rollback"]["data"]["impact"]
    assert [impact[n] for n in ("rows_inserted_since", "rows_changed_since", "rows_deleted_since")] == [2, 1, 1]
    assert impact["tables"]["analytics_activityevent"]["deleted"]["sample_keys"] == [42]


@pytest.mark.clock
def test_restore_fallback_without_ranges_says_what_is_unknown(mariadb, database, seeded, admin_cursor, tmp_path, module_runner):
    backups = tmp_path / "backups"
    manifest = real_backup(module_runner, mariadb, database, backups)
    path = Path(manifest["manifest_path"])
    older = json.loads(path.read_text())
    for key in ("ranges", "digests"):
        older.pop(key)  # as written before the backups kept key ranges
    path.write_text(json.dumps(older))
    seed.insert_rows(admin_cursor, [(1, "login", "{}", "2001-01-01 00:00:00")])
    variables = cleanup_vars(mariadb, database, tmp_path, jsonmend_rollback_method="restore", cleanup_backup_manifest_file=str(path), backup_dir=str(backups))
    result = play("rollback.yml", variables, tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode != 0 and "Not confirmed" in out  # still asks
    assert "UNKNOWN how many rows were inserted, changed, deleted since the backup" in out
    assert "holds no key ranges for analytics_activityevent" in out and "6001 rows now, 6000 in the backup" in out
    assert "rows inserted since" not in out.replace("UNKNOWN how many rows were inserted", "")


@pytest.mark.clock
def test_backup_then_cleanup_then_restore_fallback(mariadb, database, seeded, admin_cursor, tmp_path):
    """cleanup.yml takes and verifies a real backup first; rollback.yml's restore fallback brings the
    table back to that backup, after reporting the rows written since that it loses."""
    backups = tmp_path / "backups"
    variables = cleanup_vars(mariadb, database, tmp_path, jsonmend_backup=True, backup_dir=str(backups), backup_create_dir=True, jsonmend_confirm="yes")
    result = play("cleanup.yml", variables, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    admin_cursor.execute(
        "SELECT COUNT(*) FROM analytics_activityevent WHERE metadata IS NOT NULL AND NOT (JSON_VALID(metadata) AND JSON_TYPE(metadata) = 'OBJECT')"
    )
    assert admin_cursor.fetchone()[0] == 0
    manifests = sorted(backups.glob("*.manifest.json"))
    assert len(manifests) == 1 and json.loads(manifests[0].read_text())["verified"] is True
    # Written after the backup but stamped long before it: the restore still counts it (by content).
    seed.insert_rows(admin_cursor, [(1, "login", '{"after": "backup"}', "2001-01-01 00:00:00")])
    rollback = cleanup_vars(
        mariadb,
        database,
        tmp_path,
        jsonmend_rollback_method="restore",
        cleanup_backup_manifest_file=str(manifests[0]),
        backup_dir=str(backups),
        jsonmend_confirm="yes",
    )
    result = play("rollback.yml", rollback, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "1 row inserted since the backup is REMOVED" in " ".join(result.stdout.split())
    assert r.checksum(admin_cursor) == seeded
    assert TOOL_PASSWORD not in result.stdout


def django_not_null_table(cur):
    """analytics_activityevent as Django's default JSONField() makes it: NOT NULL, CHECK (json_valid)."""
    cur.execute("DROP TABLE IF EXISTS analytics_activityevent")
    cur.execute(
        "CREATE TABLE analytics_activityevent (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id int NOT NULL, event_type varchar(64) NOT NULL,"
        " metadata longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL CHECK (json_valid(metadata)), created_at datetime(6) NOT NULL,"
        " notes varchar(200) NULL) ENGINE=InnoDB"
    )
    rows = [(i % 5 + 1, "quiz_completed", v, "2026-11-02 10:00:00") for i, v in enumerate(['{"a": 1}', "42", "[1]", '"{\\"b\\": 2}"', '{"c": 3}'] * 20)]
    seed.insert_rows(cur, rows)
    cur.execute("UPDATE analytics_activityevent SET notes = ELT(1 + id MOD 3, 'call back', 'paid', 'left a message')")


def test_cleanup_repairs_djangos_not_null_column_with_the_defaults(mariadb, database, admin_cursor, tmp_path):
    django_not_null_table(admin_cursor)
    variables = cleanup_vars(mariadb, database, tmp_path, jsonmend_confirm="yes", cleanup_backup_manifest_file=manifest_file(tmp_path, database))
    result = play("cleanup.yml", variables, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "the column is clean" in result.stdout
    admin_cursor.execute("SELECT metadata, COUNT(*) FROM analytics_activityevent GROUP BY metadata ORDER BY metadata")
    assert admin_cursor.fetchall() == (('{"a": 1}', 20), ('{"b": 2}', 20), ('{"c": 3}', 20), ("{}", 40))


def test_cleanup_refuses_what_the_column_cannot_take_before_the_backup(mariadb, database, admin_cursor, tmp_path):
    django_not_null_table(admin_cursor)
    before = r.checksum(admin_cursor)
    backups = tmp_path / "backups"
    base = cleanup_vars(mariadb, database, tmp_path, jsonmend_backup=True, backup_dir=str(backups), backup_create_dir=True, jsonmend_confirm="yes")
    # An explicit null on Django's NOT NULL column: refused, naming the column and the alternatives.
    result = play("cleanup.yml", dict(base, cleanup_default_action="null"), tmp_path)
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "column %s.analytics_activityevent.metadata is NOT NULL" % database in out and "use empty (the empty object {}), wrap or skip" in out
    # A numeric column named by mistake, and a column of free text: refused too.
    result = play("cleanup.yml", dict(base, jsonmend_column="user_id"), tmp_path)
    assert result.returncode != 0 and "(a number), not a JSON text column" in " ".join(result.stdout.split())
    result = play("cleanup.yml", dict(base, jsonmend_column="notes"), tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode != 0 and "does not look like a JSON column: 100 of 100 sampled non-NULL values (100.0%) are not valid JSON" in out
    assert "jsonmend_column_is_json=yes" in out
    # All before the backup: no dump was taken, nothing changed.
    assert not list(backups.glob("*")) if backups.exists() else True
    assert r.checksum(admin_cursor) == before


def test_a_key_the_repair_cannot_walk_is_refused_before_the_backup(mariadb, database, admin_cursor, tmp_path):
    """Issue 15 item 11: a composite primary key, or a jsonmend_primary_key that is not the table's key."""
    admin_cursor.execute("CREATE TABLE twokeys (a int NOT NULL, b int NOT NULL, metadata longtext, PRIMARY KEY (a, b))")
    admin_cursor.execute("INSERT INTO twokeys VALUES (1, 1, '42'), (1, 2, '{}')")
    seed.create_table(admin_cursor)
    seed.insert_rows(admin_cursor, [(1, "login", "7", "2026-11-01 00:00:00")])
    admin_cursor.execute("SELECT COUNT(*), BIT_XOR(CRC32(CONCAT_WS('|', a, b, metadata))) FROM twokeys")
    before = admin_cursor.fetchone()
    backups = tmp_path / "backups"
    base = cleanup_vars(mariadb, database, tmp_path, jsonmend_backup=True, backup_dir=str(backups), backup_create_dir=True, jsonmend_confirm="yes")
    result = play("cleanup.yml", dict(base, jsonmend_table="twokeys", jsonmend_primary_key="a"), tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode != 0 and "is composite (a, b)" in out, out[-3000:]
    result = play("cleanup.yml", dict(base, jsonmend_primary_key="user_id"), tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode != 0 and "analytics_activityevent is (id), not (user_id): set primary_key (jsonmend_primary_key) to id" in out, out[-3000:]
    # Both before the backup and the question: no dump, nothing changed.
    assert not list(backups.glob("*")) if backups.exists() else True
    admin_cursor.execute("SELECT COUNT(*), BIT_XOR(CRC32(CONCAT_WS('|', a, b, metadata))) FROM twokeys")
    assert admin_cursor.fetchone() == before
    admin_cursor.execute("SHOW TABLES LIKE '%%jsonmend%%'")
    assert admin_cursor.fetchall() == ()


def module_processes(playbook_argv_marker):
    """The python processes an ansible-playbook run started (its modules), found through /proc."""
    parents, argvs = {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                parents[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argvs[int(pid)] = f.read()
        except (OSError, IndexError, ValueError):
            continue
    roots = [pid for pid, argv in argvs.items() if b"ansible-playbook" in argv and playbook_argv_marker in argv]
    found = []
    for pid, argv in argvs.items():
        ancestor = parents.get(pid)
        while ancestor and ancestor not in roots:
            ancestor = parents.get(ancestor)
        if ancestor and b"ansible-playbook" not in argv and os.path.basename(argv.split(b"\0", 1)[0]).startswith(b"python"):
            found.append(pid)
    return found


def test_a_killed_repair_says_what_happened_and_how_to_resume(mariadb, database, seeded, tmp_path, admin_cursor):
    """Issue 15 item 11: kill -9 of the module mid-run ends with what happened and the exact commands."""
    variables = cleanup_vars(
        mariadb,
        database,
        tmp_path,
        jsonmend_confirm="yes",
        cleanup_backup_manifest_file=manifest_file(tmp_path, database),
        cleanup_chunk_size=500,
        cleanup_run_id="killedrun1",
    )
    target_dir = tmp_path / "control" / ("127.0.0.1_%d" % mariadb.port) / ("%s.analytics_activityevent.metadata" % database)
    target_dir.mkdir(parents=True)
    pause = target_dir / "repair.pause"
    pause.touch()  # the module waits at its first checkpoint, alive, until it is killed
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=play("cleanup.yml", variables, tmp_path)))
    worker.start()
    progress = target_dir / "repair.progress"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and "pause file" not in (progress.read_text() if progress.exists() else ""):
        time.sleep(0.5)
    killed = module_processes(b"cleanup.yml")
    assert killed, "the repair module was not found waiting on its pause file"
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    worker.join(300)
    result = outcome["result"]
    assert result.returncode != 0
    out = result.stdout
    assert "ended without a result (killed or crashed" in out, out[-3000:]
    assert "Resume: run the same command again (repair run killedrun1" in out
    assert "playbooks/rollback.yml -e jsonmend_rollback_scope=data -e jsonmend_rollback_run_id=killedrun1" in out
    # The same command resumes and finishes; the rollback it named puts every value back.
    pause.unlink()
    again = play("cleanup.yml", variables, tmp_path)
    assert again.returncode == 0, again.stdout[-3000:]
    assert set(r.classes(admin_cursor, database).values()) <= {"OBJECT", "SQL NULL"}
    undo = play("rollback.yml", cleanup_vars(mariadb, database, tmp_path, jsonmend_confirm="yes", jsonmend_rollback_run_id="killedrun1"), tmp_path)
    assert undo.returncode == 0, undo.stdout[-3000:]
    assert r.checksum(admin_cursor) == seeded

# rollback.yml, emergency_rollback.yml and monitor.yml after a real strategy B deploy, on the
# real stack (quizsite under gunicorn under supervisord, its git origin, the session's MariaDB)
# with the real backup and cleanup roles. One stack and ONE deploy for the module: the tests run
# in order, each starting from the state the previous one left and building what it needs.
import json
import os
import re
import signal
import subprocess
import time
from types import SimpleNamespace

import pytest

from tests.support import repair as r
from tests.support.receivers import HTTPReceiver, SMTPReceiver
from tools.devstack import seed
from tools.devstack.app_stack import PROGRAM, git
from tools.devstack.mariadb_server import TOOL_PASSWORD
from tools.devstack.playbooks import db_vars, run_playbook

CORRUPT_VALUES = ["3.5", "42", '"text"', "[1, 2]", "true", json.dumps(json.dumps({"question_id": 9}))]
CORRUPT = 20


# app_db and stack: tests/integration/conftest.py.
# Overrides conftest.py's db (one per test): env and deployed are module-scoped and use it, and the
# tests go on from the state the one before left, so the module shares one cursor.
@pytest.fixture(scope="module")
def db(mariadb, app_db):
    with mariadb.admin_cursor(app_db) as cur:
        yield cur


def digest(cur, max_id=None):
    """(rows, checksum) of every column of the rows up to max_id (all rows when None)."""
    cur.execute(
        "SELECT COUNT(*), BIT_XOR(CRC32(CONCAT_WS('|', id, user_id, event_type, COALESCE(metadata, '<SQL NULL>'), created_at)))"
        " FROM analytics_activityevent WHERE id <= %s",
        (max_id if max_id is not None else 2**62,),
    )
    return cur.fetchone()


def corrupt_count(cur):
    cur.execute("SELECT COUNT(*) FROM analytics_activityevent WHERE metadata IS NOT NULL AND NOT (JSON_VALID(metadata) AND JSON_TYPE(metadata) <=> 'OBJECT')")
    return cur.fetchone()[0]


def recap_changed(result):
    """changed= of every host in the PLAY RECAP."""
    return [int(line.split("changed=")[1].split()[0]) for line in result.stdout.splitlines() if " changed=" in line and "ok=" in line]


def migration_0002_applied(stack):
    return "[X] 0002_activityevent_metadata_object" in stack.manage("showmigrations", "analytics").stdout


@pytest.fixture(scope="module")
def env(stack, db, mariadb, app_db, tmp_path_factory):
    """The variables every playbook gets, and a runner."""
    base = tmp_path_factory.mktemp("rollback")
    variables = db_vars(mariadb, app_db, jsonmend_report_dir=str(base / "reports"), **stack.ansible_vars())
    variables.update(
        backup_dir=str(base / "backups"),
        backup_create_dir=True,
        cleanup_control_dir=str(base / "control"),
        jsonmend_confirm="yes",
    )

    def run(playbook, **extra):
        result = run_playbook(playbook, dict(variables, **extra), base, stdin=subprocess.DEVNULL)
        assert TOOL_PASSWORD not in result.stdout + result.stderr
        return result

    return SimpleNamespace(base=base, reports=base / "reports", backups=base / "backups", run=run, vars=variables)


@pytest.fixture(scope="module")
def deployed(stack, db, mariadb, app_db, env):
    """v1 with CORRUPT corrupt rows, a verified database backup, then a successful strategy B deploy."""
    stack.reset("v1")
    db.execute("TRUNCATE TABLE analytics_activityevent")
    seed.seed(db, 1500, corrupt_percent=0, null_percent=5)
    seed.insert_rows(
        db, [(7 + i % 5, "quiz_answer_submitted", CORRUPT_VALUES[i % len(CORRUPT_VALUES)], "2026-11-%02d 12:00:00" % (1 + i % 20)) for i in range(CORRUPT)]
    )
    db.execute("SELECT MAX(id) FROM analytics_activityevent")
    max_id = db.fetchone()[0]
    before = digest(db)
    # The emergency's backup, as `playbooks/backup.yml -e jsonmend_backup_scope=database` takes it.
    env.backups.mkdir(exist_ok=True)
    args = dict(mariadb.login_params(app_db), backup_dir=str(env.backups), scope="database")
    rc, result, err = r.finish(r.spawn("db_backup", args, env.base, name="backup"))
    assert rc == 0 and result["manifest"]["verified"], err[-2000:]
    # With the database guard in observe after the verification (issue 20): the rollback removes it.
    result = env.run("deploy.yml", strategy="B", jsonmend_guard_after_deploy=True)
    assert result.returncode == 0, result.stdout[-4000:]
    assert stack.head() == stack.shas["v2"] and corrupt_count(db) == 0 and migration_0002_applied(stack)
    record = json.loads((env.reports / "deploy-latest.json").read_text())
    assert record["repair"]["rows_changed"] == CORRUPT
    assert record["guard"]["installed"] == "observe" and guard_triggers(db)
    return SimpleNamespace(max_id=max_id, before=before, record=record)


def guard_triggers(db):
    db.execute("SHOW TRIGGERS LIKE 'analytics_activityevent'")
    return [row[0] for row in db.fetchall() if row[0].startswith("jsonmend_guard")]


def test_rollback_restores_code_and_data_exactly_and_twice_changes_nothing(stack, db, env, deployed):
    result = env.run("rollback.yml")
    out = result.stdout
    assert result.returncode == 0, out[-5000:]
    # The guard the deploy installed went with it, before the undo wrote the old values back.
    assert guard_triggers(db) == [] and "Guard: would remove the database guard the deploy installed" in " ".join(out.split())
    # Code: back at v1 (v2's migration unapplied with v2's code first), healthy on v1.
    assert stack.head() == stack.shas["v1"]
    status, body = stack.health()
    assert status == 200 and body["release"] == stack.shas["v1"]
    assert not migration_0002_applied(stack)
    # Data: every row that existed before the deploy is back byte for byte (the deploy's smoke
    # test added events after it, which the lossless undo keeps).
    assert digest(db, deployed.max_id) == deployed.before
    assert corrupt_count(db) == CORRUPT
    assert "✓ scan: %d corrupted row(s)" % CORRUPT in out and "✓ health: healthy on %s" % stack.shas["v1"] in out
    notice = next(env.reports.glob("*/notifications/rollback.txt")).read_text()
    assert "repair run %s" % deployed.record["repair"]["run_id"] in notice and "code back to %s" % stack.shas["v1"] in notice
    records = [json.loads(line) for line in (env.reports / "records.jsonl").read_text().splitlines()]
    assert records[-1]["playbook"] == "rollback.yml" and records[-1]["outcome"] == "rolled_back"
    assert records[-1]["rollback"]["data"]["outcome"] == "undone" and records[-1]["scan_after"]["corrupted_rows"] == CORRUPT

    # Re-runnable: a second run finds everything in place and changes nothing.
    pid, checksum = stack.pid(), digest(db)
    again = env.run("rollback.yml")
    assert again.returncode == 0, again.stdout[-5000:]
    assert recap_changed(again) == [0]
    assert "the checkout is at %s already" % stack.shas["v1"][:12] in again.stdout
    assert (stack.pid(), digest(db), stack.head()) == (pid, checksum, stack.shas["v1"])
    assert len(list(env.reports.glob("*/notifications/rollback.txt"))) == 1  # nothing rolled back: no second alert


def test_rollback_to_a_ref_by_revert(stack, db, env, deployed):
    rollback_to_a_ref_by_revert(stack, env.run)


# rollback_to_a_ref_by_revert, emergency_rollback_refused_without_a_database_backup and
# monitor_after_a_rollback are shared with test_postgres_night.py: `run(playbook, **extra)` runs a
# playbook against the stack with the module's variables, whatever the database.
def rollback_to_a_ref_by_revert(stack, run):
    """A ref instead of the record, and `git revert`: the migration the ref lacks is unapplied
    first, then a revert commit (content = the ref's) is checked out and served."""
    stack.reset("v2")
    assert migration_0002_applied(stack)
    result = run("rollback.yml", jsonmend_rollback_scope="code", jsonmend_rollback_ref="v1", jsonmend_rollback_code_method="revert")
    assert result.returncode == 0, result.stdout[-5000:]
    head = stack.head()
    assert head != stack.shas["v1"] and git("rev-parse", "HEAD^", cwd=stack.app_dir) == stack.shas["v2"]
    assert git("diff", "--stat", stack.shas["v1"], "HEAD", cwd=stack.app_dir) == ""  # v1's content
    assert git("log", "-1", "--format=%an|%s", cwd=stack.app_dir) == "jsonmend rollback|Revert to %s" % stack.shas["v1"]
    assert not migration_0002_applied(stack) and stack.health()[1]["release"] == head
    # (A second run finds the content already v1's: tests/unit/test_rollback_filters.py.)


def test_emergency_rollback_refuses_without_a_database_backup(stack, db, env, tmp_path):
    emergency_rollback_refused_without_a_database_backup(stack, env.run, tmp_path, lambda: digest(db))


def emergency_rollback_refused_without_a_database_backup(stack, run, tmp_path, data):
    """emergency_rollback.yml with no verified database backup: refused, nothing changed (`data()`
    reads the table)."""
    empty = tmp_path / "no-backups"
    empty.mkdir()
    before = (stack.head(), data(), stack.flag.exists())
    result = run("emergency_rollback.yml", backup_dir=str(empty))
    out = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "needs a verified database-scope backup" in out and "no verified database-scope backup" in out, out[-4000:]
    assert "playbooks/backup.yml -e jsonmend_backup_scope=database" in out and "Nothing was changed" in out
    assert (stack.head(), data(), stack.flag.exists()) == before


def kill_a_cleanup_half_way(mariadb, app_db, db, base):
    """json_type_repair killed with SIGKILL after its first chunk committed (the second waits in
    chunk_sleep): some corrupt rows repaired, the run left 'running' in the ledger."""
    db.execute(
        "SELECT COUNT(*) FROM analytics_activityevent WHERE id < (SELECT MIN(id) FROM analytics_activityevent"
        " WHERE metadata IS NOT NULL AND NOT (JSON_VALID(metadata) AND JSON_TYPE(metadata) <=> 'OBJECT'))"
    )
    # The first chunk ends in the middle of the corrupt rows.
    chunk = db.fetchone()[0] + CORRUPT // 2
    args = r.module_args(mariadb, app_db, mode="repair", run_id="killed-cleanup", chunk_size=chunk, chunk_time=0, chunk_sleep=30)
    process = r.spawn("json_type_repair", args, base, name="cleanup")
    deadline = time.time() + 60
    repaired = 0
    while time.time() < deadline and process.poll() is None:
        db.execute("SELECT COUNT(*) FROM %s WHERE run_id = 'killed-cleanup'" % r.QUARANTINE)
        repaired = db.fetchone()[0]
        if repaired:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL and 0 < repaired < CORRUPT
    db.execute("SELECT status FROM %s WHERE run_id = 'killed-cleanup'" % r.RUNS)
    assert db.fetchone()[0] == "running"


def test_emergency_rollback_from_a_half_finished_run(stack, db, env, deployed, mariadb, app_db):
    # What an interrupted night leaves: the checkout moved to v2 by a deploy that died before it
    # migrated, a cleanup killed half way, the maintenance flag on, the application down.
    git("reset", "-q", "--hard", stack.shas["v2"], cwd=stack.app_dir)
    kill_a_cleanup_half_way(mariadb, app_db, db, env.base)
    stack.flag.write_text("")
    stack.supervisorctl("stop", PROGRAM)
    assert stack.health()[0] is None
    # jsonmend_column names no column: the scan module cannot run, and the emergency needs it not.
    # The runbook's emergency contacts are told (production was broken), not the development team.
    with SMTPReceiver() as smtp:
        contacts = {
            name: {"name": name.replace("_", " "), "email": ["%s@example.com" % name]}
            for name in ("development_team", "devops", "on_call", "database_emergency", "management")
        }
        result = env.run(
            "emergency_rollback.yml",
            jsonmend_column="no_such_column",
            notify_contacts=contacts,
            notify_smtp_host="127.0.0.1",
            notify_smtp_port=smtp.port,
            notify_smtp_security="none",
        )
    assert [m["To"] for m in smtp.messages] == ["on_call@example.com", "database_emergency@example.com", "management@example.com"], result.stdout[-3000:]
    assert "Sent to: on call (email); database emergency (email); management (email)" in smtp.messages[0].get_payload(decode=True).decode()
    out = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout[-6000:]
    assert "RESTORE from backup backup_" in out and "rolling back to %s" % stack.shas["v1"][:12] in out
    # What the restore changes, counted from content before the question: the rows the killed
    # cleanup repaired come back as they were; the other tables are untouched.
    changed = re.search(r"analytics_activityevent: (\d+) rows? changed since the backup gets? (its|their) old content back", out)
    assert changed and 0 < int(changed.group(1)) < CORRUPT, out[-6000:]
    assert "django_migrations: nothing: the table holds exactly what the backup holds" in out, out[-6000:]
    assert "manage.py check: ok" in out and "manage.py migrate --check: ok" in out
    assert "the re-scan failed" in out
    # Healthy on v1, the flag gone, the database exactly the backup taken before the deploy.
    assert stack.head() == stack.shas["v1"] and stack.health()[1]["release"] == stack.shas["v1"]
    assert not stack.flag.exists() and stack.get("/")[0] == 200
    assert digest(db) == deployed.before and corrupt_count(db) == CORRUPT
    assert not migration_0002_applied(stack)
    state = json.loads((env.reports / "emergency-latest.json").read_text())
    assert state["backup_id"].startswith("backup_") and state["safety_backup"].startswith("backup_pre_restore_")
    notice = sorted(env.reports.glob("*/notifications/rollback.txt"))
    assert any("Action Taken: " in n.read_text() and "restored from backup %s" % state["backup_id"] in n.read_text() for n in notice)

    # Safe to run twice: nothing more to do, nothing changed, still healthy, no alert.
    pid, checksum = stack.pid(), digest(db)
    again = env.run("emergency_rollback.yml")
    assert again.returncode == 0, again.stdout[-5000:]
    assert "Nothing to do: already rolled back and healthy" in again.stdout
    assert "already identical to backup %s" % state["backup_id"] in " ".join(again.stdout.split())
    assert recap_changed(again) == [0]
    assert (stack.pid(), digest(db), stack.head(), stack.flag.exists()) == (pid, checksum, stack.shas["v1"], False)
    assert len(sorted(env.reports.glob("*/notifications/rollback.txt"))) == len(notice)


def test_monitor_notifies_once_per_new_finding(stack, db, env, deployed):
    monitor_after_a_rollback(stack, env.run, env.reports, deployed.record["run"]["id"], CORRUPT)


def monitor_after_a_rollback(stack, run, reports, deploy_id, corrupt):
    """monitor.yml once deploy `deploy_id` was rolled back and the table holds `corrupt` corrupt rows:
    not watching; on a permanent watch one alert per new finding."""
    with SMTPReceiver() as smtp, HTTPReceiver() as hook:
        channels = dict(
            notify_channels=["email", "webhook"],
            notify_email_to=["oncall@example.com"],
            notify_smtp_host="127.0.0.1",
            notify_smtp_port=smtp.port,
            notify_smtp_security="none",
            notify_webhook_url=hook.url,
        )
        # v1's compute_content_difficulty crashes on the corrupt rows (back since the rollback), as
        # in the runbook: a new error entry, and the re-scan finds the rows.
        crash = stack.manage("compute_content_difficulty", check=False)
        assert crash.returncode != 0 and "TypeError" in crash.stderr
        # The deploy was rolled back (rollback.yml above): nothing to watch, no alert, exit 0.
        quiet = run("monitor.yml", **channels)
        assert quiet.returncode == 0, quiet.stdout[-3000:]
        assert "Not watching: deploy %s was rolled back by run" % deploy_id in " ".join(quiet.stdout.split())
        assert not smtp.messages and not hook.posts and not (reports / "monitor-state.json").exists()
        # A permanent watch (monitor_window_hours: 0) watches whatever the deploys: it alerts once per finding.
        channels.update(monitor_window_hours=0)
        first = run("monitor.yml", **channels)
        assert first.returncode != 0, first.stdout[-3000:]
        assert len(smtp.messages) == 1 and len(hook.posts) == 1
        subject, body = smtp.messages[0]["Subject"], smtp.messages[0].get_payload(decode=True).decode()
        assert subject == "[Alert] jsonmend monitor: 1 new error log entry; %d corrupted row(s)" % corrupt
        assert "TypeError in a management command: 1" in body and "manage.py compute_content_difficulty failed" in body
        assert "TypeError: the JSON object must be str, bytes or bytearray, not float" in body
        assert "the table holds %d corrupted row(s)" % corrupt in body
        assert hook.posts[0][1]["text"].startswith("*%s*" % subject)
        # The next run: nothing new (same log, same count), so no message and exit 0.
        second = run("monitor.yml", **channels)
        assert second.returncode == 0, second.stdout[-3000:]
        assert "nothing new" in second.stdout
        assert len(smtp.messages) == 1 and len(hook.posts) == 1
    state = json.loads((reports / "monitor-state.json").read_text())
    assert state["scan"]["alerted_corrupted_rows"] == corrupt
    assert state["logs"]["localhost"]["offset"] == stack.error_log.stat().st_size

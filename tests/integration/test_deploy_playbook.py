# playbooks/deploy.yml on the real stack: quizsite under gunicorn under supervisord, its git
# origin with v1, v2 (the fix) and a broken release, the session's MariaDB. One stack per
# module; every test starts from v1 running and a table with a chosen number of corrupt rows.
# Every test runs the real roles; the failed-rollback test makes the undo fail the way a real
# server can (a trigger that refuses the original values).
import json
import os
import re
import subprocess
import uuid

import pytest

from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD
from tools.devstack.playbooks import ROOT, db_vars, run_playbook

ROLES_PATH = str(ROOT / "roles")
CORRUPT_VALUES = ["3.5", "42", '"text"', "[1, 2]", "true", json.dumps(json.dumps({"question_id": 9}))]


def reseed(cur, corrupt, rows=1500):
    """`rows` healthy events, then exactly `corrupt` corrupt ones; returns the table checksum."""
    cur.execute("TRUNCATE TABLE analytics_activityevent")
    seed.seed(cur, rows, corrupt_percent=0, null_percent=5)
    bad = [(7 + i % 5, "quiz_answer_submitted", CORRUPT_VALUES[i % len(CORRUPT_VALUES)], "2026-11-%02d 12:00:00" % (1 + i % 20)) for i in range(corrupt)]
    if bad:
        seed.insert_rows(cur, bad)
    return checksum(cur)


def checksum(cur):
    cur.execute("CHECKSUM TABLE analytics_activityevent EXTENDED")
    return cur.fetchone()[1]


def digest(cur, max_id):
    """A checksum of the rows up to max_id, every column (the smoke tests add rows after it)."""
    cur.execute(
        "SELECT COUNT(*), BIT_XOR(CRC32(CONCAT_WS('|', id, user_id, event_type, COALESCE(metadata, '<SQL NULL>'), created_at)))"
        " FROM analytics_activityevent WHERE id <= %s",
        (max_id,),
    )
    return cur.fetchone()


def max_id(cur):
    cur.execute("SELECT MAX(id) FROM analytics_activityevent")
    return cur.fetchone()[0]


def corrupt_count(cur):
    cur.execute("SELECT COUNT(*) FROM analytics_activityevent WHERE metadata IS NOT NULL AND NOT (JSON_VALID(metadata) AND JSON_TYPE(metadata) <=> 'OBJECT')")
    return cur.fetchone()[0]


def state(stack, cur):
    """Everything a run could change: code, process, flag, data, files of the checkout."""
    files = sorted(str(p.relative_to(stack.base)) for p in stack.base.rglob("*") if "__pycache__" not in p.parts and not p.name.endswith(".log"))
    return dict(head=stack.head(), pid=stack.pid(), flag=stack.flag.exists(), checksum=checksum(cur), files=files)


@pytest.fixture
def run(stack, mariadb, app_db, tmp_path):
    """Run deploy.yml (or another playbook) against the stack; returns (result, report dir)."""
    reports = tmp_path / "reports"

    def variables_for(**extra):
        variables = db_vars(mariadb, app_db, jsonmend_report_dir=str(reports), **stack.ansible_vars())
        variables.update(
            backup_dir=str(tmp_path / "backups"),
            backup_create_dir=True,
            cleanup_control_dir=str(tmp_path / "control"),
            jsonmend_confirm="yes",
        )
        variables.update(extra)
        return variables

    def runner(playbook="deploy.yml", check=False, console=False, **extra):
        result = run_playbook(playbook, variables_for(**extra), tmp_path, check=check, env={"ANSIBLE_ROLES_PATH": ROLES_PATH}, console=console)
        assert TOOL_PASSWORD not in result.stdout + result.stderr
        return result

    runner.reports = reports
    runner.variables = variables_for
    return runner


def record(reports):
    return json.loads((reports / "deploy-latest.json").read_text())


def test_strategy_a_deploys_the_fix_end_to_end(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=0)
    before = stack.pid()
    # As an operator sees it: the console of ansible.cfg (callback_plugins/jsonmend_console.py).
    result = run(strategy="A", console=True, jsonmend_change_ticket="CHG-4321")
    out = result.stdout
    assert result.returncode == 0, out[-4000:]
    # Short enough to read: a line per phase, the findings, the checklist, the checks, a summary.
    assert len(out.splitlines()) < 80, out
    assert "DeprecationWarning" not in result.stderr and "[DEPRECATION WARNING]" not in out + result.stderr
    summary = out[out.index("─" * 20) :]
    assert "Outcome:  DEPLOYED  (deploy.yml" in summary
    assert "Record:   %s/" % run.reports in summary and "/record.md" in summary
    assert "Next:     ./jsonmend monitor every 15 minutes for 24 hours; to undo: ./jsonmend rollback" in summary
    for phase in ("✓ preflight", "✓ diagnose", "✓ deploy", "✓ verify"):
        assert re.search(r"^  %s +\d" % phase, out, re.M), phase
    assert "- [x] Rollback plan prepared (previous commit recorded): git reset --hard %s" % stack.shas["v1"] in out
    assert "✓ smoke: event" in out and "Verification passed" in out
    # The code fix runs: v2 checked out, restarted, healthy on v2, its migration applied.
    assert stack.head() == stack.shas["v2"]
    assert stack.health()[1]["release"] == stack.shas["v2"]
    assert stack.pid() != before
    assert "0002_activityevent_metadata_object" in stack.manage("showmigrations", "analytics").stdout.split("[X]")[-1]
    assert not stack.flag.exists()  # strategy A: no maintenance
    for line in ("- [x] Decision strategy chosen", "✓ scan: 0 corrupted", "✓ commands: manage.py compute_content_difficulty", "✓ smoke: event"):
        assert line in out
    rec = record(run.reports)
    assert rec["outcome"] == "deployed"
    assert rec["release"]["previous"] == stack.shas["v1"] and rec["release"]["new"] == stack.shas["v2"]
    assert rec["release"]["migrations_applied"] == ["analytics.0002_activityevent_metadata_object"]
    assert rec["verification"]["passed"] and rec["maintenance"] is None and rec["repair"] is None
    notes = (run.reports / rec["run"]["id"] / "record.md").read_text()
    assert "| Change ticket | CHG-4321 |" in notes and "| Environment | local |" in notes
    assert "| Code | %s → %s (deployed) |" % (stack.shas["v1"], stack.shas["v2"]) in notes and "- ✓ scan: 0 corrupted" in notes
    # v2's validation now refuses what v1 stored: a number as metadata.
    status, body = stack.post_json("/api/quiz/answer/", {"user_id": 5, "metadata": 3.5})
    assert status == 400 and "metadata must be a JSON object" in json.dumps(body)
    assert "ValidationError on ActivityEvent" in stack.error_log.read_text()


def test_check_mode_changes_nothing(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=0)
    before = state(stack, db)
    result = run(strategy="A", check=True)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Check out main from origin" in result.stdout
    assert state(stack, db) == before
    assert not run.reports.exists()


def test_strategy_that_does_not_fit_is_refused_with_the_numbers(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=12)
    before = state(stack, db)
    result = run(strategy="A")
    assert result.returncode != 0
    assert "strategy A does not fit: the live scan found 12 corrupted row(s), outside A's range 0; the strategy that fits is B (1-50)" in result.stdout
    assert "Re-run with -e strategy=B" in result.stdout and "Nothing was changed." in result.stdout
    assert state(stack, db) == before
    assert record(run.reports)["outcome"] == "refused"


def test_strategy_d_without_approval_changes_nothing(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=520)
    before = state(stack, db)
    result = run(strategy="D")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "STOP - strategy D (520 corrupted rows, range 501+)" in out
    for requirement in ("Root cause analysis complete", "Stakeholder approval", "Full backup verified and tested", "jsonmend_strategy_d_approval"):
        assert requirement in out
    assert state(stack, db) == before
    result = run(strategy="D", jsonmend_strategy_d_approval="sure; DROP TABLE")
    assert result.returncode != 0 and "does not look like a change ticket id" in result.stdout
    assert state(stack, db) == before


def test_bad_ref_is_refused_before_any_change(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=0)
    before = state(stack, db)
    result = run(strategy="auto", jsonmend_app_version="no-such-branch")
    assert result.returncode != 0
    assert '"no-such-branch" is not a branch or tag of' in " ".join(result.stdout.split())
    assert state(stack, db) == before


def test_bad_maintenance_flag_is_refused_before_any_change(stack, db, run, tmp_path):
    stack.reset("v1")
    reseed(db, corrupt=5)
    before = state(stack, db)
    result = run(strategy="B", jsonmend_maintenance_flag="/etc/maintenance.flag")
    assert result.returncode != 0
    assert "the flag \"/etc/maintenance.flag\" must be an absolute path without '..' inside one of" in " ".join(result.stdout.split())
    assert state(stack, db) == before and not (tmp_path / "backups").exists()


def test_strategy_b_maintenance_backup_cleanup_verify(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=20)
    result = run(strategy="B")
    out = result.stdout
    assert result.returncode == 0, out[-4000:]
    assert corrupt_count(db) == 0 and stack.head() == stack.shas["v2"]
    assert not stack.flag.exists()
    rec = record(run.reports)
    assert rec["maintenance"]["action"] == "disable" and rec["maintenance"]["enabled"] is False
    assert rec["backup"]["verified"] and rec["repair"]["rows_changed"] == 20
    assert rec["verification"]["checks"]["scan"]["max_corrupted"] == 0
    # The app answered 503 while the flag was on, and the smoke test got through it.
    assert "Check that the application answers 503" in out
    assert rec["verification"]["checks"]["smoke"]["ok"]


def test_strategy_c_stops_for_the_investigation(stack, db, run, tmp_path):
    stack.reset("v1")
    reseed(db, corrupt=120)
    before = state(stack, db)
    result = run(strategy="C")
    assert result.returncode != 0
    out = result.stdout
    assert "CORRUPTION INVESTIGATION" in out, out[-5000:]
    assert "Review it, then re-run with -e jsonmend_investigation_ack=yes" in " ".join(out.split())
    assert state(stack, db) == before
    assert not (tmp_path / "backups").exists()  # stopped before the backup
    run_dir = next(p for p in run.reports.iterdir() if p.is_dir())
    csv_lines = (run_dir / "corrupted_metadata.csv").read_text().splitlines()
    assert csv_lines[0] == "id,user_id,event_type,metadata,created_at,json_class" and len(csv_lines) == 121
    assert oct((run_dir / "corrupted_metadata.csv").stat().st_mode & 0o777) == "0o600"
    summary = json.loads((run_dir / "investigation.json").read_text())
    assert summary["rows"] == 120 and summary["distinct_users"] == 5
    assert "## By day" in (run_dir / "investigation.md").read_text()


def test_failed_deploy_rolls_back_code_and_data_then_ends_maintenance(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=120)
    last = max_id(db)
    before = digest(db, last)
    result = run(strategy="C", jsonmend_investigation_ack="yes", jsonmend_app_version="broken")
    out = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "Deploy failed at 'Fail on the checks that did not pass'" in out
    assert "NameError: name 'user_scores' is not defined" in out
    # The old code runs again, the data is back byte for byte, and the flag came off once healthy.
    assert stack.head() == stack.shas["v1"]
    assert stack.health()[1]["release"] == stack.shas["v1"]
    assert digest(db, last) == before
    db.execute("SELECT DISTINCT user_id FROM analytics_activityevent WHERE id > %s", (last,))
    assert db.fetchall() == ((0,),)  # only the smoke tests' events were added
    assert not stack.flag.exists()
    rec = record(run.reports)
    assert rec["outcome"] == "rolled_back"
    assert rec["rollback"]["data"]["method"] == "undo"
    assert rec["release"]["status"] == "rolled_back"
    assert rec["failure"]["verification"]["passed"] is False


# What a database-level guard in enforce mode does: only objects (or NULL) get in. The repair writes
# objects and NULLs and passes; the undo writes the original numbers and strings back and is refused.
OBJECTS_ONLY = (
    "CREATE TRIGGER test_objects_only BEFORE UPDATE ON analytics_activityevent FOR EACH ROW"
    " BEGIN IF NEW.metadata IS NOT NULL AND COALESCE(JSON_TYPE(NEW.metadata), '') <> 'OBJECT' THEN"
    " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'metadata must be an object'; END IF; END"
)


def test_failed_rollback_keeps_maintenance_on_loudly(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=20)
    db.execute(OBJECTS_ONLY)
    try:
        result = run(strategy="B", jsonmend_app_version="broken", rollback_restore_fallback=False)
    finally:
        db.execute("DROP TRIGGER IF EXISTS test_objects_only")
    rollback_failed_loudly(stack, run, result, 20, "(1644) metadata must be an object")


def rollback_failed_loudly(stack, run, result, corrupt, error):
    """What a deploy whose automatic rollback could not put the `corrupt` original values back says
    and leaves: maintenance on, the server's `error` named. Shared with test_postgres_night.py."""
    out = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "ROLLBACK FAILED" in out and "MAINTENANCE MODE STAYS ON" in out, out[-3000:]
    assert "left %d as the repair wrote them" % corrupt in out and "could not be restored: %s" % error in out, out[-3000:]
    assert stack.flag.exists()
    assert record(run.reports)["outcome"] == "rollback_failed"
    stack.flag.unlink()


def test_maintenance_playbook(stack, db, run, tmp_path):
    stack.reset("v1")
    outside = tmp_path / "elsewhere" / "maintenance.flag"
    result = run("maintenance.yml", maintenance_action="enable", jsonmend_maintenance_flag=str(outside))
    assert result.returncode != 0 and "must be an absolute path without '..' inside one of" in result.stdout
    assert not outside.exists() and not stack.flag.exists()

    result = run("maintenance.yml", maintenance_action="enable")
    assert result.returncode == 0, result.stdout[-3000:]
    assert stack.get("/")[0] == 503 and stack.get("/health/")[0] == 200
    token = stack.flag.read_text().strip()
    assert len(token) == 40 and oct(stack.flag.stat().st_mode & 0o777) == "0o640"
    assert token not in result.stdout
    assert stack.get("/", headers={"X-Maintenance-Bypass": token})[0] == 200
    assert stack.get("/", headers={"X-Maintenance-Bypass": "wrong"})[0] == 503

    result = run("maintenance.yml", maintenance_action="disable")
    assert result.returncode == 0, result.stdout[-3000:]
    assert not stack.flag.exists() and stack.get("/")[0] == 200


def test_the_runbook_error_and_its_fix(stack, db):
    """v1 crashes exactly as the runbook says; v2 reads past the same rows."""
    stack.reset("v1")
    reseed(db, corrupt=3)
    result = stack.manage("compute_content_difficulty", check=False)
    assert result.returncode != 0
    assert "TypeError: the JSON object must be str, bytes or bytearray, not float" in result.stderr
    assert "manage.py compute_content_difficulty failed" in stack.error_log.read_text()
    stack.reset("v2")
    result = stack.manage("compute_content_difficulty")
    assert "skipped 3 answer(s) whose metadata is not a JSON object" in result.stderr


def test_migration_builds_the_table_the_seed_builds(stack, mariadb):
    """The app's migration and tools/devstack/seed.py agree on the schema, index names included."""
    names = ["schema_" + uuid.uuid4().hex[:8] for _ in range(2)]
    with mariadb.admin() as conn, conn.cursor() as cur:
        for name in names:
            cur.execute("CREATE DATABASE `%s`" % name)
        cur.execute("USE `%s`" % names[0])
        seed.create_table(cur)
        cur.execute("SHOW CREATE TABLE analytics_activityevent")
        seeded = cur.fetchone()[1]
    env = dict(os.environ, **dict(stack.environment, QUIZSITE_DB_NAME=names[1]))
    migrate = [str(stack.venv / "bin" / "python"), "manage.py", "migrate", "--noinput", "analytics", "0001"]
    subprocess.run(migrate, cwd=stack.app_dir, env=env, check=True, capture_output=True)
    with mariadb.admin(names[1]) as conn, conn.cursor() as cur:
        cur.execute("SHOW CREATE TABLE analytics_activityevent")
        migrated = cur.fetchone()[1]
        for name in names:
            cur.execute("DROP DATABASE `%s`" % name)
    assert migrated == seeded

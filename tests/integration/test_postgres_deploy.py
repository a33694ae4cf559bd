# The deploy path on PostgreSQL (issue 18), end to end with the real application: quizsite on
# psycopg 3 (metadata jsonb, from its JSONField migration) under gunicorn under supervisord, its git
# origin with v1, v2 (the fix) and a broken release, a throwaway PostgreSQL cluster. deploy.yml with
# strategies A to D, then rollback.yml and emergency_rollback.yml after a strategy B deploy: the
# code back on v1 and every row back byte for byte. One stack for the module, small tables; each
# test starts from v1 running and a table it seeds itself.
import json
import subprocess
import uuid

import pytest
from psycopg import sql

from tests.support.postgres import pg_vars
from tools.devstack import pg_seed
from tools.devstack.app_stack import AppStack
from tools.devstack.mariadb_server import TOOL_PASSWORD
from tools.devstack.playbooks import ROOT, run_playbook

TABLE = "analytics_activityevent"
DEPLOYS = TABLE + "_jsonmend_deploys"
ROLES_PATH = str(ROOT / "roles")
CORRUPT_VALUES = ["3.5", "42", '"text"', "[1, 2]", "true", json.dumps(json.dumps({"question_id": 9}))]


@pytest.fixture(scope="module")
def pgapp(postgres):
    """The application's database for the module (the app's migration creates the table)."""
    name = postgres.create_database("app_" + uuid.uuid4().hex[:10])
    yield name
    if postgres.process is not None:
        with postgres.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# Overrides conftest.py's MariaDB stack by name: the same quizsite, on PostgreSQL.
@pytest.fixture(scope="module")
def stack(postgres, pgapp, tmp_path_factory):
    """quizsite v1 on pgapp (migrated: jsonb metadata) under its own supervisord; stopped after the module."""
    app = AppStack(tmp_path_factory.mktemp("pgstack"), postgres.port, pgapp, engine="postgresql").build()
    app.manage("migrate", "--noinput")
    app.start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def db(postgres, pgapp):
    """An autocommit connection as the tool's role inside pgapp, shared by the module."""
    with postgres.connect(pgapp) as conn:
        yield conn


def reseed(db, corrupt, rows=600):
    """`rows` healthy events (5 % SQL NULL), then exactly `corrupt` corrupt ones; returns max(id)."""
    db.execute("TRUNCATE TABLE %s RESTART IDENTITY" % TABLE)
    pg_seed.seed(db, rows, corrupt_percent=0, null_percent=5)
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO %s (user_id, event_type, metadata, created_at) VALUES (%%s, 'quiz_answer_submitted', %%s::jsonb, %%s)" % TABLE,
            [(7 + i % 5, CORRUPT_VALUES[i % len(CORRUPT_VALUES)], "2026-11-%02d 12:00:00+00" % (1 + i % 20)) for i in range(corrupt)],
        )
    return max_id(db)


def max_id(db):
    return db.execute("SELECT MAX(id) FROM %s" % TABLE).fetchone()[0]


def content(db, up_to=None):
    """Every row up to `up_to` (all when None): every column, metadata as the server's text and its NULLness."""
    return db.execute(
        "SELECT id, user_id, event_type, metadata::text, metadata IS NULL, created_at FROM %s WHERE id <= %%s ORDER BY id" % TABLE,
        (up_to if up_to is not None else 2**62,),
    ).fetchall()


def corrupt_count(db):
    return db.execute("SELECT COUNT(*) FROM %s WHERE metadata IS NOT NULL AND jsonb_typeof(metadata) <> 'object'" % TABLE).fetchone()[0]


def deploy_row(db, run_id):
    """(status, previous, new) of the deploy record the database keeps for run_id."""
    return db.execute("SELECT status, previous, new FROM %s WHERE run_id = %%s" % DEPLOYS, (run_id,)).fetchone()


def migration_0002_applied(stack):
    return "[X] 0002_activityevent_metadata_object" in stack.manage("showmigrations", "analytics").stdout


def state(stack, db):
    """What a refused run must not change: code, process, flag, data."""
    return dict(head=stack.head(), pid=stack.pid(), flag=stack.flag.exists(), rows=content(db))


@pytest.fixture
def run(stack, postgres, pgapp, tmp_path):
    """Run deploy.yml (or another playbook) against the stack; `run.reports` is the report dir,
    `run.variables(**extra)` what a run gets (test_deploy_night.start_playbook runs one in the background)."""

    def variables_for(**extra):
        return pg_vars(postgres, pgapp, tmp_path, **{**stack.ansible_vars(), "jsonmend_confirm": "yes", **extra})

    def runner(playbook="deploy.yml", check=False, **extra):
        result = run_playbook(playbook, variables_for(**extra), tmp_path, check=check, env={"ANSIBLE_ROLES_PATH": ROLES_PATH}, stdin=subprocess.DEVNULL)
        assert TOOL_PASSWORD not in result.stdout + result.stderr
        return result

    runner.reports = tmp_path / "reports"
    runner.backups = tmp_path / "backups"
    runner.variables = variables_for
    return runner


def record(reports):
    return json.loads((reports / "deploy-latest.json").read_text())


def assert_deployed(stack, db, run, result):
    """v2 checked out, migrated, restarted and healthy; the run record and the database's deploy record say so."""
    assert result.returncode == 0, result.stdout[-5000:]
    assert stack.head() == stack.shas["v2"] and stack.health()[1]["release"] == stack.shas["v2"]
    assert migration_0002_applied(stack) and not stack.flag.exists()
    rec = record(run.reports)
    assert rec["outcome"] == "deployed" and rec["verification"]["passed"]
    assert rec["release"]["previous"] == stack.shas["v1"] and rec["release"]["new"] == stack.shas["v2"]
    assert (run.reports / rec["run"]["id"] / "record.md").exists()
    line = json.loads((run.reports / "records.jsonl").read_text().splitlines()[-1])
    assert (line["playbook"], line["run_id"], line["outcome"]) == ("deploy.yml", rec["run"]["id"], "success")
    assert line["target"]["dialect"] == "postgresql", line["target"]
    assert deploy_row(db, rec["run"]["id"]) == ("deployed", stack.shas["v1"], stack.shas["v2"])
    return rec


def test_strategy_a_deploys_the_fix(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=0)
    before = stack.pid()
    rec = assert_deployed(stack, db, run, run(strategy="A"))
    assert stack.pid() != before
    assert rec["release"]["migrations_applied"] == ["analytics.0002_activityevent_metadata_object"]
    assert rec["maintenance"] is None and rec["repair"] is None
    # v2's validation refuses what v1 stored, and its command reads jsonb with jsonb_typeof.
    status, body = stack.post_json("/api/quiz/answer/", {"user_id": 5, "metadata": 3.5})
    assert status == 400 and "metadata must be a JSON object" in json.dumps(body)
    assert "compute_content_difficulty:" in stack.manage("compute_content_difficulty").stdout


def test_strategy_b_maintenance_backup_cleanup_verify(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=20)
    assert corrupt_count(db) == 20
    result = run(strategy="B")
    rec = assert_deployed(stack, db, run, result)
    assert corrupt_count(db) == 0
    assert rec["maintenance"]["action"] == "disable" and rec["maintenance"]["enabled"] is False
    assert rec["backup"]["verified"] and len(list(run.backups.glob("*.pgdump"))) == 1
    assert rec["repair"]["rows_changed"] == 20
    assert rec["verification"]["checks"]["scan"]["max_corrupted"] == 0 and rec["verification"]["checks"]["smoke"]["ok"]
    assert "Check that the application answers 503" in result.stdout


def test_check_mode_changes_nothing(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=20)
    before = state(stack, db)
    result = run(strategy="B", check=True)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Check out main from origin" in result.stdout
    assert state(stack, db) == before and not run.reports.exists() and not list(run.backups.glob("*.pgdump"))


def test_failed_deploy_rolls_back_code_and_data_then_ends_maintenance(stack, db, run):
    stack.reset("v1")
    last = reseed(db, corrupt=20)
    before = content(db)
    result = run(strategy="B", jsonmend_app_version="broken")
    out = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "Deploy failed at 'Fail on the checks that did not pass'" in out, out[-4000:]
    assert "NameError: name 'user_scores' is not defined" in out
    # The old code runs again, every row is back byte for byte, and the flag came off once healthy.
    assert stack.head() == stack.shas["v1"] and stack.health()[1]["release"] == stack.shas["v1"]
    assert content(db, last) == before and corrupt_count(db) == 20
    assert db.execute("SELECT DISTINCT user_id FROM %s WHERE id > %%s" % TABLE, (last,)).fetchall() == [(0,)]  # only the smoke tests' events
    assert not stack.flag.exists()
    rec = record(run.reports)
    assert rec["outcome"] == "rolled_back" and rec["rollback"]["data"]["method"] == "undo"
    assert rec["release"]["status"] == "rolled_back" and rec["failure"]["verification"]["passed"] is False
    assert deploy_row(db, rec["run"]["id"])[0] == "rolled_back"


def test_strategy_c_stops_for_the_investigation_then_repairs(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=60)
    before = state(stack, db)
    stopped = run(strategy="C")
    assert stopped.returncode != 0
    assert "CORRUPTION INVESTIGATION" in stopped.stdout, stopped.stdout[-5000:]
    assert state(stack, db) == before and not run.backups.exists()
    run_dir = next(p for p in run.reports.iterdir() if p.is_dir())
    assert len((run_dir / "corrupted_metadata.csv").read_text().splitlines()) == 61
    rec = assert_deployed(stack, db, run, run(strategy="C", jsonmend_investigation_ack="yes"))
    assert corrupt_count(db) == 0 and rec["repair"]["rows_changed"] == 60


def test_strategy_d_needs_the_approval_id(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=510, rows=200)
    before = state(stack, db)
    refused = run(strategy="D", jsonmend_investigation_ack="yes")
    out = " ".join(refused.stdout.split())
    assert refused.returncode != 0 and "STOP - strategy D (510 corrupted rows, range 501+)" in out, out[-3000:]
    bad = run(strategy="D", jsonmend_investigation_ack="yes", jsonmend_strategy_d_approval="sure; DROP TABLE")
    assert bad.returncode != 0 and "does not look like a change ticket id" in bad.stdout
    assert state(stack, db) == before
    rec = assert_deployed(stack, db, run, run(strategy="D", jsonmend_investigation_ack="yes", jsonmend_strategy_d_approval="CHG-1234"))
    assert corrupt_count(db) == 0 and rec["repair"]["rows_changed"] == 510
    # D backs up the whole database first.
    manifest = json.loads(next(run.backups.glob("*.manifest.json")).read_text())
    assert manifest["verified"] is True and manifest["scope"] == "database"


def recap_changed(result):
    """changed= of every host in the PLAY RECAP."""
    return [int(line.split("changed=")[1].split()[0]) for line in result.stdout.splitlines() if " changed=" in line and "ok=" in line]


def guard_triggers(db):
    rows = db.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", (TABLE,)).fetchall()
    return [row[0] for row in rows if row[0].startswith("jsonmend_guard")]


def test_rollback_brings_back_v1_and_every_row(stack, db, run):
    stack.reset("v1")
    last = reseed(db, corrupt=20)
    before = content(db)
    # With the database guard in observe after the verification (issue 20): the rollback removes it.
    deployed = assert_deployed(stack, db, run, run(strategy="B", jsonmend_guard_after_deploy=True))
    assert corrupt_count(db) == 0 and deployed["guard"]["installed"] == "observe" and guard_triggers(db)
    result = run("rollback.yml")
    out = result.stdout
    assert result.returncode == 0, out[-5000:]
    assert guard_triggers(db) == []
    # Code: back at v1 (v2's migration unapplied with v2's code first), healthy on v1.
    status, body = stack.health()
    assert stack.head() == stack.shas["v1"] and status == 200 and body["release"] == stack.shas["v1"]
    assert not migration_0002_applied(stack)
    # Data: every row that existed before the deploy is back byte for byte (the deploy's smoke test
    # added events after it, which the lossless undo keeps).
    assert content(db, last) == before and corrupt_count(db) == 20
    assert "✓ scan: 20 corrupted row(s)" in out and "✓ health: healthy on %s" % stack.shas["v1"] in out
    line = json.loads((run.reports / "records.jsonl").read_text().splitlines()[-1])
    assert line["playbook"] == "rollback.yml" and line["outcome"] == "rolled_back" and line["rollback"]["data"]["outcome"] == "undone"
    assert deploy_row(db, deployed["run"]["id"])[0] == "rolled_back"
    # Re-runnable: a second run finds everything in place and changes nothing.
    pid, rows = stack.pid(), content(db)
    again = run("rollback.yml")
    assert again.returncode == 0, again.stdout[-5000:]
    assert recap_changed(again) == [0] and "the checkout is at %s already" % stack.shas["v1"][:12] in again.stdout
    assert (stack.pid(), content(db), stack.head()) == (pid, rows, stack.shas["v1"])


def test_emergency_rollback_restores_the_database_backup(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=20)
    # The emergency's backup, as the runbook takes it before the night: the whole database.
    backup = run("backup.yml", jsonmend_backup_scope="database")
    assert backup.returncode == 0, backup.stdout[-3000:]
    before = content(db)
    assert_deployed(stack, db, run, run(strategy="B"))
    assert corrupt_count(db) == 0
    result = run("emergency_rollback.yml")
    out = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout[-6000:]
    assert "RESTORE from backup backup_" in out and "rolling back to %s" % stack.shas["v1"][:12] in out
    assert "manage.py check: ok" in out and "manage.py migrate --check: ok" in out
    # Healthy on v1, the flag gone, the table exactly the backup (the smoke test's events too are gone).
    assert stack.head() == stack.shas["v1"] and stack.health()[1]["release"] == stack.shas["v1"]
    assert not stack.flag.exists() and stack.get("/")[0] == 200
    assert not migration_0002_applied(stack)
    assert content(db) == before and corrupt_count(db) == 20
    state_file = json.loads((run.reports / "emergency-latest.json").read_text())
    assert state_file["backup_id"].startswith("backup_") and state_file["safety_backup"].startswith("backup_pre_restore_")
    # Safe to run twice: nothing more to do, nothing changed.
    pid = stack.pid()
    again = run("emergency_rollback.yml")
    assert again.returncode == 0, again.stdout[-5000:]
    assert "Nothing to do: already rolled back and healthy" in again.stdout
    assert recap_changed(again) == [0]
    assert (stack.pid(), content(db), stack.head(), stack.flag.exists()) == (pid, before, stack.shas["v1"], False)

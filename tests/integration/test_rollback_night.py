# The night of the deploy (issue 15) after a real strategy B deploy: rollback.yml asks about code
# and data together before touching either, dry runs of rollback, emergency and cleanup exit 0 and
# say what they would do, and a rollback from another controller (no reports/) finds the deploy
# in the database. One stack and one deploy for the module; the tests run in order.
import shutil
import subprocess

from tests.integration import test_rollback_playbooks as rb
from tools.devstack.playbooks import run_playbook

# The rollback tests' module-scoped cursor, variables and deploy; app_db and stack come from
# tests/integration/conftest.py.
db, env, deployed = rb.db, rb.env, rb.deployed
CORRUPT, digest, corrupt_count = rb.CORRUPT, rb.digest, rb.corrupt_count


def dry_run(env, playbook, **extra):
    return run_playbook(playbook, dict(env.vars, **extra), env.base, check=True, stdin=subprocess.DEVNULL)


def snapshot(stack, db):
    return stack.head(), stack.pid(), digest(db), stack.flag.exists()


def test_rollback_dry_run_exits_0_and_says_what_it_would_do(stack, db, env, deployed):
    before = snapshot(stack, db)
    result = dry_run(env, "rollback.yml")
    out = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout[-5000:]
    assert "Rollback plan (check mode: nothing changes)" in out
    assert "would roll back %s -> %s" % (stack.shas["v2"][:12], stack.shas["v1"][:12]) in out
    assert "would undo repair run %s: %d rows get their original value back" % (deployed.record["repair"]["run_id"], CORRUPT) in out
    assert "fatal:" not in result.stdout and "ROLLBACK FAILED" not in out and "Rollback failed" not in out
    assert snapshot(stack, db) == before


def test_rollback_without_an_answer_touches_neither_code_nor_data(stack, db, env, deployed):
    """Item 2: no terminal, no jsonmend_confirm: one question for code and data, before either."""
    before = snapshot(stack, db)
    result = env.run("rollback.yml", jsonmend_confirm="")
    out = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "Not confirmed" in out and "Neither the code nor the data was touched. Nothing was changed." in out
    assert "Code: would roll back" in out and "Data: would undo repair run" in out
    assert snapshot(stack, db) == before
    assert not list(env.reports.glob("*/notifications/rollback.txt"))


def test_emergency_and_cleanup_dry_runs_exit_0(stack, db, env, deployed):
    before = snapshot(stack, db)
    emergency = dry_run(env, "emergency_rollback.yml")
    assert emergency.returncode == 0, emergency.stdout[-5000:]
    assert "fatal:" not in emergency.stdout and "ROLLBACK FAILED" not in emergency.stdout
    assert snapshot(stack, db) == before
    cleanup = dry_run(env, "cleanup.yml")
    out = " ".join(cleanup.stdout.split())
    assert cleanup.returncode == 0, cleanup.stdout[-5000:]
    assert "Check mode: no backup was taken" in out
    assert snapshot(stack, db) == before


def test_rollback_from_another_controller_finds_the_deploy_in_the_database(stack, db, env, deployed, tmp_path):
    """Item 12: reports/ gone (another laptop, a fresh AWX container): code and data still come back."""
    shutil.move(str(env.reports), str(tmp_path / "reports-of-the-deploying-controller"))
    result = env.run("rollback.yml")
    out = result.stdout
    assert result.returncode == 0, out[-5000:]
    assert stack.head() == stack.shas["v1"] and stack.health()[1]["release"] == stack.shas["v1"]
    assert digest(db, deployed.max_id) == deployed.before and corrupt_count(db) == CORRUPT
    notice = next(env.reports.glob("*/notifications/rollback.txt")).read_text()
    assert "Application restored to pre-deployment state (code at %s)" % stack.shas["v1"][:12] in notice
    assert "undid repair run %s (%d rows" % (deployed.record["repair"]["run_id"], CORRUPT) in notice
    db.execute("SELECT status FROM analytics_activityevent_jsonmend_deploys WHERE run_id = %s", (deployed.record["run"]["id"],))
    assert db.fetchone() == ("rolled_back",)

# The night of the deploy (issue 15): on the real stack, the app on a port of its own.
import json
import os
import signal
import subprocess
import time

import pytest

from tests.integration import test_deploy_playbook as deploy
from tools.devstack.mariadb_server import free_port
from tools.devstack.playbooks import BIN, ROOT

# The deploy tests' runner; their stack (quizsite under supervisord on a free port, not the demo's
# 8765), app_db and db come from tests/integration/conftest.py.
run = deploy.run
reseed, state = deploy.reseed, deploy.state
CHECK_RUNS = [
    ("B", 20, {}),
    ("auto", 20, {}),
    ("C", 120, {"jsonmend_investigation_ack": "yes"}),
    ("D", 520, {"jsonmend_investigation_ack": "yes", "jsonmend_strategy_d_approval": "CHG-1234"}),
]


@pytest.mark.parametrize("strategy,corrupt,extra", CHECK_RUNS)
def test_check_mode_of_every_strategy_exits_0_and_says_what_would_happen(stack, db, run, strategy, corrupt, extra):
    stack.reset("v1")
    reseed(db, corrupt=corrupt)
    before = state(stack, db)
    result = run(strategy=strategy, check=True, **extra)
    out = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout[-6000:]
    assert state(stack, db) == before
    # What would happen, from the live scan and the repair's own preflight, said once, in the plan.
    assert "Plan (strategy %s, check mode: nothing changes):" % ("B" if strategy == "auto" else strategy) in out, out[-6000:]
    assert "Backup: would back up %d rows of" % (1500 + corrupt) in out
    assert "Repair: would repair %d rows: " % corrupt in out and "unwrap " in out
    assert "If anything fails: code back to %s" % stack.shas["v1"][:12] in out
    assert "fatal:" not in result.stdout and "Deploy failed" not in out and "ROLLBACK FAILED" not in out


@pytest.mark.parametrize("check", [False, True])
def test_a_wrong_app_url_is_refused_before_the_backup_and_maintenance(stack, db, run, tmp_path, check):
    """Item 1: the app on its own port, the inventory's URL on another: nothing answers there."""
    stack.reset("v1")
    reseed(db, corrupt=20)
    before = state(stack, db)
    wrong = "http://127.0.0.1:%d" % free_port()
    result = run(strategy="B", jsonmend_app_url=wrong, check=check)
    out = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "The application at jsonmend_app_url=%s is not the one this deploy updates" % wrong in out, out[-3000:]
    assert "%s/health/ answered nothing" % wrong in out and "Nothing was changed." in out
    assert "ROLLBACK FAILED" not in out and "Rolled back" not in out and "Turn maintenance mode on" not in out
    assert state(stack, db) == before and not (tmp_path / "backups").exists()


def test_a_backup_that_cannot_be_taken_is_refused_before_the_question(stack, db, run, tmp_path):
    """Item 11: the backup's directory and free space are checked before the one question and any change."""
    stack.reset("v1")
    reseed(db, corrupt=20)
    before = state(stack, db)
    result = run(strategy="B", backup_space_factor=1e9)
    out = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "not enough free space in" in out and "nothing was written" in out, out[-3000:]
    assert out.index("not enough free space in") < out.index("PLAY RECAP")
    # Refused before the plan and its question: nobody was asked, nothing was backed up or changed.
    assert "TASK [checklist : Show the plan]" not in result.stdout and "TASK [checklist : Ask once" not in result.stdout
    assert "ROLLBACK FAILED" not in out and "Deploy failed" not in out
    assert state(stack, db) == before and not list((tmp_path / "backups").glob("*.sql.gz"))


def start_playbook(run, tmp_path, playbook="deploy.yml", **extra):
    """A playbook in the background, in its own session (so the test can kill it as Ctrl-C would)."""
    vars_file = tmp_path / "bg-vars.json"
    vars_file.write_text(json.dumps(run.variables(**extra)))
    vars_file.chmod(0o600)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_ROLES_PATH=str(ROOT / "roles"))
    log = open(tmp_path / "bg.out", "w")
    return subprocess.Popen(
        [str(BIN / "ansible-playbook"), "playbooks/%s" % playbook, "-e", "@%s" % vars_file],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_after_the_checkout(stack, run, tmp_path):
    """deploy.yml (strategy A) from v1 killed with SIGKILL, as Ctrl-C twice or a lost session would,
    once the checkout moved to v2 (before the migration and the restart); returns its record,
    written as in_progress before the first change. Shared with test_postgres_night.py."""
    process = start_playbook(run, tmp_path, strategy="A")
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and stack.head() != stack.shas["v2"]:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert stack.head() == stack.shas["v2"], (tmp_path / "bg.out").read_text()[-3000:]
    killed = json.loads((run.reports / "deploy-latest.json").read_text())
    assert killed["outcome"] == "in_progress" and killed["release"]["previous"] == stack.shas["v1"]
    return killed


def test_a_deploy_interrupted_after_the_checkout_rolls_back_to_the_first_commit(stack, db, run, tmp_path):
    """Item 4: Ctrl-C after the checkout moved, a re-run, then rollback.yml: the code goes back to v1."""
    stack.reset("v1")
    reseed(db, corrupt=0)
    killed = kill_after_the_checkout(stack, run, tmp_path)

    again = run(strategy="A")
    assert again.returncode == 0, again.stdout[-4000:]
    rec = json.loads((run.reports / "deploy-latest.json").read_text())
    assert rec["outcome"] == "deployed" and rec["release"]["previous"] == stack.shas["v1"], rec["release"]
    assert rec["release"]["resumes"] == killed["run"]["id"]

    back = run("rollback.yml")
    out = " ".join(back.stdout.split())
    assert back.returncode == 0, back.stdout[-4000:]
    assert stack.head() == stack.shas["v1"] and stack.health()[1]["release"] == stack.shas["v1"]
    assert "the checkout is at %s already" % stack.shas["v2"][:12] not in out

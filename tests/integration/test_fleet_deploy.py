# playbooks/fleet_deploy.yml on real servers: the quiz app (quizsite under gunicorn under supervisord, its
# git origin with v1, v2 - the fix - and a broken release) on the session's MariaDB, and a throwaway server
# holding three small fleets of target databases (tools/devstack/fleet.py). Fleet A: a bad ref and a strategy D
# target without an approval refuse the rollout, a dry run changes nothing, a broken release is rolled back with no
# target touched, then the real rollout deploys v2 once and repairs every target (the C targets' team told
# first, one notice each) and sends one success notice for the fleet; its code release's deploy record is what
# monitor.yml watches and what rollback.yml -e jsonmend_rollback_scope=code puts back to v1 - the commands the fleet
# report prints, with the fleet's inventory. A fleet deploy killed during its code deploy is finished by the re-run,
# with the commit it started from kept as the one to return to. Fleet B (app back on v1): a trigger that refuses the
# repair on one target of batch 2 stops the rollout - that batch undone, the canary and batch 1 done, batch 3
# untouched, v2 still deployed - and the re-run resumes without redeploying the code. Fleet C: a target failed within
# the tolerance is listed as not repaired in the success notice.
import json
import os
import re
import shlex
import signal
import subprocess
import time

import pytest

from tests.support.fleet import content, own_scan, rollout_vars
from tools.devstack import fleet, seed
from tools.devstack.mariadb_server import TOOL_PASSWORD
from tools.devstack.playbooks import BIN, ROOT, db_vars, run_playbook

# About 10 minutes on 2 cores (the app stack built once): nine fleet_deploy.yml runs (one killed half way) and the
# printed maintenance.yml, monitor.yml, rollback.yml commands. One server, small tables.
# name, server, rows, corrupt percent, table (None: the runbook's table).
FLEET_A = (
    ("a1", "db1", 300, 0.0, None),  # clean: skipped, so the canary is a2
    ("a2", "db1", 300, 5.0, None),  # strategy B
    ("a3", "db1", 1500, 10.0, None),  # strategy C (about 110 corrupted rows): the development team is told first
    ("a4", "db1", 1500, 9.0, None),  # strategy C too, in a3's batch: each target's team notice is its own
)
D_TARGET = ("ad", "db1", 1200, 80.0, None)  # strategy D (about 650): refused without an approval
FLEET_B = (
    ("b1", "db1", 300, 3.0, None),  # the canary
    ("b2", "db1", 300, 5.0, None),  # batch 1
    ("b3", "db1", 300, 4.0, None),  # batch 2, with b4
    ("b4", "db1", 300, 6.0, None),  # batch 2: the trigger refuses the repair of its even rows
    ("b5", "db1", 300, 5.0, None),  # batch 3
)
B_BATCHES = [1, 2, "100%"]
FLEET_C = (
    ("c1", "db1", 300, 3.0, None),  # the canary
    ("c2", "db1", 300, 5.0, None),  # the one batch, with c3 and c4
    ("c3", "db1", 300, 4.0, None),  # the trigger refuses its repair: 1 of 3 fails, within the tolerance of 50%
    ("c4", "db1", 300, 6.0, None),
)
FROZEN = (
    "CREATE TRIGGER frozen BEFORE UPDATE ON analytics_activityevent FOR EACH ROW BEGIN"
    " IF MOD(OLD.id, 2) = 0 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'even rows are frozen'; END IF; END"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, stack, mariadb, app_db):
    base = tmp_path_factory.mktemp("fleetdeploy")
    common = base / "common"
    servers = fleet.start(base / "servers", common, targets=FLEET_A + (D_TARGET,) + FLEET_B + FLEET_C, detach=False)
    # The application server: its jsonmend_app_* and its own database, as deploy.yml reads them (host_vars, not
    # extra vars: those would override every target's jsonmend_db_*).
    app_vars = dict(db_vars(mariadb, app_db), **stack.ansible_vars())
    # Some healthy events in the app's own database: the broken release's management command fails on them.
    with mariadb.admin_cursor(app_db) as cur:
        seed.seed(cur, 200, corrupt_percent=0)
    try:
        inventories = {
            "A": write_inventory(base / "inv-a", common, FLEET_A, app_vars),
            "AD": write_inventory(base / "inv-ad", common, FLEET_A + (D_TARGET,), app_vars),
            "B": write_inventory(base / "inv-b", common, FLEET_B, app_vars),
            "C": write_inventory(base / "inv-c", common, FLEET_C, app_vars),
        }
        before = {t[0]: content(servers, t) for t in FLEET_A + FLEET_B + FLEET_C + (D_TARGET,)}
        yield dict(base=base, servers=servers, inventories=inventories, before=before)
    finally:
        for server in servers.values():
            server.stop()


def write_inventory(path, common, targets, app_vars):
    path = fleet.write_inventory(path, targets, host_vars_from=common)
    hosts = json.loads((path / "hosts.yml").read_text())
    hosts["all"]["children"]["app"] = {"hosts": {"quizapp": None}}
    (path / "hosts.yml").write_text(json.dumps(hosts))
    host_vars = path / "host_vars" / "quizapp.yml"
    host_vars.write_text(json.dumps(app_vars))
    host_vars.chmod(0o600)
    return path


def rollout(demo, name, check=False, extra_args=(), **variables):
    base = demo["base"]
    values = rollout_vars(base, **variables)
    result = run_playbook("fleet_deploy.yml", values, base, check=check, extra_args=["-i", str(demo["inventories"][name]), "-f", "8", *extra_args])
    assert TOOL_PASSWORD not in result.stdout + result.stderr
    return result


def latest_report(demo):
    report = json.loads((demo["base"] / "reports" / "fleet-deploy-latest.json").read_text())
    return report, {r["target"]: r for r in report["targets"]}


def unchanged(demo, targets):
    for target in targets:
        assert content(demo["servers"], target) == demo["before"][target[0]], target[0]


def out(result):
    return result.stdout[-6000:] + result.stderr[-2000:]


# -- fleet A ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def refused(demo, stack):
    stack.reset("v1")
    # Three refusals at once: a ref the remote does not have, a strategy D target without an approval, and a
    # strategy C target whose investigation is not acknowledged (its export and report are written).
    return rollout(demo, "AD", extra_args=["--limit", "localhost,quizapp,a2,a3,ad"], jsonmend_app_version="no-such-branch")


def test_a_bad_ref_and_a_strategy_d_target_without_approval_refuse_the_rollout(demo, stack, refused):
    assert refused.returncode == 2, out(refused)
    text = " ".join(refused.stdout.split())
    assert 'The rollout was refused: the code release could not be planned (quizapp: "no-such-branch" is not a branch or tag of' in text, out(refused)
    assert "; 2 target(s) refused or could not be read (a3: strategy C: investigate the source first." in text
    assert "ad: strategy D (" in text and "-e jsonmend_strategy_d_approval=<change ticket id>" in text
    assert "re-run with -e jsonmend_investigation_ack=yes" in text and "Nothing was changed on any target" in text
    report, rows = latest_report(demo)
    assert rows["ad"]["status"] == "failed" and rows["a2"]["status"] == "untouched" and rows["a2"]["strategy"] == "B"
    # The C target's investigation, as deploy.yml writes it: every corrupted row, and the report to read.
    investigation = json.loads(next((demo["base"] / "reports").glob("*-a3/investigation.json")).read_text())
    assert int(investigation["rows"]) == int(investigation["scanned_rows"]) > 0
    assert list((demo["base"] / "reports").glob("*-a3/corrupted_metadata.csv"))
    assert report["code"]["status"] == "unchanged" and report["playbook"] == "fleet_deploy.yml"
    assert stack.head() == stack.shas["v1"]
    unchanged(demo, FLEET_A + (D_TARGET,))


@pytest.fixture(scope="module")
def dry_run(demo, stack, refused):
    before = (stack.head(), stack.pid())
    result = rollout(demo, "A", check=True, jsonmend_fleet_batches=["100%"], jsonmend_investigation_ack="yes")
    return result, before


def test_check_mode_changes_nothing(demo, stack, dry_run):
    result, before = dry_run
    assert result.returncode == 0, out(result)
    text = " ".join(result.stdout.split())
    assert "Code first, once, before any data changes: deploy main %s -> %s on quizapp" % (stack.shas["v1"][:12], stack.shas["v2"][:12]) in text
    assert "a2 (" in text and ", strategy B)" in text and ", strategy C)" in text
    assert (stack.head(), stack.pid()) == before
    unchanged(demo, FLEET_A)
    assert not (demo["base"] / "backups").exists() or not list((demo["base"] / "backups").glob("backup_fleet_a*"))
    # The refused run's report is still the latest: a dry run writes none, nor a deploy record or a success notice.
    assert "ad" in latest_report(demo)[1]
    assert not list((demo["base"] / "reports").glob("*/deploy.json")) and not list((demo["base"] / "reports").glob("*/notifications/fleet_deploy_success.txt"))


@pytest.fixture(scope="module")
def broken(demo, stack, dry_run):
    return rollout(demo, "A", jsonmend_app_version="broken", jsonmend_investigation_ack="yes")


def test_a_failed_code_deploy_is_rolled_back_and_no_target_is_touched(demo, stack, broken):
    assert broken.returncode == 2, out(broken)
    text = " ".join(broken.stdout.split())
    assert "The code deploy failed on quizapp" in text and "No target was touched" in text, out(broken)
    assert stack.head() == stack.shas["v1"] and stack.health()[1]["release"] == stack.shas["v1"]
    report, rows = latest_report(demo)
    assert report["code"]["status"] == "rolled back" and "compute_" in report["code"]["error"]
    assert {n: r["status"] for n, r in rows.items()} == {"a1": "skipped", "a2": "untouched", "a3": "untouched", "a4": "untouched"}
    unchanged(demo, FLEET_A)
    md = (demo["base"] / "reports" / report["fleet_run_id"] / "fleet.md").read_text()
    assert md.startswith("# Fleet deploy") and "Code: **rolled back**" in md
    # Its deploy record says it rolled itself back (monitor.yml does not watch it, rollback.yml does not pick it).
    record = json.loads((demo["base"] / "reports" / report["code"]["run_id"] / "deploy.json").read_text())
    assert record["outcome"] == "rolled_back" and record["fleet"]["run_id"] == report["fleet_run_id"], record
    assert not (demo["base"] / "reports" / report["fleet_run_id"] / "notifications").exists()


@pytest.fixture(scope="module")
def full(demo, stack, broken):
    before = stack.pid()
    result = rollout(demo, "A", jsonmend_fleet_batches=["100%"], jsonmend_investigation_ack="yes")
    assert result.returncode == 0, out(result)
    return result, before


def test_full_rollout_deploys_the_code_once_then_repairs_every_target(demo, stack, full, module_runner):
    result, pid_before = full
    assert stack.head() == stack.shas["v2"] and stack.health()[1]["release"] == stack.shas["v2"] and stack.pid() != pid_before
    report, rows = latest_report(demo)
    code = report["code"]
    assert (code["status"], code["previous"], code["new"]) == ("deployed", stack.shas["v1"], stack.shas["v2"])
    assert report["plan"]["canary"] == ["a2"] and report["plan"]["batches"] == [["a3", "a4"]]
    assert [rows[n]["strategy"] for n in ("a2", "a3", "a4")] == ["B", "C", "C"] and rows["a1"]["status"] == "skipped"
    for target in FLEET_A[1:]:
        row = rows[target[0]]
        assert row["status"] == "done" and row["rows_changed"] == row["corrupted_before"] > 0, row
        assert own_scan(module_runner, demo["servers"], target)["corrupted_rows"] == 0
        assert "fleet_undo" in row["undo_command"]
    # The code release is one run of its own, recorded once.
    code_record = json.loads((demo["base"] / "reports" / code["run_id"] / "record.json").read_text())
    assert code_record["outcome"] == "success" and code_record["playbook"] == "fleet_deploy.yml"
    assert result.stdout.count("TASK [deploy : Check out main from origin]") == 1
    # Each C target's development team was told before its cleanup, in a notice of its own (both in one batch);
    # the B target's was not.
    for name in ("a3", "a4"):
        notice = (demo["base"] / "reports" / rows[name]["run_id"] / "notifications" / "pre_deployment.txt").read_text()
        assert "in jsonmend_%s.analytics_activityevent.metadata (strategy C" % name in notice, notice
    assert not (demo["base"] / "reports" / rows["a2"]["run_id"] / "notifications").exists()
    # ONE success notice for the fleet, from what was done: the code and every repaired target.
    notice = (demo["base"] / "reports" / report["fleet_run_id"] / "notifications" / "fleet_deploy_success.txt").read_text()
    assert notice.startswith("Subject: [Complete] Metadata Integrity Fix Deployed to the Fleet\n"), notice
    assert "main %s -> %s on quizapp, verified" % (stack.shas["v1"][:12], stack.shas["v2"][:12]) in notice, notice
    assert "%d corrupted row(s) cleaned in 3 of 4 targets" % report["totals"]["rows_changed"] in notice, notice
    for name in ("a2", "a3", "a4"):
        assert (
            "- %s (jsonmend_%s.analytics_activityevent, strategy %s): %d rows, repair run %s (reversible)"
            % (name, name, rows[name]["strategy"], rows[name]["rows_changed"], rows[name]["repair_run_id"])
            in notice
        ), notice
    assert "- a1 " not in notice and "Not repaired" not in notice
    # No maintenance mode for a fleet, said where a strategy B or C target would have had one with deploy.yml.
    statement = "No maintenance mode: deploy.yml would hold the application in maintenance for strategy B/C (a2 B, a3 C, a4 C)"
    assert statement in " ".join(result.stdout.split()), out(result)
    assert report["maintenance"]["used"] is False and report["maintenance"]["targets"] == {"a2": "B", "a3": "C", "a4": "C"}
    assert "Maintenance: " + statement in " ".join(notice.split()), notice
    assert "Roll the code back if needed: %s" % code["rollback_command"] in notice
    # The code release's deploy record, as deploy.yml's, marked as the fleet's.
    record = json.loads((demo["base"] / "reports" / code["run_id"] / "deploy.json").read_text())
    assert record["outcome"] == "deployed" and record["fleet"] == dict(
        run_id=report["fleet_run_id"], part="code", report=str(demo["base"] / "reports" / report["fleet_run_id"] / "fleet.md"), app_hosts=["quizapp"]
    )
    assert (record["release"]["previous"], record["release"]["new"]) == (stack.shas["v1"], stack.shas["v2"]) and record["verification"]["passed"]


def app_playbook(demo, stack, mariadb, app_db, playbook, **extra):
    """monitor.yml or rollback.yml as for one application (the default inventory: app and dbadmin on this
    machine, the app's own database), reading the fleet deploy's reports/."""
    values = dict(db_vars(mariadb, app_db, jsonmend_report_dir=str(demo["base"] / "reports"), **stack.ansible_vars()), jsonmend_confirm="yes")
    values.update(extra)
    result = run_playbook(playbook, values, demo["base"], stdin=subprocess.DEVNULL)
    assert TOOL_PASSWORD not in result.stdout + result.stderr
    return result


def run_printed(demo, command, *extra):
    """A command the fleet report prints (./jsonmend ... -i <the fleet's inventory>), as an operator runs it from the
    checkout; `extra` answers what the operator would (the question) - nothing else is added."""
    words = shlex.split(command)
    assert words[0] == "./jsonmend" and "-i" in words, command
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    result = subprocess.run([*words, *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False, stdin=subprocess.DEVNULL)
    assert TOOL_PASSWORD not in result.stdout + result.stderr
    return result


def test_monitor_watches_and_rollback_undoes_the_fleets_code_release(demo, stack, full):
    """The commands the fleet report prints, with the fleet's inventory (app and jsonmend_targets, no dbadmin)."""
    report, _rows = latest_report(demo)
    code, code_run = report["code"], report["code"]["run_id"]
    assert code["rollback_command"] == "./jsonmend rollback -i %s -e jsonmend_report_dir=%s -e jsonmend_rollback_scope=code" % (
        demo["inventories"]["A"],
        demo["base"] / "reports",
    )
    md = (demo["base"] / "reports" / report["fleet_run_id"] / "fleet.md").read_text()
    assert "`%s`" % code["rollback_command"] in md and "`%s`" % code["monitor_command"] in md
    # The window an operator may want around a fleet deploy: maintenance.yml takes the same inventory.
    status = run_printed(demo, code["monitor_command"].replace("./jsonmend monitor", "./jsonmend maintenance"), "-e", "maintenance_action=status")
    assert status.returncode == 0 and "Maintenance mode is off" in status.stdout, out(status)
    watch = run_printed(demo, code["monitor_command"])
    assert "Watching: deploy %s finished" % code_run in " ".join(watch.stdout.split()), out(watch)
    # Without the scope, a fleet's inventory is refused before any change: the targets' repairs are fleet_undo.yml's.
    both = run_printed(demo, code["rollback_command"].replace(" -e jsonmend_rollback_scope=code", ""), "-e", "jsonmend_confirm=yes")
    assert both.returncode != 0 and "run it with -e jsonmend_rollback_scope=code" in " ".join(both.stdout.split()), out(both)
    assert stack.head() == stack.shas["v2"]
    # Code only: the targets' repairs are each their own (fleet_undo.yml), the record names no repair anyway.
    back = run_printed(demo, code["rollback_command"], "-e", "jsonmend_confirm=yes")
    assert back.returncode == 0, out(back)
    assert stack.head() == stack.shas["v1"] and stack.health()[1]["release"] == stack.shas["v1"]
    # The recorded release's migration went with it (v1 lacks it).
    assert "[X] 0002_activityevent_metadata_object" not in stack.manage("showmigrations", "analytics").stdout
    # No database holds a fleet's code record: nothing is marked (or created) there.
    text = " ".join(back.stdout.split())
    assert "%s is the code release of fleet deploy %s: its record is in the reports/" % (code_run, report["fleet_run_id"]) in text, out(back)
    assert re.search(r"TASK \[Mark the deploy rolled back in the database\] \**\s+skipping: \[quizapp\]", back.stdout), out(back)
    records = [json.loads(line) for line in (demo["base"] / "reports" / "records.jsonl").read_text().splitlines()]
    assert records[-1]["playbook"] == "rollback.yml" and records[-1]["outcome"] == "rolled_back", records[-1]
    # The rollback is recorded: monitor.yml no longer watches the release.
    quiet = run_printed(demo, code["monitor_command"])
    assert "Not watching: deploy %s was rolled back by run" % code_run in " ".join(quiet.stdout.split()), out(quiet)


# -- a code deploy killed half way -------------------------------------------------------------------
CODE_ONLY = ["--limit", "localhost,quizapp"]  # the code release alone: no target in the play


def start_rollout(demo, name, extra_args=(), **variables):
    """fleet_deploy.yml in the background, in its own session (so the test kills it as a lost session would)."""
    base = demo["base"]
    vars_file = base / "bg-vars.json"
    vars_file.write_text(json.dumps(rollout_vars(base, **variables)))
    vars_file.chmod(0o600)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    env["PATH"] = "%s:%s" % (BIN, env.get("PATH", ""))
    log = open(base / "bg.out", "w")
    cmd = [str(BIN / "ansible-playbook"), "playbooks/fleet_deploy.yml", "-e", "@%s" % vars_file, "-i", str(demo["inventories"][name]), *extra_args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


@pytest.fixture(scope="module")
def interrupted(demo, stack, full):
    """The fleet deploy from v1 killed (SIGKILL: Ctrl-C twice, a lost session, a cancelled job) once its checkout
    moved to v2, before the migration, the restart and the checks; then the same command again."""
    stack.reset("v1")
    process = start_rollout(demo, "A", extra_args=CODE_ONLY)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None and stack.head() != stack.shas["v2"]:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert stack.head() == stack.shas["v2"], (demo["base"] / "bg.out").read_text()[-3000:]
    killed = json.loads((demo["base"] / "reports" / "deploy-latest.json").read_text())
    again = rollout(demo, "A", extra_args=CODE_ONLY)
    return killed, again


def test_a_code_deploy_killed_half_way_is_finished_by_the_rerun_and_rolls_back_to_the_first_commit(demo, stack, interrupted, mariadb, app_db):
    killed, again = interrupted
    # Written before the first change: the commit it started from.
    assert killed["outcome"] == "in_progress" and killed["fleet"]["part"] == "code", killed
    assert (killed["release"]["previous"], killed["release"]["target"]) == (stack.shas["v1"], stack.shas["v2"])
    # The re-run finds it: not "unchanged" because the checkout is at the release already, but finished and verified.
    assert again.returncode == 0, out(again)
    text = " ".join(again.stdout.split())
    assert "FINISH the interrupted code deploy %s" % killed["run"]["id"] in text, out(again)
    assert "Resuming the code deploy %s" % killed["run"]["id"] in text and "the commit to return to stays %s" % stack.shas["v1"][:12] in text
    assert stack.health()[1]["release"] == stack.shas["v2"]
    assert "[X] 0002_activityevent_metadata_object" in stack.manage("showmigrations", "analytics").stdout
    report, _rows = latest_report(demo)
    assert report["code"]["status"] == "deployed" and report["code"]["resumes"] == killed["run"]["id"], report["code"]
    assert "resumed the interrupted code deploy" in report["code"]["note"]
    record = json.loads((demo["base"] / "reports" / report["code"]["run_id"] / "deploy.json").read_text())
    assert record["outcome"] == "deployed" and record["release"]["resumes"] == killed["run"]["id"], record["release"]
    assert (record["release"]["previous"], record["release"]["new"]) == (stack.shas["v1"], stack.shas["v2"])
    # rollback.yml's code scope finds the first commit in it.
    back = app_playbook(demo, stack, mariadb, app_db, "rollback.yml", jsonmend_rollback_scope="code")
    assert back.returncode == 0, out(back)
    assert stack.head() == stack.shas["v1"] and stack.health()[1]["release"] == stack.shas["v1"]


# -- fleet B ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stopped(demo, stack, full):
    stack.reset("v1")
    with demo["servers"]["db1"].admin_cursor("jsonmend_b4") as cur:
        cur.execute(FROZEN)
    result = rollout(demo, "B", jsonmend_fleet_batches=B_BATCHES)
    return result, latest_report(demo)


def test_a_failed_batch_stops_the_rollout_and_the_code_stays(demo, stack, stopped, module_runner):
    result, (report, rows) = stopped
    assert result.returncode == 2, out(result)
    assert report["plan"]["canary"] == ["b1"] and report["plan"]["batches"] == [["b2"], ["b3", "b4"], ["b5"]]
    assert {n: r["status"] for n, r in rows.items()} == {"b1": "done", "b2": "done", "b3": "rolled back", "b4": "failed", "b5": "untouched"}
    assert "even rows are frozen" in rows["b4"]["error"] and rows["b4"]["note"].startswith("rolled back: undo restored")
    # The code stays deployed: it reads both shapes.
    assert report["code"]["status"] == "deployed" and stack.head() == stack.shas["v2"]
    assert "it stays deployed" in report["code"]["note"]
    for target in FLEET_B[:2]:
        assert own_scan(module_runner, demo["servers"], target)["corrupted_rows"] == 0, target[0]
    unchanged(demo, FLEET_B[2:])
    md = (demo["base"] / "reports" / report["fleet_run_id"] / "fleet.md").read_text()
    assert "Code: **deployed**" in md and "| b5 | db1 | 3 | B | untouched |" in md
    # A stopped rollout sends no success notice (the failed batch's own output says what happened).
    assert not (demo["base"] / "reports" / report["fleet_run_id"] / "notifications").exists()


def test_a_rerun_resumes_without_redeploying_the_code(demo, stack, stopped, module_runner):
    with demo["servers"]["db1"].admin_cursor("jsonmend_b4") as cur:
        cur.execute("DROP TRIGGER frozen")
    pid = stack.pid()
    result = rollout(demo, "B", jsonmend_fleet_batches=B_BATCHES)
    assert result.returncode == 0, out(result)
    report, rows = latest_report(demo)
    assert report["code"]["status"] == "unchanged" and stack.pid() == pid and stack.head() == stack.shas["v2"]
    assert "already runs main" in " ".join(result.stdout.split())
    assert {n: rows[n]["status"] for n in ("b1", "b2")} == {"b1": "skipped", "b2": "skipped"}
    assert report["plan"]["canary"] == ["b3"] and report["plan"]["batches"] == [["b4"], ["b5"]]
    assert {rows[n]["status"] for n in ("b3", "b4", "b5")} == {"done"}
    notice = (demo["base"] / "reports" / report["fleet_run_id"] / "notifications" / "fleet_deploy_success.txt").read_text()
    assert "Code: unchanged (already at the release: not redeployed)" in notice and "cleaned in 3 of 5 targets" in notice, notice
    for target in FLEET_B:
        assert own_scan(module_runner, demo["servers"], target)["corrupted_rows"] == 0, target[0]


# -- fleet C: a failure within the tolerance ------------------------------------------------------------
def test_targets_failed_within_the_tolerance_are_listed_as_not_repaired(demo, stack, module_runner):
    """max_fail_percentage 50: one target of a batch of three fails (the trigger), the others are repaired, the rollout
    goes on to its end and the one success notice lists the failed target as not repaired."""
    with demo["servers"]["db1"].admin_cursor("jsonmend_c3") as cur:
        cur.execute(FROZEN)
    result = rollout(demo, "C", jsonmend_fleet_batches=["100%"], jsonmend_fleet_max_fail_percentage=50)
    assert result.returncode != 0, out(result)  # Ansible reports the failed host; the rollout went on
    report, rows = latest_report(demo)
    assert report["plan"]["canary"] == ["c1"] and report["plan"]["batches"] == [["c2", "c3", "c4"]]
    assert {n: rows[n]["status"] for n in ("c1", "c2", "c4")} == {"c1": "done", "c2": "done", "c4": "done"}, rows
    assert rows["c3"]["status"] in ("failed", "rolled back") and "even rows are frozen" in rows["c3"]["error"], rows["c3"]
    for target in (FLEET_C[0], FLEET_C[1], FLEET_C[3]):
        assert own_scan(module_runner, demo["servers"], target)["corrupted_rows"] == 0, target[0]
    unchanged(demo, FLEET_C[2:3])
    notice = (demo["base"] / "reports" / report["fleet_run_id"] / "notifications" / "fleet_deploy_success.txt").read_text()
    assert notice.startswith("Subject: [Complete] Metadata Integrity Fix Deployed to the Fleet (1 target(s) not repaired)\n"), notice
    assert "cleaned in 3 of 4 targets" in notice and "Not repaired (1):\n- c3: %s - " % rows["c3"]["status"] in notice, notice
    assert "even rows are frozen" in notice.split("Not repaired (1):")[1]
    for name in ("c1", "c2", "c4"):
        row = rows[name]
        assert "- %s (jsonmend_%s.analytics_activityevent, strategy %s): %d rows" % (name, name, row["strategy"], row["rows_changed"]) in notice, notice

# playbooks/fleet_cleanup.yml on a real fleet: 3 throwaway MariaDB servers holding two small fleets of
# target databases (tools/devstack/fleet.py). Fleet A: a refused plan and a dry run change nothing, then the
# full rollout (canary, then Ansible's serial batches) repairs every target, each one's own scan clean
# afterwards, and a done target's undo command puts its table back. Fleet B: a trigger that refuses the
# repair on one target of batch 3 stops the rollout - that batch rolled back by undo, earlier batches
# done, later ones untouched - and the re-run after the trigger is gone resumes and finishes.
import json
import shlex

import pytest

from tests.support.fleet import content, own_scan, rollout_vars
from tools.devstack import fleet
from tools.devstack.playbooks import run_playbook

# About 3.5 minutes on 2 cores: seven ansible-playbook runs, each batch its own play.
# name, server, rows, corrupt percent, table (None: the runbook's table; audit_event: another shape).
FLEET_A = (
    ("a1", "db1", 400, 0.0, None),  # clean: skipped, so the canary is a2
    ("a2", "db2", 300, 5.0, None),
    ("a3", "db3", 400, 2.0, None),
    ("a4", "db1", 300, 3.0, "audit_event"),
)
FLEET_B = (
    ("b1", "db1", 300, 3.0, None),
    ("b2", "db2", 300, 4.0, None),  # group jsonmend_canary
    ("b3", "db3", 300, 2.0, None),
    ("b4", "db1", 300, 5.0, None),
    ("b5", "db2", 400, 3.0, None),  # batch 3, with b4: the trigger refuses the repair of its even rows
    ("b6", "db3", 300, 6.0, None),
)
# Serial [1, 1, 2, 100%] after the canary b2: b1 | b3 | b4, b5 | b6.
B_BATCHES = [1, 1, 2, "100%"]
FROZEN = (
    "CREATE TRIGGER frozen BEFORE UPDATE ON analytics_activityevent FOR EACH ROW BEGIN"
    " IF MOD(OLD.id, 2) = 0 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'even rows are frozen'; END IF; END"
)


def write_inventory(path, common, targets, canary=()):
    return fleet.write_inventory(path, targets, host_vars_from=common, canary=canary)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleetroll")
    common = base / "common"
    servers = fleet.start(base / "servers", common, targets=FLEET_A + FLEET_B, detach=False)
    try:
        inventories = {"A": write_inventory(base / "inv-a", common, FLEET_A), "B": write_inventory(base / "inv-b", common, FLEET_B, canary=["b2"])}
        before = {t[0]: content(servers, t) for t in FLEET_A + FLEET_B}
        yield dict(base=base, servers=servers, inventories=inventories, before=before)
    finally:
        for server in servers.values():
            server.stop()


def ledger_exists(servers, target):
    with servers[target[1]].admin_cursor("jsonmend_%s" % target[0]) as cur:
        cur.execute("SHOW TABLES LIKE %s", ("%_jsonmend_runs",))
        return bool(cur.fetchall())


def rollout(demo, name, check=False, extra_args=(), **variables):
    base = demo["base"]
    values = rollout_vars(base, **variables)
    return run_playbook("fleet_cleanup.yml", values, base, check=check, extra_args=["-i", str(demo["inventories"][name]), "-f", "8", *extra_args])


def latest_report(demo):
    report = json.loads((demo["base"] / "reports" / "fleet-cleanup-latest.json").read_text())
    return report, {r["target"]: r for r in report["targets"]}


def backups_of(demo, name):
    return sorted((demo["base"] / "backups").glob("backup_fleet_%s_*.manifest.json" % name)) if (demo["base"] / "backups").exists() else []


def out(result):
    return result.stdout[-5000:] + result.stderr[-2000:]


# -- fleet A ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def refused(demo, tmp_path_factory):
    """Fleet A plus a target whose database does not exist: the plan refuses the whole rollout."""
    ghost = tmp_path_factory.mktemp("ghost") / "ghost.yml"
    cnf = demo["base"] / "servers" / "db1" / "client.cnf"
    ghost.write_text(
        json.dumps(
            {
                "all": {
                    "children": {
                        "jsonmend_targets": {
                            "hosts": {
                                "a9": {
                                    "jsonmend_db_name": "jsonmend_a9",
                                    "jsonmend_db_config_file": str(cnf),
                                    "jsonmend_db_dialect": "mariadb",
                                    "jsonmend_fleet_server": "db1",
                                }
                            }
                        }
                    }
                }
            }
        )
    )
    # Two targets are enough to show that one unreadable target stops all (the plan is per target).
    return rollout(demo, "A", extra_args=["-i", str(ghost), "--limit", "localhost,a1,a2,a9"])


def test_a_target_the_plan_cannot_read_refuses_the_rollout(demo, refused):
    assert refused.returncode == 2, out(refused)
    text = " ".join(refused.stdout.split())
    assert "The rollout was refused: 1 target(s) refused or could not be read (a9: " in text and "Nothing was changed on any target" in text
    report, rows = latest_report(demo)
    assert rows["a9"]["status"] == "failed" and "jsonmend_a9" in rows["a9"]["error"]
    assert (rows["a1"]["status"], rows["a2"]["status"]) == ("skipped", "untouched")  # a1 is clean
    for target in FLEET_A:
        assert content(demo["servers"], target) == demo["before"][target[0]], target[0]
        assert not ledger_exists(demo["servers"], target) and not backups_of(demo, target[0])


@pytest.fixture(scope="module")
def dry_run(demo, refused):
    # Every batch in one (100%): the dry run goes through the plan, the canary and a batch, quickly.
    return rollout(demo, "A", check=True, extra_args=["--limit", "localhost,a1,a2,a3"], jsonmend_fleet_batches=["100%"])


def test_check_mode_changes_nothing(demo, dry_run):
    assert dry_run.returncode == 0, out(dry_run)
    assert "About to repair" in dry_run.stdout and "the canary (the first target that needs a repair)" in " ".join(dry_run.stdout.split())
    for target in FLEET_A:
        assert content(demo["servers"], target) == demo["before"][target[0]], target[0]
        assert not ledger_exists(demo["servers"], target) and not backups_of(demo, target[0])
    # The report of the refused run above is still the latest: a dry run writes none.
    report, rows = latest_report(demo)
    assert "a9" in rows


@pytest.fixture(scope="module")
def full(demo, dry_run):
    result = rollout(demo, "A")
    assert result.returncode == 0, out(result)
    return result


def test_full_rollout_repairs_every_target(demo, full, module_runner):
    report, rows = latest_report(demo)
    assert report["plan"]["canary"] == ["a2"] and report["plan"]["batches"] == [["a3"], ["a4"]]
    assert (rows["a1"]["status"], rows["a1"]["note"]) == ("skipped", "clean: no corrupted row, nothing to repair")
    assert [rows[n]["batch"] for n in ("a2", "a3", "a4")] == ["canary", 1, 2]
    # Ansible's own batches are the plan's.
    assert [rows[n]["batch_hosts"] for n in ("a2", "a3", "a4")] == [["a2"], ["a3"], ["a4"]]
    assert report["totals"]["done"] == 3 and report["totals"]["skipped"] == 1
    for target in FLEET_A[1:]:
        row = rows[target[0]]
        scan = own_scan(module_runner, demo["servers"], target)
        assert scan["corrupted_rows"] == 0 and row["corrupted_after"] == 0, target[0]
        assert row["status"] == "done" and row["rows_changed"] == row["corrupted_before"] > 0, row
        assert row["repair_run_id"] == row["run_id"] == "%s-%s" % (report["fleet_run_id"], target[0])
        assert "fleet_undo" in row["undo_command"] and "--limit %s" % target[0] in row["undo_command"]
        # Its own verified backup and run record.
        assert row["backup_id"] and len(backups_of(demo, target[0])) == 1
        manifest = json.loads(backups_of(demo, target[0])[0].read_text())
        assert manifest["verified"] and manifest["database"] == "jsonmend_%s" % target[0]
        record = json.loads((demo["base"] / "reports" / row["run_id"] / "record.json").read_text())
        assert record["outcome"] == "success" and record["target"]["database"] == "jsonmend_%s" % target[0]
        assert (
            "fleet_undo" in record["undo_command"] and "--limit %s -e jsonmend_rollback_run_id=%s" % (target[0], row["repair_run_id"]) in record["undo_command"]
        )
    fleet_md = (demo["base"] / "reports" / report["fleet_run_id"] / "fleet.md").read_text()
    assert all("| %s | %s |" % (t[0], t[1]) in fleet_md for t in FLEET_A)
    # Each target's own repair report names its fleet undo, never the one-database rollback.yml.
    console = " ".join(full.stdout.split())
    assert "undo: ./jsonmend fleet_undo" in console and "playbooks/rollback.yml -e jsonmend_rollback_run_id" not in console


def test_a_done_targets_undo_command_puts_its_table_back(demo, full):
    _report, rows = latest_report(demo)
    words = shlex.split(rows["a3"]["undo_command"])
    assert words[:2] == ["./jsonmend", "fleet_undo"]
    result = run_playbook(
        "fleet_undo.yml", {"jsonmend_report_dir": str(demo["base"] / "reports"), "jsonmend_confirm": "yes"}, demo["base"], extra_args=words[2:]
    )
    assert result.returncode == 0, out(result)
    assert content(demo["servers"], FLEET_A[2]) == demo["before"]["a3"]


# -- fleet B ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stopped(demo, full):
    b5 = next(t for t in FLEET_B if t[0] == "b5")
    with demo["servers"][b5[1]].admin_cursor("jsonmend_b5") as cur:
        cur.execute(FROZEN)
    result = rollout(demo, "B", jsonmend_fleet_batches=B_BATCHES)
    return result, latest_report(demo)


def test_a_failed_batch_stops_the_rollout_and_is_rolled_back(demo, stopped, module_runner):
    result, (report, rows) = stopped
    assert result.returncode == 2, out(result)
    assert report["plan"]["canary"] == ["b2"] and report["plan"]["canary_from"] == "group jsonmend_canary"
    assert report["plan"]["batches"] == [["b1"], ["b3"], ["b4", "b5"], ["b6"]]
    assert {n: r["status"] for n, r in rows.items()} == {
        "b2": "done",
        "b1": "done",
        "b3": "done",
        "b4": "rolled back",
        "b5": "failed",
        "b6": "untouched",
    }
    assert "even rows are frozen" in rows["b5"]["error"] and rows["b5"]["note"].startswith("rolled back: undo restored")
    assert rows["b4"]["note"].startswith("its batch failed; undo restored %d rows" % rows["b4"]["rows_changed"])
    servers = demo["servers"]
    for target in FLEET_B:
        name = target[0]
        if name in ("b1", "b2", "b3"):
            # Earlier batches stay repaired, each with its own undo.
            assert own_scan(module_runner, servers, target)["corrupted_rows"] == 0 and rows[name]["undo_command"], name
        else:
            # The failed batch is back as it was, value for value; later batches were never touched.
            assert content(servers, target) == demo["before"][name], name
            assert rows[name]["undo_command"] == ""
    assert not ledger_exists(servers, FLEET_B[-1]) and not backups_of(demo, "b6") and rows["b6"]["run_id"]
    records = [json.loads(line) for line in (demo["base"] / "reports" / "records.jsonl").read_text().splitlines()]
    outcomes = {r["run_id"]: r["outcome"] for r in records if r["run_id"].startswith(report["fleet_run_id"])}
    assert outcomes == {
        "%s-%s" % (report["fleet_run_id"], n): o for n, o in (("b1", "success"), ("b2", "success"), ("b3", "success"), ("b4", "rolled_back"), ("b5", "failed"))
    }


def test_a_rerun_resumes_and_finishes(demo, stopped, module_runner):
    with demo["servers"]["db2"].admin_cursor("jsonmend_b5") as cur:
        cur.execute("DROP TRIGGER frozen")
    result = rollout(demo, "B", jsonmend_fleet_batches=B_BATCHES)
    assert result.returncode == 0, out(result)
    report, rows = latest_report(demo)
    first_run = stopped[1][0]["fleet_run_id"]
    for name in ("b1", "b2", "b3"):
        assert rows[name]["status"] == "skipped" and rows[name]["note"].startswith("already done"), rows[name]
        assert rows[name]["repair_run_id"] == "%s-%s" % (first_run, name) and rows[name]["undo_command"]
    # The canary group is done: the first target that needs a repair goes alone first again.
    assert report["plan"]["canary"] == ["b4"] and report["plan"]["batches"] == [["b5"], ["b6"]]
    for target in FLEET_B:
        assert own_scan(module_runner, demo["servers"], target)["corrupted_rows"] == 0, target[0]
    assert {rows[n]["status"] for n in ("b4", "b5", "b6")} == {"done"}
    assert report["totals"]["done"] == 3 and report["totals"]["skipped"] == 3

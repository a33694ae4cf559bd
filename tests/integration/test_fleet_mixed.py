# A mixed fleet: MariaDB and PostgreSQL targets in one inventory (tools/devstack/fleet.py: a server named
# pg* is a throwaway PostgreSQL cluster; its targets reach it over TCP with a password file). The fleet
# diagnosis gives each target's own scan, whatever its server; the fleet repair rolls out over both
# families (canary, then a batch), each target clean afterwards with its own verified backup and undo.
import json

import pytest

from tests.support.fleet import own_scan, rollout_vars
from tools.devstack import fleet
from tools.devstack.mariadb_server import TOOL_PASSWORD
from tools.devstack.playbooks import run_playbook

# name, server, rows, corrupt percent, table. The canary is the first target that needs a repair: m1.
MIXED = (
    ("m1", "pg1", 900, 4.0, None),
    ("m2", "db1", 700, 3.0, None),
    ("m3", "pg1", 600, 0.0, None),  # clean: skipped
    ("m4", "pg1", 800, 2.0, None),
    ("m5", "db1", 500, 0.0, None),  # clean: skipped
)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleetmix")
    with fleet.running(base, targets=MIXED) as (inventory, servers):
        yield dict(base=base, inventory=inventory, servers=servers)


def play(mixed, name, **variables):
    base = mixed["base"]
    result = run_playbook(name, rollout_vars(base, **variables), base, extra_args=["-i", str(mixed["inventory"]), "-f", "8"])
    assert TOOL_PASSWORD not in result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def diagnosed(mixed):
    result = play(mixed, "fleet_diagnose.yml")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads((mixed["base"] / "reports" / "fleet-latest.json").read_text())
    return {r["target"]: r for r in report["targets"]}


def test_the_fleet_diagnosis_gives_each_target_its_own_scan_on_either_family(mixed, diagnosed, module_runner):
    assert sorted(diagnosed) == sorted(t[0] for t in MIXED)
    for target in MIXED:
        own = own_scan(module_runner, mixed["servers"], target)
        row = diagnosed[target[0]]
        assert (row["server"], row["rows"], row["corrupted"]) == (target[1], own["total_rows"], own["corrupted_rows"]), target[0]
        assert row["status"] == ("corrupt" if own["corrupted_rows"] else "clean") and row["error"] == ""
    assert {diagnosed[n]["status"] for n in ("m1", "m2", "m4")} == {"corrupt"}


@pytest.fixture(scope="module")
def rolled_out(mixed, diagnosed):
    result = play(mixed, "fleet_cleanup.yml", jsonmend_fleet_batches=["100%"])
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    report = json.loads((mixed["base"] / "reports" / "fleet-cleanup-latest.json").read_text())
    return report, {r["target"]: r for r in report["targets"]}


def test_the_fleet_repair_rolls_out_over_both_families(mixed, rolled_out, module_runner):
    report, rows = rolled_out
    assert report["plan"]["canary"] == ["m1"] and report["plan"]["batches"] == [["m2", "m4"]]
    assert {n: r["status"] for n, r in rows.items()} == {"m1": "done", "m2": "done", "m3": "skipped", "m4": "done", "m5": "skipped"}
    for target in MIXED:
        assert own_scan(module_runner, mixed["servers"], target)["corrupted_rows"] == 0, target[0]
        row = rows[target[0]]
        if row["status"] != "done":
            continue
        assert row["rows_changed"] == row["corrupted_before"] > 0 and "--limit %s" % target[0] in row["undo_command"]
        manifest = json.loads(next((mixed["base"] / "backups").glob("backup_fleet_%s_*.manifest.json" % target[0])).read_text())
        assert manifest["verified"] and manifest["database"] == "jsonmend_%s" % target[0]

# playbooks/fleet_diagnose.yml on a real fleet: 3 throwaway MariaDB servers holding 12 target databases
# of different sizes and corruption levels (tools/devstack/fleet.py; tenant07 has another table shape),
# one server stopped before the run. Each answering target's row must equal its own single-database
# diagnosis; the stopped server's targets are listed with their error; the totals add up.
import json

import json_type_scan
import pytest

from filter_plugins.jsonmend_strategy import FilterModule as StrategyFilters
from tools.devstack import fleet
from tools.devstack.playbooks import db_vars, run_playbook

STOPPED = "db3"
NOT_CORRUPT = ("OBJECT", "READABLE OBJECT")


@pytest.fixture(scope="module")
def demo_fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet")
    with fleet.running(base) as (inventory, servers):
        yield base, inventory, servers


@pytest.fixture(scope="module")
def fleet_run(demo_fleet):
    base, inventory, servers = demo_fleet
    servers[STOPPED].stop()  # its four targets must fail without stopping the others
    reports = base / "reports"
    result = run_playbook("fleet_diagnose.yml", {"jsonmend_report_dir": str(reports)}, base, extra_args=["-i", str(inventory), "-f", "8"])
    # The stopped server's targets fail the run, after the report is written.
    assert result.returncode == 2, result.stdout[-4000:] + result.stderr[-2000:]
    assert "4 of 12 targets failed (tenant09, tenant10, tenant11, tenant12)" in " ".join(result.stdout.split())
    report = json.loads((reports / "fleet-latest.json").read_text())
    return reports, report, result


def targets_on(server):
    return [t for t in fleet.TARGETS if t[1] == server]


def test_each_target_equals_its_own_scan(demo_fleet, fleet_run, module_runner):
    _base, _inventory, servers = demo_fleet
    _reports, report, _result = fleet_run
    rows = {r["target"]: r for r in report["targets"]}
    assert sorted(rows) == sorted(t[0] for t in fleet.TARGETS)
    strategy = StrategyFilters().filters()["jsonmend_strategy"]
    for name, server, size, _corrupt, table in fleet.TARGETS:
        if server == STOPPED:
            continue
        args = dict(servers[server].login_params("jsonmend_%s" % name), table=table or "analytics_activityevent", column="metadata")
        own = module_runner(json_type_scan, args)
        assert not own.failed, own
        row = rows[name]
        assert (row["server"], row["rows"], row["corrupted"]) == (server, own["total_rows"], own["corrupted_rows"]), name
        assert own["total_rows"] == size
        assert row["by_type"] == {k: v for k, v in own["by_type"].items() if k not in NOT_CORRUPT and v}, name
        assert row["strategy"] == strategy(own["corrupted_rows"])["strategy"], name
        assert row["status"] == ("corrupt" if own["corrupted_rows"] else "clean")
        assert row["error"] == "" and row["duration_s"] is not None
    # The fleet differs: clean and corrupt targets, more than one strategy, the other shape's invalid text.
    assert {r["status"] for r in rows.values()} == {"clean", "corrupt", "failed"}
    assert len({r["strategy"] for r in rows.values() if r["strategy"]}) >= 2
    assert rows["tenant07"]["by_type"].get("INVALID", 0) > 0


def test_stopped_server_targets_are_listed_with_their_error(fleet_run):
    reports, report, _result = fleet_run
    failed = [r for r in report["targets"] if r["status"] == "failed"]
    assert sorted(r["target"] for r in failed) == sorted(t[0] for t in targets_on(STOPPED))
    for row in failed:
        assert "could not connect" in row["error"] and row["rows"] is None and row["corrupted"] is None
    # Their runs are recorded as failed; the others as successes, each once.
    records = [json.loads(line) for line in (reports / "records.jsonl").read_text().splitlines()]
    outcomes = {r["target"]["database"]: r["outcome"] for r in records}
    assert len(records) == len(fleet.TARGETS) == len(outcomes)
    assert {db for db, outcome in outcomes.items() if outcome == "failed"} == {"jsonmend_%s" % t[0] for t in targets_on(STOPPED)}


def test_totals_and_files(fleet_run):
    reports, report, _result = fleet_run
    rows = report["targets"]
    answered = [r for r in rows if r["status"] != "failed"]
    totals = report["totals"]
    assert totals["targets"] == 12 and totals["servers"] == 3 and totals["failed"] == 4 and totals["scanned"] == 8
    assert totals["rows"] == sum(t[2] for t in fleet.TARGETS if t[1] != STOPPED) == sum(r["rows"] for r in answered)
    assert totals["corrupted"] == sum(r["corrupted"] for r in answered)
    assert totals["clean"] + totals["corrupt"] + totals["failed"] == 12
    run_dir = reports / report["fleet_run_id"]
    markdown = (run_dir / "fleet.md").read_text()
    assert all("| %s | %s |" % (r["target"], r["server"]) in markdown for r in rows)
    assert json.loads((run_dir / "fleet.json").read_text()) == report
    prom = (reports / "jsonmend_fleet.prom").read_text()
    assert prom.count("jsonmend_fleet_target_up{") == 12 and prom.count("jsonmend_fleet_target_corrupted_rows{") == 8
    # Every target kept its own diagnosis in its own directory: none overwrote another.
    for row in answered:
        own = json.loads((reports / row["run_id"] / "diagnosis.json").read_text())
        assert row["run_id"] == "%s-%s" % (report["fleet_run_id"], row["target"])
        assert (own["run"]["target"]["database"], own["total_rows"], own["corrupted_rows"]) == ("jsonmend_%s" % row["target"], row["rows"], row["corrupted"])
        # ...and its own latest: a shared diagnosis-latest.json would hold whichever target finished last.
        assert json.loads((reports / ("diagnosis-latest-%s.json" % row["target"])).read_text())["run"]["id"] == row["run_id"]
    assert not (reports / "diagnosis-latest.json").exists()


@pytest.mark.parametrize("target", ["tenant07", "tenant03"])
def test_row_equals_the_single_database_playbook(demo_fleet, fleet_run, target, tmp_path):
    """phase2_diagnose.yml on the plain single-database inventory, against one target of the fleet."""
    _base, _inventory, servers = demo_fleet
    _reports, report, _result = fleet_run
    name, server, _size, _corrupt, table = next(t for t in fleet.TARGETS if t[0] == target)
    extra = {"jsonmend_table": table} if table else {}
    own_reports = tmp_path / "reports"
    result = run_playbook(
        "phase2_diagnose.yml",
        db_vars(servers[server], "jsonmend_%s" % name, jsonmend_backup=False, jsonmend_report_dir=str(own_reports), **extra),
        tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    own = json.loads((own_reports / "diagnosis-latest.json").read_text())
    row = next(r for r in report["targets"] if r["target"] == target)
    assert (row["rows"], row["corrupted"], row["strategy"]) == (own["total_rows"], own["corrupted_rows"], own["strategy"])
    assert row["by_type"] == {k: v for k, v in own["by_type"].items() if k not in NOT_CORRUPT and v}

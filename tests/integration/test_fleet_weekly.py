# playbooks/fleet_weekly_check.yml on the demo fleet (tools/devstack/fleet.py: 3 throwaway MariaDB servers,
# 12 targets of different sizes and corruption levels, tenant07 of another table shape) and on a clean
# fleet of the same servers, with real SMTP and HTTP receivers: the clean fleet sends nothing and exits 0;
# the demo fleet, one server stopped, sends ONE alert naming exactly its corrupt targets (and the stopped
# server's targets as not checked), writes one series per target and exits 2, as weekly_check.yml does.
# Each target's guard is in the fleet report's guard column: one clean target guarded in observe by
# fleet_guard.yml --limit, with one non-object write logged (and put right since), the others without a guard.
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.receivers import HTTPReceiver, SMTPReceiver
from tools.devstack import fleet
from tools.devstack.playbooks import run_playbook

GUARDED = "clean1"

STOPPED = "db3"
CLEAN = (("clean1", "db1", 300, 0.0, None), ("clean2", "db2", 400, 0.0, None), ("clean3", "db2", 200, 0.0, "audit_event"))


def write_inventory(path, common, targets):
    return fleet.write_inventory(path, targets, host_vars_from=common)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleetweekly")
    common = base / "common"
    running = fleet.start(base / "servers", common, targets=fleet.TARGETS + CLEAN, detach=False)
    try:
        yield base, common, running
    finally:
        for server in running.values():
            server.stop()


def weekly(base, inventory, name, smtp, hook):
    variables = {
        "jsonmend_report_dir": str(base / name / "reports"),
        "metrics_textfile_dir": str(base / name / "prom"),
        "notify_channels": ["email", "webhook"],
        "notify_email_to": ["dba@example.com"],
        "notify_smtp_host": "127.0.0.1",
        "notify_smtp_port": smtp.port,
        "notify_smtp_security": "none",
        "notify_webhook_url": hook.url,
    }
    (base / name).mkdir()
    return run_playbook("fleet_weekly_check.yml", variables, base / name, extra_args=["-i", str(inventory), "-f", "8"])


def guard_one_target(base, inventory, running):
    """fleet_guard.yml in observe on GUARDED alone (--limit, as the weekly check's recommendation has it), then one
    non-object write the guard logs, put right at once."""
    server = dict((t[0], t[1]) for t in CLEAN)[GUARDED]
    (base / "guard-reports").mkdir()
    installed = run_playbook(
        "fleet_guard.yml",
        {"jsonmend_report_dir": str(base / "guard-reports"), "jsonmend_guard_mode": "observe"},
        base / "guard-reports",
        extra_args=["-i", str(inventory), "--limit", GUARDED],
    )
    assert installed.returncode == 0, installed.stdout[-3000:]
    record = json.loads((base / "guard-reports" / "records.jsonl").read_text().splitlines()[-1])
    assert record["playbook"] == "fleet_guard.yml" and record["fleet_target"] == GUARDED and record["run_id"].endswith("-guard-" + GUARDED)
    assert [r["target"]["database"] for r in map(json.loads, (base / "guard-reports" / "records.jsonl").read_text().splitlines())] == ["jsonmend_" + GUARDED]
    assert record["undo_command"].endswith("fleet_guard -i inventories/inv-clean --limit %s -e jsonmend_guard_mode=off" % GUARDED)
    with running[server].admin() as conn, conn.cursor() as cur:
        cur.execute("USE `jsonmend_%s`" % GUARDED)
        cur.execute("INSERT INTO analytics_activityevent (user_id, event_type, metadata, created_at) VALUES (1, 'login', '42', NOW())")
        cur.execute("UPDATE analytics_activityevent SET metadata = '{\"fixed\": 1}' WHERE metadata = '42'")


@pytest.fixture(scope="module")
def clean_run(servers):
    base, common, running = servers
    inventory = write_inventory(base / "inv-clean", common, CLEAN)
    guard_one_target(base, inventory, running)
    with SMTPReceiver() as smtp, HTTPReceiver() as hook:
        result = weekly(base, inventory, "clean", smtp, hook)
    return base / "clean", result, list(smtp.messages), list(hook.posts)


@pytest.fixture(scope="module")
def demo_run(servers, clean_run):
    base, common, running = servers
    running[STOPPED].stop()  # after the clean fleet (db1, db2): its four targets cannot be checked
    with SMTPReceiver() as smtp, HTTPReceiver() as hook:
        result = weekly(base, write_inventory(base / "inv-demo", common, fleet.TARGETS), "demo", smtp, hook)
    report = json.loads((base / "demo" / "reports" / "fleet-latest.json").read_text())
    return base / "demo", result, list(smtp.messages), list(hook.posts), report


def test_a_clean_fleet_sends_nothing_and_exits_0(clean_run):
    out, result, mails, posts = clean_run
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 targets, 0 corrupted rows: healthy" in result.stdout
    assert mails == [] and posts == []
    assert not list((out / "reports").glob("*/notifications"))
    report = json.loads((out / "reports" / "fleet-latest.json").read_text())
    assert report["playbook"] == "fleet_weekly_check.yml" and report["totals"]["clean"] == 3
    families = text_string_to_metric_families((out / "prom" / "jsonmend_fleet.prom").read_text())
    prom = {s.labels["target"]: s.value for f in families for s in f.samples if s.name == "jsonmend_fleet_target_corrupted_rows"}
    assert prom == {"clean1": 0, "clean2": 0, "clean3": 0}


def test_each_targets_guard_is_a_column_of_the_fleet_report(clean_run):
    out, _result, _mails, _posts = clean_run
    report = json.loads((out / "reports" / "fleet-latest.json").read_text())
    guards = {r["target"]: r["guard"] for r in report["targets"]}
    assert guards[GUARDED]["mode"] == "observe" and (guards[GUARDED]["events_since"], guards[GUARDED]["events_total"]) == (1, 1)
    assert guards[GUARDED]["line"].startswith("Guard: observe; 1 non-object write(s) logged since the guard log began")
    assert {n: g["mode"] for n, g in guards.items() if n != GUARDED} == {"clean2": "off", "clean3": "off"}
    assert guards["clean2"]["line"] == "Guard: off (no database guard on the column)"
    fleet_md = (out / "reports" / report["fleet_run_id"] / "fleet.md").read_text()
    assert "| duration (s) | guard | error |" in fleet_md and "| Guard: off (no database guard on the column) |" in fleet_md
    # One state file for the fleet, with every target's own entry (written once, not by each target).
    state = json.loads((out / "reports" / "weekly-state.json").read_text())
    assert sorted(state) == [
        "jsonmend_clean1.analytics_activityevent.metadata",
        "jsonmend_clean2.analytics_activityevent.metadata",
        "jsonmend_clean3.audit_event.metadata",
    ]
    assert state["jsonmend_clean1.analytics_activityevent.metadata"]["mode"] == "observe"
    # Each target's record carries its own guard, as weekly_check.yml's does.
    records = {r["target"]["database"]: r for r in map(json.loads, (out / "reports" / "records.jsonl").read_text().splitlines())}
    assert records["jsonmend_clean1"]["guard"]["installed"] == "observe" and records["jsonmend_clean2"]["guard"]["installed"] == "off"


def test_one_alert_names_exactly_the_corrupt_targets(demo_run):
    out, result, mails, posts, report = demo_run
    # weekly_check.yml's exit status: 2, after the report and the alert.
    assert result.returncode == 2, result.stdout[-4000:] + result.stderr[-2000:]
    corrupt = sorted(t[0] for t in fleet.TARGETS if t[1] != STOPPED and t[3] > 0)
    rows = {r["target"]: r for r in report["targets"]}
    assert sorted(n for n, r in rows.items() if r["status"] == "corrupt") == corrupt
    assert len(mails) == 1 and len(posts) == 1
    total = sum(rows[n]["corrupted"] for n in corrupt)
    assert mails[0]["Subject"] == "[Alert] %d corrupted row(s) in %d of 12 fleet targets" % (total, len(corrupt))
    body = mails[0].get_payload(decode=True).decode()
    listed, _, unchecked = body.partition("Not checked")
    named = sorted(line.split()[1] for line in listed.splitlines() if line.startswith("- "))
    assert named == corrupt
    for name in corrupt:
        row = rows[name]
        line = next(x for x in listed.splitlines() if x.startswith("- %s " % name))
        assert "server %s, jsonmend_%s.%s" % (row["server"], name, row["table"]) in line
        assert "%d corrupted of %d rows" % (row["corrupted"], row["rows"]) in line
        assert all("%s %d" % kv in line for kv in row["by_type"].items()) and row["by_type"]
    assert "INVALID" in next(x for x in listed.splitlines() if x.startswith("- tenant07 "))
    assert all("; guard off" in line for line in listed.splitlines() if line.startswith("- "))
    assert all("guard" not in rows[n] for n in rows if rows[n]["status"] == "failed")
    stopped = sorted(t[0] for t in fleet.TARGETS if t[1] == STOPPED)
    assert sorted(line.split()[1] for line in unchecked.splitlines() if line.startswith("- ")) == stopped
    assert unchecked.count("could not connect") == len(stopped)
    assert posts[0][1]["text"].startswith("*%s*" % mails[0]["Subject"])
    assert (out / "reports" / report["fleet_run_id"] / "notifications" / "fleet_weekly_alert.txt").is_file()
    message = " ".join(result.stdout.split())
    assert "%d corrupted row(s) in %d of 12 targets (%s;" % (total, len(corrupt), ", ".join(corrupt)) in message
    assert "4 not checked (tenant09: " in message


def test_one_series_per_target_and_records(demo_run):
    out, _result, _mails, _posts, report = demo_run
    families = {f.name: f for f in text_string_to_metric_families((out / "prom" / "jsonmend_fleet.prom").read_text())}
    corrupted = {s.labels["target"]: s.value for s in families["jsonmend_fleet_target_corrupted_rows"].samples}
    assert corrupted == {r["target"]: r["corrupted"] for r in report["targets"] if r["status"] != "failed"}
    up = {s.labels["target"]: s.value for s in families["jsonmend_fleet_target_up"].samples}
    assert sorted(up) == sorted(t[0] for t in fleet.TARGETS) and sum(up.values()) == 8
    # Each target's own record: a corrupt or unchecked target's check failed, a clean one's succeeded.
    records = [json.loads(line) for line in (out / "reports" / "records.jsonl").read_text().splitlines()]
    outcomes = {r["target"]["database"]: r["outcome"] for r in records}
    expected = {"jsonmend_%s" % r["target"]: "success" if r["status"] == "clean" else "failed" for r in report["targets"]}
    assert outcomes == expected and len(records) == 12

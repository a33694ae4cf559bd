# playbooks/fleet_monitor.yml on a small real fleet (tools/devstack/fleet.py: 2 throwaway MariaDB servers,
# 5 small targets, one of another table shape), with real SMTP and HTTP receivers: the first run alerts
# ONCE listing exactly the corrupt targets and exits 2; the same findings again send nothing and exit 0;
# then new corrupt rows in a clean target and in a corrupt one, and one server stopped: ONE alert naming
# the two targets with new corruption and the stopped server's targets with their error, the other
# targets still re-scanned, each target's result and judgement in the fleet report.
import json

import pytest

from tests.support.receivers import HTTPReceiver, SMTPReceiver
from tools.devstack import fleet, seed
from tools.devstack.playbooks import run_playbook

STOPPED = "db2"
# name, server, rows, corrupt percent, table (tools/devstack/fleet.py's shape)
TARGETS = (
    ("mon1", "db1", 200, 0.0, None),
    ("mon2", "db1", 300, 5.0, None),
    ("mon3", "db1", 150, 0.0, "audit_event"),
    ("mon4", "db2", 250, 4.0, None),
    ("mon5", "db2", 100, 0.0, None),
)
CORRUPT_ROWS = [(7, "login", "42", "2026-11-01 00:00:00"), (8, "login", '"text"', "2026-11-01 00:00:00")]


@pytest.fixture(scope="module")
def small_fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleetmonitor")
    with fleet.running(base, TARGETS) as (inventory, servers):
        yield base, inventory, servers


def monitor(base, inventory):
    variables = {
        "jsonmend_report_dir": str(base / "reports"),
        "metrics_textfile_dir": str(base / "prom"),
        "notify_channels": ["email", "webhook"],
        "notify_email_to": ["dba@example.com"],
        "notify_smtp_host": "127.0.0.1",
        "notify_smtp_security": "none",
    }
    with SMTPReceiver() as smtp, HTTPReceiver() as hook:
        variables.update(notify_smtp_port=smtp.port, notify_webhook_url=hook.url)
        result = run_playbook("fleet_monitor.yml", variables, base, extra_args=["-i", str(inventory), "-f", "4"])
    report = json.loads((base / "reports" / "fleet-latest.json").read_text())
    return result, list(smtp.messages), list(hook.posts), report


@pytest.fixture(scope="module")
def runs(small_fleet):
    base, inventory, servers = small_fleet
    first = monitor(base, inventory)
    second = monitor(base, inventory)
    # New corruption: a clean target (mon1) and a target already reported (mon2) get corrupt rows.
    for name in ("mon1", "mon2"):
        with servers["db1"].admin() as conn, conn.cursor() as cur:
            cur.execute("USE `jsonmend_%s`" % name)
            seed.insert_rows(cur, CORRUPT_ROWS)
    servers[STOPPED].stop()
    third = monitor(base, inventory)
    fourth = monitor(base, inventory)
    return base, first, second, third, fourth


def body(mail):
    return mail.get_payload(decode=True).decode()


def test_the_first_run_alerts_once_naming_the_corrupt_targets(runs):
    base, (result, mails, posts, report), *_ = runs
    assert result.returncode == 2, result.stdout[-4000:] + result.stderr[-2000:]
    assert len(mails) == 1 and len(posts) == 1
    assert " ".join(mails[0]["Subject"].split()).startswith("[Alert] jsonmend fleet monitor: new corruption in 2 of 5 targets (mon2, mon4)")
    listed = sorted(line.split()[1] for line in body(mails[0]).splitlines() if line.startswith("- "))
    assert listed == ["mon2", "mon4"]
    rows = {r["target"]: r for r in report["targets"]}
    assert report["playbook"] == "fleet_monitor.yml" and report["totals"]["scanned"] == 5
    assert all(rows[n]["monitor"]["new"] for n in ("mon2", "mon4")) and not rows["mon1"]["monitor"]["new"]
    assert rows["mon3"]["table"] == "audit_event" and rows["mon3"]["status"] == "clean"
    assert (base / "reports" / report["fleet_run_id"] / "notifications" / "fleet_monitor_alert.txt").is_file()
    # A schedule's run writes no per-target report or record.
    assert not (base / "reports" / "records.jsonl").exists()
    assert not [d for d in (base / "reports").iterdir() if d.is_dir() and d.name.endswith("-mon1")]


def test_the_same_findings_again_send_nothing(runs):
    _base, _first, (result, mails, posts, report), *_ = runs
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert mails == [] and posts == []
    assert "jsonmend fleet monitor: nothing new in 5 targets" in result.stdout
    notes = {r["target"]: r["monitor"]["note"] for r in report["targets"]}
    assert notes["mon1"] == "clean" and notes["mon2"].endswith("already reported")


def test_new_corruption_and_a_stopped_server_in_one_alert(runs):
    base, _first, _second, (result, mails, posts, report), _fourth = runs
    assert result.returncode == 2, result.stdout[-4000:] + result.stderr[-2000:]
    assert len(mails) == 1 and len(posts) == 1
    text = body(mails[0])
    lines = {line.split()[1]: line for line in text.splitlines() if line.startswith("- ")}
    assert sorted(lines) == ["mon1", "mon2", "mon4", "mon5"]
    rows = {r["target"]: r for r in report["targets"]}
    assert "2 corrupted of 202 rows" in lines["mon1"]
    assert "(%d when last reported)" % (rows["mon2"]["corrupted"] - 2) in lines["mon2"]
    for name in ("mon4", "mon5"):
        assert rows[name]["status"] == "failed" and "could not connect" in rows[name]["error"]
        assert "re-scan FAILED" in lines[name] and rows[name]["monitor"]["new"]
    # The stopped server did not stop the others: they were all re-scanned.
    assert [rows[n]["status"] for n in ("mon1", "mon2", "mon3")] == ["corrupt", "corrupt", "clean"]
    assert not rows["mon3"]["monitor"]["new"]
    fleet_md = (base / "reports" / report["fleet_run_id"] / "fleet.md").read_text()
    assert fleet_md.startswith("# Fleet monitor") and "| monitor |" in fleet_md
    assert "new: 2 corrupted (0 before)" in fleet_md


def test_a_server_still_down_is_not_alerted_again(runs):
    base, *_, (result, mails, posts, report) = runs
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert mails == [] and posts == []
    assert [r["monitor"]["note"] for r in report["targets"] if r["status"] == "failed"] == ["re-scan failed (already reported)"] * 2
    state = json.loads((base / "reports" / "fleet-monitor-state.json").read_text())
    assert state["targets"]["mon1"]["alerted_corrupted_rows"] == 2 and state["targets"]["mon4"]["error"]

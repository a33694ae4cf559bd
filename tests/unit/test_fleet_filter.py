# The fleet report from what each target published: rows, totals, Markdown and the Prometheus textfile.
import pytest
from ansible.errors import AnsibleFilterError
from prometheus_client.parser import text_string_to_metric_families

from filter_plugins.jsonmend_fleet import fleet_markdown, fleet_monitor_judge, fleet_prometheus, fleet_report, fleet_target_entries


def scan(rows, corrupted, **by_type):
    return {"total_rows": rows, "corrupted_rows": corrupted, "by_type": dict({"OBJECT": rows - corrupted}, **by_type), "duration_s": 0.25}


ENTRIES = [
    {"server": "db2", "run_id": "F-b", "scan": scan(100, 0), "strategy": "A", "started": "10.0", "finished": "11.0"},
    {"server": "db1", "run_id": "F-a", "scan": scan(200, 5, INTEGER=3, STRING=2), "strategy": "B", "started": 10, "finished": 12},
    {"server": "db1", "run_id": "F-c", "scan": scan(50, 1, INTEGER=1, **{"READABLE OBJECT": 4}), "strategy": "B"},
    {"server": "db3", "run_id": "F-d", "error": "Can't connect to MySQL server", "started": 10, "finished": 13.5},
    {},  # its play never published anything (unreachable)
]
NAMES = ["b", "a", "c", "d", "e"]


def test_rows_sorted_with_their_own_counts_and_status():
    report = fleet_report(ENTRIES, NAMES, {"fleet_run_id": "F"})
    assert [r["target"] for r in report["targets"]] == ["a", "b", "c", "d", "e"]
    a, b, c, d, e = report["targets"]
    assert (a["rows"], a["corrupted"], a["by_type"], a["strategy"], a["status"]) == (200, 5, {"INTEGER": 3, "STRING": 2}, "B", "corrupt")
    assert (b["status"], b["by_type"], b["duration_s"]) == ("clean", {}, 0.25)
    assert c["by_type"] == {"INTEGER": 1}, "a readable object is not corruption"
    assert (d["status"], d["rows"], d["corrupted"], d["strategy"], d["error"], d["duration_s"]) == (
        "failed",
        None,
        None,
        None,
        "Can't connect to MySQL server",
        3.5,
    )
    assert e["status"] == "failed" and "did not finish" in e["error"]
    assert report["fleet_run_id"] == "F"


def test_totals_count_only_the_targets_that_answered():
    totals = fleet_report(ENTRIES, NAMES)["totals"]
    assert totals == {
        "targets": 5,
        "servers": 3,
        "scanned": 3,
        "clean": 1,
        "corrupt": 2,
        "failed": 2,
        "rows": 350,
        "corrupted": 6,
        "by_type": {"INTEGER": 4, "STRING": 2},
    }


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError):
        fleet_report({"a": {}}, ["a"])
    with pytest.raises(AnsibleFilterError):
        fleet_report([{}, {}], ["a"])
    with pytest.raises(AnsibleFilterError):
        fleet_report([{}, {}], ["a", "a"])


def test_markdown_has_a_row_per_target_and_the_totals():
    text = fleet_markdown(fleet_report(ENTRIES, NAMES, {"fleet_run_id": "F"}))
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| target")]
    assert len(rows) == 6
    assert "| a | db1 | 200 | 5 | INTEGER 3, STRING 2 | B | corrupt | 0.25 |  |" in text
    assert "| d | db3 |  |  |  |  | failed | 3.5 | Can't connect to MySQL server |" in text
    assert rows[-1].startswith("| **total** | 3 servers | 350 | 6 |")
    assert "5 targets on 3 servers: 1 clean, 2 corrupt, 2 failed" in text


def test_prometheus_one_series_per_target():
    families = {f.name: f for f in text_string_to_metric_families(fleet_prometheus(fleet_report(ENTRIES, NAMES), "prod"))}
    up = {s.labels["target"]: s.value for s in families["jsonmend_fleet_target_up"].samples}
    assert up == {"a": 1, "b": 1, "c": 1, "d": 0, "e": 0}
    corrupted = {s.labels["target"]: s.value for s in families["jsonmend_fleet_target_corrupted_rows"].samples}
    assert corrupted == {"a": 5, "b": 0, "c": 1}, "a failed target has no corrupted-rows series, not a false 0"
    assert {s.labels["environment"] for s in families["jsonmend_fleet_target_rows"].samples} == {"prod"}


def test_the_guard_column_only_when_the_targets_carry_their_guard():
    assert "guard" not in fleet_report(ENTRIES, NAMES)["targets"][0]
    assert "| guard |" not in fleet_markdown(fleet_report(ENTRIES, NAMES))
    guarded = [dict(e, guard={"mode": "observe", "events_since": "2", "events_total": 5, "line": "Guard: observe; 2 logged"}) for e in ENTRIES[:2]]
    report = fleet_report([*guarded, *ENTRIES[2:]], NAMES)
    rows = {r["target"]: r for r in report["targets"]}
    assert rows["b"]["guard"] == {"mode": "observe", "events_since": 2, "events_total": 5, "line": "Guard: observe; 2 logged"}
    assert "guard" not in rows["c"]
    text = fleet_markdown(report)
    assert "| duration (s) | guard | error |" in text
    assert "| a | db1 | 200 | 5 | INTEGER 3, STRING 2 | B | corrupt | 0.25 | Guard: observe; 2 logged |  |" in text
    assert "| d | db3 |  |  |  |  | failed | 3.5 |  | Can't connect to MySQL server |" in text


def test_the_monitor_alerts_once_per_rise_and_once_per_failure():
    first = fleet_monitor_judge(fleet_report(ENTRIES, NAMES, {"playbook": "fleet_monitor.yml"}), {}, "T1")
    assert first["alert"] and first["new"] == ["a", "c"] and first["new_failed"] == ["d", "e"]
    assert "new corruption in 2 of 5 targets (a, c)" in first["summary"]
    assert "- a (server db1, .): 5 corrupted of 200 rows - INTEGER 3, STRING 2" in first["message"]
    rows = {r["target"]: r for r in first["report"]["targets"]}
    assert rows["a"]["monitor"] == {"alerted_before": 0, "new": True, "note": "new: 5 corrupted (0 before)"}
    assert rows["b"]["monitor"]["note"] == "clean" and not rows["b"]["monitor"]["new"]
    assert "| monitor |" in fleet_markdown(first["report"]) and fleet_markdown(first["report"]).startswith("# Fleet monitor")
    # The same findings again: nothing new; a rise alerts; a fall is remembered; a failure that clears resets.
    again = fleet_monitor_judge(fleet_report(ENTRIES, NAMES), first["state"], "T2")
    assert not again["alert"] and again["summary"] == "nothing new in 5 targets"
    changed = [dict(ENTRIES[0]), dict(ENTRIES[1], scan=scan(200, 7, INTEGER=7)), dict(ENTRIES[2], scan=scan(50, 0)), dict(ENTRIES[1]), {}]
    later = fleet_monitor_judge(fleet_report(changed, NAMES), again["state"], "T3")
    assert later["new"] == ["a", "d"] and later["new_failed"] == [], "d answers again: its corruption was never reported"
    assert "(5 when last reported)" in later["message"]
    assert later["state"]["targets"]["c"]["alerted_corrupted_rows"] == 0
    assert later["state"]["targets"]["d"]["error"] is None
    with pytest.raises(AnsibleFilterError):
        fleet_monitor_judge({"targets": None})


def test_each_row_is_read_from_the_targets_hostvars():
    full = {"total_rows": 10, "corrupted_rows": 2, "by_type": {"OBJECT": 8, "INTEGER": 2}, "scan": {"duration_s": 0.5}, "samples": ["big"]}
    hostvars = {
        "ok": {
            "fleet_target_started": "1.0",
            "jsonmend_fleet_server": "db1",
            "jsonmend_db_name": "jsonmend_ok",
            "preflight_run": {"id": "F-ok", "target": {"table": "t"}},
            "diagnose_scan": full,
            "strategy_decision": {"strategy": "B"},
            "guard_weekly": {"mode": "off", "events_since": 0, "events_total": 0, "line": "Guard: off", "state": {"x": 1}},
        },
        "down": {
            "fleet_target_started": 1.0,
            "jsonmend_db_host": "10.0.0.9",
            "jsonmend_table": "audit_event",
            "fleet_target_error": "Can't connect",
            "fleet_target_failed_at": 3.5,
        },
        "never": {"jsonmend_db_name": "jsonmend_never"},
    }
    ok, down, never = fleet_target_entries(hostvars, ["ok", "down", "never"])
    assert ok["scan"] == {"total_rows": 10, "corrupted_rows": 2, "by_type": {"OBJECT": 8, "INTEGER": 2}, "duration_s": 0.5}, "counts, not samples"
    assert (ok["server"], ok["database"], ok["table"], ok["run_id"], ok["strategy"]) == ("db1", "jsonmend_ok", "t", "F-ok", "B")
    assert ok["guard"] == {"mode": "off", "events_since": 0, "events_total": 0, "line": "Guard: off"}
    assert (down["server"], down["table"], down["scan"], down["error"], down["guard"]) == ("10.0.0.9", "audit_event", {}, "Can't connect", {})
    assert never == {}
    rows = {r["target"]: r for r in fleet_report([ok, down, never], ["ok", "down", "never"])["targets"]}
    assert rows["down"]["duration_s"] == 2.5 and rows["ok"]["corrupted"] == 2 and rows["ok"]["guard"]["mode"] == "off"
    assert "did not finish" in rows["never"]["error"] and "guard" not in rows["down"]

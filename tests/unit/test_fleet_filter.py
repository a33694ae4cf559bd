# The fleet report from what each target published: rows, totals, Markdown and the Prometheus textfile.
import pytest
from ansible.errors import AnsibleFilterError
from prometheus_client.parser import text_string_to_metric_families

from filter_plugins.jsonmend_fleet import fleet_markdown, fleet_prometheus, fleet_report


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

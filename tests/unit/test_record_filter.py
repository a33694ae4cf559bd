# The run record and the metric text, from facts.
import pytest
from ansible.errors import AnsibleFilterError
from prometheus_client.parser import text_string_to_metric_families

from filter_plugins.jsonmend_record import jsonmend_prometheus, jsonmend_record_markdown, jsonmend_run_record

RUN = {
    "id": "r1",
    "playbook": "deploy.yml",
    "started_at": "2026-11-26T10:00:00Z",
    "operator": "ops",
    "awx_job_id": 77,
    "target": {"database": "app", "table": "t", "column": "m"},
}
SCAN = {
    "total_rows": 10,
    "corrupted_rows": 2,
    "sql_null_rows": 1,
    "by_type": {"OBJECT": 7, "INTEGER": 2},
    "target": {"database": "app", "table": "t", "column": 'm"x'},
    "scan": {"duration_s": 0.5, "scanned_at": "2026-11-26T10:00:01Z"},
}


def test_record_lists_phases_in_runbook_order_and_skips_missing_ones():
    facts = {
        "preflight_run": RUN,
        "diagnose_scan": SCAN,
        "strategy_decision": {"strategy": "B"},
        "cleanup_repair": {},
        "backup_manifest": {"id": "b1", "verified": True},
    }
    record = jsonmend_run_record(facts, "success")
    assert [p["phase"] for p in record["phases"]] == ["preflight", "backup", "diagnose", "strategy"]
    assert record["strategy"] == "B" and record["backup_id"] == "b1" and record["scan_before"]["corrupted_rows"] == 2
    md = jsonmend_record_markdown(record)
    assert "| Run by | ops (AWX job 77) |" in md and "| Backup | b1 (verified) |" in md


def test_record_needs_the_run():
    with pytest.raises(AnsibleFilterError):
        jsonmend_run_record({"diagnose_scan": SCAN})


def test_metric_text_parses_and_escapes_labels():
    families = {f.name: f for f in text_string_to_metric_families(jsonmend_prometheus(SCAN, "prod"))}
    sample = families["jsonmend_corrupted_rows"].samples[0]
    assert sample.value == 2 and sample.labels == {"database": "app", "table": "t", "column": 'm"x', "environment": "prod"}
    assert {s.labels["type"]: s.value for s in families["jsonmend_rows_by_type"].samples} == {"OBJECT": 7, "INTEGER": 2}
    assert families["jsonmend_scan_timestamp_seconds"].samples[0].value == 1795687201

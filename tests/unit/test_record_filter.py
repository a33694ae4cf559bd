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


# The record as a change-ticket record (issue 15, item 10).
def deploy_facts(**extra):
    facts = {
        "preflight_run": dict(RUN, check_mode=False),
        "diagnose_scan": SCAN,
        "strategy_decision": {"strategy": "B"},
        "maintenance_state": {"enabled": False, "window": {"started_at": "2026-11-26T10:00:05Z", "ended_at": "2026-11-26T10:02:00Z"}},
        "deploy_release": {"previous": "aaa111", "new": "bbb222", "started_at": "2026-11-26T10:00:10Z", "finished_at": "2026-11-26T10:01:00Z"},
        "verify_result": {"passed": True, "failures": [], "checks": {}, "lines": ["✓ scan: 0 corrupted row(s)", "✓ health: healthy on bbb222"]},
    }
    facts.update(extra)
    return facts


CONTEXT = {"change_ticket": "CHG-1234", "environment": "production", "inventory": "production", "finished_at": "2026-11-26T10:03:00Z"}


def test_record_carries_ticket_environment_window_checks_and_commands():
    record = jsonmend_run_record(deploy_facts(), "success", context=CONTEXT)
    md = jsonmend_record_markdown(record)
    for line in (
        "| Change ticket | CHG-1234 |",
        "| Environment | production |",
        "| Started | 2026-11-26T10:00:00Z (UTC) |",
        "| Finished | 2026-11-26T10:03:00Z (UTC) |",
        "| Maintenance window | 2026-11-26T10:00:05Z (UTC) → 2026-11-26T10:02:00Z (UTC) |",
        "| Code | aaa111 → bbb222 (deployed) |",
        "| Undo | `./jsonmend rollback -i inventories/production` |",
        "- ✓ scan: 0 corrupted row(s)",
        "- verdict: passed",
        "All times are UTC",
    ):
        assert line in md, line
    assert "```json" not in md and '"passed"' not in md
    # Every phase has its start and end: its own, start + duration, or the next phase's start.
    phases = {p["phase"]: p for p in record["phases"]}
    assert phases["diagnose"]["finished_at"] == "2026-11-26T10:00:01Z"  # scanned_at + 0.5 s, truncated
    assert phases["preflight"]["finished_at"] == "2026-11-26T10:00:01Z"  # the next phase's start
    assert phases["deploy"] == dict(phase="deploy", outcome="done", started_at="2026-11-26T10:00:10Z", finished_at="2026-11-26T10:01:00Z")
    assert record["next_command"].startswith("./jsonmend monitor -i inventories/production every 15 minutes")


def test_a_rollback_shows_the_code_going_back():
    rollback = {
        "code": {"action": "rollback", "from": "bbb222", "to": "aaa111", "reason": "reset to the deploy's previous commit"},
        "data": {"method": "undo", "outcome": "undone"},
    }
    facts = {"preflight_run": dict(RUN, playbook="rollback.yml", check_mode=False), "rollback_result": rollback}
    md = jsonmend_record_markdown(jsonmend_run_record(facts, "rolled_back", context=dict(CONTEXT, inventory="local")))
    assert "| Code | bbb222 → aaa111 (rolled back, rollback) |" in md
    assert "| Rollback | code: rollback - reset to the deploy's previous commit |" in md and "| Rollback | data: undone (undo) |" in md
    assert "| Undo | `./jsonmend deploy -e strategy=auto` |" in md and "| Next | ./jsonmend diagnose |" in md
    # A deploy that rolled itself back shows both directions.
    md = jsonmend_record_markdown(jsonmend_run_record(deploy_facts(), "rolled_back", context=CONTEXT))
    assert "| Code | aaa111 → bbb222 (deployed) |" in md and "| Code rollback | bbb222 → aaa111 (rolled back) |" in md
    assert "| Undo |" not in md


def test_without_a_ticket_the_record_says_how_to_give_one():
    md = jsonmend_record_markdown(jsonmend_run_record({"preflight_run": RUN}, "success"))
    assert "| Change ticket | none given (-e jsonmend_change_ticket=CHG-...) |" in md


def test_a_refused_dry_run_says_to_fix_the_refusal_not_to_run_again_without_check():
    from filter_plugins.jsonmend_record import next_command

    refused = next_command(dict(playbook="deploy.yml", outcome="refused", check_mode=True, strategy="D"))
    assert refused.startswith("fix what stopped the run (above), then") and "without --check" not in refused
    assert "without --check" in next_command(dict(playbook="deploy.yml", outcome="success", check_mode=True, strategy="B"))


def test_a_guard_change_is_in_the_record_with_its_undo_and_next_step():
    guard = dict(mode="observe", installed_before="off", installed="observe", changed=True, statements=["CREATE TABLE x", "CREATE TRIGGER a", "CREATE TRIGGER"])
    facts = {"preflight_run": dict(RUN, playbook="guard.yml", check_mode=False), "guard_state": dict(guard, started_at="2026-11-26T10:00:02Z")}
    record = jsonmend_run_record(facts, "success")
    assert record["guard"] == guard and [p["phase"] for p in record["phases"]] == ["preflight", "guard"]
    assert record["undo_command"] == "./jsonmend guard -e jsonmend_guard_mode=off"
    assert record["next_command"] == "the weekly checks; once they stay clean: ./jsonmend guard -e jsonmend_guard_mode=enforce"
    assert "| Guard | off → observe (3 DDL statement(s)) |" in jsonmend_record_markdown(record)
    unchanged = jsonmend_run_record(dict(facts, guard_state=dict(guard, installed_before="observe", changed=False, statements=[])), "success")
    assert unchanged["undo_command"] == "" and "| Guard | observe (unchanged) |" in jsonmend_record_markdown(unchanged)
    assert jsonmend_run_record({"preflight_run": RUN}, "success")["guard"] is None


def test_record_lists_each_delivery_and_warns_of_failed_ones():
    rows = [
        {
            "message": "rollback",
            "contact": "on_call",
            "name": "On-call engineer",
            "channel": "pagerduty",
            "to": "PagerDuty",
            "sent_at": "2026-11-26T10:05:00Z",
            "result": "ok",
        },
        {
            "message": "rollback",
            "contact": "management",
            "name": "Management",
            "channel": "email",
            "to": "cto@example.com",
            "sent_at": "2026-11-26T10:05:00Z",
            "result": "connection refused",
            "extra": "x",
        },
    ]
    record = jsonmend_run_record({"preflight_run": RUN}, context={"notifications": rows})
    assert [n["name"] for n in record["notifications"]] == ["On-call engineer", "Management"] and "extra" not in record["notifications"][1]
    markdown = jsonmend_record_markdown(record)
    assert "| rollback | Management | email | 2026-11-26T10:05:00Z | connection refused |" in markdown
    assert "WARNING: rollback was not delivered to Management by email: connection refused" in markdown
    assert jsonmend_run_record({"preflight_run": RUN})["notifications"] is None


def test_a_fleet_targets_record_names_it_in_its_undo_command():
    facts = {"preflight_run": dict(RUN, id="F-t3", playbook="fleet_cleanup.yml"), "cleanup_repair": {"run_id": "F-t3", "rows_changed": 4}}
    record = jsonmend_run_record(facts, "success", context={"inventory": "fleet-example", "fleet_target": "t3"})
    assert record["fleet_target"] == "t3"
    assert record["undo_command"] == "./jsonmend fleet_undo -i inventories/fleet-example --limit t3 -e jsonmend_rollback_run_id=F-t3"
    rolled_back = jsonmend_run_record(facts, "rolled_back", context={"inventory": "fleet-example", "fleet_target": "t3"})
    assert rolled_back["undo_command"] == "" and "fleet_cleanup" in rolled_back["next_command"]
    assert "fleet_target" not in jsonmend_run_record(facts, "success")

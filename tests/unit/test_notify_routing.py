# The runbook's "Contact & Escalation" as the notify role's filters: events, routes, deliveries,
# the PagerDuty payload and the delivery rows.
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_notify import (
    jsonmend_notify_events,
    jsonmend_notify_failures,
    jsonmend_notify_missing,
    jsonmend_notify_problems,
    jsonmend_notify_results,
    jsonmend_notify_route,
    jsonmend_notify_told,
    jsonmend_notify_warnings,
    jsonmend_pagerduty_event,
)

ROOT = Path(__file__).resolve().parents[2]
ROUTES = yaml.safe_load((ROOT / "roles/notify/defaults/main.yml").read_text(encoding="utf-8"))["notify_routes"]
CONTACTS = {
    "development_team": {"name": "Development team", "email": ["dev@example.com"], "webhook": "https://hooks.example/dev-secret"},
    "devops": {"email": "ops@example.com"},
    "database_admin": {"name": "DBA", "email": ["dba@example.com"]},
    "on_call": {"name": "On-call engineer", "pagerduty_routing_key": "R0UTINGKEY"},
    "database_emergency": {"name": "Database emergency", "pagerduty_routing_key": "DBKEY", "pagerduty_severity": "critical"},
    "management": {"name": "Management", "email": ["cto@example.com"]},
    "senior_engineer": {"name": "Senior engineer", "email": ["senior@example.com"]},
}


def told(message, strategy="", event=""):
    return [(d["contact"], d["channel"]) for d in jsonmend_notify_route(jsonmend_notify_events(message, strategy, event), ROUTES, CONTACTS)]


@pytest.mark.parametrize(
    "message,strategy,event,contacts",
    [
        ("pre_deployment", "B", "", ["development_team", "devops"]),
        ("success", "B", "", ["development_team", "devops"]),
        ("rollback", "B", "", ["development_team", "devops", "on_call"]),
        ("monitor_alert", "", "", ["development_team", "devops", "on_call"]),
        ("pre_deployment", "C", "", ["development_team", "devops"]),
        ("pre_deployment", "D", "", ["development_team", "devops", "senior_engineer"]),
        ("rollback", "C", "emergency_rollback", ["on_call", "database_emergency", "management"]),
        ("weekly_alert", "", "", ["development_team", "devops", "database_admin"]),
        ("guard_change", "", "", ["database_admin"]),
    ],
)
def test_runbook_default_routes(message, strategy, event, contacts):
    assert list(dict.fromkeys(c for c, _ in told(message, strategy, event))) == contacts


def test_events_follow_the_message_and_strategy():
    assert jsonmend_notify_events("pre_deployment", "C") == ["pre_deployment", "strategy_c_cleanup"]
    assert jsonmend_notify_events("pre_deployment", "D") == ["pre_deployment", "strategy_d_escalation"]
    assert jsonmend_notify_events("rollback", "B", "emergency_rollback") == ["emergency_rollback"]
    with pytest.raises(AnsibleFilterError):
        jsonmend_notify_events("nonsense")


def test_each_channel_of_a_contact_is_one_delivery_and_contacts_are_not_repeated():
    assert told("success") == [("development_team", "email"), ("development_team", "webhook"), ("devops", "email")]
    deliveries = jsonmend_notify_route(["pre_deployment", "strategy_c_cleanup"], ROUTES, CONTACTS)
    assert [d["contact"] for d in deliveries].count("development_team") == 2  # email + webhook, once each


def test_routes_are_configurable_and_missing_contacts_are_skipped_and_named():
    routes = dict(ROUTES, success=["management", "nobody"])
    assert [(d["contact"], d["channel"]) for d in jsonmend_notify_route(["success"], routes, CONTACTS)] == [("management", "email")]
    assert jsonmend_notify_missing(["success"], routes, CONTACTS) == ["nobody"]
    assert jsonmend_notify_route(["success"], ROUTES, {}) == []


def test_pagerduty_severity_follows_the_event_unless_the_contact_sets_it():
    sev = {d["contact"]: d["severity"] for d in jsonmend_notify_route(["emergency_rollback"], ROUTES, CONTACTS) if d["channel"] == "pagerduty"}
    assert sev == {"on_call": "critical", "database_emergency": "critical"}
    sev = {d["contact"]: d["severity"] for d in jsonmend_notify_route(["post_deployment_issue"], ROUTES, CONTACTS) if d["channel"] == "pagerduty"}
    assert sev == {"on_call": "error"}


def test_pagerduty_event_has_the_documented_shape():
    event = jsonmend_pagerduty_event("KEY", "x" * 2000, "app.t.m", "critical", "jsonmend/r1/rollback", {"run": "r1"})
    assert set(event) == {"routing_key", "event_action", "dedup_key", "payload"}
    assert event["routing_key"] == "KEY" and event["event_action"] == "trigger" and event["dedup_key"] == "jsonmend/r1/rollback"
    assert len(event["payload"]["summary"]) == 1024
    assert event["payload"]["source"] == "app.t.m" and event["payload"]["severity"] == "critical"
    assert event["payload"]["custom_details"] == {"run": "r1"}
    with pytest.raises(AnsibleFilterError):
        jsonmend_pagerduty_event("KEY", "s", "src", "fatal")


def test_told_line_names_recipients_never_secrets():
    line = jsonmend_notify_told(jsonmend_notify_route(["emergency_rollback"], ROUTES, CONTACTS))
    assert line == "Sent to: On-call engineer (pagerduty); Database emergency (pagerduty); Management (email)"
    assert "KEY" not in line
    assert jsonmend_notify_told([], ["email", "webhook"], ["team@example.com"]) == "Sent to: team@example.com (email); the team webhook"
    assert jsonmend_notify_told([]) == "Sent to: nobody (report file only)"


def test_results_rows_carry_recipient_channel_time_and_outcome_without_secrets():
    on_call = jsonmend_notify_route(["post_deployment_issue"], {"post_deployment_issue": ["on_call"]}, CONTACTS)
    deliveries = jsonmend_notify_route(["success"], ROUTES, CONTACTS) + on_call
    results = {
        "email": [{"recipients": ["dev@example.com"]}, {"msg": "SMTP connection refused"}],
        "webhook": [{"status": -1, "msg": "Request failed https://hooks.example/dev-secret: refused"}],
        "pagerduty": [{"status": 202}],
    }
    rows = jsonmend_notify_results(deliveries, results, "2026-11-26T10:00:00Z", False, "success")
    assert [(r["contact"], r["channel"], r["result"]) for r in rows] == [
        ("development_team", "email", "ok"),
        ("devops", "email", "SMTP connection refused"),
        ("development_team", "webhook", "HTTP status none Request failed <url> refused"),
        ("on_call", "pagerduty", "ok"),
    ]
    assert all(r["sent_at"] == "2026-11-26T10:00:00Z" and r["message"] == "success" for r in rows)
    assert "secret" not in repr(rows) and "R0UTINGKEY" not in repr(rows)
    assert rows[0]["to"] == "dev@example.com" and rows[3]["to"] == "PagerDuty"
    assert [r["contact"] for r in jsonmend_notify_failures(rows)] == ["devops", "development_team"]
    checked = jsonmend_notify_results(deliveries, {}, {"email": "t"}, True)
    assert {r["result"] for r in checked} == {"skipped (check mode)"}
    # What the role prints for what did not go: the settings' channels, the contacts, the routes' unknown names.
    lines = jsonmend_notify_warnings("success", {"file": "ok", "email": "ok", "webhook": "HTTP 500"}, rows, ["dba"])
    assert lines == [
        "WARNING: notification success was not delivered by webhook: HTTP 500",
        "WARNING: notification success was not delivered to %s by email: SMTP connection refused" % rows[1]["name"],
        "WARNING: notification success was not delivered to %s by webhook: %s" % (rows[2]["name"], rows[2]["result"]),
        "WARNING: notification success: notify_routes names dba, not in notify_contacts",
    ]
    assert jsonmend_notify_warnings("success", {"file": "skipped (check mode)"}, checked) == []


def test_problems_name_bad_settings_without_secrets():
    assert jsonmend_notify_problems(CONTACTS, ROUTES) == []
    problems = jsonmend_notify_problems(
        {"a": {"email": "not-an-address"}, "b": {}, "c": {"webhook": "ftp://secret"}, "d": {"email": "x@y.z", "colour": 1}},
        {"nonsense": ["a"], "success": "a"},
    )
    text = "; ".join(problems)
    assert "notify_contacts.a.email 'not-an-address' is not an address" in text
    assert "notify_contacts.b has no channel" in text
    assert "notify_contacts.c.webhook must be an http(s) URL" in text and "secret" not in text
    assert "notify_contacts.d has unknown keys colour" in text
    assert "unknown event 'nonsense'" in text and "notify_routes.success must be a list" in text

# The weekly check (exit status, metric file, alert) and the runbook's notifications through
# a real SMTP server and a real HTTP server.
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.receivers import HTTPReceiver, SMTPReceiver
from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD, free_port
from tools.devstack.playbooks import ROOT, db_vars, run_playbook

# Backups, restores, retention and records carry times: make clock runs these under faketime.
pytestmark = pytest.mark.clock


def weekly_vars(mariadb, database, tmp_path, **extra):
    return db_vars(mariadb, database, jsonmend_report_dir=str(tmp_path / "reports"), metrics_textfile_dir=str(tmp_path / "prom"), **extra)


def test_weekly_check_passes_on_a_healthy_table(mariadb, database, admin_cursor, tmp_path):
    seed.create_table(admin_cursor)
    seed.insert_rows(admin_cursor, [(1, "login", '{"ok": 1}', "2026-11-01 00:00:00"), (2, "login", None, "2026-11-01 00:00:00")])
    result = run_playbook("weekly_check.yml", weekly_vars(mariadb, database, tmp_path), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 corrupted rows: healthy" in result.stdout
    assert not list((tmp_path / "reports").glob("*/notifications"))
    families = {
        f.name: f for f in text_string_to_metric_families((tmp_path / "prom" / ("jsonmend_%s_analytics_activityevent_metadata.prom" % database)).read_text())
    }
    assert families["jsonmend_corrupted_rows"].samples[0].value == 0
    assert families["jsonmend_corrupted_rows"].samples[0].labels == {
        "database": database,
        "table": "analytics_activityevent",
        "column": "metadata",
        "environment": "local",
    }
    assert families["jsonmend_total_rows"].samples[0].value == 2
    assert "jsonmend_scan_timestamp_seconds" in families


def test_weekly_check_fails_and_alerts_on_one_corrupt_row(mariadb, database, admin_cursor, tmp_path):
    seed.create_table(admin_cursor)
    seed.insert_rows(admin_cursor, [(1, "quiz_completed", "3.5", "2026-11-01 00:00:00"), (2, "login", "{}", "2026-11-01 00:00:00")])
    with SMTPReceiver() as smtp, HTTPReceiver() as hook:
        variables = weekly_vars(
            mariadb,
            database,
            tmp_path,
            notify_channels=["email", "webhook"],
            notify_email_to=["dba@example.com"],
            notify_smtp_host="127.0.0.1",
            notify_smtp_port=smtp.port,
            notify_smtp_security="none",
            notify_webhook_url=hook.url,
        )
        result = run_playbook("weekly_check.yml", variables, tmp_path)
    # Ansible's exit code for a failed task, as the README says (cron mails it, AWX fails the job).
    assert result.returncode == 2, result.stdout[-3000:]
    assert "exit 2 on corruption" in (ROOT / "README.md").read_text()
    assert "1 corrupted row(s) in analytics_activityevent.metadata" in result.stdout
    metric = (tmp_path / "prom" / ("jsonmend_%s_analytics_activityevent_metadata.prom" % database)).read_text()
    values = {s.name: s.value for f in text_string_to_metric_families(metric) for s in f.samples if not s.labels.get("type")}
    assert values["jsonmend_corrupted_rows"] == 1
    assert len(smtp.messages) == 1 and "1 corrupted row(s)" in smtp.messages[0]["Subject"]
    assert "quiz_completed: 1 DOUBLE (HIGH priority)" in smtp.messages[0].get_payload(decode=True).decode()
    assert len(hook.posts) == 1 and "1 corrupted row(s)" in hook.posts[0][1]["text"]
    records = [json.loads(line) for line in (tmp_path / "reports" / "records.jsonl").read_text().splitlines()]
    assert records[-1]["outcome"] == "failed" and records[-1]["scan_before"]["corrupted_rows"] == 1


FACTS = dict(
    test_strategy_decision={"strategy": "B", "action": "Deploy fixes + run cleanup"},
    test_diagnose_scan={"corrupted_rows": 17, "total_rows": 54325},
    test_backup_manifest={"id": "backup_activityevent_20261126_101500", "verified": True},
    test_cleanup_repair={"rows_changed": 17, "run_id": "r-42"},
    test_verify_result={"passed": True, "corrupted_rows": 0},
    test_rollback_result={"data": {"method": "undo", "repair_run_id": "r-42"}, "code": {"from": "def5678", "to": "abc1234", "current": "abc1234"}, "ok": True},
    # What the run DID (report role, tasks_from: action): the alert says this, never the plan.
    jsonmend_actions_taken=["code back to abc1234 (was def5678)", "undid repair run r-42 (17 rows got their original value back)"],
)


def test_three_messages_reach_smtp_and_webhook_with_the_right_figures(mariadb, database, tmp_path):
    with SMTPReceiver() as smtp, HTTPReceiver() as hook:
        variables = db_vars(
            mariadb,
            database,
            jsonmend_report_dir=str(tmp_path / "reports"),
            notify_channels=["email", "webhook"],
            notify_email_to=["team@example.com"],
            notify_smtp_host="127.0.0.1",
            notify_smtp_port=smtp.port,
            notify_smtp_security="none",
            notify_webhook_url=hook.url,
            notify_contact="#db-oncall",
            notify_issue="verify failed: compute_match_scores exited 1",
            **FACTS,
        )
        result = run_playbook("tests/playbooks/notify_all.yml", variables, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    subjects = [m["Subject"] for m in smtp.messages]
    assert subjects[0].startswith("[Scheduled Maintenance] Metadata Integrity Fix")
    assert subjects[1:] == ["[Complete] Metadata Integrity Fix Successfully Deployed", "[Alert] Metadata Fix Rollback Required"]
    bodies = [m.get_payload(decode=True).decode() for m in smtp.messages]
    assert "Corrupted rows found: 17 of 54325" in bodies[0] and "approximately 5-10 minutes" in bodies[0]
    assert "backup_activityevent_20261126_101500" in bodies[0] and "Contact: #db-oncall" in bodies[0]
    assert "Corrupted rows cleaned: 17 (repair run r-42, reversible)" in bodies[1] and "Healthy (0 corrupted rows)" in bodies[1]
    assert "Issue: verify failed: compute_match_scores exited 1" in bodies[2]
    assert "Action Taken: code back to abc1234 (was def5678); undid repair run r-42 (17 rows got their original value back)" in bodies[2]
    assert "Application restored to pre-deployment state (code at abc1234)" in bodies[2]
    assert [p[1]["text"].split("\n")[0] for p in hook.posts] == ["*%s*" % s for s in subjects]
    files = sorted(p.name for p in (tmp_path / "reports").glob("*/notifications/*.txt"))
    assert files == ["pre_deployment.txt", "rollback.txt", "success.txt"]
    assert TOOL_PASSWORD not in result.stdout and "secret-token" not in result.stdout


def test_a_failing_channel_is_reported_not_fatal(mariadb, database, tmp_path):
    with HTTPReceiver(status=500) as hook:
        variables = db_vars(
            mariadb,
            database,
            jsonmend_report_dir=str(tmp_path / "reports"),
            notify_channels=["email", "webhook"],
            notify_email_to=["team@example.com"],
            notify_smtp_host="127.0.0.1",
            notify_smtp_port=1,
            notify_smtp_security="none",
            notify_webhook_url=hook.url,
            **FACTS,
        )
        result = run_playbook("tests/playbooks/notify_all.yml", variables, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "was not delivered by email" in result.stdout and "was not delivered by webhook" in result.stdout
    assert "HTTP status 500" in result.stdout
    assert "secret-token" not in result.stdout
    assert len(list((tmp_path / "reports").glob("*/notifications/*.txt"))) == 3


def contacts(smtp, hook, pagerduty, down_url):
    # The runbook's contacts; the database admin's webhook is a receiver that is down.
    return {
        "development_team": {"name": "Development team", "email": ["dev@example.com"], "webhook": hook.url},
        "devops": {"name": "DevOps", "email": ["ops@example.com"]},
        "database_admin": {"name": "Database admin", "email": ["dba@example.com"], "webhook": down_url},
        "on_call": {"name": "On-call engineer", "pagerduty_routing_key": "oncall-routing-key-0001"},
        "database_emergency": {"name": "Database emergency", "pagerduty_routing_key": "dbemergency-routing-key-0002"},
        "management": {"name": "Management", "email": ["cto@example.com"]},
    }


def contact_vars(mariadb, database, tmp_path, smtp, pagerduty, people, messages, strategy):
    """notify_all.yml's variables: the messages to send to `people` through the local receivers."""
    return db_vars(
        mariadb,
        database,
        jsonmend_report_dir=str(tmp_path / "reports"),
        notify_smtp_host="127.0.0.1",
        notify_smtp_port=smtp.port,
        notify_smtp_security="none",
        notify_timeout=3,
        notify_contacts=people,
        notify_pagerduty_url="http://127.0.0.1:%d/v2/enqueue" % pagerduty.port,
        test_messages=messages,
        test_record=True,
        **dict(FACTS, test_strategy_decision=strategy),
    )


def test_each_event_reaches_its_contacts_with_pagerduty_and_a_down_receiver(mariadb, database, tmp_path):
    with SMTPReceiver() as smtp, HTTPReceiver() as hook, HTTPReceiver(status=202) as pagerduty:
        down_url = "http://127.0.0.1:%d/hook/down-secret" % free_port()
        variables = contact_vars(
            mariadb,
            database,
            tmp_path,
            smtp,
            pagerduty,
            contacts(smtp, hook, pagerduty, down_url),
            ["pre_deployment", "success", "rollback", "rollback/emergency_rollback", "weekly_alert"],
            {"strategy": "C", "action": "Fix + cleanup"},
        )
        result = run_playbook("tests/playbooks/notify_all.yml", variables, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    mails = [(sorted(m["To"].split(", ")), m["Subject"]) for m in smtp.messages]
    # pre-deployment (C: development team before the cleanup) and success: the team.
    assert mails[0] == (["dev@example.com"], smtp.messages[0]["Subject"]) and mails[0][1].startswith("[Scheduled Maintenance]")
    assert mails[1] == (["ops@example.com"], smtp.messages[1]["Subject"])
    assert [m[0] for m in mails[2:4]] == [["dev@example.com"], ["ops@example.com"]] and mails[2][1].startswith("[Complete]")
    # post-deployment issue: the team (+ on-call by PagerDuty); emergency rollback: management by email.
    assert [m[0] for m in mails[4:7]] == [["dev@example.com"], ["ops@example.com"], ["cto@example.com"]]
    assert mails[6][1] == "[Alert] Metadata Fix Rollback Required"
    # weekly check with corruption: the team and the database admin.
    assert [m[0] for m in mails[7:]] == [["dev@example.com"], ["ops@example.com"], ["dba@example.com"]]
    # Every message says who was told.
    body = smtp.messages[6].get_payload(decode=True).decode()
    assert "Sent to: On-call engineer (pagerduty); Database emergency (pagerduty); Management (email)" in body
    assert "Sent to: Development team (email, webhook); DevOps (email)" in hook.posts[0][1]["text"]
    assert len(hook.posts) == 4  # the development team's webhook: every message but the emergency
    # PagerDuty Events API v2: the post-deployment issue (on-call), the emergency (on-call + database emergency).
    events = [body for _, body in pagerduty.posts]
    assert [e["routing_key"] for e in events] == ["oncall-routing-key-0001", "oncall-routing-key-0001", "dbemergency-routing-key-0002"]
    for e in events:
        assert set(e) == {"routing_key", "event_action", "dedup_key", "payload"} and e["event_action"] == "trigger"
        assert e["payload"]["source"] == "%s.analytics_activityevent.metadata" % database
        assert e["payload"]["summary"].startswith("[Alert] Metadata Fix Rollback Required")
        assert e["dedup_key"].endswith("/rollback")
    assert [e["payload"]["severity"] for e in events] == ["error", "critical", "critical"]
    assert {p for p, _ in pagerduty.posts} == {"/v2/enqueue"}
    # The down receiver: a warning, the step did not fail, the record says so.
    assert "was not delivered to Database admin by webhook" in result.stdout
    assert "routing-key" not in result.stdout and "secret" not in result.stdout
    record = json.loads((tmp_path / "reports" / "records.jsonl").read_text().splitlines()[-1])
    rows = record["notifications"]
    assert {(r["message"], r["name"], r["channel"]) for r in rows} >= {
        ("pre_deployment", "Development team", "webhook"),
        ("rollback", "Database emergency", "pagerduty"),
        ("weekly_alert", "Database admin", "webhook"),
    }
    failed = [r for r in rows if r["result"] != "ok"]
    assert [(r["name"], r["channel"]) for r in failed] == [("Database admin", "webhook")]
    assert all(r["sent_at"] and r["sent_at"].endswith("Z") for r in rows)
    assert "routing-key" not in json.dumps(record) and "secret" not in json.dumps(record)
    markdown = next((tmp_path / "reports").glob("*/record.md")).read_text()
    assert "## Notifications" in markdown and "WARNING: weekly_alert was not delivered to Database admin by webhook" in markdown


def test_strategy_d_escalates_to_the_senior_engineer_before_the_deploy(mariadb, database, tmp_path):
    # The runbook: strategy D escalates to a senior engineer (the deploy still waits for the approval id).
    with SMTPReceiver() as smtp, HTTPReceiver() as hook, HTTPReceiver(status=202) as pagerduty:
        people = contacts(smtp, hook, pagerduty, hook.url)
        people["senior_engineer"] = {"name": "Senior engineer", "email": ["senior@example.com"], "pagerduty_routing_key": "senior-routing-key-0003"}
        variables = contact_vars(
            mariadb, database, tmp_path, smtp, pagerduty, people, ["pre_deployment"], {"strategy": "D", "action": "Investigate + approval + fix + cleanup"}
        )
        result = run_playbook("tests/playbooks/notify_all.yml", variables, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    # The notice reaches the team once each, and the senior engineer by email and PagerDuty.
    assert sorted(m["To"] for m in smtp.messages) == ["dev@example.com", "ops@example.com", "senior@example.com"]
    assert [body["routing_key"] for _, body in pagerduty.posts] == ["senior-routing-key-0003"]
    assert pagerduty.posts[0][1]["payload"]["severity"] == "warning"
    body = smtp.messages[-1].get_payload(decode=True).decode()
    assert "Sent to: Development team (email, webhook); DevOps (email); Senior engineer (email, pagerduty)" in body
    record = json.loads((tmp_path / "reports" / "records.jsonl").read_text().splitlines()[-1])
    assert {(r["name"], r["channel"], r["result"]) for r in record["notifications"]} >= {
        ("Senior engineer", "email", "ok"),
        ("Senior engineer", "pagerduty", "ok"),
    }

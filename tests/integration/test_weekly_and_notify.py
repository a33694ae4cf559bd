# The weekly check (exit status, metric file, alert) and the runbook's notifications through
# a real SMTP server and a real HTTP server.
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.receivers import HTTPReceiver, SMTPReceiver
from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD
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

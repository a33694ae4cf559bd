# weekly_check.yml reports the database guard on a real MariaDB: its mode, the writes it observed
# since the last check (the check before's time in reports/weekly-state.json; the first counts them
# all), the counter jsonmend_guard_events_total in the textfile, and enforce recommended after the
# clean checks asked for; the alert carries the guard's line.
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tools.devstack import seed
from tools.devstack.playbooks import db_vars, run_playbook

# The check's times (the log's, the state file's, the records') run under faketime too (make clock).
pytestmark = pytest.mark.clock

ENFORCE = "./jsonmend guard -e jsonmend_guard_mode=enforce"


def weekly(mariadb, database, tmp_path, **login):
    variables = db_vars(
        mariadb,
        database,
        jsonmend_report_dir=str(tmp_path / "reports"),
        metrics_textfile_dir=str(tmp_path / "prom"),
        guard_enforce_after_checks=1,
        **login,
    )
    return run_playbook("weekly_check.yml", variables, tmp_path)


def guard_metrics(tmp_path, database):
    text = (tmp_path / "prom" / ("jsonmend_%s_analytics_activityevent_metadata.prom" % database)).read_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    events = families["jsonmend_guard_events"]  # the parser names a counter without its _total
    assert events.type == "counter" and "# TYPE jsonmend_guard_events_total counter" in text
    (sample,) = events.samples
    assert sample.labels == {"database": database, "table": "analytics_activityevent", "column": "metadata", "environment": "local", "mode": "observe"}
    modes = {s.labels["mode"]: s.value for s in families["jsonmend_guard_mode"].samples}
    return sample.value, modes


def last_record(tmp_path):
    return json.loads((tmp_path / "reports" / "records.jsonl").read_text().splitlines()[-1])


def test_the_weekly_check_reports_the_guard_and_recommends_enforce_when_clean(mariadb, database, admin_cursor, tmp_path):
    seed.create_table(admin_cursor)
    seed.insert_rows(admin_cursor, [(1, "login", '{"ok": 1}', "2026-11-01 00:00:00")])
    installed = run_playbook("guard.yml", db_vars(mariadb, database, jsonmend_report_dir=str(tmp_path / "reports"), jsonmend_guard_mode="observe"), tmp_path)
    assert installed.returncode == 0, installed.stdout[-3000:]

    # First check: the whole log (empty), clean, and 1 clean check is all this test asks for.
    first = weekly(mariadb, database, tmp_path)
    assert first.returncode == 0, first.stdout[-3000:]
    out = " ".join(first.stdout.split())
    assert "Guard: observe; 0 non-object write(s) logged since the guard log began, 0 in the log; 1 of 1 clean weekly check(s) in a row" in out
    assert "recommended: enforce the guard: %s" % ENFORCE in out
    assert guard_metrics(tmp_path, database) == (0, {"off": 0, "observe": 1, "enforce": 0, "mixed": 0, "unknown": 0})
    record = last_record(tmp_path)
    assert record["guard"]["installed"] == "observe" and record["next_command"].endswith(ENFORCE)
    state = json.loads((tmp_path / "reports" / "weekly-state.json").read_text())["%s.analytics_activityevent.metadata" % database]
    assert state["mode"] == "observe" and state["clean_checks"] == 1 and state["checked_at"].endswith("Z")

    # A writer outside the application writes a number, someone fixes the row: no corruption
    # left, but the guard saw it - not clean, no recommendation.
    admin_cursor.execute("INSERT INTO analytics_activityevent (id, user_id, event_type, metadata, created_at) VALUES (2, 7, 'quiz_completed', '3.5', NOW())")
    admin_cursor.execute("UPDATE analytics_activityevent SET metadata = '{\"score\": 3.5}' WHERE id = 2")
    second = weekly(mariadb, database, tmp_path)
    assert second.returncode == 0, second.stdout[-3000:]
    out = " ".join(second.stdout.split())
    assert "Guard: observe; 1 non-object write(s) logged since the last weekly check (%s) (1 DOUBLE), 1 in the log; 0 of 1 clean" % state["checked_at"] in out
    assert "recommended" not in out and last_record(tmp_path)["next_command"] == "nothing until the next weekly check"
    assert guard_metrics(tmp_path, database)[0] == 1
    report = (tmp_path / "reports" / last_record(tmp_path)["run_id"] / "diagnosis.md").read_text()
    assert "## Database guard" in report and "1 non-object write(s) logged since the last weekly check" in report

    # Nothing since the check before: clean again; the counter keeps what the log holds.
    third = weekly(mariadb, database, tmp_path)
    assert third.returncode == 0, third.stdout[-3000:]
    out = " ".join(third.stdout.split())
    assert "0 non-object write(s) logged since the last weekly check" in out and "1 in the log; 1 of 1 clean" in out
    assert "recommended: enforce the guard: %s" % ENFORCE in out
    assert guard_metrics(tmp_path, database)[0] == 1

    # Corruption: the check fails, the alert carries the guard's line, and the clean count restarts.
    admin_cursor.execute("INSERT INTO analytics_activityevent (id, user_id, event_type, metadata, created_at) VALUES (3, 7, 'quiz_completed', '4', NOW())")
    fourth = weekly(mariadb, database, tmp_path)
    assert fourth.returncode == 2, fourth.stdout[-3000:]
    (alert,) = (tmp_path / "reports").glob("*/notifications/weekly_alert.txt")
    assert "Guard: observe; 1 non-object write(s) logged since the last weekly check" in " ".join(alert.read_text().split())
    assert "2 in the log; 0 of 1 clean" in " ".join(alert.read_text().split())
    assert guard_metrics(tmp_path, database)[0] == 2


def test_the_weekly_check_reports_a_guard_that_is_off(mariadb, database, admin_cursor, tmp_path):
    seed.create_table(admin_cursor)
    seed.insert_rows(admin_cursor, [(1, "login", '{"ok": 1}', "2026-11-01 00:00:00")])
    result = weekly(mariadb, database, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Guard: off (no database guard on the column)" in result.stdout
    _, modes = guard_metrics(tmp_path, database)
    assert modes == {"off": 1, "observe": 0, "enforce": 0, "mixed": 0, "unknown": 0}


def test_the_weekly_check_of_a_read_only_user_reports_the_guard_unknown_with_the_grant(mariadb, database, admin_cursor, tmp_path):
    # The weekly check as a least-privileged monitoring user: it may scan, but the server hides the
    # table's triggers from it, so the guard (installed, in observe) is unknown, never "off".
    seed.create_table(admin_cursor)
    seed.insert_rows(admin_cursor, [(1, "login", '{"ok": 1}', "2026-11-01 00:00:00")])
    installed = run_playbook("guard.yml", db_vars(mariadb, database, jsonmend_report_dir=str(tmp_path / "reports"), jsonmend_guard_mode="observe"), tmp_path)
    assert installed.returncode == 0, installed.stdout[-3000:]
    admin_cursor.execute("CREATE USER IF NOT EXISTS 'weeklyro'@'%' IDENTIFIED BY 'Weekly-ro-1'")
    admin_cursor.execute("GRANT SELECT ON `%s`.* TO 'weeklyro'@'%%'" % database)
    try:
        result = weekly(mariadb, database, tmp_path, jsonmend_db_user="weeklyro", jsonmend_db_password="Weekly-ro-1")
        assert result.returncode == 0, result.stdout[-3000:]
        out = " ".join(result.stdout.split())
        assert "Guard: unknown (the user weeklyro@%% lacks the TRIGGER privilege on %s.analytics_activityevent" % database in out
        grant = "GRANT TRIGGER ON `%s`.`analytics_activityevent` TO 'weeklyro'@'%%'" % database
        report = (tmp_path / "reports" / last_record(tmp_path)["run_id"] / "diagnosis.md").read_text()
        assert "## Database guard" in report and "Guard: unknown (the user weeklyro@%" in report and grant in report
        assert "Guard: off" not in out and "Weekly-ro-1" not in result.stdout + result.stderr
        _, modes = guard_metrics(tmp_path, database)
        assert modes == {"off": 0, "observe": 0, "enforce": 0, "mixed": 0, "unknown": 1}
        state = json.loads((tmp_path / "reports" / "weekly-state.json").read_text())["%s.analytics_activityevent.metadata" % database]
        assert state["mode"] == "unknown" and state["clean_checks"] == 0
    finally:
        admin_cursor.execute("DROP USER IF EXISTS 'weeklyro'@'%'")

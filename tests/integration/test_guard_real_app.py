# The guard against the real application (issue 20): quizsite under gunicorn under supervisord on
# the session's MariaDB, its own user writing through Django. In observe, v1's corrupt write (a
# quiz answer with a number as metadata) succeeds and is logged with its key; in enforce the same
# request fails with the guard's message in the app's error log while an object is stored; v2 (the
# fix) never trips the guard; the application's own triggers survive install and removal; a second
# install changes nothing. One stack for the module; every test starts from v1, an empty table and
# the guard off.
import json

import json_guard
import pytest

from tools.devstack.mariadb_server import APP_USER, TOOL_PASSWORD
from tools.devstack.playbooks import db_vars, run_playbook

TABLE = "analytics_activityevent"
LOG = TABLE + "_jsonmend_guard_log"
ANSWER = "/api/quiz/answer/"
OBJECT = {"question_id": 3, "answer": "b", "correct": True}
GUARD_MESSAGE = "jsonmend guard: analytics_activityevent.metadata must be a JSON object or NULL (rule: object), got DOUBLE"
# The application's own triggers (an audit trail and a normaliser), created before any guard.
APP_TRIGGERS = {
    "app_normalise_type": "BEFORE INSERT ON analytics_activityevent FOR EACH ROW SET NEW.event_type = LOWER(NEW.event_type)",
    "app_audit_insert": "AFTER INSERT ON analytics_activityevent FOR EACH ROW INSERT INTO app_event_audit (event_id) VALUES (NEW.id)",
}


@pytest.fixture(scope="module")
def app_triggers(mariadb, app_db, stack):
    """The application's audit table and triggers on its table, once for the module."""
    with mariadb.admin_cursor(app_db) as cur:
        cur.execute("CREATE TABLE app_event_audit (id int AUTO_INCREMENT PRIMARY KEY, event_id bigint NOT NULL) ENGINE=InnoDB")
        for name, definition in APP_TRIGGERS.items():
            cur.execute("CREATE TRIGGER `%s` %s" % (name, definition))
    return sorted(APP_TRIGGERS)


@pytest.fixture
def fresh(stack, db, app_triggers, mariadb, app_db, module_runner):
    """v1 running, the guard off, the table, its audit and the guard's log empty."""
    guard(module_runner, mariadb, app_db, "off")
    stack.reset("v1")
    db.execute("TRUNCATE TABLE %s" % TABLE)
    db.execute("TRUNCATE TABLE app_event_audit")
    db.execute("DROP TABLE IF EXISTS %s" % LOG)
    return db


def guard(runner, mariadb, database, mode, **extra):
    result = runner(json_guard, dict(mariadb.login_params(database), table=TABLE, column="metadata", mode=mode, **extra))
    assert not result.failed, result.get("msg")
    return result


def answer(stack, metadata, user_id=7):
    """POST a quiz answer as a browser would; (status, body)."""
    return stack.post_json(ANSWER, {"user_id": user_id, "metadata": metadata})


def rows(cur):
    cur.execute("SELECT id, metadata FROM %s ORDER BY id" % TABLE)
    return [(key, None if value is None else json.loads(value)) for key, value in cur.fetchall()]


def logged(cur):
    cur.execute("SELECT event, row_key, value_class, value_prefix, connection_user FROM %s ORDER BY id" % LOG)
    return cur.fetchall()


def app_trigger_names(cur):
    """The application's triggers (name, body): everything on the table that is not jsonmend's."""
    cur.execute("SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1")
    return [row for row in cur.fetchall() if not row[0].startswith("jsonmend_")]


def audited(cur):
    cur.execute("SELECT event_id FROM app_event_audit ORDER BY id")
    return [row[0] for row in cur.fetchall()]


def test_observe_lets_the_v1_apps_corrupt_write_through_and_logs_it_with_its_key(stack, fresh, mariadb, app_db, module_runner):
    installed = guard(module_runner, mariadb, app_db, "observe")
    assert installed["changed"] and installed["installed_before"] == "off" and installed["installed"] == "observe"
    again = guard(module_runner, mariadb, app_db, "observe")
    assert again["changed"] is False and again["statements"] == [] and again["installed"] == "observe"

    # v1 stores whatever it is sent: a number as metadata goes through, as before the guard.
    status, body = answer(stack, 3.5)
    assert status == 201, body
    corrupt_key = body["id"]
    status, body = answer(stack, OBJECT)
    assert status == 201, body
    assert rows(fresh) == [(corrupt_key, 3.5), (body["id"], OBJECT)]
    # Logged once, with the row's key, the scan's class and the application's user; the object is not.
    [(event, key, value_class, prefix, user)] = logged(fresh)
    assert (event, key, value_class, prefix) == ("INSERT", str(corrupt_key), "DOUBLE", "3.5")
    assert user.startswith(APP_USER + "@")
    status_result = guard(module_runner, mariadb, app_db, "status")
    assert status_result["events"]["total"] == 1 and status_result["events"]["recent"][0]["row_key"] == str(corrupt_key)
    # The application's audit trigger still fired for both writes.
    assert audited(fresh) == [corrupt_key, body["id"]]
    assert "jsonmend guard" not in stack.error_log.read_text()


def test_enforce_makes_the_v1_apps_corrupt_write_fail_with_the_guards_message(stack, fresh, mariadb, app_db, tmp_path):
    variables = db_vars(mariadb, app_db, jsonmend_report_dir=str(tmp_path / "reports"), jsonmend_guard_mode="enforce")
    first = run_playbook("guard.yml", variables, tmp_path)
    assert first.returncode == 0, first.stdout[-3000:]
    assert "off -> enforce" in " ".join(first.stdout.split())
    # A second install is a no-op: nothing to run, nothing changed, recorded as such.
    second = run_playbook("guard.yml", variables, tmp_path)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "enforce already (nothing to change)" in " ".join(second.stdout.split())
    records = [json.loads(line) for line in (tmp_path / "reports" / "records.jsonl").read_text().splitlines()]
    assert [r["guard"]["changed"] for r in records] == [True, False]
    assert records[-1]["guard"]["statements"] == [] and records[-1]["guard"]["installed"] == "enforce"
    assert TOOL_PASSWORD not in first.stdout + second.stdout

    status, body = answer(stack, 3.5)
    assert status == 500, body
    assert rows(fresh) == [] and audited(fresh) == []  # nothing written, not even by the app's own trigger
    errors = stack.error_log.read_text()
    assert GUARD_MESSAGE in errors, errors[-3000:]
    assert "Internal Server Error: %s" % ANSWER in errors
    # An object is stored as always; SQL NULL too (the column allows it).
    status, body = answer(stack, OBJECT)
    assert status == 201, body
    status, null_body = answer(stack, None)
    assert status == 201, null_body
    assert rows(fresh) == [(body["id"], OBJECT), (null_body["id"], None)]
    assert audited(fresh) == [body["id"], null_body["id"]]
    fresh.execute("SHOW TABLES LIKE '%s'" % LOG)
    assert fresh.fetchall() == ()  # enforce refuses; it logs nothing


def test_the_applications_triggers_survive_install_switch_and_removal(stack, fresh, mariadb, app_db, module_runner):
    theirs = app_trigger_names(fresh)
    assert [name for name, _ in theirs] == sorted(APP_TRIGGERS)
    for mode in ("observe", "enforce", "off"):
        result = guard(module_runner, mariadb, app_db, mode)
        assert result["changed"] and result["installed"] == mode
        assert app_trigger_names(fresh) == theirs, mode
        # Theirs fire first: the guard follows the application's BEFORE INSERT trigger.
        order = [t["name"] for t in result["triggers"] if t["timing"] == "BEFORE" and t["event"] == "INSERT"]
        assert order == (["app_normalise_type", "jsonmend_guard_enforce_ins_" + TABLE] if mode == "enforce" else ["app_normalise_type"])
    # After removal the app writes as before, through its own triggers.
    status, body = answer(stack, 3.5)
    assert status == 201, body
    assert audited(fresh) == [body["id"]]
    fresh.execute("SELECT event_type FROM %s WHERE id = %%s" % TABLE, (body["id"],))
    assert fresh.fetchone()[0] == "quiz_answer_submitted"


def test_the_v2_app_never_trips_the_guard(stack, fresh, mariadb, app_db, module_runner):
    stack.reset("v2")
    try:
        guard(module_runner, mariadb, app_db, "observe")
        # Everything a client sends: v2 stores objects and NULL, refuses the rest itself (400).
        sent = [OBJECT, None, {}, 3.5, 42, "text", [1, 2], True, json.dumps(OBJECT)]
        statuses = [answer(stack, value)[0] for value in sent]
        assert statuses == [201, 201, 201, 400, 400, 400, 400, 400, 400]
        stack.manage("compute_content_difficulty")
        assert logged(fresh) == ()
        assert guard(module_runner, mariadb, app_db, "status")["events"]["total"] == 0
        # Under enforce too: v2's own validation answers first, the database never has to refuse.
        guard(module_runner, mariadb, app_db, "enforce")
        assert [answer(stack, value)[0] for value in sent] == statuses
        errors = stack.error_log.read_text()
        assert "ValidationError on ActivityEvent" in errors and "jsonmend guard" not in errors
        assert all(value is None or isinstance(value, dict) for _, value in rows(fresh))
    finally:
        guard(module_runner, mariadb, app_db, "off")
        stack.reset("v1")

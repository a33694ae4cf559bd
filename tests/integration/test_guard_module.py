# json_guard on the real server: observe lets a non-object write through and logs it, enforce
# refuses it with the guard's message, the application's triggers survive, a second install is a
# no-op, off removes only jsonmend's triggers, check mode changes nothing, and the refusals.
import datetime
import json

import json_guard
import json_row_types
import pymysql
import pytest

from tools.devstack import seed
from tools.devstack.mariadb_server import APP_PASSWORD, APP_USER

# What the application might write, and the scan's class for each (None: an object or SQL NULL).
WRITES = [
    ('{"question_id": 7}', None),
    (None, None),
    ("3", "INTEGER"),
    ("2.5", "DOUBLE"),
    ('"answer_3"', "STRING"),
    ("[1, 2]", "ARRAY"),
    (json.dumps(json.dumps({"question_id": 7})), "STRING+OBJECT"),
    ('{"question_id": 7', "INVALID"),
    ("not json", "INVALID"),
]
APP_TRIGGERS = {
    # The application's own: one BEFORE INSERT that changes the row, one AFTER UPDATE that counts.
    "app_lowercase_type": "BEFORE INSERT ON analytics_activityevent FOR EACH ROW SET NEW.event_type = LOWER(NEW.event_type)",
    "app_count_updates": "AFTER UPDATE ON analytics_activityevent FOR EACH ROW SET @app_updates = IFNULL(@app_updates, 0) + 1",
}


@pytest.fixture
def table(admin_cursor):
    """The event table without its CHECK (a raw-SQL table: invalid text can be written too) and the app's triggers."""
    seed.create_table(admin_cursor, check=False)
    for name, definition in APP_TRIGGERS.items():
        admin_cursor.execute("CREATE TRIGGER `%s` %s" % (name, definition))
    return admin_cursor


@pytest.fixture
def app(mariadb, database):
    """The application's connection (its own user, strict mode as Django sets it)."""
    conn = pymysql.connect(host="127.0.0.1", port=mariadb.port, user=APP_USER, password=APP_PASSWORD, database=database, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES'")
        yield cur
    conn.close()


def write(cur, value, event_type="Quiz_Completed"):
    cur.execute("INSERT INTO analytics_activityevent (user_id, event_type, metadata, created_at) VALUES (1, %s, %s, NOW(6))", (event_type, value))
    return cur.lastrowid


def write_every_value(app):
    """Write each of WRITES: objects and SQL NULL must pass; yields (the error, the class) of each refused one."""
    for value, cls in WRITES:
        if cls is None:
            write(app, value)
            continue
        with pytest.raises(pymysql.err.OperationalError) as refused:
            write(app, value)
        yield refused.value.args, cls


def show_triggers(cur):
    cur.execute(
        "SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER, ACTION_STATEMENT"
        " FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
    )
    return sorted(cur.fetchall())


def guard(runner, mariadb, database, mode, check_mode=False, **extra):
    return runner(json_guard, dict(mariadb.login_params(database), mode=mode, **extra), check_mode=check_mode)


def test_observe_lets_every_write_through_and_logs_the_non_objects_as_the_scan_classes_them(mariadb, database, table, app, module_runner):
    result = guard(module_runner, mariadb, database, "observe")
    assert not result.failed, result.get("msg")
    assert result["changed"] and result["installed_before"] == "off" and result["installed"] == "observe"
    keys = [write(app, value) for value, _ in WRITES]
    app.execute("UPDATE analytics_activityevent SET metadata = '[3]' WHERE id = %s", (keys[0],))
    app.execute("UPDATE analytics_activityevent SET user_id = 2 WHERE id = %s", (keys[2],))  # column unchanged: not judged
    table.execute("SELECT COUNT(*) FROM analytics_activityevent")
    assert table.fetchone()[0] == len(WRITES)
    table.execute("SELECT event, row_key, value_class, value_prefix, connection_user FROM analytics_activityevent_jsonmend_guard_log ORDER BY id")
    logged = table.fetchall()
    expected = [("INSERT", str(key), cls, value) for key, (value, cls) in zip(keys, WRITES, strict=True) if cls] + [("UPDATE", str(keys[0]), "ARRAY", "[3]")]
    assert [row[:4] for row in logged] == expected
    assert all(row[4].startswith(APP_USER + "@") for row in logged)
    # The scan classes the same rows the same way.
    rows = module_runner(json_row_types, dict(mariadb.login_params(database), keys=keys[1:]))["rows"]
    assert [r["class"] for r in rows if r["class"] not in ("OBJECT", "SQL NULL")] == [cls for _, cls in WRITES[2:]]
    status = guard(module_runner, mariadb, database, "status")
    assert status["installed"] == "observe" and not status["drifted"] and not status["changed"]
    assert status["events"]["total"] == len(expected)
    assert status["events"]["by_class"] == {"INTEGER": 1, "DOUBLE": 1, "STRING": 1, "ARRAY": 2, "STRING+OBJECT": 1, "INVALID": 2}
    assert status["events"]["by_event"] == {"INSERT": 7, "UPDATE": 1}
    last = datetime.datetime.strptime(status["events"]["last"], "%Y-%m-%dT%H:%M:%S.%fZ")
    since = lambda seconds: (last + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
    assert guard(module_runner, mariadb, database, "status", since=since(0))["events"]["total"] >= 1
    none = guard(module_runner, mariadb, database, "status", since=since(1))["events"]
    assert none["total"] == 0 and none["by_class"] == {} and none["recent"] == []


def test_enforce_refuses_every_non_object_with_the_guards_message(mariadb, database, table, app, module_runner):
    result = guard(module_runner, mariadb, database, "enforce")
    assert not result.failed, result.get("msg")
    assert result["installed"] == "enforce" and result["corrupt_rows"] == 0 and result["nullable"] is True
    for error, cls in write_every_value(app):
        assert error == (1644, "jsonmend guard: analytics_activityevent.metadata must be a JSON object or NULL (rule: object), got %s" % cls)
    table.execute("SELECT metadata FROM analytics_activityevent ORDER BY id")
    assert [row[0] for row in table.fetchall()] == ['{"question_id": 7}', None]
    with pytest.raises(pymysql.err.OperationalError, match="got INTEGER"):
        app.execute("UPDATE analytics_activityevent SET metadata = '5'")
    app.execute("UPDATE analytics_activityevent SET metadata = '{\"b\": 2}' WHERE metadata IS NULL")
    assert app.rowcount == 1


def test_the_applications_triggers_survive_install_switch_and_removal_and_fire_first(mariadb, database, table, app, module_runner):
    theirs = [t for t in show_triggers(table) if t[0].startswith("app_")]
    assert guard(module_runner, mariadb, database, "observe")["changed"]
    switched = guard(module_runner, mariadb, database, "enforce")
    assert switched["installed_before"] == "observe" and switched["installed"] == "enforce"
    # New triggers before the old ones go: the column is never unguarded during the switch.
    assert [s.split()[0] for s in switched["statements"]] == ["CREATE", "CREATE", "DROP", "DROP"]
    now = show_triggers(table)
    assert [t for t in now if t[0].startswith("app_")] == theirs
    order = [(t[0], t[3]) for t in now if t[1] == "BEFORE" and t[2] == "INSERT"]
    assert order == [("app_lowercase_type", 1), ("jsonmend_guard_enforce_ins_analytics_activityevent", 2)]
    key = write(app, "{}", event_type="LOGIN")
    table.execute("SELECT event_type FROM analytics_activityevent WHERE id = %s", (key,))
    assert table.fetchone()[0] == "login"
    off = guard(module_runner, mariadb, database, "off")
    assert off["changed"] and off["installed"] == "off"
    assert show_triggers(table) == theirs


def test_a_second_install_is_a_no_op(mariadb, database, table, module_runner):
    for mode in ("observe", "enforce", "off"):
        first = guard(module_runner, mariadb, database, mode)
        assert first["changed"] and first["statements"], mode
        before = show_triggers(table)
        again = guard(module_runner, mariadb, database, mode)
        assert not again.failed and again["changed"] is False and again["statements"] == [], mode
        assert show_triggers(table) == before


def test_off_removes_only_the_guards_triggers_and_keeps_its_log(mariadb, database, table, module_runner):
    table.execute("CREATE TRIGGER jsonmend_audit AFTER INSERT ON analytics_activityevent FOR EACH ROW SET @audited = 1")
    guard(module_runner, mariadb, database, "observe")
    write(table, "7")
    off = guard(module_runner, mariadb, database, "off")
    assert sorted(s.split("`")[1] for s in off["statements"]) == [
        "jsonmend_guard_observe_ins_analytics_activityevent",
        "jsonmend_guard_observe_upd_analytics_activityevent",
    ]
    assert sorted(t[0] for t in show_triggers(table)) == ["app_count_updates", "app_lowercase_type", "jsonmend_audit"]
    table.execute("SELECT COUNT(*) FROM analytics_activityevent_jsonmend_guard_log")
    assert table.fetchone()[0] == 1
    assert guard(module_runner, mariadb, database, "status")["events"]["total"] == 1


def test_enforce_is_refused_while_corrupt_rows_exist_unless_forced(mariadb, database, table, module_runner):
    write(table, "3.5")
    write(table, '"x"')
    before = show_triggers(table)
    refused = guard(module_runner, mariadb, database, "enforce")
    assert refused.failed
    assert "enforce refused: 2 row(s) of analytics_activityevent.metadata are not JSON objects" in refused["msg"] and "force=true" in refused["msg"]
    assert show_triggers(table) == before
    forced = guard(module_runner, mariadb, database, "enforce", force=True)
    assert not forced.failed and forced["installed"] == "enforce" and forced["corrupt_rows"] == 2
    assert any("2 corrupt row(s) left" in w for w in forced["warnings_text"])
    # A row corrupt before the guard stays updatable as long as the update leaves the column alone.
    table.execute("UPDATE analytics_activityevent SET user_id = 9")
    assert table.rowcount == 2


def test_check_mode_shows_the_ddl_and_changes_nothing(mariadb, database, table, module_runner):
    before = show_triggers(table)
    planned = {}
    for mode in ("observe", "enforce"):
        planned[mode] = guard(module_runner, mariadb, database, mode, check_mode=True)
        assert not planned[mode].failed and planned[mode]["changed"] and planned[mode]["check_mode"]
        assert sum(s.startswith("CREATE TRIGGER `jsonmend_guard_%s_" % mode) for s in planned[mode]["statements"]) == 2
        assert show_triggers(table) == before
    assert planned["observe"]["statements"][0].startswith("CREATE TABLE IF NOT EXISTS `analytics_activityevent_jsonmend_guard_log`")
    table.execute("SHOW TABLES LIKE 'analytics_activityevent_jsonmend_guard_log'")
    assert table.fetchall() == ()
    guard(module_runner, mariadb, database, "enforce")
    installed = show_triggers(table)
    planned_off = guard(module_runner, mariadb, database, "off", check_mode=True)
    assert planned_off["changed"] and len(planned_off["statements"]) == 2
    assert show_triggers(table) == installed


def test_a_user_without_the_trigger_privilege_is_told_the_grant(mariadb, database, table, module_runner):
    table.execute("CREATE USER IF NOT EXISTS 'guardless'@'%' IDENTIFIED BY 'Guard-less-1'")
    table.execute("GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `%s`.* TO 'guardless'@'%%'" % database)
    try:
        params = dict(mariadb.login_params(database), login_user="guardless", login_password="Guard-less-1", mode="enforce")
        refused = module_runner(json_guard, params)
        assert refused.failed
        assert "GRANT TRIGGER ON `%s`.`analytics_activityevent` TO 'guardless'@'%%'" % database in refused["msg"]
        assert "Nothing was changed" in refused["msg"] and "Guard-less-1" not in refused["msg"]
        # Without the up-front check the server's own refusal is explained the same way.
        unchecked = module_runner(json_guard, dict(params, check_grants=False))
        assert unchecked.failed and "GRANT TRIGGER ON `%s`.`analytics_activityevent`" % database in unchecked["msg"]
        assert [t[0] for t in show_triggers(table) if t[0].startswith("jsonmend_")] == []
    finally:
        table.execute("DROP USER IF EXISTS 'guardless'@'%'")


def test_a_held_metadata_lock_makes_the_install_give_up_quickly(mariadb, database, table, module_runner):
    holder = mariadb.connect(database, autocommit=False)
    try:
        with holder.cursor() as cur:
            cur.execute("START TRANSACTION")
            cur.execute("SELECT COUNT(*) FROM analytics_activityevent")  # holds the table's shared metadata lock
        refused = guard(module_runner, mariadb, database, "enforce", lock_wait_timeout=1, lock_retries=2)
        assert refused.failed and "could not get the metadata lock" in refused["msg"] and "within 1s, 2 times" in refused["msg"]
        assert "nothing was changed" in refused["msg"]
    finally:
        holder.rollback()
        holder.close()
    assert [t[0] for t in show_triggers(table) if t[0].startswith("jsonmend_")] == []
    done = guard(module_runner, mariadb, database, "enforce", lock_wait_timeout=1, lock_retries=2)
    assert not done.failed and done["installed"] == "enforce" and done["lock_attempts"] == 2


def test_status_is_unknown_to_a_user_the_server_hides_the_triggers_from(mariadb, database, table, module_runner):
    # A read-only user (a monitoring account): information_schema.TRIGGERS shows it no trigger of the table.
    table.execute("CREATE USER IF NOT EXISTS 'guardblind'@'%' IDENTIFIED BY 'Guard-blind-1'")
    table.execute("GRANT SELECT ON `%s`.* TO 'guardblind'@'%%'" % database)
    grant = "GRANT TRIGGER ON `%s`.`analytics_activityevent` TO 'guardblind'@'%%'" % database
    try:
        assert guard(module_runner, mariadb, database, "observe")["installed"] == "observe"
        installed = show_triggers(table)
        params = dict(mariadb.login_params(database), login_user="guardblind", login_password="Guard-blind-1")
        status = module_runner(json_guard, dict(params, mode="status"))
        assert not status.failed, status.get("msg")
        assert status["installed"] == "unknown" and status["installed_before"] == "unknown" and not status["changed"]
        assert "lacks the TRIGGER privilege" in status["message"] and grant in status["message"]
        assert status["warnings_text"] == [status["message"]] and "Guard-blind-1" not in json.dumps(status)
        assert status["events"]["total"] == 0  # the log is readable: its writes are still counted
        # What the server shows it without the check: no trigger at all, the guard would look off.
        blind = module_runner(json_guard, dict(params, mode="status", check_grants=False))
        assert blind["installed"] == "off" and blind["triggers"] == []
        # Nothing it cannot see is changed: off is refused with the grant.
        refused = module_runner(json_guard, dict(params, mode="off"))
        assert refused.failed and grant in refused["msg"] and "Nothing was changed" in refused["msg"]
        assert show_triggers(table) == installed
        # Given the privilege, it reads the guard.
        table.execute(grant)
        assert module_runner(json_guard, dict(params, mode="status"))["installed"] == "observe"
    finally:
        table.execute("DROP USER IF EXISTS 'guardblind'@'%'")


def checks(cur):
    cur.execute("SELECT CONSTRAINT_NAME FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY 1")
    return [row[0] for row in cur.fetchall()]


def test_enforce_with_a_constraint_asks_for_the_copy_refuses_like_the_triggers_and_comes_off(mariadb, database, table, app, module_runner):
    constraint = dict(enforce_with="constraint")
    planned = guard(module_runner, mariadb, database, "enforce", check_mode=True, **constraint)
    assert not planned.failed and planned["changed"] and planned["rebuild"].startswith("adding the CHECK constraint copies")
    assert planned["statements"] == [
        "ALTER TABLE `analytics_activityevent` ADD CONSTRAINT `jsonmend_guard_metadata` /* jsonmend guard: enforce */ CHECK"
        " (`metadata` IS NULL OR (%s) = 'OBJECT'), ALGORITHM=COPY, LOCK=SHARED" % mariadb_classify()
    ]
    assert any("needs confirm_rebuild" in w for w in planned["warnings_text"]) and checks(table) == []
    unconfirmed = guard(module_runner, mariadb, database, "enforce", **constraint)
    assert unconfirmed.failed and "refused without confirm_rebuild (playbook: -e jsonmend_confirm=yes)" in unconfirmed["msg"]
    assert "writes to the table wait" in unconfirmed["msg"] and checks(table) == []
    done = guard(module_runner, mariadb, database, "enforce", confirm_rebuild=True, **constraint)
    assert not done.failed, done.get("msg")
    assert done["installed"] == "enforce" and checks(table) == ["jsonmend_guard_metadata"]
    assert [t["name"] for t in done["triggers"] if t["jsonmend"]] == ["jsonmend_guard_metadata"]
    # The same refusals as the triggers', in the server's words; objects and SQL NULL pass.
    for error, _cls in write_every_value(app):
        assert error[0] == 4025 and "jsonmend_guard_metadata" in error[1], error
    # Known by its name: a second run changes nothing, status sees enforce, not drifted.
    again = guard(module_runner, mariadb, database, "enforce", confirm_rebuild=True, **constraint)
    assert not again.failed and again["changed"] is False and again["statements"] == []
    status = guard(module_runner, mariadb, database, "status")
    assert status["installed"] == "enforce" and status["drifted"] is False
    # To the triggers: they are created before the constraint goes (never unguarded), without a copy.
    switched = guard(module_runner, mariadb, database, "enforce", enforce_with="trigger")
    assert not switched.failed and "rebuild" not in switched
    assert [s.split()[0] for s in switched["statements"]] == ["CREATE", "CREATE", "ALTER"] and checks(table) == []
    assert guard(module_runner, mariadb, database, "enforce", confirm_rebuild=True, **constraint)["installed"] == "enforce"
    off = guard(module_runner, mariadb, database, "off")
    assert off["changed"] and off["installed"] == "off" and checks(table) == []
    assert not [t for t in show_triggers(table) if t[0].startswith("jsonmend_guard_")]


def test_a_constraint_over_corrupt_rows_is_refused_even_forced(mariadb, database, table, module_runner):
    write(table, "3.5")
    refused = guard(module_runner, mariadb, database, "enforce", enforce_with="constraint", confirm_rebuild=True, force=True)
    assert refused.failed and "force cannot apply" in refused["msg"] and "enforce_with=trigger" in refused["msg"]
    assert checks(table) == []


def mariadb_classify():
    from ansible.module_utils.jsonmend.db.dialects import MariaDB

    return MariaDB().classify_expr("`metadata`")

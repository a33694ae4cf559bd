# The guard's generated SQL and names, without a server: the trigger bodies judge with the scan's
# classify_expr, NULL is allowed only on a nullable column, the names stay jsonmend's and within 64
# characters, and MySQL 8's CHECK variant.
import pytest
from ansible.module_utils.jsonmend.db.dialects import MariaDB, MySQL
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.guard.guard import PREFIX, default_log_table, installed_mode, parse_since, trigger_name

SPEC = dict(table="events", column="metadata", key="id", native_json=False, nullable=True, log_table="events_jsonmend_guard_log", value_chars=200)


def body(mode, event="INSERT", dialect=None, **changes):
    return (dialect or MariaDB()).guard_trigger_body(mode, event, dict(SPEC, **changes))


def test_the_body_judges_with_the_scans_classification():
    for mode in ("observe", "enforce"):
        assert MariaDB().classify_expr("NEW.`metadata`") in body(mode)
    assert MySQL().classify_expr("NEW.`metadata`", native_json=True) in body("enforce", dialect=MySQL(), native_json=True)


def test_null_is_allowed_only_on_a_nullable_column():
    assert "NOT IN ('OBJECT', 'SQL NULL')" in body("enforce")
    assert "events.metadata must be a JSON object or NULL (rule: object)" in body("enforce")
    strict = body("enforce", nullable=False)
    assert "NOT IN ('OBJECT')" in strict and "must be a JSON object (rule: object)" in strict


def test_enforce_signals_and_observe_logs_without_ever_failing_the_write():
    enforce = body("enforce")
    assert "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = jsonmend_message" in enforce and "INSERT INTO" not in enforce
    observe = body("observe")
    assert "SIGNAL" not in observe and "DECLARE CONTINUE HANDLER FOR SQLEXCEPTION" in observe
    assert "INSERT INTO `events_jsonmend_guard_log`" in observe and "LEFT(NEW.`metadata`, 200)" in observe and "USER()" in observe
    assert "LEFT(NEW.`metadata`, 17)" in body("observe", value_chars=17)


def test_an_update_is_judged_only_when_it_changes_the_column():
    assert body("enforce", "UPDATE").startswith("BEGIN /* jsonmend guard: enforce */")
    assert "IF NOT (NEW.`metadata` <=> OLD.`metadata`) THEN" in body("enforce", "UPDATE")
    assert "OLD." not in body("enforce", "INSERT")


def test_create_and_drop_statements():
    d = MariaDB()
    assert d.create_trigger_sql("jsonmend_guard_x", "BEFORE", "INSERT", "events", "BEGIN END", follows="app-audit") == (
        "CREATE TRIGGER `jsonmend_guard_x` BEFORE INSERT ON `events` FOR EACH ROW FOLLOWS `app-audit` BEGIN END"
    )
    assert d.create_trigger_sql("jsonmend_guard_x", "AFTER", "UPDATE", "events", "BEGIN END") == (
        "CREATE TRIGGER `jsonmend_guard_x` AFTER UPDATE ON `events` FOR EACH ROW BEGIN END"
    )
    assert d.drop_trigger_sql("jsonmend_guard_x") == "DROP TRIGGER IF EXISTS `jsonmend_guard_x`"
    with pytest.raises(JsonmendError):
        d.create_trigger_sql("x`; DROP TABLE t", "BEFORE", "INSERT", "events", "BEGIN END")


def test_the_mysql_8_check_constraint_variant():
    assert MySQL().object_check_constraint_sql("events", "metadata", "jsonmend_guard_object") == (
        "ALTER TABLE `events` ADD CONSTRAINT `jsonmend_guard_object` CHECK (`metadata` IS NULL OR JSON_TYPE(`metadata`) = 'OBJECT')"
    )
    with pytest.raises(JsonmendError, match="use the triggers"):
        MariaDB().object_check_constraint_sql("events", "metadata", "jsonmend_guard_object")


def test_trigger_names_are_jsonmends_and_fit_in_64_characters():
    assert trigger_name("enforce", "INSERT", "events") == "jsonmend_guard_enforce_ins_events"
    long_table = "t" * 64
    names = {trigger_name(mode, event, long_table) for mode in ("observe", "enforce") for event in ("INSERT", "UPDATE")}
    assert len(names) == 4 and all(n.startswith(PREFIX) and len(n) <= 64 for n in names)
    assert trigger_name("observe", "UPDATE", long_table) != trigger_name("observe", "UPDATE", "u" * 64)
    assert default_log_table("events") == "events_jsonmend_guard_log"
    with pytest.raises(JsonmendError, match="set log_table"):
        default_log_table("t" * 50)


def trig(name, mode):
    return dict(name=name, body="BEGIN /* jsonmend guard: %s */ END" % mode)


@pytest.mark.parametrize(
    "triggers, expected",
    [
        ([], "off"),
        ([dict(name="app_audit", body="SET @a = 1")], "off"),
        ([trig("jsonmend_guard_observe_ins_t", "observe"), trig("jsonmend_guard_observe_upd_t", "observe")], "observe"),
        ([trig("jsonmend_guard_enforce_ins_t", "enforce"), trig("jsonmend_guard_enforce_upd_t", "enforce")], "enforce"),
        ([trig("jsonmend_guard_enforce_ins_t", "enforce")], "mixed"),
        ([trig("jsonmend_guard_enforce_ins_t", "enforce"), trig("jsonmend_guard_observe_upd_t", "observe")], "mixed"),
    ],
)
def test_installed_mode(triggers, expected):
    assert installed_mode(triggers) == expected


def test_since_is_a_utc_time():
    assert parse_since("") is None
    assert parse_since("2026-12-01T00:00:00Z") == "2026-12-01 00:00:00.000000"
    assert parse_since("2026-12-01 02:00:00+02:00") == "2026-12-01 00:00:00.000000"
    with pytest.raises(JsonmendError, match="not a UTC time"):
        parse_since("last week")

# The guard's generated SQL and names, without a server: the trigger bodies judge with the scan's
# classify_expr, NULL is allowed only on a nullable column, the names stay jsonmend's and within 64
# characters, and enforce as a CHECK constraint (MySQL 8's native JSON variant, the MySQL family's text one).
import pytest
from ansible.module_utils.jsonmend.db.dialects import MariaDB, MySQL, PostgreSQL
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.guard.guard import PREFIX, constraint_name, default_log_table, installed_mode, parse_since, trigger_name

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


def test_the_mysql_8_check_constraint_reads_the_native_json_type():
    d = MySQL()
    native = dict(SPEC, native_json=True)
    assert d.guard_check_body(native) == "/* jsonmend guard: enforce */ CHECK (JSON_TYPE(`metadata`) = 'OBJECT')"
    want = dict(timing="CHECK", event="INSERT OR UPDATE", body=d.guard_check_body(native))
    assert d.guard_create_sql("jsonmend_guard_metadata", want, "events") == [
        "ALTER TABLE `events` ADD CONSTRAINT `jsonmend_guard_metadata` /* jsonmend guard: enforce */"
        " CHECK (JSON_TYPE(`metadata`) = 'OBJECT'), ALGORITHM=COPY, LOCK=SHARED"
    ]
    # MySQL 8.0.16-8.0.18 know DROP CHECK only; no IF EXISTS there.
    assert d.guard_drop_sql("jsonmend_guard_metadata", "CHECK", "events") == ["ALTER TABLE `events` DROP CHECK `jsonmend_guard_metadata`"]
    assert d.guard_drop_sql("jsonmend_guard_enforce_ins_events", "BEFORE", "events") == ["DROP TRIGGER IF EXISTS `jsonmend_guard_enforce_ins_events`"]
    assert d.guard_validate_sql("jsonmend_guard_metadata", "events") is None  # ADD checks every row itself
    # MySQL names a CHECK once per schema and CHECK_CONSTRAINTS has no table column: joined with TABLE_CONSTRAINTS.
    sql = d.guard_checks_sql()
    assert "JOIN information_schema.CHECK_CONSTRAINTS" in sql and "tc.TABLE_NAME = %s" in sql and "CONSTRAINT_TYPE = 'CHECK'" in sql
    assert d.guard_constraint_rebuilds and not d.guard_enforce_by_constraint


def test_a_text_column_constraint_judges_with_the_scans_classification():
    for d in (MariaDB(), MySQL()):
        body = d.guard_check_body(SPEC)
        assert body == "/* jsonmend guard: enforce */ CHECK (`metadata` IS NULL OR (%s) = 'OBJECT')" % d.classify_expr("`metadata`")
    assert MariaDB().guard_drop_sql("jsonmend_guard_metadata", "CHECK", "events") == [
        "ALTER TABLE `events` DROP CONSTRAINT IF EXISTS `jsonmend_guard_metadata`"
    ]
    assert "TABLE_NAME = %s" in MariaDB().guard_checks_sql() and "JOIN" not in MariaDB().guard_checks_sql()


def test_a_constraint_is_known_by_its_name_on_the_mysql_family_and_by_its_body_on_postgresql():
    want = dict(timing="CHECK", event="INSERT OR UPDATE", body="/* jsonmend guard: enforce */ CHECK (x)")
    reprinted = dict(timing="CHECK", event="INSERT OR UPDATE", body="/* jsonmend guard: enforce */ CHECK (json_type(`metadata`) = _utf8mb4'OBJECT')")
    assert MySQL().guard_unchanged(reprinted, want) and MariaDB().guard_unchanged(reprinted, want)
    assert not PostgreSQL().guard_unchanged(reprinted, want) and PostgreSQL().guard_unchanged(want, want)
    trigger = dict(timing="BEFORE", event="INSERT", body="BEGIN END")
    assert not MySQL().guard_unchanged(trigger, want)
    assert MySQL().guard_unchanged(trigger, dict(trigger)) and not MySQL().guard_unchanged(trigger, dict(trigger, body="BEGIN  x END"))


def test_enforce_is_one_constraint_or_two_triggers():
    from ansible.module_utils.jsonmend.guard.guard import has_constraint

    check = dict(name="jsonmend_guard_metadata", timing="CHECK", body="/* jsonmend guard: enforce */ CHECK (x)")
    triggers = [dict(trig("jsonmend_guard_enforce_%s_t" % e, "enforce"), timing="BEFORE") for e in ("ins", "upd")]
    assert has_constraint([check]) and not has_constraint(triggers) and not has_constraint([dict(check, name="app_check")])
    assert installed_mode([check], dict(observe=2, enforce=1)) == "enforce"
    assert installed_mode(triggers, dict(observe=2, enforce=2)) == "enforce"
    assert installed_mode(triggers + [check], dict(observe=2, enforce=1)) == "mixed"  # a switch cut short


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


def test_installed_mode_with_postgresqls_one_enforce_constraint():
    counts = {"observe": 2, "enforce": 1}
    check = dict(name="jsonmend_guard_m", body="/* jsonmend guard: enforce */ CHECK (...)")
    assert installed_mode([check, dict(name="app_note", body="")], counts) == "enforce"
    assert installed_mode([check, trig("jsonmend_guard_observe_ins_t", "observe")], counts) == "mixed"


def pg(kind):
    d = PostgreSQL("PostgreSQL 15.4")
    d.column_types['"metadata"'] = kind
    return d


@pytest.mark.parametrize("kind", ["jsonb", "json"])
def test_postgresql_enforce_is_a_check_on_the_columns_own_typeof(kind):
    d = pg(kind)
    assert d.guard_check_body(SPEC) == '/* jsonmend guard: enforce */ CHECK ("metadata" IS NULL OR %s_typeof("metadata") = \'object\')' % kind
    assert d.guard_check_body(dict(SPEC, nullable=False)) == "/* jsonmend guard: enforce */ CHECK (%s_typeof(\"metadata\") = 'object')" % kind
    (add,) = d.guard_create_sql("jsonmend_guard_metadata", dict(timing="CHECK", event="INSERT OR UPDATE", body="B"), "app.events")
    name = '"jsonmend_guard_metadata"'
    assert add == 'ALTER TABLE "app"."events" ADD CONSTRAINT %s B NOT VALID; COMMENT ON CONSTRAINT %s ON "app"."events" IS \'B\'' % (name, name)
    assert d.guard_validate_sql("jsonmend_guard_metadata", "events") == 'ALTER TABLE "events" VALIDATE CONSTRAINT %s' % name
    assert d.guard_drop_sql("jsonmend_guard_metadata", "CHECK", "events") == ['ALTER TABLE "events" DROP CONSTRAINT IF EXISTS %s' % name]


def test_postgresql_observe_is_a_plpgsql_function_per_trigger_in_the_tables_schema():
    d = pg("jsonb")
    body = d.guard_trigger_body("observe", "UPDATE", dict(SPEC, log_table="app.events_jsonmend_guard_log"))
    assert body.startswith("/* jsonmend guard: observe */ DECLARE") and body.endswith("RETURN NULL; END")
    assert '("NEW"' not in body and '(NEW."metadata")::text IS DISTINCT FROM (OLD."metadata")::text' in body
    assert d.classify_expr('NEW."metadata"', True, kind="jsonb") in body
    assert 'INSERT INTO "app"."events_jsonmend_guard_log"' in body and "EXCEPTION WHEN others THEN NULL" in body
    assert "OLD." not in d.guard_trigger_body("observe", "INSERT", SPEC)
    (create,) = d.guard_create_sql("jsonmend_guard_observe_upd_events", dict(timing="AFTER", event="UPDATE", body="B"), "app.events")
    assert create == (
        'CREATE OR REPLACE FUNCTION "app"."jsonmend_guard_observe_upd_events"() RETURNS trigger LANGUAGE plpgsql AS $jsonmend$B$jsonmend$;'
        ' CREATE TRIGGER "jsonmend_guard_observe_upd_events" AFTER UPDATE ON "app"."events" FOR EACH ROW'
        ' EXECUTE FUNCTION "app"."jsonmend_guard_observe_upd_events"()'
    )
    assert d.guard_drop_sql("jsonmend_guard_observe_upd_events", "AFTER", "app.events") == [
        'DROP TRIGGER IF EXISTS "jsonmend_guard_observe_upd_events" ON "app"."events"; DROP FUNCTION IF EXISTS "app"."jsonmend_guard_observe_upd_events"()'
    ]
    with pytest.raises(JsonmendError, match="CHECK constraint"):
        d.guard_trigger_body("enforce", "INSERT", SPEC)


def test_postgresql_refuses_a_text_column():
    with pytest.raises(JsonmendError, match="needs a jsonb or json column; events.metadata is text"):
        pg("text").guard_check_body(SPEC)


def test_postgresql_names_fit_in_63_characters():
    long_table = "t" * 37
    assert len(trigger_name("observe", "INSERT", long_table)) == 64
    assert len(trigger_name("observe", "INSERT", long_table, 63)) <= 63
    assert constraint_name("metadata") == "jsonmend_guard_metadata"
    assert len(constraint_name("c" * 60)) <= 63 and constraint_name("c" * 60).startswith(PREFIX)


def test_since_is_a_utc_time():
    assert parse_since("") is None
    assert parse_since("2026-12-01T00:00:00Z") == "2026-12-01 00:00:00.000000"
    assert parse_since("2026-12-01 02:00:00+02:00") == "2026-12-01 00:00:00.000000"
    with pytest.raises(JsonmendError, match="not a UTC time"):
        parse_since("last week")

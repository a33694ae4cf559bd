# Pure parts of the engine for issue 13: the NOT NULL policy, the application's decoder, the
# generated SQL of every dialect (MySQL 8's undo into a native JSON column included), the
# inspection's refusals, reasons, the cleanup verdict with unwritable and readable rows, and the
# report's warnings.
import random
import re
import types

import psycopg
import pymysql
import pytest
from ansible.module_utils.jsonmend.db import appjson, dialects, inspector
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.repair import job, policy
from ansible.module_utils.jsonmend.repair.undo import Undo
from ansible.module_utils.jsonmend.scan.scanner import Scanner

from filter_plugins.jsonmend_cleanup import cleanup_verdict
from filter_plugins.jsonmend_report import findings_rows, jsonmend_findings_text, scan_warnings, type_lines
from tests.support import near_miss


# -- policy ------------------------------------------------------------------------------
@pytest.mark.parametrize("nullable, expected", [(True, "null"), (False, "empty")])
def test_auto_is_null_or_the_empty_object(nullable, expected):
    p = policy.Policy(nullable=nullable)
    assert p.action("INTEGER") == expected and p.action("STRING+OBJECT") == "unwrap"
    assert p.action(appjson.READABLE) == "skip" and p.action(appjson.UNREADABLE) == expected
    assert p.describe()["default_action"] == expected and p.column_problems("db.t.c") == []


@pytest.mark.parametrize("mapping, default", [({}, "null"), ({"INTEGER": "null"}, "auto"), ({"ARRAY": "null"}, "skip")])
def test_explicit_null_on_not_null_names_the_column_and_the_alternatives(mapping, default):
    problems = policy.Policy(mapping, default, nullable=False).column_problems("app.events.payload")
    assert len(problems) == 1
    assert "column app.events.payload is NOT NULL" in problems[0] and "use empty (the empty object {}), wrap or skip" in problems[0]
    assert policy.Policy(mapping, default, nullable=True).column_problems("x") == []


def test_empty_writes_the_empty_object_and_raw_kinds_wrap_as_text():
    assert policy.new_value_sql("empty", "INTEGER", "`m`") == ("'{}'", ())
    for kind in (appjson.READABLE, appjson.UNREADABLE, "INVALID"):
        assert policy.new_value_sql("wrap", kind, "`m`")[0] == "JSON_OBJECT(%s, CAST(`m` AS CHAR))"
        assert policy.expression_group("wrap", kind) == ("wrap", "raw")


def test_a_recorded_policy_is_compared_on_the_kinds_it_names():
    earlier = dict(actions={"INTEGER": "null", "STRING+OBJECT": "unwrap"}, default_action="null", wrap_key="value")
    assert policy.Policy(nullable=True).compatible(earlier)
    assert not policy.Policy({"INTEGER": "wrap"}).compatible(earlier)
    assert not policy.Policy(wrap_key="legacy").compatible(earlier)
    assert policy.writes_null(earlier) == ["INTEGER"]


# -- the application's decoder ------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, reads",
    [
        ('{"a": 1}', True),
        ('{"a": NaN}', True),
        ('{"a": "\\ud800"}', True),
        ('{"a":' * 40 + "1" + "}" * 40, True),
        ('{"a": 1.}', False),
        ('{"a": -}', False),
        ('{"\\x": 1}', False),
        ("[1]", False),
        ("{" * 5000, False),  # deeper than Python's recursion limit: not read, never a crash
        (None, False),
        (b'{"a": 1}', True),
        (b"\xff{", False),
    ],
)
def test_app_reads_object(text, reads):
    assert appjson.app_reads_object(text) is reads


def test_resolve_settles_only_candidates():
    assert appjson.resolve(appjson.SUSPECT_OBJECT, '{"a": 1.}') == appjson.UNREADABLE
    assert appjson.resolve(appjson.SUSPECT_OBJECT, '{"a": "done. next"}') == "OBJECT"
    assert appjson.resolve(appjson.BRACED_INVALID, '{"a": NaN}') == appjson.READABLE
    assert appjson.resolve(appjson.BRACED_INVALID, '{"a": 1') == "INVALID"
    assert appjson.resolve(appjson.BRACED_INVALID, '{"a": NaN}', appjson.SERVER) == "INVALID"
    assert appjson.resolve("INTEGER", "42") == "INTEGER"


def test_prefilter_literals_survive_the_driver_and_the_server():
    sql = appjson.prefilter_sql("`m`")
    # No % (statements go through the driver's formatting) and every backslash doubled.
    assert "%" not in sql and "REGEXP '" in sql
    assert appjson.sql_string("a\\b'c") == "'a\\\\b\\'c'"
    # The patterns compile (Python's engine has the possessive quantifiers and lookbehinds they use).
    for pattern in (appjson.STAGE1, appjson.BRACED_START) + appjson.STAGE2:
        re.compile(pattern)


@pytest.mark.parametrize(
    "text, flagged",
    [
        ('{"a": -}', True),
        ('{"a": 1.}', True),
        ('{"a": 1e+}', True),
        ('{"a": 1.e5}', True),
        ('{"\\x": 1}', True),
        ('{"a\tb": 1}', True),
        ('{"a": 1e+5, "b": -0.25, "c": "2026-11-02"}', False),
        ('{"a": "C:\\\\path", "b": "\\u00e9"}', False),
        ('{\n "a": 1,\n "b": [1, 2]\n}', False),
    ],
)
def test_prefilter_patterns_in_python(text, flagged):
    """The same patterns in Python's engine: stage 1 and stage 2 as the server evaluates them."""
    stage1 = re.search(appjson.STAGE1, text) is not None
    stage2 = any(re.search(p, text) for p in appjson.STAGE2)
    assert (stage1 and stage2) is flagged


def test_stage1_matches_exactly_where_its_earlier_lookbehind_first_form_did():
    """Stage 1 was reordered for speed (the delimiter after `e` tested first): the same texts match."""
    earlier = re.compile(r"[\\\x00-\x1f]|[-.+][\],} \t\n\r]|\.[eE]|[eE](?<=[0-9][eE])[\],} \t\n\r]")
    now = re.compile(appjson.STAGE1)
    rnd = random.Random(5)
    texts = near_miss.corpus(3000) + ["".join(rnd.choice('0e9E.,-+ }]\n\r\t"a') for _ in range(rnd.randrange(1, 12))) for _ in range(20000)]
    texts += ["1e,", "1e\n", "1E]", "x1e}", "e,", "ae ", "1e", "1ex"]
    assert [t for t in texts if (earlier.search(t) is None) != (now.search(t) is None)] == []
    assert sum(now.search(t) is not None for t in texts) > 1000


# -- generated SQL of the dialects ----------------------------------------------------------------
def test_mysql_undo_writes_the_pre_image_through_convert_into_native_json():
    assert dialects.MySQL().restore_expr("q.original_value", native_json=True) == "CONVERT(q.original_value USING utf8mb4)"
    assert dialects.MySQL().restore_expr("q.original_value", native_json=False) == "q.original_value"
    assert dialects.MariaDB().restore_expr("q.original_value", native_json=True) == "q.original_value"


class Recorder:
    """A cursor and a database that record statements (for the undo's generated SQL)."""

    def __init__(self, dialect):
        self.dialect = dialect
        self.statements = []
        self.warning_count = 0
        self.rowcount = 1

    def cursor(self):
        return self

    def execute(self, statement, args=None):
        self.statements.append(statement)
        return 1

    def close(self):
        pass

    def query(self, statement, args=None):
        self.statements.append(statement)
        return []


@pytest.mark.parametrize(
    "dialect, native, expected", [(dialects.MySQL(), True, "CONVERT(q.original_value USING utf8mb4)"), (dialects.MariaDB(), False, "q.original_value")]
)
def test_the_undo_statement_each_dialect_runs(dialect, native, expected):
    db = Recorder(dialect)
    undo = object.__new__(Undo)
    undo.db, undo.undo_of = db, "run-1"
    undo.ledger = types.SimpleNamespace(q_sql="`q`")
    undo.t = types.SimpleNamespace(
        table_sql="`t`", pk_sql="`id`", col_sql="`payload`", native_json=native, column_type="json", keep_pairs_t=(("`updated_at`", "t.`updated_at`"),)
    )
    undo.warnings_of = lambda cur: None
    assert undo.restore_rows([7]) is None
    update = db.statements[0]
    assert "SET t.`payload` = %s, t.`updated_at` = t.`updated_at` WHERE" % expected in update
    assert "CAST(t.`payload` AS BINARY) <=> q.new_value" in update
    assert "NOT (CAST(t.`payload` AS BINARY) <=> q.original_value)" in db.statements[1]


@pytest.mark.parametrize("dialect", [dialects.MariaDB(), dialects.MySQL()])
def test_writers_pin_a_strict_sql_mode_and_the_fingerprint_covers_every_stored_column(dialect):
    db = Recorder(dialect)
    dialect.pin_sql_mode(db)
    assert db.statements[0] == "SET SESSION sql_mode = %s" and "STRICT_ALL_TABLES" in dialects.STRICT_SQL_MODE
    assert "NO_BACKSLASH_ESCAPES" not in dialects.STRICT_SQL_MODE and "ANSI_QUOTES" not in dialects.STRICT_SQL_MODE
    fp = dialect.fingerprint_expr(["`id`", "`payload`", "`updated_at`"])
    assert fp == "SHA2(CONCAT_WS(',', IFNULL(MD5(`id`), '-'), IFNULL(MD5(`payload`), '-'), IFNULL(MD5(`updated_at`), '-')), 256)"


@pytest.mark.parametrize("dialect, native, exact", [(dialects.MySQL(), True, True), (dialects.MySQL(), False, False), (dialects.MariaDB(), False, False)])
def test_the_one_pass_needs_no_buckets_where_the_suspect_test_is_the_columns_type(dialect, native, exact):
    # MySQL's native JSON: JSON_TYPE is the suspect test and exact, so every corrupt row is listed by key
    # and the statement groups no buckets and takes no MIN/MAX over the healthy rows (PostgreSQL's json
    # and jsonb do the same: tests/integration/test_postgres_modules.py). Text columns keep both.
    assert dialect.suspect_is_exact("`m`", native) is exact
    t = types.SimpleNamespace(
        lists_every_suspect=exact,
        cls_sql="c",
        row_key_sql="CASE WHEN %s THEN `id` END" % dialect.suspect_predicate("`m`", native),
        bucket_sql="NULL" if exact else dialect.key_bucket_expr("`id`", 1024),
        pk_sql="`id`",
        group_sql="`g`",
        user_sql="NULL",
        ts_sql="NULL",
        day_sql="NULL",
        table_sql="`t`",
    )
    scanner = Scanner(types.SimpleNamespace(dialect=dialect), t)
    sql = scanner.one_pass_sql("`id` >= %s")
    assert ("MIN(`id`)" in sql) is not exact and ("MAX(`id`)" in sql) is not exact
    assert ("JSON_TYPE(`m`) <> 'OBJECT'" in sql) is exact


def test_classification_with_the_python_decoder():
    maria = dialects.MariaDB().classify_expr("`m`", False, dialects.BRACED_INVALID, appjson.PYTHON)
    assert "'OBJECT?'" in maria and "'INVALID{'" in maria and "REGEXP" in maria
    # MySQL text columns get the same prefilter; its native JSON holds only standard JSON: no candidates.
    assert dialects.MySQL().classify_expr("`m`", False, dialects.BRACED_INVALID, appjson.PYTHON) == maria
    native = dialects.MySQL().classify_expr("`m`", True, dialects.BRACED_INVALID, appjson.PYTHON)
    assert "REGEXP" not in native and "OBJECT?" not in native
    # The server decoder and SQLite keep the runbook's classification.
    assert "REGEXP" not in dialects.MariaDB().classify_expr("`m`")
    assert "REGEXP" not in dialects.SQLite().classify_expr('"m"', False, dialects.BRACED_INVALID, appjson.PYTHON)
    settled = dialects.MariaDB().corrupt_predicate("`m`", False, appjson.PYTHON, settled_only=True)
    assert settled.endswith("NOT IN ('OBJECT', 'SQL NULL', 'OBJECT?', 'INVALID{', 'JSON?')")


# -- the inspection's refusals --------------------------------------------------------------------
def description(data_type="longtext", keys=("id",), key_type="bigint", generated=False, engine="InnoDB"):
    col = dict(name="payload", data_type=data_type, column_type=data_type, family=inspector.type_family(data_type), generated=generated)
    return dict(
        database="app",
        table="t",
        column=col,
        primary_key=dict(data_type=key_type, integer=key_type in inspector.INTEGER_TYPES, string=key_type in ("char", "varchar")),
        primary_key_columns=list(keys),
        text_columns=["payload", "notes"],
        engine=engine,
    )


@pytest.mark.parametrize(
    "data_type, family",
    [
        ("json", "json"),
        ("longtext", "text"),
        ("varchar", "text"),
        ("int", "numeric"),
        ("decimal", "numeric"),
        ("datetime", "temporal"),
        ("longblob", "binary"),
        ("enum", "other"),
    ],
)
def test_type_families(data_type, family):
    assert inspector.type_family(data_type) == family


def test_inspection_refusals_say_what_to_do():
    assert inspector.column_problems(description()) == []
    assert "is int (a number)" in inspector.column_problems(description("int"))[0]
    assert "text columns are notes" in inspector.column_problems(description("int"))[0]
    assert "generated column" in inspector.column_problems(description(generated=True))[0]
    assert "no primary key" in inspector.key_problems(description(keys=()), "id")[0]
    assert "ADD COLUMN `id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY" in inspector.key_problems(description(keys=()), "id")[0]
    assert "composite (a, b)" in inspector.key_problems(description(keys=("a", "b")), "a")[0]
    assert "set primary_key (jsonmend_primary_key) to uuid" in inspector.key_problems(description(keys=("uuid",)), "id")[0]
    assert "integer or (var)char keys" in inspector.key_problems(description(key_type="binary"), "id")[0]
    assert "needs InnoDB" in inspector.write_problems(description(engine="MyISAM"))[0]


def test_row_errors_and_reasons():
    assert job.is_row_error(Exception(1406, "Data too long")) and job.is_row_error(Exception(1644, "frozen"))
    assert not job.is_row_error(Exception(1213, "Deadlock")) and not job.is_row_error(Exception(2013, "Lost connection"))
    assert not job.is_row_error(Exception(1064, "syntax"))
    assert job.reason_key("(1406) Data too long for column 'p' at row 7") == "(1406) Data too long for column 'p'"
    assert job.reason_key("(1366) Incorrect string value: '\\xF0\\x9F' for column `d`.`t`.`p` at row 1") == (
        "(1366) Incorrect string value for column `d`.`t`.`p`"
    )
    assert job.reason_key("the written value is not an object: it reads back as X") == "the written value is not an object"


# -- the cleanup verdict and the report ---------------------------------------------------------------
SCAN = dict(corrupted_rows=0, by_type={"OBJECT": 10, "READABLE OBJECT": 2}, double_encoded_rows=0, readable_object_rows=2, samples=[])
POLICY = dict(actions={"INTEGER": "null", "READABLE OBJECT": "skip"}, default_action="null")


def test_verdict_counts_readable_objects_apart():
    verdict = cleanup_verdict(SCAN, {}, POLICY)
    assert verdict["ok"] and verdict["readable_rows"] == 2 and "2 rows are READABLE OBJECT" in verdict["message"]
    acted = cleanup_verdict(SCAN, {}, dict(POLICY, actions={"READABLE OBJECT": "null"}))
    assert not acted["ok"] and acted["unexpected_rows"] == 2


def test_verdict_names_unwritable_rows_instead_of_blaming_the_application():
    scan = dict(SCAN, corrupted_rows=3, by_type={"OBJECT": 10, "ARRAY": 3})
    repair = dict(unwritable=dict(rows=3, by_reason={"(1406) Data too long for column 'p'": 3}))
    verdict = cleanup_verdict(scan, repair, POLICY)
    assert not verdict["ok"] and verdict["unwritable_rows"] == 3 and verdict["unexpected_rows"] == 0
    assert "3 rows could not be written and were left exactly as they were ((1406) Data too long for column 'p': 3)" in verdict["message"]
    assert "written corrupt while" not in verdict["message"]


def test_report_shows_the_column_warning_and_readable_objects():
    scan = dict(
        total_rows=100,
        corrupted_rows=5,
        sql_null_rows=0,
        by_type={"OBJECT": 93, "INTEGER": 3, "UNREADABLE OBJECT": 2, "READABLE OBJECT": 2},
        by_group=[],
        readable_object_rows=2,
        unreadable_object_rows=2,
        column_check=dict(message="column app.t.notes does not look like a JSON column: ..."),
    )
    warnings = scan_warnings(scan)
    assert warnings[0].startswith("column app.t.notes does not look like a JSON column")
    assert "not counted in the 5 corrupted rows the strategy is chosen from" in warnings[1]
    assert ("Readable objects", 2) == findings_rows(scan)[-1][:2]
    assert "2 objects the application cannot read" in findings_rows(scan)[1][2]
    lines = dict((name, (mark, problem)) for mark, name, _count, problem in type_lines(scan))
    assert lines["READABLE OBJECT (read by the application, not counted)"] == ("○", False) and lines["UNREADABLE OBJECT"] == ("✗", True)
    assert "WARNING: column app.t.notes" in jsonmend_findings_text(scan)


def test_policy_refuses_bad_default_actions():
    with pytest.raises(JsonmendError, match="must be auto, wrap, null, empty or skip"):
        policy.Policy(default_action="unwrap")


def mariadb_timeout_with_sqlstate():
    """What PyMySQL raises from a real server: the error number, and the SQLSTATE the server sent."""
    exc = pymysql.err.OperationalError(1969, "Query execution was interrupted (max_statement_time exceeded)")
    exc.sqlstate = "70100"
    return exc


@pytest.mark.parametrize(
    "exc, hinted",
    [
        (pymysql.err.OperationalError(1969, "Query execution was interrupted (max_statement_time exceeded)"), True),
        (pymysql.err.OperationalError(3024, "Query execution was interrupted, maximum statement execution time exceeded"), True),
        (mariadb_timeout_with_sqlstate(), True),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), True),
        (psycopg.errors.UndefinedTable('relation "x" does not exist'), False),
        (pymysql.err.OperationalError(1146, "Table 'x' doesn't exist"), False),
    ],
)
def test_a_statement_timeout_is_recognised_on_every_server(exc, hinted):
    import json_type_scan

    message = json_type_scan.driver_failure("json_type_scan of d.t.c", exc, dict(max_execution_time=7))
    assert ("max_execution_time=7s" in message) is hinted, message

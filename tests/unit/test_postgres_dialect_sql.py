# The PostgreSQL dialect (issue 18) as generated text and pure decisions: quoting of schema-qualified
# names, the class expressions of jsonb, json and text columns (pg_input_is_valid only from 16 on;
# before it no statement can fail on invalid text), Python's classification of what the SQL left
# unsettled, sessions, the connection keywords and `auto`'s flavour detection.
import socket
import threading

import pytest
from ansible.module_utils.jsonmend.db import appjson, connection, inspector, servers
from ansible.module_utils.jsonmend.db.dialects import PostgreSQL, dialect_for
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import identifier_problems

PG15 = "PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu"
PG16 = "PostgreSQL 16.4 on x86_64-pc-linux-gnu"


def test_names_are_double_quoted_and_a_table_may_name_its_schema():
    d = dialect_for("postgresql", PG15)
    assert d.q("events") == '"events"' and d.q("Meta") == '"Meta"'
    assert d.q("app.events") == '"app"."events"'
    assert d.split_table("events") == ("public", "events") and d.split_table("app.events") == ("app", "events")
    for bad in ("a.b.c", 'x"y', "a b", ".events"):
        with pytest.raises(JsonmendError, match="not a valid identifier"):
            d.q(bad)
    assert d.qn('we"ird') == '"we""ird"'


def test_only_postgresql_accepts_a_schema_qualified_table_option():
    params = dict(table="app.events", column="m", primary_key="id")
    assert identifier_problems(dict(params, dialect="postgresql"), ("table", "column", "primary_key")) == []
    assert "not a valid identifier" in identifier_problems(dict(params, dialect="mariadb"), ("table",))[0]
    assert "not a valid identifier" in identifier_problems(dict(params, dialect="postgresql", table="a.b;c"), ("table",))[0]


def test_jsonb_is_typed_by_jsonb_typeof_and_never_casts():
    d = dialect_for("postgresql", PG15)
    expr = d.classify_expr('"m"', kind="jsonb")
    assert expr.startswith("CASE WHEN \"m\" IS NULL THEN 'SQL NULL' ELSE CASE jsonb_typeof(\"m\") WHEN 'object' THEN 'OBJECT'")
    assert "::jsonb" not in expr and "pg_input_is_valid" not in expr and "%" not in expr
    # A string whose text starts with '{' may be a double-encoded object: Python settles it.
    assert "WHEN 'string' THEN CASE WHEN (\"m\" #>> '{}') ~ '^[ \\t\\n\\r]*\\{' THEN 'JSON?' ELSE 'STRING' END" in expr
    assert d.suspect_predicate('"m"') == '"m" IS NOT NULL AND left(("m")::text, 1) <> \'{\''  # kind unknown: text


def test_json_is_typed_by_json_typeof_without_a_cast_to_jsonb():
    d = dialect_for("postgresql", PG15)
    expr = d.classify_expr('"m"', kind="json")
    assert 'json_typeof("m")' in expr and "jsonb" not in expr
    assert "strpos((\"m\")::text, '{') > 0 THEN 'JSON?'" in expr


def test_text_before_16_is_never_cast_and_after_16_is_checked_by_pg_input_is_valid():
    old = dialect_for("postgresql", PG15).classify_expr('"t"', kind="text")
    assert old == "CASE WHEN \"t\" IS NULL THEN 'SQL NULL' WHEN \"t\" !~ '^[ \\t\\n\\r]*[][{\"0-9tfn-]' THEN 'INVALID' ELSE 'JSON?' END"
    new = dialect_for("postgresql", PG16).classify_expr('"t"', kind="text", decoder=appjson.PYTHON)
    assert "WHEN NOT pg_input_is_valid(\"t\", 'jsonb') THEN CASE WHEN \"t\" ~ '^[ \\t\\n\\r]*\\{' THEN 'INVALID{' ELSE 'INVALID' END" in new
    # Every cast sits behind the validity test in CASE order.
    assert new.index("pg_input_is_valid") < new.index("::jsonb")
    server = dialect_for("postgresql", PG16).classify_expr('"t"', kind="text")
    assert "THEN 'INVALID' ELSE 'INVALID' END" in server


def test_the_kind_comes_from_the_inspection():
    d = dialect_for("postgresql", PG15)

    class Cursor:
        def execute(self, statement, args=()):
            self.args = args

        def fetchall(self):
            return [("id", "int8", "bigint", False, None, None, False), ("m", "jsonb", "jsonb", True, None, None, False)]

    cur = Cursor()
    details = d.column_details(cur, "app", "app.events")
    assert cur.args == ("app", "events")
    assert [(c["name"], c["data_type"], c["nullable"]) for c in details] == [("id", "bigint", False), ("m", "jsonb", True)]
    assert d.column_kind('"m"') == "jsonb" and "jsonb_typeof" in d.classify_expr('"m"')
    assert d.suspect_predicate('"m"') == '"m" IS NOT NULL AND jsonb_typeof("m") <> \'object\''
    corrupt = d.corrupt_predicate('"m"', settled_only=True)
    assert corrupt.endswith("NOT IN ('OBJECT', 'SQL NULL', 'OBJECT?', 'INVALID{', 'JSON?')")


def test_inspector_type_families_of_postgresql_types():
    assert inspector.type_family("jsonb") == "json" and inspector.type_family("json") == "json"
    assert inspector.type_family("text") == "text" and inspector.type_family("varchar") == "text"
    assert inspector.type_family("bytea") == "binary" and inspector.type_family("uuid") == "other"
    assert inspector.type_family("bigint") == "numeric" and inspector.type_family("timestamp") == "temporal"


@pytest.mark.parametrize(
    "text, python, server",
    [
        ('{"a": 1}', "OBJECT", "OBJECT"),
        ('  {"a": [1, {"b": null}]}\n', "OBJECT", "OBJECT"),
        ('{"e": "\\ud83d\\ude42"}', "OBJECT", "OBJECT"),
        ("[1]", "ARRAY", "ARRAY"),
        ("42", "INTEGER", "INTEGER"),
        ("-1.5e3", "DOUBLE", "DOUBLE"),
        ("true", "BOOLEAN", "BOOLEAN"),
        ("null", "NULL", "NULL"),
        ('"x"', "STRING", "STRING"),
        ('"{not json"', "STRING", "STRING"),
        ('"{\\"a\\": 1}"', "STRING+OBJECT", "STRING+OBJECT"),
        ('"{\\"a\\": NaN}"', "STRING", "STRING"),  # the inner text is not one the server takes
        ('{"a": NaN}', "READABLE OBJECT", "INVALID"),
        ('{"a": "\\ud800"}', "READABLE OBJECT", "INVALID"),  # a lone surrogate: jsonb refuses it
        ('{"a": "\\u0000"}', "READABLE OBJECT", "INVALID"),
        ('"\\u0000"', "INVALID", "INVALID"),
        ("NaN", "INVALID", "INVALID"),
        ('{"a": 1', "INVALID", "INVALID"),
        ("", "INVALID", "INVALID"),
        (b"\xff{", "INVALID", "INVALID"),
        (None, "SQL NULL", "SQL NULL"),
    ],
)
def test_python_settles_what_the_sql_left_unsettled(text, python, server):
    assert appjson.resolve(appjson.UNSETTLED, text, appjson.PYTHON) == python
    assert appjson.resolve(appjson.UNSETTLED, text, appjson.SERVER) == server


def test_expressions_cast_to_text_and_hash_with_sha256():
    d = dialect_for("postgresql", PG15)
    assert d.left_expr('"m"', 200) == 'left(("m")::text, 200)'
    assert d.length_expr('"m"') == 'octet_length(("m")::text)'
    assert d.date_expr('"c"') == '("c")::date'
    assert (
        d.fingerprint_expr(['"a"', '"b"'])
        == "encode(sha256(convert_to(concat_ws(',', COALESCE(md5((\"a\")::text), '-'), COALESCE(md5((\"b\")::text), '-')), 'UTF8')), 'hex')"
    )
    assert d.restore_expr('"pre"') == "convert_from(\"pre\", 'UTF8')"
    assert d.restore_expr('"pre"', column_type="jsonb") == "CAST(convert_from(\"pre\", 'UTF8') AS jsonb)"


class Recorder:
    def __init__(self, autocommit):
        self.statements = []
        self.connection = self
        self.autocommit = autocommit

    def execute(self, statement, args=()):
        self.statements.append((statement, tuple(args)))

    def commit(self):
        self.statements.append(("COMMIT", ()))


def test_sessions_statement_timeout_and_read_only_snapshot():
    d = dialect_for("postgresql", PG15)
    cur = Recorder(autocommit=False)
    d.pin_sql_mode(cur)
    d.set_statement_timeout(cur, 2.5)
    d.begin_read_only_snapshot(cur)
    assert cur.statements == [
        ("SELECT set_config('statement_timeout', %s, false)", ("2500",)),
        ("COMMIT", ()),
        ("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", ()),
    ]
    auto = Recorder(autocommit=True)
    d.begin_read_only_snapshot(auto)
    assert auto.statements == [("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", ())]


def test_the_server_identity_is_the_clusters_system_identifier():
    assert "system_identifier" in servers.identity_statement("postgresql") and "@@" not in servers.identity_statement("postgresql")


def test_connection_keywords_take_the_socket_directory_and_never_invent_a_password(tmp_path):
    base = dict(database="app", connect_timeout=5)
    kwargs = connection._postgres_kwargs(dict(base, login_unix_socket="/run/postgresql/.s.PGSQL.5433", login_user="u"), autocommit=True)
    assert kwargs["host"] == "/run/postgresql" and kwargs["port"] == 5433 and "password" not in kwargs
    assert kwargs["dbname"] == "app" and kwargs["options"] == "-c TimeZone=UTC" and kwargs["autocommit"] is True
    kwargs = connection._postgres_kwargs(
        dict(base, login_host="db", login_port=6000, passfile="~/pg.pass", service="prod", ca_cert="/ca", check_hostname=True), False
    )
    assert kwargs["passfile"].endswith("/pg.pass") and not kwargs["passfile"].startswith("~") and kwargs["service"] == "prod"
    assert (kwargs["host"], kwargs["port"], kwargs["sslmode"], kwargs["sslrootcert"]) == ("db", 6000, "verify-full", "/ca")


def serve_once(greeting):
    """A TCP listener that accepts one client and sends `greeting` (or nothing)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def accept():
        conn, _ = listener.accept()
        try:
            if greeting:
                conn.sendall(greeting)
            conn.recv(1)  # until the client hangs up
        except OSError:
            pass
        finally:
            conn.close()
            listener.close()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


def test_auto_detection_rules(tmp_path):
    detect = connection.detect_flavour
    assert detect(dict(login_port=5432)) == "postgresql"
    assert detect(dict(login_port=3306)) == "mysql" and detect(dict()) == "mysql"
    assert detect(dict(passfile="/x")) == "postgresql" and detect(dict(service="prod")) == "postgresql"
    assert detect(dict(login_unix_socket="/run/postgresql/.s.PGSQL.5432")) == "postgresql"
    assert detect(dict(login_unix_socket=str(tmp_path))) == "postgresql"
    assert detect(dict(login_unix_socket="/run/mysqld/mysqld.sock")) == "mysql"
    # Another port: MariaDB/MySQL greet at once, PostgreSQL waits for the client.
    assert detect(dict(login_host="127.0.0.1", login_port=serve_once(b"\x4a\x00\x00\x00\x0a11.4"))) == "mysql"
    assert detect(dict(login_host="127.0.0.1", login_port=serve_once(b""))) == "postgresql"


def test_an_unreachable_server_is_left_to_the_mysql_driver_as_before():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    assert connection.detect_flavour(dict(database="app", login_host="127.0.0.1", login_port=port, connect_timeout=2)) == "mysql"


def test_the_driver_each_flavour_needs():
    assert connection.missing_driver("postgresql") is None and connection.missing_driver("mariadb") is None
    assert isinstance(dialect_for("postgresql", PG16), PostgreSQL) and dialect_for("postgresql", PG16).major == 16

# preflight's one check of the shared inputs (filter_plugins/jsonmend_inputs.py): every problem named
# with the variable the operator set, all at once.
import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_inputs import input_problems, resolve_dialect, table_name

TARGET = dict(
    database="app",
    dialect="auto",
    table="analytics_activityevent",
    column="metadata",
    primary_key="id",
    group_by="event_type",
    timestamp_column="created_at",
    user_column="",
)
APP = dict(url="http://127.0.0.1:8000", dir="/srv/app", venv="/srv/app/venv", error_log="/var/log/django/error.log")


def test_good_inputs_have_no_problem():
    assert input_problems(TARGET, APP) == []


def test_every_problem_is_named_at_once():
    target = dict(TARGET, table="x`; DROP TABLE y; --", column="123", group_by="a b", database="db`x")
    app = dict(APP, url="http://127.0.0.1:8000/app", error_log="log/error.log")
    problems = input_problems(target, app, dbadmin_hosts=2)
    assert problems == [
        "jsonmend_table=\"x`; DROP TABLE y; --\" is not a valid identifier: use 1-64 letters, digits, '_' or '$'",
        "jsonmend_column=\"123\" is not a valid identifier: use 1-64 letters, digits, '_' or '$'",
        'jsonmend_group_column="a b" is not a valid identifier (or empty to skip it)',
        'jsonmend_db_name="db`x" is not a valid database name',
        'jsonmend_app_url="http://127.0.0.1:8000/app" must be http(s)://host[:port], without a path',
        'jsonmend_app_error_log="log/error.log" must be an absolute path',
        "The inventory's dbadmin group must hold exactly one host (the one that reaches the database), it holds 2",
    ]


def test_non_strings_and_sqlite():
    assert input_problems(dict(TARGET, table=5), APP)[0].startswith('jsonmend_table="5" is not a valid identifier')
    assert input_problems(dict(TARGET, dialect="sqlite", database="/tmp/x.db"), APP) == []
    assert input_problems(TARGET, APP, dbadmin_hosts=0, single_dbadmin=False) == []
    with pytest.raises(AnsibleFilterError):
        input_problems(None, APP)


@pytest.mark.parametrize(
    ("dialect", "connection", "resolved"),
    [
        ("auto", {}, "auto"),
        (None, {"jsonmend_db_port": "3306"}, "auto"),
        ("auto", {"jsonmend_db_port": 5432}, "postgresql"),
        ("auto", {"jsonmend_db_port": "5432"}, "postgresql"),
        ("auto", {"jsonmend_db_passfile": "~/.pgpass"}, "postgresql"),
        ("auto", {"jsonmend_db_service": "prod", "jsonmend_db_port": 3306}, "postgresql"),
        ("auto", {"jsonmend_db_socket": "/run/postgresql/.s.PGSQL.5433"}, "postgresql"),
        ("auto", {"jsonmend_db_socket": "/run/mysqld/mysqld.sock", "jsonmend_db_port": 5432}, "auto"),
        ("auto", {"jsonmend_db_passfile": "", "jsonmend_db_service": " "}, "auto"),
        ("mariadb", {"jsonmend_db_passfile": "~/.pgpass"}, "mariadb"),
        ("postgresql", {}, "postgresql"),
    ],
)
def test_auto_is_settled_where_the_inputs_settle_it(dialect, connection, resolved):
    assert resolve_dialect(dialect, connection) == resolved


def test_postgresql_tables_are_named_schema_table():
    assert table_name("events", "postgresql") == "public.events"
    assert table_name("app.events", "postgresql") == "app.events"
    assert table_name("events", "mariadb") == "events" and table_name("events", "auto") == "events"
    assert table_name("x; DROP", "postgresql") == "x; DROP"  # refused by input_problems, shown as typed


def test_postgresql_names_and_options():
    pg = dict(TARGET, dialect="postgresql", table="app.events")
    assert input_problems(pg, APP, connection={"jsonmend_db_config_file": "", "jsonmend_db_passfile": "/home/dba/.pgpass"}) == []
    assert input_problems(dict(pg, table="app.events.x"), APP)[0].startswith('jsonmend_table="app.events.x" is not a valid identifier')
    problems = input_problems(pg, APP, connection={"jsonmend_db_config_file": "/etc/mysql/client.cnf"})
    assert problems == [
        'jsonmend_db_config_file="/etc/mysql/client.cnf" is a MySQL option file, which PostgreSQL does not read: give jsonmend_db_password,'
        " a password file (jsonmend_db_passfile, default ~/.pgpass) or a service (jsonmend_db_service)"
    ]
    mysql = dict(TARGET, dialect="mysql", table="app.events")
    problems = input_problems(mysql, APP, connection={"jsonmend_db_service": "prod", "jsonmend_db_service_file": "/etc/pg_service.conf"})
    assert problems[0] == (
        'jsonmend_table="app.events" names a schema: schema.table is for PostgreSQL (jsonmend_db_dialect: postgresql);'
        " on MariaDB/MySQL the table's database is jsonmend_db_name"
    )
    assert [p.split(" is ")[0] for p in problems[1:]] == ['jsonmend_db_service="prod"', 'jsonmend_db_service_file="/etc/pg_service.conf"']
    assert "jsonmend_db_dialect=mysql" in problems[1]
    # auto that the inputs do not settle: schema.table needs the dialect said.
    assert "names a schema" in input_problems(dict(TARGET, table="app.events"), APP)[0]
    with pytest.raises(AnsibleFilterError):
        input_problems(TARGET, APP, connection="passfile")

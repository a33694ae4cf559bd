# preflight's one check of the shared inputs (filter_plugins/jsonmend_inputs.py): every problem named
# with the variable the operator set, all at once.
import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_inputs import input_problems

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

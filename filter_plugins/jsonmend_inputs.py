# The shared inputs checked in one pass (preflight): every problem named at once, with the variable
# the operator set, before anything runs. One task instead of one per check: on a short diagnosis
# each Ansible task costs as much as scanning thousands of rows.
from __future__ import annotations

import json
import re

from ansible.errors import AnsibleFilterError

IDENTIFIER = re.compile(r"[A-Za-z0-9_$]{1,64}\Z")
APP_URL = re.compile(r"https?://[^/\s?#]+\Z")
# preflight_run.target key -> the variable an operator sets
REQUIRED_NAMES = (("table", "jsonmend_table"), ("column", "jsonmend_column"), ("primary_key", "jsonmend_primary_key"))
OPTIONAL_NAMES = (("group_by", "jsonmend_group_column"), ("timestamp_column", "jsonmend_timestamp_column"), ("user_column", "jsonmend_user_column"))
APP_PATHS = (("dir", "jsonmend_app_dir"), ("venv", "jsonmend_app_venv"), ("error_log", "jsonmend_app_error_log"))
# Connection inputs of one server family: each is refused on the other family, where the modules
# would silently ignore it.
MYSQL_ONLY = ("jsonmend_db_config_file",)
POSTGRES_ONLY = ("jsonmend_db_passfile", "jsonmend_db_service", "jsonmend_db_service_file")
POSTGRES_PORT = 5432
POSTGRES_SCHEMA = "public"  # the modules' schema for an unqualified table (db/dialects.py: split_table)


def _shown(value):
    return json.dumps(value if isinstance(value, str) else str(value))


def _identifier(value):
    return isinstance(value, str) and bool(IDENTIFIER.match(value))


def _given(connection, key):
    value = connection.get(key)
    return value not in (None, "") and not (isinstance(value, str) and not value.strip())


def resolve_dialect(dialect, connection=None):
    """jsonmend_db_dialect, with `auto` settled where the inputs alone settle it.

    The modules' auto (db/connection.py: detect_flavour) takes PostgreSQL for a PostgreSQL-only
    input, a socket named .s.PGSQL.<port> or port 5432; so does this, without connecting, so that
    preflight checks PostgreSQL's names and options. Anything else stays `auto` for the module
    (VERSION(), a socket directory, or the greeting on another port tell it there).
    """
    dialect = dialect or "auto"
    if dialect != "auto":
        return dialect
    connection = connection if isinstance(connection, dict) else {}
    if any(_given(connection, var) for var in POSTGRES_ONLY):
        return "postgresql"
    socket = connection.get("jsonmend_db_socket")
    if _given(connection, "jsonmend_db_socket"):
        return "postgresql" if str(socket).rstrip("/").rpartition("/")[2].startswith(".s.PGSQL.") else dialect
    port = str(connection.get("jsonmend_db_port") or "").strip()
    return "postgresql" if port == str(POSTGRES_PORT) else dialect


def table_name(table, dialect):
    """The target table as every record names it: on PostgreSQL schema.table (`public` when unqualified),
    as backups' manifests and deploy records do; elsewhere, and for a name refused below, unchanged."""
    if dialect == "postgresql" and _name_ok(table):
        return "%s.%s" % (POSTGRES_SCHEMA, table)
    return table


def _table_problem(value, dialect):
    """The refusal of jsonmend_table, or None: PostgreSQL's may be schema.table."""
    if isinstance(value, str) and value.count(".") == 1 and all(_name_ok(part) for part in value.split(".")):
        if dialect == "postgresql":
            return None
        return (
            "jsonmend_table=%s names a schema: schema.table is for PostgreSQL (jsonmend_db_dialect: postgresql);"
            " on MariaDB/MySQL the table's database is jsonmend_db_name" % _shown(value)
        )
    if not _name_ok(value):
        return "jsonmend_table=%s is not a valid identifier: use 1-64 letters, digits, '_' or '$'" % _shown(value)
    return None


def _name_ok(value):
    return _identifier(value) and not re.fullmatch(r"[0-9]+", value)


def _connection_problems(dialect, connection):
    """Options of the other server family, which its modules would ignore without a word."""
    problems = []
    if dialect == "postgresql":
        for var in MYSQL_ONLY:
            if _given(connection, var):
                problems.append(
                    "%s=%s is a MySQL option file, which PostgreSQL does not read: give jsonmend_db_password, a password file"
                    " (jsonmend_db_passfile, default ~/.pgpass) or a service (jsonmend_db_service)" % (var, _shown(connection[var]))
                )
    elif dialect in ("mariadb", "mysql", "sqlite"):
        for var in POSTGRES_ONLY:
            if _given(connection, var):
                problems.append(
                    "%s=%s is PostgreSQL's (libpq), but jsonmend_db_dialect=%s: set jsonmend_db_dialect: postgresql, or drop it"
                    " (MariaDB/MySQL read an option file, jsonmend_db_config_file)" % (var, _shown(connection[var]), dialect)
                )
    return problems


def input_problems(target, app, dbadmin_hosts=1, single_dbadmin=True, connection=None):
    """Every problem of the resolved target and application (preflight), as sentences; [] when fine.

    `connection` maps the connection inputs (jsonmend_db_config_file, _passfile, _service,
    _service_file, ...) to their values: those of one server family are refused on the other.
    """
    if not isinstance(target, dict) or not isinstance(app, dict):
        raise AnsibleFilterError("jsonmend_input_problems needs the resolved target and app dicts")
    if connection is not None and not isinstance(connection, dict):
        raise AnsibleFilterError("jsonmend_input_problems: connection must be a dict of the connection inputs")
    dialect = target.get("dialect")
    problems = []
    for key, var in REQUIRED_NAMES:
        value = target.get(key)
        if key == "table":
            problem = _table_problem(value, dialect)
            if problem:
                problems.append(problem)
        elif not _name_ok(value):
            problems.append("%s=%s is not a valid identifier: use 1-64 letters, digits, '_' or '$'" % (var, _shown(value)))
    for key, var in OPTIONAL_NAMES:
        value = target.get(key)
        if value not in ("", None) and not _identifier(value):
            problems.append("%s=%s is not a valid identifier (or empty to skip it)" % (var, _shown(value)))
    if target.get("dialect") != "sqlite" and not _identifier(target.get("database")):
        problems.append("jsonmend_db_name=%s is not a valid database name" % _shown(target.get("database")))
    if not APP_URL.match(str(app.get("url", ""))):
        problems.append("jsonmend_app_url=%s must be http(s)://host[:port], without a path" % _shown(app.get("url")))
    for key, var in APP_PATHS:
        if not str(app.get(key, "")).startswith("/"):
            problems.append("%s=%s must be an absolute path" % (var, _shown(app.get(key))))
    problems += _connection_problems(dialect, connection or {})
    if single_dbadmin and int(dbadmin_hosts) != 1:
        problems.append("The inventory's dbadmin group must hold exactly one host (the one that reaches the database), it holds %d" % int(dbadmin_hosts))
    return problems


class FilterModule:
    def filters(self):
        return {"jsonmend_input_problems": input_problems, "jsonmend_dialect": resolve_dialect, "jsonmend_table_name": table_name}

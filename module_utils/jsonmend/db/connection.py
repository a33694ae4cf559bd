# Connect to the database (PyMySQL for MariaDB/MySQL, sqlite3 for a local file): option
# files, TLS, timeouts, and the argument spec every jsonmend module extends.
from __future__ import annotations

import os
import sqlite3
import traceback
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.dialects import dialect_for, flavour_from_version
from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ansible.module_utils.jsonmend.db.dialects import Dialect

try:
    import pymysql

    PYMYSQL_IMPORT_ERROR = None
except ImportError:  # reported through missing_required_lib by the module
    pymysql = None
    PYMYSQL_IMPORT_ERROR = traceback.format_exc()

# community.mysql's login options, so operators can reuse what they already pass there.
CONNECTION_ARGUMENT_SPEC = dict(
    login_host=dict(type="str"),
    login_port=dict(type="int"),
    login_user=dict(type="str", aliases=["login_username"]),
    login_password=dict(type="str", no_log=True),
    login_unix_socket=dict(type="str"),
    config_file=dict(type="path", default="~/.my.cnf"),
    connect_timeout=dict(type="int", default=30),
    ca_cert=dict(type="path", aliases=["ssl_ca"]),
    client_cert=dict(type="path", aliases=["ssl_cert"]),
    client_key=dict(type="path", aliases=["ssl_key"]),
    check_hostname=dict(type="bool"),
    dialect=dict(type="str", default="auto", choices=["auto", "mariadb", "mysql", "sqlite"]),
    database=dict(type="str", required=True, aliases=["login_db", "db"]),
)

# The column being diagnosed or repaired; the defaults are the runbook's.
TARGET_ARGUMENT_SPEC = dict(
    table=dict(type="str", default="analytics_activityevent"),
    column=dict(type="str", default="metadata"),
    primary_key=dict(type="str", default="id", no_log=False),  # a column name, not a secret
)


class Database:
    """One connection plus the dialect that speaks to it."""

    def __init__(self, conn: Any, dialect: Dialect, database: str, endpoint: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.database = database
        self.endpoint = endpoint

    def cursor(self) -> Any:
        return self.conn.cursor()

    def query(self, statement: str, args: Sequence[Any] | None = None) -> Sequence[tuple[Any, ...]]:
        """Run a statement and return all rows."""
        cur = self.conn.cursor()
        try:
            cur.execute(self.dialect.sql(statement), args or ())
            return cur.fetchall()
        finally:
            cur.close()

    def query_one(self, statement: str, args: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.query(statement, args)
        return rows[0] if rows else None

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing a dead connection must not mask the real error
            pass


def describe_endpoint(params: Mapping[str, Any]) -> str:
    """Where we connect, for messages: never includes the password."""
    if params.get("dialect") == "sqlite":
        return "sqlite file %s" % params["database"]
    user = params.get("login_user") or "(user from option file)"
    if params.get("login_unix_socket"):
        where = "socket %s" % params["login_unix_socket"]
    else:
        where = "%s:%s" % (params.get("login_host") or "localhost", params.get("login_port") or 3306)
    config = os.path.expanduser(params.get("config_file") or "")
    if config and os.path.exists(config):
        where += " (option file %s)" % config
    return "%s at %s" % (user, where)


def _mysql_kwargs(params, autocommit):
    kwargs = dict(
        user=params.get("login_user"),
        password=params.get("login_password") or "",
        host=params.get("login_host"),
        port=params.get("login_port") or 0,
        unix_socket=params.get("login_unix_socket"),
        database=params["database"],
        connect_timeout=params.get("connect_timeout") or 30,
        charset="utf8mb4",
        autocommit=autocommit,
    )
    config = os.path.expanduser(params.get("config_file") or "")
    if config and os.path.exists(config):
        # Explicit options win over the file, as with the mysql client.
        kwargs["read_default_file"] = config
    if params.get("ca_cert"):
        kwargs["ssl_ca"] = params["ca_cert"]
        kwargs["ssl_verify_cert"] = True
        kwargs["ssl_verify_identity"] = bool(params.get("check_hostname"))
    if params.get("client_cert"):
        kwargs["ssl_cert"] = params["client_cert"]
    if params.get("client_key"):
        kwargs["ssl_key"] = params["client_key"]
    return kwargs


def connect(params: Mapping[str, Any], autocommit: bool = False) -> Database:
    """Open a Database for module params; raise JsonmendError with the driver's message."""
    if params.get("dialect") == "sqlite":
        return _connect_sqlite(params)
    if pymysql is None:
        raise JsonmendError("PyMySQL is not installed on the host that runs the module")
    endpoint = describe_endpoint(params)
    try:
        conn = pymysql.connect(**_mysql_kwargs(params, autocommit))
    except pymysql.err.MySQLError as exc:
        raise JsonmendError("could not connect to database %r as %s: %s" % (params["database"], endpoint, driver_message(exc))) from None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            version = cur.fetchone()[0]
    except pymysql.err.MySQLError as exc:
        conn.close()
        raise JsonmendError("connected as %s but could not read the server version: %s" % (endpoint, driver_message(exc))) from None
    name = params.get("dialect") or "auto"
    if name == "auto":
        name = flavour_from_version(version)
    return Database(conn, dialect_for(name, version), params["database"], endpoint)


def _connect_sqlite(params):
    path = os.path.expanduser(params["database"])
    if not os.path.isfile(path):
        raise JsonmendError("sqlite database file %s does not exist" % path)
    try:
        # mode=ro: the scan can never write to a developer's database.
        conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise JsonmendError("could not open sqlite file %s: %s" % (path, exc)) from None
    return Database(conn, dialect_for("sqlite", sqlite3.sqlite_version), path, "sqlite file %s" % path)


def driver_message(exc: BaseException) -> str:
    """The driver's own text ('Access denied for user ...'), without a traceback."""
    args = getattr(exc, "args", ())
    if len(args) >= 2:
        return "(%s) %s" % (args[0], args[1])
    return str(exc)


def driver_error_types() -> tuple[type[Exception], ...]:
    """Exception classes a database call may raise, for modules to catch."""
    types = [sqlite3.Error]
    if pymysql is not None:
        types.append(pymysql.err.MySQLError)
    return tuple(types)

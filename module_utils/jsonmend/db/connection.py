# Connect to the database (PyMySQL for MariaDB/MySQL, psycopg 3 for PostgreSQL, sqlite3 for a
# local file): option, password and service files, TLS, timeouts, the flavour `auto` detects, and
# the argument spec every jsonmend module extends.
from __future__ import annotations

import importlib.util
import os
import socket
import sqlite3
import sys
import threading
import traceback
from contextlib import contextmanager
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

# psycopg is imported on the first PostgreSQL connection, not here: its import costs ~70 ms of CPU, paid by
# every module process (a fleet of MariaDB targets pays it once per target and task for nothing).
PSYCOPG_IMPORT_ERROR = None if importlib.util.find_spec("psycopg") else "No module named 'psycopg'"


def _psycopg():
    """The psycopg module, imported now (None when it is not installed)."""
    if PSYCOPG_IMPORT_ERROR:
        return None
    import psycopg  # pylint: disable=import-outside-toplevel

    return psycopg


def _loaded_psycopg():
    """psycopg if some connection imported it: no psycopg error can exist before that."""
    return sys.modules.get("psycopg")


POSTGRES_PORT = 5432
MYSQL_PORT = 3306
# auto on another port: a MariaDB/MySQL server greets first; PostgreSQL waits for the client.
GREETING_WAIT_S = 1.0

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
    # PostgreSQL's counterparts of the option file: libpq's password file and service file.
    passfile=dict(type="path"),
    service=dict(type="str"),
    service_file=dict(type="path"),
    dialect=dict(type="str", default="auto", choices=["auto", "mariadb", "mysql", "postgresql", "sqlite"]),
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
            # psycopg refuses fetchall() after a statement without rows (SET, UPDATE, DDL).
            return cur.fetchall() if cur.description is not None else []
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


def describe_endpoint(params: Mapping[str, Any], flavour: str | None = None) -> str:
    """Where we connect, for messages: never includes the password."""
    flavour = flavour or params.get("dialect")
    if flavour == "sqlite":
        return "sqlite file %s" % params["database"]
    postgres = flavour == "postgresql"
    user = params.get("login_user") or ("(user from the service or PGUSER)" if postgres else "(user from option file)")
    if params.get("login_unix_socket"):
        where = "socket %s" % params["login_unix_socket"]
    else:
        where = "%s:%s" % (params.get("login_host") or "localhost", params.get("login_port") or (POSTGRES_PORT if postgres else MYSQL_PORT))
    if postgres:
        for key, label in (("service", "service"), ("service_file", "service file"), ("passfile", "password file")):
            if params.get(key):
                where += " (%s %s)" % (label, params[key])
        return "%s at %s" % (user, where)
    config = os.path.expanduser(params.get("config_file") or "")
    if config and os.path.exists(config):
        where += " (option file %s)" % config
    return "%s at %s" % (user, where)


def detect_flavour(params: Mapping[str, Any]) -> str:
    """`auto`: 'postgresql', or 'mysql' for the MySQL family (VERSION() then tells MariaDB apart).

    PostgreSQL when a PostgreSQL-only input is given (passfile, service, service_file), the socket
    is PostgreSQL's (a directory, or a file named .s.PGSQL.<port>), or the port is 5432. MySQL family
    without a port (the option file's, or 3306), with port 3306 or another MySQL socket. On any
    other port the server is asked without credentials: MariaDB and MySQL send a greeting as soon as
    the TCP connection opens, PostgreSQL says nothing until the client speaks (waits GREETING_WAIT_S).
    A server that cannot be reached is taken for the MySQL family, whose driver then says why.
    """
    if any(params.get(k) for k in ("passfile", "service", "service_file")):
        return "postgresql"
    path = params.get("login_unix_socket")
    if path:
        if os.path.isdir(path) or os.path.basename(path).startswith(".s.PGSQL."):
            return "postgresql"
        return "mysql"
    port = params.get("login_port")
    if not port or port == MYSQL_PORT:
        return "mysql"
    if port == POSTGRES_PORT:
        return "postgresql"
    try:
        greets = server_greets(params.get("login_host") or "localhost", port, params.get("connect_timeout") or 30)
    except OSError:
        # Unreachable: the MySQL family, as before PostgreSQL existed here; its driver says why.
        return "mysql"
    return "mysql" if greets else "postgresql"


def server_greets(host: str, port: int, timeout: float) -> bool:
    """True when the server at host:port sends bytes before the client says anything."""
    with socket.create_connection((host, port), timeout=timeout) as probe:
        probe.settimeout(GREETING_WAIT_S)
        try:
            return bool(probe.recv(1))
        except TimeoutError:
            return False


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
    name = params.get("dialect") or "auto"
    if name == "postgresql" or (name == "auto" and detect_flavour(params) == "postgresql"):
        return _connect_postgres(params, autocommit, detected=name == "auto")
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


def _postgres_kwargs(params, autocommit):
    """psycopg.connect() keywords: libpq reads the password file and service itself, in-process."""
    kwargs = dict(
        dbname=params["database"],
        connect_timeout=params.get("connect_timeout") or 30,
        autocommit=autocommit,
        application_name="jsonmend",
        # Days of timestamptz values (date_expr) are UTC days, whatever the server's TimeZone.
        options="-c TimeZone=UTC",
    )
    path = params.get("login_unix_socket")
    if path:
        # libpq takes the socket's directory as host and the port from the file name.
        if os.path.isdir(path):
            kwargs["host"] = path
        else:
            kwargs["host"] = os.path.dirname(path)
            suffix = os.path.basename(path).rpartition(".")[2]
            if suffix.isdigit() and not params.get("login_port"):
                kwargs["port"] = int(suffix)
    elif params.get("login_host"):
        kwargs["host"] = params["login_host"]
    if params.get("login_port"):
        kwargs["port"] = params["login_port"]
    if params.get("login_user"):
        kwargs["user"] = params["login_user"]
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    if params.get("passfile"):
        kwargs["passfile"] = os.path.expanduser(params["passfile"])
    if params.get("service"):
        kwargs["service"] = params["service"]
    if params.get("ca_cert"):
        kwargs["sslrootcert"] = params["ca_cert"]
        kwargs["sslmode"] = "verify-full" if params.get("check_hostname") else "verify-ca"
    if params.get("client_cert"):
        kwargs["sslcert"] = params["client_cert"]
    if params.get("client_key"):
        kwargs["sslkey"] = params["client_key"]
    return kwargs


_SERVICE_FILE_LOCK = threading.Lock()


@contextmanager
def _service_file(path):
    """libpq reads a service file only from PGSERVICEFILE (no connection option for it before libpq
    18): set it around the connect, under a lock, as the scan's workers connect from threads."""
    if not path:
        yield
        return
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise JsonmendError("service_file %s does not exist" % path)
    with _SERVICE_FILE_LOCK:
        old = os.environ.get("PGSERVICEFILE")
        os.environ["PGSERVICEFILE"] = path
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("PGSERVICEFILE", None)
            else:
                os.environ["PGSERVICEFILE"] = old


def _connect_postgres(params, autocommit, detected=False):
    psycopg = _psycopg()
    if psycopg is None:
        raise JsonmendError("psycopg (psycopg[binary]) is not installed on the host that runs the module")
    endpoint = describe_endpoint(params, "postgresql")
    how = " (dialect auto took it for PostgreSQL: set dialect to mariadb or mysql if it is not)" if detected else ""
    try:
        with _service_file(params.get("service_file")):
            conn = psycopg.connect(**_postgres_kwargs(params, autocommit))
    except psycopg.Error as exc:
        raise JsonmendError("could not connect to database %r as %s: %s%s" % (params["database"], endpoint, driver_message(exc), how)) from None
    from psycopg.types.string import TextLoader  # pylint: disable=import-outside-toplevel

    # json and jsonb arrive as the server's text, byte for byte, never as parsed Python values.
    conn.adapters.register_loader("json", TextLoader)
    conn.adapters.register_loader("jsonb", TextLoader)
    try:
        version = conn.execute("SELECT version()").fetchone()[0]
        if not autocommit:
            conn.rollback()
    except psycopg.Error as exc:
        conn.close()
        raise JsonmendError("connected as %s but could not read the server version: %s" % (endpoint, driver_message(exc))) from None
    return Database(conn, dialect_for("postgresql", version), params["database"], endpoint)


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
    psycopg = _loaded_psycopg()
    if psycopg is not None and isinstance(exc, psycopg.Error):
        diag = exc.diag
        if exc.sqlstate and diag.message_primary:
            detail = (" (%s)" % diag.message_detail) if diag.message_detail else ""
            return "(%s) %s%s" % (exc.sqlstate, diag.message_primary, detail)
        return " ".join(str(exc).split())
    args = getattr(exc, "args", ())
    if len(args) >= 2:
        return "(%s) %s" % (args[0], args[1])
    return str(exc)


def driver_error_types() -> tuple[type[Exception], ...]:
    """Exception classes a database call may raise, for modules to catch."""
    types = [sqlite3.Error]
    if pymysql is not None:
        types.append(pymysql.err.MySQLError)
    psycopg = _loaded_psycopg()
    if psycopg is not None:
        types.append(psycopg.Error)
    return tuple(types)


def missing_driver(flavour: str | None) -> tuple[str, str] | None:
    """(library, import traceback) when the driver `flavour` needs is not installed, else None."""
    if flavour == "postgresql":
        return ("psycopg", PSYCOPG_IMPORT_ERROR) if PSYCOPG_IMPORT_ERROR else None
    if flavour in ("mariadb", "mysql", "auto", None):
        return ("PyMySQL", PYMYSQL_IMPORT_ERROR) if PYMYSQL_IMPORT_ERROR and (flavour != "auto" or PSYCOPG_IMPORT_ERROR) else None
    return None

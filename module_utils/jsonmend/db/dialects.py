# MariaDB / MySQL 8 / SQLite differences: JSON type expressions, snapshots, timeouts, catalog.
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db import appjson
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import quote_name, validate_identifier

if TYPE_CHECKING:
    from collections.abc import Iterable

# Class labels produced by classify_expr(). 'SQL NULL' is the absence of a value,
# 'NULL' the JSON null literal, 'INVALID' text that is not JSON (MariaDB, SQLite and
# MySQL text columns), 'STRING+OBJECT' a JSON string whose text is itself an object.
SQL_NULL = "SQL NULL"
OBJECT = "OBJECT"
INVALID = "INVALID"
BRACED_INVALID = appjson.BRACED_INVALID  # invalid text starting with '{': resolved by appjson
SUSPECT_OBJECT = appjson.SUSPECT_OBJECT  # an object the application's decoder may not read
CANDIDATES = appjson.CANDIDATES
DOUBLE_ENCODED = "STRING+OBJECT"
HEALTHY_CLASSES = (OBJECT, SQL_NULL)
# The session mode of every writing connection, whatever the server's global sql_mode: a value
# that does not fit is an error, never silently cut, converted or replaced by ''.
# (No NO_ZERO_DATE: rows may hold zero dates that an UPDATE keeps as they are.)
STRICT_SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"


class Dialect:
    """SQL that differs between servers: the seam a new server flavour (PostgreSQL) fills.

    The engines (scan/, repair/, backup/) reach the server's SQL dialect only through the
    methods below, on `db.dialect`. A new flavour subclasses Dialect, overrides what its server
    says differently, fills every method that raises NotImplementedError here, and joins DIALECTS
    (connection.connect picks it by the `dialect` option or from VERSION()). The defaults are
    the MySQL family's (information_schema, backquotes, %s placeholders).

    Names: `q` (quote a validated identifier), `qn` (quote a catalog name), `sql` (adapt a
    %s-placeholder statement to the driver), `quote_char`, `placeholder`.
    JSON classes: `classify_expr` (label each value: OBJECT, SQL NULL, INVALID, ...; the one
    definition of corrupt), `corrupt_predicate`, `suspect_predicate` (cheap, no parse),
    `restore_expr` (a LONGBLOB pre-image back into the column's type), `fingerprint_expr` (hash of
    a row's stored columns), `date_expr`, `left_expr`, `length_expr`, `key_bucket_expr` (neighbouring
    integer keys share a bucket: the one-pass scan counts healthy rows per bucket), `group_value_expr`
    (a column of a one-row group).
    Sessions: `pin_sql_mode` (strict writers), `begin_read_only_snapshot` (one snapshot for every
    read of a scan), `set_statement_timeout` (must be filled).
    Catalog (read by db/inspector.py, the one inspection of the target): `columns`,
    `column_details`, `triggers`, `foreign_keys`, `engine`, `database_exists`, `primary_key`,
    `json_check_constraint`, `table_estimate`, `server_cpus`.
    Not yet behind the seam (see docs/DESIGN.md): the advisory lock (GET_LOCK), replica status,
    server identity, the backup client tools and the engines' few `dialect.name` tests.
    """

    name = "generic"
    quote_char = "`"
    placeholder = "%s"

    def __init__(self, version: str = "") -> None:
        self.version = version

    def q(self, identifier: str) -> str:
        """Quote a validated identifier."""
        validate_identifier(identifier, "identifier")
        return self.quote_char + identifier + self.quote_char

    def qn(self, name: str) -> str:
        """Quote a name read from the catalog (any character; the quote doubled)."""
        return quote_name(name, self.quote_char)

    def sql(self, statement: str) -> str:
        """Adapt a statement written with %s placeholders to this driver."""
        return statement

    # Every type test sits behind JSON_VALID in CASE order: on MariaDB an unguarded
    # JSON_TYPE folds invalid text into the SQL NULL bucket (SELECT) or aborts (DML).
    def classify_expr(self, col: str, native_json: bool = False, brace_label: str = INVALID, decoder: str = appjson.SERVER) -> str:
        """SQL expression that labels each value of `col` with its JSON class.

        A value starting with '{' costs one parse (valid means object); `brace_label` names
        the invalid ones apart when a caller needs to know they exist (truncated objects).
        With the `python` decoder, objects the prefilter flags are labelled SUSPECT_OBJECT and
        invalid text starting with '{' after whitespace BRACED_INVALID: appjson.resolve()
        settles both in Python, where the application's decoder is the judge.
        """
        if decoder == appjson.PYTHON:
            suspect = appjson.prefilter_sql(col)
            return (
                "CASE WHEN {c} IS NULL THEN 'SQL NULL'"
                " WHEN LEFT({c}, 1) = '{{' THEN IF(JSON_VALID({c}), IF({p}, '{s}', 'OBJECT'), '{b}')"
                " WHEN NOT JSON_VALID({c}) THEN IF({r}, '{b}', 'INVALID')"
                " WHEN JSON_TYPE({c}) = 'OBJECT' THEN IF({p}, '{s}', 'OBJECT')"
                " WHEN JSON_TYPE({c}) <> 'STRING' THEN JSON_TYPE({c})"
                " WHEN NOT JSON_VALID(JSON_UNQUOTE({c})) THEN 'STRING'"
                " WHEN JSON_TYPE(JSON_UNQUOTE({c})) = 'OBJECT' THEN 'STRING+OBJECT'"
                " ELSE 'STRING' END"
            ).format(c=col, p=suspect, s=SUSPECT_OBJECT, b=BRACED_INVALID, r=appjson.braced_sql(col))
        return (
            "CASE WHEN {c} IS NULL THEN 'SQL NULL'"
            " WHEN LEFT({c}, 1) = '{{' THEN IF(JSON_VALID({c}), 'OBJECT', '{b}')"
            " WHEN NOT JSON_VALID({c}) THEN 'INVALID'"
            " WHEN JSON_TYPE({c}) <> 'STRING' THEN JSON_TYPE({c})"
            " WHEN NOT JSON_VALID(JSON_UNQUOTE({c})) THEN 'STRING'"
            " WHEN JSON_TYPE(JSON_UNQUOTE({c})) = 'OBJECT' THEN 'STRING+OBJECT'"
            " ELSE 'STRING' END"
        ).format(c=col, b=brace_label)

    def corrupt_predicate(self, col: str, native_json: bool = False, decoder: str = appjson.SERVER, settled_only: bool = False) -> str:
        """SQL condition true for rows that are neither SQL NULL nor an object.

        With `settled_only`, rows whose kind only Python can settle (CANDIDATES) are left out.
        """
        labels = ("OBJECT", "SQL NULL") + (CANDIDATES if settled_only else ())
        brace = BRACED_INVALID if settled_only else INVALID
        return "(%s) NOT IN (%s)" % (self.classify_expr(col, native_json, brace, decoder), ", ".join("'%s'" % x for x in labels))

    # -- writing sessions ---------------------------------------------------------
    def pin_sql_mode(self, cursor: Any) -> None:
        """Set the strict session sql_mode every writer runs under."""
        cursor.execute("SET SESSION sql_mode = %s", (STRICT_SQL_MODE,))
        # Notes (JSON_VALID's 4038 on every invalid text it classifies) are not recorded, so a
        # statement's warning count holds warnings and errors only.
        cursor.execute("SET SESSION sql_notes = 0")

    def restore_expr(self, source: str, native_json: bool = False) -> str:
        """The expression that writes a quarantined pre-image (LONGBLOB) back into the column."""
        return source

    def fingerprint_expr(self, columns_sql: Iterable[str]) -> str:
        """SHA-256 (hex) over the row's stored columns: tells a row the application wrote since."""
        parts = ", ".join("IFNULL(MD5(%s), '-')" % c for c in columns_sql)
        return "SHA2(CONCAT_WS(',', %s), 256)" % parts

    # A healthy object starts with '{': rows that do not are the only candidates, except
    # '{'-prefixed invalid text, which the scan counts (brace_label) before relying on this.
    def suspect_predicate(self, col: str, native_json: bool = False) -> str:
        """Cheap (no JSON parse) condition true for every corrupted row not starting with '{'."""
        return "%s IS NOT NULL AND %s <> '{'" % (col, self.left_expr(col, 1))

    def date_expr(self, col: str) -> str:
        return "DATE(%s)" % col

    def left_expr(self, col: str, length: int) -> str:
        return "LEFT(%s, %d)" % (col, int(length))

    def length_expr(self, col: str) -> str:
        return "LENGTH(%s)" % col

    def key_bucket_expr(self, pk: str, size: int) -> str:
        """An integer-key row's bucket of `size` neighbouring keys (any grouping of neighbours will do).

        The one-pass scan groups the rows it does not list one by one per bucket, so the few rows
        the application's decoder must settle are found by key, never by walking the range again.
        Integer arithmetic only (FLOOR of a division costs MariaDB a decimal per row).
        """
        return "(%s - MOD(%s, %d))" % (pk, pk, int(size))

    def group_value_expr(self, expr: str) -> str:
        """`expr` in a GROUP BY whose groups of interest hold one row (the scan's listed rows).

        The MySQL family takes the bare expression: pin_sql_mode's mode has no ONLY_FULL_GROUP_BY
        (SQLite allows bare columns too), and it costs less per row than an aggregate. A server
        that refuses bare columns returns an aggregate such as MIN(expr).
        """
        return expr

    def begin_read_only_snapshot(self, cursor: Any) -> None:
        """Open a read-only transaction whose reads all see one snapshot."""
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

    def set_statement_timeout(self, cursor: Any, seconds: float) -> None:
        """Cap every later statement of the session at `seconds` (each flavour has its own)."""
        raise NotImplementedError

    def columns(self, cursor: Any, database: str, table: str) -> dict[str, str]:
        """Return {column name: data type} in table order, {} if the table is missing."""
        cursor.execute(
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (database, table),
        )
        return dict((row[0], row[1].lower()) for row in cursor.fetchall())

    def column_details(self, cursor: Any, database: str, table: str) -> list[dict[str, Any]]:
        """Every column of the table in order, as dicts (see inspector.inspect_target)."""
        cursor.execute(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH,"
            " CHARACTER_SET_NAME, COLLATION_NAME, EXTRA"
            " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (database, table),
        )
        out = []
        for name, data_type, column_type, nullable, chars, octets, charset, collation, extra in cursor.fetchall():
            extra = (extra or "").lower()
            out.append(
                dict(
                    name=name,
                    data_type=(data_type or "").lower(),
                    column_type=(column_type or "").lower(),
                    nullable=(nullable or "").upper() == "YES",
                    max_chars=None if chars is None else int(chars),
                    max_bytes=None if octets is None else int(octets),
                    charset=charset,
                    collation=collation,
                    generated=any(word in extra for word in ("generated", "virtual", "persistent")),
                    on_update="on update" in extra,
                )
            )
        return out

    def triggers(self, cursor: Any, database: str, table: str) -> list[tuple[str, str, str]]:
        """[(name, timing, event)] of the table's triggers."""
        cursor.execute(
            "SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION FROM information_schema.TRIGGERS"
            " WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE = %s ORDER BY TRIGGER_NAME",
            (database, table),
        )
        return [(name, (timing or "").upper(), (event or "").upper()) for name, timing, event in cursor.fetchall()]

    def foreign_keys(self, cursor: Any, database: str, table: str) -> tuple[int, int]:
        """(constraints of this table referencing others, constraints of others referencing it)."""
        cursor.execute(
            "SELECT SUM(TABLE_NAME = %s), SUM(REFERENCED_TABLE_NAME = %s) FROM information_schema.REFERENTIAL_CONSTRAINTS"
            " WHERE CONSTRAINT_SCHEMA = %s AND (TABLE_NAME = %s OR REFERENCED_TABLE_NAME = %s)",
            (table, table, database, table, table),
        )
        row = cursor.fetchone() or (0, 0)
        return int(row[0] or 0), int(row[1] or 0)

    def engine(self, cursor: Any, database: str, table: str) -> str | None:
        cursor.execute("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (database, table))
        row = cursor.fetchone()
        return row[0] if row else None

    def database_exists(self, cursor: Any, database: str) -> bool:
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
            (database,),
        )
        return cursor.fetchone()[0] > 0

    def primary_key(self, cursor: Any, database: str, table: str) -> list[str]:
        """Return the primary key's column names in key order."""
        cursor.execute(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY'"
            " ORDER BY ORDINAL_POSITION",
            (database, table),
        )
        return [row[0] for row in cursor.fetchall()]

    def json_check_constraint(self, cursor: Any, database: str, table: str, column: str) -> bool:
        """True when a CHECK constraint calls json_valid() on the column."""
        cursor.execute(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s",
            (database, table),
        )
        for (clause,) in cursor.fetchall():
            text = (clause or "").lower().replace("`", "")
            if "json_valid(" in text and column.lower() in text:
                return True
        return False

    def table_estimate(self, cursor: Any, database: str, table: str) -> tuple[int, int]:
        """Return (estimated rows, data bytes) from the catalog; cheap, approximate."""
        cursor.execute(
            "SELECT TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (database, table),
        )
        row = cursor.fetchone()
        return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)

    def server_cpus(self, cursor: Any) -> int | None:
        """Best guess at the server's CPU count, or None."""
        return None


class MariaDB(Dialect):
    name = "mariadb"

    def set_statement_timeout(self, cursor: Any, seconds: float) -> None:
        # MariaDB's limit is in seconds and covers every statement kind.
        cursor.execute("SET SESSION max_statement_time = %s", (float(seconds),))

    def server_cpus(self, cursor: Any) -> int | None:
        # thread_pool_size defaults to the server's CPU count, even when the pool is off.
        try:
            cursor.execute("SELECT @@GLOBAL.thread_pool_size")
            value = cursor.fetchone()[0]
            return int(value) if value else None
        except Exception:  # noqa: BLE001 - a missing variable only loses a hint
            return None


class MySQL(Dialect):
    name = "mysql"

    def classify_expr(self, col: str, native_json: bool = False, brace_label: str = INVALID, decoder: str = appjson.SERVER) -> str:
        if not native_json:
            # A text column on MySQL: JSON_TYPE raises ERROR 3141 on invalid text.
            return super().classify_expr(col, brace_label=brace_label, decoder=decoder)
        # Native JSON holds only valid documents, which MySQL re-serializes as standard JSON
        # (no early-ended numbers, no loose escapes): no candidate for the decoder to settle.
        # JSON_TYPE reads the binary form cheaply.
        return (
            "CASE WHEN {c} IS NULL THEN 'SQL NULL'"
            " WHEN JSON_TYPE({c}) <> 'STRING' THEN JSON_TYPE({c})"
            " WHEN NOT JSON_VALID(JSON_UNQUOTE({c})) THEN 'STRING'"
            " WHEN JSON_TYPE(JSON_UNQUOTE({c})) = 'OBJECT' THEN 'STRING+OBJECT'"
            " ELSE 'STRING' END"
        ).format(c=col)

    def suspect_predicate(self, col: str, native_json: bool = False) -> str:
        if not native_json:
            return super().suspect_predicate(col)
        # LEFT() would serialize the binary document; JSON_TYPE reads it directly and is exact.
        return "%s IS NOT NULL AND JSON_TYPE(%s) <> 'OBJECT'" % (col, col)

    def restore_expr(self, source: str, native_json: bool = False) -> str:
        # A native JSON column refuses a binary string (ERROR 3144): read the bytes as utf8mb4,
        # the character set MySQL serializes JSON in.
        if native_json:
            return "CONVERT(%s USING utf8mb4)" % source
        return source

    def set_statement_timeout(self, cursor: Any, seconds: float) -> None:
        # MySQL's limit is in milliseconds and applies to SELECT only.
        cursor.execute("SET SESSION max_execution_time = %s", (int(seconds * 1000),))


class SQLite(Dialect):
    """A local development database (the runbook's Phase 1), read with the JSON1 functions."""

    name = "sqlite"
    quote_char = '"'
    placeholder = "?"
    TYPE_MAP = (
        ("object", "OBJECT"),
        ("array", "ARRAY"),
        ("integer", "INTEGER"),
        ("real", "DOUBLE"),
        ("true", "BOOLEAN"),
        ("false", "BOOLEAN"),
        ("null", "NULL"),
    )

    def sql(self, statement: str) -> str:
        return statement.replace("%s", "?")

    def classify_expr(self, col: str, native_json: bool = False, brace_label: str = INVALID, decoder: str = appjson.SERVER) -> str:
        # SQLite has no REGEXP by default and its own json_valid: the server's verdict stands.
        mapped = " ".join("WHEN '%s' THEN '%s'" % pair for pair in self.TYPE_MAP)
        return (
            "CASE WHEN {c} IS NULL THEN 'SQL NULL'"
            " WHEN substr({c}, 1, 1) = '{{' THEN CASE WHEN json_valid({c}) THEN 'OBJECT' ELSE '{b}' END"
            " WHEN NOT json_valid({c}) THEN 'INVALID'"
            " WHEN json_type({c}) <> 'text' THEN CASE json_type({c}) {m} ELSE upper(json_type({c})) END"
            " WHEN NOT json_valid(json_extract({c}, '$')) THEN 'STRING'"
            " WHEN json_type(json_extract({c}, '$')) = 'object' THEN 'STRING+OBJECT'"
            " ELSE 'STRING' END"
        ).format(c=col, m=mapped, b=brace_label)

    def date_expr(self, col: str) -> str:
        return "date(%s)" % col

    def left_expr(self, col: str, length: int) -> str:
        return "substr(%s, 1, %d)" % (col, int(length))

    def length_expr(self, col: str) -> str:
        return "length(%s)" % col

    def pin_sql_mode(self, cursor: Any) -> None:
        return None

    def begin_read_only_snapshot(self, cursor: Any) -> None:
        # The file is opened read-only; a deferred transaction keeps one snapshot.
        cursor.execute("BEGIN")

    def set_statement_timeout(self, cursor: Any, seconds: float) -> None:
        return None

    def columns(self, cursor: Any, database: str, table: str) -> dict[str, str]:
        cursor.execute("SELECT name, type FROM pragma_table_info(?)", (table,))
        return dict((row[0], (row[1] or "").lower()) for row in cursor.fetchall())

    def column_details(self, cursor: Any, database: str, table: str) -> list[dict[str, Any]]:
        cursor.execute('SELECT name, type, "notnull", hidden FROM pragma_table_xinfo(?) WHERE hidden IN (0, 2, 3)', (table,))
        out = []
        for name, declared, notnull, hidden in cursor.fetchall():
            declared = (declared or "").lower()
            data_type = declared.split("(")[0].strip() or "text"
            out.append(
                dict(
                    name=name,
                    data_type=data_type,
                    column_type=declared,
                    nullable=not notnull,
                    max_chars=None,
                    max_bytes=None,
                    charset=None,
                    collation=None,
                    generated=hidden in (2, 3),
                    on_update=False,
                )
            )
        return out

    def triggers(self, cursor: Any, database: str, table: str) -> list[tuple[str, str, str]]:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,))
        out = []
        for name, sql in cursor.fetchall():
            words = (sql or "").upper().split()
            timing = next((w for w in words if w in ("BEFORE", "AFTER", "INSTEAD")), "")
            event = next((w for w in words if w in ("INSERT", "UPDATE", "DELETE")), "")
            out.append((name, timing, event))
        return out

    def foreign_keys(self, cursor: Any, database: str, table: str) -> tuple[int, int]:
        cursor.execute("SELECT COUNT(*) FROM pragma_foreign_key_list(?)", (table,))
        return int(cursor.fetchone()[0]), 0

    def engine(self, cursor: Any, database: str, table: str) -> str | None:
        return "sqlite"

    def database_exists(self, cursor: Any, database: str) -> bool:
        return True

    def primary_key(self, cursor: Any, database: str, table: str) -> list[str]:
        cursor.execute("SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0", (table,))
        return [row[0] for row in sorted(cursor.fetchall(), key=lambda r: r[1])]

    def json_check_constraint(self, cursor: Any, database: str, table: str, column: str) -> bool:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        row = cursor.fetchone()
        return bool(row and "json_valid(" in (row[0] or "").lower().replace('"', ""))

    def table_estimate(self, cursor: Any, database: str, table: str) -> tuple[int, int]:
        return (0, 0)


DIALECTS = {"mariadb": MariaDB, "mysql": MySQL, "sqlite": SQLite}


def dialect_for(name: str, version: str = "") -> Dialect:
    """Return the Dialect for a flavour name."""
    try:
        return DIALECTS[name](version)
    except KeyError:
        raise JsonmendError("unknown dialect %r (expected one of %s)" % (name, ", ".join(sorted(DIALECTS)))) from None


def flavour_from_version(version: str | None) -> str:
    """'mariadb' when the server's VERSION() says so, else 'mysql'."""
    return "mariadb" if "mariadb" in (version or "").lower() else "mysql"

# MariaDB / MySQL 8 / PostgreSQL / SQLite differences: JSON type expressions, snapshots, timeouts, catalog.
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db import appjson
from ansible.module_utils.jsonmend.db.errors import JsonmendError, table_missing
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
    `column_details`, `table_missing` (the refusal naming a missing table), `triggers`,
    `foreign_keys`, `engine`, `database_exists`, `primary_key`, `json_check_constraint`,
    `table_estimate`, `server_cpus`.
    Not yet behind the seam (see docs/DESIGN.md): the advisory lock (GET_LOCK), replica status,
    server identity, the backup client tools and the engines' few `dialect.name` tests.
    The write guard (guard/): `trigger_details` (the table's triggers with order and body),
    `guard_sql_mode` and `set_lock_wait` (the DDL session), `guard_log_table_sql`,
    `guard_trigger_body` (observe logs, enforce refuses, judged by `classify_expr`),
    `create_trigger_sql`, `drop_trigger_sql`, `object_check_constraint_sql` (MySQL 8 only).
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

    def table_missing(self, cursor: Any, database: str, table: str) -> JsonmendError:
        """The error for a table column_details() did not find (a flavour may say where it is)."""
        return table_missing(database, table)

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

    # -- the write guard (guard/): watch or refuse a non-object at the moment of the write ---
    # The MySQL family's: row triggers ordered with FOLLOWS, SIGNAL for a refusal, a metadata-lock
    # wait in lock_wait_timeout. A PostgreSQL dialect fills the same methods (enforce: CHECK
    # (jsonb_typeof(col) = 'object') NOT VALID, then VALIDATE CONSTRAINT; observe: a plpgsql trigger).
    guard_privilege = "TRIGGER"
    lock_wait_errors = (1205,)  # ER_LOCK_WAIT_TIMEOUT: the table's metadata lock was not granted in time

    def trigger_details(self, cursor: Any, database: str, table: str) -> list[dict[str, Any]]:
        """Every trigger of the table: name, timing, event, order and body, in firing order."""
        cursor.execute(
            "SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER, ACTION_STATEMENT FROM information_schema.TRIGGERS"
            " WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE = %s ORDER BY EVENT_MANIPULATION, ACTION_TIMING, ACTION_ORDER",
            (database, table),
        )
        return [
            dict(name=name, timing=(timing or "").upper(), event=(event or "").upper(), order=int(order or 0), body=body or "")
            for name, timing, event, order, body in cursor.fetchall()
        ]

    def guard_sql_mode(self, cursor: Any) -> None:
        """The session mode the guard's triggers are created under (a trigger keeps its creator's).

        Not strict: under a strict sql_mode MariaDB turns the note JSON_VALID leaves on invalid text
        into an error inside a trigger (ERROR 4038), which would fail the application's write
        even in observe. The guard's own checks do not need it: enforce refuses with SIGNAL.
        """
        cursor.execute("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'")

    def set_lock_wait(self, cursor: Any, seconds: int) -> None:
        """Give up a DDL statement whose metadata lock is not granted within `seconds`."""
        cursor.execute("SET SESSION lock_wait_timeout = %s", (max(1, int(seconds)),))

    def guard_log_table_sql(self, log_table: str) -> str:
        """CREATE TABLE of the guard's log (observe): one row per non-object write."""
        return (
            "CREATE TABLE IF NOT EXISTS %s ("
            " `id` bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,"
            " `logged_at` datetime(6) NOT NULL,"
            " `event` varchar(6) CHARACTER SET ascii NOT NULL,"
            " `row_key` varchar(255) DEFAULT NULL,"
            " `value_class` varchar(16) CHARACTER SET ascii NOT NULL,"
            " `value_length` bigint unsigned DEFAULT NULL,"
            " `value_prefix` text DEFAULT NULL,"
            " `connection_user` varchar(400) DEFAULT NULL,"
            " KEY `logged_at` (`logged_at`)"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='jsonmend: writes the guard observed (guard.yml)'" % self.q(log_table)
        )

    def guard_trigger_body(self, mode: str, event: str, guard: dict[str, Any]) -> str:
        """The body of the guard's trigger for `mode` (observe, enforce) and `event` (INSERT, UPDATE).

        `guard`: table, column, key (validated names), native_json, nullable, log_table, value_chars.
        The class is the scan's (classify_expr): the guard and the scan agree on what is corrupt.
        An UPDATE that leaves the column as it was is not judged (a row corrupt before the guard
        stays updatable until it is repaired).
        """
        col = "NEW.%s" % self.q(guard["column"])
        allowed = ("OBJECT", "SQL NULL") if guard["nullable"] else ("OBJECT",)
        rule = "a JSON object or NULL" if guard["nullable"] else "a JSON object"
        classify = self.classify_expr(col, guard["native_json"])
        if mode == "enforce":
            action = (
                "DECLARE jsonmend_message VARCHAR(128);"
                " SET jsonmend_message = LEFT(CONCAT('jsonmend guard: %s.%s must be %s (rule: object), got ', %s), 128);"
                " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = jsonmend_message;" % (guard["table"], guard["column"], rule, classify)
            )
        else:
            # Observe never fails the application's write: a log that cannot be written is skipped.
            action = (
                "DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;"
                " INSERT INTO %s (`logged_at`, `event`, `row_key`, `value_class`, `value_length`, `value_prefix`, `connection_user`)"
                " VALUES (UTC_TIMESTAMP(6), '%s', LEFT(NEW.%s, 255), %s, LENGTH(%s), LEFT(%s, %d), USER());"
                % (self.q(guard["log_table"]), event, self.q(guard["key"]), classify, col, col, max(1, min(int(guard["value_chars"]), 4096)))
            )
        # The healthy path is one IF over the scan's classification (the predicate of
        # corrupt_predicate); variables and the class for the message or log only on a violation.
        # Created under guard_sql_mode (not strict): see there.
        judge = "IF (%s) NOT IN (%s) THEN BEGIN %s END; END IF;" % (classify, ", ".join("'%s'" % label for label in allowed), action)
        if event == "UPDATE":
            judge = "IF NOT (%s <=> OLD.%s) THEN %s END IF;" % (col, self.q(guard["column"]), judge)
        return "BEGIN /* jsonmend guard: %s */ %s END" % (mode, judge)

    def create_trigger_sql(self, name: str, timing: str, event: str, table: str, body: str, follows: str | None = None) -> str:
        """CREATE TRIGGER for `table`; `follows` (a trigger of the same timing and event) orders it after that one."""
        order = " FOLLOWS %s" % self.qn(follows) if follows else ""
        return "CREATE TRIGGER %s %s %s ON %s FOR EACH ROW%s %s" % (self.q(name), timing, event, self.q(table), order, body)

    def drop_trigger_sql(self, name: str) -> str:
        return "DROP TRIGGER IF EXISTS %s" % self.qn(name)

    def object_check_constraint_sql(self, table: str, column: str, name: str) -> str:
        """ALTER TABLE adding a CHECK that the column holds an object (MySQL 8 only: rebuilds the table)."""
        raise JsonmendError("%s has no JSON object CHECK constraint the guard can use: use the triggers (observe, enforce)" % self.name)


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

    def object_check_constraint_sql(self, table: str, column: str, name: str) -> str:
        # MySQL 8.0.16+ enforces CHECK; adding one copies the table (ALGORITHM=COPY, writes blocked):
        # the trigger guard is the online way, this one only on request.
        return "ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NULL OR JSON_TYPE(%s) = 'OBJECT')" % (
            self.q(table),
            self.q(name),
            self.q(column),
            self.q(column),
        )


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


# JSON whitespace, and the first character of any JSON value after it.
PG_JSON_START = r'^[ \t\n\r]*[][{"0-9tfn-]'
PG_BRACED = r"^[ \t\n\r]*\{"
PG_INTEGER_TEXT = r"^[ \t\n\r]*-?[0-9]+[ \t\n\r]*$"
# pg_catalog type names (typname) as the inspector names them (db/inspector.py's type lists).
PG_TYPES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double",
    "bool": "boolean",
    "bpchar": "char",
    "timestamptz": "timestamp",
    "timetz": "time",
}
PG_JSON_KINDS = ("jsonb", "json")


class PostgreSQL(Dialect):
    """PostgreSQL 13+ through psycopg 3: `jsonb`, `json` and text columns.

    Names: a `table` may be schema-qualified (`schema.table`, default schema `public`); every
    name is double-quoted, so it keeps its case. Classes: `jsonb` is typed by jsonb_typeof,
    `json` by json_typeof (no cast: a json value holding \\u0000 cannot become jsonb and would abort
    the statement), text by pg_input_is_valid on 16+. Before 16 a cast of invalid text aborts the
    whole statement, so the SQL settles only SQL NULL and text that cannot start a JSON value
    (INVALID); every other text row is labelled UNSETTLED (JSON?) and classified in Python
    (appjson.classify_text), as are strings whose text may be an object (STRING+OBJECT): a
    regular expression proving JSON valid costs 15-50x the client-side parse (docs/DESIGN.md).
    A column's kind (jsonb, json, text) is the one column_details() last reported for its name.
    """

    name = "postgresql"
    quote_char = '"'

    def group_value_expr(self, expr: str) -> str:
        """PostgreSQL refuses a bare column beside a GROUP BY: the listed row's group holds one row, so
        MIN is its value (text, numbers, timestamps and dates; a uuid or boolean grouping column would
        need a cast)."""
        return "MIN(%s)" % expr

    def __init__(self, version: str = "") -> None:
        super().__init__(version)
        found = re.search(r"PostgreSQL (\d+)", version or "")
        self.major = int(found.group(1)) if found else 0
        self.column_types = {}  # quoted column name -> data type, filled by column_details()

    # -- names ----------------------------------------------------------------------
    def q(self, identifier: str) -> str:
        """Quote a validated identifier; a table may be `schema.table`."""
        parts = identifier.split(".") if isinstance(identifier, str) else [identifier]
        if len(parts) > 2:
            validate_identifier(identifier, "identifier")
        return ".".join(super(PostgreSQL, self).q(part) for part in parts)

    @staticmethod
    def split_table(table: str) -> tuple[str, str]:
        """(schema, table) of a `table` option: `public` unless it names a schema."""
        schema, name = table.rpartition(".")[::2]
        return schema or "public", name

    def column_kind(self, col: str, native_json: bool = False) -> str:
        """jsonb, json or text: what the inspection saw for the quoted column `col`."""
        kind = self.column_types.get(col)
        if kind in PG_JSON_KINDS:
            return kind
        if kind is None and native_json:
            return "json"
        return "text"

    # -- JSON classes ---------------------------------------------------------------
    @staticmethod
    def _jsonb_classes(e: str, string_check: str) -> str:
        """CASE over jsonb_typeof(e) (never SQL NULL here); `string_check` flags possible STRING+OBJECT."""
        return (
            "CASE jsonb_typeof({e}) WHEN 'object' THEN 'OBJECT' WHEN 'array' THEN 'ARRAY' WHEN 'boolean' THEN 'BOOLEAN'"
            " WHEN 'null' THEN 'NULL' WHEN 'number' THEN CASE WHEN ({e})::text ~ '{i}' THEN 'INTEGER' ELSE 'DOUBLE' END"
            " WHEN 'string' THEN CASE WHEN {s} THEN '{u}' ELSE 'STRING' END ELSE upper(jsonb_typeof({e})) END"
        ).format(e=e, i=PG_INTEGER_TEXT, s=string_check, u=appjson.UNSETTLED)

    def classify_expr(self, col: str, native_json: bool = False, brace_label: str = INVALID, decoder: str = appjson.SERVER, kind: str | None = None) -> str:
        """Label each value (see Dialect.classify_expr); UNSETTLED rows are settled by appjson.resolve()."""
        kind = kind or self.column_kind(col, native_json)
        if kind == "jsonb":
            # jsonb never holds \u0000: extracting a string's text cannot fail.
            return "CASE WHEN {c} IS NULL THEN 'SQL NULL' ELSE {t} END".format(c=col, t=self._jsonb_classes(col, "(%s #>> '{}') ~ '%s'" % (col, PG_BRACED)))
        if kind == "json":
            # A string holding '{' anywhere in its raw text may be an object: Python decides.
            return (
                "CASE WHEN {c} IS NULL THEN 'SQL NULL' ELSE CASE json_typeof({c}) WHEN 'object' THEN 'OBJECT' WHEN 'array' THEN 'ARRAY'"
                " WHEN 'boolean' THEN 'BOOLEAN' WHEN 'null' THEN 'NULL'"
                " WHEN 'number' THEN CASE WHEN ({c})::text ~ '{i}' THEN 'INTEGER' ELSE 'DOUBLE' END"
                " WHEN 'string' THEN CASE WHEN strpos(({c})::text, '{{') > 0 THEN '{u}' ELSE 'STRING' END"
                " ELSE upper(json_typeof({c})) END END"
            ).format(c=col, i=PG_INTEGER_TEXT, u=appjson.UNSETTLED)
        if self.major >= 16:
            braced = BRACED_INVALID if decoder == appjson.PYTHON else brace_label
            return (
                "CASE WHEN {c} IS NULL THEN 'SQL NULL' WHEN NOT pg_input_is_valid({c}, 'jsonb')"
                " THEN CASE WHEN {c} ~ '{b}' THEN '{bl}' ELSE 'INVALID' END ELSE {t} END"
            ).format(c=col, b=PG_BRACED, bl=braced, t=self._jsonb_classes("(%s)::jsonb" % col, "((%s)::jsonb #>> '{}') ~ '%s'" % (col, PG_BRACED)))
        # Before 16: no safe parse in SQL (see the class docstring).
        return "CASE WHEN {c} IS NULL THEN 'SQL NULL' WHEN {c} !~ '{s}' THEN 'INVALID' ELSE '{u}' END".format(c=col, s=PG_JSON_START, u=appjson.UNSETTLED)

    def suspect_predicate(self, col: str, native_json: bool = False) -> str:
        kind = self.column_kind(col, native_json)
        if kind in PG_JSON_KINDS:
            # The binary or parsed type is exact and cheap; no text to cut.
            return "%s IS NOT NULL AND %s_typeof(%s) <> 'object'" % (col, kind, col)
        return "%s IS NOT NULL AND %s <> '{'" % (col, self.left_expr(col, 1))

    # -- sessions -------------------------------------------------------------------
    def pin_sql_mode(self, cursor: Any) -> None:
        # PostgreSQL has no sql_mode: it never cuts or converts a value silently.
        return None

    def set_statement_timeout(self, cursor: Any, seconds: float) -> None:
        # Milliseconds; set_config because SET takes no bound parameter. A rollback undoes it.
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", (str(max(1, int(seconds * 1000))),))

    def begin_read_only_snapshot(self, cursor: Any) -> None:
        # As MySQL's START TRANSACTION, end what the inspection's reads opened first.
        conn = cursor.connection
        if conn.autocommit:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return
        conn.commit()
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

    # -- expressions ----------------------------------------------------------------
    def restore_expr(self, source: str, native_json: bool = False, column_type: str | None = None) -> str:
        text = "convert_from(%s, 'UTF8')" % source
        return "CAST(%s AS %s)" % (text, column_type) if column_type in PG_JSON_KINDS else text

    def fingerprint_expr(self, columns_sql: Iterable[str]) -> str:
        parts = ", ".join("COALESCE(md5((%s)::text), '-')" % c for c in columns_sql)
        return "encode(sha256(convert_to(concat_ws(',', %s), 'UTF8')), 'hex')" % parts

    def date_expr(self, col: str) -> str:
        # The session's TimeZone is UTC (connection.py), so a timestamptz falls on its UTC day.
        return "(%s)::date" % col

    def left_expr(self, col: str, length: int) -> str:
        return "left((%s)::text, %d)" % (col, int(length))

    def length_expr(self, col: str) -> str:
        # Bytes, as MariaDB's LENGTH(): samples compare it with the UTF-8 size of their value.
        return "octet_length((%s)::text)" % col

    # -- catalog ----------------------------------------------------------------------
    _RELATION = " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')"

    def columns(self, cursor: Any, database: str, table: str) -> dict[str, str]:
        return dict((c["name"], c["data_type"]) for c in self.column_details(cursor, database, table))

    def column_details(self, cursor: Any, database: str, table: str) -> list[dict[str, Any]]:
        cursor.execute(
            "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,"
            " CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 END,"
            " coll.collname, a.attgenerated <> ''"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_collation coll ON coll.oid = a.attcollation"
            " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
            " ORDER BY a.attnum",
            self.split_table(table),
        )
        out = []
        for name, typname, column_type, nullable, chars, collation, generated in cursor.fetchall():
            data_type = PG_TYPES.get(typname, typname)
            self.column_types[self.qn(name)] = data_type
            out.append(
                dict(
                    name=name,
                    data_type=data_type,
                    column_type=column_type,
                    nullable=bool(nullable),
                    max_chars=None if chars is None else int(chars),
                    max_bytes=None,
                    charset="UTF8" if data_type in ("text", "varchar", "char", "json", "jsonb") else None,
                    collation=collation,
                    generated=bool(generated),
                    on_update=False,  # PostgreSQL has no ON UPDATE; triggers show in triggers()
                )
            )
        return out

    def table_missing(self, cursor: Any, database: str, table: str) -> JsonmendError:
        schema, name = self.split_table(table)
        cursor.execute("SELECT COUNT(*) FROM pg_namespace WHERE nspname = %s", (schema,))
        if not cursor.fetchone()[0]:
            return JsonmendError("schema %r does not exist in database %r (table %r; write another schema's table as schema.table)" % (schema, database, table))
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = %s AND c.relkind IN ('r', 'p') AND n.nspname <> %s ORDER BY 1",
            (name, schema),
        )
        others = [row[0] for row in cursor.fetchall()]
        if others:
            return JsonmendError(
                "table %s.%s does not exist in database %r, but schema %s has a table %s: set table to %s"
                % (schema, name, database, " and ".join(others), name, " or ".join("%s.%s" % (o, name) for o in others))
            )
        return JsonmendError("table %s.%s does not exist in database %r (or the user cannot see it)" % (schema, name, database))

    def triggers(self, cursor: Any, database: str, table: str) -> list[tuple[str, str, str]]:
        cursor.execute(
            "SELECT tg.tgname, tg.tgtype FROM pg_trigger tg WHERE NOT tg.tgisinternal AND tg.tgrelid = (SELECT c.oid" + self._RELATION + ") ORDER BY 1",
            self.split_table(table),
        )
        out = []
        for name, bits in cursor.fetchall():
            # pg_trigger.tgtype: 2 BEFORE, 64 INSTEAD OF, else AFTER; 4 INSERT, 8 DELETE, 16 UPDATE, 32 TRUNCATE.
            timing = "BEFORE" if bits & 2 else "INSTEAD OF" if bits & 64 else "AFTER"
            for bit, event in ((4, "INSERT"), (16, "UPDATE"), (8, "DELETE"), (32, "TRUNCATE")):
                if bits & bit:
                    out.append((name, timing, event))
        return out

    def foreign_keys(self, cursor: Any, database: str, table: str) -> tuple[int, int]:
        cursor.execute(
            "SELECT COUNT(*) FILTER (WHERE conrelid = r.oid), COUNT(*) FILTER (WHERE confrelid = r.oid)"
            " FROM pg_constraint, (SELECT c.oid" + self._RELATION + ") r WHERE contype = 'f' AND (conrelid = r.oid OR confrelid = r.oid)",
            self.split_table(table),
        )
        row = cursor.fetchone() or (0, 0)
        return int(row[0] or 0), int(row[1] or 0)

    def engine(self, cursor: Any, database: str, table: str) -> str | None:
        cursor.execute(
            "SELECT COALESCE(am.amname, 'heap')" + self._RELATION.replace(" WHERE", " LEFT JOIN pg_am am ON am.oid = c.relam WHERE"), self.split_table(table)
        )
        row = cursor.fetchone()
        return row[0] if row else None

    def database_exists(self, cursor: Any, database: str) -> bool:
        cursor.execute("SELECT COUNT(*) FROM pg_database WHERE datname = %s", (database,))
        return cursor.fetchone()[0] > 0

    def primary_key(self, cursor: Any, database: str, table: str) -> list[str]:
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            " WHERE i.indisprimary AND i.indrelid = (SELECT c.oid" + self._RELATION + ") ORDER BY k.ord",
            self.split_table(table),
        )
        return [row[0] for row in cursor.fetchall()]

    def json_check_constraint(self, cursor: Any, database: str, table: str, column: str) -> bool:
        """True when a CHECK constraint on the column parses it as JSON (a ::json/::jsonb cast, IS JSON)."""
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c' AND conrelid = (SELECT c.oid" + self._RELATION + ")",
            self.split_table(table),
        )
        for (clause,) in cursor.fetchall():
            text = (clause or "").lower().replace('"', "")
            if "json" in text and column.lower() in text:
                return True
        return False

    def table_estimate(self, cursor: Any, database: str, table: str) -> tuple[int, int]:
        # reltuples is -1 before the first VACUUM/ANALYZE (PostgreSQL 14+).
        cursor.execute("SELECT GREATEST(c.reltuples, 0)::bigint, pg_total_relation_size(c.oid)" + self._RELATION, self.split_table(table))
        row = cursor.fetchone()
        return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)

    def server_cpus(self, cursor: Any) -> int | None:
        # No SQL function reports the server's CPUs; the scan then assumes 4.
        return None


DIALECTS = {"mariadb": MariaDB, "mysql": MySQL, "sqlite": SQLite, "postgresql": PostgreSQL}


def dialect_for(name: str, version: str = "") -> Dialect:
    """Return the Dialect for a flavour name."""
    try:
        return DIALECTS[name](version)
    except KeyError:
        raise JsonmendError("unknown dialect %r (expected one of %s)" % (name, ", ".join(sorted(DIALECTS)))) from None


def flavour_from_version(version: str | None) -> str:
    """'mariadb' when the server's VERSION() says so, else 'mysql'."""
    return "mariadb" if "mariadb" in (version or "").lower() else "mysql"

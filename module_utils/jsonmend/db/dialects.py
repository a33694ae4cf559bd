# MariaDB / MySQL 8 / PostgreSQL / SQLite differences: JSON type expressions, snapshots, timeouts, catalog.
from __future__ import annotations

import hashlib
import json
import re
import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db import appjson
from ansible.module_utils.jsonmend.db.errors import JsonmendError, table_missing
from ansible.module_utils.jsonmend.db.identifiers import quote_name, validate_identifier

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

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
# The write guard's objects: every one jsonmend installs, and only those, is named with the prefix;
# the marker in a body says which mode installed it (guard/guard.py reads both).
GUARD_PREFIX = "jsonmend_guard_"
GUARD_ENFORCE_MARKER = "/* jsonmend guard: enforce */"
STRICT_SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
MYSQL_COLUMN_TYPE_RE = re.compile(r"[a-z]+(\(\d+(,\d+)?\))?( unsigned)?( zerofill)?")
# A PostgreSQL key type as format_type() writes it: integer, bigint, character varying(36), text ...
PG_COLUMN_TYPE_RE = re.compile(r"[a-z][a-z ]*(\(\d+\))?")


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
    definition of corrupt), `corrupt_predicate`, `suspect_predicate` (cheap, no parse), `suspect_is_exact`
    (that test is the column's own type test: every corrupt row is listed by key),
    `restore_expr` (a LONGBLOB pre-image back into the column's type), `fingerprint_expr` (hash of
    a row's stored columns), `date_expr`, `left_expr`, `length_expr`, `key_bucket_expr` (neighbouring
    integer keys share a bucket: the one-pass scan counts healthy rows per bucket), `group_value_expr`
    (a column of a one-row group).
    Sessions: `pin_sql_mode` (strict writers), `scan_session` (a scan's settings: PostgreSQL plans no
    parallel workers of its own), `begin_read_only_snapshot` (one snapshot for every read of a scan),
    `set_statement_timeout` (must be filled).
    Catalog (read by db/inspector.py, the one inspection of the target): `columns`,
    `column_details`, `table_missing` (the refusal naming a missing table), `triggers`,
    `foreign_keys`, `engine`, `database_exists`, `primary_key`, `json_check_constraint`,
    `table_estimate`, `server_cpus`.
    Writers (repair/, undo; MySQL-family defaults, PostgreSQL overrides): `error_kind` (retry, a
    row's data, fatal), `open_writer_session`, `begin_chunk` (a chunk's transaction and its
    timeouts), `allow_invalid_restore`, `refresh_statistics` (the quarantine's, as it grows: PostgreSQL),
    `replication_stance` (binary log or WAL),
    `statement_warnings`, `busy_sessions`, `replica_lag`; the advisory lock (`try_advisory_lock`,
    `advisory_lock_holder`, `release_advisory_lock`); `missing_grants` (each as the GRANT or
    privilege needed); `explain_access`, `access_ok`; SQL pieces `force_index`, `index_name`,
    `for_update`, `null_safe_equal`, `bytes_expr`, `to_bytes`, `bytes_left`, `utc_now_sql`,
    `update_join`, `in_list` (a key list: one array parameter on PostgreSQL), `with_returning` (a chunk's UPDATE and
    quarantine INSERT as one statement where the server can: PostgreSQL's data-modifying WITH), `corrupt_filter` (a
    chunk's candidates, cheaper where exact), `unwrap_expr`, `wrap_expr`, `upsert_clause`, `json_text_set_object` (the deploy
    records, repair/deploys.py); the bookkeeping tables' DDL `key_type_sql`,
    `sibling_table`, `create_table` and its `column_ddl` (DDL_TYPES), `column_names`; `transactional` (the engine).
    Backups (backup/): `checksum_hashes` and `checksum_row_expr` (the content checksum's SQL),
    `table_location` (a backup's table name as schema and table), `table_names` (what exists now);
    the row digests per key range (backup/ranges.py): `digest_session`, `digest_key_text`,
    `digest_join_sql`, `key_bounds_sql`, `range_bucket_expr`.
    Not yet behind the seam (see docs/DESIGN.md): server identity and the dump/restore tools
    (backup/clitools.py for the MySQL family, backup/pg_tools.py for PostgreSQL).
    The write guard (guard/): `trigger_details` (the table's triggers with order and body),
    `guard_sql_mode` and `set_lock_wait` (the DDL session), `guard_log_table_sql`,
    `guard_trigger_body` (observe logs, enforce refuses, judged by `classify_expr`),
    `create_trigger_sql`, `drop_trigger_sql`; enforce as a CHECK constraint on request
    (enforce_with=constraint: `guard_check_body`, `guard_check_create_sql`, `guard_check_drop_sql`,
    `guard_checks_sql`, `guard_unchanged`; it copies the table: `guard_constraint_rebuilds`);
    what differs on PostgreSQL: `guard_create_sql`, `guard_drop_sql`, `guard_validate_sql` (enforce is
    always a CHECK constraint, added online), `guard_grant_problems`, `guard_error_code`.
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

    def restore_expr(self, source: str, native_json: bool = False, column_type: str | None = None) -> str:
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

    def suspect_is_exact(self, col: str, native_json: bool = False) -> bool:
        """Is suspect_predicate true for every row whose class is neither OBJECT nor SQL NULL (a typed
        column's own type test), so that the one-pass scan lists every such row by key and needs no
        key buckets or key ranges for the rest? False where a '{'-first text may still be corrupt."""
        return False

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

    def group_value_expr(self, expr: str) -> str | None:
        """`expr` in a GROUP BY whose groups of interest hold one row (the scan's listed rows).

        The MySQL family takes the bare expression: pin_sql_mode's mode has no ONLY_FULL_GROUP_BY
        (SQLite allows bare columns too), and it costs less per row than an aggregate. A server
        that refuses bare columns returns an aggregate such as MIN(expr), or None: the scan then reads
        the listed rows' values by key after the pass.
        """
        return expr

    def scan_session(self, cursor: Any) -> None:
        """Settings of a scan's session before its snapshot (the MySQL family needs none)."""
        return None

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

    def column_names(self, cursor: Any, database: str, table: str) -> list[str]:
        """The table's column names, [] if it is missing (a bookkeeping table's; nothing recorded)."""
        return list(self.columns(cursor, database, table))

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

    # -- content checksums (backup/checksums.py) --------------------------------------
    def checksum_hashes(self) -> tuple[str, tuple[str, str]]:
        """(algorithm tag, SQL templates of two 32-bit row hashes) the server offers.

        Two independent 32-bit hashes summed over the rows: one changed row always changes
        the first; damage spread over many rows goes unnoticed with odds near 2**-64. MySQL and
        MariaDB before 10.8 lack CRC32C: the first 32 bits of MD5 stand in for it.
        """
        return "crc32+md5", ("CRC32(%s)", "CAST(CONV(LEFT(MD5(%s), 8), 16, 10) AS UNSIGNED)")

    def table_location(self, table: str, database: str) -> tuple[str, str]:
        """(schema, table name) for information_schema and qualified names: the database is the schema here."""
        return database, table

    def table_names(self, cursor: Any, database: str) -> list[str]:
        """Tables and views of the database, as backups name them (a restore tells which exist)."""
        cursor.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,))
        return [row[0] for row in cursor.fetchall()]

    def checksum_row_expr(self, columns: Iterable[tuple[str, bool]]) -> str:
        """SQL for one row's bytes: each column as <length>:<bytes>, or '-' when NULL.

        Length prefixes make the encoding unambiguous ('ab','c' differs from 'a','bc'), and the NULL
        marker cannot be confused with any value. Character columns are compared as bytes, so rows
        with different collations concatenate without a collation error. Names come from the
        catalog (or a manifest written from it): quoted, never refused.
        """
        parts = []
        for name, is_character in columns:
            col = self.qn(name)
            value = "CAST(%s AS BINARY)" % col if is_character else col
            parts.append("IFNULL(CONCAT(LENGTH(%s), ':', %s), '-')" % (col, value))
        return "CONCAT(%s)" % ", ".join(parts)

    # -- key ranges and per-row digests (backup/ranges.py) ------------------------------
    def digest_session(self, db: Any) -> None:
        """Let one statement return a whole range's joined digests (GROUP_CONCAT stops at 1 KiB by default)."""
        db.query("SET SESSION group_concat_max_len = %d" % (1 << 26))

    def digest_key_text(self, key_sql: str, kind: str) -> str:
        """SQL for a key as the digests spell it: decimal for integers, else the hex of its bytes, so a
        key holding ',' or ';' (the digests' separators) or any character set stays unambiguous."""
        return key_sql if kind == "int" else "HEX(%s)" % key_sql

    def digest_join_sql(self, key_text: str, hash1: str, hash2: str, order: str) -> str:
        """Aggregate joining a range's rows as 'key,hash1,hash2;...' in key order."""
        return "GROUP_CONCAT(%s, ',', %s, ',', %s ORDER BY %s SEPARATOR ';')" % (key_text, hash1, hash2, order)

    def key_bounds_sql(self, key_sql: str, kind: str) -> str:
        """First and last key of a range's rows, as two aggregates."""
        return "MIN(%s), MAX(%s)" % (key_sql, key_sql)

    def range_bucket_expr(self, key_sql: str, firsts: Iterable[int]) -> str:
        """Number of the range an integer key falls in, given each range's first key but the first's
        (0 below the second range's first key): INTERVAL's binary search on the server."""
        firsts = [str(int(v)) for v in firsts]
        return "INTERVAL(%s, %s)" % (key_sql, ", ".join(firsts)) if firsts else "0"

    # -- writers: repair and undo (MySQL-family defaults) ----------------------------
    # MySQL error numbers: lock wait timeout and deadlock are retried; the rest of NOT_ROW_ERRORS
    # end the chunk; any other server error (below 2000) is about the row's data.
    RETRYABLE_ERRORS = (1205, 1213)  # lock wait timeout, deadlock
    # Errors that are not about one row's data: they end the chunk (and are retried or reported),
    # never turn a row into "unwritable". Codes from 2000 up are the client's (connection lost...).
    NOT_ROW_ERRORS = RETRYABLE_ERRORS + (
        1044,  # access denied to the database
        1045,  # access denied
        1053,  # server shutdown
        1054,  # unknown column
        1064,  # syntax error
        1142,  # command denied on a table
        1143,  # command denied on a column
        1146,  # table does not exist
        1180,  # commit failed
        1181,  # rollback failed
        1227,  # privilege needed
        1317,  # query interrupted
        1927,  # connection killed
        1969,  # max_statement_time exceeded
        3024,  # max_execution_time exceeded
    )
    # Logical column types of the bookkeeping tables (repair/ledger.py) in this server's DDL.
    DDL_TYPES = {
        "serial": "bigint unsigned NOT NULL AUTO_INCREMENT",
        "ascii64": "varchar(64) CHARACTER SET ascii",
        "ascii_hash": "char(64) CHARACTER SET ascii",
        "bytes": "longblob",
        "time": "datetime(6)",
        "text": "text",
        "ascii_sha1": "char(40) CHARACTER SET ascii",
        "long_text": "longtext",
    }
    current_user_sql = "CURRENT_USER()"

    def error_kind(self, exc: BaseException) -> str:
        """'retry' (lock wait, deadlock), 'row' (the written row's data, a trigger's refusal) or 'fatal'."""
        code = exc.args[0] if getattr(exc, "args", None) else None
        if code in self.RETRYABLE_ERRORS:
            return "retry"
        return "row" if isinstance(code, int) and code < 2000 and code not in self.NOT_ROW_ERRORS else "fatal"

    def open_writer_session(self, db: Any, lock_wait_seconds: int) -> None:
        """READ COMMITTED (no gap locks on the application's rows) and a short row-lock wait."""
        db.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        db.query("SET SESSION innodb_lock_wait_timeout = %s", (int(lock_wait_seconds),))

    def begin_chunk(self, db: Any, lock_wait_seconds: int, statement_seconds: float) -> None:
        """Start one chunk's transaction (the session's timeouts cover it on the MySQL family)."""
        db.query("START TRANSACTION")

    def allow_invalid_restore(self, db: Any) -> None:
        """Let undo put back invalid text a CHECK would refuse (only MariaDB needs and allows it)."""
        return None

    def refresh_statistics(self, db: Any, table_sql: str) -> None:
        """Bring the planner's statistics of a table the run keeps writing up to date (the quarantine).

        InnoDB recalculates them itself once a tenth of a table has changed (innodb_stats_auto_recalc)."""
        return None

    def replication_stance(self, db: Any, log_wanted: bool, check_mode: bool) -> dict[str, Any]:
        """Whether the session's changes reach replicas (binary log); sets sql_log_bin as asked."""
        # Imported here: connection.py imports this module.
        from ansible.module_utils.jsonmend.db.connection import driver_error_types, driver_message

        log_bin, session_log_bin, fmt = db.query_one("SELECT @@GLOBAL.log_bin, @@SESSION.sql_log_bin, @@SESSION.binlog_format")
        log_bin, session_log_bin = bool(int(log_bin)), bool(int(session_log_bin))
        if not check_mode and session_log_bin != log_wanted:
            try:
                db.query("SET SESSION sql_log_bin = %s", (1 if log_wanted else 0,))
            except driver_error_types() as exc:
                raise JsonmendError(
                    "could not set sql_log_bin=%d for the session (needs SUPER or BINLOG ADMIN): %s" % (1 if log_wanted else 0, driver_message(exc))
                ) from None
            session_log_bin = log_wanted
        if log_bin and session_log_bin and (fmt or "").upper() == "STATEMENT" and not check_mode:
            # InnoDB cannot log READ COMMITTED writes as statements.
            try:
                db.query("SET SESSION binlog_format = 'ROW'")
                fmt = "ROW"
            except driver_error_types() as exc:
                raise JsonmendError(
                    "binlog_format is STATEMENT, which cannot log READ COMMITTED changes, and the session could not switch to ROW: %s" % driver_message(exc)
                ) from None
        logged = log_bin and session_log_bin
        if logged:
            message = "changes go to the binary log (%s): replicas apply them" % fmt
        elif not log_bin:
            message = "binary logging is off on this server: the changes reach no replica and no binlog-based backup"
        else:
            message = "sql_log_bin=0 for this session: the changes are NOT in the binary log; replicas will not get them"
        return dict(log_bin=log_bin, sql_log_bin=session_log_bin, format=fmt, logged=logged, message=message)

    def statement_warnings(self, db: Any, cur: Any) -> str | None:
        """The warnings (not notes) of the cursor's last statement as one reason, or None."""
        if not getattr(cur, "warning_count", 0):
            return None
        rows = [row for row in db.query("SHOW WARNINGS") if str(row[0]).lower() != "note"]
        if not rows:
            return None
        return "; ".join("(%s) %s" % (code, message) for _level, code, message in rows[:3])

    def busy_sessions(self, db: Any) -> int:
        """Statements running on the server now (Threads_running)."""
        row = db.query_one("SHOW GLOBAL STATUS LIKE 'Threads_running'")
        return int(row[1]) if row else 0

    def replica_lag(self, db: Any, name: str) -> float | None:
        """Seconds the server at `db` lags behind its source, None when replication is not running."""
        cur = db.conn.cursor()
        try:
            cur.execute("SHOW ALL SLAVES STATUS")
            names = [d[0] for d in cur.description or ()]
            rows = cur.fetchall()
        finally:
            cur.close()
        if not rows:
            raise JsonmendError("%s is not a replica (SHOW REPLICA STATUS is empty): list replicas, not the primary, or give replica_lag_query" % name)
        worst = 0.0
        for row in rows:
            fields = dict(zip(names, row, strict=True))
            value = fields.get("Seconds_Behind_Master", fields.get("Seconds_Behind_Source"))
            if value is None:
                return None
            worst = max(worst, float(value))
        return worst

    # Advisory lock: one writing jsonmend run per table (db/locks.py).
    def try_advisory_lock(self, db: Any, name: str, timeout: float) -> bool:
        row = db.query_one("SELECT GET_LOCK(%s, %s)", (name, int(timeout)))
        return bool(row and row[0] == 1)

    def advisory_lock_holder(self, db: Any, name: str) -> str:
        """' by connection N (user ... from ...)' for the message, or ''."""
        holder = db.query_one("SELECT IS_USED_LOCK(%s)", (name,))
        holder_id = holder[0] if holder else None
        if holder_id is None:
            return ""
        detail = " by connection %s" % holder_id
        try:
            row = db.query_one("SELECT USER, HOST, TIME FROM information_schema.PROCESSLIST WHERE ID = %s", (holder_id,))
        except Exception:  # noqa: BLE001 - only a hint for the message
            row = None
        return detail + (" (user %s from %s, %ss in its current state)" % row if row else "")

    def release_advisory_lock(self, db: Any, name: str) -> None:
        db.query("SELECT RELEASE_LOCK(%s)", (name,))

    def missing_grants(self, db: Any, database: str, needed_by_table: Iterable[tuple[str, Iterable[str]]]) -> tuple[list[str], str]:
        """(what is missing, what the server says the user holds) for [(table, privileges)]."""
        from ansible.module_utils.jsonmend.db.grants import missing_privileges, parse_grants, redact

        lines = [row[0] for row in db.query("SHOW GRANTS")]
        grants = parse_grants(lines)
        missing = []
        for table, needed in needed_by_table:
            for privilege in missing_privileges(grants, database, table, needed):
                missing.append("%s on %s.%s" % (privilege, database, table))
        return missing, "SHOW GRANTS: %s" % " | ".join(redact(line) for line in lines)

    def explain_access(self, cur: Any, statement: str, args: Any) -> dict[str, Any]:
        """How the statement reads the table: dict(type, key, rows, empty)."""
        cur.execute("EXPLAIN " + statement, args)
        names = [d[0].lower() for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        first = rows[0] if rows else {}
        empty = first.get("type") is None and "impossible" in str(first.get("extra") or "").lower()
        return dict(type=first.get("type"), key=first.get("key"), rows=first.get("rows"), empty=empty)

    GOOD_ACCESS = ("range", "const", "eq_ref", "ref", "system")

    def access_ok(self, entry: dict[str, Any], key: str) -> bool:
        """True when EXPLAIN shows a range (or better) of index `key`."""
        return entry["type"] in self.GOOD_ACCESS and entry["key"] == key

    def force_index(self, table_sql: str, index: str, alias: str = "") -> str:
        """A table reference pinned to one index (the optimizer's estimates never pick a scan)."""
        return "%s%s FORCE INDEX (%s)" % (table_sql, " AS %s" % alias if alias else "", index)

    def index_name(self, table: str, index: str) -> str:
        """The name a bookkeeping table's index gets (per table on MySQL)."""
        return index

    def for_update(self, alias: str = "") -> str:
        """Lock the rows a SELECT reads (`alias`: the table of a join whose rows must be locked)."""
        return " FOR UPDATE"

    def null_safe_equal(self, a: str, b: str) -> str:
        return "%s <=> %s" % (a, b)

    def bytes_expr(self, expr: str) -> str:
        """The stored bytes of a value, for exact comparison with a quarantined pre-image."""
        return "CAST(%s AS BINARY)" % expr

    def to_bytes(self, expr: str) -> str:
        """A column value as it goes into a LONGBLOB / bytea pre-image."""
        return expr

    def bytes_left(self, expr: str, length: int) -> str:
        """The first characters of a stored pre-image, as text."""
        return "LEFT(%s, %d)" % (expr, int(length))

    def utc_now_sql(self) -> str:
        return "UTC_TIMESTAMP(6)"

    def upsert_clause(self, key: str, columns: Iterable[str]) -> str:
        """What follows an INSERT so that a row with the same `key` gets the new `columns` instead
        (more `, column = expression` may be appended)."""
        return " ON DUPLICATE KEY UPDATE " + ", ".join("%s = VALUES(%s)" % (self.q(c), self.q(c)) for c in columns)

    def json_text_set_object(self, col: str, key: str, fields: Iterable[str]) -> str:
        """`col` (JSON text of an object) with `key` set to an object of `fields`, each value a %s placeholder."""
        validate_identifier(key, "JSON key")
        pairs = ", ".join("'%s', %%s" % validate_identifier(f, "JSON key") for f in fields)
        return "JSON_SET(%s, '$.%s', JSON_OBJECT(%s))" % (col, key, pairs)

    def update_join(
        self, target: str, alias: str, source: str, source_alias: str, on: str, assignments: Iterable[tuple[str, str]], where: str, index: str = ""
    ) -> str:
        """UPDATE target rows joined to a source table; assignments are (column, expression)."""
        head = self.force_index(target, index, alias) if index else "%s AS %s" % (target, alias)
        sets = ", ".join("%s.%s = %s" % (alias, c, e) for c, e in assignments)
        return "UPDATE %s JOIN %s AS %s ON %s SET %s WHERE %s" % (head, source, source_alias, on, sets, where)

    def in_list(self, expr: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """(condition, args): `expr` is one of `values`."""
        return "%s IN (%s)" % (expr, ", ".join(["%s"] * len(values))), tuple(values)

    def with_returning(self, write_sql: str, returning: str, name: str, main_sql: str) -> str | None:
        """One statement: `main_sql` reads the rows `write_sql` changed (their `returning` columns) as the
        table `name`, and the table itself as it was before the write (one snapshot); None where the
        server has no such form (the caller sends its statements one by one)."""
        return None

    def corrupt_filter(self, col: str, native_json: bool, classes_sql: str) -> str:
        """The condition for rows whose class (`classes_sql`, classify_expr of `col`) is neither OBJECT
        nor SQL NULL: a chunk's candidates. A flavour may give a cheaper exact equivalent."""
        return "(%s) NOT IN ('%s', '%s')" % (classes_sql, OBJECT, SQL_NULL)

    def unwrap_expr(self, col: str) -> str:
        """The object a double-encoded value's string holds, byte for byte."""
        return "JSON_UNQUOTE(%s)" % col

    def wrap_expr(self, col: str, raw: bool) -> str:
        """{wrap_key (a %s placeholder): the value}; `raw` text goes in as a JSON string."""
        if raw:
            return "JSON_OBJECT(%%s, CAST(%s AS CHAR))" % col
        return "JSON_OBJECT(%%s, JSON_EXTRACT(%s, '$'))" % col

    def key_type_sql(self, column_type: str | None, charset: str | None = None, collation: str | None = None) -> str:
        """DDL type of the quarantine's row_pk: the repaired table's own key type."""
        column_type = (column_type or "").lower()
        if not MYSQL_COLUMN_TYPE_RE.fullmatch(column_type):
            raise JsonmendError("cannot copy the primary key's type %r into the quarantine table" % column_type)
        if charset:
            validate_identifier(charset, "key character set")
            sql = "%s CHARACTER SET %s" % (column_type, charset)
            if collation:
                validate_identifier(collation, "key collation")
                sql += " COLLATE %s" % collation
            return sql
        return column_type

    def sibling_table(self, table: str, name: str) -> str:
        """The name of a table kept next to `table` (the bookkeeping tables): same database."""
        return name

    def column_ddl(self, columns: Iterable[tuple[str, str, str]], primary: str) -> list[str]:
        """The column definitions (logical types through DDL_TYPES) and the primary key of a CREATE TABLE."""
        return ["%s %s %s" % (self.q(c), self.DDL_TYPES.get(t, t), extra) for c, t, extra in columns] + ["PRIMARY KEY (%s)" % primary]

    def create_table(
        self,
        db: Any,
        name_sql: str,
        columns: Iterable[tuple[str, str, str]],
        primary: str,
        unique: Iterable[tuple[str, str]],
        keys: Iterable[tuple[str, str]],
        comment: str,
    ) -> None:
        """CREATE TABLE IF NOT EXISTS with logical column types (DDL_TYPES) and its indexes."""
        parts = self.column_ddl(columns, primary)
        parts += ["UNIQUE KEY %s (%s)" % (self.q(n), cols) for n, cols in unique]
        parts += ["KEY %s (%s)" % (self.q(n), cols) for n, cols in keys]
        db.query(
            "CREATE TABLE IF NOT EXISTS %s (%s) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT=%%s" % (name_sql, ", ".join(" ".join(p.split()) for p in parts)),
            (comment,),
        )

    def transactional(self, engine: str | None) -> bool:
        """Whether the table's storage engine has transactions and row locks."""
        return (engine or "").lower() == "innodb"

    # -- the write guard (guard/): watch or refuse a non-object at the moment of the write ---
    # The MySQL family's: row triggers ordered with FOLLOWS, SIGNAL for a refusal, a metadata-lock
    # wait in lock_wait_timeout. A PostgreSQL dialect fills the same methods (enforce: CHECK
    # (jsonb_typeof(col) = 'object') NOT VALID, then VALIDATE CONSTRAINT; observe: a plpgsql trigger).
    guard_privilege = "TRIGGER"
    lock_wait_errors = (1205,)  # ER_LOCK_WAIT_TIMEOUT: the table's metadata lock was not granted in time
    # No TRIGGER privilege; binary logging wants SUPER (or log_bin_trust_function_creators); DEFINER needs SUPER / SET USER.
    guard_privilege_errors = (1142, 1419, 1227)
    guard_enforce_by_constraint = False  # PostgreSQL: enforce is a CHECK constraint, not triggers
    # enforce_with=constraint: ADD CHECK reads every row under a table copy (writes wait: LOCK=SHARED);
    # PostgreSQL adds it NOT VALID and validates online.
    guard_constraint_rebuilds = True
    guard_check_body_kept = False  # PostgreSQL: the constraint's comment keeps the body as written
    # information_schema.TRIGGERS lists a table's triggers only to a user with TRIGGER on it: without
    # it an installed guard looks off. PostgreSQL's catalogs show them to everyone.
    guard_triggers_need_privilege = True
    guard_name_limit = 64  # characters of a trigger's (and a constraint's) name

    def guard_error_code(self, exc: BaseException) -> Any:
        """The driver's error code the guard compares with lock_wait_errors and guard_privilege_errors."""
        return exc.args[0] if getattr(exc, "args", None) else None

    def guard_grant_problems(self, db: Any, database: str, table: str, log_table: str, mode: str) -> list[str] | None:
        """None: the guard reads SHOW GRANTS itself (the MySQL family); else the GRANTs missing for `mode`."""
        return None

    def guard_create_sql(self, name: str, want: dict[str, str], table: str, follows: str | None = None) -> list[str]:
        """The statements that create one guard object (a trigger, or CHECK) `want` = timing, event, body."""
        if want["timing"] == "CHECK":
            return [self.guard_check_create_sql(name, want["body"], table)]
        return [self.create_trigger_sql(name, want["timing"], want["event"], table, want["body"], follows)]

    def guard_drop_sql(self, name: str, timing: str, table: str) -> list[str]:
        """The statements that remove one guard object found with `timing` (a trigger, or CHECK)."""
        if timing == "CHECK":
            return [self.guard_check_drop_sql(name, table)]
        return [self.drop_trigger_sql(name)]

    def guard_validate_sql(self, name: str, table: str) -> str | None:
        """The statement that checks the existing rows against an enforce constraint (None: its ADD does)."""
        return None

    def guard_check_body(self, guard: dict[str, Any]) -> str:
        """enforce_with=constraint: the scan's class of the column is OBJECT; SQL NULL passes (a NOT NULL
        column refuses it on its own). The marker is not kept by the server: trigger_details puts it back."""
        c = self.q(guard["column"])
        return "%s CHECK (%s IS NULL OR (%s) = 'OBJECT')" % (GUARD_ENFORCE_MARKER, c, self.classify_expr(c, guard["native_json"]))

    def guard_check_create_sql(self, name: str, body: str, table: str) -> str:
        # Named ALGORITHM and LOCK: the copy and its write lock are the price, said in the statement the operator sees.
        return "ALTER TABLE %s ADD CONSTRAINT %s %s, ALGORITHM=COPY, LOCK=SHARED" % (self.q(table), self.qn(name), body)

    def guard_check_drop_sql(self, name: str, table: str) -> str:
        return "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s" % (self.q(table), self.qn(name))

    def guard_unchanged(self, have: dict[str, Any], want: dict[str, str]) -> bool:
        """Whether an installed guard object `have` is the one `want` describes.

        The MySQL family keeps a CHECK's clause in its own reprint, never as written: jsonmend's
        constraint is known by its name (its rule depends on nothing the operator sets). Where the
        body is kept as written (`guard_check_body_kept`), it is compared whole, as a trigger's is."""
        if want["timing"] == "CHECK" and not self.guard_check_body_kept:
            return have["timing"] == "CHECK"
        return have["body"].strip() == want["body"] and have["timing"] == want["timing"] and have["event"] == want["event"]

    def trigger_details(self, cursor: Any, database: str, table: str) -> list[dict[str, Any]]:
        """Every trigger of the table (name, timing, event, order and body) in firing order, then
        jsonmend's CHECK constraint if there is one (timing CHECK, body marked as the guard's)."""
        cursor.execute(
            "SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER, ACTION_STATEMENT FROM information_schema.TRIGGERS"
            " WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE = %s ORDER BY EVENT_MANIPULATION, ACTION_TIMING, ACTION_ORDER",
            (database, table),
        )
        out = [
            dict(name=name, timing=(timing or "").upper(), event=(event or "").upper(), order=int(order or 0), body=body or "")
            for name, timing, event, order, body in cursor.fetchall()
        ]
        cursor.execute(self.guard_checks_sql(), (database, table, GUARD_PREFIX.replace("_", "\\_") + "%"))
        for name, clause in cursor.fetchall():
            out.append(dict(name=name, timing="CHECK", event="INSERT OR UPDATE", order=0, body="%s CHECK (%s)" % (GUARD_ENFORCE_MARKER, clause or "")))
        return out

    def guard_checks_sql(self) -> str:
        """The table's CHECK constraints named like the guard's: (schema, table, LIKE pattern) -> name, clause."""
        # MariaDB's CHECK_CONSTRAINTS names the table (a constraint's name is unique per table only).
        return (
            "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS"
            " WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME LIKE %s ORDER BY 1"
        )

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


class MariaDB(Dialect):
    name = "mariadb"

    def checksum_hashes(self) -> tuple[str, tuple[str, str]]:
        found = re.match(r"(\d+)\.(\d+)", self.version or "")
        if found and (int(found.group(1)), int(found.group(2))) >= (10, 8):
            return "crc32+crc32c", ("CRC32(%s)", "CRC32C(%s)")
        return super().checksum_hashes()

    def allow_invalid_restore(self, db: Any) -> None:
        # Pre-images may be invalid text whose CHECK (json_valid) was bypassed when it was
        # written; putting them back byte for byte needs the same bypass, for this session only.
        db.query("SET SESSION check_constraint_checks = 0")

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

    def replica_lag(self, db: Any, name: str) -> float | None:
        # MySQL 8.0.22+ names it SHOW REPLICA STATUS; MariaDB's SHOW ALL SLAVES STATUS is unknown there.
        cur = db.conn.cursor()
        try:
            cur.execute("SHOW REPLICA STATUS")
            names = [d[0] for d in cur.description or ()]
            rows = cur.fetchall()
        finally:
            cur.close()
        if not rows:
            raise JsonmendError("%s is not a replica (SHOW REPLICA STATUS is empty): list replicas, not the primary, or give replica_lag_query" % name)
        value = dict(zip(names, rows[0], strict=True)).get("Seconds_Behind_Source")
        return None if value is None else float(value)

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

    def suspect_is_exact(self, col: str, native_json: bool = False) -> bool:
        return native_json

    def restore_expr(self, source: str, native_json: bool = False, column_type: str | None = None) -> str:
        # A native JSON column refuses a binary string (ERROR 3144): read the bytes as utf8mb4,
        # the character set MySQL serializes JSON in.
        if native_json:
            return "CONVERT(%s USING utf8mb4)" % source
        return source

    def set_statement_timeout(self, cursor: Any, seconds: float) -> None:
        # MySQL's limit is in milliseconds and applies to SELECT only.
        cursor.execute("SET SESSION max_execution_time = %s", (int(seconds * 1000),))

    def guard_check_body(self, guard: dict[str, Any]) -> str:
        if not guard["native_json"]:
            return super().guard_check_body(guard)
        # A native JSON column holds valid documents only: JSON_TYPE reads the binary form, and
        # SQL NULL (JSON_TYPE NULL: the CHECK's UNKNOWN) passes.
        c = self.q(guard["column"])
        return "%s CHECK (JSON_TYPE(%s) = 'OBJECT')" % (GUARD_ENFORCE_MARKER, c)

    def guard_check_drop_sql(self, name: str, table: str) -> str:
        # MySQL 8.0.16-8.0.18 know DROP CHECK only (DROP CONSTRAINT came in 8.0.19); it has no IF EXISTS.
        return "ALTER TABLE %s DROP CHECK %s" % (self.q(table), self.qn(name))

    def guard_checks_sql(self) -> str:
        # MySQL names a CHECK constraint once per schema, and CHECK_CONSTRAINTS has no table: join TABLE_CONSTRAINTS.
        return (
            "SELECT tc.CONSTRAINT_NAME, cc.CHECK_CLAUSE FROM information_schema.TABLE_CONSTRAINTS tc"
            " JOIN information_schema.CHECK_CONSTRAINTS cc ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME"
            " WHERE tc.TABLE_SCHEMA = %s AND tc.TABLE_NAME = %s AND tc.CONSTRAINT_TYPE = 'CHECK' AND tc.CONSTRAINT_NAME LIKE %s ORDER BY 1"
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

    def group_value_expr(self, expr: str) -> str | None:
        """PostgreSQL refuses a bare column beside a GROUP BY, and MIN() of each (one row per listed group)
        cost every row of the pass its aggregates (0.07 s of 0.38 s per 1M rows): the listed rows, 1% of
        a damaged table, are read by key after the pass instead (any column type, no cast)."""
        return None

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

    def suspect_is_exact(self, col: str, native_json: bool = False) -> bool:
        # json and jsonb: OBJECT exactly when the type is 'object' (no '{'-first candidate).
        return self.column_kind(col, native_json) in PG_JSON_KINDS

    # -- sessions -------------------------------------------------------------------
    def pin_sql_mode(self, cursor: Any) -> None:
        # PostgreSQL has no sql_mode: it never cuts or converts a value silently.
        return None

    def set_statement_timeout(self, cursor: Any, seconds: float) -> None:
        # Milliseconds; set_config because SET takes no bound parameter. A rollback undoes it.
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", (str(max(1, int(seconds * 1000))),))

    def scan_session(self, cursor: Any) -> None:
        # The scan's own workers split the key range. The server's parallel plan of the one-pass GROUP BY
        # (thousands of groups: partial hash aggregates merged by a Gather) took twice one process's time
        # (0.76 s vs 0.37 s per 1M rows), and each of our workers would start its own parallel workers.
        cursor.execute("SET max_parallel_workers_per_gather = 0")

    def begin_read_only_snapshot(self, cursor: Any) -> None:
        # As MySQL's START TRANSACTION, end what the inspection's reads opened first.
        conn = cursor.connection
        if conn.autocommit:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return
        conn.commit()
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

    # -- expressions ----------------------------------------------------------------
    # -- content checksums ------------------------------------------------------------
    def checksum_hashes(self) -> tuple[str, tuple[str, str]]:
        # No CRC32 in SQL: the two halves of the first 64 bits of MD5, each an unsigned 32-bit number.
        half = "('x' || lpad(substr(md5(%%s), %d, 8), 16, '0'))::bit(64)::bigint"
        return "md5a+md5b", (half % 1, half % 9)

    def table_location(self, table: str, database: str) -> tuple[str, str]:
        # A PostgreSQL backup names its tables schema.table (public when unqualified), whatever database it is in.
        return self.split_table(table)

    def table_names(self, cursor: Any, database: str) -> list[str]:
        cursor.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'"
        )
        return [row[0] for row in cursor.fetchall()]

    def checksum_row_expr(self, columns: Iterable[tuple[str, bool]]) -> str:
        # Every value as its text (json and text byte for byte, jsonb canonical; the session's
        # TimeZone is UTC): <octet length>:<text>, or '-' for NULL.
        parts = []
        for name, _is_character in columns:
            col = "(%s)::text" % self.qn(name)
            parts.append("CASE WHEN %s IS NULL THEN '-' ELSE octet_length(%s) || ':' || %s END" % (col, col, col))
        return "(%s)" % " || ".join(parts)

    # -- key ranges and per-row digests ------------------------------------------------
    def digest_session(self, db: Any) -> None:
        pass  # string_agg has no length limit to raise

    def digest_key_text(self, key_sql: str, kind: str) -> str:
        if kind == "int":
            return "(%s)::text" % key_sql
        if kind == "bytes":
            return "encode(%s, 'hex')" % key_sql
        return "encode(convert_to((%s)::text, 'UTF8'), 'hex')" % key_sql

    def digest_join_sql(self, key_text: str, hash1: str, hash2: str, order: str) -> str:
        return "string_agg(%s || ',' || (%s)::text || ',' || (%s)::text, ';' ORDER BY %s)" % (key_text, hash1, hash2, order)

    def key_bounds_sql(self, key_sql: str, kind: str) -> str:
        if kind == "int":
            return super().key_bounds_sql(key_sql, kind)
        # No MIN or MAX for bytea or uuid: the ends of the range's keys in their own order.
        return "(array_agg(%s ORDER BY %s))[1], (array_agg(%s ORDER BY %s DESC))[1]" % (key_sql, key_sql, key_sql, key_sql)

    def range_bucket_expr(self, key_sql: str, firsts: Iterable[int]) -> str:
        # width_bucket over the sorted lower bounds: INTERVAL's meaning (0 below the first bound).
        firsts = [str(int(v)) for v in firsts]
        return "width_bucket((%s)::bigint, ARRAY[%s]::bigint[])" % (key_sql, ", ".join(firsts)) if firsts else "0"

    # -- writers: repair and undo -------------------------------------------------------
    # SQLSTATEs: deadlock, serialization failure and lock_timeout are retried; data exceptions
    # (22), integrity violations (23) and a trigger's RAISE (P0001) are about the row's data.
    PG_RETRYABLE = ("40P01", "40001", "55P03")
    PG_ROW_CLASSES = ("22", "23")
    PG_ROW_STATES = ("P0001", "P0004")
    DDL_TYPES = {
        "serial": "bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL",
        "ascii64": "varchar(64)",
        "ascii_hash": "char(64)",
        "bytes": "bytea",
        "time": "timestamp(6)",
        "text": "text",
        "ascii_sha1": "char(40)",
        "long_text": "text",
    }
    current_user_sql = "current_user"
    # The lock_timeout and statement_timeout of every chunk transaction, set by begin_chunk().
    STATEMENT_TIMEOUT_FLOOR = 30.0

    def error_kind(self, exc: BaseException) -> str:
        state = getattr(exc, "sqlstate", None) or ""
        if state in self.PG_RETRYABLE:
            return "retry"
        if state[:2] in self.PG_ROW_CLASSES or state in self.PG_ROW_STATES:
            return "row"
        return "fatal"

    def open_writer_session(self, db: Any, lock_wait_seconds: int) -> None:
        db.query("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED")
        db.query("SELECT set_config('lock_timeout', %s, false)", ("%ds" % int(lock_wait_seconds),))

    def refresh_statistics(self, db: Any, table_sql: str) -> None:
        # A quarantine created by the run still has the statistics of an empty table while it grows, so
        # the planner read every row of the run to join one batch (2.9 ms per batch of 70 at 2M rows,
        # growing with the run). Autovacuum's ANALYZE comes a minute later at best.
        db.query("ANALYZE %s" % table_sql)

    def begin_chunk(self, db: Any, lock_wait_seconds: int, statement_seconds: float) -> None:
        # SET LOCAL: both limits end with the chunk's transaction (a 57014 or 55P03 rolls it back).
        db.query("BEGIN ISOLATION LEVEL READ COMMITTED")
        db.query(
            "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
            ("%dms" % int(lock_wait_seconds * 1000), "%dms" % int(max(self.STATEMENT_TIMEOUT_FLOOR, statement_seconds) * 1000)),
        )

    def replication_stance(self, db: Any, log_wanted: bool, check_mode: bool) -> dict[str, Any]:
        # Every change is in the WAL; a session cannot leave it out (no sql_log_bin).
        if not log_wanted:
            raise JsonmendError(
                "sql_log_bin=false is MySQL-only: PostgreSQL writes every change to the WAL, which streaming replicas apply; nothing was changed"
            )
        level = db.query_one("SELECT current_setting('wal_level')")[0]
        senders = int(db.query_one("SELECT count(*) FROM pg_stat_replication")[0])
        message = "changes go to the WAL (wal_level=%s, %d streaming replica%s connected)" % (level, senders, "" if senders == 1 else "s")
        return dict(log_bin=True, sql_log_bin=True, format="WAL %s" % level, logged=True, message=message)

    def statement_warnings(self, db: Any, cur: Any) -> str | None:
        # PostgreSQL has no warnings that change a written value: it errors instead.
        return None

    def busy_sessions(self, db: Any) -> int:
        row = db.query_one("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
        return int(row[0]) if row else 0

    def replica_lag(self, db: Any, name: str) -> float | None:
        """On a standby: now() - pg_last_xact_replay_timestamp(); on a primary: the worst replay_lag of pg_stat_replication."""
        if db.query_one("SELECT pg_is_in_recovery()")[0]:
            row = db.query_one(
                "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
                " ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
            )
            return None if row is None or row[0] is None else max(0.0, float(row[0]))
        row = db.query_one("SELECT count(*), max(EXTRACT(EPOCH FROM replay_lag)), count(*) FILTER (WHERE state <> 'streaming') FROM pg_stat_replication")
        if not row or not row[0]:
            raise JsonmendError(
                "%s has no streaming replica (pg_stat_replication is empty) and is not a standby: list a standby or the primary"
                " it streams from, or give replica_lag_query" % name
            )
        if row[2]:
            return None
        # replay_lag is NULL once a standby has caught up and nothing is being written.
        return float(row[1] or 0.0)

    @staticmethod
    def advisory_key(name: str) -> int:
        """A stable signed 64-bit key for pg_try_advisory_lock from the lock's name."""
        return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)

    def try_advisory_lock(self, db: Any, name: str, timeout: float) -> bool:
        # pg_try_advisory_lock never waits: poll until the timeout, as GET_LOCK would wait.
        deadline = time.monotonic() + max(0.0, float(timeout))
        while True:
            if db.query_one("SELECT pg_try_advisory_lock(%s)", (self.advisory_key(name),))[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def advisory_lock_holder(self, db: Any, name: str) -> str:
        key = self.advisory_key(name) & 0xFFFFFFFFFFFFFFFF
        row = db.query_one(
            "SELECT l.pid, a.usename, a.client_addr::text, EXTRACT(EPOCH FROM now() - a.state_change)::int FROM pg_locks l"
            " LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.classid = %s AND l.objid = %s AND l.objsubid = 1 LIMIT 1",
            (key >> 32, key & 0xFFFFFFFF),
        )
        if not row:
            return ""
        return " by backend pid %s (user %s from %s, %ss in its current state)" % (row[0], row[1], row[2] or "the local socket", row[3])

    def release_advisory_lock(self, db: Any, name: str) -> None:
        db.query("SELECT pg_advisory_unlock(%s)", (self.advisory_key(name),))

    def missing_grants(self, db: Any, database: str, needed_by_table: Iterable[tuple[str, Iterable[str]]]) -> tuple[list[str], str]:
        """Each missing privilege as the GRANT that gives it (has_table_privilege, has_schema_privilege)."""
        user = db.query_one("SELECT current_user")[0]
        missing = []
        for table, needed in needed_by_table:
            schema, name = self.split_table(table)
            qualified = "%s.%s" % (self.qn(schema), self.qn(name))
            exists = db.query_one("SELECT to_regclass(%s) IS NOT NULL", (qualified,))[0]
            table_privs = [p for p in needed if p in ("SELECT", "INSERT", "UPDATE", "DELETE")]
            lacking = [p for p in table_privs if exists and not db.query_one("SELECT has_table_privilege(%s, %s)", (qualified, p))[0]]
            if lacking:
                missing.append("GRANT %s ON %s TO %s" % (", ".join(lacking), qualified, self.qn(user)))
            if ("CREATE" in needed or not exists) and not db.query_one("SELECT has_schema_privilege(%s, 'CREATE')", (schema,))[0]:
                grant = "GRANT CREATE ON SCHEMA %s TO %s" % (self.qn(schema), self.qn(user))
                if grant not in missing:
                    missing.append(grant)
        return missing, "role %s; run as a superuser or the tables' owner" % user

    def explain_access(self, cur: Any, statement: str, args: Any) -> dict[str, Any]:
        cur.execute("EXPLAIN (FORMAT JSON) " + statement, args)
        plan = cur.fetchone()[0]
        if isinstance(plan, str):  # the connection may leave json as text
            plan = json.loads(plan)
        node = (plan[0] if isinstance(plan, list) else plan)["Plan"]
        while node.get("Plans") and not node.get("Index Name") and node.get("Node Type") in ("ModifyTable", "LockRows", "Result", "Sort", "Limit"):
            node = node["Plans"][0]
        return dict(type=node.get("Node Type"), key=node.get("Index Name"), rows=node.get("Plan Rows"), empty=False)

    def access_ok(self, entry: dict[str, Any], key: str) -> bool:
        # The planner picks a sequential scan of a small table whatever the key: the chunk
        # bounds on the primary key keep every statement short, so the plan is reported only.
        return True

    def force_index(self, table_sql: str, index: str, alias: str = "") -> str:
        return "%s%s" % (table_sql, " AS %s" % alias if alias else "")

    def index_name(self, table: str, index: str) -> str:
        # Index names are per schema on PostgreSQL: the table's own name keeps them apart.
        return ("%s_%s" % (table, index))[:63]

    def for_update(self, alias: str = "") -> str:
        # FOR UPDATE cannot lock the nullable side of an outer join: name the table.
        return " FOR UPDATE OF %s" % alias if alias else " FOR UPDATE"

    def null_safe_equal(self, a: str, b: str) -> str:
        return "%s IS NOT DISTINCT FROM %s" % (a, b)

    def bytes_expr(self, expr: str) -> str:
        return "convert_to((%s)::text, 'UTF8')" % expr

    def to_bytes(self, expr: str) -> str:
        # json and text keep their text byte for byte; jsonb's text is its canonical form.
        return self.bytes_expr(expr)

    def bytes_left(self, expr: str, length: int) -> str:
        return "left(convert_from(%s, 'UTF8'), %d)" % (expr, int(length))

    def utc_now_sql(self) -> str:
        # The session's TimeZone is UTC (connection.py); clock_timestamp, not the transaction's start.
        return "LOCALTIMESTAMP(6)"

    def upsert_clause(self, key: str, columns: Iterable[str]) -> str:
        return " ON CONFLICT (%s) DO UPDATE SET " % self.q(key) + ", ".join("%s = EXCLUDED.%s" % (self.q(c), self.q(c)) for c in columns)

    def json_text_set_object(self, col: str, key: str, fields: Iterable[str]) -> str:
        # The text is read as jsonb and written back as its canonical text; the values are text.
        validate_identifier(key, "JSON key")
        pairs = ", ".join("'%s', %%s::text" % validate_identifier(f, "JSON key") for f in fields)
        return "((%s)::jsonb || jsonb_build_object('%s', jsonb_build_object(%s)))::text" % (col, key, pairs)

    def update_join(
        self, target: str, alias: str, source: str, source_alias: str, on: str, assignments: Iterable[tuple[str, str]], where: str, index: str = ""
    ) -> str:
        sets = ", ".join("%s = %s" % (c, e) for c, e in assignments)
        return "UPDATE %s AS %s SET %s FROM %s AS %s WHERE %s AND %s" % (target, alias, sets, source, source_alias, on, where)

    def in_list(self, expr: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        # One array parameter: the statement's text stays the same whatever the keys (psycopg parses it
        # once, the server plans it as the IN list it is: a ScalarArrayOp on the key's index).
        return "%s = ANY(%%s)" % expr, (list(values),)

    def with_returning(self, write_sql: str, returning: str, name: str, main_sql: str) -> str | None:
        # A data-modifying WITH: every part of the statement reads its one snapshot, so main_sql sees
        # the rows as they were and `name` as they are written.
        return "WITH %s AS (%s RETURNING %s) %s" % (name, write_sql, returning, main_sql)

    def corrupt_filter(self, col: str, native_json: bool, classes_sql: str) -> str:
        if self.column_kind(col, native_json) in PG_JSON_KINDS:
            # Exact for json and jsonb: their class is OBJECT exactly when the type is 'object' (no
            # SUSPECT_OBJECT on PostgreSQL), SQL NULL when NULL; the type is in jsonb's header.
            return self.suspect_predicate(col, native_json)
        return super().corrupt_filter(col, native_json, classes_sql)

    def unwrap_expr(self, col: str) -> str:
        kind = self.column_kind(col)
        if kind in PG_JSON_KINDS:
            # #>> '{}' is the string's text, unescaped; the cast keeps it exact in json, canonical in jsonb.
            return "(%s #>> '{}')::%s" % (col, kind)
        return "((%s)::json #>> '{}')" % col

    def wrap_expr(self, col: str, raw: bool) -> str:
        kind = self.column_kind(col)
        value = "(%s)::text" % col if raw else "(%s)::json" % col if kind == "text" else col
        # The key is a bound parameter: typed, as build_object's arguments are "any" (42P18 otherwise).
        built = "%s_build_object(%%s::text, %s)" % ("jsonb" if kind == "jsonb" else "json", value)
        return built if kind in PG_JSON_KINDS else "(%s)::text" % built

    def key_type_sql(self, column_type: str | None, charset: str | None = None, collation: str | None = None) -> str:
        column_type = (column_type or "").lower()
        if not PG_COLUMN_TYPE_RE.fullmatch(column_type):
            raise JsonmendError("cannot copy the primary key's type %r into the quarantine table" % column_type)
        if collation and collation != "default":
            return "%s COLLATE %s" % (column_type, self.qn(collation))
        return column_type

    def sibling_table(self, table: str, name: str) -> str:
        # In the repaired table's schema.
        schema, _name = self.split_table(table)
        return "%s.%s" % (schema, name)

    def create_table(
        self,
        db: Any,
        name_sql: str,
        columns: Iterable[tuple[str, str, str]],
        primary: str,
        unique: Iterable[tuple[str, str]],
        keys: Iterable[tuple[str, str]],
        comment: str,
    ) -> None:
        parts = self.column_ddl(columns, primary)
        db.query("CREATE TABLE IF NOT EXISTS %s (%s)" % (name_sql, ", ".join(" ".join(p.split()) for p in parts)))
        for unique_index, (index, cols) in [(True, u) for u in unique] + [(False, k) for k in keys]:
            db.query("CREATE %sINDEX IF NOT EXISTS %s ON %s (%s)" % ("UNIQUE " if unique_index else "", self.q(index), name_sql, cols))
        db.query("COMMENT ON TABLE %s IS %s" % (name_sql, self.quote_literal(comment)))

    @staticmethod
    def quote_literal(value: str) -> str:
        return "'%s'" % value.replace("'", "''")

    def transactional(self, engine: str | None) -> bool:
        # Every PostgreSQL table access method (heap, ...) is transactional with row locks.
        return engine is not None

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

    def column_names(self, cursor: Any, database: str, table: str) -> list[str]:
        # Not through column_details(): a bookkeeping table's columns must not become the target's kinds.
        cursor.execute(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
            self.split_table(table),
        )
        return [row[0] for row in cursor.fetchall()]

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
                "table %s.%s does not exist in database %r, but schema %s has a table %s: set table to %s (jsonmend_table in the playbooks)"
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

    # -- the write guard (guard/) ---------------------------------------------------------
    # observe: AFTER INSERT / AFTER UPDATE row triggers, each calling its own plpgsql function (named
    # as the trigger, in the table's schema) that logs a non-object; enforce: a CHECK constraint added
    # NOT VALID (a brief ACCESS EXCLUSIVE lock, under lock_timeout) then VALIDATE CONSTRAINT (reads
    # the rows under SHARE UPDATE EXCLUSIVE: writes go on). PostgreSQL fires triggers of one timing in
    # name order, and every BEFORE trigger before a CHECK, so the guard judges the value they leave.
    guard_privilege = "TRIGGER"
    lock_wait_errors = ("55P03",)  # lock_not_available: lock_timeout ran out
    guard_privilege_errors = ("42501",)  # insufficient_privilege (not the owner, no TRIGGER)
    guard_enforce_by_constraint = True
    guard_constraint_rebuilds = False  # NOT VALID, then VALIDATE CONSTRAINT: writes go on
    guard_check_body_kept = True  # in the constraint's comment (guard_create_sql)
    guard_triggers_need_privilege = False
    guard_name_limit = 63  # NAMEDATALEN - 1: a longer name is cut, and would never match again

    def guard_error_code(self, exc: BaseException) -> Any:
        return getattr(exc, "sqlstate", None)

    def _guard_kind(self, guard: dict[str, Any]) -> str:
        kind = self.column_kind(self.qn(guard["column"]), guard["native_json"])
        if kind not in PG_JSON_KINDS:
            raise JsonmendError(
                "the guard on PostgreSQL needs a jsonb or json column; %s.%s is %s (no CHECK or trigger can parse text"
                " without failing the write on invalid text): nothing was changed" % (guard["table"], guard["column"], kind)
            )
        return kind

    def trigger_details(self, cursor: Any, database: str, table: str) -> list[dict[str, Any]]:
        """The table's triggers (body: their function's source) in firing order, then its CHECK constraints
        (timing CHECK; body: the constraint's comment, where the guard keeps what it installed)."""
        relation = "(SELECT c.oid" + self._RELATION + ")"
        cursor.execute(
            "SELECT tg.tgname, tg.tgtype, p.prosrc FROM pg_trigger tg JOIN pg_proc p ON p.oid = tg.tgfoid"
            " WHERE NOT tg.tgisinternal AND tg.tgrelid = " + relation + " ORDER BY tg.tgname",
            self.split_table(table),
        )
        out = []
        for order, (name, bits, source) in enumerate(cursor.fetchall(), 1):
            timing = "BEFORE" if bits & 2 else "INSTEAD OF" if bits & 64 else "AFTER"
            events = [event for bit, event in ((4, "INSERT"), (16, "UPDATE"), (8, "DELETE"), (32, "TRUNCATE")) if bits & bit]
            out.append(dict(name=name, timing=timing, event=" OR ".join(events), order=order, body=source or ""))
        cursor.execute(
            "SELECT conname, convalidated, obj_description(oid, 'pg_constraint') FROM pg_constraint"
            " WHERE contype = 'c' AND conrelid = " + relation + " ORDER BY 1",
            self.split_table(table),
        )
        for name, validated, comment in cursor.fetchall():
            out.append(dict(name=name, timing="CHECK", event="INSERT OR UPDATE", order=0, body=comment or "", validated=bool(validated)))
        return out

    def guard_sql_mode(self, cursor: Any) -> None:
        # No sql_mode: a plpgsql function behaves the same whoever calls it.
        return None

    def set_lock_wait(self, cursor: Any, seconds: int) -> None:
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", ("%ds" % max(1, int(seconds)),))

    def guard_log_table_sql(self, log_table: str) -> str:
        name = self.split_table(log_table)[1]
        return (
            "CREATE TABLE IF NOT EXISTS {t} (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, logged_at timestamp(6) NOT NULL,"
            " event varchar(6) NOT NULL, row_key varchar(255), value_class varchar(16) NOT NULL, value_length bigint, value_prefix text,"
            " connection_user varchar(400)); CREATE INDEX IF NOT EXISTS {i} ON {t} (logged_at);"
            " COMMENT ON TABLE {t} IS 'jsonmend: writes the guard observed (guard.yml)'"
        ).format(t=self.q(log_table), i=self.qn(self.index_name(name, "logged_at")))  # an index lives in its table's schema

    def guard_trigger_body(self, mode: str, event: str, guard: dict[str, Any]) -> str:
        """observe's plpgsql function body; the class is the scan's (classify_expr), a string holding an
        object's text settled here (STRING+OBJECT), as the scan's Python does."""
        if mode != "observe":
            raise JsonmendError("on PostgreSQL the guard enforces with a CHECK constraint, not a trigger")
        kind = self._guard_kind(guard)
        c = self.q(guard["column"])
        col = "NEW.%s" % c
        healthy = "%s_typeof(%s) = 'object'" % (kind, col)
        if guard["nullable"]:
            healthy = "%s IS NULL OR %s" % (col, healthy)
        judge = "NOT (%s)" % healthy
        if event == "UPDATE":
            # json has no equality operator: compare its text (jsonb's is canonical anyway).
            judge = "(%s)::text IS DISTINCT FROM (OLD.%s)::text AND %s" % (col, c, judge)
        return (
            "/* jsonmend guard: observe */ DECLARE jsonmend_class text; BEGIN IF {judge} THEN jsonmend_class := {classify};"
            " IF jsonmend_class = '{unsettled}' THEN BEGIN jsonmend_class := CASE WHEN jsonb_typeof(({col} #>> '{{}}')::jsonb) = 'object'"
            " THEN 'STRING+OBJECT' ELSE 'STRING' END; EXCEPTION WHEN others THEN jsonmend_class := 'STRING'; END; END IF;"
            # Observe never fails the application's write: a log that cannot be written is skipped.
            " BEGIN INSERT INTO {log} (logged_at, event, row_key, value_class, value_length, value_prefix, connection_user)"
            " VALUES (clock_timestamp() AT TIME ZONE 'UTC', '{event}', left((NEW.{key})::text, 255), jsonmend_class,"
            " octet_length(({col})::text), left(({col})::text, {chars}), session_user || '@' || coalesce(host(inet_client_addr()), 'local'));"
            " EXCEPTION WHEN others THEN NULL; END; END IF; RETURN NULL; END"
        ).format(
            judge=judge,
            classify=self.classify_expr(col, True, kind=kind),
            unsettled=appjson.UNSETTLED,
            col=col,
            log=self.q(guard["log_table"]),
            event=event,
            key=self.q(guard["key"]),
            chars=max(1, min(int(guard["value_chars"]), 4096)),
        )

    def guard_check_body(self, guard: dict[str, Any]) -> str:
        """enforce's constraint: the column's own typeof is 'object' (SQL NULL too when nullable)."""
        kind = self._guard_kind(guard)
        c = self.q(guard["column"])
        test = "%s_typeof(%s) = 'object'" % (kind, c)
        if guard["nullable"]:
            test = "%s IS NULL OR %s" % (c, test)
        return "%s CHECK (%s)" % (GUARD_ENFORCE_MARKER, test)

    def _function(self, name: str, table: str) -> str:
        return self.q("%s.%s" % (self.split_table(table)[0], name))

    def guard_create_sql(self, name: str, want: dict[str, str], table: str, follows: str | None = None) -> list[str]:
        t, n = self.q(table), self.qn(name)
        if want["timing"] == "CHECK":
            # One implicit transaction (psycopg sends a parameterless string as a simple query): the
            # constraint and the comment the guard reads back come together.
            comment = "COMMENT ON CONSTRAINT %s ON %s IS %s" % (n, t, self.quote_literal(want["body"]))
            return ["ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID; %s" % (t, n, want["body"], comment)]
        fn = self._function(name, table)
        return [
            "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $jsonmend$%s$jsonmend$;"
            " CREATE TRIGGER %s %s %s ON %s FOR EACH ROW EXECUTE FUNCTION %s()" % (fn, want["body"], n, want["timing"], want["event"], t, fn)
        ]

    def guard_drop_sql(self, name: str, timing: str, table: str) -> list[str]:
        if timing == "CHECK":
            return ["ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s" % (self.q(table), self.qn(name))]
        return ["DROP TRIGGER IF EXISTS %s ON %s; DROP FUNCTION IF EXISTS %s()" % (self.qn(name), self.q(table), self._function(name, table))]

    def guard_validate_sql(self, name: str, table: str) -> str | None:
        return "ALTER TABLE %s VALIDATE CONSTRAINT %s" % (self.q(table), self.qn(name))

    def guard_grant_problems(self, db: Any, database: str, table: str, log_table: str, mode: str) -> list[str] | None:
        """enforce alters the table (its owner, or a member of the owner's role); observe needs TRIGGER on
        it and CREATE on its schema (the functions, the log)."""
        schema, _name = self.split_table(table)
        qualified = self.q(table)
        user, owner, is_owner = db.query_one(
            "SELECT current_user, pg_get_userbyid(c.relowner), pg_has_role(current_user, c.relowner, 'USAGE')" + self._RELATION, self.split_table(table)
        )
        if is_owner:
            return []
        if mode == "enforce":
            return ["GRANT %s TO %s (ALTER TABLE ... ADD CONSTRAINT needs the table's owner)" % (self.qn(owner), self.qn(user))]
        problems = []
        if not db.query_one("SELECT has_table_privilege(%s, 'TRIGGER')", (qualified,))[0]:
            problems.append("GRANT TRIGGER ON %s TO %s" % (qualified, self.qn(user)))
        if not db.query_one("SELECT has_schema_privilege(%s, 'CREATE')", (schema,))[0]:
            problems.append("GRANT CREATE ON SCHEMA %s TO %s" % (self.qn(schema), self.qn(user)))
        return problems

    def drop_trigger_sql(self, name: str) -> str:
        raise JsonmendError("a PostgreSQL trigger is dropped with its table: guard_drop_sql")


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

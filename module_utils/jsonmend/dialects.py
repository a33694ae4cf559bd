# MariaDB / MySQL 8 / SQLite differences: JSON type expressions, snapshots, timeouts, catalog.
from __future__ import annotations

from ansible.module_utils.jsonmend.errors import JsonmendError
from ansible.module_utils.jsonmend.identifiers import quote_name, validate_identifier

# Class labels produced by classify_expr(). 'SQL NULL' is the absence of a value,
# 'NULL' the JSON null literal, 'INVALID' text that is not JSON (MariaDB, SQLite and
# MySQL text columns), 'STRING+OBJECT' a JSON string whose text is itself an object.
SQL_NULL = "SQL NULL"
OBJECT = "OBJECT"
INVALID = "INVALID"
BRACED_INVALID = "INVALID{"  # invalid text starting with '{', labelled apart by the scan
DOUBLE_ENCODED = "STRING+OBJECT"
HEALTHY_CLASSES = (OBJECT, SQL_NULL)


class Dialect:
    """SQL that differs between servers. Subclasses fill in the differences."""

    name = "generic"
    quote_char = "`"
    placeholder = "%s"

    def __init__(self, version=""):
        self.version = version

    def q(self, identifier):
        """Quote a validated identifier."""
        validate_identifier(identifier, "identifier")
        return self.quote_char + identifier + self.quote_char

    def qn(self, name):
        """Quote a name read from the catalog (any character; the quote doubled)."""
        return quote_name(name, self.quote_char)

    def sql(self, statement):
        """Adapt a statement written with %s placeholders to this driver."""
        return statement

    # Every type test sits behind JSON_VALID in CASE order: on MariaDB an unguarded
    # JSON_TYPE folds invalid text into the SQL NULL bucket (SELECT) or aborts (DML).
    def classify_expr(self, col, native_json=False, brace_label=INVALID):
        """SQL expression that labels each value of `col` with its JSON class.

        A value starting with '{' costs one parse (valid means object); `brace_label` names
        the invalid ones apart when a caller needs to know they exist (truncated objects).
        """
        return (
            "CASE WHEN {c} IS NULL THEN 'SQL NULL'"
            " WHEN LEFT({c}, 1) = '{{' THEN IF(JSON_VALID({c}), 'OBJECT', '{b}')"
            " WHEN NOT JSON_VALID({c}) THEN 'INVALID'"
            " WHEN JSON_TYPE({c}) <> 'STRING' THEN JSON_TYPE({c})"
            " WHEN NOT JSON_VALID(JSON_UNQUOTE({c})) THEN 'STRING'"
            " WHEN JSON_TYPE(JSON_UNQUOTE({c})) = 'OBJECT' THEN 'STRING+OBJECT'"
            " ELSE 'STRING' END"
        ).format(c=col, b=brace_label)

    def corrupt_predicate(self, col, native_json=False):
        """SQL condition true for rows that are neither SQL NULL nor an object."""
        return "(%s) NOT IN ('OBJECT', 'SQL NULL')" % self.classify_expr(col, native_json)

    # A healthy object starts with '{': rows that do not are the only candidates, except
    # '{'-prefixed invalid text, which the scan counts (brace_label) before relying on this.
    def suspect_predicate(self, col, native_json=False):
        """Cheap (no JSON parse) condition true for every corrupted row not starting with '{'."""
        return "%s IS NOT NULL AND %s <> '{'" % (col, self.left_expr(col, 1))

    def date_expr(self, col):
        return "DATE(%s)" % col

    def left_expr(self, col, length):
        return "LEFT(%s, %d)" % (col, int(length))

    def length_expr(self, col):
        return "LENGTH(%s)" % col

    def begin_read_only_snapshot(self, cursor):
        """Open a read-only transaction whose reads all see one snapshot."""
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

    def set_statement_timeout(self, cursor, seconds):
        raise NotImplementedError

    def columns(self, cursor, database, table):
        """Return {column name: data type} in table order, {} if the table is missing."""
        cursor.execute(
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (database, table),
        )
        return dict((row[0], row[1].lower()) for row in cursor.fetchall())

    def database_exists(self, cursor, database):
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
            (database,),
        )
        return cursor.fetchone()[0] > 0

    def primary_key(self, cursor, database, table):
        """Return the primary key's column names in key order."""
        cursor.execute(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY'"
            " ORDER BY ORDINAL_POSITION",
            (database, table),
        )
        return [row[0] for row in cursor.fetchall()]

    def json_check_constraint(self, cursor, database, table, column):
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

    def table_estimate(self, cursor, database, table):
        """Return (estimated rows, data bytes) from the catalog; cheap, approximate."""
        cursor.execute(
            "SELECT TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (database, table),
        )
        row = cursor.fetchone()
        return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)

    def server_cpus(self, cursor):
        """Best guess at the server's CPU count, or None."""
        return None


class MariaDB(Dialect):
    name = "mariadb"

    def set_statement_timeout(self, cursor, seconds):
        # MariaDB's limit is in seconds and covers every statement kind.
        cursor.execute("SET SESSION max_statement_time = %s", (float(seconds),))

    def server_cpus(self, cursor):
        # thread_pool_size defaults to the server's CPU count, even when the pool is off.
        try:
            cursor.execute("SELECT @@GLOBAL.thread_pool_size")
            value = cursor.fetchone()[0]
            return int(value) if value else None
        except Exception:  # noqa: BLE001 - a missing variable only loses a hint
            return None


class MySQL(Dialect):
    name = "mysql"

    def classify_expr(self, col, native_json=False, brace_label=INVALID):
        if not native_json:
            # A text column on MySQL: JSON_TYPE raises ERROR 3141 on invalid text.
            return super().classify_expr(col, brace_label=brace_label)
        # Native JSON holds only valid documents; JSON_TYPE reads the binary form cheaply.
        return (
            "CASE WHEN {c} IS NULL THEN 'SQL NULL'"
            " WHEN JSON_TYPE({c}) <> 'STRING' THEN JSON_TYPE({c})"
            " WHEN NOT JSON_VALID(JSON_UNQUOTE({c})) THEN 'STRING'"
            " WHEN JSON_TYPE(JSON_UNQUOTE({c})) = 'OBJECT' THEN 'STRING+OBJECT'"
            " ELSE 'STRING' END"
        ).format(c=col)

    def suspect_predicate(self, col, native_json=False):
        if not native_json:
            return super().suspect_predicate(col)
        # LEFT() would serialize the binary document; JSON_TYPE reads it directly and is exact.
        return "%s IS NOT NULL AND JSON_TYPE(%s) <> 'OBJECT'" % (col, col)

    def set_statement_timeout(self, cursor, seconds):
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

    def sql(self, statement):
        return statement.replace("%s", "?")

    def classify_expr(self, col, native_json=False, brace_label=INVALID):
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

    def date_expr(self, col):
        return "date(%s)" % col

    def left_expr(self, col, length):
        return "substr(%s, 1, %d)" % (col, int(length))

    def length_expr(self, col):
        return "length(%s)" % col

    def begin_read_only_snapshot(self, cursor):
        # The file is opened read-only; a deferred transaction keeps one snapshot.
        cursor.execute("BEGIN")

    def set_statement_timeout(self, cursor, seconds):
        return None

    def columns(self, cursor, database, table):
        cursor.execute("SELECT name, type FROM pragma_table_info(?)", (table,))
        return dict((row[0], (row[1] or "").lower()) for row in cursor.fetchall())

    def database_exists(self, cursor, database):
        return True

    def primary_key(self, cursor, database, table):
        cursor.execute("SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0", (table,))
        return [row[0] for row in sorted(cursor.fetchall(), key=lambda r: r[1])]

    def json_check_constraint(self, cursor, database, table, column):
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        row = cursor.fetchone()
        return bool(row and "json_valid(" in (row[0] or "").lower().replace('"', ""))

    def table_estimate(self, cursor, database, table):
        return (0, 0)


DIALECTS = {"mariadb": MariaDB, "mysql": MySQL, "sqlite": SQLite}


def dialect_for(name, version=""):
    """Return the Dialect for a flavour name."""
    try:
        return DIALECTS[name](version)
    except KeyError:
        raise JsonmendError("unknown dialect %r (expected one of %s)" % (name, ", ".join(sorted(DIALECTS)))) from None


def flavour_from_version(version):
    """'mariadb' when the server's VERSION() says so, else 'mysql'."""
    return "mariadb" if "mariadb" in (version or "").lower() else "mysql"

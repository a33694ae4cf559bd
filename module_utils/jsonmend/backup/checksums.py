# Order-independent content checksums of a table (or a key range of it), computed on the
# server in one statement: the backup's manifest, its verification, restores and the repair's
# undo compare tables with these.
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.dialects import Dialect
from ansible.module_utils.jsonmend.db.errors import JsonmendError, table_missing
from ansible.module_utils.jsonmend.db.identifiers import quote_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ansible.module_utils.jsonmend.db.connection import Database

# A row hash can never reach this, so a sum above rows * 2**32 means some row was NULL.
NULL_ROW_MARK = 2**62
_MYSQL_FAMILY = Dialect()


def hash_functions(dialect: Dialect) -> tuple[str, tuple[str, str]]:
    """(algorithm tag, SQL templates of 32-bit row hashes) the server offers (Dialect.checksum_hashes)."""
    return dialect.checksum_hashes()


def table_columns(db: Database, table: str, database: str | None = None) -> list[tuple[str, bool]]:
    """[(column, is_character)] in table order; raise JsonmendError when the table is missing."""
    schema, name = db.dialect.table_location(table, database or db.database)
    rows = db.query(
        "SELECT COLUMN_NAME, CHARACTER_SET_NAME IS NOT NULL OR DATA_TYPE = 'json' FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (schema, name),
    )
    if not rows:
        raise table_missing(schema, name)
    return [(name, bool(is_char)) for name, is_char in rows]


def row_expression(columns: Iterable[tuple[str, bool]], dialect: Dialect | None = None) -> str:
    """SQL for one row's bytes (Dialect.checksum_row_expr; the MySQL family's by default)."""
    return (dialect or _MYSQL_FAMILY).checksum_row_expr(columns)


def checksum_statement(
    dialect: Dialect,
    table: str,
    columns: Iterable[tuple[str, bool]],
    key: str | None = None,
    low: Any = None,
    high: Any = None,
    database: str | None = None,
) -> tuple[str, tuple[Any, ...], str]:
    """(SELECT statement, args, algorithm) for table_checksum()."""
    tag, hashes = hash_functions(dialect)
    row = row_expression(columns, dialect)
    sums = ", ".join("SUM(COALESCE(%s, %d))" % (h % row, NULL_ROW_MARK) for h in hashes)
    source = dialect.qn(table) if not database else "%s.%s" % (dialect.qn(database), dialect.qn(table))
    where, args = "", []
    if key is not None and (low is not None or high is not None):
        key_sql = dialect.qn(key)
        conditions = []
        if low is not None:
            conditions.append("%s >= %%s" % key_sql)
            args.append(low)
        if high is not None:
            conditions.append("%s <= %%s" % key_sql)
            args.append(high)
        where = " WHERE " + " AND ".join(conditions)
    return "SELECT COUNT(*), %s FROM %s%s" % (sums, source, where), tuple(args), tag


def table_checksum(
    db: Database,
    table: str,
    columns: Iterable[str | tuple[str, bool] | list[Any]] | None = None,
    key: str | None = None,
    low: Any = None,
    high: Any = None,
    database: str | None = None,
) -> dict[str, Any]:
    """Row count and content checksum of `table` (optionally keys in [low, high]).

    Runs one read on the caller's connection, so it sees the caller's snapshot when one is
    open. `columns` defaults to every column in table order (names only or (name, is_character)
    pairs); `database` defaults to the connection's. Returns
    {"rows": int, "checksum": "crc32+crc32c:<sum>:<sum>", "algorithm": tag, "columns": [names]}.
    """
    database = database or db.database
    # Catalog names (a hyphen, letters beyond ASCII) are quoted, not refused: quote_name checks them.
    quote_name(table)
    quote_name(database)
    schema, name = db.dialect.table_location(table, database)
    if columns is None:
        columns = table_columns(db, table, database)
    else:
        known = dict(table_columns(db, table, database))
        resolved = []
        for item in columns:
            column = item[0] if isinstance(item, (list, tuple)) else item
            if column not in known:
                raise JsonmendError("column %r is not in %s.%s (columns: %s)" % (column, database, table, ", ".join(known)))
            resolved.append((column, known[column]))
        columns = resolved
    if key is not None:
        quote_name(key)
    statement, args, tag = checksum_statement(db.dialect, name, columns, key, low, high, schema)
    row = db.query_one(statement, args)
    count = int(row[0])
    sums = [int(value or 0) for value in row[1:]]
    if any(value >= NULL_ROW_MARK for value in sums):
        raise JsonmendError(
            "could not checksum %s.%s: a row is larger than the server's max_allowed_packet, so the server"
            " cannot hash it; raise max_allowed_packet for this session's server" % (database, table)
        )
    return dict(
        rows=count,
        checksum="%s:%s" % (tag, ":".join(str(value) for value in sums)),
        algorithm=tag,
        columns=[name for name, _is_char in columns],
    )


def compare_checksums(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> str | None:
    """None when two table_checksum() results agree, else a sentence saying how they differ."""
    if expected.get("rows") != actual.get("rows"):
        return "%s rows expected, %s found" % (expected.get("rows"), actual.get("rows"))
    exp_sum, act_sum = str(expected.get("checksum")), str(actual.get("checksum"))
    if exp_sum.split(":", 1)[0] != act_sum.split(":", 1)[0]:
        return "checksums were taken with different algorithms (%s, %s)" % (exp_sum.split(":", 1)[0], act_sum.split(":", 1)[0])
    if exp_sum != act_sum:
        return "same row count (%s) but the content differs (checksum %s expected, %s found)" % (actual.get("rows"), exp_sum, act_sum)
    return None

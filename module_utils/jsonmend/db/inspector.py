# One look at the target before the first change, shared by scan and repair: the column (type,
# nullability, length, character set, native JSON, CHECK), the table (primary key, engine,
# triggers, ON UPDATE and generated columns, foreign keys), as plain data, and the refusals
# that follow from it. Read-only; names are validated by the callers.
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ansible.module_utils.jsonmend.db.connection import Database

TEXT_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext")
NUMERIC_TYPES = (
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "integer",
    "bigint",
    "decimal",
    "numeric",
    "float",
    "double",
    "real",
    "bit",
    "bool",
    "boolean",
)
TEMPORAL_TYPES = ("date", "datetime", "timestamp", "time", "year")
BINARY_TYPES = ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bytea")
JSON_TYPES = ("json", "jsonb")  # jsonb: PostgreSQL's binary JSON
INTEGER_TYPES = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint")  # the one list of integer types
STRING_KEY_TYPES = ("char", "varchar")


def type_family(data_type: str | None) -> str:
    """json, text, numeric, temporal, binary or other: what a column of that type can hold."""
    data_type = (data_type or "").lower()
    if data_type in JSON_TYPES:
        return "json"
    if data_type in TEXT_TYPES or data_type in ("", "clob"):
        return "text"
    if data_type in NUMERIC_TYPES:
        return "numeric"
    if data_type in TEMPORAL_TYPES:
        return "temporal"
    if data_type in BINARY_TYPES:
        return "binary"
    return "other"


def inspect_target(db: Database, database: str, table: str, column: str, primary_key: str, other_columns: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """The target as a plain dict; JsonmendError when a name does not exist.

    other_columns: (option name, column name) pairs that must exist too (grouping columns).
    """
    d = db.dialect
    cur = db.cursor()
    try:
        if not d.database_exists(cur, database):
            raise JsonmendError("database %r does not exist on the server" % database)
        details = d.column_details(cur, database, table)
        if not details:
            raise d.table_missing(cur, database, table)
        by_name = dict((c["name"], c) for c in details)
        for option, name in (("column", column), ("primary_key", primary_key)) + tuple(other_columns):
            if name and name not in by_name:
                raise JsonmendError("%s %r is not a column of %s.%s (columns: %s)" % (option, name, database, table, ", ".join(by_name)))
        keys = d.primary_key(cur, database, table)
        check = d.json_check_constraint(cur, database, table, column)
        triggers = d.triggers(cur, database, table)
        references, referenced_by = d.foreign_keys(cur, database, table)
        engine = d.engine(cur, database, table)
        estimated_rows, table_bytes = d.table_estimate(cur, database, table)
    finally:
        cur.close()
    target = dict(by_name[column])
    # Native JSON: the server holds only valid documents (MySQL's json, PostgreSQL's json and jsonb).
    native = target["data_type"] in JSON_TYPES and d.name in ("mysql", "postgresql")
    target.update(family=type_family(target["data_type"]), native_json=native, json_check_constraint=check)
    key = dict(by_name[primary_key])
    key.update(integer=key["data_type"] in INTEGER_TYPES, string=key["data_type"] in STRING_KEY_TYPES)
    return dict(
        database=database,
        table=table,
        column=target,
        primary_key=key,
        primary_key_columns=keys,
        columns=[c["name"] for c in details],
        text_columns=[c["name"] for c in details if type_family(c["data_type"]) in ("text", "json") and not c["generated"]],
        # What a row's fingerprint covers: everything stored, nothing computed.
        stored_columns=[c["name"] for c in details if not c["generated"]],
        generated_columns=[c["name"] for c in details if c["generated"]],
        on_update_columns=[c["name"] for c in details if c["on_update"]],
        triggers=[dict(name=n, timing=t, event=e) for n, t, e in triggers],
        foreign_keys=dict(references=references, referenced_by=referenced_by),
        engine=engine,
        transactional=d.transactional(engine),
        estimated_rows=estimated_rows,
        table_bytes=table_bytes,
    )


def column_problems(desc: Mapping[str, Any]) -> list[str]:
    """Why the column cannot hold JSON at all (numeric, temporal, binary, generated); [] when it can."""
    col = desc["column"]
    where = "%s.%s.%s" % (desc["database"], desc["table"], col["name"])
    others = [c for c in desc["text_columns"] if c != col["name"]]
    hint = " Check the column name (jsonmend_column): the table's text columns are %s." % (", ".join(others) if others else "none")
    family = col["family"]
    if family in ("numeric", "temporal", "binary", "other"):
        what = {"numeric": "a number", "temporal": "a date or time", "binary": "binary data", "other": "not text"}[family]
        return ["column %s is %s (%s), not a JSON text column: refusing to read it as JSON; nothing was changed.%s" % (where, col["column_type"], what, hint)]
    if col["generated"]:
        return [
            "column %s is a generated column (computed from other columns): it cannot be repaired itself; repair the columns it is"
            " computed from. Nothing was changed." % where
        ]
    return []


def key_problems(desc: Mapping[str, Any], primary_key: str) -> list[str]:
    """Why the repair cannot walk the table's key; [] when it can."""
    keys = desc["primary_key_columns"]
    name = "%s.%s" % (desc["database"], desc["table"])
    if not keys:
        return [
            "table %s has no primary key: the repair walks a single-column primary key in chunks (every pre-image is keyed by it)."
            " Give the table one (e.g. ALTER TABLE `%s` ADD COLUMN `id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, online on InnoDB)"
            " or repair it by hand from a backup copy; nothing was changed" % (name, desc["table"])
        ]
    if len(keys) > 1:
        return [
            "the primary key of %s is composite (%s): the repair walks a single-column primary key in chunks. Give the table a"
            " single-column primary key (keep (%s) as a UNIQUE key), or repair it by hand from a backup copy; nothing was changed"
            % (name, ", ".join(keys), ", ".join(keys))
        ]
    if keys != [primary_key]:
        return [
            "the primary key of %s is (%s), not (%s): set primary_key (jsonmend_primary_key) to %s; nothing was changed" % (name, keys[0], primary_key, keys[0])
        ]
    key = desc["primary_key"]
    if not (key["integer"] or key["string"]):
        return ["primary key %s of %s is %s: the repair walks integer or (var)char keys; nothing was changed" % (primary_key, name, key["data_type"])]
    return []


def write_problems(desc: Mapping[str, Any]) -> list[str]:
    """Why rows of the table cannot be written transactionally; [] when they can."""
    if not desc.get("transactional", (desc["engine"] or "").lower() == "innodb"):
        return ["table %s.%s uses %s: the repair needs InnoDB's transactions and row locks" % (desc["database"], desc["table"], desc["engine"])]
    return []


def notes(desc: Mapping[str, Any]) -> list[str]:
    """What the operator should know about the table before it is written (for warnings)."""
    out = []
    updates = [t["name"] for t in desc["triggers"] if t["event"] == "UPDATE"]
    if updates:
        out.append(
            "table %s.%s has UPDATE triggers (%s): they run on every repaired and undone row; what they write is read back,"
            " checked and kept in the quarantine" % (desc["database"], desc["table"], ", ".join(updates))
        )
    if desc["on_update_columns"]:
        out.append("ON UPDATE columns (%s) keep their values: repair and undo assign them to themselves" % ", ".join(desc["on_update_columns"]))
    return out

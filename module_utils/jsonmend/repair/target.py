# The table a writer repairs: the shared inspection (inspector.inspect_target) and its refusals,
# quoted names, and the classification SQL shared with the scan (dialects.classify_expr).
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db import appjson, inspector
from ansible.module_utils.jsonmend.db.dialects import BRACED_INVALID
from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ansible.module_utils.jsonmend.db.connection import Database


class RepairTarget:
    """The repaired table: catalog checks, quoted names and the shared classification SQL."""

    def __init__(self, db: Database, params: Mapping[str, Any]) -> None:
        d = db.dialect
        self.database = params["database"]
        self.table = params["table"]
        self.column = params["column"]
        self.pk = params["primary_key"]
        self.decoder = params.get("decoder") or appjson.PYTHON
        self.description = desc = inspector.inspect_target(db, self.database, self.table, self.column, self.pk)
        problems = inspector.column_problems(desc) + inspector.key_problems(desc, self.pk) + inspector.write_problems(desc)
        if problems:
            raise JsonmendError("; ".join(problems))
        col, key = desc["column"], desc["primary_key"]
        self.json_check_constraint = col["json_check_constraint"]
        self.column_type = col["data_type"]
        self.nullable = col["nullable"]
        self.native_json = col["native_json"]
        self.engine = desc["engine"]
        self.estimated_rows = int(desc["estimated_rows"] or 0)
        self.data_type = key["data_type"]
        self.pk_is_integer = key["integer"]
        self.pk_max_chars = key["max_chars"]
        self.table_sql = d.q(self.table)
        self.pk_sql = d.q(self.pk)
        self.col_sql = d.q(self.column)
        # FORCE INDEX keeps every chunk statement on the primary key, whatever the optimizer's estimates.
        self.scan_sql = d.force_index(self.table_sql, "PRIMARY")
        # The table the advisory lock names: schema-qualified on PostgreSQL, so both spellings meet.
        self.lock_table = d.sibling_table(self.table, self.table.rpartition(".")[2])
        self.cls_sql = d.classify_expr(self.col_sql, self.native_json, BRACED_INVALID, self.decoder)
        self.corrupt_sql = d.corrupt_filter(self.col_sql, self.native_json, self.cls_sql)
        self.key_type = d.key_type_sql(key["column_type"], key["charset"], key["collation"])
        # Repair and undo assign ON UPDATE columns to themselves, so they keep their values.
        self.keep_sql = "".join(", %s = %s" % (d.q(c), d.q(c)) for c in desc["on_update_columns"])
        self.keep_sql_t = "".join(", t.%s = t.%s" % (d.q(c), d.q(c)) for c in desc["on_update_columns"])
        self.keep_pairs_t = tuple((d.q(c), "t.%s" % d.q(c)) for c in desc["on_update_columns"])
        self.fingerprint_sql = d.fingerprint_expr([d.q(c) for c in desc["stored_columns"]])
        self.fingerprint_sql_t = d.fingerprint_expr(["t.%s" % d.q(c) for c in desc["stored_columns"]])

    def key_range(self, db: Database) -> tuple[Any, ...] | None:
        return db.query_one("SELECT MIN(%s), MAX(%s) FROM %s" % (self.pk_sql, self.pk_sql, self.table_sql))

    def where(self) -> str:
        return "%s.%s.%s" % (self.database, self.table, self.column)

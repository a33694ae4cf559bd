# The table a writer repairs: catalog checks (InnoDB, a single-column primary key it can walk),
# quoted names, and the classification SQL shared with the scan (dialects.classify_expr).
from __future__ import annotations

from ansible.module_utils.jsonmend.errors import JsonmendError
from ansible.module_utils.jsonmend.ledger import key_type_sql

INTEGER_TYPES = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint")
STRING_TYPES = ("char", "varchar")


class RepairTarget:
    """The repaired table: catalog checks, quoted names and the shared classification SQL."""

    def __init__(self, db, params):
        d = db.dialect
        self.database = params["database"]
        self.table = params["table"]
        self.column = params["column"]
        self.pk = params["primary_key"]
        cur = db.cursor()
        try:
            if not d.database_exists(cur, self.database):
                raise JsonmendError("database %r does not exist on the server" % self.database)
            columns = d.columns(cur, self.database, self.table)
            if not columns:
                raise JsonmendError("table %s.%s does not exist (or the user cannot see it)" % (self.database, self.table))
            for option, name in (("column", self.column), ("primary_key", self.pk)):
                if name not in columns:
                    raise JsonmendError("%s %r is not a column of %s.%s (columns: %s)" % (option, name, self.database, self.table, ", ".join(columns)))
            keys = d.primary_key(cur, self.database, self.table)
            self.json_check_constraint = d.json_check_constraint(cur, self.database, self.table, self.column)
            cur.execute(
                "SELECT COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS"
                " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND COLUMN_NAME = %s",
                (self.database, self.table, self.pk),
            )
            self.pk_column_type, self.pk_charset, self.pk_collation = cur.fetchone()
            cur.execute(
                "SELECT ENGINE, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (self.database, self.table),
            )
            self.engine, estimated = cur.fetchone()
            self.estimated_rows = int(estimated or 0)
        finally:
            cur.close()
        if not keys:
            raise JsonmendError(
                "table %s.%s has no primary key: the repair walks the primary key in chunks and cannot run without one" % (self.database, self.table)
            )
        if keys != [self.pk]:
            raise JsonmendError(
                "the primary key of %s.%s is (%s), not (%s): give primary_key the table's single-column primary key"
                % (self.database, self.table, ", ".join(keys), self.pk)
            )
        self.data_type = columns[self.pk]
        if self.data_type in INTEGER_TYPES:
            self.pk_is_integer = True
        elif self.data_type in STRING_TYPES:
            self.pk_is_integer = False
        else:
            raise JsonmendError("primary key %s is %s: the repair walks integer or (var)char keys" % (self.pk, self.data_type))
        if (self.engine or "").lower() != "innodb":
            raise JsonmendError("table %s.%s uses %s: the repair needs InnoDB's transactions and row locks" % (self.database, self.table, self.engine))
        self.column_type = columns[self.column]
        self.native_json = self.column_type == "json" and d.name == "mysql"
        self.table_sql = d.q(self.table)
        self.pk_sql = d.q(self.pk)
        self.col_sql = d.q(self.column)
        # FORCE INDEX keeps every chunk statement on the primary key, whatever the optimizer's estimates.
        self.scan_sql = "%s FORCE INDEX (PRIMARY)" % self.table_sql
        self.cls_sql = d.classify_expr(self.col_sql, self.native_json)
        self.corrupt_sql = d.corrupt_predicate(self.col_sql, self.native_json)
        self.key_type = key_type_sql(self.pk_column_type, self.pk_charset, self.pk_collation)

    def key_range(self, db):
        return db.query_one("SELECT MIN(%s), MAX(%s) FROM %s" % (self.pk_sql, self.pk_sql, self.table_sql))

# What json_corrupt_export and json_row_types send to the server, checked as generated text: on a
# MySQL 8 native JSON column they classify like scan and repair (JSON_TYPE on the binary document,
# no JSON_VALID over text), on a text column as before. No MySQL 8 server runs here; the MariaDB
# statements run for real in tests/integration/test_row_modules.py.
import json_corrupt_export
import json_row_types
from ansible.module_utils.jsonmend.db.dialects import dialect_for

MYSQL = dialect_for("mysql", "8.0.36")
MARIADB = dialect_for("mariadb", "10.11.6-MariaDB")
# Native JSON: the first test after NULL is JSON_TYPE on the document; text: its first character,
# then JSON_VALID on the text (ERROR 3141 otherwise on MySQL).
NATIVE = "'SQL NULL' WHEN JSON_TYPE(`metadata`) <> 'STRING' THEN JSON_TYPE(`metadata`)"
TEXT = "JSON_VALID(`metadata`)"


def test_row_types_on_mysql_native_json_reads_the_binary_document():
    sql = json_row_types.classify_sql(MYSQL, "events", "metadata", "id", 3, native_json=True)
    assert sql.startswith("SELECT `id`, CASE WHEN `metadata` IS NULL THEN " + NATIVE)
    assert sql.endswith("FROM `events` WHERE `id` IN (%s, %s, %s)")
    assert TEXT not in sql


def test_row_types_on_a_text_column_keeps_the_text_classification():
    for dialect in (MYSQL, MARIADB):
        sql = json_row_types.classify_sql(dialect, "events", "metadata", "id", 1)
        assert NATIVE not in sql and TEXT in sql
        assert dialect.classify_expr("`metadata`") in sql and sql.endswith("WHERE `id` IN (%s)")


def test_export_on_mysql_native_json_selects_and_filters_natively():
    head, tail = json_corrupt_export.corrupt_rows_sql(MYSQL, "events", "metadata", "id", ["id", "metadata", "user_id"], True)
    assert head == "SELECT `id`, `metadata`, `user_id`, %s FROM `events` WHERE " % MYSQL.classify_expr("`metadata`", True)
    assert NATIVE in head
    assert tail == " AND (%s) NOT IN ('OBJECT', 'SQL NULL') ORDER BY `id`" % MYSQL.classify_expr("`metadata`", True)
    assert TEXT not in head + tail


def test_export_on_a_text_column_keeps_the_text_classification():
    head, tail = json_corrupt_export.corrupt_rows_sql(MARIADB, "events", "metadata", "id", ["id", "metadata"], False)
    assert NATIVE not in head + tail and TEXT in head
    assert head == "SELECT `id`, `metadata`, %s FROM `events` WHERE " % MARIADB.classify_expr("`metadata`")
    assert tail == " AND %s ORDER BY `id`" % MARIADB.corrupt_predicate("`metadata`")

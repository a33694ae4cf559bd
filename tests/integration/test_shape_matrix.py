# The shape matrix: scan -> repair (default policy) -> undo on the table shapes production has,
# under strict and non-strict global sql_mode and binlog_format ROW and STATEMENT, with module
# calls on one server (fast: 15 rows a table). After each step: no healthy row or other column
# changed; every corrupt row is either an object the application reads (or SQL NULL, the
# runbook's healthy state) or byte-identical to its original; no new invalid value; the undo is
# byte-identical except reported conflicts. docs/RELIABILITY.md shows the table;
# JSONMEND_SHAPE_REPORT=<file> writes it from a run.
import os

import pytest

from tests.support import repair as r
from tests.support import shapes

MODES = [
    ("strict", "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"),
    ("non-strict", ""),
]
BINLOG = ["ROW", "STATEMENT"]
RESULTS = {}


@pytest.fixture(scope="module", autouse=True)
def shape_report():
    """With JSONMEND_SHAPE_REPORT=<file>, write the shapes x modes table (docs/RELIABILITY.md shows it)."""
    yield
    path = os.environ.get("JSONMEND_SHAPE_REPORT")
    if not path or not RESULTS:
        return
    combos = [(m[0], b) for m in MODES for b in BINLOG]
    lines = ["| shape | default policy wrote | " + " | ".join("%s, %s" % c for c in combos) + " |", "|---|---|" + "---|" * len(combos)]
    for shape in shapes.SHAPES:
        cells = []
        for combo in combos:
            found = RESULTS.get((shape.name, combo[0], combo[1]))
            cells.append("-" if not found else "%d/%d repaired, %d left, undo %d/%d" % (found[1], found[0], found[3], found[4], found[4] + found[5]))
        written = "{} (trigger)" if shape.trigger else ("SQL NULL" if shape.nullable else "{}")
        lines.append("| %s | %s | %s |" % (shape.name, written, " | ".join(cells)))
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


@pytest.fixture(params=[(m, b) for m in MODES for b in BINLOG], ids=lambda p: "%s-%s" % (p[0][0], p[1]))
def server_mode(request, mariadb):
    """The server's global sql_mode and binlog_format for the test, put back afterwards."""
    (name, mode), binlog = request.param
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.sql_mode, @@GLOBAL.binlog_format")
        before = cur.fetchone()
        cur.execute("SET GLOBAL sql_mode = %s", (mode,))
        cur.execute("SET GLOBAL binlog_format = %s", (binlog,))
    yield name, binlog
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL sql_mode = %s", (before[0],))
        cur.execute("SET GLOBAL binlog_format = %s", (before[1],))


@pytest.mark.parametrize("shape", shapes.SHAPES, ids=lambda s: s.name)
def test_scan_repair_undo_on_every_shape(mariadb, database, server_mode, shape):
    conn = mariadb.admin(database)
    cur = conn.cursor()
    shape.create(cur)
    shape.fill(cur)
    before = shapes.snapshot(cur, shape)
    kinds = dict((str(k), v) for k, v in shape.kinds().items())
    corrupt = [k for k, kind in kinds.items() if kind not in shapes.HEALTHY]
    args = dict(table=shapes.TABLE, primary_key="id")

    # Scan: every kind counted as the application's decoder sees it; nothing written.
    scan = r.scan(mariadb, database, group_by="", **args)
    assert scan["corrupted_rows"] == len(corrupt) and scan["readable_object_rows"] == 1 and scan["unreadable_object_rows"] == 1
    assert scan["target"]["nullable"] is shape.nullable
    assert shapes.snapshot(cur, shape) == before

    # Repair with the default policy.
    repair = r.execute(mariadb, database, **args)
    assert repair["status"] == "finished"
    after = shapes.snapshot(cur, shape)
    repaired = left = 0
    for key, row in after["rows"].items():
        old = before["rows"][key]
        # No other column changed: not the key, the user, the dates, nor the ON UPDATE timestamp.
        assert dict((c, v) for c, v in row.items() if c != "metadata") == dict((c, v) for c, v in old.items() if c != "metadata"), key
        if kinds[key] in shapes.HEALTHY:
            assert row["metadata"] == old["metadata"], "healthy row %s changed" % key
        elif row["metadata"] == old["metadata"]:
            left += 1
        else:
            # No new invalid value: what was written is an object the application reads, or SQL NULL.
            assert row["metadata"] is None or shapes.reads_object(row["metadata"], shape.charset), (key, row["metadata"])
            assert row["metadata"] is not None or shape.nullable
            repaired += 1
    assert after["notes"] == before["notes"]
    assert repaired + left == len(corrupt) and repaired == repair["rows_changed"]
    assert left == repair["unwritable"]["rows"]
    rescan = r.scan(mariadb, database, group_by="", **args)
    assert rescan["corrupted_rows"] == left

    # Undo: byte-identical, every column, except reported conflicts.
    undo = r.execute(mariadb, database, mode="undo", **args)
    assert undo["restored"] == repaired and undo["conflicts"] == 0, undo["conflict_samples"]
    assert shapes.snapshot(cur, shape) == before
    cur.close()
    conn.close()
    RESULTS[(shape.name, server_mode[0], server_mode[1])] = (
        len(corrupt),
        repaired,
        len(corrupt) - repaired - left,
        left,
        undo["restored"],
        undo["conflicts"],
        "hold",
    )


@pytest.mark.parametrize(
    "ddl, needle",
    [
        ("CREATE TABLE events (a int NOT NULL, b int NOT NULL, metadata longtext, PRIMARY KEY (a, b))", "is composite (a, b)"),
        ("CREATE TABLE events (id int NOT NULL, metadata longtext)", "has no primary key"),
    ],
    ids=["composite key", "no key"],
)
def test_tables_the_repair_cannot_walk_are_refused_before_any_change(mariadb, database, admin_cursor, ddl, needle):
    admin_cursor.execute(ddl)
    admin_cursor.execute(
        "INSERT INTO events (%s) VALUES (1, %s)" % ("a, b, metadata" if "(a, b)" in ddl else "id, metadata", "1, '42'" if "(a, b)" in ddl else "'42'")
    )
    with pytest.raises(r.JsonmendError) as refused:
        r.execute(mariadb, database, table="events", primary_key="id" if "(a, b)" not in ddl else "a")
    assert needle in str(refused.value) and "nothing was changed" in str(refused.value)
    assert "single-column primary key" in str(refused.value)
    admin_cursor.execute("SHOW TABLES LIKE 'events_jsonmend%%'")
    assert admin_cursor.fetchall() == ()
    admin_cursor.execute("SELECT metadata FROM events")
    assert admin_cursor.fetchall() == (("42",),)

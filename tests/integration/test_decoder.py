# The application's decoder as the judge: the server-side prefilter proven exact against Python's
# json.loads on a generated corpus of near-miss values, and the two kinds it adds (UNREADABLE and
# READABLE OBJECT) through scan, repair (default policy) and undo.
import json

import json_type_repair
import json_type_scan
from ansible.module_utils.jsonmend.db import appjson
from ansible.module_utils.jsonmend.db.dialects import BRACED_INVALID, MariaDB

from tests.support import near_miss
from tests.support import repair as r

# (text, kind under the python decoder)
ISSUE_VALUES = [
    ('{"a": -}', appjson.UNREADABLE),
    ('{"a": 1.}', appjson.UNREADABLE),
    ('{"\\x": 1}', appjson.UNREADABLE),
    ('{"a": NaN}', appjson.READABLE),
    ('{"a": Infinity}', appjson.READABLE),
    ('{"a": "\\ud800"}', appjson.READABLE),
    ('{"a":' * 40 + "1" + "}" * 40, appjson.READABLE),
    ('{"a": 1', "INVALID"),
    ('{"a": 1, "b": "done. next", "c": "C:\\\\path"}', "OBJECT"),
    (None, "SQL NULL"),
    ("42", "INTEGER"),
]


def test_prefilter_is_exact_against_python_on_near_miss_values(mariadb, database, admin_cursor, figures):
    values = near_miss.corpus(20000)
    admin_cursor.execute("CREATE TABLE corpus (id INT PRIMARY KEY, v LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)")
    admin_cursor.executemany("INSERT INTO corpus VALUES (%s, %s)", list(enumerate(values)))
    label = MariaDB().classify_expr("v", False, BRACED_INVALID, appjson.PYTHON)
    admin_cursor.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
    admin_cursor.execute("SELECT id, JSON_VALID(v), IF(JSON_VALID(v), JSON_TYPE(v), NULL), %s FROM corpus ORDER BY id" % label)
    counts = dict(server_only=0, python_only=0, flagged=0, false_alarms=0, objects=0)
    for key, valid, server_type, cls in admin_cursor.fetchall():
        text = values[key]
        python = near_miss.python_reads_object(text)
        server = bool(valid) and server_type == "OBJECT"
        kind = appjson.resolve(cls, text, appjson.PYTHON)
        # The verdict is Python's, row for row.
        assert (kind in ("OBJECT", appjson.READABLE)) is python, (text, cls, kind)
        if server and not python:
            # No false negative: every object the server accepts and Python cannot read is flagged.
            counts["server_only"] += 1
            assert cls == appjson.SUSPECT_OBJECT, text
        if python and not server:
            counts["python_only"] += 1
            assert cls == BRACED_INVALID, text
        if cls == appjson.SUSPECT_OBJECT:
            counts["flagged"] += 1
            counts["false_alarms"] += python
        counts["objects"] += server
    # The corpus exercises both directions, many times.
    assert counts["server_only"] >= 200 and counts["python_only"] >= 30, counts
    figures(corpus=len(values), **counts)


def test_scan_counts_the_decoder_kinds_apart(mariadb, database, admin_cursor, module_runner):
    r.fill(admin_cursor, [v for v, _k in ISSUE_VALUES], check=False)
    result = module_runner(json_type_scan, r.module_args(mariadb, database, sample_limit=50))
    assert not result.failed, result.get("msg")
    assert result["unreadable_object_rows"] == 3 and result["readable_object_rows"] == 4
    assert result["by_type"][appjson.UNREADABLE] == 3 and result["by_type"][appjson.READABLE] == 4
    # Readable objects are not corrupt; unreadable ones are (with the truncated object and the number).
    assert result["corrupted_rows"] == 5 and result["object_rows"] == 1 and result["invalid_rows"] == 1
    kinds = dict((s["id"], s["type"]) for s in result["samples"])
    assert kinds == {1: appjson.UNREADABLE, 2: appjson.UNREADABLE, 3: appjson.UNREADABLE, 8: "INVALID", 11: "INTEGER"}
    assert sum(g["count"] for g in result["by_group"]) == 5 and sum(d["count"] for d in result["by_day"]) == 5
    assert sum(u["count"] for u in result["top_users"]) == 5
    assert any("READABLE OBJECT" in w for w in result["warnings_text"])
    # The server alone (the runbook's query) sees it the other way round.
    server = module_runner(json_type_scan, r.module_args(mariadb, database, decoder="server"))
    assert server["corrupted_rows"] == 6 and server["unreadable_object_rows"] == 0 and server["invalid_rows"] == 5


def test_scan_modes_agree_on_the_decoder_kinds(mariadb, database, admin_cursor, module_runner):
    values = [v for v, _k in ISSUE_VALUES] * 40
    r.fill(admin_cursor, values, check=False)
    base = r.module_args(mariadb, database, sample_limit=30, top_users=3)
    results = [module_runner(json_type_scan, dict(base, **extra)) for extra in ({}, dict(chunk_size=37), dict(parallel=3), dict(parallel=2, chunk_size=50))]
    keys = ("total_rows", "corrupted_rows", "by_type", "by_group", "by_day", "top_users", "samples", "first_corrupt", "last_corrupt")
    for other in results[1:]:
        assert dict((k, other[k]) for k in keys) == dict((k, results[0][k]) for k in keys)
    assert results[0]["readable_object_rows"] == 160 and results[0]["corrupted_rows"] == 200


def test_repair_and_undo_of_the_decoder_kinds(mariadb, database, admin_cursor):
    r.fill(admin_cursor, [v for v, _k in ISSUE_VALUES], check=True)
    before = r.column_bytes(admin_cursor)
    result = r.execute(mariadb, database)
    after = r.column_bytes(admin_cursor)
    q = r.quarantine(admin_cursor, result["run_id"])
    for pk, (_text, kind) in enumerate(ISSUE_VALUES, start=1):
        if kind in ("OBJECT", "SQL NULL", appjson.READABLE):
            # Left alone: healthy, or read by the application (default action skip).
            assert after[pk] == before[pk] and pk not in q, (pk, kind)
        else:
            assert after[pk] is None and q[pk]["original"] == before[pk] and q[pk]["type"] == kind, (pk, kind)
    assert result["by_type"][appjson.READABLE] == dict(action="skip", rows=4)
    assert result["by_type"][appjson.UNREADABLE] == dict(action="null", rows=3)
    # A policy can wrap them instead: the raw text is kept as a string the application reads.
    undo = r.execute(mariadb, database, mode="undo")
    assert undo["restored"] == 5 and r.column_bytes(admin_cursor) == before
    wrapped = r.execute(mariadb, database, policy={appjson.UNREADABLE: "wrap", appjson.READABLE: "wrap"}, default_action="skip")
    now = r.column_bytes(admin_cursor)
    assert json.loads(now[1]) == {"value": '{"a": -}'} and json.loads(now[4]) == {"value": '{"a": NaN}'}
    assert wrapped["actions"]["wrap"] == 7
    r.execute(mariadb, database, mode="undo")
    assert r.column_bytes(admin_cursor) == before


def test_module_runs_it_end_to_end(mariadb, database, admin_cursor, module_runner):
    r.fill(admin_cursor, ['{"a": 1.}', '{"a": 1}', '{"b": 2}'])
    result = module_runner(json_type_repair, r.module_args(mariadb, database))
    assert not result.failed and result["actions"]["null"] == 1 and r.column_bytes(admin_cursor)[1] is None

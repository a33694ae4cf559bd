# json_row_types and json_corrupt_export on the real server: the scan's classification for
# picked rows, and every corrupted row exported exactly, read-only, atomically.
import csv
import json

import json_corrupt_export
import json_row_types

from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD

ROWS = [
    (1, "quiz_answer_submitted", '{"a": 1}', "2026-11-01 10:00:00"),
    (1, "quiz_answer_submitted", "3.5", "2026-11-02 10:00:00"),
    (2, "quiz_completed", json.dumps(json.dumps({"a": 1})), "2026-11-02 11:00:00"),
    (3, "content_viewed", None, "2026-11-03 10:00:00"),
    (3, "content_viewed", 'not json, "quoted", with commas\nand a newline', "2026-11-04 10:00:00"),
    (4, "login", "[1, 2]", "2026-11-05 10:00:00"),
]


def filled(cur):
    seed.create_table(cur, check=False)
    seed.insert_rows(cur, ROWS)
    cur.execute("CHECKSUM TABLE analytics_activityevent EXTENDED")
    return cur.fetchone()[1]


def test_row_types_classify_like_the_scan(mariadb, database, admin_cursor, module_runner):
    filled(admin_cursor)
    result = module_runner(json_row_types, dict(mariadb.login_params(database), keys=[1, 2, 3, 4, 5, 99]))
    assert not result.failed, result.get("msg")
    assert [(r["key"], r["class"]) for r in result["rows"]] == [(1, "OBJECT"), (2, "DOUBLE"), (3, "STRING+OBJECT"), (4, "SQL NULL"), (5, "INVALID")]
    assert result["missing"] == [99] and result["all_objects"] is False
    assert module_runner(json_row_types, dict(mariadb.login_params(database), keys=["1"]))["all_objects"] is True


def test_row_types_refuse_bad_input(mariadb, database, module_runner):
    assert "keys must name at least one row" in module_runner(json_row_types, dict(mariadb.login_params(database), keys=[]))["msg"]
    refused = module_runner(json_row_types, dict(mariadb.login_params(database), keys=[1], table="x;drop"))
    assert refused.failed and "not a valid identifier" in refused["msg"]


def test_export_writes_every_corrupted_row_exactly(mariadb, database, admin_cursor, module_runner, tmp_path):
    before = filled(admin_cursor)
    dest = tmp_path / "corrupted.csv"
    result = module_runner(json_corrupt_export, dict(mariadb.login_params(database), dest=str(dest), chunk_size=2))
    assert not result.failed, result.get("msg")
    with open(dest, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "user_id", "event_type", "metadata", "created_at", "json_class"]
    assert [(r[0], r[3], r[5]) for r in rows[1:]] == [
        ("2", "3.5", "DOUBLE"),
        ("3", ROWS[2][2], "STRING+OBJECT"),
        ("5", ROWS[4][2], "INVALID"),
        ("6", "[1, 2]", "ARRAY"),
    ]
    assert result["rows"] == 4 and result["distinct_users"] == 4
    assert result["by_group"] == {"quiz_answer_submitted": 1, "quiz_completed": 1, "content_viewed": 1, "login": 1}
    assert result["first_at"] == "2026-11-02T10:00:00" and result["last_at"] == "2026-11-05T10:00:00"
    assert oct(dest.stat().st_mode & 0o777) == "0o600" and len(result["sha256"]) == 64
    assert [p.name for p in tmp_path.iterdir()] == ["corrupted.csv"]  # no partial file left
    admin_cursor.execute("CHECKSUM TABLE analytics_activityevent EXTENDED")
    assert admin_cursor.fetchone()[1] == before


def test_export_check_mode_and_refusals(mariadb, database, admin_cursor, module_runner, tmp_path):
    filled(admin_cursor)
    dest = tmp_path / "corrupted.csv"
    counted = module_runner(json_corrupt_export, dict(mariadb.login_params(database), dest=str(dest)), check_mode=True)
    assert counted["rows"] == 4 and not dest.exists()
    dest.write_text("keep me")
    refused = module_runner(json_corrupt_export, dict(mariadb.login_params(database), dest=str(dest)))
    assert refused.failed and "exists; set force" in refused["msg"] and dest.read_text() == "keep me"
    missing_dir = module_runner(json_corrupt_export, dict(mariadb.login_params(database), dest=str(tmp_path / "no" / "x.csv")))
    assert missing_dir.failed and "does not exist" in missing_dir["msg"]
    wrong = module_runner(json_corrupt_export, dict(mariadb.login_params(database), dest=str(tmp_path / "y.csv"), user_column="owner"))
    assert wrong.failed and "user_column 'owner' is not a column" in wrong["msg"] and TOOL_PASSWORD not in json.dumps(wrong)

# The one-pass scan (issue 17): several workers, aggregate or chunked, give exactly the figures of
# one worker, and those figures are the truth as the application's decoder reads each row (checked
# row by row in Python here), with the corruption spread through the table or packed in one key
# range, and with the rows only the decoder settles alone, in pairs and in clusters.
from collections import Counter

import json_type_scan
import pytest
from ansible.module_utils.jsonmend.db import appjson

from tools.devstack import seed

KEYS = (
    "total_rows",
    "corrupted_rows",
    "sql_null_rows",
    "by_type",
    "by_group",
    "by_group_totals",
    "by_day",
    "top_users",
    "samples",
    "first_corrupt",
    "last_corrupt",
)
# Rows the application's decoder settles: '{'-first, so the one pass finds them by key bucket.
DECODER_ROWS = ['{"a": 1.}'] * 5 + ['{"a": NaN}'] + ['{"a": -}'] * 2 + ['{"a": 1']


def add_decoder_rows(cur, spots):
    """Decoder rows at a few places: consecutive (one bucket, three or more), pairs and alone."""
    rows = []
    for spot, values in spots:
        rows += [(spot % 97 + 1, "quiz_completed", v, "2026-09-%02d 12:00:00" % (spot % 28 + 1)) for v in values]
    seed.insert_rows(cur, rows)


def truth(cur, top, samples):
    """Corrupt rows as the application reads them, row by row: (count, first sample keys, top users)."""
    cur.execute("SELECT id, user_id, metadata FROM analytics_activityevent ORDER BY id")
    corrupt = [(pk, user) for pk, user, value in cur.fetchall() if value is not None and not appjson.app_reads_object(value)]
    users = Counter(user for _pk, user in corrupt)
    ranked = sorted(users.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return len(corrupt), [pk for pk, _u in corrupt[:samples]], ranked


@pytest.mark.parametrize(
    "span, percent",
    [((0.0, 1.0), 1.0), ((0.45, 0.5), 20.0)],
    ids=["spread", "concentrated"],
)
def test_workers_and_chunks_give_exactly_the_single_worker_result(mariadb, database, admin_cursor, module_runner, span, percent):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 12000, corrupt_percent=percent, invalid=True, corrupt_span=span, users=40)
    add_decoder_rows(admin_cursor, [(1, DECODER_ROWS), (2, DECODER_ROWS[:1])])
    seed.seed(admin_cursor, 12000, corrupt_percent=percent, invalid=True, corrupt_span=span, users=40, salt=2)
    add_decoder_rows(admin_cursor, [(3, DECODER_ROWS[5:8])])
    args = dict(mariadb.login_params(database), top_users=15, sample_limit=150)
    runs = [dict(parallel=1), dict(parallel=2), dict(parallel=4), dict(parallel=1, chunk_size=1000), dict(parallel=3, chunk_size=777)]
    results = [module_runner(json_type_scan, dict(args, **extra)) for extra in runs]
    for extra, result in zip(runs, results, strict=True):
        assert not result.failed, result.get("msg")
        assert result["scan"]["parallel"] == extra["parallel"]
        assert {k: result[k] for k in KEYS} == {k: results[0][k] for k in KEYS}, extra
    one = results[0]
    count, first_keys, ranked = truth(admin_cursor, 15, 150)
    assert one["corrupted_rows"] == count and count > 150
    assert [s["id"] for s in one["samples"]] == first_keys
    assert [(u["user"], u["count"]) for u in one["top_users"]] == ranked
    assert one["unreadable_object_rows"] == 7 + 1 + 2 and one["readable_object_rows"] == 2
    assert sum(g["count"] for g in one["by_group"]) == count and sum(d["count"] for d in one["by_day"]) == count


def test_a_chunked_scan_writes_progress_lines_to_follow(mariadb, database, admin_cursor, module_runner, tmp_path):
    seed.create_table(admin_cursor)
    seed.seed(admin_cursor, 5000, corrupt_percent=2.0)
    path = tmp_path / "scan.progress"
    args = dict(mariadb.login_params(database), chunk_size=500, parallel=2, progress_file=str(path), progress_interval=0)
    result = module_runner(json_type_scan, args)
    assert not result.failed, result.get("msg")
    lines = path.read_text().splitlines()
    assert len(lines) == result["scan"]["chunks"] + 1
    assert all(" rows=" in line and " rows/s eta=" in line for line in lines)
    assert lines[-1].split(" ", 1)[1].startswith("scan done rows=5000 100.0% ")
    assert "corrupt=%d " % result["corrupted_rows"] in lines[-1]

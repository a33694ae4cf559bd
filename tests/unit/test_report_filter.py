# The findings table an operator would fill by hand, from a scan result.
import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_report import findings_rows, jsonmend_findings_text, type_lines
from filter_plugins.jsonmend_strategy import jsonmend_strategy

SCAN = {
    "total_rows": 54325,
    "corrupted_rows": 179,
    "sql_null_rows": 8912,
    "double_encoded_rows": 0,
    "invalid_rows": 0,
    "by_type": {"OBJECT": 45234, "INTEGER": 156, "DOUBLE": 23, "STRING": 0, "ARRAY": 0, "NULL": 0, "INVALID": 0},
    "by_group": [
        {"group": "quiz_answer_submitted", "type": "INTEGER", "double_encoded": False, "count": 142, "priority": "HIGH"},
        {"group": "quiz_completed", "type": "DOUBLE", "double_encoded": False, "count": 23, "priority": "HIGH"},
        {"group": "content_viewed", "type": "INTEGER", "double_encoded": False, "count": 14, "priority": "LOW"},
    ],
    "first_corrupt": {"id": 10, "at": "2026-11-01T00:00:00"},
    "last_corrupt": {"id": 99, "at": "2026-11-20T00:00:00"},
    "by_day": [{"day": "2026-11-20", "count": 5}],
    "top_users": [{"user": 7, "count": 3}],
    "target": {"database": "app", "table": "analytics_activityevent", "column": "metadata", "group_by": "event_type"},
}


def test_findings_rows_are_the_runbooks_table():
    rows = findings_rows(SCAN)
    assert [r[0] for r in rows] == [
        "Total rows",
        "Corrupted rows",
        "NULL metadata",
        "Valid OBJECT metadata",
        "INTEGER metadata",
        "DOUBLE metadata",
        "STRING metadata",
        "ARRAY metadata",
    ]
    assert [r[1] for r in rows] == [54325, 179, 8912, 45234, 156, 23, 0, 0]


def test_type_lines_mark_problems():
    assert type_lines(SCAN) == [("✓", "OBJECT", 45234, False), ("○", "NULL", 8912, False), ("✗", "INTEGER", 156, True), ("✗", "DOUBLE", 23, True)]


def test_text_looks_like_the_runbooks_example():
    text = jsonmend_findings_text(SCAN, jsonmend_strategy(179))
    assert "METADATA CORRUPTION DIAGNOSTIC" in text
    assert "✗ INTEGER                 156 rows  ← PROBLEM" in text
    assert "• quiz_answer_submitted" in text and "142 rows  ← HIGH PRIORITY" in text
    assert "Recommended strategy: C" in text


def test_healthy_text():
    healthy = dict(SCAN, corrupted_rows=0, by_group=[], by_type={"OBJECT": 5})
    assert "Database is healthy" in jsonmend_findings_text(healthy)


def test_not_a_scan_is_refused():
    with pytest.raises(AnsibleFilterError, match="json_type_scan"):
        jsonmend_findings_text({"total_rows": 1})

# Messages an operator reads (issue 15, item 7): the checklist's lines, the investigation's types,
# JSON null named alike on the console and in the reports.
import re

from filter_plugins.jsonmend_report import jsonmend_findings_text
from tools.devstack.playbooks import run_playbook

SCAN = dict(
    total_rows=10,
    corrupted_rows=4,
    sql_null_rows=1,
    by_type={"OBJECT": 5, "NULL": 4},
    by_group=[dict(group="quiz", type="NULL", count=4, priority="HIGH")],
    target=dict(database="app", table="events", column="metadata", group_by="event_type"),
)


def test_messages_read_as_sentences(tmp_path):
    result = run_playbook("tests/playbooks/messages.yml", {}, tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout[-3000:]
    # Each checklist item and its detail apart, never run together.
    assert "- [x] Production diagnosis complete (Phase 2): 604 corrupted of 1000 rows, scanned 2026-01-01T00:00:00Z" in out
    assert "(Phase 2)604" not in out
    assert "- [x] Rollback plan prepared (previous commit recorded): git reset --hard 0123456789" in out
    # The investigation's types one per line, biggest first, named as the findings name them.
    assert not re.search(r"By type: +\S", out)
    lines = [line.strip().lstrip("- ").strip("'\"").strip() for line in result.stdout.splitlines()]
    start = lines.index("By type:")
    assert re.match(r"• JSON null +304 rows$", lines[start + 1]) and re.match(r"• INTEGER +300 rows$", lines[start + 2])
    # The diagnosis report's group table says JSON null, as the console does.
    assert "| quiz | JSON null | 304 | HIGH |" in out and "| quiz | NULL |" not in out


def test_console_names_json_null_and_sql_null_apart():
    text = jsonmend_findings_text(SCAN)
    assert "✗ JSON null" in text and "○ NULL" in text
    assert re.search(r"• quiz +JSON null", text)

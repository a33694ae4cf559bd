# playbooks/guard.yml end to end on a real MariaDB: --check shows the DDL and changes nothing,
# observe installs and records, status counts what it logged, enforce is refused over a corrupt
# row (exit 2, the refusal in the record), off removes only jsonmend's triggers.
import json

from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD
from tools.devstack.playbooks import db_vars, run_playbook


def guard_vars(mariadb, database, tmp_path, mode, **extra):
    return db_vars(mariadb, database, jsonmend_report_dir=str(tmp_path / "reports"), jsonmend_guard_mode=mode, **extra)


def triggers(cur):
    cur.execute("SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME")
    return cur.fetchall()


def records(tmp_path):
    return [json.loads(line) for line in (tmp_path / "reports" / "records.jsonl").read_text().splitlines()]


def test_the_guard_playbook_observes_reports_refuses_and_removes(mariadb, database, admin_cursor, tmp_path):
    seed.create_table(admin_cursor)
    seed.insert_rows(admin_cursor, [(1, "login", '{"ok": 1}', "2026-11-01 00:00:00")])
    admin_cursor.execute("CREATE TRIGGER app_audit BEFORE INSERT ON analytics_activityevent FOR EACH ROW SET NEW.event_type = NEW.event_type")
    before = triggers(admin_cursor)

    planned = run_playbook("guard.yml", guard_vars(mariadb, database, tmp_path, "observe"), tmp_path, check=True)
    assert planned.returncode == 0, planned.stdout[-3000:]
    assert "CREATE TRIGGER `jsonmend_guard_observe_ins_analytics_activityevent` AFTER INSERT" in planned.stdout
    assert "off -> observe (check mode: nothing changed)" in " ".join(planned.stdout.split())
    assert triggers(admin_cursor) == before

    observed = run_playbook("guard.yml", guard_vars(mariadb, database, tmp_path, "observe"), tmp_path)
    assert observed.returncode == 0, observed.stdout[-3000:]
    assert [name for name, _ in triggers(admin_cursor)] == [
        "app_audit",
        "jsonmend_guard_observe_ins_analytics_activityevent",
        "jsonmend_guard_observe_upd_analytics_activityevent",
    ]
    record = records(tmp_path)[-1]
    assert record["outcome"] == "success" and record["guard"]["installed_before"] == "off" and record["guard"]["installed"] == "observe"
    assert record["undo_command"] == "./jsonmend guard -e jsonmend_guard_mode=off"
    assert "jsonmend_guard_mode=enforce" in record["next_command"]
    notes = list((tmp_path / "reports").glob("*/notifications/guard_change.txt"))
    assert len(notes) == 1 and "changed from off to observe" in notes[0].read_text()
    assert "| Guard | off → observe (3 DDL statement(s)) |" in (tmp_path / "reports" / record["run_id"] / "record.md").read_text()

    # A writer outside the application (the CHECK lets a bare number through).
    admin_cursor.execute("INSERT INTO analytics_activityevent (user_id, event_type, metadata, created_at) VALUES (7, 'quiz_completed', '3.5', NOW())")
    status = run_playbook("guard.yml", guard_vars(mariadb, database, tmp_path, "status"), tmp_path)
    assert status.returncode == 0, status.stdout[-3000:]
    assert "observe, 1 non-object write(s) logged (1 DOUBLE)" in " ".join(status.stdout.split())

    refused = run_playbook("guard.yml", guard_vars(mariadb, database, tmp_path, "enforce"), tmp_path)
    assert refused.returncode == 2, refused.stdout[-3000:]
    assert "enforce refused: 1 row(s) of analytics_activityevent.metadata are not JSON objects" in refused.stdout
    assert records(tmp_path)[-1]["outcome"] == "refused" and "enforce refused" in records(tmp_path)[-1]["failure"]
    assert records(tmp_path)[-1]["next_command"] == "fix what stopped the run (above), then ./jsonmend guard again"
    assert [name for name, _ in triggers(admin_cursor)][1].startswith("jsonmend_guard_observe_")

    off = run_playbook("guard.yml", guard_vars(mariadb, database, tmp_path, "off"), tmp_path)
    assert off.returncode == 0, off.stdout[-3000:]
    assert triggers(admin_cursor) == before
    assert TOOL_PASSWORD not in planned.stdout + observed.stdout + status.stdout + refused.stdout + off.stdout


def test_enforce_as_a_constraint_needs_the_operators_yes(mariadb, database, admin_cursor, tmp_path):
    seed.create_table(admin_cursor)
    seed.insert_rows(admin_cursor, [(1, "login", '{"ok": 1}', "2026-11-01 00:00:00")])
    constraint = dict(jsonmend_guard_enforce_with="constraint")
    unconfirmed = run_playbook("guard.yml", guard_vars(mariadb, database, tmp_path, "enforce", **constraint), tmp_path)
    assert unconfirmed.returncode == 2, unconfirmed.stdout[-3000:]
    assert "refused without confirm_rebuild (playbook: -e jsonmend_confirm=yes)" in " ".join(unconfirmed.stdout.split())
    assert triggers(admin_cursor) == ()
    admin_cursor.execute("SELECT COUNT(*) FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_NAME LIKE 'jsonmend%'")
    assert admin_cursor.fetchone()[0] == 0
    done = run_playbook("guard.yml", guard_vars(mariadb, database, tmp_path, "enforce", jsonmend_confirm="yes", **constraint), tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "off -> enforce" in " ".join(done.stdout.split()) and "ALGORITHM=COPY, LOCK=SHARED" in done.stdout
    admin_cursor.execute(
        "SELECT CONSTRAINT_NAME FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME LIKE 'jsonmend%'"
    )
    assert admin_cursor.fetchall() == (("jsonmend_guard_metadata",),)
    off = run_playbook("guard.yml", guard_vars(mariadb, database, tmp_path, "off"), tmp_path)
    assert off.returncode == 0, off.stdout[-3000:]
    admin_cursor.execute("SELECT COUNT(*) FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_NAME LIKE 'jsonmend%'")
    assert admin_cursor.fetchone()[0] == 0

# playbooks/phase2_diagnose.yml end to end on the real server: findings printed, reports
# written, check mode writes nothing, bad input refused first, the password never shown.
import json

import pytest

from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD
from tools.devstack.playbooks import db_vars, run_playbook


@pytest.fixture
def seeded(admin_cursor):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 20000, corrupt_percent=1.0, invalid=True)
    admin_cursor.execute("CHECKSUM TABLE analytics_activityevent EXTENDED")
    return admin_cursor.fetchone()[1]


def diagnose_vars(mariadb, database, **extra):
    """The diagnosis alone: the backup step phase2_diagnose.yml runs first has its own tests."""
    return db_vars(mariadb, database, jsonmend_backup=False, **extra)


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def test_diagnosis_prints_findings_and_writes_reports(mariadb, database, seeded, tmp_path, admin_cursor):
    reports = tmp_path / "reports"
    result = run_playbook("phase2_diagnose.yml", diagnose_vars(mariadb, database, jsonmend_report_dir=str(reports)), tmp_path, verbosity=3)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    out = result.stdout
    for text in ("METADATA CORRUPTION DIAGNOSTIC", "Valid OBJECT metadata", "✓ OBJECT", "✗ INTEGER", "← PROBLEM", "← HIGH PRIORITY", "Recommended strategy: C"):
        assert text in out
    latest = json.loads((reports / "diagnosis-latest.json").read_text())
    for key in ("total_rows", "corrupted_rows", "sql_null_rows", "by_type", "by_group", "strategy"):
        assert key in latest
    assert latest["total_rows"] == 20000 and latest["strategy"] == "C" and 50 < latest["corrupted_rows"] <= 500
    assert latest["invalid_rows"] > 0
    run_dirs = [p for p in reports.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1
    names = sorted(p.name for p in run_dirs[0].iterdir())
    assert names == ["diagnose_metadata_corruption.sql", "diagnosis.json", "diagnosis.md", "record.json", "record.md"]
    markdown = (run_dirs[0] / "diagnosis.md").read_text()
    assert "| Corrupted rows | {:,} |".format(latest["corrupted_rows"]) in markdown
    # The DBA's SQL runs and agrees with the module.
    sql = (run_dirs[0] / "diagnose_metadata_corruption.sql").read_text()
    first = [s for s in sql.split(";\n") if "AS json_type, COUNT(*) AS row_count" in s][0].split("\n")[-1]
    admin_cursor.execute(first)
    counted = dict(admin_cursor.fetchall())
    # Invalid text starting with '{' is labelled INVALID{ there: Python's json.loads settles it (none reads as an object here).
    assert counted.get("INVALID", 0) + counted.get("INVALID{", 0) == latest["invalid_rows"] + latest["readable_object_rows"]
    assert counted["SQL NULL"] == latest["sql_null_rows"]
    # The password never appears, even at -vvv, nor in any report.
    assert TOOL_PASSWORD not in out + result.stderr
    for path in reports.rglob("*"):
        if path.is_file():
            assert TOOL_PASSWORD not in path.read_text()


def test_check_mode_writes_nothing(mariadb, database, seeded, tmp_path, admin_cursor):
    reports = tmp_path / "reports"
    result = run_playbook("phase2_diagnose.yml", diagnose_vars(mariadb, database, jsonmend_report_dir=str(reports)), tmp_path, check=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "METADATA CORRUPTION DIAGNOSTIC" in result.stdout
    assert not reports.exists()
    admin_cursor.execute("CHECKSUM TABLE analytics_activityevent EXTENDED")
    assert admin_cursor.fetchone()[1] == seeded


def test_works_for_any_json_column(mariadb, database, admin_cursor, tmp_path):
    admin_cursor.execute("CREATE TABLE shop_order (pk BIGINT PRIMARY KEY, channel VARCHAR(8), attrs JSON, placed_at DATETIME, buyer INT)")
    admin_cursor.execute("INSERT INTO shop_order VALUES (1, 'web', '{}', '2026-01-01', 1), (2, 'web', '3', '2026-01-02', 2)")
    reports = tmp_path / "r"
    variables = diagnose_vars(
        mariadb,
        database,
        jsonmend_table="shop_order",
        jsonmend_column="attrs",
        jsonmend_primary_key="pk",
        jsonmend_group_column="channel",
        jsonmend_timestamp_column="placed_at",
        jsonmend_user_column="buyer",
        jsonmend_report_dir=str(reports),
    )
    result = run_playbook("phase2_diagnose.yml", variables, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    latest = json.loads((reports / "diagnosis-latest.json").read_text())
    assert latest["corrupted_rows"] == 1 and latest["strategy"] == "B"
    assert "ATTRS CORRUPTION DIAGNOSTIC" in result.stdout


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"jsonmend_table": "x; DROP TABLE y"}, 'jsonmend_table="x; DROP TABLE y" is not a valid identifier'),
        ({"jsonmend_column": "metadata\n"}, "jsonmend_column="),
        ({"jsonmend_db_name": "db`x"}, "is not a valid database name"),
        ({"diagnose_chunk_size": -1}, "diagnose settings refused"),
        ({"diagnose_chunk_size": "lots"}, "diagnose_chunk_size"),
        ({"diagnose_priorities": {"login": "URGENT"}}, "priorities HIGH, MEDIUM or LOW"),
        ({"strategy_thresholds": {"a_max": 0, "b_max": 600, "c_max": 500}}, "thresholds overlap"),
        ({"jsonmend_db_dialect": "oracle"}, "jsonmend_db_dialect"),
        ({"jsonmend_table": "no_such_table"}, "does not exist"),
        ({"jsonmend_db_password": "not-the-password"}, "Access denied"),
    ],
)
def test_bad_input_is_refused_before_any_change(mariadb, database, seeded, tmp_path, admin_cursor, variables, message):
    reports = tmp_path / "reports"
    result = run_playbook("phase2_diagnose.yml", diagnose_vars(mariadb, database, jsonmend_report_dir=str(reports), **variables), tmp_path)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]
    assert not reports.exists()
    assert TOOL_PASSWORD not in result.stdout + result.stderr
    admin_cursor.execute("CHECKSUM TABLE analytics_activityevent EXTENDED")
    assert admin_cursor.fetchone()[1] == seeded


def test_a_long_scan_can_be_followed_with_tail_f(mariadb, database, seeded, tmp_path):
    progress = tmp_path / "scan.progress"
    extra = dict(jsonmend_report_dir=str(tmp_path / "reports"), diagnose_chunk_size=2000, diagnose_progress_file=str(progress))
    result = run_playbook("phase2_diagnose.yml", diagnose_vars(mariadb, database, **extra), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    last = progress.read_text().splitlines()[-1]
    assert " scan done rows=20000 100.0% rate=" in last and " eta=0.0s corrupt=" in last

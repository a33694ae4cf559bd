# Unknown variables (issue 15, item 5): a misspelt jsonmend_ or role-prefixed variable stops the run
# before any change, naming the closest known variable; nothing is scanned, written or rolled back.
import pytest

from tools.devstack import seed
from tools.devstack.playbooks import db_vars, run_playbook


@pytest.mark.parametrize(
    ("playbook", "typo", "meant"),
    [
        ("phase2_diagnose.yml", "jsonmend_tabel", "jsonmend_table"),
        ("rollback.yml", "jsonmend_rollbak_scope", "jsonmend_rollback_scope"),
        ("cleanup.yml", "cleanup_chunk_sise", "cleanup_chunk_size"),
    ],
)
def test_a_misspelt_variable_stops_the_run_before_any_change(mariadb, database, tmp_path, playbook, typo, meant):
    reports = tmp_path / "reports"
    variables = db_vars(mariadb, database, jsonmend_report_dir=str(reports), jsonmend_confirm="yes", **{typo: "code"})
    result = run_playbook(playbook, variables, tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode != 0, out[-3000:]
    assert "Unknown variable: %s (did you mean %s?). " % (typo, meant) in out
    assert "Nothing was changed." in out
    # Refused by preflight's first check: no other task ran, no report or record was written.
    assert "json_type_scan" not in out and "Undo" not in out
    assert not reports.exists()


def test_a_variable_of_ones_own_can_be_declared(mariadb, database, admin_cursor, tmp_path):
    seed.create_table(admin_cursor)
    seed.seed(admin_cursor, 50, corrupt_percent=0)
    variables = db_vars(mariadb, database, jsonmend_backup=False, jsonmend_my_label="x", preflight_known_variables=["jsonmend_my_label"])
    result = run_playbook("phase2_diagnose.yml", variables, tmp_path, check=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Unknown variable" not in result.stdout

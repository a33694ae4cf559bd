# The operator's console (issue 15, item 9): a line per phase, the findings and questions in full
# whatever display_ok_hosts says, failures with their message, a closing summary; -v and
# ANSIBLE_STDOUT_CALLBACK=ansible.builtin.default give Ansible's usual output.
import re
import subprocess

import pytest

from tools.devstack import seed
from tools.devstack.playbooks import db_vars, run_playbook

RULE = "─" * 20


@pytest.fixture
def seeded(admin_cursor):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 2000, corrupt_percent=1.0)


def diagnose(mariadb, database, tmp_path, **extra):
    return db_vars(mariadb, database, jsonmend_backup=False, jsonmend_report_dir=str(tmp_path / "reports"), **extra)


def test_findings_phases_and_summary_whatever_display_ok_hosts_says(mariadb, database, seeded, tmp_path):
    result = run_playbook("phase2_diagnose.yml", diagnose(mariadb, database, tmp_path), tmp_path, console=True, env={"ANSIBLE_DISPLAY_OK_HOSTS": "false"})
    out = result.stdout
    assert result.returncode == 0, out[-3000:]
    assert "METADATA CORRUPTION DIAGNOSTIC" in out and "Recommended strategy: B" in out
    # Without a backup the pre-backup checks are skipped as one task (the scan checks the target first).
    for phase in ("preflight", "diagnose", "strategy", "report", "record"):
        assert re.search(r"^  ✓ %s +\d+\.\ds" % phase, out, re.M), phase
    assert "TASK [" not in out and "PLAY RECAP" not in out
    summary = out[out.index(RULE) :]
    assert "Outcome:  SUCCESS  (phase2_diagnose.yml" in summary
    record = re.search(r"^Record:   (\S+record\.md)$", summary, re.M)
    assert record and (tmp_path / "reports") in __import__("pathlib").Path(record.group(1)).parents
    assert "Next:     ./jsonmend deploy -e strategy=B" in summary
    assert re.search(r"^Scan:     2,000 rows in \d+\.\ds \([\d,]+ rows/s, 1 worker, aggregate\), [\d,]+ corrupted$", summary, re.M), summary
    assert "DeprecationWarning" not in result.stderr


def test_a_refusal_shows_its_message_and_the_summary_says_it_stopped(mariadb, database, seeded, tmp_path):
    result = run_playbook("phase2_diagnose.yml", diagnose(mariadb, database, tmp_path, jsonmend_colum="x"), tmp_path, console=True)
    out = result.stdout
    assert result.returncode != 0
    assert "    ✗ preflight : Refuse variables nothing declares (typos) [localhost]: Unknown variable: jsonmend_colum (did you mean jsonmend_column?)." in out
    assert re.search(r"^  ✗ preflight +\d+\.\ds  failed \(above\)$", out, re.M), out
    assert "Outcome:  FAILED" in out and "Stopped:  preflight : Refuse variables nothing declares (typos): Unknown variable: jsonmend_colum" in out
    assert "[ERROR]" not in out and "Origin:" not in out


def test_a_question_is_shown_in_full_with_its_answer(mariadb, database, seeded, tmp_path):
    variables = db_vars(mariadb, database, jsonmend_backup=False, jsonmend_report_dir=str(tmp_path / "reports"), cleanup_control_dir=str(tmp_path / "c"))
    variables.update(cleanup_backup_manifest_file=str(tmp_path / "none.json"))
    result = run_playbook("cleanup.yml", variables, tmp_path, console=True, stdin=subprocess.DEVNULL, env={"ANSIBLE_DISPLAY_OK_HOSTS": "false"})
    out = result.stdout
    questions = [line for line in out.splitlines() if line.startswith("    ? ")]
    if questions:  # the cleanup asks before its backup gate refuses, or the gate refuses first
        assert "→ no answer (no terminal)" in out
    assert result.returncode != 0 and "Outcome:  FAILED" in out


def test_verbose_and_the_default_callback_give_ansibles_usual_output(mariadb, database, seeded, tmp_path):
    verbose = run_playbook("phase2_diagnose.yml", diagnose(mariadb, database, tmp_path), tmp_path, console=True, verbosity=1, check=True)
    assert verbose.returncode == 0 and "TASK [preflight : " in verbose.stdout and "PLAY RECAP" in verbose.stdout
    off = run_playbook(
        "phase2_diagnose.yml",
        diagnose(mariadb, database, tmp_path),
        tmp_path,
        console=True,
        check=True,
        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"},
    )
    assert off.returncode == 0 and "PLAY RECAP" in off.stdout and "Outcome:" not in off.stdout

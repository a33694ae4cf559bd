# Run from anywhere (issue 15, item 6): ./jsonmend <playbook> runs the checkout's playbook with its
# ansible.cfg and .venv from any directory; so does ansible-playbook with ANSIBLE_CONFIG set. A
# normal run prints no deprecation warning (item 9).
import json
import os
import subprocess

import pytest

from tools.devstack import seed
from tools.devstack.playbooks import BIN, ROOT, db_vars

ENTRY = ROOT / "jsonmend"


@pytest.fixture
def seeded(admin_cursor):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 300, corrupt_percent=2.0)


def elsewhere_env():
    """An operator's shell: no ANSIBLE_* settings, the virtualenv not on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != str(BIN))
    env.update(ANSIBLE_NOCOLOR="1")
    return env


def vars_file(tmp_path, mariadb, database):
    path = tmp_path / "vars.json"
    path.write_text(json.dumps(db_vars(mariadb, database, jsonmend_backup=False, jsonmend_report_dir=str(tmp_path / "reports"))))
    path.chmod(0o600)
    return path


def test_entry_point_runs_a_playbook_from_another_directory(mariadb, database, seeded, tmp_path):
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    vars_file(tmp_path, mariadb, database)
    result = subprocess.run(
        [str(ENTRY), "diagnose", "-e", "@../vars.json", "-i", "inventories/local"],
        cwd=cwd,
        env=elsewhere_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "METADATA CORRUPTION DIAGNOSTIC" in result.stdout
    assert (tmp_path / "reports" / "diagnosis-latest.json").is_file()
    assert not any(cwd.iterdir())
    # No deprecation warning of any kind (cryptography's DSA warning was printed at every start).
    assert "DeprecationWarning" not in result.stderr and "[DEPRECATION WARNING]" not in result.stdout + result.stderr


def test_plain_ansible_playbook_with_the_checkouts_config_runs_from_another_directory(mariadb, database, seeded, tmp_path):
    vars_file(tmp_path, mariadb, database)
    env = elsewhere_env()
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / "phase2_diagnose.yml"), "-e", "@%s" % (tmp_path / "vars.json"), "--check"],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "METADATA CORRUPTION DIAGNOSTIC" in result.stdout
    assert "DeprecationWarning" not in result.stderr


def test_entry_point_lists_its_playbooks_and_refuses_an_unknown_one(tmp_path):
    listing = subprocess.run([str(ENTRY), "--list"], cwd=tmp_path, env=elsewhere_env(), capture_output=True, text=True, check=False)
    assert listing.returncode == 0
    for name in ("deploy", "rollback", "phase2_diagnose (or diagnose)", "weekly_check"):
        assert "  %s\n" % name in listing.stdout
    wrong = subprocess.run([str(ENTRY), "deplyo"], cwd=tmp_path, env=elsewhere_env(), capture_output=True, text=True, check=False)
    assert wrong.returncode == 2 and "no playbook named 'deplyo'" in wrong.stderr

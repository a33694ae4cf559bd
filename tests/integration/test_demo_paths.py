# The demo writes only inside the checkout (issue 15, item 8): with the local inventory, the weekly
# check's metric file and the repair's progress files land under .demo/, never in the production
# defaults (/var/lib/node_exporter/textfile_collector, /var/tmp/jsonmend).
import os
import subprocess
from pathlib import Path

import pytest

from tools.devstack import seed
from tools.devstack.playbooks import BIN, ROOT, db_vars, run_playbook

PRODUCTION_DIRS = [Path("/var/lib/node_exporter"), Path("/var/tmp/jsonmend"), Path("/var/backups/jsonmend")]
WRITTEN = ("metrics_textfile_dir", "cleanup_control_dir", "backup_dir", "jsonmend_report_dir", "jsonmend_app_dir", "jsonmend_maintenance_flag")


def files_naming(database):
    """Files under the production directories whose path names this test's database."""
    return sorted(str(p) for base in PRODUCTION_DIRS if base.is_dir() for p in base.rglob("*") if database in str(p))


def test_every_path_the_demo_inventory_writes_is_inside_the_checkout():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    # Reports default to reports/ beside playbooks/ (the preflight role's default) unless the inventory says.
    expressions = ", ".join(name + (" | default(preflight_report_dir_stand_in)" if name == "jsonmend_report_dir" else "") for name in WRITTEN)
    command = [str(BIN / "ansible"), "localhost", "-m", "ansible.builtin.debug", "-a", "msg={{ [%s] }}" % expressions]
    result = subprocess.run(
        command + ["-e", "preflight_report_dir_stand_in=%s/reports" % ROOT],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    paths = [line.strip().strip("-").strip().strip("'\"") for line in result.stdout.splitlines() if line.strip().startswith("- ")]
    assert len(paths) == len(WRITTEN), result.stdout
    for name, path in zip(WRITTEN, paths, strict=True):
        assert Path(os.path.normpath(path)).is_relative_to(ROOT), "%s=%s is outside the checkout" % (name, path)


@pytest.fixture
def seeded(admin_cursor):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 400, corrupt_percent=3.0)


def test_a_demo_run_writes_under_the_demo_directory_only(mariadb, database, seeded, tmp_path):
    demo = tmp_path / "demo"
    # The local inventory as is, its .demo/ moved to a temporary directory for the test.
    variables = db_vars(mariadb, database, jsonmend_demo_dir=str(demo), jsonmend_report_dir=str(tmp_path / "reports"), jsonmend_confirm="yes")
    before = files_naming(database)
    weekly = run_playbook("weekly_check.yml", variables, tmp_path)
    assert weekly.returncode != 0 and "corrupted row(s)" in weekly.stdout, weekly.stdout[-3000:]
    assert list((demo / "metrics").glob("jsonmend_%s_*.prom" % database))
    cleanup = run_playbook("cleanup.yml", variables, tmp_path, stdin=subprocess.DEVNULL)
    assert cleanup.returncode == 0, cleanup.stdout[-4000:]
    assert list((demo / "control").rglob("repair.progress")) and list((demo / "backups").glob("*.sql.gz"))
    assert files_naming(database) == before

# The README's cron lines, as written, against an inventory shaped like inventories/production
# whose vault holds the database password (issue 14): with a vault password file they run; without
# one they stop with Ansible's vault error before anything runs; with the password the README
# publishes for the demo, preflight refuses before the database is touched.
import os
import re
import shlex
import subprocess

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from tests.support.awx_definitions import DEMO_VAULT_PASSWORD
from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD, TOOL_USER
from tools.devstack.playbooks import BIN, ROOT

pytestmark = pytest.mark.clock

OWN_PASSWORD = "an-operators-own-vault-password"


def readme_cron_lines():
    """The crontab lines of the README's cron block: (schedule, command)."""
    text = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```cron\n(.*?)```", text, re.S)
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return [(" ".join(line.split()[:5]), " ".join(line.split()[5:])) for line in lines]


def inventory(tmp_path, mariadb, database, vault_password):
    """inventories/production's shape: hosts.yml, group_vars/all/{database,vault}.yml, on this machine."""
    inv = tmp_path / "inventories" / "production"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {"dbadmin": {"hosts": {"localhost": None}}, "app": {"hosts": {"localhost": None}}},
                    "vars": {"ansible_connection": "local", "ansible_python_interpreter": str(BIN / "python")},
                }
            }
        )
    )
    (inv / "group_vars" / "all" / "database.yml").write_text(
        yaml.safe_dump(
            dict(
                jsonmend_environment="cron-test",
                jsonmend_db_host="127.0.0.1",
                jsonmend_db_port=mariadb.port,
                jsonmend_db_user=TOOL_USER,
                jsonmend_db_password="{{ vault_jsonmend_db_password }}",
                jsonmend_db_config_file="",
                jsonmend_db_name=database,
                jsonmend_report_dir=str(tmp_path / "reports"),
                metrics_textfile_dir=str(tmp_path / "prom"),
            )
        )
    )
    vault = VaultLib([("default", VaultSecret(vault_password.encode()))])
    (inv / "group_vars" / "all" / "vault.yml").write_bytes(vault.encrypt("vault_jsonmend_db_password: %s\n" % TOOL_PASSWORD))
    return inv


def run_cron_line(command, inv, password_file, tmp_path):
    """The README's command with its paths pointed at this test's inventory and password file."""
    assert command.startswith("cd ") and " && " in command, command
    argv = shlex.split(command.split(" && ", 1)[1])
    assert argv[0].endswith("ansible-playbook")
    argv[0] = str(BIN / "ansible-playbook")
    argv = [str(inv) if a == "inventories/production" else str(password_file) if a.startswith("~/") else a for a in argv]
    if password_file is None:
        at = argv.index("--vault-password-file")
        del argv[at : at + 2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PATH="%s:%s" % (BIN, os.environ.get("PATH", "")), HOME=str(tmp_path))
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False, stdin=subprocess.DEVNULL)


@pytest.fixture
def healthy_table(admin_cursor):
    seed.create_table(admin_cursor)
    seed.insert_rows(admin_cursor, [(1, "login", '{"ok": 1}', "2026-11-01 00:00:00"), (2, "login", None, "2026-11-01 00:00:00")])


def test_the_readme_cron_lines_name_a_vault_password_file():
    lines = readme_cron_lines()
    assert {cmd.split()[-1] for _when, cmd in lines} == {"playbooks/weekly_check.yml", "playbooks/monitor.yml"}
    for _when, command in lines:
        assert "-i inventories/production" in command and re.search(r"--vault-password-file ~/\S+", command), command


def test_the_weekly_cron_line_runs_with_a_vault_password_file(mariadb, database, healthy_table, tmp_path):
    (command,) = [cmd for _when, cmd in readme_cron_lines() if cmd.endswith("weekly_check.yml")]
    inv = inventory(tmp_path, mariadb, database, OWN_PASSWORD)
    password_file = tmp_path / "vault-pass"
    password_file.write_text(OWN_PASSWORD + "\n")
    password_file.chmod(0o400)

    ran = run_cron_line(command, inv, password_file, tmp_path)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    # What cron mails: the console's findings table and its closing outcome.
    assert re.search(r"Corrupted rows\s+0\b", ran.stdout) and "Outcome:  SUCCESS" in ran.stdout, ran.stdout[-3000:]
    assert TOOL_PASSWORD not in ran.stdout + ran.stderr

    # Without it: Ansible's own refusal (what the README's lines failed with before), before any task.
    missing = run_cron_line(command, inv, None, tmp_path)
    assert missing.returncode != 0 and "no vault secrets" in missing.stdout + missing.stderr
    assert not list((tmp_path / "reports").glob("*/weekly*"))


def test_a_vault_that_opens_with_the_demo_password_is_refused(mariadb, database, healthy_table, tmp_path):
    (command,) = [cmd for _when, cmd in readme_cron_lines() if cmd.endswith("weekly_check.yml")]
    inv = inventory(tmp_path, mariadb, database, DEMO_VAULT_PASSWORD)
    password_file = tmp_path / "vault-pass"
    password_file.write_text(DEMO_VAULT_PASSWORD + "\n")
    refused = run_cron_line(command, inv, password_file, tmp_path)
    assert refused.returncode != 0
    assert "opens with the demo vault password" in refused.stdout or "open(s) with the demo vault password" in refused.stdout, refused.stdout[-3000:]
    assert "vault.yml" in refused.stdout and "Nothing was changed" in refused.stdout
    assert not (tmp_path / "reports").exists() and not (tmp_path / "prom").exists()

# The inventories: the default one (ansible.cfg) is the local demo and can never reach
# production; staging and production keep their secrets in a vault behind vault_* names, the
# example vault files open with the documented demo password, and each has one database host.
import configparser
import json
import os
import re
import subprocess

import pytest
import yaml
from ansible.constants import DEFAULT_VAULT_ID_MATCH
from ansible.parsing.vault import VaultLib, VaultSecret

from tests.support.awx_definitions import DEMO_VAULT_PASSWORD
from tools.devstack.playbooks import BIN, ROOT

ENVIRONMENTS = ["staging", "production"]


def inventory_list(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    out = subprocess.run([str(BIN / "ansible-inventory"), "--list", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_default_inventory_is_the_local_demo_and_never_production():
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    assert config["defaults"]["inventory"] == "inventories/local/hosts.yml"
    # What a bare `ansible-playbook playbooks/x.yml` from the repository root would target.
    listing = inventory_list()
    hostvars = listing["_meta"]["hostvars"]
    assert set(hostvars) == {"localhost"}
    assert all(v["ansible_connection"] == "local" for v in hostvars.values())
    assert {v["jsonmend_environment"] for v in hostvars.values()} == {"local"}
    assert "production" not in json.dumps(listing) and "staging" not in json.dumps(listing)
    assert not list((ROOT / "inventories" / "local").rglob("vault*.yml")), "the demo has no secrets to vault"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_has_one_database_host_and_its_app_servers(environment):
    hosts = yaml.safe_load((ROOT / "inventories" / environment / "hosts.yml").read_text())["all"]["children"]
    assert len(hosts["dbadmin"]["hosts"]) == 1 and len(hosts["app"]["hosts"]) >= 1
    assert all(environment in host for group in hosts.values() for host in group["hosts"])
    topics = sorted(p.relative_to(ROOT / "inventories" / environment).as_posix() for p in (ROOT / "inventories" / environment / "group_vars").rglob("*.yml"))
    assert {"group_vars/all/database.yml", "group_vars/all/vault.yml", "group_vars/app/application.yml", "group_vars/dbadmin/connection.yml"} <= set(topics)
    environment_vars = yaml.safe_load((ROOT / "inventories" / environment / "group_vars" / "all" / "environment.yml").read_text())
    assert environment_vars["jsonmend_environment"] == environment


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_vault_opens_with_the_demo_password_and_holds_only_vault_names(environment):
    group_vars = ROOT / "inventories" / environment / "group_vars"
    vault_file = group_vars / "all" / "vault.yml"
    ciphertext = vault_file.read_bytes()
    assert ciphertext.startswith(b"$ANSIBLE_VAULT;"), "vault.yml must be encrypted"
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(DEMO_VAULT_PASSWORD.encode()))])
    secrets = yaml.safe_load(vault.decrypt(ciphertext))
    assert secrets and all(name.startswith("vault_") for name in secrets)
    # Every vault_* name the plain files use is defined there; no plain file holds a password.
    plain = [p for p in group_vars.rglob("*.yml") if p != vault_file]
    used = {name for p in plain for name in re.findall(r"\bvault_[a-z0-9_]+", p.read_text())}
    assert used and used <= set(secrets)
    for path in plain:
        for name, value in (yaml.safe_load(path.read_text()) or {}).items():
            if re.search(r"password|secret|token", name):
                assert isinstance(value, str) and re.fullmatch(r"\{\{ vault_[a-z0-9_]+ \}\}", value), "%s: %s is not from the vault" % (path, name)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_environment_inventory_loads_with_the_vault_password(environment, tmp_path):
    password_file = tmp_path / "vault-password"
    password_file.write_text(DEMO_VAULT_PASSWORD + "\n")
    listing = inventory_list("-i", "inventories/%s/hosts.yml" % environment, "--vault-password-file", str(password_file))
    assert len(listing["dbadmin"]["hosts"]) == 1
    (db_host,) = listing["dbadmin"]["hosts"]
    assert listing["_meta"]["hostvars"][db_host]["jsonmend_environment"] == environment


def test_the_demo_inventory_reads_the_demo_app_port_and_environment(tmp_path):
    """DEMO_APP_PORT=8791 make demo-app writes .demo/app/vars.json; the local inventory follows it,
    and its environment too (DEMO_DB=postgresql: the app's PostgreSQL settings, not db.cnf)."""
    import shutil

    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "inventories" / "local", copy / "inventories" / "local")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}

    def var(name):
        out = subprocess.run(
            [
                str(BIN / "ansible"),
                "localhost",
                "-i",
                str(copy / "inventories" / "local" / "hosts.yml"),
                "-m",
                "ansible.builtin.debug",
                "-a",
                "var=%s" % name,
                "-o",
            ],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout

    assert "http://127.0.0.1:8765" in var("jsonmend_app_url")
    assert "QUIZSITE_DB_OPTION_FILE" in var("jsonmend_app_environment")
    (copy / ".demo" / "app").mkdir(parents=True)
    environment = {"QUIZSITE_DB_ENGINE": "postgresql", "QUIZSITE_DB_PASSFILE": "/x/db.pgpass"}
    (copy / ".demo" / "app" / "vars.json").write_text(json.dumps({"jsonmend_app_url": "http://127.0.0.1:8791", "jsonmend_app_environment": environment}))
    assert "http://127.0.0.1:8791" in var("jsonmend_app_url")
    shown = var("jsonmend_app_environment")
    assert "QUIZSITE_DB_PASSFILE" in shown and "QUIZSITE_DB_OPTION_FILE" not in shown

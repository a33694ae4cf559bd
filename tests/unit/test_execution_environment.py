# The AWX execution environment (execution-environment.yml) carries what the modules and roles
# need - the same pinned ansible-core, ansible-runner, PyMySQL and Jinja2 as requirements.txt,
# the MariaDB client for dumps and restores, git - and ansible-builder writes its build context.
import re
import subprocess

import yaml

from tools.devstack.playbooks import BIN, ROOT


def pins(path):
    lines = (line.split("#")[0].strip() for line in (ROOT / path).read_text().splitlines())
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("-"))


def test_the_execution_environment_pins_the_runtime_requirements():
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert ee["version"] == 3
    runtime = pins("requirements.txt")
    deps = ee["dependencies"]
    declared = dict(p.split("==", 1) for p in deps["python"])
    declared.update(dict([deps["ansible_core"]["package_pip"].split("==", 1), deps["ansible_runner"]["package_pip"].split("==", 1)]))
    assert declared == runtime
    system = " ".join(deps["system"])
    assert re.search(r"\bmariadb\b", system) and "git" in system  # mariadb-dump/mariadb for backups, git for deploys
    assert yaml.safe_load((ROOT / deps["galaxy"]).read_text())["collections"] == []  # ansible.builtin only


def test_ansible_builder_writes_the_build_context(tmp_path):
    subprocess.run([str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", str(tmp_path)], cwd=ROOT, check=True, capture_output=True)
    build = tmp_path / "_build"
    assert "PyMySQL==" in (build / "requirements.txt").read_text()
    bindep = (build / "bindep.txt").read_text()
    assert "mariadb" in bindep and "git-core" in bindep

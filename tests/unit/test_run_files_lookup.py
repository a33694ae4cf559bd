# The jsonmend_run_files lookup (monitor and rollback read the runs' records with it instead of a find
# module): the same files as find with recurse and depth 2, parsed, in path order.
import importlib.util
import json

import pytest
from ansible.errors import AnsibleLookupError

from tools.devstack.playbooks import ROOT

spec = importlib.util.spec_from_file_location("jsonmend_run_files", ROOT / "lookup_plugins" / "jsonmend_run_files.py")
run_files_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_files_module)
run_files = run_files_module.run_files


def test_reads_the_dir_and_each_runs_dir_but_not_deeper(tmp_path):
    (tmp_path / "deploy.json").write_text(json.dumps({"at": "top"}))
    for run in ("20261201T000000Z-b", "20261130T000000Z-a"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "deploy.json").write_text(json.dumps({"run": run}))
    (tmp_path / "20261130T000000Z-a" / "nested").mkdir()
    (tmp_path / "20261130T000000Z-a" / "nested" / "deploy.json").write_text("{}")
    (tmp_path / "20261201T000000Z-b" / "record.json").write_text("{}")
    (tmp_path / "x.json").mkdir()  # a directory with the name is not a file
    assert run_files(tmp_path, "deploy.json") == [{"run": "20261130T000000Z-a"}, {"run": "20261201T000000Z-b"}, {"at": "top"}]
    assert run_files(tmp_path, "record.json") == [{}]


def test_a_missing_dir_has_no_files_and_a_broken_file_names_itself(tmp_path):
    assert run_files(tmp_path / "absent", "deploy.json") == []
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "deploy.json").write_text("{half")
    with pytest.raises(AnsibleLookupError, match="r1/deploy.json could not be read as JSON"):
        run_files(tmp_path, "deploy.json")

# The jsonmend_files action plugin (action_plugins/jsonmend_files.py): the run's reports and records
# written on the controller in one task - whole files atomically, lines appended once, nothing in
# check mode, nothing rewritten when already right.
import json
import stat

from tools.devstack.playbooks import run_playbook


def _run(tmp_path, check=False, **variables):
    result = tmp_path / "result.json"
    variables = dict(dict(test_dir=str(tmp_path / "out"), test_result_file=str(result), test_rows=3, test_title="Diagnosis"), **variables)
    (tmp_path / "out").mkdir(exist_ok=True)
    done = run_playbook("tests/playbooks/files_action.yml", variables, tmp_path, check=check)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return json.loads(result.read_text())


def test_files_are_written_once_and_lines_appended_once(tmp_path):
    out = tmp_path / "out"
    first = _run(tmp_path)
    assert first["changed"] and len(first["written"]) == 4
    assert json.loads((out / "run/a.json").read_text()) == {"rows": 3}
    assert (out / "run/b.md").read_text() == "# Diagnosis\n"
    assert stat.S_IMODE((out / "run").stat().st_mode) == 0o750
    assert stat.S_IMODE((out / "run/a.json").stat().st_mode) == 0o640
    # The same content again changes nothing and appends no duplicate line.
    again = _run(tmp_path)
    assert not again["changed"] and again["written"] == []
    assert (out / "records.jsonl").read_text().splitlines() == ['{"rows": 3}']
    # New content replaces the file and appends the new line after the old one.
    third = _run(tmp_path, test_rows=4)
    assert sorted(third["written"]) == sorted([str(out / "run/a.json"), str(out / "records.jsonl")])
    assert (out / "records.jsonl").read_text().splitlines() == ['{"rows": 3}', '{"rows": 4}']
    assert not [p.name for p in (out / "run").iterdir() if p.name.startswith(".jsonmend-")]


def test_check_mode_writes_nothing(tmp_path):
    result = _run(tmp_path, check=True)
    assert result["changed"] and result["check_mode"] and len(result["written"]) == 4
    assert list((tmp_path / "out").iterdir()) == []

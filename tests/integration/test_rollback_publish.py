# rollback, entry point `publish`: rollback_result.ok says what the undo did, not what was planned
# (issue 13: an undo that left rows unrestored was reported as a success).
import json

import pytest

from tools.devstack.playbooks import ROOT, run_playbook

PLAYBOOK = """
- name: Publish a rollback's outcome
  hosts: localhost
  gather_facts: false
  tasks:
    # As the plan publishes it (a fact: extra vars would win over the role's set_fact).
    - name: Plan
      ansible.builtin.set_fact:
        rollback_result: "{{ planned }}"
    - name: Publish
      ansible.builtin.import_role:
        name: rollback
        tasks_from: publish
    - name: Write it down
      ansible.builtin.copy:
        content: "{{ rollback_result | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


@pytest.mark.parametrize(
    "undo, ok, outcome",
    [
        (dict(status="finished", conflicts=0, restored=5, changed=True, undo_of="r1", conflicts_by_reason={}), True, "undone"),
        (
            dict(status="finished", conflicts=2, restored=3, changed=True, undo_of="r1", conflicts_by_reason={"changed since the repair": 2}),
            False,
            "partly undone: 2 rows not restored (changed since the repair)",
        ),
        (dict(status="stopped", conflicts=0, restored=1, changed=True, undo_of="r1", conflicts_by_reason={}), False, "undone"),
    ],
    ids=["all restored", "conflicts", "stopped"],
)
def test_ok_reflects_what_the_undo_did(tmp_path, undo, ok, outcome):
    playbook = tmp_path / "publish.yml"
    playbook.write_text(PLAYBOOK)
    variables = dict(
        planned=dict(mode="standalone", status="planned", data=dict(method="undo", reason="repair run r1"), code=None, changed=False, ok=False),
        cleanup_undo=undo,
        out=str(tmp_path / "result.json"),
    )
    result = run_playbook(str(playbook), variables, tmp_path, env=dict(ANSIBLE_ROLES_PATH=str(ROOT / "roles")))
    assert result.returncode == 0, result.stdout[-2000:]
    published = json.loads((tmp_path / "result.json").read_text())
    assert published["ok"] is ok and published["data"]["outcome"] == outcome
    assert published["data"]["conflicts"] == undo["conflicts"]

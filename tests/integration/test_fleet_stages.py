# fleet_cleanup.yml in two stages, as AWX's fleet workflow runs it with an approval in between
# (jsonmend_fleet_stage): stage canary repairs the canary's target alone and leaves the others untouched;
# stage batches skips it as already done and repairs the rest. One throwaway MariaDB server, three targets.
import json

import pytest

from tests.support.fleet import rollout_vars
from tools.devstack import fleet
from tools.devstack.playbooks import run_playbook

TARGETS = (("s1", "db1", 300, 4.0, None), ("s2", "db1", 300, 3.0, None), ("s3", "db1", 200, 5.0, None))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleetstages")
    with fleet.running(base, TARGETS) as (inventory, _servers):
        yield base, inventory


def stage(base, inventory, name):
    values = rollout_vars(base, jsonmend_fleet_stage=name)
    result = run_playbook("fleet_cleanup.yml", values, base, extra_args=["-i", str(inventory), "-f", "8"])
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    report = json.loads((base / "reports" / "fleet-cleanup-latest.json").read_text())
    return result, {r["target"]: r["status"] for r in report["targets"]}


def test_canary_then_batches(demo):
    base, inventory = demo
    result, statuses = stage(base, inventory, "canary")
    assert statuses == {"s1": "done", "s2": "untouched", "s3": "untouched"}
    assert "This run (stage canary): the canary only" in " ".join(result.stdout.split())
    _result, statuses = stage(base, inventory, "batches")
    assert statuses == {"s1": "skipped", "s2": "done", "s3": "done"}


def test_an_unknown_stage_is_refused_before_any_target_is_read(demo, tmp_path):
    base, inventory = demo
    result = run_playbook(
        "fleet_cleanup.yml", {"jsonmend_fleet_stage": "canaries", "jsonmend_report_dir": str(tmp_path)}, tmp_path, extra_args=["-i", str(inventory)]
    )
    assert result.returncode != 0
    assert "jsonmend_fleet_stage='canaries' must be all" in " ".join(result.stdout.split())
    assert "json_type_scan" not in result.stdout

# The night of the deploy (issue 15): on the real stack, the app on a port of its own.
import json

import pytest

from tests.integration.test_deploy_playbook import app_db, db, reseed, run, stack, state  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("stack")


@pytest.mark.parametrize("strategy,corrupt,extra", [("B", 20, {}), ("auto", 20, {}), ("C", 120, {"jsonmend_investigation_ack": "yes"}), ("D", 520, {"jsonmend_investigation_ack": "yes", "jsonmend_strategy_d_approval": "CHG-1234"})])
def test_check_mode_of_every_strategy_exits_0_and_says_what_would_happen(stack, db, run, strategy, corrupt, extra):
    stack.reset("v1")
    reseed(db, corrupt=corrupt)
    before = state(stack, db)
    result = run(strategy=strategy, check=True, **extra)
    out = " ".join(result.stdout.split())
    open("/tmp/i15a/check-%s.out" % strategy, "w").write(result.stdout)
    assert result.returncode == 0, result.stdout[-6000:]
    assert state(stack, db) == before


@pytest.mark.parametrize("check", [False, True])
def test_a_wrong_app_url_is_refused_before_the_backup_and_maintenance(stack, db, run, tmp_path, check):
    """Item 1: the app on its own port, the inventory's URL on another: nothing answers there."""
    from tests.support.mariadb_server import free_port

    stack.reset("v1")
    reseed(db, corrupt=20)
    before = state(stack, db)
    wrong = "http://127.0.0.1:%d" % free_port()
    result = run(strategy="B", jsonmend_app_url=wrong, check=check)
    out = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "The application at jsonmend_app_url=%s is not the one this deploy updates" % wrong in out, out[-3000:]
    assert "%s/health/ answered nothing" % wrong in out and "Nothing was changed." in out
    assert "ROLLBACK FAILED" not in out and "Rolled back" not in out and "Turn maintenance mode on" not in out
    assert state(stack, db) == before and not (tmp_path / "backups").exists()

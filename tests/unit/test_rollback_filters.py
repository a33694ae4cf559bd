# The pure decisions of a rollback after the fact: which deploy record, whether the checkout is
# where it should be, which migrations a ref lacks, how checks are judged.
import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_rollback import check_outcomes, code_rollback, last_deploy, ref_migration_plan, valid_ref

A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)
TARGET = {"database": "app", "table": "analytics_activityevent"}


def record(run_id, outcome="deployed", previous=A, new=B, rows=0, database="app", check=False):
    return dict(
        outcome=outcome,
        run=dict(id=run_id, started_at=run_id, check_mode=check, target=dict(database=database, table="analytics_activityevent")),
        release=dict(previous=previous, new=new),
        repair=dict(rows_changed=rows) if rows else None,
    )


def test_last_deploy_is_the_newest_that_changed_something():
    records = [
        record("2026-11-01T00:00:00Z"),
        record("2026-11-03T00:00:00Z", outcome="refused", previous=B, new=None),  # changed nothing
        record("2026-11-04T00:00:00Z", previous=B, new=B),  # a re-deploy of the same commit, no repair
        record("2026-11-05T00:00:00Z", outcome="rolled_back", previous=B, new=C),
        record("2026-11-06T00:00:00Z", previous=B, new=D, database="other"),  # another database
        record("2026-11-07T00:00:00Z", previous=B, new=D, check=True),
    ]
    assert last_deploy(records, TARGET)["run"]["id"] == "2026-11-01T00:00:00Z"
    # The same commit again but with a repair: that deploy changed data, so it is the one.
    records.append(record("2026-11-08T00:00:00Z", previous=B, new=B, rows=3))
    assert last_deploy(records, TARGET)["run"]["id"] == "2026-11-08T00:00:00Z"
    assert last_deploy([], TARGET) == {} and last_deploy(None) == {}
    with pytest.raises(AnsibleFilterError):
        last_deploy("not a list")


@pytest.mark.parametrize(
    "head, deployed, head_tree, target_tree, explicit, action",
    [
        (A, B, "t1", "t1", False, "none"),  # at the target already
        (C, B, "t2", "t2", False, "none"),  # a revert commit with the target's content
        (B, B, "t3", "t1", False, "rollback"),  # where the deploy left it
        (C, B, "t3", "t1", False, "refuse"),  # somewhere else: a stale record
        (C, "", "t3", "t1", True, "rollback"),  # an explicit ref goes anywhere
    ],
)
def test_code_rollback(head, deployed, head_tree, target_tree, explicit, action):
    decision = code_rollback(head, A, deployed, head_tree, target_tree, explicit)
    assert decision["action"] == action
    if action == "refuse":
        assert "jsonmend_rollback_ref" in decision["reason"] and "stale" in decision["reason"]


def test_code_rollback_needs_full_shas():
    with pytest.raises(AnsibleFilterError):
        code_rollback("abc", A)


@pytest.mark.parametrize(
    "ref, ok",
    [
        ("v1.4.2", True),
        (A, True),
        ("origin/main~1", True),
        ("v1^{commit}", True),
        ("-rf", False),
        ("main..evil", False),
        ("a b", False),
        ("", False),
        (5, False),
    ],
)
def test_valid_ref(ref, ok):
    assert valid_ref(ref) is ok


SHOWMIGRATIONS = """analytics
 [X] 0001_initial
 [X] 0002_activityevent_metadata_object
intelligence
 (no migrations)
reports
 [X] 0001_initial
 [ ] 0002_pending
"""


def test_ref_migration_plan():
    files = "analytics/migrations/0001_initial.py\nanalytics/migrations/__init__.py\nmanage.py\n"
    plan = ref_migration_plan(SHOWMIGRATIONS, files)
    # analytics goes back to 0001; reports does not exist at the ref at all: back to zero.
    assert plan == {
        "applied_beyond": ["analytics.0002_activityevent_metadata_object", "reports.0001_initial"],
        "leaves": {"analytics": "0001_initial", "reports": "zero"},
    }
    assert ref_migration_plan(SHOWMIGRATIONS, files + "reports/migrations/0001_initial.py\nanalytics/migrations/0002_activityevent_metadata_object.py\n") == {
        "applied_beyond": [],
        "leaves": {"analytics": "0002_activityevent_metadata_object", "reports": "0001_initial"},
    }


def test_check_outcomes():
    results = [
        {"item": ["check"], "rc": 0, "stdout": "System check identified no issues (0 silenced).", "stderr": ""},
        {"item": ["migrate", "--check"], "rc": 1, "stdout": "", "stderr": "", "msg": "non-zero return code"},
    ]
    outcomes = check_outcomes(results)
    assert [o["ok"] for o in outcomes] == [True, False]
    assert outcomes[0]["line"] == "manage.py check: ok"
    assert outcomes[1]["line"] == "manage.py migrate --check: FAILED (exit 1): non-zero return code"


def test_a_deploy_killed_half_way_is_the_last_deploy():
    """Its in-progress record (written before the first change) is what a rollback returns from."""
    killed = record("2026-11-09T00:00:00Z", outcome="in_progress", previous=B, new=None)
    killed["release"]["target"] = C
    found = last_deploy([record("2026-11-01T00:00:00Z"), killed], TARGET)
    assert found["run"]["id"] == "2026-11-09T00:00:00Z" and found["release"]["target"] == C


def test_a_rollback_whose_target_is_the_deployed_release_is_refused():
    """Issue 15 item 4: a re-run after Ctrl-C recorded the new code as its start."""
    decision = code_rollback(B, B, B)
    assert decision["action"] == "refuse" and "keeps the new code" in decision["reason"]
    assert code_rollback(B, B, B, explicit=True)["action"] == "none"
    # The emergency resets the code only when it moved: nothing to refuse there.
    assert code_rollback(B, B, B, refuse_unchanged=False)["action"] == "none"


def test_a_re_run_resumes_the_first_interrupted_deploy():
    from filter_plugins.jsonmend_rollback import resumed_deploy

    killed = record("r1", outcome="in_progress", previous=A, new=None)
    killed["release"]["target"] = B
    resumed = resumed_deploy([record("r0", previous=C, new=A), killed], None, B)
    assert resumed["previous"] == A and resumed["run_id"] == "r1"
    assert resumed_deploy([killed], None, C) == {}  # the checkout moved elsewhere since: not a resume
    assert resumed_deploy([record("r2", previous=A, new=B)], None, B) == {}  # finished: nothing to resume

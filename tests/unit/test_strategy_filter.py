# The decision point: counts to strategies, thresholds validated, the live-count gate.
import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_strategy import (
    choose_strategy,
    jsonmend_strategy,
    jsonmend_strategy_gate,
    normalize_thresholds,
    strategy_ranges,
    threshold_problems,
)


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "A"), (1, "B"), (50, "B"), (51, "C"), (500, "C"), (501, "D"), (10**9, "D"), ("7", "B")],
)
def test_default_thresholds_resolve_the_runbooks_overlapping_ranges(count, expected):
    assert choose_strategy(count) == expected


@pytest.mark.parametrize(
    ("thresholds", "count", "expected"),
    [({"a_max": 10}, 10, "A"), ({"a_max": 10}, 11, "B"), ({"b_max": 100, "c_max": 1000}, 100, "B"), ({"c_max": 600}, 600, "C")],
)
def test_configured_thresholds(thresholds, count, expected):
    assert choose_strategy(count, thresholds) == expected


@pytest.mark.parametrize(
    "thresholds",
    [
        {"a_max": 50, "b_max": 50},
        {"b_max": 600},
        {"a_max": -1},
        {"a_max": "ten"},
        {"a_max": 1.5},
        {"a_max": True},
        {"d_max": 3},
        ["a_max", 0],
    ],
)
def test_bad_thresholds_are_refused_with_a_message(thresholds):
    with pytest.raises(AnsibleFilterError) as err:
        normalize_thresholds(thresholds)
    assert "threshold" in str(err.value)


def test_threshold_problems_name_the_variable_and_pass_good_thresholds():
    assert threshold_problems(None) == [] and threshold_problems({"a_max": "0", "b_max": "20", "c_max": 200}) == []
    assert threshold_problems({"a_max": 0, "b_max": 600, "c_max": 500}) == [
        "strategy_thresholds overlap: need a_max < b_max < c_max, got a_max=0 b_max=600 c_max=500"
    ]
    (problem,) = threshold_problems({"b_max": "fifty"})
    assert "strategy_thresholds.b_max" in problem and "'fifty'" in problem


@pytest.mark.parametrize("count", [-1, "x", None, 2.5, True])
def test_bad_counts_are_refused(count):
    with pytest.raises(AnsibleFilterError, match="corrupted_rows"):
        choose_strategy(count)


def test_decision_carries_meaning_and_gates():
    d = jsonmend_strategy(179)
    assert d["strategy"] == "C"
    assert d["range"] == "51-500"
    assert d["action"] == "Investigate source first, then cleanup"
    assert d["investigation"] and d["backup"] and d["cleanup"] and not d["approval"]
    assert "179" in d["reason"]
    assert jsonmend_strategy(0)["cleanup"] is False
    assert jsonmend_strategy(501)["requirements"][0] == "Root cause analysis complete"


def test_ranges_follow_thresholds():
    assert strategy_ranges() == {"A": "0", "B": "1-50", "C": "51-500", "D": "501+"}
    assert strategy_ranges({"a_max": 10})["A"] == "0-10"


@pytest.mark.parametrize(
    ("requested", "count", "fits", "strategy"),
    [("B", 20, True, "B"), ("B", 120, False, "B"), ("auto", 120, True, "C"), ("a", 0, True, "A"), ("D", 50, False, "D")],
)
def test_gate(requested, count, fits, strategy):
    gate = jsonmend_strategy_gate(requested, count)
    assert gate["fits"] is fits
    assert gate["strategy"] == strategy
    if not fits:
        assert str(count) in gate["message"] and "fits is " + gate["recommended"] in gate["message"]


def test_gate_refuses_unknown_strategy():
    with pytest.raises(AnsibleFilterError, match="unknown strategy 'E'"):
        jsonmend_strategy_gate("E", 3)

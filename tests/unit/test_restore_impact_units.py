# Pure parts of the restore-impact count: range sizes, key spelling, the row classification and
# its totals (module_utils/jsonmend/backup/ranges.py), and the sentences an operator confirms
# (filter_plugins/jsonmend_restore.py).
import pytest
from ansible.errors import AnsibleFilterError
from ansible.module_utils.jsonmend.backup import ranges

from filter_plugins.jsonmend_restore import restore_impact_counts, restore_impact_lines


@pytest.mark.parametrize(
    "estimated, expected",
    [(0, ranges.MIN_RANGE_ROWS), (5000, ranges.MIN_RANGE_ROWS), (10_000_000, 4883), (100_000_000_000, 48_828_125)],
)
def test_range_rows_keep_ranges_few(estimated, expected):
    assert ranges.range_rows_for(estimated) == expected
    assert min(ranges.range_rows_cap("int"), expected) <= 50000


@pytest.mark.parametrize(
    "data_type, kind", [("bigint", "int"), ("INT", "int"), ("varchar", "text"), ("char", "text"), ("varbinary", "bytes"), ("datetime", "text")]
)
def test_key_kinds(data_type, kind):
    assert ranges.key_kind(data_type) == kind


def test_keys_round_trip_and_display():
    assert ranges.key_to_json(b"\x00;", "bytes") == "003b" and ranges.key_from_json("003b", "bytes") == b"\x00;"
    assert ranges.key_to_json(7, "int") == 7 and ranges.key_from_json("a,b", "text") == "a,b"
    assert ranges.display_key("12", "int") == 12
    assert ranges.display_key("612C623B63", "text") == "a,b;c"
    assert ranges.display_key("003B", "bytes") == "003b"


def test_classify_keeps_key_order_and_tells_the_three_kinds_apart():
    classes = dict((name, ranges._Class(2, "int")) for name in ("inserted", "changed", "deleted"))
    before = [("1", 10, 20), ("2", 11, 21), ("3", 12, 22), ("5", 14, 24)]
    after = [("1", 10, 20, None), ("2", 99, 21, "t2"), ("4", 13, 23, "t4"), ("5", 14, 24, None), ("6", 15, 25, None)]
    ranges._classify(before, after, classes)
    assert [classes[n].count for n in ("inserted", "changed", "deleted")] == [2, 1, 1]
    assert classes["inserted"].describe() == dict(first_key=4, last_key=6, sample_keys=[4, 6], timestamps=["t4", "t4"])
    assert classes["changed"].describe() == dict(first_key=2, last_key=2, sample_keys=[2], timestamps=["t2", "t2"])
    assert classes["deleted"].describe() == dict(first_key=3, last_key=3, sample_keys=[3])


def test_totals_are_unknown_when_any_table_is():
    known = dict(exact=True, unknown=[], rows_inserted_since=2, rows_changed_since=0, rows_deleted_since=1)
    unknown = dict(exact=False, unknown=list(ranges.COUNTS), rows_inserted_since=None, rows_changed_since=None, rows_deleted_since=None)
    assert ranges.summarize([known, known]) == dict(exact=True, unknown=[], rows_inserted_since=4, rows_changed_since=0, rows_deleted_since=2)
    both = ranges.summarize([known, unknown])
    assert both["exact"] is False and both["rows_inserted_since"] is None and both["unknown"] == sorted(ranges.COUNTS)


def impact_of(**table):
    entry = dict(table="events", rows_inserted_since=0, rows_changed_since=0, rows_deleted_since=0, reason=None)
    entry.update(table)
    return dict(tables={"events": entry})


def test_lines_say_what_the_restore_does_with_keys():
    impact = impact_of(
        rows_inserted_since=2,
        inserted=dict(first_key=6001, last_key=6002, sample_keys=[6001, 6002]),
        rows_changed_since=1,
        changed=dict(first_key=17, last_key=17, sample_keys=[17]),
    )
    assert restore_impact_lines(impact, "events") == [
        "2 rows inserted since the backup are REMOVED (keys 6001 to 6002: 6001, 6002)",
        "1 row changed since the backup gets its old content back (key 17)",
    ]
    assert restore_impact_lines(impact_of(), "events") == ["nothing: the table holds exactly what the backup holds"]
    assert restore_impact_counts(impact, "events") == dict(rows_inserted_since=2, rows_changed_since=1, rows_deleted_since=0)


def test_unknown_counts_are_named_never_guessed():
    impact = impact_of(rows_inserted_since=None, rows_changed_since=None, rows_deleted_since=None, reason="backup b holds no key ranges")
    assert restore_impact_lines(impact) == ["UNKNOWN how many rows were inserted, changed, deleted since the backup: backup b holds no key ranges"]
    partly = impact_of(rows_deleted_since=None, reason="why")
    assert restore_impact_lines(partly) == ["UNKNOWN how many rows were deleted since the backup (known: 0 rows inserted, 0 rows changed): why"]


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError, match="impact result"):
        restore_impact_lines({"rows_inserted_since": 1})
    with pytest.raises(AnsibleFilterError, match="no table 'other'"):
        restore_impact_lines(impact_of(), "other")

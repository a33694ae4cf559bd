# The one-pass scan's merge (issue 17): partials from any split of the key range add up to exactly
# what one worker finds - counts summed, first/last keys and times, the exact top users from full
# per-user counts (ties broken the same way whatever the split) and the samples in key order.
import datetime
import itertools
import random

from ansible.module_utils.jsonmend.scan.report import summarize
from ansible.module_utils.jsonmend.scan.scanner import Partial, rank_users, sample_entry

DAY = datetime.datetime(2026, 11, 1, 8, 0, 0)


def corrupt_rows(n, seed=3):
    """(pk, group, user, at, day, kind) of n corrupt rows, with many ties between users."""
    rng = random.Random(seed)
    rows = []
    for pk in sorted(rng.sample(range(1, 10 * n), n)):
        at = DAY + datetime.timedelta(hours=rng.randrange(24 * 30))
        rows.append(
            (
                pk,
                rng.choice(["quiz_completed", "login", None]),
                rng.choice([1, 2, 3, 7, 10, 78, None]),
                at,
                at.date(),
                rng.choice(["INTEGER", "STRING+OBJECT", "ARRAY"]),
            )
        )
    return rows


def partial_of(rows, healthy=(), sample_limit=5):
    part = Partial(sample_limit)
    for pk, group, user, at, day, kind in rows:
        part.add_row(pk, group, user, at, day, kind)
    part.add_classes(healthy)
    part.add_samples([sample_entry(pk, group, user, at, kind, "v%d" % pk, 2) for pk, group, user, at, _day, kind in rows][:sample_limit])
    return part


def merged(parts, sample_limit=5):
    total = Partial(sample_limit)
    for part in parts:
        total.merge(part)
    return total


def splits(rows):
    """Contiguous splits of the rows (as workers' key ranges), the last one uneven."""
    yield [rows]
    yield [rows[:1], rows[1:]]
    yield [rows[i : i + 17] for i in range(0, len(rows), 17)]
    yield [rows[: len(rows) // 2], [], rows[len(rows) // 2 :]]


def test_any_split_merges_to_the_single_worker_result():
    rows = corrupt_rows(200)
    whole = partial_of(rows)
    for parts in splits(rows):
        # Merge order does not matter either (workers finish in any order).
        for order in (parts, list(reversed(parts))):
            total = merged([partial_of(p) for p in order])
            assert total.classes == whole.classes
            assert total.details == whole.details
            assert total.users == whole.users
            assert total.samples == whole.samples
            assert rank_users(total.users, 4) == rank_users(whole.users, 4)
            assert summarize(total, {}, "MEDIUM") == summarize(whole, {}, "MEDIUM")


def test_counts_sum_and_keep_first_and_last_keys():
    a = partial_of([], healthy=[("OBJECT", 10, 1, 50), ("SQL NULL", 2, 7, 9)])
    b = partial_of([(60, "login", 1, DAY, DAY.date(), "INTEGER")], healthy=[("OBJECT", 5, 51, 70)])
    c = partial_of([(90, "login", 2, DAY + datetime.timedelta(days=3), (DAY + datetime.timedelta(days=3)).date(), "INTEGER")])
    total = merged([c, a, b])
    assert total.classes == {"OBJECT": [15, 1, 70], "SQL NULL": [2, 7, 9], "INTEGER": [2, 60, 90]}
    assert total.details == {
        ("login", "INTEGER", DAY.date()): [1, DAY, DAY],
        ("login", "INTEGER", (DAY + datetime.timedelta(days=3)).date()): [1, DAY + datetime.timedelta(days=3), DAY + datetime.timedelta(days=3)],
    }
    summary = summarize(total, {}, "MEDIUM")
    assert summary["total_rows"] == 19 and summary["corrupted_rows"] == 2 and summary["sql_null_rows"] == 2
    assert summary["first_corrupt"] == {"id": 60, "at": "2026-11-01T08:00:00"}
    assert summary["last_corrupt"] == {"id": 90, "at": "2026-11-04T08:00:00"}


def test_top_users_are_exact_across_workers():
    # User 5 leads no worker's own list but has the most rows in all: per-worker top lists would miss it.
    workers = [{5: [2, DAY, DAY], 1: [3, DAY, DAY]}, {5: [2, DAY, DAY], 2: [3, DAY, DAY]}, {5: [2, DAY, DAY], 3: [3, DAY, DAY]}]
    total = Partial()
    for users in workers:
        part = Partial()
        part.add_users(users)
        total.merge(part)
    assert [(u["user"], u["count"]) for u in rank_users(total.users, 2)] == [(5, 6), (1, 3)]


def test_top_user_ties_break_the_same_whatever_the_split():
    # Ten users with the same count: numbers in numeric order (7 before 10 before 78), no user last.
    users = [10, 7, None, 78, 2, 1, 3, 100, 20, 9]
    rows = [(i + 1, "login", u, DAY, DAY.date(), "INTEGER") for i, u in enumerate(users)]
    expected = [1, 2, 3, 7, 9, 10, 20, 78, 100, None]
    for parts in itertools.permutations([rows[:3], rows[3:7], rows[7:]]):
        total = merged([partial_of(p) for p in parts])
        assert [u["user"] for u in rank_users(total.users, 10)] == expected
        assert [u["user"] for u in rank_users(total.users, 4)] == expected[:4]
    assert rank_users(total.users, 0) == []


def test_top_user_first_and_last_times_span_the_workers():
    early, late = DAY, DAY + datetime.timedelta(days=9)
    a = partial_of([(1, "g", 4, late, late.date(), "INTEGER")])
    b = partial_of([(2, "g", 4, early, early.date(), "INTEGER")])
    assert rank_users(merged([a, b]).users, 1) == [dict(user=4, count=2, first_at=early.isoformat(), last_at=late.isoformat())]


def test_samples_are_the_lowest_keys_whatever_the_worker_order():
    # Every worker keeps its own first `sample_limit` rows by key: enough for any merge.
    rows = corrupt_rows(40)
    parts = [partial_of(rows[i : i + 7], sample_limit=5) for i in range(0, 40, 7)]
    for order in (parts, list(reversed(parts)), parts[2:] + parts[:2]):
        assert [s["id"] for s in merged(order, sample_limit=5).samples] == [r[0] for r in rows[:5]]
    few = [partial_of(rows[:2], sample_limit=5), partial_of(rows[2:], sample_limit=5)]
    assert [s["id"] for s in merged(few[::-1], sample_limit=5).samples] == [r[0] for r in rows[:5]]


def test_sample_entry_marks_double_encoded_and_truncated_values():
    entry = sample_entry(3, b"login", 9, DAY, "STRING+OBJECT", "x" * 250, 260)
    assert entry["type"] == "STRING" and entry["double_encoded"] and entry["group"] == "login"
    assert len(entry["value"]) == 200 and entry["truncated"] and entry["at"] == "2026-11-01T08:00:00"

# Identifier validation (names can never carry SQL) and key range splitting.
import pytest
from ansible.module_utils.jsonmend.db.chunks import Chunk, split_range
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import quote_identifier, validate_identifier


@pytest.mark.parametrize("name", ["metadata", "analytics_activityevent", "a$b", "t1", "_x", "x" * 64])
def test_plain_identifiers_pass(name):
    assert validate_identifier(name, "table") == name


@pytest.mark.parametrize("name", ["x; DROP TABLE y", "a`b", "a b", "", "x" * 65, "123", "tab\n", "naïve", None, 5, "a-b", "a.b"])
def test_other_identifiers_are_refused(name):
    with pytest.raises(JsonmendError, match="table .* is not a valid identifier"):
        validate_identifier(name, "table")


def test_quote():
    assert quote_identifier("metadata") == "`metadata`"
    assert quote_identifier("metadata", '"') == '"metadata"'


@pytest.mark.parametrize(
    ("low", "high", "parts", "expected"),
    [
        (1, 10, 2, [(1, 5), (6, 10)]),
        (1, 10, 3, [(1, 4), (5, 7), (8, 10)]),
        (5, 5, 4, [(5, 5)]),
        (1, 3, 8, [(1, 1), (2, 2), (3, 3)]),
        (None, None, 2, []),
        (10, 1, 2, []),
    ],
)
def test_split_range(low, high, parts, expected):
    assert split_range(low, high, parts) == expected


def test_split_range_covers_every_key_once():
    ranges = split_range(17, 100003, 4)
    assert ranges[0][0] == 17 and ranges[-1][1] == 100003
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:], strict=False))


def test_chunk_predicate():
    assert Chunk(1, True, 9).where("`id`") == "`id` >= %s AND `id` <= %s"
    assert Chunk(1, False, 9).where("`id`") == "`id` > %s AND `id` <= %s"

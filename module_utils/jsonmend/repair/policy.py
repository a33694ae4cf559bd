# The repair policy: which action each JSON kind gets, and the SQL that computes a row's new
# value. Pure functions over the class labels of dialects.classify_expr (unit tested).
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.appjson import READABLE, UNREADABLE
from ansible.module_utils.jsonmend.db.dialects import DOUBLE_ENCODED, INVALID, Dialect
from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from collections.abc import Mapping

UNWRAP = "unwrap"
WRAP = "wrap"
NULL = "null"
EMPTY = "empty"  # the empty object {}: the runbook's "set to NULL" where the column is NOT NULL
SKIP = "skip"
ACTIONS = (UNWRAP, WRAP, NULL, EMPTY, SKIP)
# Actions that write; `skip` leaves the row as it is.
WRITING_ACTIONS = (UNWRAP, WRAP, NULL, EMPTY)
# default_action `auto`: null on a nullable column, empty on a NOT NULL one (Django's default).
AUTO = "auto"
DEFAULT_ACTIONS = (AUTO, WRAP, NULL, EMPTY, SKIP)

# Every corrupt class classify_expr returns on MariaDB and MySQL 8, and the two kinds the
# application's decoder adds. Other MySQL types (DATE, TIME, DATETIME, BLOB, BIT, OPAQUE) are
# accepted as keys too and otherwise get the default action.
KNOWN_KINDS = (
    "ARRAY",
    "INTEGER",
    "UNSIGNED INTEGER",
    "DOUBLE",
    "DECIMAL",
    "STRING",
    DOUBLE_ENCODED,
    "BOOLEAN",
    "NULL",
    INVALID,
    UNREADABLE,
    READABLE,
)
KIND_RE = re.compile(r"[A-Z][A-Z +]{0,31}")
HEALTHY = ("OBJECT", "SQL NULL")
# Text the server cannot extract as JSON, or the application cannot read: `wrap` keeps it as a string.
RAW_KINDS = (INVALID, UNREADABLE, READABLE)

# Safe defaults: a double-encoded object is unwrapped without loss; an object the application
# reads (NaN, Infinity, ...) is left alone; everything else becomes SQL NULL (the runbook's
# behaviour) or {} on a NOT NULL column, its original kept in the quarantine table.
DEFAULT_POLICY = {DOUBLE_ENCODED: UNWRAP, READABLE: SKIP}
DEFAULT_ACTION = AUTO
DEFAULT_WRAP_KEY = "value"


class Policy:
    """A validated map kind -> action, with the action for kinds it does not name."""

    def __init__(
        self, mapping: Mapping[str, str] | None = None, default_action: str = DEFAULT_ACTION, wrap_key: str = DEFAULT_WRAP_KEY, nullable: bool = True
    ) -> None:
        problems = policy_problems(mapping, default_action, wrap_key)
        if problems:
            raise JsonmendError("; ".join(problems))
        # The operator's map is laid over the defaults, so naming INTEGER does not silently
        # turn double-encoded objects into NULL.
        self.mapping = dict(DEFAULT_POLICY)
        self.mapping.update(mapping or {})
        self.given_default = default_action
        self.default_action = resolve_default(default_action, nullable)
        self.wrap_key = wrap_key
        self.nullable = nullable

    def action(self, kind: str) -> str:
        """The action for one class label (unknown types get the default action)."""
        if kind in HEALTHY:
            return SKIP
        return self.mapping.get(kind, self.default_action)

    def describe(self) -> dict[str, Any]:
        """The action for every known kind: what the run will do, for the result and the ledger."""
        table = dict((kind, self.action(kind)) for kind in KNOWN_KINDS)
        table.update(self.mapping)
        return dict(actions=table, default_action=self.default_action, wrap_key=self.wrap_key)

    def column_problems(self, where: str) -> list[str]:
        """Refusals for a NOT NULL column: an explicit `null` can never be written there."""
        if self.nullable:
            return []
        kinds = sorted(k for k, a in self.mapping.items() if a == NULL)
        if self.default_action == NULL:
            kinds.append("every kind the policy does not name (default_action)")
        if not kinds:
            return []
        return [
            "column %s is NOT NULL, so the action null (for %s) cannot be written there: use empty (the empty object {}),"
            " wrap or skip instead, or leave default_action at auto (empty on a NOT NULL column); nothing was changed" % (where, ", ".join(kinds))
        ]

    def compatible(self, recorded: Mapping[str, Any] | None) -> bool:
        """True when a run recorded with policy `recorded` (describe()) may go on under this one.

        Only the kinds the record names are compared: kinds added by a later version (e.g. the
        decoder's) do not make an unfinished run of an earlier version unresumable.
        """
        if not recorded:
            return True
        if recorded.get("wrap_key", self.wrap_key) != self.wrap_key:
            return False
        return all(self.action(kind) == action for kind, action in (recorded.get("actions") or {}).items())


def resolve_default(default_action: str, nullable: bool) -> str:
    """`auto` -> null on a nullable column, empty on a NOT NULL one; other actions as given."""
    if default_action == AUTO:
        return NULL if nullable else EMPTY
    return default_action


def writes_null(recorded: Mapping[str, Any] | None) -> list[str]:
    """Kinds a recorded policy (describe()) sets to SQL NULL."""
    return sorted(k for k, a in ((recorded or {}).get("actions") or {}).items() if a == NULL)


def policy_problems(mapping: object, default_action: object, wrap_key: object) -> list[str]:
    """Everything wrong with a policy, as messages (empty when it is fine)."""
    problems = []
    if mapping is not None and not isinstance(mapping, dict):
        return ["policy must be a dict of JSON kind -> action, got %r" % (mapping,)]
    for kind, action in (mapping or {}).items():
        if not isinstance(kind, str) or not KIND_RE.fullmatch(kind):
            problems.append("policy key %r is not a JSON kind (use e.g. %s)" % (kind, ", ".join(KNOWN_KINDS)))
            continue
        if kind in HEALTHY:
            problems.append("policy key %r names a healthy kind; only corrupt kinds can be repaired" % kind)
        if action not in ACTIONS:
            problems.append("policy action %r for %s is not one of %s" % (action, kind, ", ".join(ACTIONS)))
        elif action == UNWRAP and kind != DOUBLE_ENCODED:
            problems.append("unwrap only applies to %s (a JSON string whose text is an object), not to %s" % (DOUBLE_ENCODED, kind))
    if default_action not in DEFAULT_ACTIONS:
        problems.append("default_action %r must be auto, wrap, null, empty or skip (unwrap only applies to %s)" % (default_action, DOUBLE_ENCODED))
    if not isinstance(wrap_key, str) or not wrap_key:
        problems.append("wrap_key must be a non-empty string")
    return problems


def new_value_sql(action: str, kind: str, col: str, dialect: Dialect | None = None) -> tuple[str, tuple[()] | None]:
    """(SQL expression, args) computing the repaired value of column `col` for a row of `kind`.

    `wrap` extracts the value first so it nests on every column kind: JSON_OBJECT('k', col)
    would quote it as a string on a plain LONGTEXT column. Text that is not JSON (or not JSON
    the application reads) cannot be extracted; it is wrapped as a JSON string holding the raw
    text (lossless, and valid JSON). The expressions are the dialect's (the MySQL family's by default).
    """
    dialect = dialect or Dialect()
    if action == NULL:
        return "NULL", ()
    if action == EMPTY:
        return "'{}'", ()
    if action == UNWRAP:
        if kind != DOUBLE_ENCODED:
            raise JsonmendError("unwrap cannot repair a %s value" % kind)
        return dialect.unwrap_expr(col), ()
    if action == WRAP:
        return dialect.wrap_expr(col, kind in RAW_KINDS), None
    raise JsonmendError("action %r writes nothing" % action)


def expression_group(action: str, kind: str) -> tuple[str, str]:
    """Rows whose new value comes from the same SQL expression share a group."""
    if action == WRAP:
        return (WRAP, "raw" if kind in RAW_KINDS else "json")
    return (action, "")


def group_sql(group: tuple[str, str], col: str, wrap_key: str, dialect: Dialect | None = None) -> tuple[str, tuple[str, ...] | None]:
    """(expression, args) for an expression_group."""
    action, variant = group
    if action == WRAP:
        kind = INVALID if variant == "raw" else "ARRAY"
        sql = new_value_sql(WRAP, kind, col, dialect)[0]
        return sql, (wrap_key,)
    kind = DOUBLE_ENCODED if action == UNWRAP else "ARRAY"
    return new_value_sql(action, kind, col, dialect)

# The repair policy: which action each JSON kind gets, and the SQL that computes a row's new
# value. Pure functions over the class labels of dialects.classify_expr (unit tested).
from __future__ import annotations

import re

from ansible.module_utils.jsonmend.dialects import DOUBLE_ENCODED, INVALID
from ansible.module_utils.jsonmend.errors import JsonmendError

UNWRAP = "unwrap"
WRAP = "wrap"
NULL = "null"
SKIP = "skip"
ACTIONS = (UNWRAP, WRAP, NULL, SKIP)
# Actions that write; `skip` leaves the row as it is.
WRITING_ACTIONS = (UNWRAP, WRAP, NULL)

# Every corrupt class classify_expr returns on MariaDB and MySQL 8. Other MySQL types
# (DATE, TIME, DATETIME, BLOB, BIT, OPAQUE) are accepted as keys too and otherwise get the
# default action.
KNOWN_KINDS = ("ARRAY", "INTEGER", "UNSIGNED INTEGER", "DOUBLE", "DECIMAL", "STRING", DOUBLE_ENCODED, "BOOLEAN", "NULL", INVALID)
KIND_RE = re.compile(r"[A-Z][A-Z +]{0,31}")
HEALTHY = ("OBJECT", "SQL NULL")

# Safe defaults: a double-encoded object is unwrapped without loss; everything else becomes
# SQL NULL (the runbook's behaviour), its original kept in the quarantine table.
DEFAULT_POLICY = {DOUBLE_ENCODED: UNWRAP}
DEFAULT_ACTION = NULL
DEFAULT_WRAP_KEY = "value"


class Policy:
    """A validated map kind -> action, with the action for kinds it does not name."""

    def __init__(self, mapping=None, default_action=DEFAULT_ACTION, wrap_key=DEFAULT_WRAP_KEY):
        problems = policy_problems(mapping, default_action, wrap_key)
        if problems:
            raise JsonmendError("; ".join(problems))
        # The operator's map is laid over the defaults, so naming INTEGER does not silently
        # turn double-encoded objects into NULL.
        self.mapping = dict(DEFAULT_POLICY)
        self.mapping.update(mapping or {})
        self.default_action = default_action
        self.wrap_key = wrap_key

    def action(self, kind):
        """The action for one class label (unknown types get the default action)."""
        if kind in HEALTHY:
            return SKIP
        return self.mapping.get(kind, self.default_action)

    def describe(self):
        """The action for every known kind: what the run will do, for the result and the ledger."""
        table = dict((kind, self.action(kind)) for kind in KNOWN_KINDS)
        table.update(self.mapping)
        return dict(actions=table, default_action=self.default_action, wrap_key=self.wrap_key)


def policy_problems(mapping, default_action, wrap_key):
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
    if default_action not in (WRAP, NULL, SKIP):
        problems.append("default_action %r must be wrap, null or skip (unwrap only applies to %s)" % (default_action, DOUBLE_ENCODED))
    if not isinstance(wrap_key, str) or not wrap_key:
        problems.append("wrap_key must be a non-empty string")
    return problems


def new_value_sql(action, kind, col):
    """(SQL expression, args) computing the repaired value of column `col` for a row of `kind`.

    `wrap` extracts the value first so it nests on every column kind: JSON_OBJECT('k', col)
    would quote it as a string on a plain LONGTEXT column. Text that is not JSON cannot be
    extracted; it is wrapped as a JSON string holding the raw text (lossless, and valid JSON).
    """
    if action == NULL:
        return "NULL", ()
    if action == UNWRAP:
        if kind != DOUBLE_ENCODED:
            raise JsonmendError("unwrap cannot repair a %s value" % kind)
        return "JSON_UNQUOTE(%s)" % col, ()
    if action == WRAP:
        if kind == INVALID:
            return "JSON_OBJECT(%%s, CAST(%s AS CHAR))" % col, None
        return "JSON_OBJECT(%%s, JSON_EXTRACT(%s, '$'))" % col, None
    raise JsonmendError("action %r writes nothing" % action)


def expression_group(action, kind):
    """Rows whose new value comes from the same SQL expression share a group."""
    if action == WRAP:
        return (WRAP, "raw" if kind == INVALID else "json")
    return (action, "")


def group_sql(group, col, wrap_key):
    """(expression, args) for an expression_group."""
    action, variant = group
    if action == WRAP:
        kind = INVALID if variant == "raw" else "ARRAY"
        sql = new_value_sql(WRAP, kind, col)[0]
        return sql, (wrap_key,)
    kind = DOUBLE_ENCODED if action == UNWRAP else "ARRAY"
    return new_value_sql(action, kind, col)

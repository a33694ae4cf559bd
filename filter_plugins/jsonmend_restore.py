# What a restore from a backup would change, in words: the sentence an operator reads before
# confirming a restore, built from db_backup_compare's content counts (impact=true), never from
# timestamps, and never with a number the backup cannot vouch for.
from __future__ import annotations

from ansible.errors import AnsibleFilterError

COUNTS = ("rows_inserted_since", "rows_changed_since", "rows_deleted_since")
# (count, keys, what the restore does to one row, to several)
EFFECTS = (
    ("rows_inserted_since", "inserted", "inserted since the backup is REMOVED", "inserted since the backup are REMOVED"),
    ("rows_changed_since", "changed", "changed since the backup gets its old content back", "changed since the backup get their old content back"),
    ("rows_deleted_since", "deleted", "deleted since the backup comes back", "deleted since the backup come back"),
)


def _rows(n):
    return "1 row" if n == 1 else "%d rows" % n


def _keys(found):
    """'(key 17)', '(keys 6001 to 6002: 6001, 6002)' or '' when nothing is known."""
    if not found or found.get("first_key") is None:
        return ""
    first, last, samples = found["first_key"], found["last_key"], found.get("sample_keys") or []
    if first == last:
        return " (key %s)" % first
    shown = ", ".join(str(k) for k in samples)
    return " (keys %s to %s%s)" % (first, last, ": " + shown if shown else "")


def restore_impact_lines(impact, table=None):
    """One line per kind of difference, plus why any count is unknown.

    `impact` is db_backup_compare's `impact` result (totals and `tables`); with `table`, only that
    table's figures are described. Raises AnsibleFilterError on anything else.
    """
    if not isinstance(impact, dict) or "tables" not in impact:
        raise AnsibleFilterError("restore_impact_lines expects db_backup_compare's impact result, got %r" % (impact,))
    tables = impact["tables"]
    if table and table not in tables:
        raise AnsibleFilterError("the backup holds no table %r (it holds %s)" % (table, ", ".join(sorted(tables)) or "none"))
    entries = [tables[table]] if table else list(tables.values())
    lines = []
    for entry in entries:
        prefix = "%s: " % entry["table"] if len(entries) > 1 else ""
        if all(entry.get(name) is not None for name in COUNTS):
            if not any(entry[name] for name in COUNTS):
                lines.append(prefix + "nothing: the table holds exactly what the backup holds")
                continue
            for name, kind, one, several in EFFECTS:
                if entry[name]:
                    lines.append(prefix + "%s %s%s" % (_rows(entry[name]), one if entry[name] == 1 else several, _keys(entry.get(kind))))
        else:
            known = ["%s %s" % (_rows(entry[n]), n.split("_")[1]) for n in COUNTS if entry.get(n) is not None]
            lines.append(
                prefix
                + "UNKNOWN how many rows were %s since the backup%s: %s"
                % (
                    ", ".join(n.split("_")[1] for n in COUNTS if entry.get(n) is None),
                    (" (known: %s)" % ", ".join(known)) if known else "",
                    entry.get("reason") or "the backup cannot tell",
                )
            )
    return lines


def restore_impact_counts(impact, table=None):
    """{rows_inserted_since, rows_changed_since, rows_deleted_since} of one table, or the totals; None where unknown."""
    if not isinstance(impact, dict) or "tables" not in impact:
        raise AnsibleFilterError("restore_impact_counts expects db_backup_compare's impact result, got %r" % (impact,))
    source = impact["tables"].get(table) if table else impact
    if source is None:
        raise AnsibleFilterError("the backup holds no table %r" % table)
    return dict((name, source.get(name)) for name in COUNTS)


class FilterModule:
    def filters(self):
        return {
            "jsonmend_restore_impact_lines": restore_impact_lines,
            "jsonmend_restore_impact_counts": restore_impact_counts,
        }

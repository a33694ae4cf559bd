# Findings as an operator reads them: the runbook's Step 4 table and its example output.
from __future__ import annotations

from ansible.errors import AnsibleFilterError

RULE = "=" * 80
# The runbook's findings table, row by row: (metric, how to read it from the scan).
FINDINGS_ROWS = (
    ("Total rows", lambda s: s["total_rows"]),
    ("Corrupted rows", lambda s: s["corrupted_rows"]),
    ("NULL metadata", lambda s: s["sql_null_rows"]),
    ("Valid OBJECT metadata", lambda s: s["by_type"].get("OBJECT", 0)),
    ("INTEGER metadata", lambda s: s["by_type"].get("INTEGER", 0) + s["by_type"].get("UNSIGNED INTEGER", 0)),
    ("DOUBLE metadata", lambda s: s["by_type"].get("DOUBLE", 0) + s["by_type"].get("DECIMAL", 0)),
    ("STRING metadata", lambda s: s["by_type"].get("STRING", 0)),
    ("ARRAY metadata", lambda s: s["by_type"].get("ARRAY", 0)),
)
REQUIRED_KEYS = ("total_rows", "corrupted_rows", "sql_null_rows", "by_type", "by_group")
# The application's decoder adds these kinds (json_type_scan decoder=python).
READABLE = "READABLE OBJECT"
UNREADABLE = "UNREADABLE OBJECT"


def _check(scan):
    if not isinstance(scan, dict) or any(k not in scan for k in REQUIRED_KEYS):
        raise AnsibleFilterError("expected the result of json_type_scan (with %s)" % ", ".join(REQUIRED_KEYS))


def _n(value):
    return "{:,}".format(int(value or 0))


def _notes(scan, metric):
    notes = {
        "Corrupted rows": "%s double-encoded (lossless unwrap), %s invalid text%s"
        % (
            _n(scan.get("double_encoded_rows")),
            _n(scan.get("invalid_rows")),
            ", %s objects the application cannot read" % _n(scan.get("unreadable_object_rows")) if scan.get("unreadable_object_rows") else "",
        ),
        "NULL metadata": "SQL NULL (healthy); JSON null is counted as corrupt",
        "STRING metadata": "%s of them double-encoded objects" % _n(scan.get("double_encoded_rows")),
    }
    return notes.get(metric, "")


def _label(json_type):
    """JSON null is easy to confuse with SQL NULL: say which (console, reports and records alike)."""
    return "JSON null" if json_type == "NULL" else json_type


def findings_rows(scan):
    """[(metric, value, notes)] for the runbook's Step 4 table (plus the decoder's kinds when found)."""
    _check(scan)
    rows = [(metric, int(get(scan)), _notes(scan, metric)) for metric, get in FINDINGS_ROWS]
    if scan.get("readable_object_rows"):
        rows.append(
            (
                "Readable objects",
                int(scan["readable_object_rows"]),
                "JSON_VALID rejects them, the application reads them (NaN, Infinity, ...): NOT counted as corrupted, left alone",
            )
        )
    return rows


def scan_warnings(scan):
    """What the diagnosis must show besides the counts: the column check, readable objects."""
    _check(scan)
    out = []
    check = scan.get("column_check") or {}
    if check.get("message"):
        out.append(check["message"])
    if scan.get("readable_object_rows"):
        out.append(
            "%s rows are READABLE OBJECT: the server's JSON_VALID rejects them but the application's decoder reads them as objects;"
            " they are not counted in the %s corrupted rows the strategy is chosen from, and the default policy leaves them alone"
            % (_n(scan["readable_object_rows"]), _n(scan["corrupted_rows"]))
        )
    return out


def type_lines(scan):
    """(mark, type, count, problem) per type present: ✓ object, ○ SQL NULL, ✗ corrupt."""
    _check(scan)
    lines = [("✓", "OBJECT", scan["by_type"].get("OBJECT", 0), False)]
    if scan["sql_null_rows"]:
        lines.append(("○", "NULL", scan["sql_null_rows"], False))
    for name, count in scan["by_type"].items():
        if name == READABLE and count:
            lines.append(("○", "READABLE OBJECT (read by the application, not counted)", count, False))
        elif name != "OBJECT" and count:
            lines.append(("✗", _label(name), count, True))
    return lines


def jsonmend_findings_text(scan, decision=None, where=None):
    """The diagnostic as the runbook's example prints it, plus the findings table and decision."""
    _check(scan)
    target = scan.get("target", {})
    where = where or "%s.%s.%s" % (target.get("database", "?"), target.get("table", "?"), target.get("column", "?"))
    out = ["%s CORRUPTION DIAGNOSTIC  %s" % (str(target.get("column", "JSON")).upper(), where), RULE]
    for warning in scan_warnings(scan):
        out.append("WARNING: %s" % warning)
    out.append("%-24s %14s  %s" % ("Metric", "Value", "Notes"))
    out.append("%-24s %14s  %s" % ("-" * 24, "-" * 14, "-" * 38))
    for metric, value, notes in findings_rows(scan):
        out.append("%-24s %14s  %s" % (metric, _n(value), notes))
    out.append("")
    out.append("%s type distribution:" % target.get("column", "Value"))
    for mark, name, count, problem in type_lines(scan):
        out.append("  %s %-16s %10s rows%s" % (mark, name, _n(count), "  ← PROBLEM" if problem else ""))
    if scan["by_group"]:
        out.append("")
        out.append("Corrupted %s by %s:" % (target.get("column", "value"), target.get("group_by") or "group"))
        for g in scan["by_group"]:
            kind = _label(g["type"]) + (" (double-encoded)" if g.get("double_encoded") else "")
            out.append("  • %-28s %-26s %8s rows  ← %s PRIORITY" % (g["group"], kind, _n(g["count"]), g["priority"]))
    if scan["corrupted_rows"]:
        first, last = scan.get("first_corrupt") or {}, scan.get("last_corrupt") or {}
        out.append("")
        out.append("Corruption pattern:")
        out.append("  first corrupt row: id %s at %s" % (first.get("id"), first.get("at")))
        out.append("  last corrupt row:  id %s at %s" % (last.get("id"), last.get("at")))
        days = scan.get("by_day") or []
        if days:
            out.append("  days affected: %d (newest: %s)" % (len(days), ", ".join("%s %s" % (d["day"], _n(d["count"])) for d in days[:5])))
        users = scan.get("top_users") or []
        if users:
            out.append("  users affected (top %d): %s" % (len(users), ", ".join("%s (%s)" % (u["user"], _n(u["count"])) for u in users[:10])))
    else:
        out.append("")
        out.append("✓ Database is healthy. No %s corruption detected." % target.get("column", "JSON"))
    if decision:
        out.append("")
        out.append(
            "Recommended strategy: %s (%s corrupted rows, range %s) - %s"
            % (decision["strategy"], _n(decision["corrupted_rows"]), decision["range"], decision["title"])
        )
        for key in ("action", "risk", "downtime", "rollback"):
            out.append("  %-9s %s" % (key.capitalize() + ":", decision[key]))
        for item in decision.get("requirements") or []:
            out.append("  [ ] %s" % item)
    scan_info = scan.get("scan") or {}
    if scan_info:
        out.append("")
        out.append(
            "Scanned %s rows in %.2fs (%s mode, %s worker(s), %s chunk(s)) on %s %s"
            % (
                _n(scan["total_rows"]),
                float(scan_info.get("duration_s", 0)),
                scan_info.get("mode"),
                scan_info.get("parallel"),
                scan_info.get("chunks"),
                (scan.get("server") or {}).get("flavour", "?"),
                (scan.get("server") or {}).get("version", ""),
            )
        )
    return "\n".join(out)


class FilterModule:
    """jsonmend report filters."""

    def filters(self):
        return {
            "jsonmend_findings_text": jsonmend_findings_text,
            "jsonmend_findings_rows": findings_rows,
            "jsonmend_type_lines": type_lines,
            "jsonmend_scan_warnings": scan_warnings,
            "jsonmend_type_label": _label,
        }

# Judge the verify role's registered results: one pure function turns them into the
# `verify_result` fact (every check's outcome and the list of failures).
from __future__ import annotations

from ansible.errors import AnsibleFilterError

CHECKS = ("scan", "commands", "health", "smoke", "logs")
TAIL_CHARS = 2000
MARK = {True: "✓", False: "✗"}


def _tail(text, chars=TAIL_CHARS):
    text = text or ""
    return text[-chars:]


def _ran(result):
    """A registered result that actually ran (not absent, not skipped)."""
    return isinstance(result, dict) and not result.get("skipped")


def judge_scan(result, max_corrupted, check_mode=False, cleanup_ran=False):
    if not _ran(result):
        return dict(ok=False, skipped=True, message="the re-scan did not run")
    if "corrupted_rows" not in result:
        return dict(ok=False, message="the re-scan failed: %s" % result.get("msg", "no result"))
    corrupted = int(result["corrupted_rows"])
    limit = int(max_corrupted)
    out = dict(corrupted_rows=corrupted, total_rows=int(result.get("total_rows", 0)), max_corrupted=limit, by_type=result.get("by_type", {}))
    if check_mode and cleanup_ran:
        # The cleanup did not change anything in check mode: the count cannot be judged.
        out.update(ok=True, message="check mode: %d corrupted row(s) now; 0 required after the cleanup" % corrupted)
    elif limit >= 0 and corrupted > limit:
        why = "0 are allowed after a cleanup" if cleanup_ran else "at most %d allowed (the count before the deploy)" % limit
        out.update(ok=False, message="the re-scan found %d corrupted row(s); %s" % (corrupted, why))
    else:
        out.update(ok=True, message="%d corrupted row(s)%s" % (corrupted, "" if limit < 0 else " (limit %d)" % limit))
    return out


def judge_commands(result, commands, check_mode=False):
    items = (result or {}).get("results") or []
    out = []
    for command, item in zip(commands, items, strict=False):
        if item.get("skipped"):
            out.append(dict(command=command, ok=True, skipped=True, rc=None, message="not run in check mode" if check_mode else "skipped"))
            continue
        rc = item.get("rc")
        entry = dict(command=command, rc=rc, ok=rc == 0, stdout=_tail(item.get("stdout")), stderr=_tail(item.get("stderr")))
        if rc != 0:
            lines = [line for line in (item.get("stderr") or item.get("msg") or "").splitlines() if line.strip()]
            entry["message"] = "manage.py %s exited %s: %s" % (command, rc, lines[-1] if lines else "no output")
        out.append(entry)
    for command in commands[len(items) :]:
        out.append(dict(command=command, ok=False, rc=None, message="manage.py %s did not run" % command))
    return out


def judge_health(result, expected_release="", release_key="release"):
    if not _ran(result):
        return dict(ok=False, message="the health check did not run")
    status = result.get("status", -1)
    body = result.get("json") if isinstance(result.get("json"), dict) else {}
    release = body.get(release_key) if release_key else None
    out = dict(url=result.get("url"), status=status, release=release, expected_release=expected_release or None)
    if status != 200:
        out.update(ok=False, message="%s answered %s: %s" % (result.get("url"), status, result.get("msg", "")))
    elif expected_release and release != expected_release:
        out.update(ok=False, message="%s reports release %s, expected %s" % (result.get("url"), release, expected_release))
    else:
        out.update(ok=True, message="healthy" + (" on %s" % release if release else ""))
    return out


def judge_smoke(request, row, id_key="id", check_mode=False):
    if check_mode:
        return dict(ok=True, skipped=True, message="not run in check mode (it would record one event)")
    if not _ran(request):
        return dict(ok=False, message="the smoke request did not run")
    status = request.get("status", -1)
    body = request.get("json") if isinstance(request.get("json"), dict) else {}
    out = dict(status=status, id=body.get(id_key))
    if status not in (200, 201) or out["id"] is None:
        out.update(ok=False, message="the quiz answer was refused: HTTP %s %s" % (status, body or request.get("msg", "")))
        return out
    if not _ran(row) or "rows" not in row:
        out.update(ok=False, message="event %s could not be read back: %s" % (out["id"], (row or {}).get("msg", "the check did not run")))
        return out
    classes = [r.get("class") for r in row["rows"]]
    out["stored_class"] = classes[0] if classes else None
    if classes == ["OBJECT"]:
        out.update(ok=True, message="event %s stored with an object as metadata" % out["id"])
    else:
        out.update(ok=False, message="event %s stored metadata of class %s, not an object" % (out["id"], out["stored_class"] or "(row missing)"))
    return out


def judge_logs(result):
    if not _ran(result):
        return dict(ok=False, message="the log scan did not run")
    if "match_count" not in result:
        return dict(ok=False, message="the log scan failed: %s" % result.get("msg", "no result"))
    out = dict(
        path=result.get("path"),
        offset=result.get("offset"),
        size=result.get("size"),
        rotated=result.get("rotated", False),
        lines_scanned=result.get("lines_scanned"),
        match_count=result["match_count"],
        counts=result.get("counts", {}),
        matches=(result.get("matches") or [])[:20],
    )
    if result["match_count"]:
        found = ", ".join("%s x%d" % (k, v) for k, v in out["counts"].items() if v)
        first = out["matches"][0]["text"] if out["matches"] else ""
        out.update(ok=False, message="%d error line(s) in %s since byte %s (%s); first: %s" % (result["match_count"], out["path"], out["offset"], found, first))
    else:
        out.update(ok=True, message="no error lines in %d line(s) since byte %s" % (out["lines_scanned"] or 0, out["offset"]))
    return out


def verify_result(
    checks,
    scan=None,
    max_corrupted=-1,
    commands=None,
    command_names=None,
    health=None,
    expected_release="",
    release_key="release",
    smoke=None,
    smoke_row=None,
    smoke_id_key="id",
    logs=None,
    check_mode=False,
    cleanup_ran=False,
):
    """The verify_result fact: {passed, failures, checks: {name: outcome}}."""
    if isinstance(checks, str) or not isinstance(checks, (list, tuple)):
        raise AnsibleFilterError("checks must be a list of %s" % ", ".join(CHECKS))
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        raise AnsibleFilterError("unknown check(s) %s: use %s" % (", ".join(unknown), ", ".join(CHECKS)))
    outcome, failures = {}, []
    if "scan" in checks:
        outcome["scan"] = judge_scan(scan, max_corrupted, check_mode, cleanup_ran)
    if "commands" in checks:
        outcome["commands"] = judge_commands(commands, list(command_names or []), check_mode)
    if "health" in checks:
        outcome["health"] = judge_health(health, expected_release, release_key)
    if "smoke" in checks:
        outcome["smoke"] = judge_smoke(smoke, smoke_row, smoke_id_key, check_mode)
    if "logs" in checks:
        outcome["logs"] = judge_logs(logs)
    lines = []
    for name in CHECKS:
        value = outcome.get(name)
        if isinstance(value, list):
            failures += ["commands: %s" % c["message"] for c in value if not c["ok"]]
            lines += ["%s commands: manage.py %s%s" % (MARK[c["ok"]], c["command"], " (%s)" % c["message"] if "message" in c else "") for c in value]
        elif value is not None:
            if not value["ok"]:
                failures.append("%s: %s" % (name, value["message"]))
            lines.append("%s %s: %s" % (MARK[value["ok"]], name, value["message"]))
    return dict(passed=not failures, failures=failures, checks=outcome, lines=lines, check_mode=bool(check_mode))


class FilterModule:
    """jsonmend verification filters."""

    def filters(self):
        return {"jsonmend_verify_result": verify_result}

# The safety suite's figures, as a pytest plugin: the `chaos` marker, a `record_figures`
# fixture the safety tests call with what they measured (trials, failures, rows checked, rows
# lost, ...), and --chaos-report FILE, which writes those figures as JSON at the end of the
# session and prints them as a table. `make chaos` runs `-m chaos` with a report file.
from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import pytest

MARK = "chaos"
# Safety test files that may not mark themselves are recognised by their names.
SAFETY_FILE_WORDS = ("bad_input", "badinput", "secret")
# The figures every row of the table shows; anything else a test records goes to "other".
COLUMNS = (("trials", "trials"), ("failures", "failures"), ("rows_checked", "rows checked"), ("rows_lost", "rows lost"))

_ENTRIES = pytest.StashKey[dict]()
_STARTED = pytest.StashKey[float]()
_WRITTEN = pytest.StashKey[str]()


def pytest_addoption(parser):
    parser.addoption(
        "--chaos-report",
        metavar="FILE",
        default=None,
        help="write the figures of the tests marked chaos to FILE (JSON) and print them as a table",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "chaos: the safety suite (kill -9 of the repair and of the server, concurrent writers, the advisory lock, "
        "replica lag, bad inputs, secrets); `make chaos` runs it alone and reports its figures",
    )
    config.stash[_ENTRIES] = {}
    config.stash[_STARTED] = time.time()


# Before the mark plugin deselects by `-m`: the named files must carry the marker by then.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(word in item.path.name for word in SAFETY_FILE_WORDS):
            item.add_marker(MARK)


def _entry(config, nodeid):
    return config.stash[_ENTRIES].setdefault(nodeid, dict(test=nodeid, outcome="passed", seconds=0.0, figures={}))


@pytest.fixture
def record_figures(request):
    """record_figures({...}) or record_figures(name=value): merged into this test's figures."""
    figures = _entry(request.config, request.node.nodeid)["figures"]

    def record(values=None, **more):
        figures.update(values or {})
        figures.update(more)
        return figures

    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if item.get_closest_marker(MARK):
        entry = _entry(item.config, item.nodeid)
        entry["seconds"] = round(entry["seconds"] + report.duration, 2)
        if report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
    return report


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    path = config.getoption("chaos_report")
    entries = list(config.stash[_ENTRIES].values())
    if not path or not entries:
        return
    started = config.stash[_STARTED]
    summary = dict(
        started_at=datetime.datetime.fromtimestamp(started, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        seconds=round(time.time() - started, 1),
        exit_status=int(exitstatus),
        tests=entries,
        totals={key: sum(e["figures"].get(key, 0) or 0 for e in entries) for key, _label in COLUMNS},
        failed=[e["test"] for e in entries if e["outcome"] not in ("passed", "skipped")],
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    config.stash[_WRITTEN] = str(path)


def pytest_terminal_summary(terminalreporter, config):
    if _WRITTEN not in config.stash:
        return
    summary = json.loads(Path(config.stash[_WRITTEN]).read_text())
    terminalreporter.write_sep("=", "chaos summary: %s" % config.stash[_WRITTEN])
    for line in table(summary):
        terminalreporter.write_line(line)


def table(summary):
    """The summary as text lines: one row per test, then the totals."""
    header = ["test", "outcome"] + [label for _key, label in COLUMNS] + ["seconds", "other"]
    rows = []
    for entry in summary["tests"]:
        figures = entry["figures"]
        other = ", ".join("%s=%s" % (k, _short(v)) for k, v in sorted(figures.items()) if k not in dict(COLUMNS))
        rows.append(
            [entry["test"].split("/")[-1], entry["outcome"]] + [_cell(figures.get(key)) for key, _label in COLUMNS] + ["%.1f" % entry["seconds"], other]
        )
    totals = summary["totals"]
    total = ["total (%d tests)" % len(summary["tests"]), "%d failed" % len(summary["failed"])]
    rows.append(total + [_cell(totals[k]) for k, _l in COLUMNS] + ["%.1f" % summary["seconds"], ""])
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header) - 1)]
    lines = []
    for i, row in enumerate([header] + rows):
        if i == len(rows):  # before the totals
            lines.append("-" * (sum(widths) + 2 * len(widths)))
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1])
    return lines


def _cell(value):
    return "-" if value is None else str(value)


def _short(value):
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."

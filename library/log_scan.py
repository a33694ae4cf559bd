#!/usr/bin/python
# Read-only search of a log file from a byte offset (where it ended when a deploy began)
# for error patterns: the runbook's "tail -f /var/log/django/error.log | grep ...".
from __future__ import annotations

DOCUMENTATION = r"""
---
module: log_scan
short_description: Find error patterns in the part of a log file written since a byte offset
description:
  - Reads a log file from O(offset) (its size when a deploy started, say) to its end and returns the
    lines that match any of O(patterns), with counts per pattern.
  - When the file now has another inode than O(inode) (logrotate moved it away and a new file took its name),
    or is shorter than O(offset) (rotated or truncated in place), the whole file is read and RV(rotated) says so.
    The inode is what tells a rotation whose new file has already grown past the old offset.
  - Read-only; never reports C(changed).
  - On the controller itself (a local connection without become or async) its action plugin runs this code in
    Ansible's own process, without a module process; the arguments, checks and result are the same.
version_added: "0.1.0"
author: jsonmend maintainers (@jsonmend)
options:
  path:
    description: Log file to read.
    type: path
    required: true
  offset:
    description: Byte offset to start reading at; V(0) reads the whole file.
    type: int
    default: 0
  inode:
    description:
      - Inode the file had when O(offset) was taken (C(ansible.builtin.stat)'s C(inode)). A file with another inode is
        another file - the old one was rotated away - and is read from the start. Unset, only a file shorter than
        O(offset) counts as rotated.
    type: int
  patterns:
    description:
      - Python regular expressions; a line matching any of them is reported.
    type: list
    elements: str
    default: [ValidationError, JSONDecodeError, TypeError, Traceback]
  ignore_case:
    description: Match the patterns without regard to case.
    type: bool
    default: false
  missing_ok:
    description: Succeed with no matches when the file does not exist (the app has logged nothing yet).
    type: bool
    default: true
  max_matches:
    description: Matching lines returned (all are counted).
    type: int
    default: 50
  max_line_chars:
    description: Characters kept of each returned line.
    type: int
    default: 500
  entry_start:
    description:
      - A regular expression that marks the first line of a log entry (say the timestamp a logging formatter
        writes). When set, the lines after it that do not match (a traceback) belong to the same entry, and each
        pattern is searched in the whole entry, with C(.) matching line ends too - so
        V(compute_content_difficulty failed.*TypeError) finds that management command failing with a
        C(TypeError) several lines down. Counts, RV(match_count) and RV(matches) are then per entry.
      - Lines before the first entry start (the end of an entry that began before O(offset)) form an entry of their own.
      - Empty (the default) matches line by line.
    type: str
    default: ""
  rotated_path:
    description:
      - The watch (the monitor's per-host step in one process). Set to the rotated copy's path (logrotate's
        C(<path>.1)), the module stats O(path) and this file itself and reads what was written since O(saved) - the
        rest of the rotated copy first when the log was rotated - or, with no O(saved) entry, since O(deploy_offset);
        with neither, it reads nothing and RV(watch) says a baseline is taken at the current end.
      - O(offset) and O(inode) are ignored then; RV(watch), RV(current) and RV(results) are returned.
    type: path
  saved:
    description: The watch - where the last run stopped on this host (C(path), C(inode), C(offset)); empty for none.
    type: dict
    default: {}
  deploy_offset:
    description: The watch - the log's size when the last deploy began (none recorded when unset).
    type: int
attributes:
  check_mode:
    support: full
    description: The module never writes; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing on the target changes, so there is no difference to show.
"""

EXAMPLES = r"""
- name: Scan the error log written since the deploy started
  ansible.legacy.log_scan:
    path: /var/log/django/error.log
    offset: "{{ deploy_release.error_log_offset }}"
  register: verify_log_result

- name: Look for the runbook's alerts only
  ansible.legacy.log_scan:
    path: /var/log/django/error.log
    patterns: ['ValidationError.*ActivityEvent', 'JSONDecodeError', 'TypeError.*compute_content_difficulty']

- name: Match whole log entries (a traceback belongs to the line that logged it)
  ansible.legacy.log_scan:
    path: /var/log/django/error.log
    entry_start: '^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}'
    patterns: ['manage\.py compute_\w+.* failed.*TypeError']

- name: Watch the log - resume where the last run stopped, rotation included (the monitor)
  ansible.legacy.log_scan:
    path: /var/log/django/error.log
    rotated_path: /var/log/django/error.log.1
    saved: {path: /var/log/django/error.log, inode: 1835013, offset: 18211}
  register: monitor_log_result
"""

RETURN = r"""
path:
  description: The file read.
  returned: always
  type: str
  sample: /var/log/django/error.log
exists:
  description: Whether the file exists.
  returned: always
  type: bool
  sample: true
size:
  description: Size of the file in bytes when read (the offset for the next scan).
  returned: always
  type: int
  sample: 18211
offset:
  description: Byte offset reading started at (0 after a rotation).
  returned: always
  type: int
  sample: 16002
rotated:
  description: The file has another inode than O(inode), or is shorter than the requested offset, so all of it was read.
  returned: always
  type: bool
  sample: false
inode:
  description: The file's inode when read (give it as O(inode) with RV(size) as O(offset) to the next scan).
  returned: when the file exists
  type: int
  sample: 1835013
lines_scanned:
  description: Lines read.
  returned: always
  type: int
  sample: 42
match_count:
  description: Lines that matched at least one pattern.
  returned: always
  type: int
  sample: 2
counts:
  description: Matching lines per pattern.
  returned: always
  type: dict
  sample: {"ValidationError": 0, "JSONDecodeError": 0, "TypeError": 1, "Traceback": 1}
matches:
  description:
    - Up to O(max_matches) matching lines (entries, with O(entry_start)), in file order, with their line number after
      the offset. An entry's C(text) is its first line, C(last) its last line and C(lines) its number of lines.
  returned: always
  type: list
  elements: dict
  sample: [{"line": 3, "text": "TypeError: the JSON object must be str, bytes or bytearray, not float", "patterns": ["TypeError"]}]
watch:
  description: With O(rotated_path) - which files were read from which byte (C(reads)), whether only a baseline was taken, and why (C(note)).
  returned: when O(rotated_path) is set
  type: dict
  sample: {"reads": [{"path": "/var/log/django/error.log", "offset": 18211}], "baseline": false, "note": "since byte 18211"}
current:
  description: With O(rotated_path) - the log as found before reading (C(exists), C(inode), C(size)).
  returned: when O(rotated_path) is set
  type: dict
  sample: {"exists": true, "inode": 1835013, "size": 19004}
results:
  description: With O(rotated_path) - one result per file read (C(path), C(exists), C(size), C(offset), C(counts), C(matches), ...), in reading order.
  returned: when O(rotated_path) is set
  type: list
  elements: dict
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule


def compile_patterns(patterns, ignore_case, dotall=False):
    """[(text, compiled)]; raise ValueError naming the first bad expression."""
    flags = (re.IGNORECASE if ignore_case else 0) | (re.DOTALL if dotall else 0)
    compiled = []
    for text in patterns:
        try:
            compiled.append((text, re.compile(text, flags)))
        except re.error as exc:
            raise ValueError("pattern %r is not a valid regular expression: %s" % (text, exc)) from None
    return compiled


def scan_lines(lines, compiled, max_matches, max_line_chars):
    """Count and collect the lines matching any pattern; returns (counts, matches, match_count, lines read)."""
    counts = dict((pair[0], 0) for pair in compiled)
    matches, match_count, number = [], 0, 0
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        hit = [text for text, regex in compiled if regex.search(line)]
        if not hit:
            continue
        match_count += 1
        for text in hit:
            counts[text] += 1
        if len(matches) < max_matches:
            matches.append(dict(line=number, text=line[:max_line_chars], patterns=hit))
    return counts, matches, match_count, number


def entries(lines, start):
    """Group lines into log entries: (first line number, [lines]); a line matching `start` opens one."""
    number, first, current = 0, 1, []
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if current and start.search(line):
            yield first, current
            first, current = number, []
        current.append(line)
    if current:
        yield first, current


def scan_entries(lines, compiled, start, max_matches, max_line_chars):
    """scan_lines, per log entry: each pattern is searched in the entry's whole text."""
    counts = dict((pair[0], 0) for pair in compiled)
    matches, match_count, scanned = [], 0, 0
    for first, block in entries(lines, start):
        scanned += len(block)
        text = "\n".join(block)
        hit = [pattern for pattern, regex in compiled if regex.search(text)]
        if not hit:
            continue
        match_count += 1
        for pattern in hit:
            counts[pattern] += 1
        if len(matches) < max_matches:
            match = dict(line=first, text=block[0][:max_line_chars], patterns=hit, lines=len(block))
            if len(block) > 1:
                match["last"] = block[-1][:max_line_chars]
            matches.append(match)
    return counts, matches, match_count, scanned


def rotation(offset, inode, stat):
    """Was the file rotated since `offset` (and `inode`) were taken? A new inode says so even when
    the new file already outgrew the old offset; a shorter file says so for copytruncate."""
    if inode is not None and stat.st_ino != inode:
        return True
    return offset > stat.st_size


def scan_file(path, offset, compiled, max_matches, max_line_chars, start=None, inode=None):
    """Scan the file from `offset` (from 0 when it was rotated since), by line or by entry."""
    with open(path, "rb") as handle:
        # The open file's own inode and size: a rotation between a stat and the open cannot mislead.
        stat = os.fstat(handle.fileno())
        rotated = rotation(offset, inode, stat)
        begin = 0 if rotated else offset
        handle.seek(begin)
        lines = (raw.decode("utf-8", "replace") for raw in handle)
        if start is None:
            counts, matches, match_count, scanned = scan_lines(lines, compiled, max_matches, max_line_chars)
        else:
            counts, matches, match_count, scanned = scan_entries(lines, compiled, start, max_matches, max_line_chars)
        end = handle.tell()
    return dict(size=end, offset=begin, rotated=rotated, inode=stat.st_ino, lines_scanned=scanned, counts=counts, matches=matches, match_count=match_count)


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def file_state(path):
    """{exists, inode, size} of a path, as the plan reads it (ansible.builtin.stat's fields)."""
    try:
        found = os.stat(path)
    except OSError:
        return dict(exists=False)
    return dict(exists=True, inode=found.st_ino, size=found.st_size)


def log_plan(saved, current, rotated=None, deploy_offset=None, path="", rotated_path=""):
    """Which files to read on one host, from which byte: {reads: [{path, offset}], baseline, note}.

    `saved` is the host's entry of the monitor's state ({path, inode, offset}, or {} when the state
    predates the last deploy), `current` and `rotated` the state of the log and of its rotated copy,
    `deploy_offset` the log's size when the last deploy began (None when no deploy is recorded). A log
    whose inode changed was rotated: the rest of the old file (now the rotated copy, when its inode is
    the saved one) is read from the saved offset, the new file from 0. Without a saved entry or a
    deploy, the first run only takes a baseline at the current end.
    """
    saved = saved if isinstance(saved, dict) else {}
    current = current if isinstance(current, dict) else {}
    rotated = rotated if isinstance(rotated, dict) else {}
    if saved and saved.get("path") == path and saved.get("inode") is not None:
        offset = _int(saved.get("offset"))
        if current.get("exists") and current.get("inode") == saved.get("inode"):
            return dict(reads=[dict(path=path, offset=offset)], baseline=False, note="since byte %d" % offset)
        reads = []
        if rotated.get("exists") and rotated.get("inode") == saved.get("inode"):
            reads.append(dict(path=rotated_path, offset=offset))
        if current.get("exists"):
            reads.append(dict(path=path, offset=0))
        return dict(reads=reads, baseline=False, note="rotated since the last run: %s" % ", ".join("%s from byte %d" % (r["path"], r["offset"]) for r in reads))
    if not current.get("exists"):
        return dict(reads=[], baseline=False, note="no log file yet")
    if deploy_offset is not None:
        offset = _int(deploy_offset)
        return dict(reads=[dict(path=path, offset=offset)], baseline=False, note="since the last deploy (byte %d)" % offset)
    return dict(reads=[], baseline=True, note="no deploy recorded: watching from the current end (byte %d)" % _int(current.get("size")))


def empty_result(path, offset, compiled):
    result = dict(path=path, exists=os.path.exists(path), size=0, offset=offset, rotated=False, lines_scanned=0)
    result.update(match_count=0, counts=dict((pair[0], 0) for pair in compiled), matches=[])
    return result


def read_part(module, path, offset, inode, compiled, start, missing_ok=True):
    """One file from `offset`: the module's result for it (fails the module on a read error)."""
    result = empty_result(path, offset, compiled)
    if not result["exists"]:
        if missing_ok:
            return result
        module.fail_json(msg="log file %s does not exist" % path, **result)
    p = module.params
    try:
        result.update(scan_file(path, offset, compiled, p["max_matches"], p["max_line_chars"], start, inode))
    except OSError as exc:
        module.fail_json(msg="could not read log file %s: %s" % (path, exc), **result)
    return result


def watch(module, compiled, start):
    """The monitor's step in one process: where the log is now, what to read since the last run, the reads."""
    p = module.params
    current = file_state(p["path"])
    # The rotated copy matters only when the log's inode is no longer the one the last run saw.
    rotated = file_state(p["rotated_path"]) if (p["saved"] or {}).get("inode") not in (None, current.get("inode")) else {}
    plan = log_plan(p["saved"], current, rotated, p["deploy_offset"], p["path"], p["rotated_path"])
    # Each part is read as planned, from its offset: the plan already accounts for the rotation.
    results = [read_part(module, part["path"], part["offset"], None, compiled, start) for part in plan["reads"]]
    return dict(watch=plan, current=current, results=results)


ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    offset=dict(type="int", default=0),
    inode=dict(type="int"),
    patterns=dict(type="list", elements="str", default=["ValidationError", "JSONDecodeError", "TypeError", "Traceback"]),
    ignore_case=dict(type="bool", default=False),
    missing_ok=dict(type="bool", default=True),
    max_matches=dict(type="int", default=50),
    max_line_chars=dict(type="int", default=500),
    entry_start=dict(type="str", default=""),
    rotated_path=dict(type="path"),
    saved=dict(type="dict", default={}),
    deploy_offset=dict(type="int"),
)


def run(module):
    """The module's work on validated params: its result (exit_json's keyword arguments); fails through module.fail_json.

    action_plugins/log_scan.py runs this in Ansible's own process when the host is the controller.
    """
    p = module.params
    if p["offset"] < 0 or p["max_matches"] < 0 or p["max_line_chars"] < 1:
        module.fail_json(msg="offset and max_matches must be 0 or more and max_line_chars 1 or more")
    try:
        compiled = compile_patterns(p["patterns"], p["ignore_case"], dotall=bool(p["entry_start"]))
        start = compile_patterns([p["entry_start"]], False)[0][1] if p["entry_start"] else None
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if p["rotated_path"]:
        return dict(changed=False, path=p["path"], **watch(module, compiled, start))
    result = read_part(module, p["path"], p["offset"], p["inode"], compiled, start, p["missing_ok"])
    return dict(changed=False, **result)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()

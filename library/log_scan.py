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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            offset=dict(type="int", default=0),
            inode=dict(type="int"),
            patterns=dict(type="list", elements="str", default=["ValidationError", "JSONDecodeError", "TypeError", "Traceback"]),
            ignore_case=dict(type="bool", default=False),
            missing_ok=dict(type="bool", default=True),
            max_matches=dict(type="int", default=50),
            max_line_chars=dict(type="int", default=500),
            entry_start=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["offset"] < 0 or p["max_matches"] < 0 or p["max_line_chars"] < 1:
        module.fail_json(msg="offset and max_matches must be 0 or more and max_line_chars 1 or more")
    try:
        compiled = compile_patterns(p["patterns"], p["ignore_case"], dotall=bool(p["entry_start"]))
        start = compile_patterns([p["entry_start"]], False)[0][1] if p["entry_start"] else None
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=False, path=p["path"], exists=os.path.exists(p["path"]), size=0, offset=p["offset"], rotated=False, lines_scanned=0)
    result.update(match_count=0, counts=dict((pair[0], 0) for pair in compiled), matches=[])
    if not result["exists"]:
        if p["missing_ok"]:
            module.exit_json(**result)
        module.fail_json(msg="log file %s does not exist" % p["path"], **result)
    try:
        result.update(scan_file(p["path"], p["offset"], compiled, p["max_matches"], p["max_line_chars"], start, p["inode"]))
    except OSError as exc:
        module.fail_json(msg="could not read log file %s: %s" % (p["path"], exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

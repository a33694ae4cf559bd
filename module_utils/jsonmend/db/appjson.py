# The application's decoder as the judge of a healthy row: where MariaDB's JSON_VALID and
# Python's json.loads (what Django's JSONField decodes with) disagree, and the server-side
# prefilter that finds those rows without sending every healthy row to Python.
from __future__ import annotations

import json
import re
from typing import Any

# Decoders: `python` (json.loads, strict, as Django) or `server` (trust JSON_VALID alone).
PYTHON = "python"
SERVER = "server"
DECODERS = (PYTHON, SERVER)

# Kinds the application's decoder adds to the server's classes.
READABLE = "READABLE OBJECT"  # the server rejects it, Python reads a dict (NaN, Infinity, lone surrogates, depth)
UNREADABLE = "UNREADABLE OBJECT"  # the server calls it an object, Python cannot read it (`-`, `1.`, `\x`)
# SQL-only labels of rows the SQL alone cannot settle; resolve() turns them into kinds.
SUSPECT_OBJECT = "OBJECT?"  # valid for the server, flagged by the prefilter
BRACED_INVALID = "INVALID{"  # invalid for the server, starts with '{' (after whitespace)
# A value the SQL cannot type without risking an error that aborts the statement (PostgreSQL
# before 16 has no pg_input_is_valid: a cast of invalid text fails the whole scan): Python
# classifies it fully (classify_text), judging as the server would and as the application does.
UNSETTLED = "JSON?"
CANDIDATES = (SUSPECT_OBJECT, BRACED_INVALID, UNSETTLED)

# Where MariaDB's parser (strings/json_lib.c) accepts what Python rejects, and nothing else:
# - its number scanner stops at the first character that cannot continue a number and leaves
#   it to the structure parser, so any prefix of a number passes: `-`, `1.`, `1e`, `1e+`, `1.e5`;
# - it accepts a backslash before any character (`\x`, `\'`, `\a`), Python only before "\/bfnrtu;
# - it accepts raw control characters inside object keys (not in values).
# Everything else agrees (literals, structure, whitespace, leading zeros, \u with four hex
# digits, control characters in values); the server is stricter on lone surrogates, NaN,
# Infinity and depth, which Python reads (READABLE). tests/unit/test_appjson.py and the
# corpus test prove the prefilter against Python on generated near-miss values.
#
# Stage 1 is one cheap expression (about one JSON_VALID per row) true for every such text:
# a backslash or control character anywhere, or a character that ends a number early
# (`-`, `.`, `+`, digit-`e`) followed by what may follow a value.
# (The exponent case checks the character after the `e` before looking back for the digit: `e` is
# common in text and rarely followed by a delimiter, so the cheap test fails first; 15-20% off the
# pattern's time on MariaDB, the same matches.)
STAGE1 = r"[\\\x00-\x1f]|[-.+][\],} \t\n\r]|\.[eE]|[eE][\],} \t\n\r](?<=[0-9][eE][\],} \t\n\r])"
# Stage 2, evaluated only where stage 1 matched, drops most of its false alarms
# (escaped unicode, prose like "done. next"): each pattern is exact for its cause.
STAGE2 = (
    # A backslash that starts an escape (an odd run) followed by a character Python refuses.
    r'(?<!\\)(?:\\\\)*+\\[^"\\/bfnrtu]',
    # A number (after ':', '[' or ',') that ends early.
    r"[:,\[][\t\n\r ]*+(?:-(?![0-9])|-?+[0-9]++(?:\.(?![0-9])|(?:\.[0-9]++)?+[eE][+-]?+(?![0-9])))",
    # A control character other than whitespace (only possible inside a key).
    r"[\x00-\x08\x0b\x0c\x0e-\x1f]",
    # A key holding a raw tab, newline or carriage return.
    r'"[^"\\\t\n\r]*+(?:\\[\s\S][^"\\\t\n\r]*+)*+[\t\n\r](?:[^"\\]++|\\[\s\S])*+"[\t\n\r ]*+:',
)
# Python skips these before the first token; a dict can only start with '{' after them.
BRACED_START = r"^[\t\n\r ]*[{]"


def app_reads_object(text: str | bytes | bytearray | None) -> bool:
    """True when the application's decoder (json.loads, strict) reads `text` as a dict."""
    if text is None:
        return False
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            return False
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


def resolve(label: str, text: str | bytes | bytearray | None, decoder: str = PYTHON) -> str:
    """The kind of a row whose SQL label is a candidate; other labels are returned as they are."""
    if label == SUSPECT_OBJECT:
        if decoder == SERVER:
            return "OBJECT"
        return "OBJECT" if app_reads_object(text) else UNREADABLE
    if label == BRACED_INVALID:
        if decoder == SERVER:
            return "INVALID"
        return READABLE if app_reads_object(text) else "INVALID"
    if label == UNSETTLED:
        return classify_text(text, decoder)
    return label


class _NonStandard(ValueError):
    """NaN, Infinity or -Infinity: Python reads them, no JSON server does."""


def _refuse_constant(name: str) -> Any:
    raise _NonStandard(name)


# One decoder for every row (json.loads with an option builds a new one per call).
_STRICT = json.JSONDecoder(parse_constant=_refuse_constant)
# Only an escape can put a NUL or a surrogate into a decoded string (the server's text is UTF-8):
# values without one skip the walk.
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _server_reads(text: str) -> tuple[bool, Any]:
    """(True, value) when a strict JSON server (PostgreSQL's jsonb) takes `text`, else (False, None)."""
    try:
        value = _STRICT.decode(text)
    except (ValueError, RecursionError):
        return False, None
    # jsonb refuses \\u0000 and lone surrogates, which Python decodes.
    if _RISKY_ESCAPE.search(text) and not _storable(value):
        return False, None
    return True, value


def _storable(value: Any) -> bool:
    """No NUL and no lone surrogate in any string or key (what jsonb cannot hold)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return False
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def classify_text(text: str | bytes | bytearray | None, decoder: str = PYTHON) -> str:
    """The class of a stored JSON text, in Python: the labels the server's SQL gives, exactly.

    The server's verdict (a strict parse, as jsonb's) decides validity; with the `python` decoder an
    object only Python reads (NaN, lone surrogates) is READABLE OBJECT, as on MariaDB.
    """
    if text is None:
        return "SQL NULL"
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            return "INVALID"
    valid, value = _server_reads(text)
    if not valid:
        if decoder == PYTHON and app_reads_object(text):
            return READABLE
        return "INVALID"
    if isinstance(value, dict):
        return "OBJECT"
    if isinstance(value, list):
        return "ARRAY"
    if isinstance(value, bool):
        return "BOOLEAN"
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "DOUBLE"
    inner_valid, inner = _server_reads(value)
    return "STRING+OBJECT" if inner_valid and isinstance(inner, dict) else "STRING"


def prefilter_sql(col: str) -> str:
    """SQL condition true for every server-valid text the application cannot read.

    Patterns are inlined as string literals (backslashes doubled for MariaDB's string syntax)
    so the expression can sit inside a CASE shared by SELECT, INSERT ... SELECT and UPDATE.
    """
    stage1 = "%s REGEXP %s" % (col, sql_string(STAGE1))
    stage2 = " OR ".join("%s REGEXP %s" % (col, sql_string(p)) for p in STAGE2)
    return "(%s AND (%s))" % (stage1, stage2)


def braced_sql(col: str) -> str:
    """SQL condition: the text starts with '{' after JSON whitespace."""
    return "%s REGEXP %s" % (col, sql_string(BRACED_START))


def sql_string(text: str) -> str:
    """A MariaDB/MySQL string literal holding `text` exactly (no driver placeholders inside)."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        else:
            out.append(ch)
    return "'%s'" % "".join(out)

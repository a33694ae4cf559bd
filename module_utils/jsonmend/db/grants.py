# Does the connected user hold the privileges a writer needs? Read from SHOW GRANTS before
# the first change, so a missing grant stops the run up front instead of mid-table.
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

GRANT_RE = re.compile(r"^GRANT\s+(?P<privs>.+?)\s+ON\s+(?:(?:TABLE|FUNCTION|PROCEDURE|PACKAGE(?: BODY)?)\s+)?(?P<obj>\S+)\s+TO\s", re.IGNORECASE | re.DOTALL)
SECRET_RE = re.compile(r"\s+(IDENTIFIED\s+(BY|VIA|WITH)\s.*?)(?=\s+(WITH|REQUIRE|PASSWORD\s+EXPIRE)\b|$)", re.IGNORECASE | re.DOTALL)


def split_privileges(text: str) -> list[str]:
    """'SELECT, UPDATE (a, b), INSERT' -> ['SELECT', 'UPDATE', 'INSERT'] (column lists dropped)."""
    depth, current, out = 0, [], []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            out.append("".join(current))
            current = []
            continue
        if depth == 0 and char not in "()":
            current.append(char)
    out.append("".join(current))
    return [" ".join(p.split()).upper() for p in out if p.strip()]


def _unquote(part):
    part = part.strip()
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "`'\"":
        return part[1:-1].replace(part[0] * 2, part[0])
    return part


def _split_object(obj):
    """'`db`.`t`' -> ('db', 't'); '*.*' -> ('*', '*')."""
    parts, current, quote = [], [], None
    for char in obj:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
            continue
        if char in "`'\"":
            quote = char
            current.append(char)
        elif char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    if len(parts) == 1:
        return "*", _unquote(parts[0])
    return _unquote(parts[0]), _unquote(parts[1])


def _db_pattern_matches(pattern, name):
    """Database names in grants are LIKE patterns: '_' and '%' are wildcards unless escaped."""
    if pattern == "*":
        return True
    regex, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append("." if char == "_" else ".*" if char == "%" else re.escape(char))
        i += 1
    return re.fullmatch("".join(regex), name, re.IGNORECASE) is not None


def parse_grants(lines: Iterable[str]) -> list[tuple[set[str], str, str]]:
    """[(privileges set, database pattern, table)] from SHOW GRANTS output."""
    grants = []
    for line in lines:
        match = GRANT_RE.match(line.strip())
        if not match:
            continue
        database, table = _split_object(match.group("obj"))
        grants.append((set(split_privileges(match.group("privs"))), database, table))
    return grants


def held_privileges(grants: Iterable[tuple[set[str], str, str]], database: str, table: str) -> set[str]:
    """Privileges that apply to database.table (global, database and table grants)."""
    held = set()
    for privs, db_pattern, tbl in grants:
        if not _db_pattern_matches(db_pattern, database):
            continue
        if tbl != "*" and tbl.lower() != table.lower():
            continue
        held |= privs
    return held


def missing_privileges(grants: Iterable[tuple[set[str], str, str]], database: str, table: str, needed: Iterable[str]) -> list[str]:
    """The privileges of `needed` that no grant gives on database.table."""
    held = held_privileges(grants, database, table)
    if "ALL" in held or "ALL PRIVILEGES" in held:
        return []
    return [p for p in needed if p not in held]


def redact(line: str) -> str:
    """A SHOW GRANTS line without its password hash or authentication string."""
    return SECRET_RE.sub(" IDENTIFIED BY <redacted>", line)

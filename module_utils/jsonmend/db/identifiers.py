# Validate and quote table and column names: values are bound, names cannot be.
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# MySQL's unquoted identifier characters; anything else (quotes, spaces, ';') is refused
# rather than escaped, so a name can never carry SQL.
IDENTIFIER_RE = re.compile(r"[A-Za-z0-9_$]{1,64}")


def validate_identifier(name: object, what: str) -> str:
    """Return name if it is a plain identifier; raise JsonmendError naming `what` otherwise."""
    if not isinstance(name, str) or not IDENTIFIER_RE.fullmatch(name) or name.isdigit():
        raise JsonmendError("%s %r is not a valid identifier: use 1-64 letters, digits, '_' or '$' (not only digits)" % (what, name))
    return name


def quote_identifier(name: str, quote_char: str = "`") -> str:
    """Quote an already validated identifier for the given dialect."""
    validate_identifier(name, "identifier")
    return quote_char + name + quote_char


def quote_name(name: str, quote_char: str = "`") -> str:
    """Quote a name read from the server's catalog (never typed by an operator).

    Such names may hold what an operator may not type (a hyphen, a space, letters beyond ASCII):
    the quote character is doubled, as the server's own SHOW CREATE does, so the name is one
    identifier whatever it holds.
    """
    if not isinstance(name, str) or not name or len(name) > 64 or "\x00" in name:
        raise JsonmendError("%r is not a name the server's catalog can hold" % (name,))
    return quote_char + name.replace(quote_char, quote_char * 2) + quote_char


def validate_table(name: object, what: str, dialect: str | None) -> str:
    """validate_identifier, but PostgreSQL's `table` may name its schema: `schema.table`."""
    if dialect == "postgresql" and isinstance(name, str) and name.count(".") == 1:
        for part in name.split("."):
            validate_identifier(part, "%s %r: schema and table name" % (what, name))
        return name
    return validate_identifier(name, what)


def identifier_problems(params: Mapping[str, Any], required: Sequence[str], optional: Sequence[str] = ()) -> list[str]:
    """The refusals of validate_identifier for params' names: every `required` key, each `optional` one that is set."""
    problems = []
    for key in list(required) + [k for k in optional if params[k]]:
        try:
            if key == "table":
                validate_table(params[key], key, params.get("dialect"))
            else:
                validate_identifier(params[key], key)
        except JsonmendError as exc:
            problems.append(str(exc))
    return problems

# Validate and quote table and column names: values are bound, names cannot be.
from __future__ import annotations

import re

from ansible.module_utils.jsonmend.errors import JsonmendError

# MySQL's unquoted identifier characters; anything else (quotes, spaces, ';') is refused
# rather than escaped, so a name can never carry SQL.
IDENTIFIER_RE = re.compile(r"[A-Za-z0-9_$]{1,64}")


def validate_identifier(name, what):
    """Return name if it is a plain identifier; raise JsonmendError naming `what` otherwise."""
    if not isinstance(name, str) or not IDENTIFIER_RE.fullmatch(name) or name.isdigit():
        raise JsonmendError("%s %r is not a valid identifier: use 1-64 letters, digits, '_' or '$' (not only digits)" % (what, name))
    return name


def quote_identifier(name, quote_char="`"):
    """Quote an already validated identifier for the given dialect."""
    validate_identifier(name, "identifier")
    return quote_char + name + quote_char

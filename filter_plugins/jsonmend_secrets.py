# Credentials out of what is recorded, printed or logged: the userinfo of a URL
# (https://user:token@host/...) is removed wherever a URL appears in a text, so a git remote,
# a webhook or a message that quotes one can be written to a report, a fail_msg or a run record.
from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

# scheme://userinfo@ : userinfo runs to the first '@' before the host, and holds no '/', '?', '#'
# or whitespace (RFC 3986 3.2.1; a password with '@' must be percent-encoded to be a URL at all).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s@]*@")
# scp-like git remotes (user@host:path) carry a user name, never a password: they are left alone.


def url_redact(value):
    """`value` with the userinfo of every URL in it removed ('https://u:p@h/r' -> 'https://h/r').

    Takes a string (a URL or a text quoting URLs), None (returned as ''), or a list of strings;
    anything else raises AnsibleFilterError.
    """
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return [url_redact(item) for item in value]
    if not isinstance(value, str):
        raise AnsibleFilterError("jsonmend_url_redact expects a string or a list of strings, got %r" % type(value).__name__)
    return _URL_USERINFO.sub(r"\1", value)


def url_has_credentials(value):
    """Does any URL in `value` (a string) carry userinfo (a user, a password or a token)?"""
    return isinstance(value, str) and _URL_USERINFO.search(value) is not None


class FilterModule:
    def filters(self):
        return {"jsonmend_url_redact": url_redact, "jsonmend_url_has_credentials": url_has_credentials}

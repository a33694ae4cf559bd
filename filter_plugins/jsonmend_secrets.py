# Credentials out of what is recorded, printed or logged: the userinfo of a URL
# (https://user:token@host/...) is removed wherever a URL appears in a text, so a git remote,
# a webhook or a message that quotes one can be written to a report, a fail_msg or a run record.
from __future__ import annotations

import os
import re
import textwrap

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


_VAULT_HEADER = "$ANSIBLE_VAULT;"
# An inline `!vault |` value: the indented block that follows it.
_INLINE_VAULT = re.compile(r"!vault\s*\|[-+]?\s*\n((?:[ \t]+\S.*\n?)+)")


def _vaults_in(path):
    """Every vault text of a file: the whole file when it is one, else its inline !vault values."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(1_000_000)
    except OSError:
        return []
    if text.startswith(_VAULT_HEADER):
        return [text]
    return [textwrap.dedent(block).strip() for block in _INLINE_VAULT.findall(text)]


def demo_vaults(sources, passwords):
    """Files of the inventories `sources` (paths: a directory, or a file whose directory holds its
    group_vars and host_vars) holding vault data that one of `passwords` opens.

    Used to refuse an inventory still encrypted with a published password (the demo's).
    """
    from ansible.parsing.vault import VaultLib, VaultSecret

    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, (list, tuple)) or not isinstance(passwords, (list, tuple)):
        raise AnsibleFilterError("jsonmend_demo_vaults expects a list of inventory paths and a list of passwords")
    vault = VaultLib([("default", VaultSecret(str(p).encode())) for p in passwords])
    found = []
    for source in sources:
        source = os.path.abspath(str(source))
        root = source if os.path.isdir(source) else os.path.dirname(source)
        for directory, _dirs, files in sorted(os.walk(root)):
            for name in sorted(files):
                path = os.path.join(directory, name)
                for data in _vaults_in(path):
                    try:
                        vault.decrypt(data)
                    except Exception:  # noqa: BLE001  # any other password, or not vault data at all
                        continue
                    if path not in found:
                        found.append(path)
    return found


class FilterModule:
    def filters(self):
        return {
            "jsonmend_url_redact": url_redact,
            "jsonmend_url_has_credentials": url_has_credentials,
            "jsonmend_demo_vaults": demo_vaults,
        }

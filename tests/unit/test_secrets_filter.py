# The userinfo filter (filter_plugins/jsonmend_secrets.py): credentials leave every URL in a
# text, everything else stays byte for byte.
import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_secrets import url_has_credentials, url_redact


@pytest.mark.parametrize(
    "given, expected",
    [
        ("https://deploy:s3cr%40t@git.example.com/shop/app.git", "https://git.example.com/shop/app.git"),
        ("https://x-access-token:ghp_abc@github.com/o/r", "https://github.com/o/r"),
        ("HTTPS://token@git.example.com:8443/r.git", "HTTPS://git.example.com:8443/r.git"),
        ("ssh://git:pw@git.example.com:22/r.git", "ssh://git.example.com:22/r.git"),
        ("fatal: unable to access 'https://u:p@h/r.git/': 403", "fatal: unable to access 'https://h/r.git/': 403"),
        ("a https://u:p@h/x and http://v:q@k/y", "a https://h/x and http://k/y"),
        ("https://git.example.com/r.git", "https://git.example.com/r.git"),
        ("https://h/path/with@sign", "https://h/path/with@sign"),  # '@' after the host is a path
        ("https://h/?q=a@b", "https://h/?q=a@b"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),  # scp-like: a user name, no secret
        ("/srv/app", "/srv/app"),
        ("", ""),
        (None, ""),
    ],
)
def test_url_redact_removes_userinfo_only(given, expected):
    assert url_redact(given) == expected
    assert not url_has_credentials(url_redact(given))


def test_url_redact_takes_lists_and_refuses_other_types():
    assert url_redact(["https://u:p@h/a", "b"]) == ["https://h/a", "b"]
    with pytest.raises(AnsibleFilterError, match="expects a string"):
        url_redact({"url": "https://u:p@h"})


def test_url_has_credentials():
    assert url_has_credentials("https://token@h/r") and url_has_credentials("see https://u:p@h/r")
    assert not url_has_credentials("https://h/r") and not url_has_credentials(None)

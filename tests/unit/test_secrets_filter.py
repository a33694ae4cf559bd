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


def _encrypt(password, text):
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([("default", VaultSecret(password.encode()))]).encrypt(text).decode()


def test_demo_vaults_finds_files_and_inline_values_the_published_password_opens(tmp_path):
    from filter_plugins.jsonmend_secrets import demo_vaults

    inventory = tmp_path / "inv"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text("all: {}\n")
    demo = inventory / "group_vars" / "all" / "vault.yml"
    demo.write_text(_encrypt("jsonmend-demo-vault", "vault_x: 1\n"))
    own = inventory / "group_vars" / "all" / "own.yml"
    own.write_text(_encrypt("an operator's own", "vault_y: 2\n"))
    inline = inventory / "group_vars" / "all" / "inline.yml"
    block = "\n".join("    " + line for line in _encrypt("jsonmend-demo-vault", "s3cret").splitlines())
    inline.write_text("plain: 1\nvault_z: !vault |\n" + block + "\nafter: 2\n")
    found = demo_vaults([str(inventory / "hosts.yml")], ["jsonmend-demo-vault"])
    assert found == [str(inline), str(demo)]
    assert demo_vaults(str(inventory), ["another"]) == []
    with pytest.raises(AnsibleFilterError):
        demo_vaults(str(inventory), "jsonmend-demo-vault")

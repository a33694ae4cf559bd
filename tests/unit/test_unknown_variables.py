# Unknown variables (issue 15, item 5): the names jsonmend knows come from the roles, playbooks and
# inventories of the checkout; any other jsonmend_ or role-prefixed name is a typo, refused with the
# closest known name.
import importlib.util

import pytest
import yaml

from tools.devstack.playbooks import ROOT


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


known_vars = _load("lookup_plugins/jsonmend_known_vars.py", "jsonmend_known_vars")
vars_filter = _load("filter_plugins/jsonmend_vars.py", "jsonmend_vars")
ROLES = sorted(p.parent.name for p in (ROOT / "roles").glob("*/tasks"))


@pytest.fixture(scope="module")
def known():
    return known_vars.known_variables([str(ROOT / "roles")], str(ROOT))


def unknown(names, known):
    return vars_filter.unknown_variables(names, known["names"], ["jsonmend"] + known["roles"])


def test_the_roles_are_the_prefixes(known):
    assert known["roles"] == ROLES


def test_every_declared_option_and_default_is_known(known):
    names = set(known["names"])
    for role in ROLES:
        base = ROOT / "roles" / role
        specs = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text())["argument_specs"]
        for entry in specs.values():
            assert set(entry.get("options") or {}) <= names, role
        for sub in ("defaults", "vars"):
            path = base / sub / "main.yml"
            if path.is_file():
                assert set(yaml.safe_load(path.read_text()) or {}) <= names, "%s/%s" % (role, sub)


def test_names_the_playbooks_and_inventories_use_are_known(known):
    names = set(known["names"])
    # Read by playbooks (with a default), set in the demo inventory, passed by AWX workflow nodes.
    assert {"jsonmend_rollback_scope", "jsonmend_confirm", "jsonmend_investigation_ack", "jsonmend_demo_app", "jsonmend_diagnosis"} <= names
    assert unknown(["jsonmend_table", "jsonmend_rollback_scope", "cleanup_chunk_size", "strategy", "ansible_check_mode"], known) == []


def test_a_typo_is_refused_with_the_closest_name(known):
    found = unknown(["jsonmend_tabel", "jsonmend_rollbak_scope", "cleanup_chunk_sise", "jsonmend_table"], known)
    assert found == [
        {"name": "cleanup_chunk_sise", "suggestion": "cleanup_chunk_size"},
        {"name": "jsonmend_rollbak_scope", "suggestion": "jsonmend_rollback_scope"},
        {"name": "jsonmend_tabel", "suggestion": "jsonmend_table"},
    ]
    message = vars_filter.unknown_variables_message(found[2:])
    assert message.startswith("Unknown variable: jsonmend_tabel (did you mean jsonmend_table?).")
    assert "preflight_known_variables" in message and message.endswith("Nothing was changed.")


def test_a_name_close_to_nothing_has_no_suggestion(known):
    assert unknown(["jsonmend_zzzzqqqq"], known) == [{"name": "jsonmend_zzzzqqqq", "suggestion": None}]
    assert "did you mean" not in vars_filter.unknown_variables_message(unknown(["jsonmend_zzzzqqqq"], known))


def test_a_comment_quoting_a_typo_does_not_make_it_known(tmp_path):
    roles = tmp_path / "roles"
    (roles / "demo" / "tasks").mkdir(parents=True)
    (roles / "demo" / "tasks" / "main.yml").write_text(
        "# demo_tabel would be a typo\n- name: Use demo_table  # not demo_tabel\n  ansible.builtin.debug:\n    msg: '{{ demo_table }} {# demo_tabel #}'\n"
    )
    known = known_vars.known_variables([str(roles)], str(tmp_path))
    assert known["roles"] == ["demo"] and "demo_table" in known["names"] and "demo_tabel" not in known["names"]


def test_bad_arguments_are_refused():
    with pytest.raises(Exception, match="prefixes"):
        vars_filter.unknown_variables(["x"], [], [])

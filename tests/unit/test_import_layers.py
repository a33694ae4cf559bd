# The layers of module_utils/jsonmend (issue 16): the database core db/ and the engines scan/,
# repair/ and backup/. Imports run one way, engine -> db: an engine never imports another engine
# and db/ never imports an engine. Read with ast (TYPE_CHECKING and function-level imports
# included), so nothing is imported.
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "module_utils" / "jsonmend"
PREFIX = "ansible.module_utils.jsonmend"
CORE = "db"
ENGINES = ("scan", "repair", "backup", "guard")


def imported_layers(source, filename="<source>"):
    """[(line, layer)] for every import of a jsonmend module in the source; layer is the first
    part after the package (db, repair ...), or "" for the package itself."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != PREFIX else ["%s.%s" % (PREFIX, a.name) for a in node.names]
        else:
            continue
        for name in names:
            if name == PREFIX or name.startswith(PREFIX + "."):
                rest = name[len(PREFIX) + 1 :]
                found.append((node.lineno, rest.split(".")[0]))
    return found


def layer_problems(layer, source, filename="<source>"):
    """['file:line: layer imports other', ...] for the imports the one-way rule forbids."""
    problems = []
    for line, other in imported_layers(source, filename):
        if other == layer:
            continue
        if other != CORE or layer not in ENGINES:
            problems.append("%s:%d: %s/ imports %s" % (filename, line, layer, other + "/" if other else "the package itself"))
    return problems


def test_every_file_lives_in_a_layer():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert loose == []
    layers = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert set(layers) <= {CORE, *ENGINES}
    # AnsiballZ packs a nested module_util only through its package's __init__.py.
    assert [name for name in layers if not (PACKAGE / name / "__init__.py").is_file()] == []


def test_imports_run_one_way_engine_to_db():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) < 2:
            continue
        problems += layer_problems(rel.parts[0], path.read_text(encoding="utf-8"), "module_utils/jsonmend/%s" % rel)
    assert not problems, "imports against the one-way rule (engine -> db only):\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "layer, source, expected",
    [
        ("repair", "from ansible.module_utils.jsonmend.db.errors import JsonmendError\n", []),
        ("repair", "from ansible.module_utils.jsonmend.repair import ledger\n", []),
        ("db", "from ansible.module_utils.jsonmend.db import appjson\n", []),
        ("repair", "from ansible.module_utils.jsonmend.backup.checksums import table_checksum\n", ["<source>:1: repair/ imports backup/"]),
        ("db", "import ansible.module_utils.jsonmend.repair.ledger as ledger\n", ["<source>:1: db/ imports repair/"]),
        ("backup", "from ansible.module_utils.jsonmend import scan\n", ["<source>:1: backup/ imports scan/"]),
        ("scan", "def f():\n    from ansible.module_utils.jsonmend.repair import policy\n", ["<source>:2: scan/ imports repair/"]),
        (
            "backup",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ansible.module_utils.jsonmend.repair.ledger import Ledger\n",
            ["<source>:3: backup/ imports repair/"],
        ),
        ("db", "import os\nfrom ansible.module_utils.basic import AnsibleModule\n", []),
    ],
)
def test_layer_problems(layer, source, expected):
    assert layer_problems(layer, source) == expected

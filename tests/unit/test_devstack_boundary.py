# The dev tooling never depends on the tests: scripts/, tools/, molecule/ and the Makefile (what
# make demo, the benchmark and molecule run) import tools.devstack, never tests.*, and name no
# path under tests/support or tests/app. Python files are read with ast (function-level imports
# included); every other file, and the strings of Python files, by pattern (`-m tests.x`,
# `from tests.x import` in a heredoc, a module name in a YAML argv). Documentation (*.md) may
# name the tests' folders.
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WALKED = ("scripts", "tools", "molecule", "Makefile")
# A dotted module path under tests (tests.support.seed), not prose ("the tests. Then").
MODULE = re.compile(r"(?<![\w./-])tests\.[a-z_]\w*|\bimport tests\b")
PATH = re.compile(r"\btests/(support|app)\b")


def python_imports(source, filename="<source>"):
    """[(line, module)] for every import of tests or tests.* in the Python source."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name) for name in names if name == "tests" or name.startswith("tests.")]
    return found


def problems_in(text, filename, python=False):
    """['file:line: what', ...] for every reference to the tests' code in the text."""
    problems = ["%s:%d: imports %s" % (filename, line, name) for line, name in (python_imports(text, filename) if python else [])]
    for number, line in enumerate(text.splitlines(), 1):
        for pattern, what in ((MODULE, "names the module"), (PATH, "names the path")):
            match = pattern.search(line)
            if match:
                problems.append("%s:%d: %s %s" % (filename, number, what, match.group(0)))
    return problems


def walked_files():
    for name in WALKED:
        top = ROOT / name
        paths = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".md", ".pyc"):
                yield path


@pytest.mark.parametrize(
    "text,python",
    [
        ("from tests.support.mariadb_server import MariaDBServer\n", True),
        ("def f():\n    from tests.support import seed\n", True),
        ("import tests.support.seed as s\n", True),
        ('"$PY" -m tests.support.seed --rows 10\n', False),
        ("        argv: [python, -m, tests.support.app_stack, stop]\n", False),
        ("          - tests.support.seed\n", False),
        ("# see tests/support/seed.py\n", False),
        ("APP = ROOT / 'tests/app'\n", False),
    ],
    ids=["from-import", "function-level", "import-as", "shell-m", "yaml-argv", "yaml-list", "comment-path", "app-path"],
)
def test_the_check_finds_a_reference_to_the_tests(text, python):
    assert problems_in(text, "sample", python=python)


@pytest.mark.parametrize(
    "text",
    ["from tools.devstack import seed\n", "# run by the tests. Then the scripts\n", 'mkdir -p "$COLL/tests/sanity"\n', "pytest tests/unit\n"],
    ids=["devstack", "prose", "other-tests-path", "pytest-args"],
)
def test_the_check_lets_other_text_be(text):
    assert problems_in(text, "sample", python=text.startswith("from")) == []


def test_nothing_outside_tests_uses_the_tests_code():
    files = list(walked_files())
    assert any(p.name == "app_stack.py" for p in files) and any(p.suffix == ".yml" for p in files)
    problems = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        problems += problems_in(text, str(path.relative_to(ROOT)), python=path.suffix == ".py")
    assert problems == []

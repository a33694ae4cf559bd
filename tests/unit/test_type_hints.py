# Type hints on every public function of module_utils (issue 16): each parameter (but self/cls,
# *args and **kwargs included) and each return of a public function or method, and of __init__,
# carries an annotation. Read with ast, so nothing is imported and no hint is evaluated.
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "module_utils" / "jsonmend"

# Files whose public functions must all be annotated (paths under module_utils/jsonmend/).
# Every file of module_utils/jsonmend is here; a new one joins it (or PENDING, briefly, while it is being written).
COVERED = (
    "backup/backups.py",
    "backup/checksums.py",
    "backup/clitools.py",
    "backup/manifests.py",
    "backup/pg_backups.py",
    "backup/parallel_load.py",
    "backup/pg_tools.py",
    "backup/plans.py",
    "backup/ranges.py",
    "backup/restores.py",
    "backup/snapshot.py",
    "backup/verification.py",
    "db/appjson.py",
    "db/chunks.py",
    "db/clock.py",
    "db/connection.py",
    "db/dialects.py",
    "db/errors.py",
    "db/grants.py",
    "db/identifiers.py",
    "db/inspector.py",
    "db/progress.py",
    "db/locks.py",
    "db/runner.py",
    "db/servers.py",
    "repair/deploys.py",
    "repair/job.py",
    "repair/ledger.py",
    "repair/policy.py",
    "repair/progress.py",
    "repair/repair.py",
    "repair/run.py",
    "repair/target.py",
    "repair/throttle.py",
    "repair/undo.py",
    "repair/undo_probe.py",
    "scan/engine.py",
    "scan/progress.py",
    "scan/report.py",
    "scan/scanner.py",
    "scan/target.py",
    "guard/guard.py",
)
# Files other work is editing now; they join COVERED when it lands.
PENDING: tuple[str, ...] = ()


def _is_public(name):
    return name == "__init__" or not name.startswith("_")


def _is_static(node):
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)


def _functions(body, in_class=False):
    """(function node, in a class) of a module or class body, nested classes included; functions
    defined inside functions are local helpers, not part of the module's interface."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node, in_class
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node.body, in_class=True)


def missing_hints(source, filename="<source>"):
    """['file:line name: a, *args, return', ...] for every public function lacking a hint."""
    found = []
    for node, in_class in _functions(ast.parse(source, filename).body):
        if not _is_public(node.name):
            continue
        args = node.args
        positional = args.posonlyargs + args.args
        if in_class and positional and not _is_static(node) and positional[0].arg in ("self", "cls"):
            positional = positional[1:]
        missing = [a.arg for a in positional + args.kwonlyargs if a.annotation is None]
        missing += ["*" + args.vararg.arg] if args.vararg is not None and args.vararg.annotation is None else []
        missing += ["**" + args.kwarg.arg] if args.kwarg is not None and args.kwarg.annotation is None else []
        missing += ["return"] if node.returns is None else []
        if missing:
            found.append("%s:%d %s: %s" % (filename, node.lineno, node.name, ", ".join(missing)))
    return found


def test_covered_files_annotate_every_public_function():
    problems = []
    for name in COVERED:
        path = PACKAGE / name
        problems += missing_hints(path.read_text(encoding="utf-8"), "module_utils/jsonmend/%s" % name)
    assert not problems, "public functions without type hints:\n" + "\n".join(problems)


def test_every_module_is_covered_or_pending():
    # A new file joins COVERED when it is written; only the files being edited now may wait.
    names = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")
    assert [n for n in names if n not in COVERED + PENDING] == []
    assert sorted(set(COVERED + PENDING) - set(names)) == []
    assert not set(COVERED) & set(PENDING)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def f(a: int) -> int:\n    return a\n", []),
        ("def f(a, b: int):\n    pass\n", ["<source>:1 f: a, return"]),
        ("def f(*args, **kwargs) -> None:\n    pass\n", ["<source>:1 f: *args, **kwargs"]),
        ("def f(*, key) -> None:\n    pass\n", ["<source>:1 f: key"]),
        ("def _private(a):\n    pass\n", []),
        ("class C:\n    def __init__(self, a: int):\n        pass\n", ["<source>:2 __init__: return"]),
        ("class C:\n    def __repr__(self):\n        pass\n", []),
        ("class C:\n    @classmethod\n    def make(cls) -> C:\n        pass\n", []),
        ("class C:\n    @staticmethod\n    def make(self) -> None:\n        pass\n", ["<source>:3 make: self"]),
        ("class _C:\n    class D:\n        def go(self, n) -> None:\n            pass\n", ["<source>:3 go: n"]),
        ("def f() -> None:\n    def helper(x):\n        pass\n", []),
        ("async def f(a) -> None:\n    pass\n", ["<source>:1 f: a"]),
    ],
)
def test_missing_hints_finds_what_lacks_an_annotation(source, expected):
    assert missing_hints(source) == expected

# Thin modules (issue 16): a module in library/ is its DOCUMENTATION, EXAMPLES and RETURN and a
# short main() over module_utils. Measured like `wc -l` on the file without those three strings.
import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "library"
DOC_STRINGS = {"DOCUMENTATION", "EXAMPLES", "RETURN"}
LIMIT = 250


def code_lines(source):
    """Lines of the source outside the module-level DOCUMENTATION, EXAMPLES and RETURN strings."""
    skip = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in DOC_STRINGS for t in node.targets):
            skip.update(range(node.lineno, node.end_lineno + 1))
    return sum(1 for number, _line in enumerate(source.splitlines(), 1) if number not in skip)


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.py")), ids=lambda p: p.name)
def test_modules_are_thin(path):
    assert code_lines(path.read_text(encoding="utf-8")) <= LIMIT


def test_code_lines_leaves_out_the_documentation_strings():
    source = 'DOCUMENTATION = r"""\na\nb\n"""\nEXAMPLES = "x"\n\ndef main():\n    pass\n'
    assert code_lines(source) == 3

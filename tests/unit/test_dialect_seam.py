# The dialect seam (issue 16): every registered flavour fills the methods the base class leaves
# open, and the interface the Dialect docstring documents is the one the class has, so a new
# flavour (PostgreSQL) knows exactly what to fill.
import inspect
import re

import pytest
from ansible.module_utils.jsonmend.db import dialects


def _open_methods():
    """Methods of the base class that raise NotImplementedError: each flavour must fill them."""
    return sorted(name for name, fn in vars(dialects.Dialect).items() if callable(fn) and "raise NotImplementedError" in inspect.getsource(fn))


def test_the_base_leaves_the_statement_timeout_to_each_flavour():
    assert _open_methods() == ["set_statement_timeout"]


@pytest.mark.parametrize("name", sorted(dialects.DIALECTS))
def test_each_flavour_fills_the_open_methods(name):
    cls = dialects.DIALECTS[name]
    assert issubclass(cls, dialects.Dialect) and cls.name == name
    assert [m for m in _open_methods() if getattr(cls, m) is getattr(dialects.Dialect, m)] == []


def test_the_docstring_documents_every_public_method():
    public = sorted(n for n, fn in vars(dialects.Dialect).items() if callable(fn) and not n.startswith("_"))
    documented = set(re.findall(r"`([a-z_]+)`", dialects.Dialect.__doc__))
    assert [n for n in public if n not in documented] == []

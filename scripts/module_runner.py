#!/usr/bin/env python
# Run one module of library/ in this process, as Ansible would, and report its wall time
# and the process's peak memory: the benchmark's and the fault tests' way to run a module.
#   python scripts/module_runner.py json_type_scan args.json
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def use_local_code():
    """Make the project's modules and module_utils importable as Ansible packs them: library/ on
    sys.path, module_utils/ under ansible.module_utils (AnsiballZ ships module_utils/jsonmend as
    ansible.module_utils.jsonmend). The one place that does this: the tests (their conftest and
    their child-process module runner) and the scripts call it."""
    if str(ROOT / "library") not in sys.path:
        sys.path.insert(0, str(ROOT / "library"))
    import ansible.module_utils

    if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(ROOT / "module_utils"))


def load(module_name):
    use_local_code()
    return importlib.import_module(module_name)


def run(module_name, args):
    """Return {wall_s, peak_rss_kb, result} for one run of the module's main()."""
    module = load(module_name)
    from ansible.module_utils.testing import patch_module_args

    # The database drivers are imported before the clock starts, as the module's own imports are: the figure
    # is the module's work. (The connection module imports psycopg on the first PostgreSQL connection.)
    for driver in ("pymysql", "psycopg"):
        if importlib.util.find_spec(driver):
            importlib.import_module(driver)

    out = io.StringIO()
    started = time.perf_counter()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
    wall = time.perf_counter() - started
    return dict(wall_s=wall, peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, result=json.loads(out.getvalue()))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: module_runner.py MODULE ARGS.json", file=sys.stderr)
        return 2
    args = json.loads(Path(argv[1]).read_text())
    report = run(argv[0], args)
    print(json.dumps(report))
    return 1 if report["result"].get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())

# Run one module of library/ in its own process, as AnsiballZ would, so a test can kill -9 it:
#   python -m tests.support.run_module json_type_repair ARGS.json
# ARGS.json holds the module arguments (0600: it may hold a password); the result is printed.
from __future__ import annotations

import json
import sys
from pathlib import Path

from scripts.module_runner import load


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2:
        print("usage: run_module.py MODULE ARGS.json", file=sys.stderr)
        return 2
    from ansible.module_utils.testing import patch_module_args

    module = load(argv[0])
    args = json.loads(Path(argv[1]).read_text())
    with patch_module_args(args):
        try:
            module.main()
        except SystemExit as exc:
            return exc.code or 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

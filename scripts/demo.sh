#!/usr/bin/env bash
# The built-in demo: a throwaway MariaDB under .demo/, a seeded table with realistic
# corruption, then the diagnosis playbook against it. `make demo-stop` stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${DEMO_ROWS:-100000}"
PY=.venv/bin/python
mkdir -p .demo
"$PY" -m tools.devstack.mariadb_server start .demo/mariadb
SOCKET="$PWD/.demo/mariadb/mysqld.sock"
"$PY" - <<PY
from tools.devstack.mariadb_server import MariaDBServer
from pathlib import Path
server = MariaDBServer(".demo/mariadb", port=int(Path(".demo/mariadb/port").read_text()))
server.write_client_option_file(".demo/client.cnf")
PY
"$PY" -m tools.devstack.seed --socket "$SOCKET" --database jsonmend_demo --rows "$ROWS"
exec .venv/bin/ansible-playbook playbooks/phase2_diagnose.yml "$@"

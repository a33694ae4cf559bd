#!/usr/bin/env bash
# The built-in demo: a throwaway database server under .demo/ (MariaDB, or PostgreSQL with
# DEMO_DB=postgresql), a seeded table with realistic corruption, then the diagnosis playbook
# against it. `make demo-stop` stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${DEMO_ROWS:-100000}"
DB="${DEMO_DB:-mariadb}"
PY=.venv/bin/python
mkdir -p .demo
case "$DB" in
mariadb)
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
    ;;
postgresql)
    # The password reaches the modules and pg_dump through a password file (.demo/pgpass, 0600);
    # the connection inputs are in .demo/postgresql.yml: pass it to the other playbooks too.
    "$PY" -m tools.devstack.postgres_server start .demo/postgresql
    PORT="$(cat .demo/postgresql/port)"
    "$PY" - <<PY
import json
from pathlib import Path
from tools.devstack.postgres_server import PostgresServer, TOOL_USER
server = PostgresServer(".demo/postgresql", port=$PORT, home=Path(".demo/postgresql/home").read_text().strip())
passfile = server.write_pgpass(".demo/pgpass").resolve()
settings = dict(jsonmend_db_dialect="postgresql", jsonmend_db_host="127.0.0.1", jsonmend_db_port=$PORT, jsonmend_db_user=TOOL_USER,
                jsonmend_db_passfile=str(passfile), jsonmend_db_config_file="")
Path(".demo/postgresql.yml").write_text("---\n# Written by scripts/demo.sh (DEMO_DB=postgresql): -e @.demo/postgresql.yml\n" + "".join("%s: %s\n" % (k, json.dumps(v)) for k, v in settings.items()))
PY
    "$PY" -m tools.devstack.pg_seed --port "$PORT" --database jsonmend_demo --rows "$ROWS"
    echo "Other playbooks on this database: add -e @.demo/postgresql.yml (make demo-stop stops the server)"
    exec .venv/bin/ansible-playbook playbooks/phase2_diagnose.yml -e @.demo/postgresql.yml "$@"
    ;;
*)
    echo "DEMO_DB must be mariadb or postgresql, not $DB" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# The application under deployment, for the demo: quizsite v1 (the version that crashes on
# corrupt metadata) under supervisord in .demo/app, on the demo database of `make demo`
# (DEMO_DB=postgresql: the PostgreSQL one of `DEMO_DB=postgresql make demo`), at
# http://127.0.0.1:8765. Its settings are in inventories/local/group_vars/app/quizsite.yml
# (the environment, which names the database, from the .demo/app/vars.json this writes).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DB="${DEMO_DB:-mariadb}"
case "$DB" in
mariadb)
    [ -f .demo/mariadb/port ] || { echo "Run 'make demo' first (it starts the demo database)." >&2; exit 1; }
    "$PY" -m tools.devstack.mariadb_server start .demo/mariadb >/dev/null
    "$PY" -m tools.devstack.app_stack start .demo/app --db-port "$(cat .demo/mariadb/port)" --db-name jsonmend_demo --port "${DEMO_APP_PORT:-8765}"
    EXTRA=""
    ;;
postgresql)
    [ -f .demo/postgresql/port ] && [ -f .demo/postgresql.yml ] || {
        echo "Run 'DEMO_DB=postgresql make demo' first (it starts the demo database and writes .demo/postgresql.yml)." >&2
        exit 1
    }
    "$PY" -m tools.devstack.postgres_server start .demo/postgresql >/dev/null
    "$PY" -m tools.devstack.app_stack start .demo/app --db-engine postgresql --db-port "$(cat .demo/postgresql/port)" --db-name jsonmend_demo \
        --port "${DEMO_APP_PORT:-8765}"
    EXTRA=" -e @.demo/postgresql.yml"
    ;;
*)
    echo "DEMO_DB must be mariadb or postgresql, not $DB" >&2
    exit 2
    ;;
esac
cat <<TXT
Try:
  .venv/bin/ansible-playbook playbooks/deploy.yml$EXTRA -e strategy=auto          # the live scan decides the strategy
  .venv/bin/ansible-playbook playbooks/deploy.yml$EXTRA -e strategy=A --check     # what A would do, nothing changed
  .venv/bin/ansible-playbook playbooks/maintenance.yml$EXTRA -e maintenance_action=enable
make demo-app-stop stops it.
TXT

#!/usr/bin/env bash
# The application under deployment, for the demo: quizsite v1 (the version that crashes on
# corrupt metadata) under supervisord in .demo/app, on the demo database of `make demo`,
# at http://127.0.0.1:8765. Its settings are in inventories/local/group_vars/app/quizsite.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -f .demo/mariadb/port ] || { echo "Run 'make demo' first (it starts the demo database)." >&2; exit 1; }
"$PY" -m tools.devstack.mariadb_server start .demo/mariadb >/dev/null
"$PY" -m tools.devstack.app_stack start .demo/app --db-port "$(cat .demo/mariadb/port)" --db-name jsonmend_demo --port "${DEMO_APP_PORT:-8765}"
cat <<'TXT'
Try:
  .venv/bin/ansible-playbook playbooks/deploy.yml -e strategy=auto          # the live scan decides the strategy
  .venv/bin/ansible-playbook playbooks/deploy.yml -e strategy=A --check     # what A would do, nothing changed
  .venv/bin/ansible-playbook playbooks/maintenance.yml -e maintenance_action=enable
make demo-app-stop stops it.
TXT

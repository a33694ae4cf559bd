#!/usr/bin/env bash
# The lint gates, offline: ansible-lint (production profile), yamllint, ruff, syntax checks
# of every playbook and ansible-doc of every module.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/${VENV:-.venv}/bin"
export PATH="$BIN:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
echo "== ruff";          "$BIN/ruff" check --quiet .
echo "== ruff format";   "$BIN/ruff" format --check --quiet .
echo "== yamllint";      "$BIN/yamllint" --strict .
echo "== syntax-check"
for playbook in playbooks/*.yml awx/configure.yml; do
  "$BIN/ansible-playbook" --syntax-check "$playbook" >/dev/null
done
echo "== ansible-doc"
for module in library/*.py; do
  name="$(basename "$module" .py)"
  "$BIN/ansible-doc" -M library "$name" >/dev/null
done
echo "== ansible-builder create"
EE_CONTEXT="$(mktemp -d)"
"$BIN/ansible-builder" create -f execution-environment.yml -c "$EE_CONTEXT" >/dev/null
rm -rf "$EE_CONTEXT"
echo "== ansible-lint";  "$BIN/ansible-lint" --offline -q
echo "lint: all gates passed"

#!/usr/bin/env bash
# Set up a new machine for jsonmend: MariaDB and PostgreSQL server binaries (for the demo and tests) and
# the pinned Python tools in .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

# apt_install WHAT PACKAGES...: install Debian packages, or say what to install when apt-get is missing.
apt_install() {
  local what="$1"; shift
  if command -v apt-get >/dev/null 2>&1; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing $what (Debian package $*)..."
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "$what not found: install $* and run this again." >&2
    return 1
  fi
}

have_mariadb() { command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || command -v mysqld >/dev/null 2>&1 || [ -x /usr/sbin/mysqld ]; }
if ! have_mariadb || ! command -v mariadb-dump >/dev/null 2>&1; then
  apt_install "MariaDB server and client (mariadbd, mariadb-dump)" mariadb-server mariadb-client || exit 1
fi

# PostgreSQL server binaries (initdb, postgres) for the throwaway PostgreSQL of tools/devstack.
have_postgres() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; }; }
if ! have_postgres; then
  apt_install "PostgreSQL server binaries (initdb, postgres)" postgresql || exit 1
fi

# faketime runs the clock-sensitive tests at other dates (make clock, part of make test); without it
# make clock says so and the rest still runs.
if ! command -v faketime >/dev/null 2>&1; then
  apt_install "faketime" faketime || true
fi

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Python 3.11 or newer is required (found $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || { echo "python3 -m venv failed: install the python3-venv package." >&2; exit 1; }
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# awx.awx for the offline checks of awx/ (lint, tests): one collection out of the pinned ansible wheel.
"$VENV/bin/python" scripts/awx_collection.py >/dev/null
touch "$VENV/.installed"
VERSION="$("$VENV/bin/ansible-playbook" --version)"
echo "Set up: ${VERSION%%$'\n'*}, $("$VENV/bin/python" --version)"

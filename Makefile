# jsonmend: the two new-machine commands (make demo, make test) and the developer targets.
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
SHELL := /bin/bash

.PHONY: setup demo demo-stop test lint pytest bench bench-backup clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt scripts/setup.sh
	scripts/setup.sh

## demo: throwaway MariaDB in .demo/, 100k seeded rows, then playbooks/phase2_diagnose.yml
demo: setup
	scripts/demo.sh

demo-stop:
	$(PY) -m tests.support.mariadb_server stop .demo/mariadb

## test: every lint gate, then the test suite against a throwaway MariaDB
test: setup lint pytest

lint: setup
	scripts/lint.sh

pytest: setup
	$(PY) -m pytest -q tests

## bench: speed and memory figures (ratios against raw SQL on the same server)
bench: setup
	$(PY) scripts/bench.py

## bench-backup: backup + verification of 1M rows vs a plain mariadb-dump (BACKUP_ROWS=...)
bench-backup: setup
	$(PY) scripts/bench_backup.py --rows $${BACKUP_ROWS:-1000000}

clean:
	rm -rf .demo reports .pytest_cache .ansible

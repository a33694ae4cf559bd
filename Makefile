# jsonmend: the two new-machine commands (make demo, make test) and the developer targets.
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
SHELL := /bin/bash

.PHONY: setup demo demo-stop demo-app demo-app-stop test test-fast lint sanity pytest clock chaos molecule bench bench-repair bench-backup bench-playbooks bench-guard bench-fleet bench-pg clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-awx.txt scripts/setup.sh scripts/awx_collection.py
	scripts/setup.sh

## demo: throwaway MariaDB in .demo/ (DEMO_DB=postgresql: PostgreSQL), 100k seeded rows, then playbooks/phase2_diagnose.yml
demo: setup
	scripts/demo.sh

demo-stop: demo-app-stop
	$(PY) -m tools.devstack.mariadb_server stop .demo/mariadb
	$(PY) -m tools.devstack.postgres_server stop .demo/postgresql

## demo-app: quizsite v1 under supervisord on the demo database (DEMO_DB=postgresql: the PostgreSQL one), for playbooks/deploy.yml
demo-app: setup
	scripts/demo_app.sh

demo-app-stop:
	$(PY) -m tools.devstack.app_stack stop .demo/app

## test: every lint gate, ansible-test sanity, the test suite against a throwaway MariaDB, then
##       the clock-sensitive tests again under faketime (clock)
test: setup lint sanity pytest clock

## test-fast: the inner loop - unit tests and the scan module against a throwaway MariaDB (under 2 minutes)
test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests/unit tests/integration/test_scan_module.py

lint: setup
	scripts/lint.sh

## sanity: ansible-test sanity (validate-modules etc.) on a throwaway collection copy
sanity: setup
	scripts/sanity.sh > .sanity.log 2>&1 || { tail -60 .sanity.log; exit 1; }
	@echo "sanity: ansible-test sanity passed (log in .sanity.log)"

pytest: setup
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=25 tests

## clock: the tests marked clock under faketime, a year ahead and at 2027-12-31 23:59:30 UTC (a day,
##        month and year boundary mid-run), so that no test depends on today's date
clock: setup
	scripts/clock_tests.sh

## chaos: the safety suite alone (tests marked chaos: kill -9, concurrent writers, lock, replica
## lag, bad inputs, secrets); its figures go to reports/chaos/chaos-<time>.json and a table.
## JSONMEND_CHAOS_MODULE_KILLS / JSONMEND_CHAOS_SERVER_KILLS change the kill counts (20 / 5).
chaos: setup
	$(PY) -m pytest -q -m chaos tests --chaos-report reports/chaos/chaos-$$(date -u +%Y%m%dT%H%M%SZ).json

## molecule: the deploy pipeline (diagnose, deploy A, idempotence, verify) on a throwaway stack
molecule: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/molecule test

## bench: speed and memory at 1M and 10M rows, ratios against raw SQL on the same server (docs/PERFORMANCE.md)
##        BENCH_ARGS="--sizes 100000 --repeat 1" for a quick look
bench: setup
	$(PY) scripts/bench.py $(BENCH_ARGS)

## bench-repair: the online repair vs a bare UPDATE, undo, writer p99 (1M rows; docs/CLEANUP.md)
bench-repair: setup
	$(PY) scripts/bench_repair.py

## bench-playbooks: Ansible's own time around the scan - phase2_diagnose, weekly_check, monitor on 100k rows
bench-playbooks: setup
	$(PY) scripts/bench_playbooks.py

## bench-fleet: fleet_diagnose.yml on 12 (forks 1, 4, 8) and 48 (forks 8) small targets against one phase2_diagnose.yml run per target
bench-fleet: setup
	$(PY) scripts/bench_fleet.py

## bench-backup: backup + verification of 1M rows vs a plain mariadb-dump (BACKUP_ROWS=...)
bench-backup: setup
	$(PY) scripts/bench_backup.py --rows $${BACKUP_ROWS:-1000000}

## bench-pg: PostgreSQL at 2M rows - scan vs jsonb_typeof GROUP BY, repair vs a bare UPDATE, undo, writer p99 (docs/PERFORMANCE.md)
bench-pg: setup
	$(PY) scripts/bench_pg.py $(BENCH_ARGS)

## bench-guard: inserts/s and p99 with no guard, observe and enforce, same server, same run (BENCH_ARGS="--dialect postgresql"; docs/PERFORMANCE.md)
bench-guard: setup
	$(PY) scripts/bench_guard.py $(BENCH_ARGS)

clean:
	rm -rf .demo reports .pytest_cache .ansible

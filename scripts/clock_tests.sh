#!/usr/bin/env bash
# The clock-sensitive tests (marker `clock`: unit tests, backups, restores, retention, records,
# weekly check) again under faketime, so none depends on today's date: a year ahead, and across a
# day, month and year boundary mid-run. The tests' own MariaDB server runs under the same clock.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
if ! command -v faketime >/dev/null 2>&1; then
  echo "faketime not found: install it with 'sudo apt-get install -y faketime' (Debian/Ubuntu), or run scripts/setup.sh" >&2
  exit 1
fi
# An offset from the real clock, not a start time: with a start time ('@...') every new process
# (each ansible-playbook, each date) would start again at that instant and time would run backwards
# between a test and the commands it runs.
boundary=$(($(date -u -d "2027-12-31 23:59:30" +%s) - $(date -u +%s)))
[ "$boundary" -lt 0 ] || boundary="+$boundary"
for offset in "+365d" "$boundary"; do
  echo "== clock: tests marked clock with the clock at $(TZ=UTC faketime -f "$offset" date -u '+%Y-%m-%d %H:%M:%S') UTC"
  # wallclock: tests that need a thread's timed wait to expire, which libfaketime cannot fake.
  TZ=UTC faketime -f "$offset" "$PY" -m pytest -q -m "clock and not wallclock" -p no:cacheprovider tests
done

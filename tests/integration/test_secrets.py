# The database password never leaves the vault: every playbook runs with a recognisable password
# (one through ansible-runner as AWX runs it), and not one occurrence of it - raw, URL-encoded,
# base64 or hex - is in their output, the reports and run records, the backups and their
# manifests, the progress logs, the application's logs, the runner's artifacts, or any process's
# command line or environment polled while they ran.
from __future__ import annotations

import base64
import gzip
import json
import subprocess
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from ansible.parsing.dataloader import DataLoader

from tests.support import seed
from tests.support.app_stack import AppStack
from tests.support.awx_runner import launch
from tests.support.playbooks import BIN, ROOT, run_playbook
from tests.support.processes import ProcessWatcher, files_under

pytestmark = pytest.mark.chaos

SECRET_USER = "jm_secret"
SECRET = "Jm-S3cret-7f3a9q"
CORRUPT_VALUES = ["3.5", "42", '"text"', "[1, 2]", "true"]
CORRUPT = 10  # strategy B


def encodings(secret):
    """The secret as it could leak: raw, URL-encoded, hex, and base64 at each of the three
    alignments it can take inside a longer base64 text (the characters that depend on its
    neighbours dropped)."""
    raw = secret.encode()
    found = {"raw": raw, "url": urllib.parse.quote(secret, safe="").encode(), "url+": urllib.parse.quote_plus(secret).encode(), "hex": raw.hex().encode()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        # Only the characters made of the secret's bits alone: not those it shares with its neighbours.
        first, end = -(-offset * 8 // 6), (offset + len(raw)) * 8 // 6
        found["base64+%d" % offset] = encoded[first:end]
    return found


NEEDLES = encodings(SECRET)


def leaks_in(data):
    """Names of the encodings of the secret found in `data` (bytes)."""
    return [name for name, needle in NEEDLES.items() if needle in data]


def test_the_encodings_find_the_secret_wherever_it_sits():
    for prefix in (b"", b"a", b"ab", b"abc"):
        blob = prefix + SECRET.encode() + b"tail"
        assert "base64+%d" % (len(prefix) % 3) in leaks_in(base64.b64encode(blob)), prefix
    assert leaks_in(b"password=" + urllib.parse.quote(SECRET).encode()) and leaks_in(SECRET.encode().hex().encode())
    assert leaks_in(b"nothing to see") == []


@pytest.fixture(scope="module")
def secret_db(mariadb):
    """A small table with CORRUPT corrupt rows, and a user whose password is SECRET."""
    name = "sec_" + uuid.uuid4().hex[:10]
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE `%s`" % name)
        cur.execute("USE `%s`" % name)
        seed.create_table(cur)
        seed.seed(cur, 3000, corrupt_percent=0, null_percent=5)
        seed.insert_rows(cur, [(7 + i % 5, "quiz_answer_submitted", CORRUPT_VALUES[i % len(CORRUPT_VALUES)], "2026-11-02 10:00:00") for i in range(CORRUPT)])
        for host in ("localhost", "127.0.0.1", "%"):
            cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (SECRET_USER, host, SECRET))
            # Backups pause writes, read the binlog position, restore into a scratch schema.
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s", (SECRET_USER, host))
    yield name
    if mariadb.process is not None:
        with mariadb.admin() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS `%s`" % name)
            for host in ("localhost", "127.0.0.1", "%"):
                cur.execute("DROP USER IF EXISTS %s@%s", (SECRET_USER, host))


@pytest.fixture(scope="module")
def stack(mariadb, secret_db, tmp_path_factory):
    app = AppStack(tmp_path_factory.mktemp("stack"), mariadb.port, secret_db).build()
    app.manage("migrate", "--noinput")
    app.start()
    yield app
    app.stop()


def load_awx(name):
    """An AWX vars file as plain data (its !unsafe strings as plain strings, as the controller stores them)."""
    return json.loads(json.dumps(DataLoader().load_from_file(str(ROOT / "awx" / "vars" / name))))


def awx_backup_job(mariadb, secret_db, site):
    """The Backup job template, launched through ansible-runner with the password in the
    credential, as AWX launches it."""
    credential_type = load_awx("credential_type.yml")["jsonmend_awx_credential_type"]
    (template,) = [t for t in load_awx("job_templates.yml")["jsonmend_awx_job_templates"] if t["name"] == "Backup"]
    template = dict(template, name="jsonmend secrets - Backup", survey_enabled=True)
    inputs = dict(host="127.0.0.1", port=str(mariadb.port), username=SECRET_USER, password=SECRET, database=secret_db)
    inventory_vars = dict(
        jsonmend_db_config_file="", jsonmend_report_dir=str(site / "awx-reports"), backup_dir=str(site / "awx-backups"), backup_create_dir=True
    )
    host_vars = dict(ansible_connection="local", ansible_python_interpreter=str(BIN / "python"))
    return launch(template, credential_type, inputs, site, host_vars=host_vars, inventory_vars=inventory_vars)


def test_no_playbook_shows_the_password_anywhere(mariadb, secret_db, stack, tmp_path, figures):
    site = tmp_path
    variables = dict(
        jsonmend_db_host="127.0.0.1",
        jsonmend_db_port=mariadb.port,
        jsonmend_db_user=SECRET_USER,
        jsonmend_db_password=SECRET,
        jsonmend_db_config_file="",
        jsonmend_db_name=secret_db,
        jsonmend_report_dir=str(site / "reports"),
        backup_dir=str(site / "backups"),
        backup_create_dir=True,
        cleanup_control_dir=str(site / "control"),
        jsonmend_confirm="yes",
        **stack.ansible_vars(),
    )
    outputs, timings = {}, {}

    def play(label, playbook, verbosity=0, **extra):
        work = site / "runs" / label
        work.mkdir(parents=True)
        started = time.monotonic()
        result = run_playbook(playbook, dict(variables, **extra), work, verbosity=verbosity, stdin=subprocess.DEVNULL)
        timings[label] = round(time.monotonic() - started, 1)
        outputs[label] = result
        return result

    started = time.monotonic()
    with ProcessWatcher(NEEDLES.values()) as watcher:
        # Read-only or separate: two at a time.
        with ThreadPoolExecutor(max_workers=2) as pool:
            first = [
                pool.submit(play, "diagnose", "phase2_diagnose.yml"),
                pool.submit(play, "backup-database", "backup.yml", verbosity=3, jsonmend_backup_scope="database"),
                pool.submit(play, "weekly", "weekly_check.yml"),
                pool.submit(play, "maintenance", "maintenance.yml", maintenance_action="status"),
                pool.submit(awx_backup_job, mariadb, secret_db, site),
            ]
            job = first[-1].result()
            for future in first[:-1]:
                future.result()
        # Then the changes, in the runbook's order.
        play("deploy", "deploy.yml", strategy="B")
        play("monitor", "monitor.yml")
        play("rollback", "rollback.yml")
        play("cleanup", "cleanup.yml")
        play("restore", "restore.yml")
        play("emergency", "emergency_rollback.yml")
        syntax = subprocess.run(
            [str(BIN / "ansible-playbook"), "--syntax-check", "awx/configure.yml", "-e", "jsonmend_db_password=%s" % "not-the-secret"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    seconds = time.monotonic() - started

    # The runs did their work: a leak check of runs that stopped early would prove little.
    for label in ("diagnose", "backup-database", "maintenance", "deploy", "rollback", "cleanup", "restore", "emergency"):
        assert outputs[label].returncode == 0, (label, outputs[label].stdout[-3000:])
    assert outputs["weekly"].returncode != 0 and "corrupted row(s)" in outputs["weekly"].stdout  # it found the corruption
    assert job.status == "successful", job.stdout[-3000:]
    assert syntax.returncode == 0, syntax.stderr[-2000:]

    leaks = []
    for label, result in outputs.items():
        leaks += [("output of %s" % label, name) for name in leaks_in((result.stdout + result.stderr).encode())]
    leaks += [("runner stdout", name) for name in leaks_in(job.stdout.encode())]
    searched = files_under(site / "reports", site / "awx-reports", site / "backups", site / "awx-backups", site / "control", stack.log_dir, job.artifacts)
    for path in searched:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        leaks += [(str(path), name) for name in leaks_in(data)]
    figures(trials=len(outputs) + 2, failures=len(leaks) + len(watcher.hits), files_searched=len(searched), process_polls=watcher.polls, seconds=round(seconds))
    assert leaks == []
    assert watcher.hits == []

    # The searches had something to search.
    names = {p.name for p in searched}
    assert any(n.endswith(".manifest.json") for n in names) and "records.jsonl" in names and any(n.endswith(".progress") for n in names)
    assert job.artifact_files() and watcher.polls > 10
    assert watcher.tools_seen, "no dump or client process was caught by the poll"
    print(
        "secrets: %d runs in %.0fs (%s), %d files searched, %d process polls, tools seen %s"
        % (len(outputs) + 2, seconds, timings, len(searched), watcher.polls, sorted(watcher.tools_seen))
    )

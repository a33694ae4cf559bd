# Six secrets never leave their boundaries (issue 14): the database password, a replica's
# password, the SMTP password, a webhook token (in its URL), a git credential in the application
# checkout's remote URL (served by a git server that demands it) and the vault password. Playbooks
# run at -vvvv - successful runs, --check, failing paths, one through ansible-runner as AWX runs
# it - and not one occurrence of any secret (raw, URL-encoded, hex, base64 at every alignment) is
# in their output, reports and run records, backups and manifests, progress logs, the app's logs,
# the runner's artifacts, what is left in their temporary directories, or any process's command
# line or environment polled while they ran.
#
# The default run sweeps three playbook runs that between them hold all six secrets (about 2-3
# minutes on a loaded 2-core machine). The exhaustive sweep (every playbook, --check and failing
# paths, and the ansible-runner job) is marked chaos: `make chaos`, or
#   .venv/bin/python -m pytest -q -m chaos tests/integration/test_secrets.py
from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, VaultSecret

from tests.support.awx_runner import launch
from tests.support.git_http import GitHTTPServer
from tests.support.processes import ProcessWatcher, files_under
from tests.support.receivers import HTTPReceiver
from tools.devstack import seed
from tools.devstack.app_stack import AppStack, git
from tools.devstack.mariadb_server import free_port
from tools.devstack.playbooks import BIN, ROOT

SECRET_USER = "jm_secret"
REPLICA_USER = "jm_replica"
SECRETS = {
    "database": "Jm-S3cret-7f3a9q",
    "replica": "Jm-R3plica-c4d1e8",
    "smtp": "Jm-Smtp-9b2f6a",
    "webhook": "Jm-Hook-5e8d3c",
    "git": "Jm-G1t-a7f2b9",
    "vault": "Jm-Va1lt-3c9e4d",
}
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


NEEDLES = {(name, form): needle for name, secret in SECRETS.items() for form, needle in encodings(secret).items()}


def leaks_in(data):
    """(secret, encoding) of every secret found in `data` (bytes)."""
    return [key for key, needle in NEEDLES.items() if needle in data]


def test_the_encodings_find_each_secret_wherever_it_sits():
    for name, secret in SECRETS.items():
        for prefix in (b"", b"a", b"ab", b"abc"):
            blob = prefix + secret.encode() + b"tail"
            assert (name, "base64+%d" % (len(prefix) % 3)) in leaks_in(base64.b64encode(blob)), (name, prefix)
        assert (name, "url") in leaks_in(b"password=" + urllib.parse.quote(secret).encode())
        assert (name, "hex") in leaks_in(secret.encode().hex().encode())
    assert leaks_in(b"nothing to see") == []


class AuthSMTP:
    """An SMTP server that requires a login (AUTH PLAIN/LOGIN, no TLS on the loopback)."""

    def __init__(self, user, password):
        self.messages, self.logins = [], 0
        self.port = free_port()
        self.user, self.password = user.encode(), password.encode()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, authenticator=self._authenticate, auth_required=True, auth_require_tls=False)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == self.user and auth_data.password == self.password
        self.logins += ok
        return AuthResult(success=ok)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope.content)
        return "250 Message accepted"


@pytest.fixture(scope="module")
def secret_db(mariadb):
    """A database whose tool user's password is the database secret, and a replica user with its own."""
    name = "sec_" + uuid.uuid4().hex[:10]
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE `%s`" % name)
        for host in ("localhost", "127.0.0.1", "%"):
            cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (SECRET_USER, host, SECRETS["database"]))
            # Backups pause writes, read the binlog position, restore into a scratch schema.
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s", (SECRET_USER, host))
            # The "replica": the same server through its own user (the lag comes from a query).
            cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (REPLICA_USER, host, SECRETS["replica"]))
            cur.execute("GRANT SELECT ON `%s`.* TO %s@%s" % (name, "%s", "%s"), (REPLICA_USER, host))
    yield name
    if mariadb.process is not None:
        with mariadb.admin() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS `%s`" % name)
            for host in ("localhost", "127.0.0.1", "%"):
                cur.execute("DROP USER IF EXISTS %s@%s", (SECRET_USER, host))
                cur.execute("DROP USER IF EXISTS %s@%s", (REPLICA_USER, host))


def reseed(mariadb, name):
    """The table afresh: 3000 rows, CORRUPT of them corrupt."""
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("USE `%s`" % name)
        for table in ("analytics_activityevent_jsonmend_quarantine", "analytics_activityevent_jsonmend_runs", "analytics_activityevent"):
            cur.execute("DROP TABLE IF EXISTS `%s`" % table)
        seed.create_table(cur)
        seed.seed(cur, 3000, corrupt_percent=0, null_percent=5)
        seed.insert_rows(cur, [(7 + i % 5, "quiz_answer_submitted", CORRUPT_VALUES[i % len(CORRUPT_VALUES)], "2026-11-01 10:00:00") for i in range(CORRUPT)])


@pytest.fixture(scope="module")
def world(mariadb, secret_db, tmp_path_factory):
    """The app stack whose origin demands the git credential, the SMTP and webhook receivers, and a
    vault-encrypted inventory shaped like inventories/production."""
    base = tmp_path_factory.mktemp("secrets")
    app = AppStack(base / "stack", mariadb.port, secret_db).build()
    app.manage("migrate", "--noinput")
    app.start()
    smtp = AuthSMTP("alerts", SECRETS["smtp"])
    smtp.controller.start()
    hook = HTTPReceiver()
    hook.url = "http://127.0.0.1:%d/services/T000/B000/%s" % (hook.port, SECRETS["webhook"])
    hook.__enter__()
    gitd = GitHTTPServer(app.origin, "deploy", SECRETS["git"]).__enter__()
    # The checkout's remote carries the credential, as `git clone https://deploy:<token>@...` leaves it.
    credentialled = gitd.url.replace("http://", "http://deploy:%s@" % SECRETS["git"])
    git("remote", "set-url", "origin", credentialled, cwd=app.app_dir)
    git("fetch", "-q", "origin", cwd=app.app_dir)  # the server really wants it

    inv = base / "inventories" / "production"
    (inv / "group_vars" / "all").mkdir(parents=True)
    hosts = {"dbadmin": {"hosts": {"localhost": None}}, "app": {"hosts": {"localhost": None}}}
    (inv / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": hosts, "vars": {"ansible_connection": "local", "ansible_python_interpreter": str(BIN / "python")}}})
    )
    (inv / "group_vars" / "all" / "database.yml").write_text(
        yaml.safe_dump(dict(jsonmend_db_password="{{ vault_jsonmend_db_password }}", notify_smtp_password="{{ vault_notify_smtp_password }}"))
    )
    vault = VaultLib([("default", VaultSecret(SECRETS["vault"].encode()))])
    plain = "vault_jsonmend_db_password: %s\nvault_notify_smtp_password: %s\n" % (SECRETS["database"], SECRETS["smtp"])
    (inv / "group_vars" / "all" / "vault.yml").write_bytes(vault.encrypt(plain))
    password_file = base / "vault-pass"
    password_file.write_text(SECRETS["vault"] + "\n")
    password_file.chmod(0o400)
    yield dict(app=app, smtp=smtp, hook=hook, gitd=gitd, inventory=inv, vault_password_file=password_file)
    gitd.__exit__()
    hook.__exit__()
    smtp.controller.stop()
    app.stop()


class Sweep:
    """Runs playbooks with every secret in play and keeps what they left behind."""

    def __init__(self, mariadb, secret_db, world, site):
        self.mariadb, self.db, self.world, self.site = mariadb, secret_db, world, site
        self.outputs, self.timings, self.jobs = {}, {}, []
        for name in ("tmp", "ansible-tmp", "home"):
            (site / name).mkdir()
        self.variables = dict(
            jsonmend_db_host="127.0.0.1",
            jsonmend_db_port=mariadb.port,
            jsonmend_db_user=SECRET_USER,
            jsonmend_db_config_file="",
            jsonmend_db_name=secret_db,
            jsonmend_report_dir=str(site / "reports"),
            backup_dir=str(site / "backups"),
            backup_create_dir=True,
            cleanup_control_dir=str(site / "control"),
            jsonmend_confirm="yes",
            cleanup_replicas=[
                dict(name="replica-1", login_host="127.0.0.1", login_port=mariadb.port, login_user=REPLICA_USER, login_password=SECRETS["replica"])
            ],
            cleanup_max_replica_lag=5,
            cleanup_replica_lag_query="SELECT 0",
            notify_channels=["email", "webhook"],
            notify_email_to=["dba@example.com"],
            notify_smtp_host="127.0.0.1",
            notify_smtp_port=world["smtp"].port,
            notify_smtp_security="none",
            notify_smtp_username="alerts",
            notify_webhook_url=world["hook"].url,
            metrics_textfile_dir=str(site / "prom"),
            **world["app"].ansible_vars(),
        )

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update(
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_LOCAL_TEMP=str(self.site / "ansible-tmp"),
            ANSIBLE_REMOTE_TEMP=str(self.site / "ansible-tmp"),
            TMPDIR=str(self.site / "tmp"),
            PATH="%s:%s" % (BIN, os.environ.get("PATH", "")),
        )
        return env

    def play(self, label, playbook, check=False, vault=False, expect_ok=True, **extra):
        """ansible-playbook -vvvv, the secrets in a 0600 vars file (or the vault), as an operator runs it."""
        work = self.site / "runs" / label
        work.mkdir(parents=True)
        variables = dict(self.variables, **extra)
        cmd = [str(BIN / "ansible-playbook"), "playbooks/%s" % playbook, "-vvvv"]
        if vault:
            cmd += ["-i", str(self.world["inventory"]), "--vault-password-file", str(self.world["vault_password_file"])]
        else:
            variables.update(jsonmend_db_password=SECRETS["database"], notify_smtp_password=SECRETS["smtp"])
        vars_file = work / "vars.json"
        vars_file.write_text(json.dumps(variables))
        vars_file.chmod(0o600)
        cmd += ["-e", "@%s" % vars_file] + (["--check"] if check else [])
        started = time.monotonic()
        result = subprocess.run(cmd, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=1200, check=False, stdin=subprocess.DEVNULL)
        self.timings[label] = round(time.monotonic() - started, 1)
        self.outputs[label] = result
        vars_file.unlink()  # the operator's own input, not an output
        if expect_ok is not None:
            assert (result.returncode == 0) is expect_ok, (label, result.stdout[-4000:], result.stderr[-2000:])
        return result

    def awx_backup_job(self):
        """The Backup job template through ansible-runner, the password in the credential, as AWX launches it."""
        credential_type = load_awx("credential_type.yml")["jsonmend_awx_credential_type"]
        (template,) = [t for t in load_awx("job_templates.yml")["jsonmend_awx_job_templates"] if t["name"] == "Backup"]
        template = dict(template, name="jsonmend secrets - Backup", survey_enabled=True)
        inputs = dict(host="127.0.0.1", port=str(self.mariadb.port), username=SECRET_USER, password=SECRETS["database"], database=self.db)
        inventory_vars = dict(
            jsonmend_db_config_file="", jsonmend_report_dir=str(self.site / "awx-reports"), backup_dir=str(self.site / "awx-backups"), backup_create_dir=True
        )
        host_vars = dict(ansible_connection="local", ansible_python_interpreter=str(BIN / "python"))
        # The job's private data directory holds its inputs (the credential file AWX writes and
        # deletes with the job): swept are its artifacts, as for AWX's job events and stdout.
        (self.site / "awx").mkdir(exist_ok=True)
        job = launch(template, credential_type, inputs, self.site / "awx", host_vars=host_vars, inventory_vars=inventory_vars)
        assert job.status == "successful", job.stdout[-3000:]
        self.jobs.append(job)
        return job

    def leaks(self, watcher):
        """Every place a secret was found, and the files searched."""
        found = []
        for label, result in self.outputs.items():
            found += [("output of %s" % label, key) for key in leaks_in((result.stdout + result.stderr).encode())]
        for job in self.jobs:
            found += [("runner stdout", key) for key in leaks_in(job.stdout.encode())]
        roots = [self.site / d for d in ("reports", "awx-reports", "backups", "awx-backups", "control", "prom", "tmp", "ansible-tmp", "home", "runs")]
        searched = files_under(*roots, self.world["app"].log_dir, *[job.artifacts for job in self.jobs])
        for path in searched:
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
            found += [(str(path), key) for key in leaks_in(data)]
        found += [(where, ("a secret", "in a process")) for where, _data in watcher.hits]
        return found, searched


def load_awx(name):
    """An AWX vars file as plain data (its !unsafe strings as plain strings, as the controller stores them)."""
    return json.loads(json.dumps(DataLoader().load_from_file(str(ROOT / "awx" / "vars" / name))))


def check_the_secrets_were_used(world, outputs, sweep):
    """A sweep of runs that never used the secrets would prove nothing."""
    assert world["gitd"].authorized > 0, "the git server never saw its credential"
    assert world["smtp"].logins > 0 and world["smtp"].messages, "no SMTP login"
    assert any(SECRETS["webhook"] in path for path, _body in world["hook"].posts), "the webhook was never posted to"
    assert any("throttle" in o.stdout.lower() or "replica" in o.stdout.lower() for o in outputs.values())


@pytest.fixture
def sweep(mariadb, secret_db, world, tmp_path):
    reseed(mariadb, secret_db)
    world["app"].reset("v1")
    world["smtp"].messages.clear()
    world["hook"].posts.clear()
    return Sweep(mariadb, secret_db, world, tmp_path)


def finish(sweep, watcher, figures, seconds):
    leaks, searched = sweep.leaks(watcher)
    figures(trials=len(sweep.outputs) + len(sweep.jobs), failures=len(leaks), files_searched=len(searched), process_polls=watcher.polls, seconds=round(seconds))
    assert leaks == [], "\n".join("%s: %s (%s)" % (where, secret, form) for where, (secret, form) in leaks)
    assert watcher.polls > 10 and watcher.tools_seen, "no dump or client process was caught by the poll"
    names = {p.name for p in searched}
    assert any(n.endswith(".manifest.json") for n in names) and "records.jsonl" in names
    print(
        "secrets: %d runs in %.0fs (%s), %d files searched, %d process polls, tools seen %s"
        % (len(sweep.outputs) + len(sweep.jobs), seconds, sweep.timings, len(searched), watcher.polls, sorted(watcher.tools_seen))
    )


def test_six_secrets_stay_out_of_every_output_of_a_deploy(sweep, world, figures):
    """The default sweep: the diagnosis through the vault, a strategy B deploy with every channel
    (backup, cleanup waiting on the replica, git fetch with its credential, SMTP and webhook), and
    a deploy that fails on the remote (a ref it does not have)."""
    started = time.monotonic()
    with ProcessWatcher(NEEDLES.values()) as watcher:
        with ThreadPoolExecutor(max_workers=2) as pool:
            first = [
                pool.submit(sweep.play, "diagnose-vault", "phase2_diagnose.yml", vault=True),
                pool.submit(sweep.play, "deploy-bad-ref", "deploy.yml", expect_ok=False, strategy="B", jsonmend_app_version="no-such-ref"),
            ]
            for future in first:
                future.result()
        sweep.play("deploy", "deploy.yml", strategy="B")
    assert "is not a branch or tag of %s" % world["gitd"].url in sweep.outputs["deploy-bad-ref"].stdout
    assert world["app"].head() == world["app"].shas["v2"]
    check_the_secrets_were_used(world, sweep.outputs, sweep)
    finish(sweep, watcher, figures, time.monotonic() - started)


@pytest.mark.chaos
def test_six_secrets_stay_out_of_every_playbook(sweep, world, figures):
    """The exhaustive sweep: every playbook at -vvvv, each also in --check, failing paths, and the
    Backup job template through ansible-runner."""
    s = sweep
    started = time.monotonic()
    with ProcessWatcher(NEEDLES.values()) as watcher:
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(s.awx_backup_job)]
            futures += [pool.submit(s.play, "%s-check" % name.split(".")[0], name, check=True, expect_ok=None) for name in PLAYBOOKS]
            futures += [
                pool.submit(s.play, "diagnose-vault", "phase2_diagnose.yml", vault=True),
                pool.submit(s.play, "weekly-vault", "weekly_check.yml", vault=True, expect_ok=False),  # it finds the corruption
                pool.submit(s.play, "backup-database", "backup.yml", jsonmend_backup_scope="database"),
                pool.submit(s.play, "maintenance", "maintenance.yml", maintenance_action="status"),
                # Failing paths with secrets in play: a wrong replica query, a ref the remote lacks, a manifest that is not there.
                pool.submit(s.play, "deploy-bad-ref", "deploy.yml", expect_ok=False, strategy="B", jsonmend_app_version="no-such-ref"),
                pool.submit(s.play, "restore-missing", "restore.yml", expect_ok=False, backup_restore_id="backup_none_20000101_000000"),
            ]
            for future in futures:
                future.result()
        # Then the changes, in the runbook's order.
        s.play("cleanup-replica-fails", "cleanup.yml", expect_ok=False, cleanup_replica_lag_query="SELECT no_such_column")
        s.play("deploy", "deploy.yml", strategy="B")
        s.play("monitor", "monitor.yml")
        s.play("rollback", "rollback.yml")
        s.play("cleanup", "cleanup.yml")
        s.play("restore", "restore.yml")
        s.play("emergency", "emergency_rollback.yml")
    check_the_secrets_were_used(world, s.outputs, s)
    finish(s, watcher, figures, time.monotonic() - started)


PLAYBOOKS = sorted(p.name for p in (ROOT / "playbooks").glob("*.yml"))

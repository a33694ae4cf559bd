# The application under deployment, for real: quizsite (tools/devstack/app) as a git repository
# with release commits, a bare "origin", a checkout at v1 with its own virtualenv, served
# by gunicorn under a private supervisord, on MariaDB (default) or PostgreSQL. Used by the deploy
# tests and molecule.
#
#   python -m tools.devstack.app_stack start BASE --db-port P --db-name N [--db-engine postgresql]   (molecule, demos)
#   python -m tools.devstack.app_stack stop BASE
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

APP_SOURCE = Path(__file__).resolve().parent / "app"
PROGRAM = "quizsite"
# Releases as commits: v1 is the base, every later release adds its overlay on the one before.
RELEASES = (("v1", "base", "main"), ("v2", "patches/v2", "main"), ("broken", "patches/broken", "broken"))
GIT_ENV = {
    "GIT_AUTHOR_NAME": "quizsite dev",
    "GIT_AUTHOR_EMAIL": "dev@quizsite.invalid",
    "GIT_COMMITTER_NAME": "quizsite dev",
    "GIT_COMMITTER_EMAIL": "dev@quizsite.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args, cwd=None, check=True):
    env = dict(os.environ, **GIT_ENV)
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and result.returncode:
        raise RuntimeError("git %s failed: %s" % (" ".join(args), result.stderr.strip()))
    return result.stdout.strip()


def free_port():
    from tools.devstack.mariadb_server import free_port as _free_port

    return _free_port()


def build_origin(base):
    """A bare origin whose main holds v1 then v2 (the fix) and whose `broken` branch adds a bug.

    Returns {release name: commit sha}.
    """
    base = Path(base)
    origin, work = base / "origin.git", base / "source"
    git("init", "--bare", "--initial-branch=main", str(origin))
    git("init", "--initial-branch=main", str(work))
    shas = {}
    for name, overlay, branch in RELEASES:
        if branch != git("rev-parse", "--abbrev-ref", "HEAD", cwd=work, check=False):
            git("checkout", "-b", branch, cwd=work)
        shutil.copytree(APP_SOURCE / overlay, work, dirs_exist_ok=True)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "quizsite %s" % name, cwd=work)
        if branch == "main":
            git("tag", name, cwd=work)
        shas[name] = git("rev-parse", "HEAD", cwd=work)
    git("remote", "add", "origin", str(origin), cwd=work)
    git("push", "-q", "--tags", "origin", "refs/heads/main", "refs/heads/broken", cwd=work)
    return shas


def make_venv(path):
    """A virtualenv for the app that sees this interpreter's packages (Django, gunicorn,
    PyMySQL) through a .pth file: no download, and `pip install -r requirements.txt` in it
    finds every requirement already satisfied, as on a server that was provisioned before."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True)
    site = subprocess.run(
        [str(Path(path) / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "_jsonmend_shared.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")


class AppStack:
    """quizsite deployed under `base`: checkout, venv, logs, flag directory, supervisord.

    engine: "mysql" (MariaDB, a MySQL option file holds the credentials) or "postgresql"
    (psycopg 3, a libpq password file holds them).
    """

    def __init__(self, base, db_port, db_name, db_user=None, db_password=None, port=None, engine="mysql"):
        if engine == "postgresql":
            from tools.devstack.postgres_server import APP_PASSWORD, APP_USER
        elif engine == "mysql":
            from tools.devstack.mariadb_server import APP_PASSWORD, APP_USER
        else:
            raise ValueError("engine %r: mysql or postgresql" % engine)
        self.engine = engine
        self.base = Path(base).resolve()
        self.origin = self.base / "origin.git"
        self.app_dir = self.base / "app"
        self.venv = self.base / "venv"
        self.log_dir = self.base / "log"
        self.www = self.base / "www"
        self.flag = self.www / "maintenance.flag"
        self.error_log = self.log_dir / "error.log"
        # The app's credentials: a MySQL option file, or a libpq password file on PostgreSQL.
        self.option_file = self.base / ("db.pgpass" if engine == "postgresql" else "db.cnf")
        self.supervisor_conf = self.base / "supervisord.conf"
        self.socket = self.base / "supervisor.sock"
        self.state_file = self.base / "stack.json"
        self.db_port, self.db_name = db_port, db_name
        self.db_user, self.db_password = db_user or APP_USER, db_password or APP_PASSWORD
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.shas = {}
        self.process = None

    # -- building --------------------------------------------------------------
    def build(self):
        self.base.mkdir(parents=True, exist_ok=True)
        for d in (self.log_dir, self.www):
            d.mkdir(exist_ok=True)
        self.shas = build_origin(self.base)
        # A file:// URL, as the git module writes it anyway on its first run.
        git("clone", "-q", "file://%s" % self.origin, str(self.app_dir))
        git("reset", "-q", "--hard", self.shas["v1"], cwd=self.app_dir)
        make_venv(self.venv)
        if self.engine == "postgresql":
            escaped = self.db_password.replace("\\", "\\\\").replace(":", "\\:")
            self.option_file.write_text("127.0.0.1:%d:%s:%s:%s\n" % (self.db_port, self.db_name, self.db_user, escaped))
        else:
            self.option_file.write_text("[client]\nuser=%s\npassword=%s\nhost=127.0.0.1\nport=%d\n" % (self.db_user, self.db_password, self.db_port))
        self.option_file.chmod(0o600)
        self.error_log.touch()
        self._write_supervisor_conf()
        self.state_file.write_text(json.dumps({"port": self.port, "shas": self.shas, "db_port": self.db_port, "db_name": self.db_name, "engine": self.engine}))
        return self

    @property
    def environment(self):
        """What the app reads from its environment (no secret: the option or password file holds it)."""
        common = {
            "DJANGO_SETTINGS_MODULE": "quizsite.settings",
            "QUIZSITE_DB_NAME": self.db_name,
            "QUIZSITE_ERROR_LOG": str(self.error_log),
            "QUIZSITE_MAINTENANCE_FLAG": str(self.flag),
        }
        if self.engine == "postgresql":
            return dict(
                common,
                QUIZSITE_DB_ENGINE="postgresql",
                QUIZSITE_DB_HOST="127.0.0.1",
                QUIZSITE_DB_PORT=str(self.db_port),
                QUIZSITE_DB_USER=self.db_user,
                QUIZSITE_DB_PASSFILE=str(self.option_file),
            )
        return dict(common, QUIZSITE_DB_OPTION_FILE=str(self.option_file))

    def _write_supervisor_conf(self):
        env = ",".join('%s="%s"' % item for item in self.environment.items())
        # --preload: a release that cannot even import fails at start, where supervisor sees it.
        gunicorn = "%s -m gunicorn --bind 127.0.0.1:%d --workers 2 --timeout 30 --graceful-timeout 5 --preload --access-logfile %s %s" % (
            self.venv / "bin" / "python",
            self.port,
            self.log_dir / "access.log",
            "quizsite.wsgi:application",
        )
        self.supervisor_conf.write_text(
            "\n".join(
                [
                    "[unix_http_server]",
                    "file=%s" % self.socket,
                    "chmod=0700",
                    "[supervisord]",
                    "logfile=%s" % (self.log_dir / "supervisord.log"),
                    "pidfile=%s" % (self.base / "supervisord.pid"),
                    "childlogdir=%s" % self.log_dir,
                    "nodaemon=true",
                    "[rpcinterface:supervisor]",
                    "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
                    "[supervisorctl]",
                    "serverurl=unix://%s" % self.socket,
                    "[program:%s]" % PROGRAM,
                    "command=%s" % gunicorn,
                    "directory=%s" % self.app_dir,
                    "environment=%s" % env,
                    "autostart=true",
                    "autorestart=true",
                    "startsecs=1",
                    "stopasgroup=true",
                    "killasgroup=true",
                    "stdout_logfile=%s" % (self.log_dir / "gunicorn.log"),
                    "redirect_stderr=true",
                    "",
                ]
            )
        )

    # -- running ---------------------------------------------------------------
    def manage(self, *args, check=True):
        """Run manage.py of the checkout with the app's environment."""
        result = subprocess.run(
            [str(self.venv / "bin" / "python"), "manage.py", *args],
            cwd=self.app_dir,
            env=dict(os.environ, **self.environment),
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode:
            raise RuntimeError("manage.py %s failed: %s" % (" ".join(args), (result.stderr or result.stdout)[-3000:]))
        return result

    def start(self, timeout=90):
        supervisord = Path(sys.executable).parent / "supervisord"
        log = open(self.log_dir / "supervisord.out", "ab")
        # Own session: the tests stop it by its own pid only.
        self.process = subprocess.Popen([str(supervisord), "-c", str(self.supervisor_conf)], stdout=log, stderr=log, start_new_session=True)
        self.wait_healthy(timeout=timeout)
        return self

    def supervisorctl(self, *args, check=True):
        ctl = Path(sys.executable).parent / "supervisorctl"
        result = subprocess.run([str(ctl), "-c", str(self.supervisor_conf), *args], capture_output=True, text=True, check=False)
        if check and result.returncode:
            raise RuntimeError("supervisorctl %s failed: %s" % (" ".join(args), result.stdout + result.stderr))
        return result.stdout.strip()

    def pid(self):
        """The gunicorn master's pid (changes on every restart)."""
        return int(self.supervisorctl("pid", PROGRAM))

    def head(self):
        return git("rev-parse", "HEAD", cwd=self.app_dir)

    def get(self, path, headers=None):
        """(status, body) of a GET; never raises for HTTP errors."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def post_json(self, path, payload):
        request = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read().decode())
        except urllib.error.HTTPError as exc:
            text = exc.read().decode()
            try:
                return exc.code, json.loads(text or "{}")
            except ValueError:  # Django's own error page (a 500): HTML, not the view's JSON
                return exc.code, {"page": text[:2000]}

    def health(self):
        try:
            status, body = self.get("/health/")
        except OSError:
            return None, {}
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {}

    def wait_healthy(self, release=None, timeout=90):
        deadline = time.time() + timeout
        status, body = None, {}
        while time.time() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError("supervisord exited: %s" % self._tail("supervisord.out"))
            status, body = self.health()
            if status == 200 and (release is None or body.get("release") == release):
                return body
            time.sleep(0.3)
        raise RuntimeError("quizsite not healthy after %ss (last %s %s): %s" % (timeout, status, body, self._tail("gunicorn.log")))

    def _tail(self, name, chars=3000):
        try:
            return (self.log_dir / name).read_text(errors="replace")[-chars:]
        except OSError:
            return "(no %s)" % name

    def reset(self, release="v1"):
        """Back to `release` running, migrations to match, no flag, an empty error log."""
        sha = self.shas[release]
        if self.head() != sha:
            if release == "v1":
                # The later releases' migrations are unapplied with their own code, as a rollback does.
                self.manage("migrate", "--noinput", "analytics", "0001")
            git("checkout", "-q", "-f", "-B", "main", sha, cwd=self.app_dir)
            git("branch", "-q", "--set-upstream-to=origin/main", "main", cwd=self.app_dir)
        self.manage("migrate", "--noinput")
        self.flag.unlink(missing_ok=True)
        self.error_log.write_text("")
        status, body = self.health()
        if status != 200 or body.get("release") != sha:
            self.supervisorctl("restart", PROGRAM)
            self.wait_healthy(release=sha)
        return sha

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None

    # -- what the playbooks are given -------------------------------------------
    def ansible_vars(self):
        """The shared jsonmend_app_* inputs that describe this deployment."""
        return {
            "jsonmend_app_dir": str(self.app_dir),
            "jsonmend_app_venv": str(self.venv),
            "jsonmend_app_environment": self.environment,
            "jsonmend_app_process_manager": "supervisor",
            "jsonmend_app_program": PROGRAM,
            "jsonmend_app_supervisor_config": str(self.supervisor_conf),
            "jsonmend_app_url": self.url,
            "jsonmend_app_error_log": str(self.error_log),
            "jsonmend_maintenance_flag": str(self.flag),
            "maintenance_allowed_dirs": [str(self.www)],
            "deploy_supervisorctl": str(Path(sys.executable).parent / "supervisorctl"),
        }


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build and run quizsite under supervisord in BASE.")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("base")
    parser.add_argument("--db-port", type=int)
    parser.add_argument("--db-name")
    parser.add_argument("--db-engine", choices=["mysql", "postgresql"], default="mysql", help="the database quizsite runs on (default: mysql, i.e. MariaDB)")
    parser.add_argument("--port", type=int, help="port gunicorn listens on (default: a free one)")
    args = parser.parse_args(argv)
    base = Path(args.base)
    pidfile = base / "supervisord.pid"
    if args.action == "start" and _alive(pidfile):
        state = base / "stack.json"
        running = json.loads(state.read_text()).get("engine", "mysql") if state.exists() else "mysql"
        if running != args.db_engine:
            # Its environment and password file are for the other database: stop it first.
            print("quizsite already runs on %s, not %s: stop it first (make demo-app-stop)" % (running, args.db_engine), file=sys.stderr)
            return 1
        print("quizsite's supervisord already runs (pid %s); variables in %s" % (pidfile.read_text().strip(), base / "vars.json"))
        return 0
    if args.action == "stop":
        if pidfile.exists():
            pid = int(pidfile.read_text().strip())
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            for _ in range(150):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
        return 0
    if not args.db_port or not args.db_name:
        parser.error("start needs --db-port and --db-name")
    if (base / "stack.json").exists():
        # A stack built before and stopped (make demo-app-stop): rebuilt from scratch, on this
        # database engine, as a new demo; its checkout, venv and logs are the demo's own.
        print("rebuilding the stopped quizsite stack in %s" % base)
        shutil.rmtree(base)
    stack = AppStack(base, args.db_port, args.db_name, port=args.port, engine=args.db_engine)
    stack.build()
    stack.manage("migrate", "--noinput")
    stack.start()
    stack.process = None  # detached: outlives this command until `stop`
    (base / "vars.json").write_text(json.dumps(stack.ansible_vars(), indent=2))
    print("quizsite %s running at %s; playbook variables in %s" % (stack.shas["v1"][:10], stack.url, base / "vars.json"))
    return 0


def _alive(pidfile):
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(main())

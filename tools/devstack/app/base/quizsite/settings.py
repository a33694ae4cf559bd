# quizsite settings: everything site-specific comes from the environment, so the same
# checkout runs under supervisord, systemd or a test harness.
import os
import subprocess
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
ENV = os.environ.get

SECRET_KEY = ENV("QUIZSITE_SECRET_KEY", "quizsite-demo-only-not-secret")
DEBUG = ENV("QUIZSITE_DEBUG", "") == "1"
ALLOWED_HOSTS = ENV("QUIZSITE_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = ["analytics", "intelligence"]

MIDDLEWARE = [
    # First: while the flag file exists nothing else runs.
    "quizsite.middleware.MaintenanceModeMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "quizsite.urls"
WSGI_APPLICATION = "quizsite.wsgi.application"
USE_TZ = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The database: MariaDB/MySQL (default) or PostgreSQL (QUIZSITE_DB_ENGINE=postgresql). No password
# sits in the process environment: MariaDB reads a MySQL option file ([client] user, password, host,
# port), PostgreSQL a libpq password file; QUIZSITE_DB_* override single values.
ENGINE = ENV("QUIZSITE_DB_ENGINE", "mysql")
if ENGINE == "postgresql":
    # psycopg 3; `passfile` is handed to libpq as it is (a ~/.pgpass line per server).
    _db_options = {"passfile": ENV("QUIZSITE_DB_PASSFILE")} if ENV("QUIZSITE_DB_PASSFILE") else {}
elif ENGINE == "mysql":
    import pymysql

    # PyMySQL stands in for mysqlclient (no C compiler needed). It reports mysqlclient's
    # version_info (2.2.x), which satisfies Django 5.2's "mysqlclient 1.4.3 or newer" check.
    pymysql.install_as_MySQLdb()
    _db_options = {"charset": "utf8mb4"}
    if ENV("QUIZSITE_DB_OPTION_FILE"):
        _db_options["read_default_file"] = ENV("QUIZSITE_DB_OPTION_FILE")
else:
    raise RuntimeError("QUIZSITE_DB_ENGINE=%r: use mysql or postgresql" % ENGINE)
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.%s" % ENGINE,
        "NAME": ENV("QUIZSITE_DB_NAME", "quizsite"),
        "USER": ENV("QUIZSITE_DB_USER", ""),
        "PASSWORD": ENV("QUIZSITE_DB_PASSWORD", ""),
        "HOST": ENV("QUIZSITE_DB_HOST", ""),
        "PORT": ENV("QUIZSITE_DB_PORT", ""),
        "OPTIONS": _db_options,
        "CONN_MAX_AGE": 0,
    }
}

# The runbook's maintenance switch: `touch /var/www/maintenance.flag`.
MAINTENANCE_FLAG = ENV("QUIZSITE_MAINTENANCE_FLAG", "/var/www/maintenance.flag")
# Paths served even in maintenance (load balancers and deploy tools check health).
MAINTENANCE_EXEMPT_PATHS = ["/health/"]

# Which commit is running, for /health/ (deploy tools compare it with what they deployed).
try:
    RELEASE = subprocess.run(["git", "rev-parse", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True, check=True, timeout=10).stdout.strip()
except (OSError, subprocess.SubprocessError):
    RELEASE = "unknown"

# The runbook's error log: warnings (ValidationError) and errors with tracebacks.
ERROR_LOG = ENV("QUIZSITE_ERROR_LOG", "/var/log/django/error.log")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s pid=%(process)d: %(message)s"}},
    "handlers": {
        "error_log": {"class": "logging.FileHandler", "filename": ERROR_LOG, "formatter": "plain", "level": "WARNING"},
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "level": "INFO"},
    },
    "root": {"handlers": ["error_log", "console"], "level": "INFO"},
    "loggers": {"django": {"handlers": ["error_log", "console"], "level": "INFO", "propagate": False}},
}

# The real application stack the deploy, rollback and bad-input tests share: the app's database
# (the table as production has it), quizsite v1 built, migrated and started on it, and a cursor.
# One of each per test module. A module that needs something else overrides the fixture by name
# and says why (test_rollback_playbooks.py: a module-scoped cursor; test_bad_inputs.py: seeded rows).
import uuid

import pytest

from tools.devstack import seed
from tools.devstack.app_stack import AppStack
from tools.devstack.postgres_server import PostgresServer


@pytest.fixture(scope="module")
def app_db(mariadb):
    """The application's database for the module, with the empty table; dropped afterwards."""
    name = "app_" + uuid.uuid4().hex[:10]
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE `%s`" % name)
        cur.execute("USE `%s`" % name)
        seed.create_table(cur)
    yield name
    if mariadb.process is not None:
        with mariadb.admin() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS `%s`" % name)


@pytest.fixture(scope="module")
def stack(mariadb, app_db, tmp_path_factory):
    """quizsite v1 on app_db under its own supervisord, on a free port; stopped after the module."""
    app = AppStack(tmp_path_factory.mktemp("stack"), mariadb.port, app_db).build()
    app.manage("migrate", "--noinput")
    app.start()
    yield app
    app.stop()


@pytest.fixture
def db(mariadb, app_db):
    """An autocommit cursor as root inside app_db, for one test."""
    with mariadb.admin_cursor(app_db) as cur:
        yield cur


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A throwaway PostgreSQL cluster (initdb in its own directory, own port and socket), one per test module."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres")).start()
    yield server
    server.remove()

# The throwaway PostgreSQL of tools/devstack (issue 18's test instance): its own data directory,
# socket and port, the tool's role over TCP with a password or a .pgpass file, jsonb typed by the
# server, and a kill -9 it recovers from.
import os

import psycopg
import pytest

VALUES = ['{"a": 1}', "3.5", '"text"', "[1, 2]", "true", "null", '"{\\"question_id\\": 9}"']


def test_the_tool_connects_over_tcp_and_jsonb_types_every_value(postgres):
    database = postgres.create_database("typed")
    with postgres.connect(database) as conn:
        conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY, metadata jsonb)")
        for value in VALUES:
            conn.execute("INSERT INTO events (metadata) VALUES (%s::jsonb)", (value,))
        conn.execute("INSERT INTO events (metadata) VALUES (NULL)")
        rows = dict(conn.execute("SELECT COALESCE(jsonb_typeof(metadata), 'SQL NULL'), COUNT(*) FROM events GROUP BY 1").fetchall())
    assert rows == {"object": 1, "number": 1, "string": 2, "array": 1, "boolean": 1, "null": 1, "SQL NULL": 1}


def test_a_pgpass_file_holds_the_password(postgres, tmp_path):
    pgpass = postgres.write_pgpass(tmp_path / "pgpass")
    assert oct(pgpass.stat().st_mode & 0o777) == "0o600"
    env = dict(os.environ, PGPASSFILE=str(pgpass))
    old = os.environ.copy()
    os.environ.update(env)
    try:
        with psycopg.connect(host="127.0.0.1", port=postgres.port, user="jsonmend", dbname="postgres") as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == "jsonmend"
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_a_wrong_password_is_refused(postgres):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        postgres.connect(password="wrong")


def test_kill_9_then_start_recovers_committed_rows(postgres):
    database = postgres.create_database("crashy")
    with postgres.connect(database) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v jsonb NOT NULL)")
        conn.execute("INSERT INTO t SELECT g, jsonb_build_object('n', g) FROM generate_series(1, 1000) g")
    postgres.kill()
    postgres.start()
    with postgres.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*), SUM((v->>'n')::int) FROM t").fetchone() == (1000, 500500)

# A demo fleet: a few throwaway MariaDB servers holding many target databases of different sizes
# and corruption levels, and the inventory host_vars that make each database one host of group
# jsonmend_targets (inventories/fleet-example). `python -m tools.devstack.fleet start|stop [BASE] [INVENTORY]`.
# A server whose name starts with "pg" is a throwaway PostgreSQL cluster instead (a mixed fleet, for the tests).
from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path

from tools.devstack import pg_seed, seed
from tools.devstack.mariadb_server import TOOL_USER, MariaDBServer
from tools.devstack.mariadb_server import main as server_main

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BASE = ROOT / ".demo" / "fleet"
DEFAULT_INVENTORY = ROOT / "inventories" / "fleet-example"

# name, server, rows, corrupt percent, table (None: the runbook's analytics_activityevent with its CHECK).
# tenant07 has another shape: a raw-SQL table without the json_valid CHECK, holding invalid text too.
TARGETS = (
    ("tenant01", "db1", 3000, 0.0, None),
    ("tenant02", "db1", 1500, 1.0, None),
    ("tenant03", "db1", 4000, 5.0, None),
    ("tenant04", "db1", 800, 2.0, None),
    ("tenant05", "db2", 2500, 0.5, None),
    ("tenant06", "db2", 1200, 10.0, None),
    ("tenant07", "db2", 2000, 3.0, "audit_event"),
    ("tenant08", "db2", 600, 0.0, None),
    ("tenant09", "db3", 3500, 1.5, None),
    ("tenant10", "db3", 1000, 4.0, None),
    ("tenant11", "db3", 2200, 0.2, None),
    ("tenant12", "db3", 900, 8.0, None),
)


def servers_of(targets=TARGETS) -> list[str]:
    return sorted({t[1] for t in targets})


def is_postgres(server_name) -> bool:
    return server_name.startswith("pg")


def _start_postgres(server_dir, port):
    from tools.devstack.postgres_server import PostgresServer  # psycopg only for a fleet that has PostgreSQL

    server = PostgresServer(server_dir, port=port).start()
    # The targets' password comes from a password file, as an operator's ~/.pgpass: never an extra var.
    server.write_pgpass(server_dir / "pgpass")
    return server


def _seed_postgres(server, database, rows, corrupt, salt):
    from psycopg import sql

    with server.admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    server.create_database(database)
    with server.connect(database) as conn:
        pg_seed.create_table(conn)
        pg_seed.seed(conn, rows, corrupt_percent=corrupt, salt=salt)
    return [
        "jsonmend_db_host: 127.0.0.1",
        "jsonmend_db_port: %d" % server.port,
        "jsonmend_db_user: %s" % TOOL_USER,
        "jsonmend_db_passfile: %s" % (server.base / "pgpass"),
        "jsonmend_db_config_file: ''",
        "jsonmend_db_name: %s" % database,
        "jsonmend_db_dialect: postgresql",
    ]


def start(base=DEFAULT_BASE, inventory=DEFAULT_INVENTORY, targets=TARGETS, detach=True) -> dict:
    """Start one server per name in `targets`, seed each target database, write
    <inventory>/host_vars/<target>.yml. Returns {server name: MariaDBServer}."""
    base, inventory = Path(base).resolve(), Path(inventory)
    servers = {}
    for name in servers_of(targets):
        server_dir = base / name
        server_dir.mkdir(parents=True, exist_ok=True)
        port_file = server_dir / "port"
        port = int(port_file.read_text()) if port_file.exists() else None
        if is_postgres(name):
            if detach:
                raise ValueError("PostgreSQL fleet servers are for tests (running()), not the detached demo")
            servers[name] = _start_postgres(server_dir, port)
            port_file.write_text(str(servers[name].port))
            continue
        # Small servers: a dozen databases of a few thousand rows need no buffer pool or binlog.
        server = MariaDBServer(server_dir, port=port, binlog=False, buffer_pool="32M")
        server.start()
        port_file.write_text(str(server.port))
        server.write_client_option_file(server_dir / "client.cnf")
        if detach:
            server.process = None  # outlives this command until `stop`
        servers[name] = server
    (inventory / "host_vars").mkdir(parents=True, exist_ok=True)
    for index, (target, server_name, rows, corrupt, table) in enumerate(targets, start=1):
        server = servers[server_name]
        database = "jsonmend_%s" % target
        header = ["---", "# Written by python -m tools.devstack.fleet start: one target database of the demo fleet."]
        if is_postgres(server_name):
            if table:
                raise ValueError("%s: the PostgreSQL targets hold the runbook's table only" % target)
            lines = header + ["jsonmend_fleet_server: %s" % server_name] + _seed_postgres(server, database, rows, corrupt, index)
            (inventory / "host_vars" / ("%s.yml" % target)).write_text("\n".join(lines) + "\n")
            continue
        with server.admin() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS `%s`" % database)
            cur.execute("CREATE DATABASE `%s`" % database)
            cur.execute("USE `%s`" % database)
            seed.create_table(cur, table or "analytics_activityevent", check=table is None)
            seed.seed(cur, rows, corrupt_percent=corrupt, table=table or "analytics_activityevent", invalid=table is not None, salt=index)
        lines = header + [
            "jsonmend_fleet_server: %s" % server_name,
            "jsonmend_db_config_file: %s" % (base / server_name / "client.cnf"),
            "jsonmend_db_name: %s" % database,
            "jsonmend_db_dialect: mariadb",
        ]
        if table:
            lines.append("jsonmend_table: %s" % table)
        (inventory / "host_vars" / ("%s.yml" % target)).write_text("\n".join(lines) + "\n")
    return servers


def write_inventory(path, targets=TARGETS, host_vars_from=None, canary=()) -> Path:
    """A fleet inventory at `path`: the example's group_vars, group jsonmend_targets holding `targets`
    (and jsonmend_canary holding `canary`), and the host_vars of an earlier `start` when given."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(DEFAULT_INVENTORY / "group_vars", path / "group_vars", dirs_exist_ok=True)
    if host_vars_from is not None:
        shutil.copytree(Path(host_vars_from) / "host_vars", path / "host_vars", dirs_exist_ok=True)
    groups = {"jsonmend_targets": {"hosts": {t[0]: None for t in targets}}}
    if canary:
        groups["jsonmend_canary"] = {"hosts": dict.fromkeys(canary)}
    (path / "hosts.yml").write_text(json.dumps({"all": {"children": groups}}))
    return path


@contextlib.contextmanager
def running(base, targets=TARGETS):
    """A fleet of `targets` on servers under `base` and its inventory (base/inventory), stopped after:
    yields (inventory, {server name: MariaDBServer})."""
    inventory = write_inventory(Path(base) / "inventory", targets)
    servers = start(Path(base) / "servers", inventory, targets=targets, detach=False)
    try:
        yield inventory, servers
    finally:
        for server in servers.values():
            server.stop()
            if hasattr(server, "remove"):
                server.remove()  # a PostgreSQL cluster's own directory (outside base when run as root)


def stop(base=DEFAULT_BASE, targets=TARGETS) -> None:
    for name in servers_of(targets):
        if (Path(base) / name).exists():
            server_main(["stop", str(Path(base) / name)])


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("start", "stop"):
        print("usage: python -m tools.devstack.fleet start|stop [BASE] [INVENTORY]", file=sys.stderr)
        return 2
    base = Path(argv[1]) if len(argv) > 1 else DEFAULT_BASE
    if argv[0] == "stop":
        stop(base)
        print("demo fleet stopped")
        return 0
    inventory = Path(argv[2]) if len(argv) > 2 else DEFAULT_INVENTORY
    servers = start(base, inventory)
    for name, server in servers.items():
        print("%s: MariaDB on 127.0.0.1:%d" % (name, server.port))
    print("%d target databases; inventory host_vars in %s" % (len(TARGETS), inventory / "host_vars"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

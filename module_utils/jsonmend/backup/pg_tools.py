# PostgreSQL's command-line tools (pg_dump, pg_restore): find them, check their major version
# against the server's, hand them the module's connection as a conninfo string plus a private
# 0600 password file (never the password on argv), and run them. The MySQL tools are clitools.py.
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.backup import clitools
from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ansible.module_utils.jsonmend.db.connection import Database

# Debian keeps every installed major under /usr/lib/postgresql/<major>/bin; /usr/bin/pg_dump is a
# wrapper that may pick another major than the one asked for --version, so the versioned tools win.
VERSIONED_DIRS = "/usr/lib/postgresql/*/bin"
VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)")
STDERR_LIMIT = clitools.STDERR_LIMIT
# Variables that would let the environment choose another server, user or password than the
# module's connection: the tools get the connection through --dbname and PGPASSFILE only.
CLEARED_ENV = ("PGPASSWORD", "PGSERVICE", "PGSERVICEFILE", "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSFILE")


# -- finding the tools and checking their version ----------------------------------------
def find_pg_tool(name: str, preferred: str | None = None) -> str:
    """Absolute path of pg_dump or pg_restore: `preferred` when given, else the newest installed major's, else PATH's."""
    if preferred:
        return clitools.find_tool((), preferred)
    candidates = sorted(glob.glob(os.path.join(VERSIONED_DIRS, name)), key=_dir_major, reverse=True)
    for path in candidates + [shutil.which(name) or ""]:
        if path and os.access(path, os.X_OK):
            return path
    raise JsonmendError("%s was not found on the host that runs the backup: install the PostgreSQL client package (postgresql-client)" % name)


def _dir_major(path: str) -> int:
    found = re.search(r"/postgresql/(\d+)/bin/", path)
    return int(found.group(1)) if found else 0


def tool_major(version_line: str | None) -> int | None:
    """13 from 'pg_dump (PostgreSQL) 13.4 (Debian 13.4-1)'; None when unreadable."""
    found = VERSION_RE.search(version_line or "")
    return int(found.group(1)) if found else None


def check_tool_major(tool: str, version_line: str | None, server_major: int) -> int:
    """The tool's major version; refuse a tool older than the server (pg_dump cannot read a newer
    server's catalog, pg_restore cannot read what a newer pg_dump wrote)."""
    major = tool_major(version_line)
    if major is None:
        raise JsonmendError(
            "could not read the PostgreSQL major version of %s from %r: point dump_binary/client_binary at pg_dump/pg_restore" % (tool, version_line)
        )
    if server_major and major < server_major:
        raise JsonmendError(
            "%s is PostgreSQL %d's, older than the server (PostgreSQL %d): it cannot dump or restore this server's"
            " databases. Install the PostgreSQL %d client tools (postgresql-client-%d) or newer, or point"
            " dump_binary/client_binary at them; nothing was written" % (tool, major, server_major, server_major, server_major)
        )
    return major


class PgTools:
    """pg_dump and pg_restore with their versions, both checked against the server's major."""

    def __init__(self, server_major: int, dump_binary: str | None = None, client_binary: str | None = None) -> None:
        self.dump = find_pg_tool("pg_dump", dump_binary)
        self.dump_version = clitools.tool_version(self.dump)
        self.dump_major = check_tool_major(self.dump, self.dump_version, server_major)
        self.client = find_pg_tool("pg_restore", client_binary)
        self.client_version = clitools.tool_version(self.client)
        self.client_major = check_tool_major(self.client, self.client_version, server_major)
        self.flavour = "postgresql"

    def describe(self) -> dict[str, dict[str, Any]]:
        return dict(
            dump=dict(path=self.dump, version=self.dump_version, flavour=self.flavour, major=self.dump_major),
            client=dict(path=self.client, version=self.client_version, major=self.client_major),
        )


# -- credentials -----------------------------------------------------------------------
def conninfo_value(value: object) -> str:
    """A libpq conninfo value, single-quoted with \\ and ' escaped."""
    return "'%s'" % str(value).replace("\\", "\\\\").replace("'", "\\'")


def conninfo(db: Database, params: Mapping[str, Any], dbname: str | None = None) -> str:
    """Where the module's own connection went (host or socket directory, port, user, database, TLS),
    as a conninfo string for --dbname: never a password."""
    info = db.conn.info
    parts = [("host", info.host), ("port", info.port), ("user", info.user), ("dbname", dbname or info.dbname), ("application_name", "jsonmend")]
    if params.get("ca_cert"):
        parts += [("sslrootcert", params["ca_cert"]), ("sslmode", "verify-full" if params.get("check_hostname") else "verify-ca")]
    if params.get("client_cert"):
        parts.append(("sslcert", params["client_cert"]))
    if params.get("client_key"):
        parts.append(("sslkey", params["client_key"]))
    return " ".join("%s=%s" % (key, conninfo_value(value)) for key, value in parts if value not in (None, ""))


def passfile_line(password: str) -> str:
    """One ~/.pgpass line matching any server, database and user (the file serves one tool run)."""
    if "\n" in password or "\r" in password:
        raise JsonmendError("a password holding a line break cannot be handed to pg_dump/pg_restore through a password file")
    return "*:*:*:*:%s\n" % password.replace("\\", "\\\\").replace(":", "\\:")


class PassFile:
    """The password the module's connection used, in a 0600 file in a private 0700 directory,
    removed on exit; the tools find it through PGPASSFILE (env), so it never reaches argv."""

    def __init__(self, password: str | None) -> None:
        self.password = password or ""
        self.dir = None
        self.path = None

    def __enter__(self) -> PassFile:
        self.dir = tempfile.mkdtemp(prefix="jsonmend-")
        os.chmod(self.dir, 0o700)
        self.path = os.path.join(self.dir, "pgpass")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            if self.password:
                handle.write(passfile_line(self.password))
        return self

    def __exit__(self, *exc: object) -> bool:
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The child's environment: ours without the libpq variables that could redirect it, plus PGPASSFILE."""
        env = dict(os.environ if base is None else base)
        for name in CLEARED_ENV:
            env.pop(name, None)
        env["PGPASSFILE"] = self.path
        return env


def connection_password(db: Database) -> str:
    """The password libpq used for `db` (given, from PGPASSWORD or from a password file), or ''."""
    return db.conn.info.password or ""


# -- commands -----------------------------------------------------------------------------
def table_pattern(qualified: str) -> str:
    """pg_dump's --table pattern for exactly one schema.table: each part double-quoted, so no
    character of the name is a wildcard and the case is kept."""
    schema, _dot, name = qualified.rpartition(".")
    return "%s.%s" % tuple('"%s"' % part.replace('"', '""') for part in (schema or "public", name))


def dump_command(
    tool: str, connection: str, path: str, scope: str, tables: Iterable[str], snapshot: str | None, compress_level: int = 1, lock_wait_timeout: int = 5
) -> list[str]:
    """argv of pg_dump in its custom format, reading `snapshot` (the one our checksums read)."""
    cmd = [
        tool,
        "--dbname=%s" % connection,
        "--format=custom",  # compressed, restorable object by object, read by pg_restore
        "--file=%s" % path,
        "--compress=%d" % compress_level,
        "--no-password",  # never prompt: the password file or nothing
        "--lock-wait-timeout=%ds" % max(1, int(lock_wait_timeout)),
    ]
    if snapshot:
        cmd.append("--snapshot=%s" % snapshot)
    if scope == "table":
        cmd += ["--table=%s" % table_pattern(t) for t in tables]
    return cmd


def restore_command(tool: str, connection: str, path: str, scratch: bool = False, use_list: str | None = None) -> list[str]:
    """argv of pg_restore loading a custom dump in one transaction: all of it or nothing.

    In place (`scratch` False) --clean --if-exists drops what the dump recreates, owners and
    grants included; into a scratch database owners and grants are left out (they prove nothing
    about the rows, and the restoring user may not be allowed to set them). `use_list`: a table of
    contents (scratch_list) that says which entries to load.
    """
    cmd = [tool, "--dbname=%s" % connection, "--single-transaction", "--exit-on-error", "--no-password"]
    cmd += ["--no-owner", "--no-privileges"] if scratch else ["--clean", "--if-exists"]
    if use_list:
        cmd.append("--use-list=%s" % use_list)
    return cmd + [path]


# What a table-scope dump holds that names an object it does not hold: a trigger names its function
# (pg_dump --table dumps no function), a foreign key the table it references. Loaded into the empty
# scratch database, either fails the whole single-transaction restore (a table with an audit trigger,
# jsonmend's own observe guard, a Django ForeignKey), though neither changes a row the verification
# compares: pg_restore creates them after the data. The scratch restore leaves them out; a restore in
# place keeps them (the objects they name are there).
SCRATCH_LEFT_OUT = ("TRIGGER", "FK CONSTRAINT")


def scratch_list(tool: str, path: str, list_path: str) -> list[str]:
    """Write to `list_path` the table of contents of the archive at `path` for a scratch restore of a
    table-scope dump: every entry, SCRATCH_LEFT_OUT's commented out. Returns those entries
    ("TRIGGER public events audit_events"), in the archive's order."""
    listing = run_tool([tool, "--list", path], None, "reading the table of contents of %s" % path)["stdout"]
    lines, left_out = [], []
    for line in listing.splitlines():
        # An entry: "<dump id>; <catalog oid> <object oid> <type> <schema> <name> <owner>".
        _dump_id, sep, rest = line.partition("; ")
        fields = rest.split(" ", 2)
        if sep and not line.startswith(";") and len(fields) == 3 and any(fields[2].startswith(kind + " ") for kind in SCRATCH_LEFT_OUT):
            left_out.append(fields[2].rsplit(" ", 1)[0])
            line = ";" + line
        lines.append(line)
    with open(list_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return left_out


def run_tool(cmd: Sequence[str], password: str | None, what: str, timeout: float | None = None) -> dict[str, Any]:
    """Run a tool with the password in a private PGPASSFILE; raise JsonmendError with its stderr when it fails."""
    with PassFile(password) as passfile:
        try:
            done = subprocess.run(list(cmd), env=passfile.env(), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise JsonmendError("%s could not run: %s" % (what, exc)) from None
    stderr = done.stderr.decode("utf-8", "replace").strip()[-STDERR_LIMIT:]
    if done.returncode != 0:
        raise JsonmendError("%s failed (%s exited with status %d): %s" % (what, os.path.basename(cmd[0]), done.returncode, stderr or "no message"))
    return dict(stdout=done.stdout.decode("utf-8", "replace"), stderr=stderr)


def archive_entries(tool: str, path: str) -> int:
    """How many entries the custom archive's table of contents lists (pg_restore --list reads it
    without a server); raises JsonmendError when the file is not a readable archive."""
    listing = run_tool([tool, "--list", path], None, "reading the table of contents of %s" % path)["stdout"]
    return sum(1 for line in listing.splitlines() if line and not line.startswith(";"))

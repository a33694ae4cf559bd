# The MySQL/MariaDB command-line tools (mariadb-dump/mysqldump, mariadb/mysql): find them,
# hand them credentials through a private option file, stream a dump into a gzip file and a
# gzip file into the client, and refuse a dump that did not finish.
from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import zlib
from typing import TYPE_CHECKING, Any, BinaryIO

from ansible.module_utils.jsonmend.db.errors import BackupDefect, JsonmendError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

CHUNK = 1 << 20
FOOTER = b"-- Dump completed"
# Lines the dump tool writes only after its START TRANSACTION WITH CONSISTENT SNAPSHOT: the
# header (server version, SET statements) comes before it, every object section after it.
SNAPSHOT_MARKER = re.compile(
    rb"\n-- (Table structure for table|Dumping data for table|Dumping routines|Dumping events"
    rb"|Temporary table structure for view|Final view structure|Dump completed)"
)
MARKER_CARRY = 64
EVENTS_SECTION = b"\n-- Dumping events for database "
EVENT_STATUS = re.compile(rb"( ON COMPLETION (?:NOT )?PRESERVE )(ENABLE|DISABLE ON SLAVE)( DO )")
STDERR_LIMIT = 4000
TOOL_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/local/mysql/bin", "/opt/mysql/bin")


# -- finding the tools ---------------------------------------------------------------
def find_tool(names: Sequence[str], preferred: str | None = None) -> str:
    """Absolute path of the first of `names` on PATH (or the usual dirs); `preferred` wins when given."""
    if preferred:
        path = shutil.which(preferred)
        if not path:
            raise JsonmendError("%s was not found or is not executable on the host that runs the backup" % preferred)
        return path
    for name in names:
        path = shutil.which(name) or next((os.path.join(d, name) for d in TOOL_DIRS if os.access(os.path.join(d, name), os.X_OK)), None)
        if path:
            return path
    raise JsonmendError("none of %s was found on the host that runs the backup: install the MariaDB or MySQL client package" % ", ".join(names))


def tool_version(path: str) -> str:
    """The tool's own --version line."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JsonmendError("could not run %s --version: %s" % (path, exc)) from None
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else path


def tool_flavour(version_line: str | None) -> str:
    """'mariadb' for MariaDB's tools (mysqldump is often a link to mariadb-dump), else 'mysql'."""
    return "mariadb" if "mariadb" in (version_line or "").lower() else "mysql"


def dump_tool_names(server_flavour: str) -> tuple[str, str]:
    """Tool names to try, best first, for a server flavour: the matching vendor's tool."""
    return ("mariadb-dump", "mysqldump") if server_flavour == "mariadb" else ("mysqldump", "mariadb-dump")


def client_tool_for(dump_path: str, flavour: str) -> str:
    """The client that matches a dump tool: same directory, same vendor (it must understand the
    dump's first line: newer mariadb-dump writes a sandbox-mode command older clients reject)."""
    names = ("mariadb", "mysql") if flavour == "mariadb" else ("mysql", "mariadb")
    folder = os.path.dirname(os.path.realpath(dump_path))
    for name in names:
        for base in (os.path.dirname(dump_path), folder):
            candidate = os.path.join(base, name)
            if os.access(candidate, os.X_OK):
                return candidate
    return find_tool(names)


# -- credentials --------------------------------------------------------------------
def option_value(value: object) -> str:
    """Quote a value for a MySQL option file ([client] key="value"), escaping \\ and quotes."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise JsonmendError("option values cannot contain line breaks")
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def connection_options(conn: Any, params: Mapping[str, Any]) -> list[tuple[str, str | int | None]]:
    """[client] options that reach the server exactly as the module's own connection did.

    Taken from the open PyMySQL connection, which has already merged the module's parameters
    with the operator's option file, so the dump tool never sees a different server or user.
    """
    password = conn.password.decode("latin1") if isinstance(conn.password, bytes) else (conn.password or "")
    user = conn.user.decode("utf-8") if isinstance(conn.user, bytes) else conn.user
    options = [("user", user)]
    if password:
        options.append(("password", password))
    if conn.unix_socket:
        options += [("socket", conn.unix_socket), ("protocol", "SOCKET")]
    else:
        options += [("host", conn.host), ("port", conn.port), ("protocol", "TCP")]
    for key, name in (("ca_cert", "ssl-ca"), ("client_cert", "ssl-cert"), ("client_key", "ssl-key")):
        if params.get(key):
            options.append((name, params[key]))
    if params.get("ca_cert") and params.get("check_hostname"):
        options.append(("ssl-verify-server-cert", None))
    return options


class OptionFile:
    """A [client] option file in a private 0700 directory, mode 0600, removed on exit.

    The tools read it with --defaults-file, so credentials never reach argv (visible to every
    user through ps) or the environment, and no other option file can override them.
    """

    def __init__(self, options: Iterable[tuple[str, str | int | None]], groups: Mapping[str, Sequence[tuple[str, str | int | None]]] | None = None) -> None:
        self.options = list(options)
        # Options only some tools accept (init-command is the client's), by group name.
        self.groups = dict(groups or {})
        self.dir = None
        self.path = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="jsonmend-")
        os.chmod(self.dir, 0o700)
        self.path = os.path.join(self.dir, "client.cnf")
        lines = []
        for group, options in [("client", self.options)] + sorted(self.groups.items()):
            lines.append("[%s]" % group)
            for key, value in options:
                lines.append(key if value is None else "%s=%s" % (key, option_value(value)))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        return self

    def __exit__(self, *exc):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    @property
    def arg(self) -> str:
        return "--defaults-file=%s" % self.path


# -- commands -------------------------------------------------------------------------
def dump_command(tool: str, option_file: OptionFile, database: str, tables: Iterable[str], scope: str, tool_flavour_name: str) -> list[str]:
    """argv of a consistent online dump: no credentials, flags explained in docs/BACKUP.md."""
    cmd = [
        tool,
        option_file.arg,
        "--single-transaction",  # InnoDB snapshot: no locks held while the rows stream
        "--quick",  # row by row, never the whole table in the tool's memory
        "--hex-blob",  # binary values survive any client character set
        "--skip-lock-tables",
        "--no-tablespaces",  # needs no PROCESS privilege
        "--order-by-primary",  # restores load in key order, dumps of equal tables are equal
        "--triggers",
        "--default-character-set=utf8mb4",
        "--max-allowed-packet=1G",
        "--tz-utc",
    ]
    if tool_flavour_name == "mariadb":
        cmd.append("--add-drop-trigger")
    else:
        # A GTID_PURGED statement makes the dump fail to load on the server it came from.
        cmd.append("--set-gtid-purged=OFF")
    if scope == "database":
        cmd += ["--routines", "--events"]
        cmd.append(database)
    else:
        cmd += ["--skip-routines", "--skip-events", database]
        cmd += list(tables)
    return cmd


def client_command(tool: str, option_file: OptionFile, database: str) -> list[str]:
    """argv of the client that loads a dump into `database`."""
    return [tool, option_file.arg, "--database=%s" % database, "--max-allowed-packet=1G", "--default-character-set=utf8mb4", "--batch"]


def restore_init_command(skip_binlog: bool = False, server_flavour: str = "mariadb") -> str | None:
    """SET statement the loading session runs first, or None when it needs none.

    check_constraint_checks=0 (MariaDB only): rows whose CHECK (json_valid(...)) was bypassed
    are the very rows this tool exists for, and a plain restore stops at the first of them.
    MySQL has no such variable (SET would fail and the load with it): its CHECK constraints
    cannot be bypassed, so no stored row violates one, and its native JSON holds valid JSON only.
    """
    settings = []
    if server_flavour == "mariadb":
        settings.append("check_constraint_checks=0")
    if skip_binlog:
        settings.append("sql_log_bin=0")
    return "SET SESSION " + ", ".join(settings) if settings else None


def client_option_groups(skip_binlog: bool = False, server_flavour: str = "mariadb") -> dict[str, list[tuple[str, str]]]:
    """Option file groups only the client reads: its init-command, when the session needs one."""
    init = restore_init_command(skip_binlog, server_flavour)
    return dict(mysql=[("init-command", init)]) if init else {}


# -- dumping --------------------------------------------------------------------------
class _HashingWriter:
    """File-like sink that hashes and counts what it writes."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def _read_stderr(handle):
    handle.seek(0)
    text = handle.read().decode("utf-8", "replace").strip()
    return text[-STDERR_LIMIT:]


def run_dump(
    cmd: Sequence[str],
    path: str,
    compress_level: int = 1,
    on_snapshot: Callable[[], object] | None = None,
    snapshot_timeout: float = 120,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run the dump tool, gzip its output into `path` (created, never overwritten).

    `on_snapshot` is called once, as soon as the output shows the tool's snapshot is open (or
    the tool has exited). The file is kept only when the tool exits 0 and its output ends with
    the completion footer; otherwise it is removed and JsonmendError says why.
    Returns {sha256, size, uncompressed_size, first_line, stderr}.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    raw = os.fdopen(fd, "wb")
    sink = _HashingWriter(raw)
    errors = tempfile.TemporaryFile()
    proc = None
    ok = False
    state = dict(called=False, timed_out=False)

    def snapshot_open():
        if not state["called"]:
            state["called"] = True
            if on_snapshot:
                on_snapshot()

    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, close_fds=True)

        def give_up():
            state["timed_out"] = True
            proc.kill()

        watchdog = threading.Timer(snapshot_timeout, give_up)
        watchdog.daemon = True
        watchdog.start()
        head = b""
        carry = b""
        tail = b""
        total = 0
        with gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=compress_level, mtime=0) as gz:
            while True:
                chunk = proc.stdout.read1(CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if len(head) < 256:
                    head += chunk[:256]
                if not state["called"]:
                    if SNAPSHOT_MARKER.search(carry + chunk):
                        watchdog.cancel()
                        if timeout:
                            watchdog = threading.Timer(timeout, give_up)
                            watchdog.daemon = True
                            watchdog.start()
                        snapshot_open()
                    carry = (carry + chunk)[-MARKER_CARRY:]
                gz.write(chunk)
                tail = (tail + chunk)[-512:]
        returncode = proc.wait()
        watchdog.cancel()
        stderr = _read_stderr(errors)
        if state["timed_out"]:
            opened = state["called"]
            raise JsonmendError(
                "the dump tool was stopped: it did not %s within %ss (%s)"
                % ("finish" if opened else "open its snapshot", timeout if opened else snapshot_timeout, stderr or "no message")
            )
        if returncode != 0:
            raise JsonmendError("the dump tool exited with status %d: %s" % (returncode, stderr or "no message"))
        if not tail.rstrip().splitlines() or not tail.rstrip().splitlines()[-1].startswith(FOOTER):
            raise JsonmendError("the dump output does not end with its completion line (%r): the dump is incomplete" % FOOTER.decode())
        raw.flush()
        os.fsync(raw.fileno())
        ok = True
        return dict(
            sha256=sink.sha256.hexdigest(),
            size=sink.size,
            uncompressed_size=total,
            first_line=head.split(b"\n", 1)[0].decode("utf-8", "replace").strip(),
            stderr=stderr,
        )
    except OSError as exc:
        raise JsonmendError("writing the dump to %s failed: %s" % (path, exc)) from None
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        snapshot_open()
        raw.close()
        errors.close()
        if not ok:
            try:
                os.unlink(path)
            except OSError:
                pass


# -- loading --------------------------------------------------------------------------
class EventDisabler:
    """Stream filter: events created from the dump start DISABLED (for scratch schemas).

    An enabled event restored into a scratch schema could fire before the schema is dropped.
    Events come after all table data in a dump, so only that short tail is read line by line.
    """

    def __init__(self) -> None:
        self.carry = b""
        self.in_events = False

    def feed(self, chunk: bytes) -> bytes:
        buf = self.carry + chunk
        out = b""
        if not self.in_events:
            at = buf.find(EVENTS_SECTION)
            if at < 0:
                keep = len(EVENTS_SECTION)
                self.carry = buf[-keep:]
                return buf[:-keep]
            self.in_events = True
            out, buf = buf[:at], buf[at:]
        lines = buf.split(b"\n")
        self.carry = lines.pop()
        return out + b"".join(self._line(line) + b"\n" for line in lines)

    def _line(self, line):
        if b" EVENT `" in line:
            return EVENT_STATUS.sub(rb"\1DISABLE\3", line, count=1)
        return line

    def close(self) -> bytes:
        rest, self.carry = self.carry, b""
        return self._line(rest) if self.in_events else rest


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def load_dump(path: str, cmd: Sequence[str], disable_events: bool = False) -> dict[str, Any]:
    """Feed the gzip dump at `path` into the client `cmd`; raise JsonmendError on any failure.

    The completion footer is checked before the client's input is closed: a truncated or
    corrupt file kills the client instead of letting it finish on a statement boundary.
    Returns {uncompressed_size, first_line}.
    """
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors, close_fds=True)
    flt = EventDisabler() if disable_events else None
    tail = b""
    head = b""
    total = 0
    try:
        try:
            with gzip.open(path, "rb") as gz:
                while True:
                    chunk = gz.read(CHUNK)
                    if not chunk:
                        break
                    total += len(chunk)
                    if len(head) < 256:
                        head += chunk[:256]
                    tail = (tail + chunk)[-512:]
                    proc.stdin.write(flt.feed(chunk) if flt else chunk)
                if flt:
                    proc.stdin.write(flt.close())
        except BrokenPipeError:
            returncode = proc.wait()
            raise JsonmendError("the client stopped loading the dump (exit status %s): %s" % (returncode, _read_stderr(errors) or "no message")) from None
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            proc.kill()
            proc.wait()
            raise BackupDefect("the dump file %s is damaged: %s (after %d bytes of SQL)" % (path, _gzip_reason(exc), total)) from None
        except OSError as exc:
            proc.kill()
            proc.wait()
            raise JsonmendError("could not read the dump file %s: %s" % (path, exc)) from None
        lines = tail.rstrip().splitlines()
        if not lines or not lines[-1].startswith(FOOTER):
            proc.kill()
            proc.wait()
            raise BackupDefect("the dump %s does not end with its completion line (%r): it is truncated or incomplete" % (path, FOOTER.decode()))
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the exit status below says why the client stopped
        returncode = proc.wait()
        if returncode != 0:
            raise JsonmendError("the client failed to load the dump (exit status %d): %s" % (returncode, _read_stderr(errors) or "no message"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        errors.close()
    return dict(uncompressed_size=total, first_line=head.split(b"\n", 1)[0].decode("utf-8", "replace").strip())


def _gzip_reason(exc):
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, EOFError):
        return "it ends before the end of its compressed data: truncated"
    if "CRC" in text or "length" in text.lower():
        return "its content does not match its own gzip checksum: altered (%s)" % text
    return text

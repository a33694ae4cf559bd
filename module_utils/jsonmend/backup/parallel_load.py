# Load a mariadb-dump/mysqldump file over several client sessions at once: a restore spends its time
# in the server executing INSERTs, one core per session, so N sessions load the rows of a table
# about N times as fast while cores are free. Everything that is not table data (DDL, triggers,
# events, SET) still runs in order, in one session at a time.
from __future__ import annotations

import gzip
import queue
import subprocess
import tempfile
import threading
import zlib
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.backup import clitools
from ansible.module_utils.jsonmend.db.errors import BackupDefect, JsonmendError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from ansible.module_utils.jsonmend.db.connection import Database

INSERT = b"INSERT INTO "
SERIAL, ROWS = "serial", "rows"
BLOCK_START, BLOCK_END = b"DELIMITER ;;\n", b"\nDELIMITER ;\n"
# Statements queued ahead of the sessions: memory stays a few statements (about 1 MB each) deep.
QUEUE_DEPTH = 4
STREAMS_CAP = 4


def plan_streams(db: Database, requested: int) -> int:
    """Sessions for a load: the operator's number, else half the server's CPUs, at least 2 and at most
    STREAMS_CAP (the scan's rule: a load runs on a live server, whose application keeps half the cores)."""
    if requested and requested > 0:
        return int(requested)
    cur = db.cursor()
    try:
        cpus = db.dialect.server_cpus(cur)
    finally:
        cur.close()
    return max(2, min(STREAMS_CAP, (cpus or 4) // 2))


def split_dump(chunks: Iterable[bytes]) -> Iterator[tuple[str, bytes]]:
    """(kind, text) pieces of a dump read in `chunks`, in order: SERIAL runs of everything but table
    data, and one ROWS piece per INSERT statement.

    Both tools end every row line of an INSERT with "),", the last with ");" (mariadb-dump puts each
    row on a line of its own, mysqldump all rows on one line); a raw newline never occurs inside a
    value (it is written as \\n), so a statement ends exactly at the first ");" that ends a line.
    Raises BackupDefect when the text ends inside an INSERT.
    """
    buf = b""
    serial: list[bytes] = []
    in_rows = False
    searched = 0  # in a statement, where the search for its end goes on
    for chunk in chunks:
        buf += chunk
        while True:
            if in_rows:
                end = buf.find(b");\n", searched)
                if end < 0:
                    searched = max(0, len(buf) - 2)
                    break
                yield ROWS, buf[: end + 3]
                buf, in_rows, searched = buf[end + 3 :], False, 0
                continue
            # buf starts at the start of a line here. A trigger's or routine's body (between
            # DELIMITER ;; and DELIMITER ;) may hold a line starting INSERT INTO: never table data.
            at = _line_at(buf, INSERT)
            block = _line_at(buf, BLOCK_START)
            if block >= 0 and (at < 0 or block < at):
                close = buf.find(BLOCK_END, block)
                if close < 0:
                    break  # the block goes on in the next chunk
                serial.append(buf[: close + len(BLOCK_END)])
                buf = buf[close + len(BLOCK_END) :]
                continue
            if at < 0:
                if len(buf) < len(BLOCK_START):
                    break  # too short to tell
                cut = buf.rfind(b"\n") + 1  # keep the last, unfinished line: it may start an INSERT or a block
                if cut:
                    serial.append(buf[:cut])
                    buf = buf[cut:]
                break
            if at:
                serial.append(buf[:at])
                buf = buf[at:]
            if serial:
                yield SERIAL, b"".join(serial)
                serial = []
            in_rows = True
    if in_rows:
        raise BackupDefect("the dump ends inside an INSERT statement: it is truncated")
    if buf:
        serial.append(buf)
    if serial:
        yield SERIAL, b"".join(serial)


def _line_at(buf: bytes, text: bytes) -> int:
    """Where the first line of `buf` starting with `text` starts, or -1."""
    if buf.startswith(text):
        return 0
    at = buf.find(b"\n" + text)
    return at + 1 if at >= 0 else -1


def session_header(first_serial: bytes) -> bytes:
    """The dump's opening session settings (character set, time zone, unique and foreign key checks,
    sql_mode, and the @OLD_ values the closing lines restore), replayed at the start of every session."""
    header = []
    for line in first_serial.splitlines(keepends=True):
        if line.startswith(b"/*M!999999") or (line.startswith((b"/*!", b"SET ")) and b"SET " in line):
            header.append(line)
        elif line.startswith((b"DROP ", b"CREATE ", b"USE ", b"/*!40000 DROP", b"/*!40000 ALTER")):
            break
    return b"".join(header)


class _Session:
    """One client process fed from its own thread."""

    def __init__(self, cmd: Sequence[str], header: bytes) -> None:
        self.errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.errors, close_fds=True)
        self.broken = False
        self.write(header)

    def write(self, data: bytes) -> bool:
        if self.broken or not data:
            return not self.broken
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError:
            self.broken = True
        return not self.broken

    def finish(self) -> str | None:
        """Close the input, wait; the client's error, or None when it loaded everything."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        code = self.proc.wait()
        message = None if code == 0 and not self.broken else ("exit status %s: %s" % (code, clitools._read_stderr(self.errors) or "no message"))
        self.errors.close()
        return message

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.errors.closed:
            self.errors.close()


def _run_serial(cmd: Sequence[str], header: bytes, text: bytes) -> None:
    session = _Session(cmd, header)
    try:
        session.write(text)
        problem = session.finish()
    finally:
        session.kill()
    if problem:
        raise JsonmendError("the client failed to load the dump (%s)" % problem)


class _RowsRun:
    """A run of INSERT statements spread over `streams` sessions; each free session takes the next one."""

    def __init__(self, cmd: Sequence[str], header: bytes, streams: int) -> None:
        self.work: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_DEPTH * streams)
        self.sessions = [_Session(cmd, header) for _session in range(streams)]
        self.failed = threading.Event()  # a session's client stopped: no point in feeding the others
        self.threads = [threading.Thread(target=self._feed, args=(s,), daemon=True) for s in self.sessions]
        for thread in self.threads:
            thread.start()

    def _feed(self, session: _Session) -> None:
        while True:
            statement = self.work.get()
            if statement is None:
                return
            if not session.write(statement):
                self.failed.set()

    def put(self, statement: bytes | None) -> None:
        # Never stuck: a session whose client died drops what it takes (_Session.write), so the queue drains.
        self.work.put(statement)

    def finish(self) -> None:
        for _thread in self.threads:
            self.put(None)
        for thread in self.threads:
            thread.join()
        problems = [p for p in (s.finish() for s in self.sessions) if p]
        if problems:
            raise JsonmendError("the client failed to load the dump (%s)" % "; ".join(problems))

    def abort(self) -> None:
        self.failed.set()
        for session in self.sessions:
            session.kill()
        while True:
            try:
                self.work.get_nowait()
            except queue.Empty:
                break
        # One stop per feeder (the queue was drained and holds more than that), then wait for them:
        # a feeder writing to its killed client gets a broken pipe and comes back for its stop.
        for _thread in self.threads:
            try:
                self.work.put_nowait(None)
            except queue.Full:
                break
        for thread in self.threads:
            thread.join(5)


# A session's INSERT chosen as a deadlock victim (1213) or out of lock wait (1205): the server rolled back
# that one statement; nothing is wrong with the dump. Concurrent multi-row INSERTs into one table can
# deadlock on InnoDB's secondary-index locks now and then.
RETRYABLE = ("ERROR 1213 ", "ERROR 1205 ")


def lock_conflict(message: str) -> bool:
    """Whether a failed parallel load stopped only on a lock conflict between its own sessions."""
    return any(code in message for code in RETRYABLE)


def load_dump(path: str, cmd: Sequence[str], streams: int = 1, disable_events: bool = False) -> dict[str, Any]:
    """Feed the gzip dump at `path` to `streams` client sessions; on a lock conflict between those
    sessions, load the whole dump again in one session (the dump drops and re-creates every table it
    holds, so the second load starts from the same point). See _load_dump for the rest."""
    try:
        return _load_dump(path, cmd, streams, disable_events)
    except BackupDefect:
        raise
    except JsonmendError as exc:
        if streams <= 1 or not lock_conflict(str(exc)):
            raise
    result = _load_dump(path, cmd, 1, disable_events)
    result.update(parallel_retried=True)
    return result


def _load_dump(path: str, cmd: Sequence[str], streams: int = 1, disable_events: bool = False) -> dict[str, Any]:
    """Feed the gzip dump at `path` to `streams` client sessions running `cmd`; raise JsonmendError
    on any failure (BackupDefect when the file is damaged or incomplete).

    One stream is clitools.load_dump. With more, each run of INSERT statements is shared out over
    that many sessions (each first replays the dump's session settings), and the text between runs
    (DROP/CREATE TABLE, triggers, views, routines, events) runs in one session after the rows
    before it are in. The file's completion line is checked before its closing part runs.
    Returns {uncompressed_size, first_line, streams, statements}.
    """
    if streams <= 1:
        return dict(clitools.load_dump(path, cmd, disable_events=disable_events), streams=1, statements=None)
    total = 0
    statements = 0
    header = b""
    first_line = ""
    pending = b""  # the last serial piece: the closing part waits for the completion line
    pending_header = b""  # the first piece holds the session settings itself
    run = None
    flt = clitools.EventDisabler() if disable_events else None

    def chunks():
        nonlocal total
        with gzip.open(path, "rb") as gz:
            for chunk in iter(lambda: gz.read(clitools.CHUNK), b""):
                total += len(chunk)
                yield chunk

    try:
        try:
            for kind, text in split_dump(chunks()):
                if kind == ROWS:
                    if pending:
                        _run_serial(cmd, pending_header, pending)
                        pending = b""
                    if run is None:
                        run = _RowsRun(cmd, header, streams)
                    run.put(text)
                    statements += 1
                    if run.failed.is_set():
                        run, failed = None, run
                        failed.finish()  # raises with the client's message
                    continue
                if run is not None:
                    run, finished = None, run
                    finished.finish()
                if pending:
                    _run_serial(cmd, pending_header, pending)
                pending_header = header
                if not first_line:
                    first_line = text.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
                    header = session_header(text)
                pending = (flt.feed(text) + flt.close()) if flt else text
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise BackupDefect("the dump file %s is damaged: %s (after %d bytes of SQL)" % (path, clitools._gzip_reason(exc), total)) from None
        except OSError as exc:
            raise JsonmendError("could not read the dump file %s: %s" % (path, exc)) from None
        if run is not None:
            run, finished = None, run
            finished.finish()
        closing = pending.rstrip().splitlines()
        if not closing or not closing[-1].startswith(clitools.FOOTER):
            raise BackupDefect("the dump %s does not end with its completion line (%r): it is truncated or incomplete" % (path, clitools.FOOTER.decode()))
        _run_serial(cmd, pending_header, pending)
    finally:
        if run is not None:
            run.abort()
    return dict(uncompressed_size=total, first_line=first_line, streams=streams, statements=statements)

# log_scan: only what was written since the offset, patterns counted, rotation noticed.
import log_scan
import pytest

LOG = "2026-11-26 10:00:00 WARNING old: TypeError from before the deploy\n"
NEW = (
    "2026-11-26 10:05:00 ERROR quizsite.commands: manage.py compute_content_difficulty failed\n"
    "Traceback (most recent call last):\n"
    "TypeError: the JSON object must be str, bytes or bytearray, not float\n"
    "2026-11-26 10:06:00 WARNING django.request: Service Unavailable: /\n"
)


def test_only_lines_since_the_offset_are_scanned(tmp_path, module_runner):
    path = tmp_path / "error.log"
    path.write_text(LOG + NEW)
    result = module_runner(log_scan, {"path": str(path), "offset": len(LOG.encode())})
    assert not result.failed
    assert result["lines_scanned"] == 4 and result["match_count"] == 2
    assert result["counts"] == {"ValidationError": 0, "JSONDecodeError": 0, "TypeError": 1, "Traceback": 1}
    assert [m["line"] for m in result["matches"]] == [2, 3]
    assert result["size"] == len((LOG + NEW).encode()) and not result["rotated"] and result["changed"] is False


def test_a_rotated_log_is_read_from_the_start(tmp_path, module_runner):
    path = tmp_path / "error.log"
    path.write_text(NEW)
    result = module_runner(log_scan, {"path": str(path), "offset": 10**6, "patterns": ["Traceback"]})
    assert result["rotated"] and result["offset"] == 0 and result["match_count"] == 1


def test_missing_file_and_bad_pattern(tmp_path, module_runner):
    assert module_runner(log_scan, {"path": str(tmp_path / "none.log")})["exists"] is False
    failed = module_runner(log_scan, {"path": str(tmp_path / "none.log"), "missing_ok": False})
    assert failed.failed and "does not exist" in failed["msg"]
    bad = module_runner(log_scan, {"path": str(tmp_path / "none.log"), "patterns": ["("]})
    assert bad.failed and "not a valid regular expression" in bad["msg"]


@pytest.mark.parametrize("text", ["caf\xe9 TypeError\n".encode("latin-1"), b"\x00\xffTypeError"])
def test_undecodable_bytes_do_not_stop_the_scan(tmp_path, module_runner, text):
    path = tmp_path / "error.log"
    path.write_bytes(text)
    assert module_runner(log_scan, {"path": str(path)})["counts"]["TypeError"] == 1


ENTRY_START = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"


def test_entries_carry_their_traceback(tmp_path, module_runner):
    """With entry_start, a pattern spans a whole entry: the TypeError three lines under the
    failing command is found, and counted once for that entry."""
    path = tmp_path / "error.log"
    path.write_text(LOG + NEW)
    args = {"path": str(path), "entry_start": ENTRY_START, "patterns": [r"manage\.py \S+.*? failed.*TypeError", "TypeError"]}
    result = module_runner(log_scan, args)
    assert result["lines_scanned"] == 5 and result["match_count"] == 2
    assert result["counts"] == {r"manage\.py \S+.*? failed.*TypeError": 1, "TypeError": 2}
    command = result["matches"][1]
    assert command["line"] == 2 and command["lines"] == 3 and "compute_content_difficulty failed" in command["text"]
    assert command["last"].startswith("TypeError: the JSON object")


def test_lines_before_the_first_entry_form_their_own(tmp_path, module_runner):
    path = tmp_path / "error.log"
    path.write_text(NEW)
    start = len(NEW.splitlines(keepends=True)[0].encode())  # the offset falls inside an entry
    result = module_runner(log_scan, {"path": str(path), "offset": start, "entry_start": ENTRY_START, "patterns": ["TypeError"]})
    assert result["match_count"] == 1 and result["matches"][0]["line"] == 1 and result["matches"][0]["lines"] == 2


def test_a_rotation_is_seen_by_its_inode_even_when_the_new_log_is_longer(tmp_path, module_runner):
    """Issue 13 item 12: logrotate moved the log away and the new file grew past the old offset
    before the scan: the size alone says 'not rotated' and would skip the new file's first lines."""
    path = tmp_path / "error.log"
    path.write_text(LOG)
    before = path.stat()
    path.rename(tmp_path / "error.log.1")
    path.write_text(NEW + NEW)  # the new file, already longer than the old offset
    assert path.stat().st_ino != before.st_ino and path.stat().st_size > before.st_size
    blind = module_runner(log_scan, {"path": str(path), "offset": before.st_size, "patterns": ["compute_content_difficulty"]})
    assert not blind["rotated"] and blind["match_count"] == 1  # without the inode the first entry is missed
    seen = module_runner(log_scan, {"path": str(path), "offset": before.st_size, "inode": before.st_ino, "patterns": ["compute_content_difficulty"]})
    assert seen["rotated"] and seen["offset"] == 0 and seen["match_count"] == 2 and seen["inode"] == path.stat().st_ino
    same = module_runner(log_scan, {"path": str(path), "offset": len(NEW.encode()), "inode": path.stat().st_ino, "patterns": ["compute"]})
    assert not same["rotated"] and same["match_count"] == 1


# The monitor's watch: where each log is resumed (rotation included), planned and read in one process.
PATH, OLD = "/var/log/django/error.log", "/var/log/django/error.log.1"


def state(inode, size=100):
    return dict(exists=True, inode=inode, size=size)


@pytest.mark.parametrize(
    "saved, current, rotated, deploy_offset, reads, baseline",
    [
        (dict(path=PATH, inode=7, offset=40), state(7), {}, 5, [dict(path=PATH, offset=40)], False),  # resume
        (dict(path=PATH, inode=7, offset=40), state(8), state(7), 5, [dict(path=OLD, offset=40), dict(path=PATH, offset=0)], False),  # rotated
        (dict(path=PATH, inode=7, offset=40), state(8), state(6), 5, [dict(path=PATH, offset=0)], False),  # rotated twice: the old one is gone
        ({}, state(7), {}, 25, [dict(path=PATH, offset=25)], False),  # first run after a deploy
        ({}, state(7), {}, None, [], True),  # no deploy recorded: baseline only
        ({}, dict(exists=False), {}, 25, [], False),  # no log yet
    ],
)
def test_log_plan(saved, current, rotated, deploy_offset, reads, baseline):
    plan = log_scan.log_plan(saved, current, rotated, deploy_offset, PATH, OLD)
    assert plan["reads"] == reads and plan["baseline"] is baseline


def test_the_watch_reads_the_rest_of_the_rotated_log_then_the_new_one(tmp_path, module_runner):
    path, old = tmp_path / "error.log", tmp_path / "error.log.1"
    path.write_text(LOG)
    first = module_runner(log_scan, {"path": str(path), "rotated_path": str(old), "deploy_offset": 0, "patterns": ["TypeError"]})
    assert first["watch"]["reads"] == [dict(path=str(path), offset=0)] and first["results"][0]["match_count"] == 1
    saved = dict(path=str(path), inode=first["current"]["inode"], offset=first["results"][0]["size"])
    # Written since, then rotated away, and the new log already has an entry.
    with path.open("a") as handle:
        handle.write(NEW)
    path.rename(old)
    path.write_text(NEW)
    second = module_runner(log_scan, {"path": str(path), "rotated_path": str(old), "saved": saved, "patterns": ["TypeError"]})
    assert [r["path"] for r in second["results"]] == [str(old), str(path)]
    assert [r["match_count"] for r in second["results"]] == [1, 1] and second["results"][0]["offset"] == len(LOG.encode())
    assert second["current"] == dict(exists=True, inode=path.stat().st_ino, size=path.stat().st_size)
    assert "rotated since the last run" in second["watch"]["note"]
    # Nothing recorded: only a baseline at the current end, nothing read.
    third = module_runner(log_scan, {"path": str(path), "rotated_path": str(old)})
    assert third["watch"]["baseline"] is True and third["results"] == []

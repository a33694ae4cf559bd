# A long scan's progress (issue 17): tail -f-able lines with rows, share of the key range, rate
# and ETA, at most one per interval whatever the number of workers, and a last line when done.
import re
import threading

from ansible.module_utils.jsonmend.scan.progress import ScanProgress, scan_progress_line

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S+ scan( done)? rows=\d+ +[\d.]+% rate=\d+ rows/s eta=\S+ corrupt=\d+ chunks=\d+$")


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_line_says_rows_share_rate_eta_and_corrupt_rows():
    line = scan_progress_line(250000, 0.25, 5000.4, 150, 12, 25)
    assert LINE.match(line) and " rows=250000  25.0% rate=5000 rows/s eta=2m30s corrupt=12 chunks=25" in line
    assert " scan done rows=10 100.0% " in scan_progress_line(10, 1.0, 10, None, 0, 1, done=True)
    assert "eta=?" in scan_progress_line(0, None, None, None, 0, 0)


def test_lines_by_key_share_at_most_one_per_interval(tmp_path):
    path = tmp_path / "scan.progress"
    clock = Clock()
    progress = ScanProgress(str(path), 10, total_keys=1000, estimated_rows=0, clock=clock)
    clock.now += 5
    progress.add(100, 100, 1)  # within the interval: no line yet
    clock.now += 5
    progress.add(150, 150, 2)  # 250 of 1000 keys after 10 s: 25%, 25 rows/s, 30 s left
    clock.now += 1
    progress.add(50, 50, 0)
    assert progress.finish() == dict(rows=300, corrupt=3, chunks=3)
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and all(LINE.match(line) for line in lines)
    assert " rows=250  25.0% rate=25 rows/s eta=30.0s corrupt=3 chunks=2" in lines[0]
    assert " scan done rows=300 100.0% " in lines[1] and "eta=0.0s" in lines[1]


def test_without_an_integer_key_the_estimate_gives_the_share_never_past_99(tmp_path):
    path = tmp_path / "p"
    clock = Clock()
    progress = ScanProgress(str(path), 0, total_keys=None, estimated_rows=100, clock=clock)
    clock.now += 1
    progress.add(150, None, 0)
    progress.finish()
    assert "  99.0% " in path.read_text().splitlines()[0]


def test_workers_report_together_and_no_file_means_no_output(tmp_path):
    progress = ScanProgress(None, 0, total_keys=4000, estimated_rows=0)
    threads = [threading.Thread(target=lambda: [progress.add(1, 1, 0) for _ in range(1000)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert progress.fraction() == 1.0 and progress.finish()["rows"] == 4000
    assert list(tmp_path.iterdir()) == []

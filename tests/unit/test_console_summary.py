# The console's closing summary reads the run's own account of itself (set_stats), and a long task
# shows that it is still running (issue 15, item 9).
import re

import pytest

from tools.devstack.playbooks import run_playbook


# The heartbeat is a thread's timed wait, which libfaketime never lets expire: not under make clock.
@pytest.mark.wallclock
def test_summary_reads_the_published_outcome_and_actions(tmp_path):
    result = run_playbook("tests/playbooks/console_stats.yml", {}, tmp_path, console=True, env={"JSONMEND_CONSOLE_HEARTBEAT": "1"})
    out = result.stdout
    assert result.returncode == 0, out
    assert len(re.findall(r"^    … Wait like a long repair: running for \d\.\ds$", out, re.M)) >= 1
    # The scan's last progress line rides on the heartbeat (issue 17, item 4); its time stamp is dropped.
    progress = "scan rows=500000  25.0% rate=250000 rows/s eta=6s corrupt=12 chunks=3"
    assert re.search(r"^    … Write a progress line as a scan on the controller does: running for \d\.\ds - %s$" % re.escape(progress), out, re.M), out
    summary = out[out.index("─" * 20) :].splitlines()
    assert summary[1].startswith("Outcome:  DEPLOYED  (console_stats.yml, ")
    assert summary[2:6] == [
        "Changed:  backed up 1,500 rows to backup_x; repaired 12 rows (run r1)",
        "Scan:     2,000,000 rows in 4.5s (444,444 rows/s, 2 workers, aggregate), 10,000 corrupted",
        "Record:   reports/r1/record.md",
        "Next:     ./jsonmend monitor",
    ]
    assert "DeprecationWarning" not in result.stderr


def test_check_mode_is_said_in_the_title_and_the_summary(tmp_path):
    result = run_playbook("tests/playbooks/messages.yml", {}, tmp_path, console=True, check=True)
    assert result.returncode == 0, result.stdout
    assert "Render the messages (check mode: nothing is changed)" in result.stdout
    assert "Outcome:  SUCCESS - check mode, nothing changed" in result.stdout and "Changed:  nothing (check mode)" in result.stdout

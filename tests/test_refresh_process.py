"""`kb refresh` as a real process: killed mid-record, two started together, stopped by a signal (between two records
of a page).

`kb refresh` is not registered in the `kb` entry point yet, so the process runs the command object with `python -c`.
It inherits the replay server's environment from the `server` fixture (KB_CTGOV_URL, fast retries).
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import test_refresh as helpers
from .conftest import db_dump
from .loopback import Reply

REPO = Path(__file__).parent.parent
RUN = "import sys; from kb.cli import refresh; refresh.main(sys.argv[1:], prog_name='kb refresh')"
# Fault injection for the kill test: the re-derive hook, which runs inside the record's transaction, signals that it
# was reached (marker file) and hangs, so that SIGKILL lands after every row of the record has been written.
RUN_HANGING_IN_TRANSACTION = (
    "import sys, time, pathlib; import kb.refresh as r; from kb.cli import refresh\n"
    "def hang(db, ids):\n    pathlib.Path(sys.argv[1]).write_text('in'); time.sleep(30)\n"
    "r._after_change = hang; refresh.main(sys.argv[2:], prog_name='kb refresh')"
)
STUDY, OTHER = helpers.SMALL[0], helpers.SMALL[1]
LATER, OTHER_LATER = helpers.modified(STUDY), helpers.modified(OTHER)  # MODIFIED copies of recorded studies


def start(code: str, *args) -> subprocess.Popen:
    env = {**os.environ, "KB_READ_TIMEOUT": "10"}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def integrity(db_path) -> str:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("pragma integrity_check").fetchone()[0]


@pytest.mark.parametrize("where", ["while the record is fetched", "inside the record's transaction"])
def test_killed_in_the_middle_of_a_record_leaves_the_database_consistent_and_the_rerun_refreshes_it(
        tmp_path, server, where):
    db_path, marker = tmp_path / "kb.db", tmp_path / "in-transaction"
    helpers.seed(db_path, STUDY)
    before = db_dump(db_path)
    if where == "while the record is fetched":
        server.route(helpers.SEARCH, helpers.registry((LATER,), Reply(200, helpers.page(LATER), delay=2),
                                                      Reply(200, helpers.page(LATER))))
        process = start(RUN, "--db", db_path)
        wait_for(lambda: len(helpers.page_requests(server)) == 1)
    else:
        server.route(helpers.SEARCH, helpers.registry((LATER,), Reply(200, helpers.page(LATER))))
        process = start(RUN_HANGING_IN_TRANSACTION, marker, "--db", db_path)
        wait_for(marker.exists)
    process.send_signal(signal.SIGKILL)
    assert process.wait(10) == -signal.SIGKILL

    assert integrity(db_path) == "ok" and db_dump(db_path) == before  # nothing of the killed record is visible
    result = helpers.run(db_path)  # the lock died with the process: the rerun may write
    assert result.exit_code == 0, result.output
    assert [v["version"] for v in helpers.versions(db_path, helpers.nct_of(STUDY))] == [1, 2]
    assert integrity(db_path) == "ok"


def test_two_refreshes_started_together_one_writes_the_other_says_so(tmp_path, server):
    db_path = tmp_path / "kb.db"
    helpers.seed(db_path, STUDY)
    server.route(helpers.SEARCH, helpers.registry((LATER,), Reply(200, helpers.page(LATER), delay=2)))
    processes = [start(RUN, "--db", db_path) for _ in range(2)]
    outcomes = sorted((p.wait(30), *p.communicate()) for p in processes)
    (won, won_out, _), (lost, _, lost_err) = outcomes
    assert (won, lost) == (0, 3)
    assert "1 changed" in won_out and "another refresh is writing" in lost_err
    assert server.count(helpers.SEARCH) == 2 and helpers.page_requests(server) == [[helpers.nct_of(STUDY)]]
    assert [v["version"] for v in helpers.versions(db_path, helpers.nct_of(STUDY))] == [1, 2]


def test_sigterm_stops_a_scheduled_refresh_between_two_records(tmp_path, server):
    db_path = tmp_path / "kb.db"
    helpers.seed(db_path, STUDY, OTHER)
    server.route(helpers.SEARCH, helpers.registry((LATER, OTHER_LATER),
                                                  Reply(200, helpers.page(LATER, OTHER_LATER), delay=1.5)))
    process = start(RUN, "--db", db_path, "--every", "1h")
    wait_for(lambda: len(helpers.page_requests(server)) == 1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    out = process.stdout.read()
    assert "stopped by SIGTERM" in out and "1 changed" in out
    assert [v["version"] for v in helpers.versions(db_path, helpers.nct_of(STUDY))] == [1, 2]  # finished, stored
    assert len(helpers.versions(db_path, helpers.nct_of(OTHER))) == 1  # the page's next record: not begun


def test_sigint_ends_the_wait_between_two_scheduled_runs(tmp_path, server):
    db_path = tmp_path / "kb.db"
    helpers.seed(db_path, STUDY)
    server.route(helpers.SEARCH, Reply(200, helpers.change_list(STUDY)))
    process = start(RUN, "--db", db_path, "--every", "24h")
    lines = []
    wait_for(lambda: lines.append(process.stdout.readline()) or "next run at" in lines[-1])
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(10) == 0 and time.monotonic() - sent < 2
    assert "stopped by SIGINT" in process.stdout.read()
    assert server.count(helpers.SEARCH) == 1 and helpers.record_requests(server) == []

"""An import, refresh or check that stops half-way (Ctrl-C, kill -9, a full disk) leaves trials and articles stale,
and the next run derives them: the KB ends with the rows of a clean import however often it was interrupted.

Every file is a recorded response: the 100-study NSCLC download, NCT00791778 with results, and the reconstructed
seed article (tests/conftest.py SEED_FILES). A "clean import" is one uninterrupted `kb import` of all of them.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import kb.derive
from harvest.http import Fetched
from kb import pipeline
from kb.cli import cli
from kb.load import trials
from kb.store import derived
from kb.store.schema import open_db

from . import test_refresh as refresh_helpers
from .conftest import SEED_FILES, db_dump, fixture_bytes, fixture_path
from .faults import interrupted_at
from .loopback import Reply

REPO = Path(__file__).parent.parent
BULK = fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json")
STUDY = fixture_path("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
FILES = [BULK, STUDY, *SEED_FILES]
SUBJECTS = 102  # 101 trials and the seed article
# What derive writes, and what it reads from the registry (the same in every run).
DERIVED_TABLES = ("checks", "regimen", "endpoint_comparison", "endpoints", "results", "trials", "derived")


def contents(db_path) -> dict[str, list[str] | None]:
    """The rows of every table derive writes (None for a table the KB lacks), in a stable order."""
    with sqlite3.connect(db_path) as conn:
        names = {n for (n,) in conn.execute("select name from sqlite_master where type = 'table'")}
        return {t: sorted(map(repr, conn.execute(f"select * from [{t}]"))) if t in names else None
                for t in DERIVED_TABLES}


def kb_import(db_path, *args, files=FILES):
    return CliRunner().invoke(cli, ["import", *map(str, files), "--db", str(db_path), *args])


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    """The derived rows of one uninterrupted import of FILES."""
    db_path = tmp_path_factory.mktemp("clean") / "kb.db"
    result = kb_import(db_path)
    assert result.exit_code == 0, result.output
    rows = contents(db_path)
    assert len(rows["checks"]) >= 100 and rows["regimen"] and rows["endpoint_comparison"]
    return rows


def interrupt_after(monkeypatch, subjects: int, fault) -> list:
    """Make derive fail (call `fault(db)`) when it checks its `subjects`-th trial or article."""
    checked, check_rows = [], kb.derive.check_rows

    def failing(db, subject):
        checked.append(subject)
        if len(checked) == subjects:
            fault(db)
        return check_rows(db, subject)

    monkeypatch.setattr(kb.derive, "check_rows", failing)
    return checked


def keyboard_interrupt(db):
    raise KeyboardInterrupt


def disk_full(db):
    """From here on, the KB file may not grow: the next write that needs a page fails as on a full disk."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


def checks_count(db_path) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("select count(*) from checks").fetchone()[0]


def assert_complete_and_idempotent(db_path, clean):
    """The KB holds what a clean import derives, nothing is stale, and a further import writes nothing."""
    assert contents(db_path) == clean
    with open_db(str(db_path)) as db:
        assert derived.stale_subjects(db) == []
    before = db_dump(db_path)
    assert kb_import(db_path).exit_code == 0
    assert db_dump(db_path) == before


# --- (a) interrupted in derive -----------------------------------------------------------------------------------


def test_an_import_interrupted_in_derive_is_completed_by_the_same_import(tmp_path, clean, monkeypatch):
    monkeypatch.setattr(pipeline, "DERIVE_BATCH", 10, raising=False)
    checked = interrupt_after(monkeypatch, 40, keyboard_interrupt)
    result = kb_import(tmp_path / "kb.db")
    assert result.exit_code == 1 and "Aborted" in result.output and len(checked) == 40
    kept = checks_count(tmp_path / "kb.db")
    assert kept < len(clean["checks"])  # what derive committed before Ctrl-C is kept; the rest is stale
    with open_db(str(tmp_path / "kb.db")) as db:
        assert 0 < len(derived.stale_subjects(db)) < SUBJECTS
    monkeypatch.undo()

    result = kb_import(tmp_path / "kb.db")
    assert result.exit_code == 0, result.output
    assert "0 stored, 101 unchanged" in result.output
    assert_complete_and_idempotent(tmp_path / "kb.db", clean)


KILLED_IN_DERIVE = (
    "import sys, time, pathlib; import kb.derive as d; from kb.cli import cli\n"
    "check_rows, seen = d.check_rows, []\n"
    "def hang(db, subject):\n"
    "    seen.append(subject)\n"
    "    if len(seen) == 30:\n"
    "        pathlib.Path(sys.argv[1]).write_text('deriving'); time.sleep(60)\n"
    "    return check_rows(db, subject)\n"
    "d.check_rows = hang; cli.main(sys.argv[2:], prog_name='kb')"
)


def test_an_import_killed_in_derive_is_completed_by_the_same_import(tmp_path, clean):
    """kill -9 once derive has checked 30 subjects (a marker file says so; every wait is bounded)."""
    db_path, marker = tmp_path / "kb.db", tmp_path / "deriving"
    process = subprocess.Popen([sys.executable, "-c", KILLED_IN_DERIVE, marker, "import", *map(str, FILES),
                                "--db", db_path], cwd=REPO, env=dict(os.environ),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, "kb import ended before derive"
            assert time.monotonic() < deadline, "timed out waiting for derive to start"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    assert process.returncode == -signal.SIGKILL
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert conn.execute("select count(*) from trials").fetchone()[0] == 101

    result = kb_import(db_path)
    assert result.exit_code == 0, result.output
    assert_complete_and_idempotent(db_path, clean)


# --- (b) interrupted between two batches of studies ----------------------------------------------------------------


def test_an_import_interrupted_between_batches_is_completed_by_the_same_import(tmp_path, clean, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH", 10)
    save = trials.save_studies
    monkeypatch.setattr(trials, "save_studies", interrupted_at(2, save))
    result = kb_import(tmp_path / "kb.db")
    assert result.exit_code == 1 and "Aborted" in result.output
    with open_db(str(tmp_path / "kb.db")) as db:
        assert db["trials"].count == 10 and db["checks"].count == 0
    monkeypatch.setattr(trials, "save_studies", save)

    result = kb_import(tmp_path / "kb.db")
    assert result.exit_code == 0, result.output
    assert "91 stored, 10 unchanged" in result.output
    assert_complete_and_idempotent(tmp_path / "kb.db", clean)


# --- (c) imported without derive -----------------------------------------------------------------------------------


def test_an_import_without_derive_says_what_waits_and_kb_check_derives_it(tmp_path, clean):
    result = kb_import(tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 0, result.output
    assert f"{SUBJECTS} trials and articles not derived yet" in result.output and "kb check" in result.output
    with open_db(str(tmp_path / "kb.db")) as db:
        assert len(derived.stale_subjects(db)) == SUBJECTS and db["checks"].count == 0

    result = CliRunner().invoke(cli, ["check", "--db", str(tmp_path / "kb.db")])
    assert result.exit_code == 0, result.output
    assert_complete_and_idempotent(tmp_path / "kb.db", clean)


def test_the_next_import_derives_what_an_import_without_derive_left(tmp_path, clean):
    assert kb_import(tmp_path / "kb.db", "--no-derive", files=[BULK]).exit_code == 0
    result = kb_import(tmp_path / "kb.db", files=[STUDY, *SEED_FILES])
    assert result.exit_code == 0, result.output
    assert_complete_and_idempotent(tmp_path / "kb.db", clean)


# --- (d) a full disk during derive ---------------------------------------------------------------------------------


def test_an_import_that_fills_the_disk_in_derive_is_completed_once_there_is_space(tmp_path, clean, monkeypatch):
    monkeypatch.setattr(pipeline, "DERIVE_BATCH", 10, raising=False)
    interrupt_after(monkeypatch, 40, disk_full)
    db = open_db(str(tmp_path / "kb.db"))
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        pipeline.import_paths(db, FILES)
    assert not db.conn.in_transaction  # the failed transaction was rolled back, nothing half-written
    db.execute("PRAGMA max_page_count = 1073741823")  # space again
    db.close()
    with sqlite3.connect(tmp_path / "kb.db") as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert conn.execute("select count(*) from trials").fetchone()[0] == 101
    assert checks_count(tmp_path / "kb.db") < len(clean["checks"])
    monkeypatch.undo()

    result = kb_import(tmp_path / "kb.db")
    assert result.exit_code == 0, result.output
    assert_complete_and_idempotent(tmp_path / "kb.db", clean)


# --- refresh and check end the same way ----------------------------------------------------------------------------


def test_a_refresh_derives_what_an_interrupted_import_left(tmp_path, server):
    """Studies stored without derive (what a kill in derive leaves); a refresh with nothing changed derives them."""
    bodies = [fixture_bytes("ctgov", f"v2_study_{nct}_aact.json") for nct in ("NCT00973089", "NCT03418623")]
    db_path = tmp_path / "kb.db"
    with open_db(str(db_path)) as db:
        trials.save_studies(db, [trials.study_document(Fetched(
            "ClinicalTrials.gov", nct, f"https://clinicaltrials.gov/api/v2/studies/{nct}", 200, body))
            for nct, body in ((refresh_helpers.nct_of(body), body) for body in bodies)])
        assert len(derived.stale_subjects(db)) == 2
    server.route(refresh_helpers.SEARCH, Reply(200, refresh_helpers.change_list(*bodies)))
    result = refresh_helpers.run(db_path)
    assert result.exit_code == 0, result.output
    assert "refresh: 2 trials and articles derived" in result.output
    with open_db(str(db_path)) as db:
        assert derived.stale_subjects(db) == [] and db["regimen"].count
    before = db_dump(db_path)
    assert refresh_helpers.run(db_path).exit_code == 0
    known = set(before)
    added = [line for line in db_dump(db_path) if line not in known]  # the run's change list, nothing else
    assert len(added) == 1
    assert added[0].startswith("""INSERT INTO "snapshots" VALUES('clinicaltrialsgov/change list since""")


# --- the rule ------------------------------------------------------------------------------------------------------


def test_a_subject_is_stale_when_its_bodies_or_links_change_and_derives_with_what_is_linked(tmp_path):
    db_path = tmp_path / "kb.db"
    assert kb_import(db_path, files=[STUDY, *SEED_FILES]).exit_code == 0
    db = open_db(str(db_path))
    assert derived.stale_subjects(db) == []
    # a new link (as a later version of either record would bring): both ends are stale, nothing else
    db["article_trials"].insert({"article_id": "pmid:32009091", "nct_id": "NCT00791778", "evidence": "test"})
    assert derived.stale_subjects(db) == [("NCT00791778", "trial"), ("pmid:32009091", "article")]
    assert pipeline.derive_stale(db) == 2
    assert derived.stale_subjects(db) == []
    # a new body of the trial: it is stale, and deriving it derives its article again
    db.execute("UPDATE trials SET snapshot_id = 'test/NCT00791778/new' WHERE nct_id = 'NCT00791778'")
    assert derived.stale_subjects(db) == [("NCT00791778", "trial")]
    assert pipeline.derive_stale(db) == 2
    # the link goes away: both ends again
    db.execute("DELETE FROM article_trials WHERE evidence = 'test'")
    assert derived.stale_subjects(db) == [("NCT00791778", "trial"), ("pmid:32009091", "article")]
    # another version of derive's code: everything
    assert len(derived.stale_subjects(db, version="another")) == 2


def test_the_stale_query_reads_every_table_through_an_index(tmp_path):
    """One pass over the subjects, each read from an index of its id (never the rows of `trials`, with their long
    texts), and every other table looked up by index; the only plain scans are of the query's own subqueries."""
    db = open_db(str(tmp_path / "kb.db"))
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + derived.STALE, [derived.DERIVE_VERSION])]
    assert "SCAN t USING COVERING INDEX idx_trials_nct_id_snapshot_id" in plan, plan
    assert any(line.startswith("SCAN a USING COVERING INDEX") for line in plan), plan
    reads = [line for line in plan if line.startswith(("SCAN", "SEARCH"))]
    assert all("USING" in line and "INDEX" in line or line == "SCAN i" or line.startswith("SCAN (subquery-")
               for line in reads), plan
    assert not any("TEMP B-TREE FOR DISTINCT" in line for line in plan), plan

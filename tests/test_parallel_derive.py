"""Derive in worker processes (kb/derive/parallel.py) writes the rows a serial derive writes, table by table.

The inputs are recorded responses: the 100-study NSCLC bulk download, NCT00791778 with results, and the seed article
(PubMed, Crossref, J-STAGE: reconstructed, tests/conftest.py SEED_FILES) linked to its trial, the real JATS articles
of tests/fixtures/jats (full-text sections and tables), so that chunks hold
trials with and without articles and a subject linked across chunks.
"""

import sqlite3

import pytest

from kb import pipeline
from kb.derive import derive_in_batches
from kb.derive.parallel import WRITES, derive_parallel
from kb.store import derived
from kb.store.schema import open_db

from .conftest import SEED_FILES, db_dump, fixture_path

FILES = [fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json"),
         fixture_path("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json"), *SEED_FILES,
         *sorted(fixture_path("jats").glob("*.nxml"))]  # real JATS: full-text sections and tables derive too
SUBJECTS = 101 + 1 + 5  # the studies, the seed article and the JATS articles


def rows(db_path) -> dict[str, list[str]]:
    """Every row of every table derive writes, in a stable order (endpoint_comparison has no key: by value)."""
    with sqlite3.connect(db_path) as conn:
        return {table: sorted(map(repr, conn.execute(f"SELECT * FROM [{table}]"))) for table in WRITES}


@pytest.fixture(scope="module")
def kbs(tmp_path_factory) -> dict:
    """One KB derived serially and one in two worker processes, 7 subjects to a chunk, from the same import."""
    found = {}
    for how in ("serial", "parallel"):
        path = tmp_path_factory.mktemp(how) / "kb.db"
        with open_db(str(path)) as db:
            summary = pipeline.import_paths(db, FILES, then_derive=False)
            assert summary.stored == 101 and summary.article_ids and not summary.failed
            stale = derived.stale_subjects(db)
            assert len(stale) == SUBJECTS
            if how == "serial":
                found["count"] = derive_in_batches(db, stale, 7)
            else:
                found["parallel_count"] = derive_parallel(db, stale, 7, workers=2)
            assert derived.stale_subjects(db) == []
        found[how] = path
    return found


def test_a_parallel_derive_writes_the_rows_of_a_serial_derive_table_by_table(kbs):
    serial, parallel = rows(kbs["serial"]), rows(kbs["parallel"])
    assert kbs["count"] == kbs["parallel_count"] == SUBJECTS
    assert all(serial[table] for table in WRITES)  # every table derive writes has rows to compare
    for table in WRITES:
        assert parallel[table] == serial[table], table


def test_a_second_parallel_derive_writes_nothing(kbs):
    before = db_dump(kbs["parallel"])
    with open_db(str(kbs["parallel"])) as db:
        subjects = [(r[0], "trial") for r in db.execute("SELECT nct_id FROM trials")]
        subjects += [(r[0], "article") for r in db.execute("SELECT article_id FROM articles")]
        assert derive_parallel(db, subjects, 50, workers=2) == SUBJECTS
    assert db_dump(kbs["parallel"]) == before


def test_an_import_derives_in_workers_above_the_threshold(tmp_path, kbs, monkeypatch):
    """`kb import` with more stale subjects than PARALLEL_AFTER derives through the workers (the threshold lowered
    here) and ends with the serial rows."""
    monkeypatch.setattr(pipeline, "PARALLEL_AFTER", 10)
    used = []
    monkeypatch.setattr("kb.derive.parallel.derive_parallel",
                        lambda *args, **kwargs: used.append(args[3]) or derive_parallel(*args, **kwargs))
    with open_db(str(tmp_path / "kb.db")) as db:
        summary = pipeline.import_paths(db, FILES, workers=2)
    assert used == [2] and summary.derived == SUBJECTS
    assert rows(tmp_path / "kb.db") == rows(kbs["serial"])


def test_a_parallel_derive_interrupted_between_chunks_keeps_them_and_the_next_run_completes(tmp_path, kbs):
    """Ctrl-C while the writer waits for its third chunk: two chunks are written (each its own transaction), the
    rest stays stale, and the next derive ends with the serial rows."""
    asked = []

    def ctrl_c():
        asked.append(1)
        if len(asked) == 3:
            raise KeyboardInterrupt
        return False

    with open_db(str(tmp_path / "kb.db")) as db:
        pipeline.import_paths(db, FILES, then_derive=False)
        with pytest.raises(KeyboardInterrupt):
            derive_parallel(db, derived.stale_subjects(db), 7, workers=2, stopped=ctrl_c)
        left = derived.stale_subjects(db)
        assert 0 < len(left) <= SUBJECTS - 14
        assert pipeline.derive_stale(db, workers=1) == len(left)
        assert derived.stale_subjects(db) == []
    assert rows(tmp_path / "kb.db") == rows(kbs["serial"])

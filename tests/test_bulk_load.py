"""A large import is a bulk load (kb/store/bulk.py): indexes and full-text indexing wait for its end, and however
it ends, the KB comes back with every index, trigger and full-text row, holding the same rows as an ordinary import."""

import sqlite3

import pytest

from kb import pipeline
from kb.load import trials
from kb.store import bulk
from kb.store.schema import FTS, open_db

from .conftest import fixture_path
from .faults import interrupted_at

BULK = fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json")


def shape(path) -> set:
    """Index and trigger definitions of the KB at `path`."""
    with sqlite3.connect(path) as conn:
        return set(conn.execute("select type, name, sql from sqlite_master where type in ('index', 'trigger')"))


def rows(path) -> dict:
    """Every row of every table but the full-text shadow tables (their segments depend on the order of writes) and
    the migrations log (it holds the time each was applied)."""
    with sqlite3.connect(path) as conn:
        names = [n for (n,) in conn.execute("select name from sqlite_master where type = 'table'")
                 if "_fts" not in n and n != "_sqlite_migrations"]
        return {n: sorted(map(repr, conn.execute(f"select * from [{n}]"))) for n in names}


def searches(path) -> dict:
    """What a full-text search finds in each indexed table, for a few words of the fixture's texts."""
    with sqlite3.connect(path) as conn:
        return {(table, word): sorted(conn.execute(f"select rowid from [{table}_fts] where [{table}_fts] match ?",
                                                   [word]))
                for table in FTS for word in ("lung", "survival", "pembrolizumab", "response")}


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH", 10)


def test_a_bulk_load_ends_with_the_rows_indexes_and_search_of_an_ordinary_import(tmp_path, small_batches,
                                                                                  monkeypatch):
    started = []
    monkeypatch.setattr(bulk.DeferredIndexes, "start", lambda self, f=bulk.DeferredIndexes.start: (
        started.append(1), f(self)))
    db = open_db(str(tmp_path / "bulk.db"))
    assert pipeline.import_studies(db, [BULK]).stored == 100
    assert started  # the empty KB made it a bulk load after its first batch

    ordinary = open_db(str(tmp_path / "ordinary.db"))
    monkeypatch.setattr(bulk.DeferredIndexes, "start", lambda self: None)
    assert pipeline.import_studies(ordinary, [BULK]).stored == 100

    assert shape(tmp_path / "bulk.db") == shape(tmp_path / "ordinary.db")
    assert rows(tmp_path / "bulk.db") == rows(tmp_path / "ordinary.db")
    found = searches(tmp_path / "bulk.db")
    assert found == searches(tmp_path / "ordinary.db") and all(found[("trials", w)] for w in ("lung", "survival"))


def test_an_interrupted_bulk_load_keeps_its_batches_and_gets_its_indexes_back(tmp_path, small_batches, monkeypatch):
    open_db(str(tmp_path / "reference.db"))
    monkeypatch.setattr(trials, "save_studies", interrupted_at(4, trials.save_studies))
    db = open_db(str(tmp_path / "kb.db"))
    with pytest.raises(KeyboardInterrupt):
        pipeline.import_studies(db, [BULK])
    assert db["trials"].count == 30
    assert shape(tmp_path / "kb.db") == shape(tmp_path / "reference.db")
    assert db.execute("select count(*) from trials_fts").fetchone()[0] == 30


def test_a_killed_bulk_load_is_repaired_when_the_kb_is_next_opened(tmp_path):
    reference = open_db(str(tmp_path / "reference.db"))
    pipeline.import_studies(reference, [BULK])
    db = open_db(str(tmp_path / "kb.db"))
    pipeline.import_studies(db, [BULK])
    # what a process killed mid-load leaves: no indexes, no full-text triggers
    bulk.DeferredIndexes(db, {table: set() for table in ("trials", "endpoints", "locations")}).start()
    assert shape(tmp_path / "kb.db") != shape(tmp_path / "reference.db")
    db.conn.close()

    open_db(str(tmp_path / "kb.db"))
    assert shape(tmp_path / "kb.db") == shape(tmp_path / "reference.db")
    assert searches(tmp_path / "kb.db") == searches(tmp_path / "reference.db")


def test_an_import_smaller_than_the_kb_is_not_a_bulk_load(tmp_path, small_batches, monkeypatch):
    db = open_db(str(tmp_path / "kb.db"))
    pipeline.import_studies(db, [BULK])
    monkeypatch.setattr(bulk.DeferredIndexes, "start", lambda self: pytest.fail("bulk load on a larger KB"))
    study = fixture_path("ctgov", "v2_study_NCT00973089_aact.json")
    assert pipeline.import_studies(db, [study]).stored == 1

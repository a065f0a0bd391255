"""What a refresh costs in requests: a KB of 1,000 trials, unchanged and 1% changed.

The KB is built by importing the 100 recorded NSCLC studies (v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json)
ten times over under new NCT IDs NCT90000000–NCT90000999: NOT real registry records, test doubles for volume.
"""

import json
import shutil

import pytest

from harvest import http
from kb.pipeline import derive_stale, import_studies
from kb.store.schema import open_db

from . import test_refresh as helpers
from .conftest import db_dump, fixture_bytes
from .loopback import Reply

BULK = json.loads(fixture_bytes("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json"))
TRIALS = 1000


@pytest.fixture(scope="module")
def kb_1000(tmp_path_factory):
    """(database path, study bodies as imported) for 1,000 renumbered recorded studies; copied by each test."""
    folder = tmp_path_factory.mktemp("kb1000")
    bodies = [helpers.renumbered(json.dumps(BULK[i % len(BULK)]).encode(), f"NCT9{i:07d}") for i in range(TRIALS)]
    (folder / "studies.json").write_text("[" + ",\n".join(body.decode() for body in bodies) + "]")
    with open_db(str(folder / "kb.db")) as db:
        assert import_studies(db, [folder / "studies.json"]).stored == TRIALS
        assert derive_stale(db) == TRIALS  # a complete KB: a refresh derives whatever is stale
    return folder / "kb.db", bodies


@pytest.fixture
def kb(kb_1000, tmp_path):
    source, bodies = kb_1000
    shutil.copy(source, tmp_path / "kb.db")
    return tmp_path / "kb.db", bodies


def test_an_unchanged_kb_of_1000_trials_costs_one_request(kb, server):
    db_path, bodies = kb
    server.route(helpers.SEARCH, Reply(200, helpers.change_list(*bodies)))
    before, counted = db_dump(db_path), http.request_count
    result = helpers.run(db_path)
    assert result.exit_code == 0
    assert http.request_count - counted == len(server.requests) == 1 <= 2
    (path, query), = server.requests
    assert query["filter.ids"][0].split(",") == sorted(helpers.nct_of(body) for body in bodies)
    assert query["fields"] == ["NCTId,LastUpdatePostDate"] and query["pageSize"] == ["1000"]
    assert "1000 checked, 0 changed, 0 failed, 1 requests" in result.output
    assert db_dump(db_path) == before


def test_a_1_percent_changed_kb_costs_one_request_per_changed_record_more(kb, server):
    db_path, bodies = kb
    changed = {i: helpers.modified(bodies[i], status="TERMINATED") for i in range(0, TRIALS, 100)}  # MODIFIED copies
    changed_ids = {helpers.nct_of(body) for body in changed.values()}
    helpers.serve(server, *changed.values(), listed=tuple(changed.get(i, body) for i, body in enumerate(bodies)))
    before = trials_by_id(db_path)
    counted = http.request_count
    result = helpers.run(db_path)
    assert result.exit_code == 0, result.output
    assert http.request_count - counted == len(server.requests) == 1 + len(changed) <= 2 + len(changed)
    assert sorted(helpers.record_requests(server)) == sorted(f"/ctgov/studies/{nct}" for nct in changed_ids)
    assert "1000 checked, 10 changed, 0 failed, 11 requests" in result.output
    after = trials_by_id(db_path)
    assert {nct for nct in after if after[nct] != before[nct]} == changed_ids
    assert {after[nct]["overall_status"] for nct in changed_ids} == {"TERMINATED"}
    with open_db(str(db_path)) as db:
        assert db["trial_versions"].count == TRIALS + len(changed)
        assert {row["nct_id"] for row in db["trial_versions"].rows_where("version = 2")} == changed_ids


def trials_by_id(db_path) -> dict[str, dict]:
    with open_db(str(db_path)) as db:
        return {row["nct_id"]: row for row in db["trials"].rows}


def test_the_change_list_asks_for_at_most_chunk_ids_per_request(tmp_path, server, monkeypatch):
    monkeypatch.setattr("harvest.registries.ctgov.CHANGE_CHUNK", 4)
    bodies = [helpers.renumbered(json.dumps(BULK[i]).encode(), f"NCT9{i:07d}") for i in range(10)]  # NOT real records
    db_path = tmp_path / "kb.db"
    helpers.seed(db_path, *bodies)
    server.route(helpers.SEARCH, *(Reply(200, helpers.change_list(*bodies[i:i + 4])) for i in (0, 4, 8)))
    assert helpers.run(db_path).exit_code == 0
    asked = [query["filter.ids"][0].split(",") for _, query in server.requests]
    assert [len(ids) for ids in asked] == [4, 4, 2] and sum(asked, []) == [helpers.nct_of(b) for b in bodies]

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
from .loopback import RegistryStandIn, Reply

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


def test_an_unchanged_kb_of_1000_trials_costs_two_requests_then_one(kb, server):
    db_path, bodies = kb
    server.route(helpers.SEARCH, RegistryStandIn(bodies))
    before, counted = db_dump(db_path), http.request_count
    result = helpers.run(db_path)
    assert result.exit_code == 0
    assert http.request_count - counted == len(server.requests) == 2  # every ID listed, 571 to a request
    asked = [query["filter.ids"][0].split(",") for _, query in server.requests]
    assert [len(ids) for ids in asked] == [571, 429] and sum(asked, []) == sorted(map(helpers.nct_of, bodies))
    for _, query in server.requests:
        assert query["fields"] == ["NCTId,LastUpdatePostDate"] and query["pageSize"] == ["1000"]
    assert "1000 checked, 0 changed, 0 failed, 2 requests" in result.output
    with open_db(str(db_path)) as db:  # the change list kept: the next run asks for what was posted since
        assert db["snapshots"].count_where("key like 'change list of %'") == 2
        assert db["snapshots"].count_where("key like 'change list since %'") == 0
    server.requests.clear()
    assert "1000 checked, 0 changed, 0 failed, 1 requests" in helpers.run(db_path).output
    (_, query), = server.requests
    assert query["filter.advanced"][0].startswith("AREA[LastUpdatePostDate]RANGE[") and "filter.ids" not in query
    known = set(before)
    new = [line for line in db_dump(db_path) if line not in known]
    kept = """INSERT INTO "snapshots" VALUES('clinicaltrialsgov/change list """
    assert len(new) == 3 and all(line.startswith(kept) for line in new)  # the two runs' change lists, nothing else



def test_a_1_percent_changed_kb_costs_one_page_more_each_study_its_own_snapshot(kb, server):
    db_path, bodies = kb
    changed = {i: helpers.modified(bodies[i], status="TERMINATED") for i in range(0, TRIALS, 100)}  # MODIFIED copies
    changed_ids = {helpers.nct_of(body) for body in changed.values()}
    helpers.serve(server, *(changed.get(i, body) for i, body in enumerate(bodies)))
    before = trials_by_id(db_path)
    counted = http.request_count
    result = helpers.run(db_path)
    assert result.exit_code == 0, result.output
    assert http.request_count - counted == len(server.requests) == 2 + 1  # the list of every ID, one page of 10
    assert helpers.record_requests(server) == [] and sorted(sum(helpers.page_requests(server), [])) == sorted(
        changed_ids)
    assert "1000 checked, 10 changed, 0 failed, 3 requests" in result.output
    after = trials_by_id(db_path)
    assert {nct for nct in after if after[nct] != before[nct]} == changed_ids
    assert {after[nct]["overall_status"] for nct in changed_ids} == {"TERMINATED"}
    with open_db(str(db_path)) as db:
        assert db["trial_versions"].count == TRIALS + len(changed)
        assert {row["nct_id"] for row in db["trial_versions"].rows_where("version = 2")} == changed_ids
        stored = {row["key"]: row for row in db.query(
            "select s.key, s.url, s.body from trial_versions v join snapshots s on s.id = v.snapshot_id "
            "where v.version = 2")}
    assert set(stored) == changed_ids  # each study its own snapshot: its bytes as served, its place in the page
    assert sorted(row["body"] for row in stored.values()) == sorted(changed.values())
    assert sorted(row["url"].rsplit("#", 1)[1] for row in stored.values()) == [f"/studies/{i}" for i in range(10)]


def trials_by_id(db_path) -> dict[str, dict]:
    with open_db(str(db_path)) as db:
        return {row["nct_id"]: row for row in db["trials"].rows}


def test_the_change_list_asks_for_at_most_chunk_ids_per_request(tmp_path, server, monkeypatch):
    monkeypatch.setattr("harvest.registries.ctgov.IDS_PER_REQUEST", 4)
    bodies = [helpers.renumbered(json.dumps(BULK[i]).encode(), f"NCT9{i:07d}") for i in range(10)]  # NOT real records
    db_path = tmp_path / "kb.db"
    helpers.seed(db_path, *bodies)
    server.route(helpers.SEARCH, *(Reply(200, helpers.change_list(*bodies[i:i + 4])) for i in (0, 4, 8)))
    assert helpers.run(db_path).exit_code == 0
    asked = [query["filter.ids"][0].split(",") for _, query in server.requests]
    assert [len(ids) for ids in asked] == [4, 4, 2] and sum(asked, []) == [helpers.nct_of(b) for b in bodies]

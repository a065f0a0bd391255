"""`kb refresh` against the loopback replay server: versions, registry states, faults, the lock, readers during a write.

Study bodies are recorded responses (tests/fixtures/ctgov). Where a test needs another NCT ID or a later version, it
serves a copy of a recorded study that it modifies itself, and says so (`renumbered`, `modified`). Search pages (the
change list, the pages of full records) are never recorded ones: `tests.loopback.RegistryStandIn` builds them from the
study bodies the test serves, in the shape of the real search pages (v2_search_page1_phelan_limit5_biomcp.json), and
`change_list` gives a fixed change-list reply derived from them.
"""

import asyncio
import json
import sqlite3
import threading
import time
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from datasette.app import Datasette

from harvest.http import Fetched
from kb.cli import refresh
from kb.load import trials
from kb.pipeline import derive_stale
from kb.schedule import refresh_lock
from kb.store.schema import open_db

from .conftest import db_dump, fixture_bytes
from .loopback import RegistryStandIn, Reply, nct_of

STUDY = fixture_bytes("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
SMALL = [fixture_bytes("ctgov", f"v2_study_{nct}_aact.json") for nct in ("NCT00973089", "NCT03418623", "NCT04207047")]
SEARCH = "/ctgov/studies"


def renumbered(body: bytes, nct: str) -> bytes:
    """A recorded study under another NCT ID: NOT a real registry record, a test double for volume and aliases."""
    study = json.loads(body)
    study["protocolSection"]["identificationModule"]["nctId"] = nct
    return json.dumps(study).encode()


def modified(body: bytes, posted: str = "2030-01-15", status: str | None = None,
             enrollment: int | None = None) -> bytes:
    """A MODIFIED copy of a recorded study (a later 'version' made by the test): new last-update date, and
    optionally a new overall status and enrollment count."""
    study = json.loads(body)
    protocol = study["protocolSection"]
    protocol["statusModule"]["lastUpdatePostDateStruct"]["date"] = posted
    if status is not None:
        protocol["statusModule"]["overallStatus"] = status
    if enrollment is not None:
        protocol["designModule"]["enrollmentInfo"]["count"] = enrollment
    return json.dumps(study).encode()


def change_list(*bodies: bytes) -> bytes:
    """The change-list reply for the studies the test serves, derived from their JSON: nctId and
    lastUpdatePostDateStruct.date only, as `fields=NCTId,LastUpdatePostDate` returns them."""
    studies = [{"protocolSection": {
        "identificationModule": {"nctId": nct_of(body)},
        "statusModule": {"lastUpdatePostDateStruct": {
            "date": json.loads(body)["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]}},
    }} for body in bodies]
    return json.dumps({"studies": studies, "totalCount": len(studies)}).encode()


def page(*bodies: bytes) -> bytes:
    """A search page of these full records (built by the test, see the module's docstring)."""
    return b'{"studies":[' + b",".join(bodies) + b"]}"


def registry(listed: tuple[bytes, ...], *pages: Reply):
    """The search path's answer: the change list of `listed` (a request with fields), else `pages` in turn (the last
    repeats)."""
    script = list(pages)

    def answer(path: str, query: dict) -> Reply:
        if "fields" in query:
            return Reply(200, change_list(*listed))
        return script.pop(0) if len(script) > 1 else script[0]

    return answer


def seed(db_path, *bodies: bytes) -> None:
    """The KB as `kb build` would leave it after fetching these bodies (version 1 of each), derived: a refresh
    derives whatever is stale, so an underived KB would change with any refresh."""
    fetched = [Fetched("ClinicalTrials.gov", nct_of(body), f"https://clinicaltrials.gov/api/v2/studies/{nct_of(body)}",
                       200, body) for body in bodies]
    with open_db(str(db_path)) as db:
        trials.save_studies(db, [trials.study_document(response) for response in fetched])
        derive_stale(db)


def serve(server, *bodies: bytes, listed: tuple[bytes, ...] | None = None) -> RegistryStandIn:
    """Route each body at its study path, and at the search path a stand-in searching the bodies (the change list
    lists `listed`, default the bodies)."""
    for body in bodies:
        server.route(f"/ctgov/studies/{nct_of(body)}", Reply(200, body))
    stand_in = RegistryStandIn(bodies, listed)
    server.route(SEARCH, stand_in)
    return stand_in


def run(db_path, *args):
    return CliRunner().invoke(refresh, ["--db", str(db_path), *args], catch_exceptions=False)


def versions(db_path, nct: str) -> list[dict]:
    with open_db(str(db_path)) as db:
        return list(db["trial_versions"].rows_where("nct_id = ?", [nct], order_by="version"))


def trial(db_path, nct: str) -> dict:
    with open_db(str(db_path)) as db:
        return db["trials"].get(nct)


def record_requests(server) -> list[str]:
    """The records asked alone (GET /studies/{nct})."""
    return [path for path, _ in server.requests if path.startswith("/ctgov/studies/")]


def page_requests(server) -> list[list[str]]:
    """The NCT IDs of each search for full records (filter.ids, no fields)."""
    return [query["filter.ids"][0].split(",") for path, query in server.requests
            if path == SEARCH and "fields" not in query]


def test_help_has_an_example_and_labels_the_backfill_unofficial_and_off_by_default():
    text = " ".join(CliRunner().invoke(refresh, ["--help"]).output.split())
    assert "Example: kb refresh" in text and "--every INTERVAL" in text
    assert "--backfill-history UNOFFICIAL, best effort, off by default" in text and "undocumented" in text


def test_a_changed_record_gives_a_second_version_with_exactly_the_changed_paths(tmp_path, server):
    db_path = tmp_path / "kb.db"
    seed(db_path, STUDY)
    serve(server, STUDY)
    assert run(db_path).exit_code == 0  # unchanged: nothing fetched
    assert record_requests(server) == page_requests(server) == [] and len(versions(db_path, "NCT00791778")) == 1

    later = modified(STUDY, posted="2030-01-15", status="TERMINATED", enrollment=250)  # MODIFIED copy, see modified()
    server.requests.clear()
    serve(server, later)
    result = run(db_path)
    assert result.exit_code == 0, result.output
    assert record_requests(server) == [] and page_requests(server) == [["NCT00791778"]]
    first, second = versions(db_path, "NCT00791778")
    assert first["version"] == 1 and first["changed_fields"] is None
    assert second["version"] == 2 and second["last_update_posted"] == "2030-01-15"
    assert json.loads(second["changed_fields"]) == [
        {"path": "protocolSection.designModule.enrollmentInfo.count", "old": 246, "new": 250},
        {"path": "protocolSection.statusModule.lastUpdatePostDateStruct.date",
         "old": "2015-09-28", "new": "2030-01-15"},
        {"path": "protocolSection.statusModule.overallStatus", "old": "COMPLETED", "new": "TERMINATED"},
    ]
    with open_db(str(db_path)) as db:  # the previous snapshot stays; the tables follow the new one
        assert db["snapshots"].get(first["snapshot_id"])["body"] == STUDY
        assert db["snapshots"].get(second["snapshot_id"])["body"] == later  # its bytes as the page gave them
        assert db["snapshots"].get(second["snapshot_id"])["url"].endswith(
            "/ctgov/studies?filter.ids=NCT00791778&format=json&pageSize=1&countTotal=true#/studies/0")
        row = db["trials"].get("NCT00791778")
        assert (row["overall_status"], row["enrollment"]) == ("TERMINATED", 250)
        assert row["snapshot_id"] == second["snapshot_id"]
        assert {r["snapshot_id"] for r in db["endpoints"].rows_where("subject = 'NCT00791778'")} == {row["snapshot_id"]}
    assert "NCT00791778: version 2 stored, 3 changed field(s)" in result.output
    assert "1 checked, 1 changed, 0 failed, 2 requests" in result.output


def test_a_record_the_registry_no_longer_has_is_marked_gone_and_kept(tmp_path, server):
    omitted, removed = SMALL[0], SMALL[1]
    db_path = tmp_path / "kb.db"
    seed(db_path, omitted, removed)
    # `omitted` is missing from the change list; `removed` is listed as changed but no page returns it and its
    # fetch answers 404.
    server.route(SEARCH, RegistryStandIn([], listed=[modified(removed)]))
    result = run(db_path)
    assert result.exit_code == 0, result.output
    for body in (omitted, removed):
        nct = nct_of(body)
        assert trial(db_path, nct)["registry_state"] == "gone" and len(versions(db_path, nct)) == 1
        with open_db(str(db_path)) as db:
            assert db["endpoints"].count_where("subject = ?", [nct]) > 0  # rows kept, not deleted
        assert f"{nct}: no longer in the registry" in result.output
    server.requests.clear()
    assert run(db_path).exit_code == 0  # the change list of the records posted since: `removed` again
    assert record_requests(server) == [f"/ctgov/studies/{nct_of(removed)}"]  # omitted and already gone: not fetched
    assert page_requests(server) == [[nct_of(removed)]]


def test_a_record_that_now_redirects_is_marked_alias_and_the_new_record_stored(tmp_path, server):
    old = renumbered(STUDY, "NCT09000001")  # NOT a real record: the recorded study under an ID that now redirects
    db_path = tmp_path / "kb.db"
    seed(db_path, old)
    server.route(SEARCH, RegistryStandIn([STUDY], listed=[]))  # no page returns NCT09000001
    server.route("/ctgov/studies/NCT09000001", Reply(301, b"", {"Location": "/ctgov/studies/NCT00791778?format=json"}))
    server.route("/ctgov/studies/NCT00791778", Reply(200, STUDY))
    result = run(db_path)
    assert result.exit_code == 0, result.output
    old_row, new_row = trial(db_path, "NCT09000001"), trial(db_path, "NCT00791778")
    assert (old_row["registry_state"], old_row["alias_of"]) == ("alias", "NCT00791778")
    assert (new_row["registry_state"], new_row["alias_of"]) == ("current", None)
    assert len(versions(db_path, "NCT09000001")) == 1 and len(versions(db_path, "NCT00791778")) == 1
    with open_db(str(db_path)) as db:
        assert db["snapshots"].get(new_row["snapshot_id"])["key"] == "NCT00791778"
    assert "NCT09000001: now an alias of NCT00791778" in result.output


@pytest.mark.parametrize("every", ["24", "0h", "-1h", "1w", "h", "1.5h", "24 hours"])
def test_a_bad_interval_is_a_usage_error(tmp_path, server, every):
    db_path = tmp_path / "kb.db"
    seed(db_path, SMALL[0])
    result = run(db_path, "--every", every)
    assert result.exit_code == 2 and "s, m, h or d" in result.output and server.requests == []


def test_a_missing_database_is_a_usage_error_and_is_not_created(tmp_path, server):
    result = run(tmp_path / "none.db")
    assert result.exit_code == 2 and "no knowledge base" in result.output
    assert not (tmp_path / "none.db").exists() and server.requests == []


# --- faults --------------------------------------------------------------------------------------------------------


def test_429_with_retry_after_on_a_page_is_waited_for_then_the_page_asked_again(tmp_path, server):
    db_path = tmp_path / "kb.db"
    seed(db_path, SMALL[0])
    later = modified(SMALL[0])
    stand_in = RegistryStandIn([later])
    server.route(SEARCH, stand_in, Reply(429, b"slow down", {"Retry-After": "1"}), stand_in)  # list, 429, page
    started = time.monotonic()
    assert run(db_path).exit_code == 0
    assert time.monotonic() - started >= 1  # the page was asked again only after the Retry-After
    assert page_requests(server) == [[nct_of(later)]] * 2
    assert [v["version"] for v in versions(db_path, nct_of(later))] == [1, 2]


FAULTS = {
    "500 storm": Reply(500, b"oops"),
    "read timeout": Reply(200, b"{}", delay=1.5),
    "connection reset": Reply(reset=True),
    "truncated under full Content-Length": Reply(200, b'{"studies":[' + modified(SMALL[1]) + b"]}", truncate=True),
    "truncated JSON served as complete": Reply(200, (b'{"studies":[' + modified(SMALL[1]))[:2000]),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_a_failing_page_is_listed_and_its_records_left_as_they_were(tmp_path, server, monkeypatch, fault):
    monkeypatch.setenv("KB_RETRIES", "0" if fault == "read timeout" else "2")
    db_path = tmp_path / "kb.db"
    seed(db_path, *SMALL)
    later = [modified(body) for body in SMALL]
    server.route(SEARCH, RegistryStandIn(later), FAULTS[fault])  # the change list, then the page fails
    before = db_dump(db_path)
    result = run(db_path)
    assert result.exit_code == 1
    assert f"ClinicalTrials.gov 3 records {nct_of(SMALL[0])}..{nct_of(SMALL[2])}:" in result.stderr
    assert "3 records left as they were" in result.stderr and "3 checked, 0 changed, 3 failed" in result.stdout
    assert db_dump(db_path) == before  # nothing stored, not even the change list: the next run asks again
    server.requests.clear()
    server.route(SEARCH, RegistryStandIn(later))
    assert run(db_path).exit_code == 0 and len(page_requests(server)) == 1
    assert [server.requests[0][1].get(name) for name in ("filter.ids", "filter.advanced")][1] is None
    for body in SMALL:
        assert [v["version"] for v in versions(db_path, nct_of(body))] == [1, 2]


@pytest.mark.parametrize("reply", [Reply(500, b"down"), Reply(200, b'{"message": "maintenance"}'),
                                   Reply(200, change_list(*SMALL), truncate=True), Reply(reset=True)],
                         ids=["500 storm", "not a search page", "truncated", "reset"])
def test_a_failing_change_list_fetches_nothing_and_changes_nothing(tmp_path, server, monkeypatch, reply):
    monkeypatch.setenv("KB_RETRIES", "1")
    db_path = tmp_path / "kb.db"
    seed(db_path, *SMALL)
    for body in SMALL:
        server.route(f"/ctgov/studies/{nct_of(body)}", Reply(200, modified(body)))
    server.route(SEARCH, reply)
    before = db_dump(db_path)
    result = run(db_path)
    assert result.exit_code == 1 and "change list of 3 records" in result.stderr and "nothing fetched" in result.stderr
    assert record_requests(server) == [] and db_dump(db_path) == before


def test_a_second_refresh_is_refused_while_the_lock_is_held(tmp_path, server):
    db_path = tmp_path / "kb.db"
    seed(db_path, SMALL[0])
    serve(server, modified(SMALL[0]))
    before = db_dump(db_path)
    with refresh_lock(str(db_path)):
        result = run(db_path)
    assert result.exit_code == 3 and "another refresh is writing" in result.stderr
    assert server.requests == [] and db_dump(db_path) == before
    assert run(db_path).exit_code == 0 and len(versions(db_path, nct_of(SMALL[0]))) == 2  # the lock is gone


def test_the_history_backfill_is_off_by_default(tmp_path, server, monkeypatch):
    monkeypatch.setenv("KB_CTGOV_HISTORY_URL", server.url + "/ctgov-int")
    db_path = tmp_path / "kb.db"
    seed(db_path, SMALL[0])
    serve(server, modified(SMALL[0]))
    assert run(db_path).exit_code == 0
    assert not [path for path, _ in server.requests if path.startswith("/ctgov-int")]


def test_a_failing_history_backfill_only_warns(tmp_path, server, monkeypatch):
    """No recorded response of the unofficial endpoint exists here, so only its failure is exercised (404)."""
    monkeypatch.setenv("KB_CTGOV_HISTORY_URL", server.url + "/ctgov-int")
    db_path = tmp_path / "kb.db"
    seed(db_path, SMALL[0])
    serve(server, modified(SMALL[0]))
    result = run(db_path, "--backfill-history")
    assert result.exit_code == 0 and "warning: history backfill (unofficial endpoint) skipped" in result.stderr
    assert server.count(f"/ctgov-int/studies/{nct_of(SMALL[0])}") == 1
    assert len(versions(db_path, nct_of(SMALL[0]))) == 2
    with open_db(str(db_path)) as db:
        assert db["snapshots"].count_where("source like '%history%'") == 0


# --- readers during a write ----------------------------------------------------------------------------------------

CONSISTENCY = """
select
  (select count(*) from trial_versions),
  (select count(*) from trials t where t.snapshot_id is not
     (select snapshot_id from trial_versions v where v.nct_id = t.nct_id order by version desc limit 1)),
  (select count(*) from endpoints e join trials t on e.subject = t.nct_id
     where e.source = 'registry' and e.snapshot_id is not t.snapshot_id),
  (select count(*) from trials where overall_status = 'TERMINATED')
"""


def test_readers_see_the_old_or_the_new_state_during_a_refresh_never_an_error_or_half(tmp_path, server):
    bodies = [renumbered(SMALL[i % 3], f"NCT0900{i:04d}") for i in range(20)]  # NOT real records: see renumbered()
    db_path = tmp_path / "kb.db"
    seed(db_path, *bodies)
    later = [modified(body, status="TERMINATED") for body in bodies]  # MODIFIED copies
    serve(server, *later)
    for body in later:
        server.route(f"/ctgov/studies/{nct_of(body)}", Reply(200, body, delay=0.05))
    seen, served, errors, done = [], [], [], threading.Event()

    def read_sqlite():
        conn = sqlite3.connect(db_path, isolation_level=None)
        while not done.is_set():
            try:
                conn.execute("begin")
                seen.append(conn.execute(CONSISTENCY).fetchone())
                conn.execute("commit")
            except sqlite3.Error as exc:
                errors.append(exc)
        conn.close()

    async def read_datasette():
        datasette = Datasette([str(db_path)])
        while not done.is_set():
            response = await datasette.client.get("/kb.json?_shape=array&sql=" + quote(CONSISTENCY))
            if response.status_code != 200:
                errors.append(response.text)
            else:
                served.append(tuple(response.json()[0].values()))

    readers = [threading.Thread(target=read_sqlite), threading.Thread(target=asyncio.run, args=(read_datasette(),))]
    for reader in readers:
        reader.start()
    try:
        result = run(db_path)
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert result.exit_code == 0 and "20 changed" in result.output
    assert errors == [] and seen and served
    for total, stale_trials, stale_endpoints, terminated in seen + served:
        assert stale_trials == 0 and stale_endpoints == 0  # each trial wholly old or wholly new
        assert total == 20 + terminated  # one new version per trial that shows the new status, no more, no less
    assert len({row[0] for row in seen}) >= 3 and len({row[0] for row in served}) >= 2  # states in between seen

"""`kb build --condition/--query`: a disease area from paged registry searches, its articles from PubMed in batches,
resumable; the guard that keeps fields-restricted pages out; a page split into its studies' exact bytes.

The search pages served here are RECONSTRUCTED, not recorded (tests/fixtures/PROVENANCE.md): `RegistryStandIn` wraps
the exact bytes of the 100 real recorded NSCLC studies (v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json) in pages
of its own. One study is served as a MODIFIED copy that also references PMID 22663011, so that PubMed's answer (the
real recorded efetch of that PMID) holds an article asked for. The fields-restricted pages are real recorded ones.
"""

import json

import pytest
from click.testing import CliRunner

from harvest.errors import ParseError
from harvest.http import Fetched
from harvest.registries import ctgov
from kb.cli import build
from kb.store.schema import open_db

from . import test_refresh as helpers
from .conftest import db_dump, fixture_bytes
from .loopback import RegistryStandIn, Reply, nct_of

BULK = [json.dumps(study, ensure_ascii=False).encode()
        for study in json.loads(fixture_bytes("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json"))]
EFETCH = fixture_bytes("pubmed", "efetch_pmid22663011_metric_trial_NCT01245062_biomcp.xml")
FIELDS_PAGES = {name: fixture_bytes("ctgov", name) for name in (
    "v2_search_keytruda_limit3_fields_biomcp.json", "v2_search_page1_phelan_limit5_biomcp.json")}
SEARCH, EFETCH_PATH = "/ctgov/studies", "/pubmed/efetch.fcgi"


def with_reference(body: bytes, pmid: str) -> bytes:
    """A MODIFIED copy of a recorded study that also references `pmid` (a test double, not a registry record)."""
    study = json.loads(body)
    references = study["protocolSection"].setdefault("referencesModule", {}).setdefault("references", [])
    references.append({"pmid": pmid, "type": "RESULT", "citation": "added by the test"})
    return json.dumps(study).encode()


AREA = [with_reference(BULK[0], "22663011"), *BULK[1:]]
NSCLC = [body for body in AREA if "nsclc" in " ".join(
    json.loads(body)["protocolSection"]["conditionsModule"]["conditions"]).lower()]


def referenced(bodies) -> list[str]:
    return list(dict.fromkeys(ref["pmid"] for body in bodies for ref in json.loads(body)["protocolSection"].get(
        "referencesModule", {}).get("references", []) if ref.get("pmid")))


@pytest.fixture
def area(server, monkeypatch):
    monkeypatch.setattr("kb.area.PAGE_SIZE", 40)
    monkeypatch.setattr("harvest.articles.pubmed.BATCH", 50)
    server.route(SEARCH, RegistryStandIn(AREA))
    server.route(EFETCH_PATH, Reply(200, EFETCH, {"Content-Type": "text/xml"}))
    return server


def run(db_path, *args):
    return CliRunner().invoke(build, [*args, "--db", str(db_path)], catch_exceptions=False)


def searches(server) -> list[dict]:
    return [query for path, query in server.requests if path == SEARCH]


def efetch_ids(server) -> list[list[str]]:
    return [query["id"][0].split(",") for path, query in server.requests if path == EFETCH_PATH]


def test_help_has_an_example_of_a_disease_area():
    text = " ".join(CliRunner().invoke(build, ["--help"]).output.split())
    assert 'Example: kb build --condition "POEMS syndrome"' in text and "--query TEXT" in text


def test_condition_builds_the_kb_from_every_page_and_fetches_pubmed_in_batches(tmp_path, area):
    assert 40 < len(NSCLC) <= 120  # three pages of 40
    result = run(tmp_path / "kb.db", "--condition", "NSCLC")
    assert result.exit_code == 0, result.output
    pages = searches(area)
    assert [q["query.cond"] for q in pages] == [["NSCLC"]] * 3 and all(q["pageSize"] == ["40"] for q in pages)
    assert [q.get("pageToken") for q in pages] == [None, ["40"], ["80"]] and "fields" not in pages[0]
    wanted = referenced(NSCLC)
    batches = efetch_ids(area)
    assert [len(b) for b in batches] == [50] * (len(wanted) // 50) + [len(wanted) % 50] * bool(len(wanted) % 50)
    assert sum(batches, []) == wanted and "22663011" in wanted
    with open_db(str(tmp_path / "kb.db")) as db:
        assert {row["nct_id"] for row in db["trials"].rows} == {nct_of(body) for body in NSCLC}
        for row in db.query("select t.nct_id, s.body, s.url from trials t join snapshots s on s.id = t.snapshot_id"):
            index = int(row["url"].rsplit("#/studies/", 1)[1])
            assert row["body"] in NSCLC and NSCLC.index(row["body"]) % 40 == index  # its bytes, its place
        assert db["snapshots"].count_where("key like 'search query.cond=NSCLC page %'") == 3
        assert db["articles"].count_where("pmid = '22663011'") == 1  # the one PubMed returned of those asked
        assert db["article_trials"].count_where("article_id in (select article_id from articles)") >= 1
    assert (f"area: {len(NSCLC)} studies in 3 pages, {len(NSCLC)} stored; {len(wanted)} PMIDs referenced, "
            f"{len(wanted)} asked of PubMed, 1 articles stored, {len(wanted) - 1} not returned; 0 failed"
            ) in result.output


def test_query_searches_the_full_text(tmp_path, area):
    result = run(tmp_path / "kb.db", "--query", "osimertinib")
    assert result.exit_code == 0, result.output
    assert [q["query.term"] for q in searches(area)] == [["osimertinib"]]
    matching = {nct_of(body) for body in AREA if b"osimertinib" in body.lower()}
    with open_db(str(tmp_path / "kb.db")) as db:
        assert matching and {row["nct_id"] for row in db["trials"].rows} == matching


def test_a_rerun_after_an_interruption_resumes_without_refetching(tmp_path, area, monkeypatch):
    monkeypatch.setenv("KB_RETRIES", "0")
    stand_in = RegistryStandIn(AREA)
    area.route(SEARCH, stand_in, Reply(500, b"down"))  # page 1, then the registry fails
    db_path = tmp_path / "kb.db"
    first = run(db_path, "--condition", "NSCLC")
    assert first.exit_code == 1 and "run the same command again to continue" in first.stderr
    with open_db(str(db_path)) as db:
        assert db["trials"].count == 40
    asked_first = sum(efetch_ids(area), [])
    assert asked_first == referenced(NSCLC[:40])  # the articles of what was stored

    area.requests.clear()
    area.route(SEARCH, stand_in)
    second = run(db_path, "--condition", "NSCLC")
    assert second.exit_code == 0, second.output
    assert [q.get("pageToken") for q in searches(area)] == [["40"], ["80"]]  # page 1 not asked again
    assert sum(efetch_ids(area), []) == [p for p in referenced(NSCLC) if p not in asked_first]
    assert "(1 stored by an earlier run)" in second.output
    with open_db(str(db_path)) as db:
        assert db["trials"].count == len(NSCLC)

    area.requests.clear()
    before = db_dump(db_path)
    third = run(db_path, "--condition", "NSCLC")
    assert third.exit_code == 0 and area.requests == [] and db_dump(db_path) == before
    assert "all 3 pages stored by an earlier run; not asked again" in third.output


@pytest.mark.parametrize("name", FIELDS_PAGES)
def test_a_fields_restricted_page_is_refused_and_nothing_stored(tmp_path, server, name):
    server.route(SEARCH, Reply(200, FIELDS_PAGES[name]))
    db_path = tmp_path / "kb.db"
    result = run(db_path, "--condition", "anything")
    assert result.exit_code == 1
    assert "a fields-restricted page, not full records; nothing of it stored" in result.stderr
    with open_db(str(db_path)) as db:
        assert db["trials"].count == 0 and db["snapshots"].count == 0


def test_a_fields_restricted_page_is_refused_by_refresh_and_the_record_left_as_it_was(tmp_path, server):
    db_path = tmp_path / "kb.db"
    helpers.seed(db_path, helpers.SMALL[0])
    later = helpers.modified(helpers.SMALL[0])
    fields_page = FIELDS_PAGES["v2_search_keytruda_limit3_fields_biomcp.json"]
    server.route(SEARCH, helpers.registry((later,), Reply(200, fields_page)))
    before = db_dump(db_path)
    result = helpers.run(db_path)
    assert result.exit_code == 1
    assert "lacks hasResults, derivedSection, protocolSection.identificationModule.orgStudyIdInfo" in result.stderr
    assert "1 records left as they were" in result.stderr and db_dump(db_path) == before


def test_a_page_asked_with_fields_is_refused_whatever_its_studies():
    page = Fetched("ClinicalTrials.gov", "search", "https://clinicaltrials.gov/api/v2/studies?fields=NCTId", 200,
                   b'{"studies":[' + helpers.SMALL[0] + b"]}")
    with pytest.raises(ParseError, match="the request had fields="):
        ctgov.split_page(page)


def test_a_page_splits_into_each_study_exact_bytes():
    """A RECONSTRUCTED page (the recorded studies wrapped with blanks and keys around them, as a server may)."""
    body = (b'{ "totalCount" : 3 ,\n "studies" : [\n  ' + b" ,\n  ".join(helpers.SMALL)
            + b'\n ] , "nextPageToken" : "a,b]}" }\n')
    page = Fetched("ClinicalTrials.gov", "search", "https://x/studies?filter.ids=1", 200, body)
    split = ctgov.split_page(page)
    assert [fetched.body for fetched, _ in split] == helpers.SMALL
    assert [fetched.key for fetched, _ in split] == [nct_of(body) for body in helpers.SMALL]
    assert [fetched.url for fetched, _ in split] == [f"https://x/studies?filter.ids=1#/studies/{i}" for i in range(3)]
    assert [study for _, study in split] == [json.loads(body) for body in helpers.SMALL]
    for broken in (body[:-40], body.replace(b'"studies"', b'"others"'), b"[]"):
        with pytest.raises(ParseError, match="not a search page"):
            ctgov.split_page(Fetched("ClinicalTrials.gov", "search", "https://x/studies", 200, broken))


def test_condition_with_nct_is_a_usage_error(tmp_path, server):
    result = run(tmp_path / "kb.db", "--condition", "NSCLC", "--nct", "NCT00973089")
    assert result.exit_code == 2 and "--condition and --query" in result.stderr and server.requests == []


def test_a_search_whose_next_page_token_repeats_ends_with_an_error(server):
    """The real recorded page 1 of a search, served again for every page: its token comes back, the pages would
    never end."""
    server.route(SEARCH, Reply(200, FIELDS_PAGES["v2_search_page1_phelan_limit5_biomcp.json"]))
    with pytest.raises(ParseError, match="given twice: the pages would never end"):
        list(ctgov.search(5, query_cond="Phelan-McDermid Syndrome"))
    assert len(server.requests) == 2


def test_the_pages_of_one_search_are_never_those_of_another_spelled_alike(tmp_path):
    """Stored pages are found by their search's exact key: not case-folded, `_` and `%` not wildcards."""
    from kb.area import stored_pages

    db = open_db(str(tmp_path / "kb.db"))
    keys = {ctgov.search_key(**{"query.cond": text}): text for text in ("NSCLC", "nsclc", "NSCLC_2", "NSCLC%")}
    assert len(keys) == 4
    db["snapshots"].insert_all([{"id": f"s{i}", "source": ctgov.SOURCE.name, "key": f"{key} page 1",
                                 "body": text.encode()} for i, (key, text) in enumerate(keys.items())])
    for key, text in keys.items():
        assert stored_pages(db, key) == [text.encode()]

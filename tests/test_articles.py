"""Articles merged from several sources: the seed article imported offline (its fixtures are RECONSTRUCTED from the
seed page, not recorded: see tests/fixtures/PROVENANCE.md), real recorded fixtures of other articles, author and
affiliation rules, and harvesting from a loopback server with sources failing one by one."""

import json

import pytest

from harvest import http
from harvest.errors import BadIdentifier, NotFound, ParseError
from kb import pipeline
from kb.load import affiliations, articles, names
from kb.store.schema import open_db

from .conftest import FIXTURES, SEED_FILES, db_dump, fixture_bytes, offline_bytes
from .loopback import Reply

SEED = list(SEED_FILES)  # reconstructed, not recorded
PMID, DOI, PMCID, NCT = "32009091", "10.2169/internalmedicine.3800-19", "PMC7270764", "NCT02193698"
PUBMED_XML = offline_bytes("pubmed_efetch_pmid32009091_reconstructed.xml")
CROSSREF_JSON = offline_bytes("crossref_works_10.2169_internalmedicine.3800-19_reconstructed.json")
EUROPEPMC_JSON = offline_bytes("europepmc_search_core_pmid32009091_reconstructed.json")
PAGE_HTML = offline_bytes("jstage_article_internalmedicine.3800-19_reconstructed.html")
FAMILIES = ["Suichi", "Suzuki", "Tsuneyama", "Nakamura", "Kuwabara", "Misawa", "Nagashima", "Sato", "Iwai",
            "Sekiguchi", "Shibuya", "Amino"]
GIVENS = ["Tomoki", "Yo-ichi", "Atsuko", "Keigo", "Satoshi", "Sonoko", "Kengo", "Yasunori", "Yuta", "Yukari",
          "Kazumoto", "Hiroshi"]
LANDING_PATH = "/article/internalmedicine/seed/_article"  # a stand-in: the real page address is not known
# CiNii Research: both RECONSTRUCTED (tests/fixtures/PROVENANCE.md); the CRID is a marked placeholder.
CINII_SEARCH = fixture_bytes("cinii", "opensearch_articles_doi_10.2169_internalmedicine.3800-19_reconstructed.json")
CINII_RECORD = offline_bytes("cinii_naid130007793886_reconstructed.json")
CINII_CRID = "0000000000000000000"


@pytest.fixture
def db(tmp_path):
    return open_db(str(tmp_path / "kb.db"))


def rows(db, sql, *params):
    return [tuple(r.values()) for r in db.query(sql, params)]


# --- the seed article, offline (reconstructed fixtures) -------------------------------------------------------------


def test_seed_import_yields_the_article_with_authors_affiliations_sections_and_trial_link(db):
    assert pipeline.import_article_files(db, SEED) == [f"pmid:{PMID}"]
    article = db["articles"].get(f"pmid:{PMID}")
    assert (article["pmid"], article["doi"], article["pmcid"], article["year"]) == (PMID, DOI, PMCID, 2020)
    assert json.loads(article["sources"]) == ["PubMed", "Crossref", "J-STAGE", "Europe PMC"]
    assert (article["volume"], article["issue"], article["pages"]) == (None, None, None)  # unknown, left empty
    assert json.loads(article["keywords"]) == ["POEMS syndrome", "VEGF", "clinical trial", "lenalidomide",
                                               "thalidomide"]

    authors = rows(db, """select a.family, a.given from article_authors aa join authors a using (author_id)
                          where aa.article_id = ? order by aa.position""", f"pmid:{PMID}")
    assert authors == list(zip(FAMILIES, GIVENS))
    assert rows(db, "select position from article_authors order by position") == [(i,) for i in range(12)]

    assert rows(db, "select department, institution, country from affiliations order by name") == [
        ("Department of Neurology, Graduate School of Medicine", "Chiba University", "Japan"),
        ("Department of Preventive Medicine and Public Health, School of Medicine", "Keio University", "Japan"),
        ("Research Center for Medical and Health Data Science", "The Institute of Statistical Mathematics", "Japan"),
    ]
    by_author = dict(rows(db, "select a.family, f.institution from author_affiliations x "
                              """join authors a using (author_id)
                                 join affiliations f using (affiliation_id)"""))
    assert (by_author["Nagashima"] == "The Institute of Statistical Mathematics"
            and by_author["Sato"] == "Keio University")
    assert len(by_author) == 12

    sections = list(db.query("select * from abstract_sections order by position"))
    assert [s["label"] for s in sections] == ["Objective", "Methods", "Results", "Discussion"]
    assert all(article["abstract"][s["span_start"]:s["span_end"]] == s["text"] for s in sections)
    assert "<p>" not in article["abstract"] and "<b>" not in article["abstract"]

    assert rows(db, "select nct_id, evidence from article_trials") == [(NCT, "abstract")]


def test_seed_sources_and_disagreements_are_queryable(db):
    pipeline.import_article_files(db, SEED)
    assert rows(db, "select source from article_sources order by source") == [
        ("Crossref",), ("Europe PMC",), ("J-STAGE",), ("PubMed",)]
    [(values,)] = rows(db, "select [values] from article_disagreements where field = 'abstract'")
    values = json.loads(values)
    assert "Polyneuropathy" in values["J-STAGE"] and "polyneuropathy" in values["PubMed"]
    # PubMed's final period on the title is a convention, not a disagreement; the author lists agree.
    assert rows(db, "select field from article_disagreements") == [("abstract",)]
    assert json.loads(db["articles"].get(f"pmid:{PMID}")["field_sources"])["abstract"] == "PubMed"


def test_importing_twice_gives_the_same_database(db, tmp_path):
    paths = [*SEED, FIXTURES / "europepmc" / "search_core_query_cancer_25results_pyeuropepmc.json"]
    pipeline.import_article_files(db, paths)
    first = db_dump(tmp_path / "kb.db")
    pipeline.import_article_files(db, paths)
    assert db_dump(tmp_path / "kb.db") == first


def test_a_changed_response_replaces_the_article_rows(db, tmp_path):
    (tmp_path / "pubmed.xml").write_bytes(PUBMED_XML)
    pipeline.import_article_files(db, [tmp_path / "pubmed.xml"])
    assert rows(db, "select source from article_sources") == [("PubMed",)]
    pipeline.import_article_files(db, SEED)
    assert len(rows(db, "select source from article_sources")) == 4
    assert db["article_authors"].count == 12 and db["abstract_sections"].count == 4


def test_page_alone_falls_back_to_given_name_first_which_is_the_documented_limit(db, tmp_path):
    (tmp_path / "page.html").write_bytes(PAGE_HTML)
    pipeline.import_article_files(db, [tmp_path / "page.html"])
    first = rows(db, "select a.family, a.given from article_authors join authors a using (author_id) "
                     "where position = 0")
    assert first == [("Tomoki", "Suichi")]


def test_page_and_crossref_without_pubmed_still_get_names_right(db, tmp_path):
    for name, body in {"page.html": PAGE_HTML, "work.json": CROSSREF_JSON}.items():
        (tmp_path / name).write_bytes(body)
    pipeline.import_article_files(db, [tmp_path / "page.html", tmp_path / "work.json"])
    authors = rows(db, "select a.family, a.given from article_authors join authors a using (author_id) "
                       "order by position")
    assert authors == list(zip(FAMILIES, GIVENS))
    assert db["articles"].get(f"doi:{DOI}")["title"].endswith("Clinical Trial")  # Crossref title, no PubMed


def test_swapped_names_in_a_structured_source_are_matched_and_reported(db, tmp_path):
    work = json.loads(CROSSREF_JSON)
    work["message"]["author"][0].update(given="Suichi", family="Tomoki")
    (tmp_path / "work.json").write_text(json.dumps(work))
    (tmp_path / "pubmed.xml").write_bytes(PUBMED_XML)
    pipeline.import_article_files(db, [tmp_path])
    assert db["article_authors"].count == 12
    [(values,)] = rows(db, "select [values] from article_disagreements where field = 'author_name_order'")
    assert json.loads(values) == {"Crossref": ["Suichi Tomoki"]}


def test_orcid_spelling_variants_and_nearby_positions_join_the_same_author(db, tmp_path):
    work = json.loads(CROSSREF_JSON)
    people = work["message"]["author"]
    people[1].update(given="Yoichi", ORCID="https://orcid.org/0000-0002-1825-0097")
    people[3], people[4] = people[4], people[3]  # Kuwabara before Nakamura: within the position window
    (tmp_path / "work.json").write_text(json.dumps(work))
    (tmp_path / "pubmed.xml").write_bytes(PUBMED_XML)
    pipeline.import_article_files(db, [tmp_path])
    authors = rows(db, "select a.author_id, a.given, aa.sources from article_authors aa "
                       """join authors a using (author_id)
                          order by aa.position""")
    assert len(authors) == 12 and [a[1] for a in authors] == GIVENS  # PubMed's order and spelling win
    assert authors[1][0] == "orcid:0000-0002-1825-0097"
    assert all(json.loads(a[2]) == ["PubMed", "Crossref"] for a in authors)
    assert rows(db, "select field from article_disagreements") == []


def test_title_case_page_range_and_author_count_disagreements(db, tmp_path):
    work = json.loads(CROSSREF_JSON)
    work["message"].update(title=["Lenalidomide treatment for thalidomide-refractory POEMS syndrome"], page="1-9")
    work["message"]["author"].append({"given": "Extra", "family": "Person", "sequence": "additional",
                                      "affiliation": []})
    (tmp_path / "work.json").write_text(json.dumps(work))
    pagination = b"<Pagination><MedlinePgn>1-8</MedlinePgn></Pagination><ELocationID"
    (tmp_path / "pubmed.xml").write_bytes(PUBMED_XML.replace(b"<ELocationID", pagination))
    pipeline.import_article_files(db, [tmp_path])
    found = dict(rows(db, "select field, [values] from article_disagreements"))
    assert set(found) == {"title", "pages", "author_count", "authors"}
    assert json.loads(found["pages"]) == {"Crossref": "1-9", "PubMed": "1-8"}
    assert json.loads(found["author_count"]) == {"Crossref": 13, "PubMed": 12}
    assert json.loads(found["authors"]) == {"Crossref": ["Extra Person"]}
    assert db["article_authors"].count == 13  # kept, appended, never dropped


# --- real recorded fixtures of other articles ------------------------------------------------------------------------


def test_pubmed_and_europepmc_records_of_one_article_merge_with_databank_and_abstract_links(db, tmp_path):
    for folder, name in [("pubmed", "efetch_pmid22663011_metric_trial_NCT01245062_biomcp.xml"),
                         ("europepmc", "search_lite_pmid22663011_metric_trial_biomcp.json")]:
        (tmp_path / name).write_bytes(fixture_bytes(folder, name))
    assert pipeline.import_article_files(db, [tmp_path]) == ["pmid:22663011"]
    article = db["articles"].get("pmid:22663011")
    assert json.loads(article["sources"]) == ["PubMed", "Europe PMC"] and article["pages"] == "107-114"
    assert rows(db, "select nct_id, evidence from article_trials order by evidence") == [
        ("NCT01245062", "abstract"), ("NCT01245062", "databank")]
    assert db["article_authors"].count == 26
    assert rows(db, "select display_name, collective from authors where author_id = 'group:metric study group'") == [
        ("METRIC Study Group", 1)]
    assert rows(db, "select country from affiliations") == [("USA",)]  # the trailing e-mail address is gone


def test_crossref_orcid_gives_the_author_id_and_trial_numbers_link(db):
    path = FIXTURES / "crossref" / "works_10.1136_esmoopen-2020-000776_body_extracted_from_habanero_cassette.json"
    [aid] = pipeline.import_article_files(db, [path])
    assert aid == "doi:10.1136/esmoopen-2020-000776"
    assert rows(db, "select author_id from article_authors where position = 0") == [("orcid:0000-0003-3863-9582",)]
    assert rows(db, "select nct_id from article_trials where evidence = 'crossref' order by nct_id") == [
        ("NCT03797326",), ("NCT04008797",)]


def test_multi_record_files_give_one_article_per_record_and_other_formats_are_skipped(db):
    ids = pipeline.import_article_files(db, [FIXTURES / "europepmc"
                                             / "search_core_query_cancer_25results_pyeuropepmc.json",
                                             FIXTURES / "jstage", FIXTURES / "pmc",
                                             FIXTURES / "ctgov" / "v2_study_NCT00973089_aact.json"])
    assert len(ids) == 25 + 3 + 1 and db["articles"].count == 29  # the PMC efetch is JATS full text: one article
    assert "doi:10.11249/jsbpjjpp.23.1_53" in ids and "pmid:20516115" in ids


def test_a_recognised_file_that_does_not_parse_saves_nothing(db, tmp_path):
    pipeline.import_article_files(db, SEED)
    before = db_dump(tmp_path / "kb.db")
    (tmp_path / "broken.xml").write_bytes(PUBMED_XML[:2000])
    with pytest.raises(ParseError, match="^PubMed broken.xml: parse failure: not well-formed XML"):
        pipeline.import_article_files(db, [*SEED, tmp_path / "broken.xml"])
    assert db_dump(tmp_path / "kb.db") == before


# --- names and affiliations ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("Tomoki Suichi", ("Suichi", "Tomoki")),
    ("Marco Del Vecchio", ("Del Vecchio", "Marco")),
    ("Ludwig van Beethoven", ("van Beethoven", "Ludwig")),
    ("Suzuki, Yo-ichi", ("Suzuki", "Yo-ichi")),
    ("Madonna", ("Madonna", None)),
])
def test_split_name_without_other_sources(text, expected):
    assert names.split_name(text) == expected


def test_written_as_matches_either_order_and_initials():
    suichi = {"family": "Suichi", "given": "Tomoki"}
    assert names.written_as("Suichi Tomoki", suichi) and names.written_as("Tomoki Suichi", suichi)
    assert names.written_as("T. Suichi", suichi) and not names.written_as("Suichi Kenji", suichi)
    assert names.written_as("Suzuki Yo-ichi", {"family": "Suzuki", "given": "Yoichi"})
    assert names.written_as("Marco Del Vecchio", {"family": "Del Vecchio", "given": "M"})


def test_author_keys():
    assert names.author_key({"family": "Suzuki", "given": "Yo-ichi"}) == "name:suzuki|yoichi"
    assert names.author_key({"family": "Flaherty", "given": "Keith T"}) == "name:flaherty|keith"
    assert names.author_key({"family": "Schöffski", "given": None, "initials": "P"}) == "name:schoffski|p"
    assert names.author_key({"orcid": "0000-0002-1825-0097", "family": "X"}) == "orcid:0000-0002-1825-0097"
    assert names.author_key({"collective": True, "name": "METRIC Study Group"}) == "group:metric study group"
    assert names.orcid("https://orcid.org/0000-0002-1825-009x") == "0000-0002-1825-009X"


def test_affiliation_normalisation_and_split():
    assert affiliations.normalise("Dept of X, Univ Y, Boston, MA, USA. Electronic address: a@b.org.; "
                                  "Sanofi,  Paris, France. c@d.fr") == ["Dept of X, Univ Y, Boston, MA, USA",
                                                                       "Sanofi, Paris, France"]
    assert affiliations.split("Division of Cardiothoracic Surgery, Indiana University Health Methodist Hospital, "
                              "Indiana University School of Medicine, Indianapolis, Indiana, USA") == {
        "department": "Division of Cardiothoracic Surgery",
        "institution": "Indiana University Health Methodist Hospital", "country": "USA"}
    assert (affiliations.affiliation_id("Chiba University, Japan")
            == affiliations.affiliation_id("CHIBA University, Japan"))


# --- harvest against a loopback server -------------------------------------------------------------------------------


def crossref_with_landing() -> bytes:
    """The reconstructed Crossref record plus a J-STAGE landing URL (a stand-in path; the real one is not known)."""
    work = json.loads(CROSSREF_JSON)
    work["message"]["resource"] = {"primary": {"URL": "https://www.jstage.jst.go.jp" + LANDING_PATH}}
    return json.dumps(work).encode()


def serve_seed(server, **replies):
    routes = {
        "/europepmc/search": Reply(200, EUROPEPMC_JSON),
        "/pubmed/efetch.fcgi": Reply(200, PUBMED_XML, {"Content-Type": "text/xml"}),
        f"/crossref/works/{DOI}": Reply(200, crossref_with_landing()),
        "/jstage" + LANDING_PATH: Reply(200, PAGE_HTML, {"Content-Type": "text/html"}),
        "/cinii/opensearch/articles": Reply(200, CINII_SEARCH),
        f"/cinii/crid/{CINII_CRID}.json": Reply(200, CINII_RECORD),
    }
    for path, reply in {**routes, **replies}.items():
        server.route(path, reply)


def test_harvest_by_pmid_uses_every_source_and_stores_no_secret(server, db, tmp_path, monkeypatch):
    monkeypatch.setenv("KB_CONTACT_EMAIL", "curator@example.org")
    monkeypatch.setenv("NCBI_API_KEY", "s3cr3tkey")
    serve_seed(server)
    report = pipeline.harvest_article(db, pmid=PMID)
    assert report == {"article_id": f"pmid:{PMID}", "sources_failed": {},
                      "sources_ok": ["Europe PMC", "PubMed", "Crossref", "J-STAGE", "CiNii Research"]}
    pubmed_params = next(params for path, params in server.requests if path == "/pubmed/efetch.fcgi")
    assert pubmed_params["api_key"] == ["s3cr3tkey"] and pubmed_params["tool"] == ["trial-kb"]
    dump = "\n".join(db_dump(tmp_path / "kb.db"))
    assert "s3cr3tkey" not in dump and "curator@example.org" not in dump and "curator%40" not in dump
    assert db["snapshots"].count == 6 and db["article_authors"].count == 12
    assert rows(db, "select nct_id, evidence from article_trials") == [(NCT, "abstract")]


def test_harvest_twice_gives_the_same_database(server, db, tmp_path):
    serve_seed(server)
    pipeline.harvest_article(db, doi="https://doi.org/" + DOI.upper())
    first = db_dump(tmp_path / "kb.db")
    pipeline.harvest_article(db, doi=DOI)
    assert db_dump(tmp_path / "kb.db") == first


def test_failing_sources_do_not_stop_the_others(server, db):
    serve_seed(server, **{
        f"/crossref/works/{DOI}": Reply(404, b"Resource not found."),
        "/pubmed/efetch.fcgi": Reply(200, PUBMED_XML.replace(b"refractory patients", b"refractory &nbsp; patients")),
        "/jstage_api": Reply(200, b'<feed xmlns="http://www.w3.org/2005/Atom">'
                                  b'<result><status>0</status></result></feed>'),
    })
    report = pipeline.harvest_article(db, pmid=PMID)
    assert report["sources_ok"] == ["Europe PMC", "CiNii Research"]
    assert report["sources_failed"] == {
        "PubMed": f"PubMed {PMID}: parse failure: XML uses the entity &nbsp;, which is undeclared or would need a DTD "
                  "(DTDs and external entities are never loaded)",
        "Crossref": f"Crossref {DOI}: not found: HTTP 404 from {server.url}/crossref/works/{DOI}",
        "J-STAGE WebAPI": f"J-STAGE WebAPI {DOI}: not found: no record of PMID {PMID} in the response",
    }
    assert json.loads(db["articles"].get(f"pmid:{PMID}")["sources"]) == ["Europe PMC", "CiNii Research"]
    assert db["snapshots"].count == 5  # Europe PMC, what PubMed and the WebAPI answered, CiNii's search and record


def test_page_without_meta_tags_is_reported_and_nothing_of_it_stored(server, db):
    serve_seed(server, **{"/jstage" + LANDING_PATH:
                          Reply(200, b"<html><head><title>Please wait</title></head></html>")})
    report = pipeline.harvest_article(db, pmid=PMID)
    assert report["sources_failed"] == {"J-STAGE": f"J-STAGE {DOI}: parse failure: page lacks citation_title, "
                                                   "citation_doi, citation_author (not an article page, "
                                                   "or the layout changed)"}
    assert rows(db, "select source from article_sources where source = 'J-STAGE'") == []


def test_without_crossref_the_page_is_found_through_the_webapi(server, db):
    entry = (f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">'
             f'<result><status>0</status></result><entry><article_title><en>Lenalidomide Treatment</en></article_title>'
             f'<article_link><en>https://www.jstage.jst.go.jp{LANDING_PATH}</en></article_link>'
             f'<prism:doi>{DOI}</prism:doi><pubyear>2020</pubyear></entry></feed>').encode()  # made up for the test
    serve_seed(server, **{f"/crossref/works/{DOI}": Reply(503), "/jstage_api": Reply(200, entry)})
    report = pipeline.harvest_article(db, pmid=PMID)
    assert report["sources_ok"] == ["Europe PMC", "PubMed", "J-STAGE WebAPI", "J-STAGE", "CiNii Research"]
    assert report["sources_failed"]["Crossref"].startswith(f"Crossref {DOI}: upstream failure:")
    webapi = next(params for path, params in server.requests if path == "/jstage_api")
    assert webapi["article"][0].startswith("Lenalidomide Treatment for Thalidomide-refractory")


def test_429_from_ncbi_keeps_the_other_sources(server, db, monkeypatch):
    monkeypatch.setenv("KB_RETRIES", "1")
    serve_seed(server, **{"/pubmed/efetch.fcgi": Reply(429, b'{"error":"API rate limit exceeded"}')})
    report = pipeline.harvest_article(db, pmid=PMID)
    assert report["sources_failed"]["PubMed"].startswith(f"PubMed {PMID}: upstream failure:")
    assert report["sources_ok"] == ["Europe PMC", "Crossref", "J-STAGE", "CiNii Research"]
    authors = rows(db, "select a.family, a.given from article_authors join authors a using (author_id) "
                       "order by position")
    assert authors == list(zip(FAMILIES, GIVENS))


def test_a_later_harvest_replaces_rows_stored_under_the_doi(server, db):
    serve_seed(server, **{"/europepmc/search": Reply(503), "/pubmed/efetch.fcgi": Reply(503)})
    assert pipeline.harvest_article(db, doi=DOI)["article_id"] == f"doi:{DOI}"
    serve_seed(server)
    assert pipeline.harvest_article(db, doi=DOI)["article_id"] == f"pmid:{PMID}"
    assert rows(db, "select article_id from articles") == [(f"pmid:{PMID}",)]
    assert rows(db, "select distinct article_id from article_authors") == [(f"pmid:{PMID}",)]


def test_unknown_pmid_raises_and_leaves_the_database_unchanged(server, db, tmp_path):
    pipeline.import_article_files(db, SEED)
    before = db_dump(tmp_path / "kb.db")
    server.route("/europepmc/search", Reply(200, b'{"hitCount":0,"resultList":{"result":[]}}'))
    server.route("/pubmed/efetch.fcgi", Reply(200, b"<PubmedArticleSet></PubmedArticleSet>"))
    with pytest.raises(NotFound) as error:
        pipeline.harvest_article(db, pmid="99999999")
    assert str(error.value) == ("article PMID 99999999: not found: no source gave it (Europe PMC: not found: "
                                "no record of PMID 99999999 in the response; PubMed: not found: no record of "
                                "PMID 99999999 in the response)")
    assert db_dump(tmp_path / "kb.db") == before


@pytest.mark.parametrize("kwargs, message", [
    ({"pmid": "123456789"}, "PMID '123456789': invalid identifier"),
    ({"pmid": "PMC7270764"}, "PMID 'PMC7270764': invalid identifier"),
    ({"doi": "10.12/short"}, "DOI '10.12/short': invalid identifier"),
    ({"doi": "doi: 10.2169 / x"}, "DOI 'doi: 10.2169 / x': invalid identifier"),
    ({}, "article None: invalid identifier: give a PMID or a DOI"),
])
def test_malformed_identifiers_are_refused_before_any_request(server, db, tmp_path, kwargs, message):
    before = db_dump(tmp_path / "kb.db")
    with pytest.raises(BadIdentifier) as error:
        pipeline.harvest_article(db, **kwargs)
    assert str(error.value).startswith(message)
    assert server.requests == [] and db_dump(tmp_path / "kb.db") == before


def test_articles_in_is_a_pure_merge():
    fetched = [http.Fetched("PubMed", PMID, "u", 200, PUBMED_XML), http.Fetched("J-STAGE", DOI, "u", 200, PAGE_HTML)]
    [[main, *others]] = articles.articles_in(fetched)
    assert main.rows["articles"][0]["article_id"] == f"pmid:{PMID}"
    assert [a["family"] for a in main.rows["authors"]] == FAMILIES
    assert {d.snapshot.source for d in others} == {"PubMed", "J-STAGE"}

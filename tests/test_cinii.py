"""CiNii Research: real recorded CRID JSON-LD records and a real OpenSearch JSON page (see tests/fixtures/PROVENANCE.md,
section "cinii/"), the seed article's JSON-LD and a DOI search page RECONSTRUCTED from the seed (not recorded),
the name-order rule and its limits, recognising saved files, damaged input, and `lookup` against a loopback server."""

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings

from harvest.articles import cinii
from harvest.errors import NotFound, ParseError, UpstreamError

from .conftest import FIXTURES, fixture_bytes, offline_bytes
from .loopback import Reply
from .mutate import mutated_json

NRID_JA = fixture_bytes("cinii", "crid_1050002213762702720_article_nrid_ja_ckgerteis-cinii-mcp.json")  # real
ORG_EN = fixture_bytes("cinii", "crid_1571135649335369984_article_en_org_creator_ckgerteis-cinii-mcp.json")  # real
SEARCH_REAL = fixture_bytes("cinii", "opensearch_articles_q_natsume_soseki_count2_jp-lit-mcp.json")  # real
SEED = offline_bytes("cinii_naid130007793886_reconstructed.json")  # RECONSTRUCTED, not recorded
SEARCH_SEED = fixture_bytes("cinii", "opensearch_articles_doi_10.2169_internalmedicine.3800-19_reconstructed.json")
DOI = "10.2169/internalmedicine.3800-19"
PLACEHOLDER_CRID = "0000000000000000000"  # in the reconstructed search page: the seed's CRID is not known


def head(body: bytes) -> bytes:
    """What `harvest.sources.sniff` hands to `looks_like`."""
    return body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()


# --- real JSON-LD records --------------------------------------------------------------------------------------------


def test_real_japanese_record_with_nrid():
    [record] = cinii.parse(NRID_JA, "crid")
    assert record["source"] == "CiNii Research" and record["path"] == "$"
    assert record["ids"] == {"pmid": None, "doi": None, "pmcid": None}
    assert record["other_ids"] == {"crid": "1050002213762702720", "naid": "120006816768"}
    assert record["landing_url"] == "https://cir.nii.ac.jp/crid/1050002213762702720"
    assert record["fields"] == {
        "title": "鈴木文治と大正勞働運動 (中)",
        "titles": {"und": "鈴木文治と大正勞働運動 (中)"},  # the record gives this title no @language
        "journal": "法學研究 : 法律・政治・社会",
        "issn": "0389-0538",  # written 03890538 in the record
        "volume": "32", "issue": "2/3", "pages": "21-45",
        "pub_date": "1959-03", "year": 1959,
        "language": "ja",
        "abstracts": {},  # its two descriptions are of type "Other", not abstracts
    }
    assert record["sections"] == [] and record["trials"] == []
    [author] = record["authors"]
    # "中村, 勝範": family, comma, given
    assert (author["family"], author["given"], author["name"]) == ("中村", "勝範", None)
    assert author["identifiers"] == {"nrid": "9000408628758"}
    assert author["affiliations"] == [] and author["orcid"] is None and author["path"] == "$.creator[0]"


def test_real_english_record_without_title_keeps_a_group_name_unsplit():
    [record] = cinii.parse(ORG_EN, "crid")
    assert record["other_ids"] == {"crid": "1571135649335369984", "naid": "10005672599"}
    fields = record["fields"]
    assert fields["title"] is None and fields["titles"] == {}
    assert (fields["journal"], fields["volume"], fields["issue"], fields["pages"]) == (
        "Socialist R. of Vietnam.", "243", None, None)
    assert (fields["pub_date"], fields["year"], fields["issn"], fields["language"]) == ("1995", 1995, None, None)
    [author] = record["authors"]
    # three words and a dot: the rule cannot tell, so the name stays as written (no NRID in this record)
    assert author["name"] == "Japan-Vitnam Friendship Association." and author["family"] is None
    assert "identifiers" not in author


def test_real_record_in_two_languages_prefers_english_names_and_affiliations():
    """Built from the real record above, with a second name and affiliations added (test input, not a response)."""
    doc = json.loads(NRID_JA)
    creator = doc["creator"][0]
    creator["foaf:name"].append({"@language": "en", "@value": "Nakamura Katsunori"})
    creator["jpcoar:affiliationName"] = [{"@language": "ja", "@value": "慶應義塾大学"}]
    creator["personIdentifier"].append({"@type": "ORCID", "@value": "https://orcid.org/0000-0002-1825-0097"})
    doc["dc:title"].append({"@language": "en", "@value": "Bunji Suzuki and the labor movement in Taisho period (2)"})
    [record] = cinii.parse(json.dumps(doc, ensure_ascii=False))
    [author] = record["authors"]
    assert (author["family"], author["given"]) == ("Nakamura", "Katsunori")
    assert author["affiliations"] == ["慶應義塾大学"]  # only Japanese given: kept
    assert (author["orcid"] == "https://orcid.org/0000-0002-1825-0097"
            and author["identifiers"] == {"nrid": "9000408628758"})
    assert record["fields"]["title"] == "Bunji Suzuki and the labor movement in Taisho period (2)"
    assert set(record["fields"]["titles"]) == {"und", "en"}
    creator["jpcoar:affiliationName"].append({"@language": "en", "@value": "Keio University"})
    [record] = cinii.parse(json.dumps(doc, ensure_ascii=False))
    assert record["authors"][0]["affiliations"] == ["Keio University"]  # English preferred


def test_real_opensearch_page():
    """The page's one item has a NAID but no DOI, PMID or PMCID: it describes no article the KB can name."""
    assert cinii.parse(SEARCH_REAL, "search") == []
    item = json.loads(SEARCH_REAL)["items"][0]
    record = cinii._item(item, "$.items[0]")
    assert record["other_ids"] == {"crid": "1573387450265380480", "naid": "10019109559"}
    assert record["landing_url"] == "https://cir.nii.ac.jp/crid/1573387450265380480"
    assert (record["fields"]["journal"], record["fields"]["year"]) == ("行人", 1965)
    [author] = record["authors"]
    assert author["name"] == "夏目漱石" and author["family"] is None  # written without a space: cannot tell


# --- reconstructed seed record ---------------------------------------------------------------------------------------


def test_reconstructed_seed_record_resolves_family_name_first():
    """kb/data/offline/cinii_naid130007793886_reconstructed.json is RECONSTRUCTED from the seed page (CiNii's own
    listing), not a recorded response: no CRID, NRID, volume, issue or pages are known, so none are given."""
    [record] = cinii.parse(SEED, DOI)
    assert record["ids"] == {"pmid": None, "doi": DOI, "pmcid": None}
    assert record["other_ids"] == {"naid": "130007793886"} and record["landing_url"] is None
    fields = record["fields"]
    assert fields["title"].startswith("Lenalidomide Treatment for Thalidomide-refractory POEMS Syndrome")
    assert fields["titles"] == {"en": fields["title"]}
    assert (fields["journal"], fields["year"], fields["pub_date"]) == ("Internal Medicine", 2020, "2020")
    assert (fields["volume"], fields["issue"], fields["pages"], fields["issn"]) == (None, None, None, None)
    assert list(fields["abstracts"]) == ["en"] and "<b>" not in fields["abstracts"]["en"]
    assert [s["label"] for s in record["sections"]] == ["Objective", "Methods", "Results", "Discussion"]
    assert record["sections"][0]["path"] == "$.description[0].notation[0]"
    assert "NCT02193698" in record["sections"][1]["text"] and record["trials"] == []  # the KB finds it in the text
    authors = record["authors"]
    assert len(authors) == 12
    assert (authors[0]["given"], authors[0]["family"], authors[0]["name"]) == ("Tomoki", "Suichi", None)
    assert (authors[1]["given"], authors[1]["family"]) == ("Yo-ichi", "Suzuki")
    assert (authors[11]["given"], authors[11]["family"]) == ("Hiroshi", "Amino")
    assert authors[0]["affiliations"] == [
        "Department of Neurology, Graduate School of Medicine, Chiba University, Japan"]
    assert authors[6]["affiliations"] == ["Research Center for Medical and Health Data Science, "
                                          "The Institute of Statistical Mathematics, Japan"]
    assert all("identifiers" not in a for a in authors)


# --- the name rule and its limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("Suichi Tomoki", ("Suichi", "Tomoki")),
    ("大向 一輝", ("大向", "一輝")),  # CiNii's documentation writes Japanese names family first
    ("OHMUKAI IKKI", ("OHMUKAI", "IKKI")),  # ... and their romanisation too
    ("中村, 勝範", ("中村", "勝範")),
    ("Del Vecchio, Marco", ("Del Vecchio", "Marco")),
    ("John Smith", ("John", "Smith")),  # limit: a given-name-first name is read the wrong way round
    ("夏目漱石", (None, None)),
    ("T. Suichi", (None, None)),
    ("Suichi T", (None, None)),
    ("Maria de la Cruz", (None, None)),
    ("Japan-Vitnam Friendship Association.", (None, None)),
    ("Smith,", (None, None)),
])
def test_name_rule(text, expected):
    assert cinii.split_name(text) == expected


# --- recognising saved files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [NRID_JA, ORG_EN, SEARCH_REAL, SEED, SEARCH_SEED, b"\xef\xbb\xbf\n " + NRID_JA])
def test_looks_like_cinii_files(body):
    assert cinii.looks_like(head(body))


OTHER_FILES = sorted(p for folder in ("crossref", "europepmc", "pubmed", "ctgov", "jstage", "pmc", "seed")
                     for p in (FIXTURES / folder).glob("*") if p.is_file())


@pytest.mark.parametrize("path", OTHER_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_does_not_look_like_other_sources(path):
    assert not cinii.looks_like(head(path.read_bytes()))


def test_does_not_look_like_html_or_crossref_citing_cinii():
    assert not cinii.looks_like(head(b"<!DOCTYPE html><html><head><title>CiNii Research</title>"
                                     b'<link href="https://cir.nii.ac.jp/schema/1.0/"></head></html>'))
    assert not cinii.looks_like(head(b'{"status":"ok","message-type":"work","message":{"reference":'
                                     b'[{"unstructured":"https://cir.nii.ac.jp/crid/1050002213762702720"}]}}'))


# --- damaged input ---------------------------------------------------------------------------------------------------


def test_truncated_body_is_a_parse_error():
    with pytest.raises(ParseError, match=r"^CiNii Research crid: parse failure: body is not valid JSON"):
        cinii.parse(NRID_JA[: len(NRID_JA) // 2], "crid")


@pytest.mark.parametrize("body", [
    fixture_bytes("crossref", "works_10.1136_esmoopen-2020-000776_body_extracted_from_habanero_cassette.json"),
    b'{"resultList": {"result": []}}', b"[]", b'"text"', b"{}",
])
def test_json_that_is_not_cinii_is_a_parse_error(body):
    with pytest.raises(ParseError, match="^CiNii Research x: parse failure: JSON is"):
        cinii.parse(body, "x")


def test_researcher_record_is_not_an_article():
    doc = json.loads(NRID_JA)
    doc["@type"] = "Researcher"
    with pytest.raises(ParseError, match="is a Researcher, not a research product"):
        cinii.parse(json.dumps(doc), "x")


def test_damaged_values_are_tolerated():
    doc = json.loads(NRID_JA)
    damaged = copy.deepcopy(doc)
    damaged.update({"dc:title": {"x": [1]}, "creator": [None, {"foaf:name": {"@value": None}}], "publication": [],
                    "productIdentifier": [{"identifier": "x"}, {"identifier": {"@type": "DOI", "@value": "no"}}]})
    [record] = cinii.parse(json.dumps(damaged))
    assert record["fields"]["title"] is None and record["ids"]["doi"] is None
    assert [a["name"] for a in record["authors"]] == [None]


# --- lookup ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def cinii_server(server, monkeypatch):
    monkeypatch.setenv("KB_CINII_URL", server.url + "/cinii")
    monkeypatch.setenv("KB_CINII_RATE", "1000")
    monkeypatch.setenv("CINII_APPID", "test-appid-123")
    return server


def test_lookup_searches_by_doi_then_fetches_the_items_json_ld(cinii_server):
    """Both bodies are RECONSTRUCTED (the seed's search page, with a placeholder CRID, and its JSON-LD)."""
    cinii_server.route("/cinii/opensearch/articles", Reply(200, SEARCH_SEED))
    cinii_server.route(f"/cinii/crid/{PLACEHOLDER_CRID}.json",
                       Reply(200, SEED, {"Content-Type": "application/ld+json"}))
    fetched = list(cinii.lookup({"pmid": None, "doi": DOI, "pmcid": None}, []))
    assert [path for path, _ in cinii_server.requests] == ["/cinii/opensearch/articles",
                                                         f"/cinii/crid/{PLACEHOLDER_CRID}.json"]
    assert cinii_server.requests[0][1] == {"doi": [DOI], "format": ["json"], "count": ["20"],
                                           "appid": ["test-appid-123"]}
    assert cinii_server.requests[1][1] == {}
    assert [f.body for f in fetched] == [SEARCH_SEED, SEED]
    assert all(f.source == "CiNii Research" and f.key == DOI and f.status == 200 for f in fetched)
    assert "appid" not in fetched[0].url and "doi=10.2169" in fetched[0].url
    assert [r["ids"]["doi"] for f in fetched for r in cinii.parse(f.body, f.key)] == [DOI, DOI]


def test_lookup_stops_when_no_item_carries_the_doi(cinii_server):
    cinii_server.route("/cinii/opensearch/articles", Reply(200, SEARCH_REAL))  # real page: its item has no DOI
    fetched = list(cinii.lookup({"pmid": None, "doi": DOI, "pmcid": None}, []))
    assert [f.body for f in fetched] == [SEARCH_REAL] and cinii_server.count("/cinii/opensearch/articles") == 1
    assert len(cinii_server.requests) == 1


def test_lookup_without_doi_asks_nothing(cinii_server):
    assert list(cinii.lookup({"pmid": "32009091", "doi": None, "pmcid": None}, [])) == []
    assert cinii_server.requests == []


def test_lookup_hides_the_appid_in_errors(cinii_server):
    with pytest.raises(NotFound) as error:
        list(cinii.lookup({"pmid": None, "doi": DOI, "pmcid": None}, []))
    assert "test-appid-123" not in str(error.value) and "appid" not in str(error.value)


def test_real_api_is_not_asked_without_an_appid(monkeypatch):
    monkeypatch.delenv("KB_CINII_URL", raising=False)
    monkeypatch.delenv("CINII_APPID", raising=False)
    with pytest.raises(UpstreamError, match="CINII_APPID is not set"):
        list(cinii.lookup({"pmid": None, "doi": DOI, "pmcid": None}, []))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=mutated_json(NRID_JA) | mutated_json(ORG_EN) | mutated_json(SEED) | mutated_json(SEARCH_SEED))
def test_damaged_response_gives_records_or_parse_error_only(body):
    try:
        records = cinii.parse(body, "damaged")
    except ParseError:
        return
    for record in records:
        assert record["source"] == "CiNii Research" and isinstance(record["authors"], list)
        assert all(isinstance(a["affiliations"], list) for a in record["authors"])

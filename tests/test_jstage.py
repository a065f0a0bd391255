"""J-STAGE: the WebAPI Atom search (real recorded response), the landing page's citation_* meta tags (the seed
article's page, RECONSTRUCTED from the seed, not recorded: see tests/fixtures/PROVENANCE.md), damaged inputs, and
fetching both from a loopback server."""

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from harvest.articles import jstage
from harvest.errors import ParseError

from .conftest import fixture_bytes, offline_bytes
from .loopback import Reply
from .mutate import mutated_html, mutated_xml

ATOM = fixture_bytes("jstage", "webapi_search_service3_pyjstage.xml")
PAGE = offline_bytes("jstage_article_internalmedicine.3800-19_reconstructed.html")  # reconstructed
DOI = "10.2169/internalmedicine.3800-19"


def test_webapi_entries_of_the_real_fixture():
    tree = etree.fromstring(ATOM)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    records = jstage.parse_search(ATOM)
    assert len(records) == len(tree.findall("a:entry", ns)) == 3
    first = records[0]
    assert first["ids"]["doi"] == "10.11249/jsbpjjpp.23.1_53"
    assert first["fields"] == {"title": "Schizophrenia from viewpoint of the evolutionary psychiatry",
                               "journal": "Japanese Journal of Biological Psychiatry", "issn": "2186-6619, 2186-6465",
                               "volume": "23", "issue": "1", "pages": "53-59", "pub_date": "2012", "year": 2012}
    assert [a["name"] for a in first["authors"]] == ["Satoshi Kato"] and first["authors"][0]["family"] is None
    assert first["landing_url"] == "https://www.jstage.jst.go.jp/article/jsbpjjpp/23/1/23_53/_article"
    assert [len(r["authors"]) for r in records] == [
        len(e.findall("a:author/a:en/a:name", ns)) for e in tree.findall("a:entry", ns)]


def test_webapi_error_status_is_a_parse_error():
    body = (b'<feed xmlns="http://www.w3.org/2005/Atom">'
            b'<result><status>ERR_001</status><message>bad</message></result></feed>')
    with pytest.raises(ParseError, match="^J-STAGE WebAPI x: parse failure: WebAPI status ERR_001: bad"):
        jstage.parse_search(body, "x")


def test_reconstructed_seed_page_keeps_names_as_written_with_their_institutions():
    [record] = jstage.parse_page(PAGE, DOI)
    assert record["ids"]["doi"] == DOI
    assert record["fields"]["title"].startswith("Lenalidomide Treatment for Thalidomide-refractory POEMS")
    assert (record["fields"]["volume"], record["fields"]["issue"], record["fields"]["pages"]) == (None, None, None)
    assert record["fields"]["year"] == 2020 and len(record["fields"]["keywords"]) == 5
    authors = record["authors"]
    assert len(authors) == 12 and authors[0]["name"] == "Suichi Tomoki" and authors[0]["family"] is None
    assert authors[6]["affiliations"] == ["Research Center for Medical and Health Data Science, "
                                          "The Institute of Statistical Mathematics, Japan"]
    assert [s["label"] for s in record["sections"]] == ["Objective", "Methods", "Results", "Discussion"]
    assert "Polyneuropathy" in record["sections"][0]["text"] and "<b>" not in record["sections"][0]["text"]


def test_family_comma_given_is_structured():
    page = b'<meta name="citation_title" content="T"><meta name="citation_doi" content="10.1234/x">' \
           b'<meta name="citation_author" content="Del Vecchio, Marco">'
    [record] = jstage.parse_page(page)
    assert (record["authors"][0]["family"], record["authors"][0]["given"]) == ("Del Vecchio", "Marco")


@pytest.mark.parametrize("page, missing", [
    (b"<html><head><title>Maintenance</title></head><body>Service down</body></html>",
     "citation_title, citation_doi, citation_author"),
    (PAGE.replace(b'name="citation_author"', b'name="dc.creator"'), "citation_author"),
    (PAGE.replace(b'content="10.2169/', b'content="11.2169/'), "a valid citation_doi"),
])
def test_page_without_the_expected_meta_tags_says_which_are_missing(page, missing):
    with pytest.raises(ParseError) as error:
        jstage.parse_page(page, DOI)
    assert str(error.value) == (f"J-STAGE {DOI}: parse failure: page lacks {missing} "
                                "(not an article page, or the layout changed)")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=mutated_html(PAGE))
def test_damaged_page_gives_a_record_or_parse_error_only(body):
    try:
        [record] = jstage.parse_page(body, "damaged")
    except ParseError:
        return
    assert record["fields"]["title"] and record["authors"] and record["ids"]["doi"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=mutated_xml(ATOM))
def test_damaged_webapi_response_gives_records_or_parse_error_only(body):
    try:
        records = jstage.parse_search(body, "damaged")
    except ParseError:
        return
    assert all(r["ids"]["doi"] for r in records)


# --- fetch -----------------------------------------------------------------------------------------------------------


def test_landing_page_is_fetched_from_the_configured_base(server):
    path = "/article/internalmedicine/59/1/59_3800-19/_article"
    server.route("/jstage" + path, Reply(200, PAGE, {"Content-Type": "text/html"}))
    fetched = jstage.fetch_page("doi:" + DOI, "https://www.jstage.jst.go.jp" + path)
    assert fetched.body == PAGE and fetched.key == DOI
    assert jstage.is_jstage_url("https://www.jstage.jst.go.jp" + path)
    assert not jstage.is_jstage_url("https://jcp.bmj.com/lookup/doi/10.1136/x") and not jstage.is_jstage_url(None)


def test_webapi_search_by_title(server):
    server.route("/jstage_api", Reply(200, ATOM, {"Content-Type": "application/atom+xml"}))
    jstage.search(DOI, "Lenalidomide Treatment for Thalidomide-refractory POEMS Syndrome.")
    params = server.requests[0][1]
    assert (params["service"] == ["3"]
            and params["article"] == ["Lenalidomide Treatment for Thalidomide-refractory POEMS Syndrome"])

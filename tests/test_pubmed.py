"""PubMed efetch: parsing real recorded XML (counted independently with XPath), damaged XML, and fetching from a
loopback server with NCBI etiquette (tool, email, api_key, batches, rate) and no secret stored."""

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from harvest.articles import pubmed
from harvest.errors import BadIdentifier, NotFound, ParseError, UpstreamError

from .conftest import fixture_bytes
from .loopback import Reply
from .mutate import mutated_xml

METRIC = fixture_bytes("pubmed", "efetch_pmid22663011_metric_trial_NCT01245062_biomcp.xml")
ATCS = fixture_bytes("pubmed", "efetch_pmid31588070_ann_thorac_cardiovasc_surg_jstage_journal_metapub.xml")
PATH = "/pubmed/efetch.fcgi"


@pytest.mark.parametrize("body", [METRIC, ATCS], ids=["metric", "atcs"])
def test_every_author_and_affiliation_of_the_real_fixtures_is_parsed(body):
    tree = etree.fromstring(body, etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False))
    [record] = pubmed.parse(body)
    authors = tree.xpath("//Article/AuthorList/Author")
    assert len(record["authors"]) == len(authors) > 0
    assert sum(len(a["affiliations"]) for a in record["authors"]) == len(
        tree.xpath("//Article/AuthorList/Author/AffiliationInfo/Affiliation"))
    assert [a["family"] for a in record["authors"]] == [a.findtext("LastName") for a in authors]
    assert len(record["sections"]) == len(tree.xpath("//Abstract/AbstractText"))


def test_metric_trial_fields():
    [record] = pubmed.parse(METRIC, "22663011")
    assert record["ids"] == {"pmid": "22663011", "doi": "10.1056/nejmoa1203421", "pmcid": None}
    fields = record["fields"]
    assert fields["title"] == "Improved survival with MEK inhibition in BRAF-mutated melanoma."
    assert ((fields["journal_iso"], fields["issn"], fields["volume"], fields["issue"])
            == ("N Engl J Med", "1533-4406", "367", "2"))
    assert ((fields["pages"], fields["pub_date"], fields["epub_date"], fields["year"])
            == ("107-114", "2012-07-12", "2012-06-04", 2012))
    assert "Randomized Controlled Trial" in fields["publication_types"] and fields["language"] == "eng"
    melanoma = next(m for m in fields["mesh"] if m["descriptor"] == "Melanoma")
    assert [q["name"] for q in melanoma["qualifiers"]] == ["drug therapy", "genetics", "mortality"]
    assert melanoma["qualifiers"][0]["major"] is True
    assert [(s["label"], s["category"]) for s in record["sections"]][0] == ("BACKGROUND", "BACKGROUND")
    assert "P<0.001" in record["sections"][2]["text"]  # &lt; decoded, text kept
    assert record["trials"] == [{"nct_id": "NCT01245062", "evidence": "databank", "path": record["trials"][0]["path"]}]
    assert fields["accessions"] == [{"databank": "ClinicalTrials.gov", "accession": "NCT01245062"}]
    first, group = record["authors"][0], record["authors"][-1]
    assert (first["family"], first["given"], first["initials"]) == ("Flaherty", "Keith T", "KT")
    assert group["collective"] and group["name"] == "METRIC Study Group" and group["family"] is None
    assert "Del Vecchio" not in {a["family"] for a in record["authors"]}  # investigators are not authors


def test_jstage_journal_fixture_keywords_pmcid_and_multiword_family_name():
    [record] = pubmed.parse(ATCS)
    assert record["ids"]["pmcid"] == "PMC7184035"  # from PubmedData, not from the reference list
    assert record["fields"]["keywords"][0] == "catheter thrombolysis"
    assert record["authors"][0]["family"] == "Martinez Licha"
    assert record["sections"][0]["category"] == "OBJECTIVE" and record["sections"][0]["label"] == "PURPOSE"


def test_orcid_identifier_and_invalid_author_entries():
    body = b"""<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><ArticleTitle>T</ArticleTitle>
      <AuthorList><Author ValidYN="Y"><LastName>Sato</LastName><ForeName>Yo-ichi</ForeName>
      <Identifier Source="ORCID">https://orcid.org/0000-0002-1825-0097</Identifier></Author>
      <Author ValidYN="N"><LastName>Wrong</LastName></Author></AuthorList></Article></MedlineCitation>
      </PubmedArticle></PubmedArticleSet>"""
    [record] = pubmed.parse(body)
    assert [a["family"] for a in record["authors"]] == ["Sato"]
    assert record["authors"][0]["orcid"] == "https://orcid.org/0000-0002-1825-0097"


def test_empty_set_has_no_record_and_error_is_not_found():
    assert pubmed.parse(b"<?xml version='1.0'?><PubmedArticleSet></PubmedArticleSet>") == []
    with pytest.raises(NotFound, match="PubMed 99999999: not found: E-utilities error: Cannot retrieve"):
        pubmed.parse(b"<eFetchResult><ERROR>Cannot retrieve ID list</ERROR></eFetchResult>", "99999999")


@pytest.mark.parametrize("body, reason", [
    (b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><ArticleTitle>a &nbsp; b"
     b"</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>", "not well-formed XML"),
    (METRIC.replace(b"Improved survival", b"Improved &nbsp; survival"), "entity &nbsp;"),
    (b'<!DOCTYPE PubmedArticleSet [<!ENTITY x SYSTEM "file:///etc/passwd">]><PubmedArticleSet><PubmedArticle>'
     b"<MedlineCitation><PMID>1</PMID><Article><ArticleTitle>&x;</ArticleTitle></Article></MedlineCitation>"
     b"</PubmedArticle></PubmedArticleSet>", "entity &x;"),
    (METRIC[:5000], "not well-formed XML"),
    (b"<html><body>Service unavailable</body></html>", "not <PubmedArticleSet>"),
    (b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>abc</PMID></MedlineCitation></PubmedArticle>"
     b"</PubmedArticleSet>", "has no valid PMID"),
], ids=["undeclared", "undeclared-with-dtd", "external-entity", "truncated", "html", "bad-pmid"])
def test_bad_xml_is_a_one_line_parse_error(body, reason):
    with pytest.raises(ParseError, match=reason) as error:
        pubmed.parse(body, "22663011")
    assert str(error.value).startswith("PubMed 22663011: parse failure:") and "\n" not in str(error.value)
    assert "root:" not in str(error.value)  # the external entity was never read


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=mutated_xml(METRIC) | mutated_xml(ATCS))
def test_damaged_real_xml_gives_records_or_parse_error_only(body):
    try:
        records = pubmed.parse(body, "damaged")
    except ParseError:
        return
    for record in records:
        assert record["ids"]["pmid"].isdigit()
        assert all(isinstance(a["affiliations"], list) for a in record["authors"])


# --- fetch -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["abc", "123456789", "", "PMID:", "0", "12 34", "PMC123"])
def test_malformed_pmid_is_refused_before_any_request(server, bad):
    with pytest.raises(BadIdentifier, match="1 to 8 digits"):
        pubmed.fetch(["32009091", bad])
    assert server.requests == []


def test_fetch_sends_etiquette_and_stores_no_secret(server, monkeypatch):
    monkeypatch.setenv("KB_CONTACT_EMAIL", "curator@example.org")
    monkeypatch.setenv("NCBI_API_KEY", "s3cr3tkey")
    server.route(PATH, Reply(200, METRIC, {"Content-Type": "text/xml"}))
    fetched = next(pubmed.fetch(["PMID: 22663011"]))
    params = server.requests[0][1]
    assert params["tool"] == ["trial-kb"] and params["email"] == ["curator@example.org"]
    assert params["api_key"] == ["s3cr3tkey"] and params["id"] == ["22663011"] and params["db"] == ["pubmed"]
    assert "s3cr3tkey" not in fetched.url and "curator" not in fetched.url and "tool=trial-kb" in fetched.url
    assert fetched.key == "22663011" and fetched.body == METRIC


def test_rate_is_ten_per_second_with_a_key_and_three_without(monkeypatch):
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.delenv("KB_PUBMED_RATE", raising=False)
    assert pubmed.source().rate == 3
    monkeypatch.setenv("NCBI_API_KEY", "k")
    assert pubmed.source().rate == 10 and pubmed.source().base_url == pubmed.SOURCE.base_url


def test_pmids_go_in_batches_of_200(server):
    server.route(PATH, Reply(200, b"<PubmedArticleSet></PubmedArticleSet>"))
    responses = list(pubmed.fetch([str(n) for n in range(1, 451)]))
    assert [len(params["id"][0].split(",")) for _, params in server.requests] == [200, 200, 50]
    assert responses[2].key == ",".join(str(n) for n in range(401, 451))


def test_429_from_ncbi_is_retried_then_a_one_line_upstream_error_without_the_key(server, monkeypatch):
    monkeypatch.setenv("NCBI_API_KEY", "s3cr3tkey")
    monkeypatch.setenv("KB_RETRIES", "2")
    server.route(PATH, Reply(429, b'{"error":"API rate limit exceeded"}', {"Retry-After": "0"}))
    with pytest.raises(UpstreamError) as error:
        next(pubmed.fetch(["22663011"]))
    message = str(error.value)
    assert message.startswith("PubMed 22663011: upstream failure:") and "429" in message
    assert "s3cr3tkey" not in message and "\n" not in message
    assert server.count(PATH) == 3

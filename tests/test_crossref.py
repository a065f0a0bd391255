"""Crossref /works: parsing real recorded bodies (authors and affiliations counted against the JSON), damaged
JSON, and fetching from a loopback server in the polite pool without storing the contact address."""

import json

import pytest
from hypothesis import HealthCheck, given, settings

from harvest.articles import crossref
from harvest.errors import BadIdentifier, NotFound, ParseError

from .conftest import fixture_bytes
from .loopback import Reply
from .mutate import mutated_json

NAMES = {
    "jclinpath": "works_10.1136_jclinpath-2020-206745_body_extracted_from_habanero_cassette.json",
    "esmoopen": "works_10.1136_esmoopen-2020-000776_body_extracted_from_habanero_cassette.json",
    "plosone": "works_10.1371_journal.pone.0033693_body_extracted_from_habanero_cassette.json",
}
BODIES = {name: fixture_bytes("crossref", file) for name, file in NAMES.items()}


@pytest.mark.parametrize("name", NAMES)
def test_every_author_and_affiliation_of_the_real_fixtures_is_parsed(name):
    message = json.loads(BODIES[name])["message"]
    [record] = crossref.parse(BODIES[name])
    assert len(record["authors"]) == len(message["author"]) > 0
    assert (sum(len(a["affiliations"]) for a in record["authors"])
            == sum(len(a["affiliation"]) for a in message["author"]))
    assert ([(a["family"], a["given"]) for a in record["authors"]]
            == [(a["family"], a["given"]) for a in message["author"]])
    assert record["ids"]["doi"] == message["DOI"].lower()


def test_jclinpath_fields_title_markup_and_jats_abstract():
    [record] = crossref.parse(BODIES["jclinpath"])
    fields = record["fields"]
    assert fields["title"].startswith("Construction of a reference material panel for detecting KRAS")
    assert "<i>" not in fields["title"]
    assert ((fields["journal"], fields["journal_iso"], fields["issn"])
            == ("Journal of Clinical Pathology", "J Clin Pathol", "0021-9746, 1472-4146"))
    assert (fields["volume"], fields["issue"], fields["pages"]) == ("74", "5", "314-320")
    assert (fields["pub_date"], fields["epub_date"], fields["year"]) == ("2021-05", "2020-08-17", 2021)
    assert fields["license"] == "http://creativecommons.org/licenses/by-nc/4.0/"
    assert [s["label"] for s in record["sections"]] == ["Background", "Objective", "Methods", "Results", "Conclusion"]
    assert all("<" not in s["text"] for s in record["sections"])
    assert record["authors"][0]["affiliations"] == [
        "Department of Neurosurgery, China-Japan Friendship Hospital, Beijing, China"]
    assert record["landing_url"] == "https://jcp.bmj.com/lookup/doi/10.1136/jclinpath-2020-206745"


def test_esmoopen_orcid_clinical_trial_numbers_and_vor_licence():
    [record] = crossref.parse(BODIES["esmoopen"])
    assert record["authors"][0]["orcid"] == "https://orcid.org/0000-0003-3863-9582"
    assert [t["nct_id"] for t in record["trials"]] == ["NCT03797326", "NCT04008797"]
    assert {t["evidence"] for t in record["trials"]} == {"crossref"}
    assert record["fields"]["license"] == "http://creativecommons.org/licenses/by-nc/4.0/"  # the vor licence


@pytest.mark.parametrize("body, reason", [
    (b'{"status":"ok","message-type":"work-list","message":{"items":[]}}', "not a Crossref work"),
    (b'{"status":"ok","message-type":"work","message":{"DOI":"not-a-doi"}}', "not a Crossref work"),
    (b"Resource not found.", "not valid JSON"),
    (BODIES["plosone"][:300], "not valid JSON"),
])
def test_bad_bodies_are_one_line_parse_errors(body, reason):
    with pytest.raises(ParseError, match=reason) as error:
        crossref.parse(body, "10.1371/journal.pone.0033693")
    assert str(error.value).startswith("Crossref 10.1371/journal.pone.0033693: parse failure:")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=mutated_json(BODIES["jclinpath"]) | mutated_json(BODIES["esmoopen"]))
def test_damaged_real_json_gives_a_record_or_parse_error_only(body):
    try:
        [record] = crossref.parse(body, "damaged")
    except ParseError:
        return
    assert record["ids"]["doi"].startswith("10.")


# --- fetch -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["10.123/x", "11.1136/jclinpath", "doi:", "10.1136/", "10.1136/a b",
                                 "https://example.org/10.1136/x"])
def test_malformed_doi_is_refused_before_any_request(server, bad):
    with pytest.raises(BadIdentifier, match="10.NNNN/suffix"):
        crossref.fetch(bad)
    assert server.requests == []


def test_fetch_in_the_polite_pool_with_prefixed_doi(server, monkeypatch):
    monkeypatch.setenv("KB_CONTACT_EMAIL", "curator@example.org")
    server.route("/crossref/works/10.1136/jclinpath-2020-206745", Reply(200, BODIES["jclinpath"]))
    fetched = crossref.fetch("https://doi.org/10.1136/jclinpath-2020-206745")
    assert server.requests[0][1]["mailto"] == ["curator@example.org"]
    assert "curator" not in fetched.url and fetched.key == "10.1136/jclinpath-2020-206745"


def test_404_is_not_found_naming_source_and_doi(server):
    server.route("/crossref/works/10.9999/missing", Reply(404, b"Resource not found."))
    with pytest.raises(NotFound, match=r"^Crossref 10\.9999/missing: not found: HTTP 404"):
        crossref.fetch("doi:10.9999/MISSING")

"""Europe PMC search: parsing real recorded core and lite results, damaged JSON, and the query sent for each
kind of identifier."""

import json

import pytest
from hypothesis import HealthCheck, given, settings

from harvest.articles import europepmc
from harvest.errors import BadIdentifier, ParseError

from .conftest import fixture_bytes
from .loopback import Reply
from .mutate import mutated_json

CORE = fixture_bytes("europepmc", "search_core_query_cancer_25results_pyeuropepmc.json")
LITE = fixture_bytes("europepmc", "search_lite_pmid22663011_metric_trial_biomcp.json")


def test_every_result_author_and_affiliation_of_the_core_fixture_is_parsed():
    results = json.loads(CORE)["resultList"]["result"]
    records = europepmc.parse(CORE)
    assert len(records) == len(results) == 25
    for record, result in zip(records, results):
        authors = result.get("authorList", {}).get("author", [])
        assert len(record["authors"]) == len(authors)
        assert sum(len(a["affiliations"]) for a in record["authors"]) == sum(
            len(a.get("authorAffiliationDetailsList", {}).get("authorAffiliation", [])) for a in authors)
        assert record["ids"]["pmid"] == result["pmid"]


def test_core_result_identifiers_abstract_orcid_and_full_text():
    record = next(r for r in europepmc.parse(CORE) if r["ids"]["pmid"] == "40437959")
    assert record["ids"] == {"pmid": "40437959", "doi": "10.1002/hpja.70059", "pmcid": "PMC12120539"}
    assert [s["label"] for s in record["sections"]] == ["Issue addressed", "Methods", "Results", "Conclusions"]
    assert record["fields"]["open_access"] == 1
    assert record["fields"]["full_text_url"] == "https://europepmc.org/articles/PMC12120539"
    assert record["fields"]["journal_iso"] == "Health Promot J Austr" and record["fields"]["volume"] == "36"
    assert record["authors"][1]["orcid"] == "0000-0001-6913-0549"
    assert (record["fields"]["keywords"][0] == "Chinese"
            and record["fields"]["mesh"][1]["qualifiers"][0]["name"] == "diagnosis")


def test_subscription_only_article_has_no_free_full_text():
    record = next(r for r in europepmc.parse(CORE) if r["ids"]["pmid"] == "39709209")
    assert record["fields"]["open_access"] == 0 and record["fields"]["full_text_url"] is None


def test_lite_result_gives_identifiers_and_citation():
    [record] = europepmc.parse(LITE)
    assert record["ids"] == {"pmid": "22663011", "doi": "10.1056/nejmoa1203421", "pmcid": None}
    assert (record["fields"]["volume"], record["fields"]["pages"], record["fields"]["year"]) == ("367", "107-114", 2012)
    assert record["authors"] == []


def test_no_hit_is_an_empty_list_and_other_json_a_parse_error():
    assert europepmc.parse(b'{"hitCount":0,"resultList":{"result":[]}}') == []
    with pytest.raises(ParseError, match="^Europe PMC DOI: parse failure: JSON is not a Europe PMC search"):
        europepmc.parse(b'{"errCode":404,"errMsg":"not found"}', "DOI")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=mutated_json(CORE))
def test_damaged_real_json_gives_records_or_parse_error_only(body):
    try:
        records = europepmc.parse(body, "damaged")
    except ParseError:
        return
    assert all(any(r["ids"].values()) for r in records)


@pytest.mark.parametrize("kwargs, query", [
    ({"pmid": "PMID:32009091"}, "EXT_ID:32009091 AND SRC:MED"),
    ({"doi": "https://doi.org/10.2169/internalmedicine.3800-19"}, 'DOI:"10.2169/internalmedicine.3800-19"'),
    ({"pmcid": "pmc7270764"}, "PMCID:PMC7270764"),
])
def test_query_for_each_identifier(server, kwargs, query):
    server.route("/europepmc/search", Reply(200, b'{"hitCount":0,"resultList":{"result":[]}}'))
    fetched = europepmc.fetch(**kwargs)
    params = server.requests[0][1]
    assert params["query"] == [query] and params["resultType"] == ["core"] and params["format"] == ["json"]
    assert fetched.key in query


@pytest.mark.parametrize("kwargs", [{"pmid": "x1"}, {"doi": "10.1/x"}, {"pmcid": "PMC"}])
def test_malformed_identifiers_are_refused_before_any_request(server, kwargs):
    with pytest.raises(BadIdentifier):
        europepmc.fetch(**kwargs)
    assert server.requests == []

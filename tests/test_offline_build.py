"""`kb build --offline` compares a real registry-publication pair out of the box.

kb/data/offline/ ships DEFINE-HF as RECORDED, byte-verified responses (kb/data/offline/PROVENANCE.md): the
ClinicalTrials.gov v2 record of NCT02653482 with posted results, and the Europe PMC core record of its results article
(PMID 31524498). The offline KB must link the two, set every registered endpoint beside the article's, find numbers the
abstract shares with the posted results, and match the regimen. Every expectation is read from the two files.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.store.schema import open_db

from .conftest import OFFLINE

STUDY = json.loads((OFFLINE / "v2_study_NCT02653482_define_hf_with_results_meta-harness.json").read_bytes())
ARTICLE = json.loads((OFFLINE / "europepmc_search_core_pmid31524498_define_hf_meta-harness.json").read_bytes())[
    "resultList"]["result"][0]
NCT = STUDY["protocolSection"]["identificationModule"]["nctId"]
ARTICLE_ID = f"pmid:{ARTICLE['pmid']}"
ABSTRACT = re.sub(r"<[^>]+>", "", ARTICLE["abstractText"])  # Europe PMC marks sections and italics up in HTML


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("offline") / "kb.db"
    result = CliRunner().invoke(cli, ["build", "--offline", "--db", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return open_db(str(path))


def rows(db, sql: str, *params) -> list[dict]:
    return [dict(r) for r in db.query(sql, params)]


def at(doc, path: str):
    """The value at a provenance path such as resultsSection.outcomeMeasuresModule.outcomeMeasures[0].classes[0]."""
    for name, index in re.findall(r"([A-Za-z]+)(?:\[(\d+)\])?", path):
        doc = doc[name] if index == "" else doc[name][int(index)]
    return doc


def test_the_pair_is_shipped_with_results_and_linked_both_ways(db):
    assert STUDY["hasResults"] and "resultsSection" in STUDY
    cited = {r.get("pmid") for r in STUDY["protocolSection"]["referencesModule"]["references"]}
    assert ARTICLE["pmid"] in cited and NCT in ABSTRACT  # each file names the other
    trial = rows(db, "select has_results from trials where nct_id = ?", NCT)
    assert trial == [{"has_results": 1}]
    assert rows(db, "select pmid from articles where article_id = ?", ARTICLE_ID) == [{"pmid": ARTICLE["pmid"]}]
    links = rows(db, "select evidence from article_trials where article_id = ? and nct_id = ?", ARTICLE_ID, NCT)
    evidence = {r["evidence"] for r in links}
    assert evidence == {"abstract", "registry reference"}


def test_every_registered_endpoint_is_set_beside_the_article(db):
    outcomes = STUDY["protocolSection"]["outcomesModule"]
    registered = sorted(o["measure"] for kind in ("primaryOutcomes", "secondaryOutcomes") for o in outcomes[kind])
    compared = rows(db, "select * from endpoint_comparison where nct_id = ?", NCT)
    assert sorted(r["registry_measure"] for r in compared if r["registry_measure"]) == registered
    published = [r for r in compared if r["publication_measure"]]
    assert published and all(r["article_id"] == ARTICLE_ID for r in published)
    for row in published:  # each published endpoint is quoted from the article's own abstract
        assert row["publication_measure"] in row["publication_sentence"] and row["publication_sentence"] in ABSTRACT
    both = [r for r in published if r["registry_measure"]]
    assert both and {r["status"] for r in both} <= {"matched", "kind changed"}
    report = rows(db, "select status from endpoint_comparison where nct_id = ? and status != 'not compared'", NCT)
    assert len(report) == len(compared)  # the registry vs publication query shows every row of this pair


def test_numbers_the_abstract_shares_with_the_posted_results(db):
    shared = rows(db, "select reported, verdict, uses from checks where subject = ? and kind = 'shared_number'", NCT)
    assert shared
    for check in shared:
        registry = [u for u in json.loads(check["uses"]) if u.startswith(f"{NCT}/registry/")]
        assert len(registry) == 1
        measurement = at(STUDY, registry[0].removeprefix(f"{NCT}/registry/"))
        assert measurement["value"] == check["reported"]  # the number is in the posted results, where the check says
        assert re.search(rf"(?<![\d.]){re.escape(check['reported'])}(?![\d.])", ABSTRACT)  # and in the abstract
        assert check["verdict"] == "consistent"


def test_the_regimen_is_matched_between_registry_and_article(db):
    lines = rows(db, "select subject, source, drug, dose, unit, frequency from regimen where subject in (?, ?)",
                 NCT, ARTICLE_ID)
    registry = {r["drug"]: r for r in lines if r["source"] == "registry" and r["subject"] == NCT}
    publication = {r["drug"]: r for r in lines if r["source"] == "publication" and r["subject"] == ARTICLE_ID}
    drugs = registry.keys() & publication.keys()
    named = {i["name"].lower() for i in STUDY["protocolSection"]["armsInterventionsModule"]["interventions"]}
    assert drugs and drugs <= named
    for drug in drugs:
        line = registry[drug]
        assert (line["dose"], line["unit"]) == (publication[drug]["dose"], publication[drug]["unit"])
        assert f"{drug} {line['dose']} {line['unit']} {line['frequency']}" in ABSTRACT.lower()
    check = rows(db, "select verdict, inputs from checks where subject = ? and kind = 'regimen'", NCT)
    assert len(check) == 1 and set(json.loads(check[0]["inputs"])["publication_drugs"]) == drugs
    assert check[0]["verdict"] == "consistent"


def test_the_articles_primary_endpoints_are_matched_to_the_registered_primaries(db):
    """The abstract numbers its primary outcomes ("Dual primary outcomes were (1) … and (2) …, or …"): each is one
    endpoint (the second a composite holding ", or"), and each is the registered primary it names, not a shorter
    registered secondary sharing fewer words; so the pair carries no endpoint check that cries wolf."""
    [sentence] = [s for s in re.split(r"(?<=\.)\s+", ABSTRACT) if re.search(r"primary outcomes were \(1\)", s, re.I)]
    numbered = re.findall(r"\(\d\)", sentence)
    primaries = [o["measure"] for o in STUDY["protocolSection"]["outcomesModule"]["primaryOutcomes"]]
    published = rows(db, "select status, registry_kind, registry_measure from endpoint_comparison "
                         "where nct_id = ? and publication_kind = 'primary'", NCT)
    assert len(published) == len(numbered) == len(primaries)
    assert {(r["status"], r["registry_kind"]) for r in published} == {("matched", "primary")}
    assert sorted(r["registry_measure"] for r in published) == sorted(primaries)
    endpoint_checks = rows(db, "select verdict from checks where subject = ? and kind like 'endpoint_%'", NCT)
    assert endpoint_checks and "inconsistent" not in {r["verdict"] for r in endpoint_checks}

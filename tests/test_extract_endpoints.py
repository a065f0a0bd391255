"""kb.extract.endpoints: endpoints named in real abstracts and registry descriptions, and the matching rule."""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree

from kb.extract.endpoints import ROW_KEYS, extract_endpoints, match_endpoints

from .conftest import OFFLINE, fixture_path

# Methods of the default article (PMID 32009091 / NCT02193698; abstract as on its CiNii page).
SEED_METHODS = (
    "This prospective single-arm trial evaluated the safety and efficacy of lenalidomide plus dexamethasone in "
    "refractory or recurrent patients with POEMS syndrome. The regimen was administered as six 28-day cycles with "
    "lenalidomide on days 1-21 (15 mg in cycle 1, and 25 mg in cycle 2-6) plus dexamethasone once a week (20 mg). "
    "The primary endpoints were the rate of reduction in the serum vascular endothelial growth factor (VEGF) level "
    "at 24 weeks and the incidence of adverse events. This trial was registered with ClinicalTrial.gov, NCT02193698."
)


def description(nct: str, key: str = "detailedDescription") -> str:
    studies = json.loads(fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json").read_text())
    study = next(s for s in studies if s["protocolSection"]["identificationModule"]["nctId"] == nct)
    return study["protocolSection"]["descriptionModule"][key]


def registry_outcomes(name: str, folder: Path | None = None) -> list[dict]:
    """Registry endpoints in the shape match_endpoints takes, from a recorded CT.gov v2 study (in tests/fixtures/ctgov
    or `folder`)."""
    module = json.loads(((folder or fixture_path("ctgov")) / name).read_text())["protocolSection"]["outcomesModule"]
    return [{"kind": kind, "measure": o["measure"], "description": o.get("description"),
             "time_frame": o.get("timeFrame")}
            for kind in ("primary", "secondary") for o in module.get(f"{kind}Outcomes", [])]


def measures(rows: list[dict]) -> list[tuple]:
    return [(r["kind"], r["measure"], r["time_frame"]) for r in rows]


def test_default_article_lists_two_primary_endpoints():
    rows = extract_endpoints(SEED_METHODS)
    assert measures(rows) == [
        ("primary", "rate of reduction in the serum vascular endothelial growth factor (VEGF) level", "24 weeks"),
        ("primary", "incidence of adverse events", None)]
    assert all(tuple(r) == ROW_KEYS for r in rows)
    assert [SEED_METHODS[r["span_start"]:r["span_end"]] for r in rows] == [r["measure"] for r in rows]
    assert rows[0]["source_text"].startswith("The primary endpoints were")


def test_subject_first_endpoints_in_metric_abstract():
    tree = etree.parse(str(fixture_path("pubmed", "efetch_pmid22663011_metric_trial_NCT01245062_biomcp.xml")))
    text = "".join(tree.xpath("//AbstractText[@Label='METHODS']")[0].itertext())  # PMID 22663011
    # "Progression-free survival was the primary end point, and overall survival was a secondary end point."
    assert measures(extract_endpoints(text)) == [("primary", "Progression-free survival", None),
                                                 ("secondary", "overall survival", None)]


def test_lists_split_per_item_and_stop_at_the_next_head():
    # NCT04871997: "The primary endpoint was progression-free survival (PFS) and the secondary endpoints included
    # overall survival (OS), objective response rate (ORR), disease control rate (DCR) and safety."
    assert measures(extract_endpoints(description("NCT04871997"))) == [
        ("primary", "progression-free survival (PFS)", None), ("secondary", "overall survival (OS)", None),
        ("secondary", "objective response rate (ORR)", None), ("secondary", "disease control rate (DCR)", None),
        ("secondary", "safety", None)]
    # NCT05688046: "The primary endpoint of the study was PFS, and the secondary endpoints were OS, ORR and irAEs."
    assert [m for _, m, _ in measures(extract_endpoints(description("NCT05688046")))] == ["PFS", "OS", "ORR",
                                                                                          "irAEs"]


def test_a_definition_is_not_another_endpoint():
    # NCT05277701: "The primary endpoint is objective response rate (ORR), defined as the proportion of ..."
    rows = extract_endpoints(description("NCT05277701", "briefSummary"))
    assert [m for k, m, _ in measures(rows) if k == "primary"] == ["objective response rate (ORR)"]
    assert [m for k, m, _ in measures(rows) if k == "secondary"] == [
        "disease control rate", "progression-free survival", "overall survival", "duration of response"]


def test_match_expands_abbreviations_defined_in_the_registry_text():
    registry = registry_outcomes("v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
    # NCT00791778 lists "Progression-free Survival (PFS), ...", "Time to First Pathologic CA-125 ...",
    # "Overall Survival (OS)"; the publication side here is NCT05688046's "PFS", "OS", "ORR", "irAEs".
    publication = extract_endpoints(description("NCT05688046"))
    assert match_endpoints(publication, registry) == [0, 2, None, None]


def test_match_seed_endpoints_and_time_frames():
    publication = extract_endpoints(SEED_METHODS)
    # Registry entries below are constructed for the test (no recorded copy of NCT02193698 exists offline).
    registry = [
        {"kind": "secondary", "measure": "Number of Participants With Adverse Events", "description": None,
         "time_frame": "24 weeks"},
        {"kind": "primary", "measure": "Reduction rate of serum VEGF", "description": None, "time_frame": "12 weeks"},
        {"kind": "primary", "measure": "Reduction rate of serum VEGF", "description": None, "time_frame": "Week 24"},
    ]
    assert match_endpoints(publication, registry) == [2, 0]  # the agreeing time frame wins
    assert match_endpoints(publication, registry[:2]) == [1, 0]  # a changed time frame lowers, not vetoes
    unrelated = [{"kind": "primary", "measure": "Overall survival", "description": None, "time_frame": "2 years"}]
    assert match_endpoints(publication, unrelated) == [None, None]
    assert match_endpoints([], registry) == []


def test_a_numbered_list_splits_at_its_numbers_only():
    # DEFINE-HF (PMID 31524498, Europe PMC record in kb/data/offline): the second item is a composite with ", or".
    text = ("Dual primary outcomes were (1) mean NT-proBNP (N-terminal pro b-type natriuretic peptide) and (2) "
            "proportion of patients with ≥5-point increase in HF disease-specific health status on the Kansas City "
            "Cardiomyopathy Questionnaire overall summary score, or a ≥20% decrease in NT-proBNP.")
    rows = extract_endpoints(text)
    assert [m for _, m, _ in measures(rows)] == [
        "mean NT-proBNP (N-terminal pro b-type natriuretic peptide)",
        "proportion of patients with ≥5-point increase in HF disease-specific health status on the Kansas City "
        "Cardiomyopathy Questionnaire overall summary score, or a ≥20% decrease in NT-proBNP"]
    assert all(text[r["span_start"]:r["span_end"]] == r["measure"] for r in rows)


def test_a_same_kind_registry_measure_sharing_more_words_wins_over_a_shorter_one_of_the_other_kind():
    """NCT02653482 registers "Difference in the Average of the 6- and 12-week Mean N-terminal Pro B-type Natriuretic
    Peptide (NTproBNP)" as primary and "Percentage of Patients With a ≥ 20% Decrease in N-terminal Pro B-type ..." as
    secondary; the article's primary "mean NT-proBNP (...)" shares more words with the first, though the overlap
    coefficient of the shorter second is higher."""
    registry = registry_outcomes("v2_study_NCT02653482_define_hf_with_results_meta-harness.json", OFFLINE)
    publication = [{"kind": "primary", "measure": "mean NT-proBNP (N-terminal pro b-type natriuretic peptide)"}]
    [j] = match_endpoints(publication, registry)
    assert registry[j]["kind"] == "primary" and registry[j]["measure"].startswith("Difference in the Average")
    secondary_only = [r for r in registry if r["kind"] == "secondary"]
    [k] = match_endpoints(publication, secondary_only)  # without the primary, the switch is still found
    assert "Decrease in N-terminal Pro B-type" in secondary_only[k]["measure"]

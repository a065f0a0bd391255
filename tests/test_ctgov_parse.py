"""parse_study on real recorded ClinicalTrials.gov API v2 responses (see tests/fixtures/PROVENANCE.md)."""

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvest.errors import ParseError
from harvest.registries.ctgov import parse_study
from kb.load.trials import study_rows

from .conftest import fixture_bytes, fixture_path


def parse_rows(body) -> dict[str, list[dict]]:
    """A study's rows per KB table: the record `parse_study` gives, as `kb.load.trials` stores it."""
    return study_rows(parse_study(body))


def test_the_record_names_no_kb_table_and_carries_no_kb_id():
    record = parse_study(fixture_bytes("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json"))
    assert record["nct_id"] == "NCT00791778" and record["trial"]["nct_id"] == "NCT00791778"
    assert not {"trials", "endpoints", "results", "trial_references"} & set(record)
    parts = [row for key, value in record.items() if isinstance(value, list) for row in value]
    assert parts and all("id" not in row and "subject" not in row and row["path"] for row in parts)

SINGLE = sorted(p.name for p in fixture_path("ctgov").glob("v2_study_*.json"))
BULK = [json.loads(line.rstrip(",\n")) for line in
        fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json").read_text().splitlines()
        if line.startswith("{")]


def study(name):
    return json.loads(fixture_bytes("ctgov", name))


def expected_result_rows(doc):
    """Measurements plus analyses, counted straight from the JSON."""
    measures = doc.get("resultsSection", {}).get("outcomeMeasuresModule", {}).get("outcomeMeasures", [])
    return sum(len(m.get("analyses", [])) + sum(len(cat.get("measurements", []))
                                                for cls in m.get("classes", []) for cat in cls.get("categories", []))
               for m in measures)


def test_bulk_fixture_has_100_studies_some_with_results():
    assert len(BULK) == 100
    assert sum(1 for d in BULK if "resultsSection" in d) == 5


@pytest.mark.parametrize("doc", [d for d in BULK if "resultsSection" in d] + [study(n) for n in SINGLE],
                         ids=lambda d: d["protocolSection"]["identificationModule"]["nctId"])
def test_one_results_row_per_measurement_and_analysis(doc):
    rows = parse_rows(json.dumps(doc))
    assert len(rows["results"]) == expected_result_rows(doc)
    assert len({r["id"] for r in rows["results"]}) == len(rows["results"])


def test_study_with_results_keeps_analyses_faithfully():
    rows = parse_rows(fixture_bytes("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json"))
    trial = rows["trials"][0]
    assert (trial["nct_id"], trial["phase"], trial["enrollment"], trial["enrollment_type"]) == \
        ("NCT00791778", "PHASE2", 246, "ACTUAL")
    assert (trial["primary_completion_date"], trial["primary_completion_date_type"]) == ("2011-07", "ACTUAL")
    assert trial["has_results"] == 1 and trial["sponsor"] == "Bayer"
    pfs = [r for r in rows["results"] if r["kind"] == "analysis"][0]
    assert pfs["statistic"] == "Hazard Ratio (HR)" and pfs["value"] == "1.09"
    assert (pfs["lower"], pfs["upper"], pfs["ci_pct"], pfs["ci_sides"]) == ("0.72", "1.63", "95", "TWO_SIDED")
    assert pfs["p_text"] == "0.655" and pfs["method"] == "Log Rank"
    assert "one-sided alpha" in pfs["source_text"]
    assert pfs["group"] == "Sorafenib (Nexavar, BAY43-9006) vs Placebo"
    median = [r for r in rows["results"] if r["kind"] == "outcome"][0]
    assert ((median["value"], median["lower"], median["upper"], median["n"], median["unit"])
            == ("386", "230", "691", 123, "Days"))
    doc = json.loads(fixture_bytes("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json"))
    assert median["path"] == ("resultsSection.outcomeMeasuresModule.outcomeMeasures[0]"
                              ".classes[0].categories[0].measurements[0]")
    assert (doc["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"][0]
            ["classes"][0]["categories"][0]["measurements"][0]["value"] == "386")
    assert len(rows["adverse_events"]) == sum(len(e["stats"]) for k in ("seriousEvents", "otherEvents")
                                              for e in doc["resultsSection"]["adverseEventsModule"][k])
    assert rows["trial_references"][0]["pmid"] == "23591401"


def test_less_than_p_values_are_kept_as_text():
    rows = parse_rows(fixture_bytes("ctgov", "v2_study_NCT02210780_aact.json"))
    p_texts = {r["p_text"] for r in rows["results"] if r["kind"] == "analysis"}
    assert "<0.0001" in p_texts


def test_arms_interventions_and_links():
    rows = parse_rows(fixture_bytes("ctgov", "v2_study_NCT04207047_aact.json"))
    doc = study("v2_study_NCT04207047_aact.json")["protocolSection"]["armsInterventionsModule"]
    assert len(rows["arms"]) == len(doc["armGroups"]) and len(rows["interventions"]) == len(doc["interventions"])
    assert {r["type"] for r in rows["interventions"]} >= {"DEVICE"}
    names = {r["name"] for r in rows["interventions"]}
    assert all(link["intervention"] in names for link in rows["arm_interventions"])


@pytest.mark.parametrize("name,study_type", [("v2_study_NCT03475563_aact.json", "OBSERVATIONAL"),
                                             ("v2_study_NCT03630471_aact.json", "INTERVENTIONAL"),
                                             ("v2_study_NCT03418623_aact.json", "INTERVENTIONAL")])
def test_study_types_without_results(name, study_type):
    rows = parse_rows(fixture_bytes("ctgov", name))
    assert rows["trials"][0]["study_type"] == study_type
    assert rows["trials"][0]["has_results"] == 0 and rows["results"] == []


def test_non_ascii_text_survives():
    rows = parse_rows(fixture_bytes("ctgov", "v2_study_NCT06171568_aact.json"))
    text = json.dumps(rows, ensure_ascii=False)
    assert any(ord(ch) > 127 for ch in text)
    raw = fixture_bytes("ctgov", "v2_study_NCT06171568_aact.json").decode()
    assert rows["trials"][0]["brief_title"] in json.loads(raw)["protocolSection"]["identificationModule"]["briefTitle"]


def test_missing_optional_modules():
    doc = study("v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
    for module in ("designModule", "armsInterventionsModule", "outcomesModule", "contactsLocationsModule",
                   "referencesModule", "statusModule", "sponsorCollaboratorsModule"):
        del doc["protocolSection"][module]
    del doc["resultsSection"]
    rows = parse_rows(json.dumps(doc))
    assert rows["trials"][0]["enrollment"] is None and rows["trials"][0]["has_results"] == 1
    assert rows["endpoints"] == [] and rows["results"] == []


@pytest.mark.parametrize("body", [b"", b"{", b'{"studies": []}', b"[1, 2]", b'"NCT02193698"',
                                  b'{"protocolSection": {"identificationModule": {"nctId": "X"}}}'])
def test_not_a_study_is_a_parse_error(body):
    with pytest.raises(ParseError, match="ClinicalTrials.gov"):
        parse_study(body, "NCT00000000")


# --- property-based: mutated real fixtures ---------------------------------------------------------------------

def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


BASE = study("v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
ALL_PATHS = [p for p in _paths(BASE) if p]
REPLACEMENTS = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5), st.booleans(),
                         st.lists(st.integers(), max_size=2),
                         st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=int(__import__("os").environ.get("KB_HYPOTHESIS_EXAMPLES", "150")),
          suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), st.one_of(st.just("drop"), REPLACEMENTS)),
                min_size=1, max_size=6))
def test_mutated_studies_parse_or_raise_parse_error(mutations):
    doc = copy.deepcopy(BASE)
    for path, replacement in mutations:
        parent = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            if replacement == "drop":
                del parent[path[-1]]
            else:
                parent[path[-1]] = replacement
        except (KeyError, IndexError, TypeError):
            continue
    try:
        rows = parse_rows(json.dumps(doc))
    except ParseError:
        return
    assert rows["trials"][0]["nct_id"].startswith("NCT")


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=len(fixture_bytes("ctgov", "v2_study_NCT00973089_aact.json")) - 1))
def test_truncated_bytes_raise_parse_error(cut):
    with pytest.raises(ParseError):
        parse_study(fixture_bytes("ctgov", "v2_study_NCT00973089_aact.json")[:cut])

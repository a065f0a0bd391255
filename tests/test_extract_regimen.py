"""kb.extract.regimen on the default article and on real registry arm/intervention descriptions (sources cited)."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from kb.extract.regimen import ROW_KEYS, extract_regimen

from .conftest import fixture_path

# Methods and Results of the default article (PMID 32009091 / NCT02193698; abstract as on its CiNii page).
SEED_METHODS = (
    "This prospective single-arm trial evaluated the safety and efficacy of lenalidomide plus dexamethasone in "
    "refractory or recurrent patients with POEMS syndrome. The regimen was administered as six 28-day cycles with "
    "lenalidomide on days 1-21 (15 mg in cycle 1, and 25 mg in cycle 2-6) plus dexamethasone once a week (20 mg). "
    "The primary endpoints were the rate of reduction in the serum vascular endothelial growth factor (VEGF) level "
    "at 24 weeks and the incidence of adverse events. This trial was registered with ClinicalTrial.gov, NCT02193698."
)
SEED_RESULTS = (
    "Between July 2014 and December 2015, five men were enrolled. All patients had been refractory to thalidomide "
    "plus dexamethasone for more than 24 weeks. The mean rate of reduction in the serum VEGF level at 24 weeks was "
    "59.6%±8.3% (p=0.0003). The mean serum VEGF level decreased from 2,466±771 pg/mL to 974±340 pg/mL. No serious "
    "adverse events were observed, and all patients completed six cycles treatment."
)


def registry_description(nct: str, key: str, index: int) -> str:
    """An arm group or intervention description from the recorded NSCLC bulk download (100 CT.gov studies)."""
    studies = json.loads(fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json").read_text())
    study = next(s for s in studies if s["protocolSection"]["identificationModule"]["nctId"] == nct)
    return study["protocolSection"]["armsInterventionsModule"][key][index]["description"]


def v2_description(name: str, key: str, index: int) -> str:
    study = json.loads(fixture_path("ctgov", name).read_text())
    return study["protocolSection"]["armsInterventionsModule"][key][index]["description"]


def schedule(rows: list[dict], *keys: str) -> list[tuple]:
    return [tuple(r[k] for k in keys) for r in rows]


def test_default_article_gives_three_schedule_lines_with_course_totals():
    rows = extract_regimen(SEED_METHODS)
    assert schedule(rows, "drug", "dose", "unit", "days", "cycles", "n_cycles", "cycle_length_days") == [
        ("lenalidomide", "15", "mg", "1-21", "1", 1, 28),
        ("lenalidomide", "25", "mg", "1-21", "2-6", 5, 28),
        ("dexamethasone", "20", "mg", None, "1-6", 6, 28),
    ]
    assert rows[0]["days_list"] == list(range(1, 22))
    assert (rows[2]["frequency"], rows[2]["doses_per_week"], rows[2]["doses_per_cycle"]) == ("weekly", 1, 4)
    assert [r["dose_per_cycle"] for r in rows] == [315, 525, 80]
    assert [r["drug_course_total"] for r in rows] == [2940, 2940, 480]
    assert all(tuple(r) == ROW_KEYS for r in rows)
    assert [SEED_METHODS[r["span_start"]:r["span_end"]] for r in rows] == ["15 mg", "25 mg", "20 mg"]
    assert rows[0]["source_text"].startswith("The regimen was administered as six 28-day cycles")


def test_prior_therapy_without_a_dose_is_not_a_schedule_line():
    assert extract_regimen(SEED_RESULTS) == []
    whole = extract_regimen(SEED_METHODS + " " + SEED_RESULTS)
    assert schedule(whole, "drug", "dose_num", "drug_course_total") == [
        ("lenalidomide", 15, 2940), ("lenalidomide", 25, 2940), ("dexamethasone", 20, 480)]


def test_tablets_each_are_multiplied_and_routes_frequencies_read():
    # NCT00791778 arm group: "Participants received 2 sorafenib tablets (200 mg each) per oral twice daily (bid)"
    text = v2_description("v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json", "armGroups", 0)
    [row] = extract_regimen(text)
    assert (row["drug"], row["dose"], row["dose_num"], row["unit"], row["form"]) == ("sorafenib", "400", 400, "mg",
                                                                                     "tablet")
    assert (row["route"], row["frequency"], row["doses_per_week"]) == ("oral", "twice daily", 14)
    assert text[row["span_start"]:row["span_end"]] == "2 sorafenib tablets (200 mg each)"
    assert extract_regimen(v2_description("v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json",
                                          "armGroups", 1)) == []  # placebo tablets have no dose


def test_loading_dose_then_weekly_injections():
    # NCT02210780: "Two subcutaneous injections of Dupilumab 300 mg (for a total of 600 mg) as a loading dose on
    # Day 1, followed by a single 300 mg injection qw from Week 1 to Week 15."
    rows = extract_regimen(v2_description("v2_study_NCT02210780_aact.json", "armGroups", 1))
    assert schedule(rows, "drug", "dose_num", "form", "route", "frequency", "days") == [
        ("dupilumab", 600, "injection", "subcutaneous", None, "1"),
        ("dupilumab", 300, "injection", None, "weekly", None)]


def test_threshold_amounts_are_not_doses():
    # NCT00763412: "... repaglinide 0.5 mg before each meal that contains more than 20 grams of carbohydrate 3-4
    # times a day for 2 years."
    rows = extract_regimen(v2_description("v2_study_NCT00763412_aact.json", "interventions", 1))
    assert schedule(rows, "drug", "dose_num", "unit", "frequency") == [("repaglinide", 0.5, "mg", "3-4 times daily")]


def test_metric_methods_shared_interval_and_route_before_drug():
    tree = etree.parse(str(fixture_path("pubmed", "efetch_pmid22663011_metric_trial_NCT01245062_biomcp.xml")))
    text = "".join(tree.xpath("//AbstractText[@Label='METHODS']")[0].itertext())  # PMID 22663011
    rows = extract_regimen(text)
    assert schedule(rows, "drug", "dose_num", "unit", "route", "frequency", "cycle_length_days") == [
        ("trametinib", 2, "mg", "oral", "daily", None),
        ("dacarbazine", 1000, "mg/m2", "intravenous", "every 3 weeks", 21),
        ("paclitaxel", 175, "mg/m2", None, "every 3 weeks", 21)]


def test_legacy_xml_arm_with_po_daily_and_clearance_that_is_not_a_dose():
    tree = etree.parse(str(fixture_path("ctgov", "legacy_ct2_xml_NCT01029262_lenalidomide_aact.xml")))
    text = tree.xpath("//arm_group/description")[0].text  # NCT01029262, Arm #1
    assert schedule(extract_regimen(text), "drug", "dose_num", "unit", "route", "frequency") == [
        ("lenalidomide", 10, "mg", "oral", "daily"), ("lenalidomide", 5, "mg", "oral", "daily")]


def test_intervention_described_without_its_drug_name_uses_default_drug():
    # NCT06576635 Gemcitabine: "1000 mg/m2 IV over 30 minutes on Days 1, 8, and 15 of each 28-day cycle or
    # 1,250 mg/m2 IV over 30 minutes on Days 1 and 8 of each 21 day cycle"
    text = registry_description("NCT06576635", "interventions", 2)
    assert extract_regimen(text) == []
    rows = extract_regimen(text, default_drug="Gemcitabine")
    assert schedule(rows, "drug", "dose_num", "unit", "route", "days", "cycle_length_days", "dose_per_cycle") == [
        ("gemcitabine", 1000, "mg/m2", "intravenous", "1,8,15", 28, 3000),
        ("gemcitabine", 1250, "mg/m2", "intravenous", "1,8", 21, 2500)]


def test_day_lists_with_interval_make_cycles_and_course_totals():
    # NCT02795884: "Duration: 3wks x 4 cycles = 12 wks Vinorelbine 25mg/m2 D1,8, Cisplatin 75mg/m2 D1 q3wks"
    rows = extract_regimen(registry_description("NCT02795884", "armGroups", 1))
    assert schedule(rows, "drug", "days_list", "cycle_length_days", "n_cycles", "dose_per_cycle",
                    "drug_course_total") == [("vinorelbine", [1, 8], 21, 4, 50, 200),
                                             ("cisplatin", [1], 21, 4, 75, 300)]
    assert schedule(rows, "frequency", "doses_per_cycle") == [(None, 2), ("every 3 weeks", 1)]
    assert [r["doses_per_week"] for r in rows] == pytest.approx([2 / 3, 1 / 3])


def test_heading_names_the_drug_and_auc_doses():
    # NCT06944470: "Carboplatin Injection:\n\nOne dose of carboplatin AUC 5 IV on Day 1 of each 3-week cycle. ...
    # Paclitaxel injection:\n\n175 mg/m2 IV on Day 1 of each 3-week cycle. ..."
    rows = extract_regimen(registry_description("NCT06944470", "interventions", 0))
    assert schedule(rows, "drug", "dose_num", "unit", "days", "cycle_length_days") == [
        ("carboplatin", 5, "AUC", "1", 21), ("cisplatin", 75, "mg/m2", "1", 21),
        ("paclitaxel", 175, "mg/m2", "1", 21), ("pemetrexed", 500, "mg/m2", "1", 21)]


def test_listed_alternative_doses_share_their_schedule():
    # NCT04402008: "Dose finding at 8 mg, 12 mg, or 16 mg of poziotinib once daily in 28-day treatment cycles."
    rows = extract_regimen(registry_description("NCT04402008", "armGroups", 0))
    assert schedule(rows, "drug", "dose_num", "frequency", "dose_per_cycle") == [
        ("poziotinib", 8, "daily", 224), ("poziotinib", 12, "daily", 336), ("poziotinib", 16, "daily", 448)]
    # NCT02856893: "Osimertinib 60 or 40 mg daily until progression"
    rows = extract_regimen(registry_description("NCT02856893", "interventions", 0))
    assert schedule(rows, "dose_num", "unit", "frequency", "cycles") == [(60, "mg", "daily", "until progression"),
                                                                        (40, "mg", "daily", "until progression")]


def test_unknown_names_by_inn_stem_and_schedule_words_from_other_sentences():
    # NCT06945705: "furmonertinib: 160 mg po qd Anlotinib: 8 mg per day, orally administered.The treatment cycle is
    # every 3 weeks, with each cycle lasting 21 days. Anlotinib are taken on Days 1-14 of each cycle."
    rows = extract_regimen(registry_description("NCT06945705", "interventions", 0))
    assert schedule(rows, "drug", "dose_num", "route", "frequency", "days", "cycle_length_days", "dose_per_cycle") == [
        ("furmonertinib", 160, "oral", "daily", None, 21, 3360), ("anlotinib", 8, "oral", "daily", "1-14", 21, 112)]


def test_interval_after_listed_days_is_the_cycle_not_the_frequency():
    # NCT03416231 Docetaxel: "Docetaxel, at a dose of 75mg/m2 on days 1 and 22, repeat every 4 weeks for 4\~6
    # cycles." -- two doses per 28-day cycle, not one dose every 4 weeks.
    [row] = extract_regimen(registry_description("NCT03416231", "interventions", 1))
    assert schedule([row], "drug", "days_list", "frequency", "cycle_length_days", "doses_per_cycle",
                    "doses_per_week", "dose_per_cycle") == [("docetaxel", [1, 22], None, 28, 2, 0.5, 150)]
    # NCT02795884 (intercalation arm): "* Intercalation phase (Duration: 3wks x 4 cycles = 12 wks) Pemetrexed
    # 500mg/m2 D1, Cisplatin 75mg/m2 D1, Erlotinib 150mg D8-21 q3wks\n* Maintenance phase (Duration: 1 year)
    # Erlotinib 150mg D1-28"
    rows = extract_regimen(registry_description("NCT02795884", "armGroups", 0))
    erlotinib = [r for r in rows if r["drug"] == "erlotinib"]
    assert schedule(erlotinib, "days", "frequency", "cycle_length_days", "doses_per_cycle", "dose_per_cycle") == [
        ("8-21", None, 21, 14, 2100), ("1-28", None, None, None, None)]  # D1-28 is not a day list of 21 days
    assert erlotinib[0]["doses_per_week"] == pytest.approx(14 * 7 / 21)


def test_listed_days_and_interval_agree_in_every_row():
    """No row says "every N weeks" with more than one dose per cycle, and doses per week and per cycle agree."""
    studies = json.loads(fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json").read_text())
    texts = {item.get("description", "") for s in studies
             for key in ("interventions", "armGroups")
             for item in s["protocolSection"].get("armsInterventionsModule", {}).get(key, [])}
    rows = [r for t in sorted(texts) for r in extract_regimen(t)]
    timed = [r for r in rows if r["doses_per_cycle"] is not None]
    assert len(timed) > 40
    for r in timed:
        assert r["doses_per_week"] == pytest.approx(r["doses_per_cycle"] * 7 / r["cycle_length_days"])
        if r["frequency"] and r["frequency"].startswith("every") and r["frequency"] != "every other day":
            assert r["doses_per_cycle"] == 1 and r["doses_per_week"] == pytest.approx(7 / r["cycle_length_days"])
        if r["days_list"]:
            assert max(r["days_list"]) <= r["cycle_length_days"]


def test_day_one_with_cycles_repeating_every_21_days():
    # NCT05816499 arm: "... Patients also receive docetaxel 60-75 mg/m2 IV over 60 minutes on day 1. Cycles repeat
    # every 21 days in the absence of disease progression or unacceptable toxicity."
    rows = extract_regimen(registry_description("NCT05816499", "armGroups", 0))
    docetaxel = next(r for r in rows if r["drug"] == "docetaxel")
    assert schedule([docetaxel], "days", "cycle_length_days", "doses_per_cycle") == [("1", 21, 1)]
    assert docetaxel["doses_per_week"] == pytest.approx(1 / 3)
    # NCT01742767 arm: "Cisplatinum 40 mg/m2 d 1 + d 8 Pemetrexed 500 mg/m2 d 1 q d 21"
    rows = extract_regimen(registry_description("NCT01742767", "armGroups", 1))
    assert schedule(rows, "drug", "days", "frequency", "cycle_length_days", "doses_per_cycle", "dose_per_cycle") == [
        ("cisplatin", "1,8", None, 21, 2, 80), ("pemetrexed", "1", None, 21, 1, 500)]
    assert [r["doses_per_week"] for r in rows] == pytest.approx([2 / 3, 1 / 3])


def test_q3w_without_listed_days_is_the_frequency_and_the_cycle():
    # NCT05816499 Cadonilimab: "Given IV, 10mg/kg Q3W"
    [row] = extract_regimen(registry_description("NCT05816499", "interventions", 0), default_drug="Cadonilimab")
    assert schedule([row], "drug", "route", "frequency", "days", "cycle_length_days", "doses_per_cycle",
                    "dose_per_cycle") == [("cadonilimab", "intravenous", "every 3 weeks", None, 21, 1, 10)]
    assert row["doses_per_week"] == pytest.approx(1 / 3)
    # NCT06221670: "... receive Toripalimab at a dose of 240 mg intravenously (IV) once every 3 weeks for a planned
    # duration of 1 years."
    [row] = extract_regimen(registry_description("NCT06221670", "armGroups", 0))
    assert schedule([row], "drug", "frequency", "cycle_length_days", "doses_per_cycle", "dose_per_cycle") == [
        ("toripalimab", "every 3 weeks", 21, 1, 240)]


def test_alternative_platinum_shares_the_day_and_interval_of_the_next_drug():
    # NCT06672068: "TY-9591 80mg QD+pemetrexed 500mg/m²（D1，Q3w）+Carboplatin AUC5/ Cisplatin
    # 75mg/m²（D1，Q3w\*4 cycles）" -- carboplatin is the alternative of cisplatin on day 1 of 3-week cycles.
    rows = extract_regimen(registry_description("NCT06672068", "armGroups", 0))
    assert schedule(rows, "drug", "frequency", "days", "cycle_length_days", "doses_per_cycle", "dose_per_cycle",
                    "drug_course_total") == [
        ("ty-9591", "daily", None, None, None, None, None),
        ("pemetrexed", "every 3 weeks", "1", 21, 1, 500, 2000),
        ("carboplatin", "every 3 weeks", "1", 21, 1, 5, 20),
        ("cisplatin", "every 3 weeks", "1", 21, 1, 75, 300)]


@pytest.mark.parametrize("text, expected", [
    # Trial abbreviations and glued names (constructed strings in the style of the issue, not real sentences).
    ("LEN 25 mg PO QD days 1-21 and DEX 40 mg weekly", [("lenalidomide", 25, "oral", "daily", "1-21"),
                                                       ("dexamethasone", 40, None, "weekly", None)]),
    ("BOR 1.3 mg/m2 SC on days 1, 8, 15 and 22", [("bortezomib", 1.3, "subcutaneous", None, "1,8,15,22")]),
    ("CY 300 mg/m2 IV q3w", [("cyclophosphamide", 300, "intravenous", "every 3 weeks", None)]),
])
def test_abbreviations_routes_and_frequencies(text, expected):
    assert schedule(extract_regimen(text), "drug", "dose_num", "route", "frequency", "days") == expected


def test_every_registry_description_gives_rows_with_the_contract():
    studies = json.loads(fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json").read_text())
    texts = [item.get("description", "") for s in studies
             for key in ("interventions", "armGroups")
             for item in s["protocolSection"].get("armsInterventionsModule", {}).get(key, [])]
    rows = [(t, r) for t in texts for r in extract_regimen(t)]
    assert len(rows) > 100
    for text, r in rows:
        assert tuple(r) == ROW_KEYS
        assert r["drug"] and r["drug"] == r["drug"].lower()
        assert text[r["span_start"]:r["span_end"]].strip()
        assert r["source_text"] in text

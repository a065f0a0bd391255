"""Pairing with evidence, on real sentences of the audit corpus (benchmarks/audit_corpus: PubMed abstracts published
in PubMedQA; the PMID is given with each). Each failure class of the checks before this round is a test: the
sentence must now be checked as the text relates its numbers, or be `not_checkable` (or not checked at all) when the
text does not relate them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.derive.abstract_checks import statistics_checks
from kb.extract.stats import extract_stats


def checks(sentence: str) -> list[dict]:
    """The verdicts of one sentence, each with the numbers (as written) it used."""
    rows = [{**row, "id": str(i)} for i, row in enumerate(extract_stats(sentence))]
    by_id = {row["id"]: sentence[row["span_start"]:row["span_end"]] for row in rows}
    return [{**verdict, "numbers": [by_id[u] for u in uses if u in by_id]}
            for verdict, uses in statistics_checks(rows, sentence)]


def of_kind(sentence: str, kind: str) -> list[dict]:
    return [c for c in checks(sentence) if c["kind"] == kind]


def verdicts(sentence: str, kind: str) -> list[str]:
    return [c["verdict"] for c in of_kind(sentence, kind)]


# --- 1. "x% (n = k)": k is the count, not the denominator -------------------------------------------------------


@pytest.mark.parametrize("sentence", [
    "MAIN RESULTS: The most common cause of death was poisoning by alcohol and drugs (29.1%, n = 78).",  # 14518645
    "The overall incidence of DGE was 12% (n=6).",  # 10473855
    "The 1.15% (n = 33) had HELLP syndrome with specific maternal mortality of 0.4 per 10,000 live birth.",  # 12221908
])
def test_a_count_after_a_percentage_is_its_numerator(sentence):
    [check] = of_kind(sentence, "percent_of_count")
    assert check["verdict"] == "not_checkable" and check["inputs"]["n"] is None
    assert check["inputs"]["k"] in sentence and "states no denominator" in check["detail"]


# --- 2. a share of a subgroup is not a share of the sentence's other count ---------------------------------------


def test_a_groups_own_share_is_not_checked_against_its_count():
    # PMID 18239988: 61% is 58 of the 95 patients, 58 is the count
    sentence = "RESULTS: NASH was diagnosed in 58 patients (61%; 30 f) and ASH in 37 (39%; 9 f)."
    assert "inconsistent" not in verdicts(sentence, "percent_of_count")
    assert verdicts(sentence, "percent_of_count") == ["not_checkable"]


def test_shares_of_named_groups_are_not_shares_of_the_total_before_the_colon():
    # PMID 18565233: 8 (0.53%) is 8 of the 1506 bezafibrate patients, not of the 25 colon cancers
    sentence = ("Development of colon cancer was recorded in 25 patients: in 8 (0.53%) patients from the bezafibrate "
                "group vs. 17 (1.13%) from the placebo group, (Fisher's exact test: one side p = 0.05; two side "
                "p = 0.07).")
    assert set(verdicts(sentence, "percent_of_count")) == {"not_checkable"}


def test_a_colon_splits_a_stated_total_into_shares():
    # PMID 15954832: 213 + 90 = 303 patients; 90 (28.7%) is not 90/303 (29.7%), and 70.2% is 213/303 truncated
    sentence = ("MATERIALS AND METHODS: Between February 2000 and December 2003, a total of 303 patients (mean age, "
                "45 years) underwent a miniTAPP procedure: 213 patients (70.2%) were operated on bilaterally and 90 "
                "(28.7%) for a unilateral defect, with a total of 516 hernia defects repaired.")
    found = {c["reported"]: c for c in of_kind(sentence, "percent_of_count")}
    assert found["28.7"]["verdict"] == "inconsistent" and "303 patients" in found["28.7"]["inputs"]["pairing"]
    assert found["70.2"]["verdict"] == "consistent_if_truncated"


# --- 3. levels and concentrations written with % ---------------------------------------------------------------


def test_a_laboratory_level_in_percent_is_not_a_share():
    # PMID 15125825: HbA1c 8.5% is a level; the randomised split 31 + 33 = 64 is checked
    sentence = ("A total of 64 insulin-naive patients treated with maximal feasible dosages of sulfonylurea and "
                "metformin (baseline glycosylated hemoglobin [HbA1c]=8.5%) were randomly assigned to insulin "
                "monotherapy (IM group; n=31) or insulin in addition to unchanged oral hypoglycemic medication (IC "
                "group; n=33) for 12 months.")
    assert of_kind(sentence, "percent_of_count") == []
    [parts] = of_kind(sentence, "parts_vs_total")
    assert parts["verdict"] == "consistent" and "assigned to" in parts["inputs"]["pairing"]


# --- 4. a dash before a percentage is not a minus sign -----------------------------------------------------------


def test_a_dash_before_a_share_is_not_a_minus_sign():
    # PMID 16538201: "lesions<10 cm -64% (16/25)" is 16 of 25 = 64%
    sentence = ("RESULTS: The technical success rate after PTA of stenosed iliac arteries was achieved in 96% (24/25) "
                "using conventional wires and 100% using hydrophilic guidewire; in iliac occlusions, the rates were "
                "60% (15/25) and 96%, respectively; in femoral stenosis - 84% (21/25) and 100%; in occlusions in the "
                "first group: lesions<10 cm -64% (16/25) and 96%.")
    found = {c["reported"]: c["verdict"] for c in of_kind(sentence, "percent_of_count")}
    assert found == {"96": "consistent", "60": "consistent", "84": "consistent", "64": "consistent"}


# --- 5. numbers that are not the parts of one total --------------------------------------------------------------


@pytest.mark.parametrize("sentence", [
    # PMID 25957366: the responses are shares of the 695 visits, and the list need not be exhaustive
    "Of the remaining 695 visits, physician responses were reviewed family history (n = 372, 53.5%), discussed "
    "family history (n = 159, 22.9%), not addressed (n = 155, 22.3%), and reviewed family history and ordered "
    "tests/referrals (n = 5, 0.7%).",
    # PMID 27136599: "the most common" lists some procedures only
    "The most common colorectal procedure was low rectal resection (n = 22; 59%) followed by anterior rectal "
    "resection (n = 7; 19%) and sigmoid resection (n = 4; 11%).",
])
def test_lists_that_are_not_a_split_of_a_total_are_not_summed(sentence):
    assert of_kind(sentence, "parts_vs_total") == []
    assert "inconsistent" not in {c["verdict"] for c in checks(sentence)}


def test_a_total_split_into_groups_is_summed():
    # PMID 16155169
    sentence = ("METHODS: We examined 60 patients with benign cystic thyroid nodules confirmed by fine-needle "
                "aspiration biopsy and divided them into 2 groups according to nonaspiration (group A, n = 30) or "
                "aspiration (group B, n = 30) of ethanol-mixed fluid after intracystic ethanol injection.")
    [parts] = of_kind(sentence, "parts_vs_total")
    assert parts["verdict"] == "consistent" and "divided" in parts["inputs"]["pairing"]


# --- 6. a comparison is never tested as one group's mean against 0 -----------------------------------------------


def test_two_groups_compared_are_not_one_sample_tests():
    # PMID 18570208: macrosomic neonates vs controls
    sentence = ("RESULTS: The difference between measured and expected CRL, expressed both in mm and in days of "
                "gestation, was statistically greater in the severely macrosomic neonates compared with controls "
                "(mean, 6.66 +/- 4.78 mm vs. 1.17 +/- 4.6 mm, P<0.0001 and 3 +/- 2.2 days vs. 0.5 +/- 2.3 days, "
                "P<0.0001, respectively).")
    assert of_kind(sentence, "p_from_mean_sd") == []
    two = of_kind(sentence, "p_from_two_means")
    assert [c["verdict"] for c in two] == ["not_checkable", "not_checkable"]
    assert all("each group's n" in c["detail"] for c in two)


def test_a_p_of_groups_not_given_side_by_side_is_not_recomputed_from_one_mean():
    # PMID 19481382: the p is an ANOVA across age groups
    sentence = ("Total testosterone levels fell from 503.6+/-180.1 ng/dL in men aged 40 to 54 years to 382.1+/-247.3 "
                "in those>70 years; however this was not statistically significant (ANOVA, p=0.06).")
    assert "inconsistent" not in {c["verdict"] for c in checks(sentence)}


# --- 7. actuarial estimates and diagnostic accuracy ---------------------------------------------------------------


def test_actuarial_survival_is_not_a_share_of_a_count():
    # PMID 11955750: "3 patients alive with metastasis" is not the denominator of a 5-year survival rate
    sentence = ("RESULTS: After 5.8 years of follow-up, the overall 5-year survival rate was 90%, the disease specific "
                "5-year survival rate was 92% (3 patients alive with metastasis).")
    assert "inconsistent" not in {c["verdict"] for c in checks(sentence)}


def test_an_explicit_fraction_with_an_accuracy_is_still_checked_against_it():
    # PMID 10811329: 17/21 is stated, and it gives 81%
    sentence = ("In the 46 children with a true-positive 99mTc-WBC scan, 81% (17/21) of UGI-SBFT studies were "
                "normal.")
    assert verdicts(sentence, "percent_of_count") == ["consistent"]


# --- 8. truncation is its own verdict -----------------------------------------------------------------------------


def test_truncated_percentages_are_consistent_if_truncated():
    # PMID 19664156: 30/45 = 66.7% printed 66%, 39/45 = 86.7% printed 86%, 29/45 = 64.4% printed 64%
    sentence = ("RESULTS: Correct diagnoses were provided in 30/45 (66%) cases, 39/45 (86%) cases, and in 29/45 (64%) "
                "cases by investigator A, B, and C, respectively.")
    assert verdicts(sentence, "percent_of_count") == ["consistent_if_truncated", "consistent_if_truncated",
                                                      "consistent"]


# --- the other direction: a stated count is never ignored ---------------------------------------------------------


@pytest.mark.parametrize("sentence, reported, verdict", [
    # PMID 21880023: "four of 379 (1.2%)": 4/379 = 1.06%
    ("RESULTS: Fourteen of 379 (3.7%) women in the intervention group and 17 of 340 (5.0%) in the control group had "
     "an EPDS score of ≥10 (p=0.46), and four of 379 (1.2%) women in the intervention group and eight of 340 (2.4%) "
     "in the control group had an EPDS score of ≥13 (p=0.25).", "1.2", "inconsistent"),
    # PMID 22237146: "Twenty-two of 57 patients (38.5%)": 22/57 = 38.60%, 38.5 only by truncation
    ("Twenty-two of 57 patients (38.5%) received EGFR-tyrosine kinase inhibitors as any line therapy.", "38.5",
     "consistent_if_truncated"),
    # PMID 24630333: "80.3% (288/355)": 288/355 = 81.1%
    ("RESULTS: Overall, 80.3% (288/355) of all fractures were fixed by trauma-trained surgeons.", "80.3",
     "inconsistent"),
])
def test_k_of_n_with_its_percentage_uses_the_stated_k(sentence, reported, verdict):
    [check] = [c for c in of_kind(sentence, "percent_of_count") if c["reported"] == reported]
    assert check["verdict"] == verdict and check["inputs"]["k"] is not None and check["inputs"]["pairing"]


def test_two_groups_shares_with_counts_and_a_p_are_tested_as_two_proportions():
    sentence = ("RESULTS: Fourteen of 379 (3.7%) women in the intervention group and 17 of 340 (5.0%) in the control "
                "group had an EPDS score of ≥10 (p=0.46).")  # PMID 21880023
    [check] = of_kind(sentence, "p_from_two_proportions")
    assert check["verdict"] == "consistent" and "Fisher" in check["detail"]


def test_check_stats_has_the_two_group_and_two_proportion_forms():
    runner = CliRunner()
    # PMID 21880023's counts: 14 of 379 vs 17 of 340, p = 0.46
    props = runner.invoke(cli, ["check", "stats", "--k1", "14", "--n1", "379", "--k2", "17", "--n2", "340",
                                "--p", "0.46"])
    assert props.exit_code == 0 and props.output.startswith("consistent: Reported p = 0.46 is reproduced (Fisher)")
    means = runner.invoke(cli, ["check", "stats", "--mean", "6.66", "--sd", "4.78", "--n", "40", "--mean2", "1.17",
                                "--sd2", "4.6", "--n2", "40", "--p", "0.5", "--json"])
    [verdict] = json.loads(means.output)
    assert verdict["kind"] == "p_from_two_means" and verdict["verdict"] == "inconsistent"


# --- names, flattened superscripts, decimal points -------------------------------------------------------------


def test_r_squared_written_r_2_is_not_a_correlation_with_two_degrees_of_freedom():
    sentence = ("RESULTS: Both fasting and 2-hour plasma glucose levels were associated with higher Framingham risk "
                "score (fasting glucose: r(2) = 0.21; 2-hour glucose: r(2) = 0.24; P<0.001 for both), and insulin "
                "sensitivity with lower Framingham risk score (r(2) = 0.36; P<0.001).")  # PMID 22720085
    assert of_kind(sentence, "p_from_apa_statistic") == []


def test_a_number_ending_a_name_is_not_a_value():
    # PMID 18783922
    sentence = ("Serial analysis during the seizure-free period revealed a decrease in cytokine levels: TNF-alpha "
                "(25% to 12.5%), IFN-gamma (12.5% to 0%), IL-1 (25% to 0) and IL-2 (6.2% to 6.2%), IL-4 (18.8% to "
                "0%) and IL-6 (18.8% to 6.2%).")
    assert of_kind(sentence, "estimate_in_interval") == []


def test_a_middle_dot_is_a_decimal_point():
    # PMID 27896825: The Lancet's "21·9%"
    sentence = "Of the 73 patients, 39 (53·4%) met ATA low-risk criteria and 16 (21·9%) met 'very-low-risk' criteria."
    assert verdicts(sentence, "percent_of_count") == ["consistent", "consistent"]


# --- kb check text says why nothing was checked ------------------------------------------------------------------


def test_check_text_lists_each_number_and_why_it_was_not_checked():
    sentence = "RESULTS: NASH was diagnosed in 58 patients (61%; 30 f) and ASH in 37 (39%; 9 f)."  # PMID 18239988
    result = CliRunner().invoke(cli, ["check", "text", sentence])
    lines = result.output.splitlines()
    assert result.exit_code == 0 and lines and all(line.startswith("not checked: ") for line in lines)
    assert any("'61%'" in line and "states no denominator" in line for line in lines)
    assert any("'39%'" in line and "no count or denominator" in line for line in lines)

"""The recomputation checks on real published and registered numbers (see tests/fixtures/PROVENANCE.md)."""

import json

import pytest
from lxml import etree

from kb.checks import (
    check_apa_text,
    grim_mean,
    p_from_difference_ci,
    p_from_ratio_ci,
    p_one_sample,
    p_paired,
    p_two_groups,
    parts_sum_to_total,
    percent_of_count,
    percentages_sum_to_100,
    rank_sum_floor,
    relative_change,
    signed_rank_floor,
)

from .conftest import fixture_bytes, fixture_path

VERDICT_KEYS = {"kind", "verdict", "inputs", "reported", "recomputed", "methods_fit", "decision_error", "detail"}

# The project's default article (PMID 32009091, Internal Medicine 2020; shared/seed), abstract, Results:
# "Between July 2014 and December 2015, five men were enrolled. [...] The mean rate of reduction in the serum VEGF
#  level at 24 weeks was 59.6%±8.3% (p=0.0003). The mean serum VEGF level decreased from 2,466±771 pg/mL to
#  974±340 pg/mL."
PATIENTS = 5


def study(name):
    return json.loads(fixture_bytes("ctgov", name))


def analyses(doc):
    for measure in doc["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]:
        for analysis in measure.get("analyses", []):
            yield measure, analysis


# --- the default article --------------------------------------------------------------------------------------

def test_default_article_mean_reduction_p_is_not_reproduced_by_any_reading():
    v = p_one_sample("59.6%", "8.3%", PATIENTS, "0.0003", dispersion_type="pm")
    assert set(v) == VERDICT_KEYS
    assert v["kind"] == "p_from_mean_sd" and v["verdict"] == "inconsistent" and v["methods_fit"] == []
    sd, se = v["recomputed"]["one-sample t-test (SD)"], v["recomputed"]["one-sample t-test (SE)"]
    assert 8.5e-5 < sd[0] < sd[1] < 9.1e-5  # far smaller than 0.0003
    assert 0.0019 < se[0] < se[1] < 0.0021  # far larger
    assert v["recomputed"]["Wilcoxon signed-rank test, smallest possible p"] == [0.0625, 1.0]
    null_lo, null_hi = v["recomputed"]["null value giving the reported p (SD)"]
    assert 13 < null_lo < 16 < null_hi < 18.5
    assert v["decision_error"] is False  # both significant: the conclusion does not flip
    assert v["detail"] == (
        "Reported p = 0.0003 is not reproduced: a one-sample t-test of 59.6% ± 8.3% (n = 5) against 0 gives p "
        "between 0.000086 and 0.000090 (± as SD), or between 0.0019 and 0.0020 (± as SE); a null value of 16.0% "
        "(13.6% to 18.0% given the rounding) instead of 0 would give it (± as SD); a Wilcoxon signed-rank test "
        "cannot give p below 0.062 with n = 5.")


def test_default_article_null_value_clue_never_makes_it_consistent():
    v = p_one_sample("59.6%", "8.3%", PATIENTS, "0.0003", dispersion_type="sd")
    assert v["verdict"] == "inconsistent"
    assert "null value giving the reported p (SD)" not in v["methods_fit"]
    retested = p_one_sample("59.6%", "8.3%", PATIENTS, "0.0003", dispersion_type="sd", null=16.0)
    assert retested["verdict"] == "consistent"  # the clue is right: a test against 16% gives 0.0003


def test_default_article_vegf_levels_paired_test_does_not_give_the_p_either():
    v = p_paired("2,466", "771", "974", "340", PATIENTS, "0.0003", dispersion_type="pm")
    assert v["kind"] == "p_from_paired_means" and v["verdict"] == "inconsistent"
    sd = v["recomputed"]["paired t-test, any correlation (SD)"]
    assert 0.0014 < sd[0] < 0.0016 and 0.039 < sd[1] < 0.041  # correlation +1 and −1
    assert v["detail"] == (
        "Reported p = 0.0003 is not reproduced: a paired t-test of 2,466 ± 771 against 974 ± 340, n = 5, allowing "
        "any correlation between the two, gives p between 0.0015 and 0.040 (± as SD), or between 0.026 and 0.25 "
        "(± as SE); a Wilcoxon signed-rank test cannot give p below 0.062 with n = 5.")


def test_default_article_relative_change_of_the_means_is_informational():
    v = relative_change("2,466", "974", "59.6%", reduction=True)
    assert v["verdict"] == "not_checkable" and v["decision_error"] is None
    lo, hi = v["recomputed"]["reduction of the means"]
    assert 60.47 < lo < 60.5 < hi < 60.54
    assert v["detail"] == (
        "The reported mean reduction of 59.6% cannot be checked against the means: 2,466 to 974 is a reduction of "
        "60.5% (60.47% to 60.53%), 0.90 percentage points more, and the mean of each patient's reduction need not "
        "equal the reduction of the mean levels.")
    assert relative_change("2,466", "974", "60.5%", reduction=True)["verdict"] == "consistent"


def test_default_article_standard_error_reading_would_fit_a_p_of_0_002():
    v = p_one_sample("59.6%", "8.3%", PATIENTS, "0.002", dispersion_type="pm")
    assert v["verdict"] == "consistent" and v["methods_fit"] == ["one-sample t-test (SE)"]
    assert v["detail"].startswith("Reported p = 0.002 is reproduced (± as SE): ")


# --- NCT00791778: registry analyses with one-sided p-values ---------------------------------------------------

NCT00791778 = "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json"


def registry_ratio_check(analysis, *, with_context=True):
    return p_from_ratio_ci(analysis["paramValue"], analysis.get("ciLowerLimit"), analysis.get("ciUpperLimit"),
                           analysis.get("pValue"), level=analysis.get("ciPctValue", "95"), measure="hazard ratio",
                           context=analysis.get("statisticalComment", "") if with_context else "")


def test_nct00791778_one_sided_p_values_are_recognised():
    found = list(analyses(study(NCT00791778)))
    assert [(a["paramValue"], a["pValue"]) for _, a in found] == [("1.09", "0.655"), ("1.43", "0.951"),
                                                                   ("1.49", "0.84")]
    for _, analysis in found:
        assert "one-sided alpha" in analysis["statisticalComment"]
        v = registry_ratio_check(analysis)
        assert v["verdict"] == "consistent" and v["decision_error"] is False
        assert v["methods_fit"] == ["z from the CI, one-sided (hazard ratio < 1)"]
        assert "is one-sided, as the source states" in v["detail"]
        assert v["inputs"]["one_sided_stated"] is True


def test_nct00791778_pfs_sentence_and_two_sided_range():
    _, pfs = next(analyses(study(NCT00791778)))
    v = registry_ratio_check(pfs)
    two_lo, two_hi = v["recomputed"]["z from the CI, two-sided"]
    assert 0.655 < two_lo < two_hi < 0.70  # two-sided would be 0.66-0.70: not 0.655
    assert v["detail"] == (
        "Reported p = 0.655 is one-sided, as the source states: the hazard ratio 1.09 (95% CI 0.72 to 1.63) implies "
        "one-sided p between 0.65 and 0.67 against the alternative hazard ratio < 1 (two-sided p between 0.66 and "
        "0.70).")


def test_one_sided_fit_without_a_statement_is_still_recognised_but_flagged():
    _, pfs = next(analyses(study(NCT00791778)))
    v = registry_ratio_check(pfs, with_context=False)
    assert v["verdict"] == "consistent"
    assert "matches only a one-sided test, which the source does not mention" in v["detail"]


def test_nct00791778_baseline_parts_add_up_to_group_totals():
    baseline = study(NCT00791778)["resultsSection"]["baselineCharacteristicsModule"]
    totals = {c["groupId"]: c["value"] for c in baseline["denoms"][0]["counts"]}
    checked = 0
    for measure in baseline["measures"]:
        if measure.get("unitOfMeasure") != "Participants":
            continue
        categories = [cat for cls in measure["classes"] for cat in cls["categories"]]
        for group, total in totals.items():
            parts = [m["value"] for cat in categories for m in cat["measurements"] if m["groupId"] == group]
            v = parts_sum_to_total(parts, total)
            assert v["verdict"] == "consistent", v["detail"]
            checked += 1
    assert checked == 18
    assert parts_sum_to_total(["95", "23", "5"], "123")["detail"] == \
        "The parts 95 + 23 + 5 add up to 123, the reported total."


def test_parts_that_do_not_add_up():
    v = parts_sum_to_total(["8", "4"], "13")
    assert v["verdict"] == "inconsistent" and v["recomputed"] == {"sum of parts": [12.0, 12.0]}
    assert v["detail"] == "The parts 8 + 4 add up to 12, not the reported total of 13 (1 short)."
    assert parts_sum_to_total(["8", "NA"], "12")["verdict"] == "not_checkable"


# --- NCT02210780: 90% CIs, p < 0.0001, percentages of participants -------------------------------------------

NCT02210780 = "v2_study_NCT02210780_aact.json"


def test_nct02210780_differences_with_90_percent_cis_reproduce_p_below_0_0001():
    found = list(analyses(study(NCT02210780)))
    assert len(found) == 7
    for _, analysis in found:
        assert analysis["ciPctValue"] == "90"
        v = p_from_difference_ci(analysis["paramValue"], analysis["ciLowerLimit"], analysis["ciUpperLimit"],
                                 analysis["pValue"], level=analysis["ciPctValue"])
        assert v["verdict"] == "consistent" and "z from the CI, two-sided" in v["methods_fit"], v["detail"]


def test_ci_level_matters():
    # 34.0 (90% CI 24.29 to 43.75): read as a 95% CI, the SE is smaller than it really is
    at90 = p_from_difference_ci("34.0", "24.29", "43.75", "<0.0001", level="90")["recomputed"]
    at95 = p_from_difference_ci("34.0", "24.29", "43.75", "<0.0001", level="95")["recomputed"]
    assert at95["z from the CI, two-sided"][1] < at90["z from the CI, two-sided"][0]


def test_nct02210780_percentages_match_whole_counts_of_their_denominators():
    checked = 0
    for measure in study(NCT02210780)["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]:
        if measure["unitOfMeasure"] != "Percentage of participants":
            continue
        sizes = {c["groupId"]: c["value"] for d in measure["denoms"] for c in d["counts"]}
        for m in measure["classes"][0]["categories"][0]["measurements"]:
            v = percent_of_count(m["value"], sizes[m["groupId"]])
            assert v["verdict"] == "consistent" and len(v["methods_fit"]) == 1, v["detail"]
            checked += 1
    assert checked == 12
    assert percent_of_count("83.7", "92")["detail"] == "Reported 83.7% of 92 matches 77 of 92 (83.70%)."


def test_nct02210780_ls_means_with_standard_errors_give_the_reported_p():
    for measure, analysis in analyses(study(NCT02210780)):
        if measure["paramType"] != "LEAST_SQUARES_MEAN":
            continue
        sizes = {c["groupId"]: c["value"] for d in measure["denoms"] for c in d["counts"]}
        a, b = measure["classes"][0]["categories"][0]["measurements"]
        v = p_two_groups(a["value"], a["spread"], sizes[a["groupId"]], b["value"], b["spread"],
                         sizes[b["groupId"]], analysis["pValue"], dispersion_type="se")
        assert v["verdict"] == "consistent" and v["kind"] == "p_from_two_means"
        assert set(v["methods_fit"]) == {"Student t-test (SE)", "Welch t-test (SE)"}


# --- NSCLC bulk file and METRIC abstract ----------------------------------------------------------------------

def test_nsclc_bulk_analyses_without_p_are_not_checkable():
    lines = fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json").read_text().splitlines()
    docs = [json.loads(line.rstrip(",\n")) for line in lines if line.startswith("{")]
    found = [a for doc in docs if "resultsSection" in doc for _, a in analyses(doc)]
    assert len(found) == 2 and all("pValue" not in a for a in found)
    for a in found:
        v = p_from_difference_ci(a["paramValue"], a["ciLowerLimit"], a["ciUpperLimit"], a.get("pValue"),
                                 level=a["ciPctValue"])
        assert v["verdict"] == "not_checkable" and v["detail"].startswith("No p is reported")
        assert v["decision_error"] is None and "84% CI" in v["detail"]


def metric_results():
    xml = etree.fromstring(fixture_bytes("pubmed", "efetch_pmid22663011_metric_trial_NCT01245062_biomcp.xml"))
    return xml.findtext(".//AbstractText[@Label='RESULTS']")


def test_metric_abstract_pfs_hazard_ratio_reproduces_p_below_0_001():
    assert "hazard ratio for disease progression or death in the trametinib group, 0.45; 95% confidence " \
           "interval [CI], 0.33 to 0.63; P<0.001" in metric_results()
    v = p_from_ratio_ci("0.45", "0.33", "0.63", "P<0.001", measure="hazard ratio", context=metric_results())
    assert v["verdict"] == "consistent" and "z from the CI, two-sided" in v["methods_fit"]


def test_metric_abstract_os_p_fits_only_one_sided_wald_test():
    # The article's P = 0.01 comes from a log-rank test and its CI from a Cox model; from the CI alone, the
    # two-sided Wald p is 0.018-0.027, and only a one-sided reading fits. The check says so rather than calling it
    # an error, and says that the source does not state a one-sided test.
    assert "hazard ratio for death, 0.54; 95% CI, 0.32 to 0.92; P=0.01" in metric_results()
    v = p_from_ratio_ci("0.54", "0.32", "0.92", "P=0.01", measure="hazard ratio", context=metric_results())
    assert v["verdict"] == "consistent"
    assert v["methods_fit"] == ["z from the CI, one-sided (hazard ratio < 1)"]
    lo, hi = v["recomputed"]["z from the CI, two-sided"]
    assert 0.017 < lo < hi < 0.028
    assert "which the source does not mention" in v["detail"]


def test_ratio_without_ci_or_p_is_not_checkable():
    no_ci = p_from_ratio_ci("1.5", None, "NA", "0.03", measure="odds ratio")
    assert no_ci["verdict"] == "not_checkable" and no_ci["decision_error"] is None
    assert no_ci["detail"] == ('Reported p = 0.03 cannot be checked: the lower limit ("") and the upper limit ("NA") '
                               "are not numbers, so the odds ratio and its CI give no SE.")
    assert p_from_ratio_ci("0", "0.0", "2.0", "0.5")["verdict"] == "not_checkable"
    no_p = p_from_ratio_ci("0.67", "0.50", "0.90", "NA")
    assert no_p["verdict"] == "not_checkable" and "z from the CI, two-sided" in no_p["recomputed"]


def test_ratio_decision_error_on_the_two_sided_reading():
    v = p_from_ratio_ci("1.35", "0.86", "2.13", "0.01", measure="relative risk")
    assert v["verdict"] == "inconsistent" and v["decision_error"] is True
    assert "this is a decision error" in v["detail"]


# --- other t-test shapes, rank floors, decision errors --------------------------------------------------------

def test_rank_test_floors_from_exact_distributions():
    assert signed_rank_floor(5) == 0.0625 and signed_rank_floor(10) == pytest.approx(2 / 2 ** 10)
    assert rank_sum_floor(3, 4) == pytest.approx(2 / 35)
    assert signed_rank_floor(200) is None


def test_two_groups_student_and_welch_differ_with_unequal_groups():
    v = p_two_groups("10.0", "1.0", 5, "8.0", "4.0", 40, "0.30")
    student, welch = v["recomputed"]["Student t-test (SD)"], v["recomputed"]["Welch t-test (SD)"]
    assert welch[1] < 0.05 < student[0]
    assert v["methods_fit"] == ["Student t-test (SD)"]
    assert v["detail"].startswith("Reported p = 0.30 is reproduced (Student): ")
    assert p_two_groups("10.0", "1.0", 5, "8.0", "4.0", 40, "0.010")["methods_fit"] == ["Welch t-test (SD)"]


def test_one_sided_t_test_only_when_asked():
    assert p_one_sample("1.0", "2.0", 20, "0.02")["verdict"] == "inconsistent"
    v = p_one_sample("1.0", "2.0", 20, "0.02", one_sided=True)
    assert v["methods_fit"] == ["one-sample t-test (SD), one-sided"]


def test_decision_error_on_a_mean_check():
    v = p_one_sample("1.0", "2.0", 10, "0.03")
    assert v["verdict"] == "inconsistent" and v["decision_error"] is True
    assert v["detail"].endswith("this is a decision error, since the recomputed p lies on the other side of 0.05.")


def test_missing_inputs_are_not_checkable():
    for v in (p_one_sample("59.6", "NA", 5, "0.0003"), p_one_sample("59.6", "8.3", 1, "0.0003"),
              p_paired("2466", "771", "974", "", 5, "0.0003"), p_two_groups("1", "1", 5, "2", "1", "NR", "0.1")):
        assert v["verdict"] == "not_checkable" and v["decision_error"] is None and v["methods_fit"] == []
    assert p_one_sample("59.6", "NA", 5, "0.0003")["detail"] == \
        'Cannot recompute p: the SD or SE ("NA") is not a number.'


# --- percentages and GRIM ------------------------------------------------------------------------------------

def test_percent_that_no_whole_count_of_five_gives():
    v = percent_of_count("59.6%", PATIENTS)
    assert v["verdict"] == "inconsistent" and set(v["recomputed"]) == {"2 of 5", "3 of 5"}
    assert v["detail"] == ("Reported 59.6% cannot be a whole count of 5: 2 of 5 (40.00%) and 3 of 5 (60.00%); "
                           "no denominator from 1 to 10 gives it either.")


def test_percent_with_its_count():
    assert percent_of_count("44.3%", 97, 43)["verdict"] == "consistent"
    v = percent_of_count("44.3%", 97, 42)
    assert v["verdict"] == "inconsistent"
    assert v["detail"] == "Reported 44.3% is not 42 of 97 (43.30%); 43 of 97 (44.33%) would give it."
    near = percent_of_count("12.5%", 30)
    assert near["verdict"] == "inconsistent" and near["detail"].endswith("n = 32 would fit.")
    assert percent_of_count("<5%", 20)["verdict"] == "not_checkable"


def test_rounding_ties_count_either_way():
    # 1/8 = 12.5% exactly: "12%" (half to even, or down) and "13%" (half up) both fit
    assert percent_of_count("12%", 8)["verdict"] == "consistent"
    assert percent_of_count("13%", 8)["verdict"] == "consistent"


def test_percent_reproduced_only_by_truncation_is_its_own_verdict():
    v = percent_of_count("23%", 17)  # 4/17 = 23.53%: truncated "23%", rounded "24%"
    assert v["verdict"] == "consistent_if_truncated" and v["methods_fit"] == ["4 of 17 (truncated)"]
    assert v["decision_error"] is None and v["recomputed"] == {"4 of 17 (truncated)": [400 / 17, 400 / 17]}
    assert v["detail"] == ("Reported 23% of 17 is reproduced only if the author truncated instead of rounding: "
                           "4 of 17 is 23.5%, which truncation gives as 23% but rounding gives as 24%.")
    assert percent_of_count("23%", 17, 4)["verdict"] == "consistent_if_truncated"
    assert percent_of_count("23%", 17, 5)["verdict"] == "inconsistent"
    two_thirds = percent_of_count("66%", 3)
    assert two_thirds["verdict"] == "consistent_if_truncated" and "2 of 3 is 66.7%" in two_thirds["detail"]
    assert percent_of_count("66.6%", 3, 2)["methods_fit"] == ["2 of 3 (truncated)"]
    assert percent_of_count("67%", 3)["verdict"] == "consistent"  # rounded, as usual
    # 38/160 = 23.75% truncates to 23%; rounded, 36 and 37 of 160 give 23%
    assert percent_of_count("23%", 160, 38)["detail"].endswith(
        "38 of 160 is 23.8%, which truncation gives as 23% but rounding gives as 24%; rounded, 36 of 160 (22.5%) "
        "or 37 of 160 (23.1%) would give it.")


def test_grim_mean_reproduced_only_by_truncation():
    v = grim_mean("5.17", 28)  # 145/28 = 5.1786
    assert v["verdict"] == "consistent_if_truncated" and v["methods_fit"] == ["sum 145 of 28 (truncated)"]
    assert v["detail"] == ("A mean of 5.17 over 28 whole-number values is reproduced only if the author truncated "
                           "instead of rounding: 145/28 = 5.179, which truncation gives as 5.17 but rounding gives "
                           "as 5.18.")
    assert grim_mean("-5.17", 28)["methods_fit"] == ["sum -145 of 28 (truncated)"]  # truncated towards zero
    assert grim_mean("5.19", 28)["verdict"] == "inconsistent"  # neither rounding nor truncation


def test_grim_mean():
    v = grim_mean("5.19", 28)
    assert v["verdict"] == "inconsistent" and v["decision_error"] is None
    assert v["detail"].startswith("A mean of 5.19 over 28 whole-number values is impossible: the nearest possible "
                                  "means are 5.179 (145/28) and 5.214 (146/28)")
    assert grim_mean("5.21", 28)["methods_fit"] == ["sum 146 of 28"]
    assert grim_mean("0.87", 28, items=2)["verdict"] == "consistent"


def test_percentages_of_categories_sum_to_100_within_rounding():
    assert percentages_sum_to_100(["33.3%", "33.3%", "33.3%"])["verdict"] == "consistent"
    v = percentages_sum_to_100(["50%", "40%"])
    assert v["verdict"] == "inconsistent" and v["recomputed"] == {"sum of rounded percentages": [89.0, 91.0]}


# --- APA statistics ------------------------------------------------------------------------------------------

def test_apa_statistics_in_a_sentence():
    text = ("The effect was significant, t(28) = 2.20, p = .036; the interaction was not, F(2, 45) = 1.21, ns; "
            "r(48) = −.35, p = .01 and χ2(1, N = 120) = 4.10, p = .043, but z = 2.20, p = .06.")
    found = check_apa_text(text)
    assert [v["inputs"]["test"] for v in found] == ["t", "F", "r", "chi2", "z"]
    assert [v["verdict"] for v in found] == ["consistent"] * 4 + ["inconsistent"]
    assert [v["decision_error"] for v in found] == [False] * 4 + [True]
    assert found[0]["detail"] == "Reported p = .036 is reproduced: t(28) = 2.20 gives two-tailed p between 0.036 " \
                                 "and 0.037."


def test_apa_one_tailed_only_when_the_text_says_so():
    assert check_apa_text("t(28) = 2.20, p = .018")[0]["verdict"] == "inconsistent"
    v = check_apa_text("t(28) = 2.20, p = .018, one-tailed")[0]
    assert v["verdict"] == "consistent" and v["methods_fit"] == ["one-tailed"]

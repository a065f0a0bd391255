"""p of two independent proportions (`kb.checks.proportions`) against computations made here independently.

No statcheck-like corpus of published two-proportion p-values exists to test against, so the reference p-values are
computed in this file from the textbook formulas, not through the scipy functions the check calls: Pearson's
X² = N(ad − bc)² / (r1·r2·c1·c2), Yates' X² = N·max(0, |ad − bc| − N/2)² / (r1·r2·c1·c2) (both with the chi-square
tail of 1 degree of freedom), and Fisher's two-sided p as the sum, in exact fractions, of the hypergeometric
probabilities of every table with the same margins no more probable than the observed one (R's fisher.test rule,
with its relative tolerance 1 + 10⁻⁷). The one published value used: R's `fisher.test` documentation example
"TeaTasting", the table [[3, 1], [1, 3]], whose two-sided p is 34/70 = 0.4857.
"""

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from kb.checks import KINDS, p_two_proportions, p_two_proportions_from_percents

METHODS = ("chi-square", "chi-square with Yates' correction", "Fisher's exact test")
TOL = 1e-9


def pearson(a, m, b, n, yates=False):
    """Two-sided p of the chi-square test of a of m against b of n, from the 2×2 shortcut formula."""
    c, d, total = m - a, n - b, m + n
    cross = abs(a * d - b * c)
    if yates:
        cross = max(0.0, cross - total / 2)
    x2 = total * cross ** 2 / (m * n * (a + b) * (c + d))
    return float(stats.chi2(1).sf(x2))


def fisher(a, m, b, n):
    """Two-sided Fisher exact p in exact arithmetic: hypergeometric probabilities of the tables with the margins of
    a of m against b of n, summed over those no more probable than the observed one."""
    events, total = a + b, m + n

    def prob(x):
        return Fraction(math.comb(m, x) * math.comb(n, events - x), math.comb(total, events))

    observed = prob(a)
    tables = range(max(0, events - n), min(events, m) + 1)
    return float(sum(prob(x) for x in tables if prob(x) <= observed * Fraction(10 ** 7 + 1, 10 ** 7)))


def reference(a, m, b, n):
    return {"chi-square": pearson(a, m, b, n), "chi-square with Yates' correction": pearson(a, m, b, n, yates=True),
            "Fisher's exact test": fisher(a, m, b, n)}


def inside(x, lo, hi):
    return lo * (1 - TOL) - TOL <= x <= hi * (1 + TOL) + TOL


def test_registered_as_a_kind_derive_produces():
    assert KINDS["p_from_two_proportions"].produced_by == "derive"


def test_r_fisher_test_documentation_tea_tasting_two_sided():
    assert fisher(3, 4, 1, 4) == pytest.approx(34 / 70, rel=1e-12)
    v = p_two_proportions(3, 4, 1, 4, "0.4857")
    assert v["kind"] == "p_from_two_proportions" and v["verdict"] == "consistent"
    assert v["methods_fit"] == ["Fisher's exact test", "Fisher's exact test, one-sided p doubled"]
    assert v["decision_error"] is False
    assert v["recomputed"]["Fisher's exact test"] == pytest.approx([34 / 70] * 2, rel=1e-9)
    assert v["detail"] == ("Reported p = 0.4857 is reproduced (Fisher or Fisher doubling one tail): comparing 3 of 4 "
                           "(75.0%) with 1 of 4 (25.0%) gives p = 0.16 (chi-square), or p = 0.48 (Yates), or p = 0.49 "
                           "(Fisher), or p = 0.49 (Fisher doubling one tail); an expected count is below 5 (2), so "
                           "the chi-square tests are unreliable.")


@pytest.mark.parametrize("table", [(12, 40, 4, 42), (30, 100, 15, 100), (3, 4, 1, 4), (1, 20, 9, 21),
                                   (45, 120, 60, 118), (0, 15, 6, 14), (7, 7, 2, 9)])
def test_candidates_match_the_independent_formulas(table):
    found = p_two_proportions(*table, "0.5")["recomputed"]
    for method, p in reference(*table).items():
        assert found[method] == pytest.approx([p, p], rel=1e-9, abs=1e-15), method


def test_sentence_names_every_candidate_and_which_fits():
    v = p_two_proportions(12, 40, 4, 42, "0.03")
    assert v["verdict"] == "consistent" and v["methods_fit"] == ["Fisher's exact test"]
    assert v["detail"] == ("Reported p = 0.03 is reproduced (Fisher): comparing 12 of 40 (30.0%) with 4 of 42 (9.5%) "
                           "gives p = 0.019 (chi-square), or p = 0.039 (Yates), or p = 0.026 (Fisher), or p = 0.038 "
                           "(Fisher doubling one tail).")
    assert p_two_proportions(30, 100, 15, 100, "0.01")["methods_fit"] == ["chi-square"]
    assert p_two_proportions(30, 100, 15, 100, "<0.05")["detail"].startswith("Reported p < 0.05 is reproduced: ")


def test_far_p_is_inconsistent_and_a_decision_error_when_it_crosses_0_05():
    v = p_two_proportions(12, 40, 4, 42, "0.5")
    assert v["verdict"] == "inconsistent" and v["methods_fit"] == [] and v["decision_error"] is True
    assert v["detail"].endswith("; this is a decision error, since the recomputed p lies on the other side of 0.05.")
    same_side = p_two_proportions(30, 100, 15, 100, "0.001")
    assert same_side["verdict"] == "inconsistent" and same_side["decision_error"] is False


@pytest.mark.parametrize("args, reason", [
    (("NA", 10, 1, 2, "0.3"), 'k1 ("NA") is not a number'),
    ((3, 10, 1, 12, ""), 'p ("") is not a number'),
    ((11, 10, 1, 2, "0.3"), "k1 = 11 is more than n1 = 10"),
    ((1, 10, 3, 2, "0.3"), "k2 = 3 is more than n2 = 2"),
    ((1, 0, 1, 2, "0.3"), "n1 = 0 is not a positive whole number"),
    ((1.5, 10, 1, 2, "0.3"), "k1 = 1.5 is not a whole count"),
    ((0, 10, 0, 12, "0.5"), "neither group has an event (0 of 10 and 0 of 12), so a margin of the 2×2 table is zero"),
    ((5, 5, 7, 7, "1"), "every member of both groups has the event (5 of 5 and 7 of 7), so a margin of the 2×2 "
                        "table is zero"),
])
def test_not_checkable_says_why(args, reason):
    v = p_two_proportions(*args)
    assert v["verdict"] == "not_checkable" and v["decision_error"] is None and v["methods_fit"] == []
    assert v["detail"] == f"Cannot recompute p: {reason}."


def test_from_percents_with_one_count_each_equals_the_counts():
    by_counts = p_two_proportions(12, 40, 4, 42, "0.03")
    v = p_two_proportions_from_percents("30%", 40, "9.5%", 42, "0.03")
    assert v["recomputed"] == by_counts["recomputed"] and v["verdict"] == "consistent"
    assert v["inputs"] == {"percent1": "30%", "n1": "40", "percent2": "9.5%", "n2": "42"}
    assert "comparing 30% of 40 (12 of 40) with 9.5% of 42 (4 of 42) gives" in v["detail"]


def test_from_percents_bounds_p_over_every_count_the_rounding_allows():
    # 30% of 400 is 118 to 122 of 400 (29.5% to 30.5%); 20% of 410 is 80 to 84 of 410 (19.5% to 20.5%)
    v = p_two_proportions_from_percents("30%", 400, "20%", 410, "0.002")
    assert "comparing 30% of 400 (118 to 122 of 400) with 20% of 410 (80 to 84 of 410)" in v["detail"]
    every = [reference(a, 400, b, 410) for a in range(118, 123) for b in range(80, 85)]
    for method in METHODS:
        ps = [r[method] for r in every]
        assert v["recomputed"][method] == pytest.approx([min(ps), max(ps)], rel=1e-9)
    assert v["verdict"] == "consistent"
    assert p_two_proportions_from_percents("30%", 400, "20%", 410, "0.02")["verdict"] == "inconsistent"


def test_from_percents_not_checkable_when_no_whole_count_gives_a_percentage():
    v = p_two_proportions_from_percents("23%", 17, "10%", 20, "0.3")
    assert v["verdict"] == "not_checkable"
    assert v["detail"] == "Cannot recompute p: no whole count of 17 gives 23% (4 of 17 gives it only if truncated)."
    assert p_two_proportions_from_percents("<5%", 10, "3%", 10, "0.1")["detail"] == \
        "Cannot recompute p: <5% is a bound, not a rounded value."
    both_zero = p_two_proportions_from_percents("0%", 10, "0%", 12, "0.5")
    assert both_zero["verdict"] == "not_checkable" and "neither group has an event" in both_zero["detail"]


def test_from_percents_leaves_out_tables_with_a_zero_margin():
    # 0% of 300 is 0 or 1 of 300 and 0.0% of 250 is 0 of 250: the table 0 of 300 against 0 of 250 is left out
    v = p_two_proportions_from_percents("0%", 300, "0.0%", 250, "1")
    assert v["verdict"] == "consistent"
    assert v["recomputed"]["Fisher's exact test"] == pytest.approx([1.0, 1.0])
    assert "1 of the tables the percentages allow, with a zero margin, is left out" in v["detail"]


# --- properties --------------------------------------------------------------------------------------------------

tables = st.tuples(st.integers(1, 80), st.integers(1, 80), st.data())


def draw_table(data, m, n):
    a, b = data.draw(st.integers(0, m)), data.draw(st.integers(0, n))
    assume(0 < a + b < m + n)
    return a, m, b, n


@settings(max_examples=80, deadline=None)
@given(tables, st.sampled_from(METHODS), st.sampled_from(["{:.2g}", "{:.3f}", "{:.4f}"]))
def test_the_p_of_the_exact_counts_always_fits(table, method, style):
    m, n, data = table
    a, m, b, n = draw_table(data, m, n)
    p = reference(a, m, b, n)[method]
    v = p_two_proportions(a, m, b, n, style.format(p))
    assert v["verdict"] == "consistent" and method in v["methods_fit"], (a, m, b, n, style.format(p), v["detail"])
    assert v["decision_error"] is False


@settings(max_examples=80, deadline=None)
@given(tables)
def test_a_p_far_from_every_candidate_is_inconsistent(table):
    m, n, data = table
    a, m, b, n = draw_table(data, m, n)
    ps = reference(a, m, b, n).values()
    if max(ps) < 0.5:
        reported = "0.9"
    elif min(ps) > 0.01:
        reported = "<0.001"
    else:
        return
    v = p_two_proportions(a, m, b, n, reported)
    assert v["verdict"] == "inconsistent" and v["methods_fit"] == [], v["detail"]


@settings(max_examples=40, deadline=None)
@given(tables, st.integers(0, 1))
def test_from_percents_range_contains_the_p_of_the_true_counts(table, places):
    m, n, data = table
    a, m, b, n = draw_table(data, m, n)
    v = p_two_proportions_from_percents(f"{100 * a / m:.{places}f}%", m, f"{100 * b / n:.{places}f}%", n, "0.5")
    assert v["verdict"] != "not_checkable", v["detail"]
    for method, p in reference(a, m, b, n).items():
        assert inside(p, *v["recomputed"][method]), (method, p, v["recomputed"][method])

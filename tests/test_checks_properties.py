"""Properties of the bounding: any value inside the rounding intervals gives a p inside the recomputed range.

The reference p-values here come straight from scipy.stats at single points of the box (and, for the paired test,
at a random correlation), independently of the corner and optimisation logic under test.
"""

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kb.checks import (
    grim_mean,
    p_from_ratio_ci,
    p_one_sample,
    p_paired,
    p_two_groups,
    percent_of_count,
    relative_change,
)

TOL = 1e-9
unit = st.floats(0, 1)
means = st.decimals(min_value=-50, max_value=50, places=1).map(str)
sds = st.decimals(min_value="0.5", max_value=30, places=1).map(str)
sizes = st.integers(3, 60)


def inside(x, lo, hi):
    return lo * (1 - TOL) - TOL <= x <= hi * (1 + TOL) + TOL


def point(text, u):
    """A point of the rounding interval of a one-decimal number, at fraction u of its width."""
    return float(text) - 0.05 + 0.1 * u


@settings(max_examples=60, deadline=None)
@given(means, sds, sizes, unit, unit)
def test_one_sample_range_contains_every_point_of_the_box(mean, sd, n, u, w):
    rng = p_one_sample(mean, sd, n, "0.5")["recomputed"]["one-sample t-test (SD)"]
    m, s = point(mean, u), point(sd, w)
    assert inside(2 * stats.t.sf(abs(m) / (s / math.sqrt(n)), n - 1), *rng)


@settings(max_examples=60, deadline=None)
@given(means, sds, means, sds, sizes, st.floats(-1, 1), unit)
def test_paired_range_contains_every_correlation(m1, s1, m2, s2, n, rho, u):
    rng = p_paired(m1, s1, m2, s2, n, "0.5")["recomputed"]["paired t-test, any correlation (SD)"]
    a, b = point(s1, u), point(s2, 1 - u)
    sd_diff = math.sqrt(max(0.0, a * a + b * b - 2 * rho * a * b))
    diff = float(m1) - float(m2)
    t = abs(diff) / (sd_diff / math.sqrt(n)) if sd_diff else math.inf
    assert inside(2 * stats.t.sf(t, n - 1), *rng)


@settings(max_examples=60, deadline=None)
@given(means, sds, sizes, means, sds, sizes, unit, unit, unit)
def test_two_group_ranges_contain_every_point_of_the_box(m1, s1, n1, m2, s2, n2, u, v, w):
    found = p_two_groups(m1, s1, n1, m2, s2, n2, "0.5")["recomputed"]
    x1, x2, a, b = point(m1, u), point(m2, v), point(s1, w), point(s2, 1 - w)
    for equal_var, key in ((True, "Student t-test (SD)"), (False, "Welch t-test (SD)")):
        p = stats.ttest_ind_from_stats(x1, a, n1, x2, b, n2, equal_var=equal_var).pvalue
        assert inside(p, *found[key]), (key, p, found[key])


ratios = st.decimals(min_value="0.10", max_value="5.00", places=2)


@settings(max_examples=60, deadline=None)
@given(ratios, st.decimals(min_value="0.05", max_value="0.60", places=2), unit, unit, unit)
def test_ratio_range_contains_every_point_of_the_box(est, half_width, u, v, w):
    texts = [f"{est * (1 - half_width):.2f}", str(est), f"{est * (1 + half_width):.2f}"]
    low, mid, high = (float(t) - 0.005 + 0.01 * x for t, x in zip(texts, (u, v, w)))
    if not 0 < low < high:
        return
    found = p_from_ratio_ci(texts[1], texts[0], texts[2], "0.5")["recomputed"]["z from the CI, two-sided"]
    se = (math.log(high) - math.log(low)) / (2 * stats.norm.isf(0.025))
    assert inside(2 * stats.norm.sf(abs(math.log(mid)) / se), *found)


@given(st.integers(1, 400), st.integers(0, 400), st.integers(0, 2))
def test_every_whole_count_is_a_consistent_percentage(n, k, places):
    k = k % (n + 1)
    assert percent_of_count(f"{100 * k / n:.{places}f}", n)["verdict"] == "consistent"
    assert f"{k} of {n}" in percent_of_count(f"{100 * k / n:.{places}f}", n, k)["methods_fit"]


def truncated(numerator, denominator, places):
    """numerator/denominator cut (towards zero) to `places` decimals, in integer arithmetic."""
    digits = abs(numerator) * 10 ** places // denominator
    sign = "-" if numerator < 0 else ""
    return f"{sign}{digits // 10 ** places}" + (f".{digits % 10 ** places:0{places}d}" if places else "")


@given(st.integers(1, 400), st.integers(0, 400), st.integers(0, 2))
def test_a_truncated_percentage_is_never_inconsistent(n, k, places):
    k = k % (n + 1)
    written = f"{truncated(100 * k, n, places)}%"
    v = percent_of_count(written, n)
    assert v["verdict"] in ("consistent", "consistent_if_truncated"), v["detail"]
    fit = percent_of_count(written, n, k)
    assert fit["verdict"] in ("consistent", "consistent_if_truncated")
    assert {f"{k} of {n}", f"{k} of {n} (truncated)"} & set(fit["methods_fit"]), fit["detail"]


@given(st.integers(1, 200), st.integers(-2000, 2000), st.integers(1, 3))
def test_a_truncated_mean_is_never_grim_inconsistent(n, total, places):
    assert grim_mean(truncated(total, n, places), n)["verdict"] in ("consistent", "consistent_if_truncated")


@given(st.integers(1, 200), st.integers(-2000, 2000))
def test_every_whole_sum_gives_a_grim_consistent_mean(n, total):
    assert grim_mean(f"{total / n:.2f}", n)["verdict"] == "consistent"


@given(st.decimals(min_value=1, max_value=5000, places=0), st.decimals(min_value=0, max_value=5000, places=0),
       st.decimals(min_value=-100, max_value=100, places=1))
def test_relative_change_is_never_inconsistent(before, after, reported):
    assert relative_change(str(before), str(after), str(reported))["verdict"] in ("consistent", "not_checkable")

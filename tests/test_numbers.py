"""Reported text → interval (kb.checks.intervals) and p-value formatting (kb.checks.pvalues)."""

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb.checks.pvalues import decision_error, fmt_p, fmt_p_range, mentions_one_sided
from kb.numbers import P_DOMAIN, Reported


@pytest.mark.parametrize("text, relation, value, decimals, lo, hi", [
    ("59.6", "=", 59.6, 1, 59.55, 59.65),
    ("59.6%", "=", 59.6, 1, 59.55, 59.65),
    ("0.0003", "=", 0.0003, 4, 0.00025, 0.00035),
    ("p=0.0003", "=", 0.0003, 4, 0.00025, 0.00035),
    (".04", "=", 0.04, 2, 0.035, 0.045),
    ("2,466", "=", 2466, 0, 2465.5, 2466.5),
    ("12,345,678", "=", 12345678, 0, 12345677.5, 12345678.5),
    ("1,234.5", "=", 1234.5, 1, 1234.45, 1234.55),
    ("0,05", "=", 0.05, 2, 0.045, 0.055),
    ("1e-4", "=", 0.0001, 4, 0.00005, 0.00015),
    ("1.2 × 10⁻⁵", "=", 1.2e-5, 6, 1.15e-5, 1.25e-5),
    ("1.2×10^-5", "=", 1.2e-5, 6, 1.15e-5, 1.25e-5),
    ("−2.5", "=", -2.5, 1, -2.55, -2.45),
    ("0.10", "=", 0.1, 2, 0.095, 0.105),
])
def test_rounding_interval(text, relation, value, decimals, lo, hi):
    r = Reported.parse(text)
    assert (r.relation, r.value, r.decimals) == (relation, value, decimals)
    assert r.lo == pytest.approx(lo, rel=1e-12) and r.hi == pytest.approx(hi, rel=1e-12)
    assert r.known and not r.lo_open and not r.hi_open


def test_bounds_are_open_and_clipped_to_the_p_domain():
    r = Reported.parse("P < 0.001", domain=P_DOMAIN)
    assert (r.relation, r.lo, r.hi, r.hi_open) == ("<", 0.0, 0.001, True)
    assert r.phrase("p") == "p < 0.001"
    assert not r.meets(0.001, 0.002) and r.meets(0.0009, 0.002)
    assert Reported.parse("<0.001").lo == -math.inf
    above = Reported.parse("≥ 65")
    assert (above.relation, above.lo, above.hi, above.lo_open) == (">=", 65, math.inf, False)
    zero = Reported.parse("p = .000", domain=P_DOMAIN)
    assert (zero.lo, zero.hi) == (0.0, 0.0005)


@pytest.mark.parametrize("text", ["NA", "NR", "not reached", "", None, "—", "n/a"])
def test_not_a_number(text):
    r = Reported.parse(text)
    assert not r.known and r.value is None and math.isnan(r.lo) and math.isnan(r.hi)
    assert not r.meets(0, 1)


def test_counts_are_exact_and_granularity_uses_exact_arithmetic():
    assert Reported.parse("5", exact=True).lo == Reported.parse("5", exact=True).hi == 5
    assert Reported.parse("5.19").exact_bounds() == (Fraction(1037, 200), Fraction(1039, 200))
    assert Reported.parse("2,466").decimal == Decimal(2466)


@given(st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e6"), places=3, allow_nan=False))
def test_interval_contains_the_value_and_is_one_unit_wide(x):
    r = Reported.parse(str(x))
    assert r.lo <= float(x) <= r.hi
    assert r.hi - r.lo == pytest.approx(10.0 ** -r.decimals, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("p, text", [
    (0.00008798, "0.000088"), (0.655, "0.66"), (1.0, "1.0"), (0.0999999, "0.10"), (0.0000011, "0.0000011"),
    (3.6e-7, "3.6 × 10⁻⁷"), (2.6e-19, "2.6 × 10⁻¹⁹"), (0.0, "0"),
])
def test_p_formatting(p, text):
    assert fmt_p(p) == text


def test_p_range_formatting_is_consistent_within_a_range():
    assert fmt_p_range(0.0019, 0.0021) == "p between 0.0019 and 0.0021"
    assert fmt_p_range(0.0362, 0.0364) == "p = 0.036"
    assert fmt_p_range(3.6e-7, 4.1e-6) == "p between 3.6 × 10⁻⁷ and 4.1 × 10⁻⁶"


def test_decision_error_follows_statcheck_convention():
    p = lambda text: Reported.parse(text, domain=P_DOMAIN)  # noqa: E731
    assert decision_error(p("0.06"), [[0.035, 0.037]])
    assert decision_error(p("< .05"), [[0.31, 0.32]])
    assert decision_error(p("> .05"), [[0.01, 0.02]])
    assert not decision_error(p("0.05"), [[0.035, 0.037]])  # p = .05 counts as significant
    assert not decision_error(p("< .10"), [[0.31, 0.32]])  # says neither
    assert not decision_error(p("0.06"), [[0.01, 0.02], [0.06, 0.07]])  # not every method flips
    assert not decision_error(p("0.06"), [[0.04, 0.06]])  # the range straddles 0.05


def test_one_sided_cue_words():
    assert mentions_one_sided("log-rank test with one-sided alpha of 0.10")
    assert mentions_one_sided("a one tailed test") and mentions_one_sided("directional hypothesis")
    assert not mentions_one_sided("two-sided log-rank test") and not mentions_one_sided("")

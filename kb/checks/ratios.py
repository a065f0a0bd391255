"""p-values recomputed from an estimate and its confidence interval (Altman & Bland, BMJ 2011;343:d2090).

For a ratio (hazard, odds, risk) the work is done on the log scale, for a difference on the natural scale:
SE = (f(U) − f(L)) / (2·z), with z the normal quantile of the CI level (1.96 for 95%), and the test statistic is
Z = f(estimate) / SE. Z is monotone in the estimate and, for a given sign, in each limit, so its range over the
rounding intervals is reached at their corners. This is the Wald test behind the CI; a log-rank or score test can
give a slightly different p.

When none fits exactly, a two-sided p whose z lies within 10% (at least 0.1) of the CI's is reproduced approximately
(the authors' own test need not be the Wald test behind the CI); only a p beyond that is inconsistent.

Three readings of the reported p are computed: two-sided, and one-sided against each direction (ratio below 1,
ratio above 1). A one-sided p is recognised whenever only a one-sided reading fits (registry analyses often report
one: "one-sided alpha of 0.10"); the sentence says whether the source (`context`) states it. The decision error is
judged on the two-sided reading, or, when the source states a one-sided test, not at all (the direction of its
alternative is not known here).
"""

from __future__ import annotations

import math

from scipy import stats

from kb.numbers import P_DOMAIN, Reported

from .pvalues import abs_range, fmt_p_range, lower_tail, mentions_one_sided, two_sided, upper_tail
from .verdict import Verdict, fits, missing, not_checkable, p_verdict

TWO_SIDED = "z from the CI, two-sided"
# The authors' test (likelihood-ratio, score, log-rank, exact) and a CI's Wald z need not agree exactly: a two-sided p
# whose z is within 10% (at least 0.1) of the CI's is reproduced approximately, never called an error.
APPROXIMATE = "z from the CI, two-sided, within 10% (the authors' test may differ from the CI's Wald z)"
APPROXIMATE_Z, APPROXIMATE_SHARE = 0.1, 0.1


def p_from_ratio_ci(estimate, lower, upper, p, *, level="95", measure: str = "ratio", context: str = "") -> Verdict:
    """Reported p of a ratio (hazard, odds, risk) with its CI, on the log scale; `level` is the CI level in %."""
    return _p_from_ci("p_from_ratio_ci", estimate, lower, upper, p, level, measure, context, log=True)


def p_from_difference_ci(estimate, lower, upper, p, *, level="95", measure: str = "difference",
                         context: str = "") -> Verdict:
    """Reported p of a difference (of means, of percentages) with its CI, on the natural scale."""
    return _p_from_ci("p_from_difference_ci", estimate, lower, upper, p, level, measure, context, log=False)


def _p_from_ci(kind: str, estimate, lower, upper, p, level, measure: str, context: str, *, log: bool) -> Verdict:
    """The shared check: SE from the CI, Z from the estimate, two-sided and both one-sided p ranges."""
    est, lo, hi = Reported.parse(estimate), Reported.parse(lower), Reported.parse(upper)
    pr, lev = Reported.parse(p, domain=P_DOMAIN), Reported.parse(level)
    stated = mentions_one_sided(context)
    inputs = {"estimate": est.text, "ci_lower": lo.text, "ci_upper": hi.text, "ci_level": lev.text,
              "one_sided_stated": stated}
    null = 1 if log else 0
    shown = f"the {measure} {est.number} ({lev.number}% CI {lo.number} to {hi.number})"
    if gaps := missing({"the estimate": est, "the lower limit": lo, "the upper limit": hi, "the CI level": lev}):
        return not_checkable(kind, inputs, pr.text, f"Reported {_p_text(pr)} cannot be checked: {gaps}, so "
                                                    f"the {measure} and its CI give no SE.")
    if log and min(est.lo, lo.lo) <= 0:
        return not_checkable(kind, inputs, pr.text, f"Reported {_p_text(pr)} cannot be checked: {shown} is not "
                                                    "positive, so it has no logarithm.")
    z = _z_range(est, lo, hi, lev.value / 100 if lev.value > 1 else lev.value, log)
    if z is None:
        return not_checkable(kind, inputs, pr.text, f"Reported {_p_text(pr)} cannot be checked: {shown} has no "
                                                    "width, so it gives no SE.")
    below, above = f"z from the CI, one-sided ({measure} < {null})", f"z from the CI, one-sided ({measure} > {null})"
    candidates = {TWO_SIDED: two_sided(stats.norm, *z), below: lower_tail(stats.norm, *z),
                  above: upper_tail(stats.norm, *z)}
    if not pr.known:
        return not_checkable(kind, inputs, pr.text, f"No p is reported; {shown} implies two-sided "
                                                    f"{fmt_p_range(*candidates[TWO_SIDED])}.", candidates)
    fit = fits(pr, candidates)
    if not fit:  # not reproduced exactly: within what separates the authors' own test from the CI's Wald z?
        small, large = abs_range(*z)
        slack = max(APPROXIMATE_Z, APPROXIMATE_SHARE * large)
        candidates[APPROXIMATE] = two_sided(stats.norm, max(0.0, small - slack), large + slack)
        fit = fits(pr, {APPROXIMATE: candidates[APPROXIMATE]})
    detail = _sentence(pr, shown, candidates, fit, stated, below if est.value < null else above)
    return p_verdict(kind, inputs, pr, candidates, fit, detail, judged=[] if stated else [TWO_SIDED])


def _z_range(est: Reported, lo: Reported, hi: Reported, level: float, log: bool) -> tuple[float, float] | None:
    """Range of Z = f(estimate) / SE over the corners of the three rounding intervals (None if no corner has a
    positive CI width)."""
    f = math.log if log else float
    crit = float(stats.norm.isf((1 - level) / 2))
    values = [f(e) * 2 * crit / (f(u) - f(low)) for e in (est.lo, est.hi) for low in (lo.lo, lo.hi)
              for u in (hi.lo, hi.hi) if u > low]
    return (min(values), max(values)) if values else None


def _p_text(pr: Reported) -> str:
    return pr.phrase("p") if pr.known else "p"


def _sentence(pr: Reported, shown: str, candidates: dict, fit: list[str], stated: bool, toward: str) -> str:
    """One sentence: reproduced two-sided, recognised as one-sided (stated or not), or not reproduced; `toward` is
    the one-sided reading in the direction of the estimate."""
    two = fmt_p_range(*candidates[TWO_SIDED])
    if TWO_SIDED in fit:
        return f"Reported {pr.phrase('p')} is reproduced: {shown} implies two-sided {two}."
    if APPROXIMATE in fit:
        return (f"Reported {pr.phrase('p')} is reproduced approximately: {shown} implies two-sided {two} by its "
                "Wald z; the authors' own test, within 10% of that z, gives it.")
    if fit:
        side = fit[0]
        alternative = side[side.index("(") + 1:-1]
        one = fmt_p_range(*candidates[side])
        how = ("is one-sided, as the source states" if stated
               else "matches only a one-sided test, which the source does not mention")
        return (f"Reported {pr.phrase('p')} {how}: {shown} implies one-sided {one} against the alternative "
                f"{alternative} (two-sided {two}).")
    return (f"Reported {pr.phrase('p')} is not reproduced: {shown} implies two-sided {two} "
            f"(one-sided {fmt_p_range(*candidates[toward])}).")

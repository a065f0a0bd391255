"""p-value ranges from ranges of a test statistic, decision errors, and how p-values are written in sentences.

A test statistic known only as an interval [lo, hi] gives a p-value interval: every p used here is monotone in the
statistic (or in its absolute value), so the ends of the statistic's interval give the ends of p's. `dist` is a
frozen scipy.stats distribution (e.g. `stats.t(df)`, `stats.norm()`), which computes every tail probability.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from kb.numbers import Reported

ALPHA = 0.05
PLAIN_LIMIT = 1e-6  # p-values below this are written in scientific notation
_ONE_SIDED = re.compile(r"one.?sided|one.?tailed|directional", re.IGNORECASE)  # statcheck's own cue words
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def abs_range(lo: float, hi: float) -> tuple[float, float]:
    """The range of |x| for x in [lo, hi]."""
    if lo <= 0 <= hi:
        return 0.0, max(-lo, hi)
    return min(abs(lo), abs(hi)), max(abs(lo), abs(hi))


def two_sided(dist, lo: float, hi: float) -> list[float]:
    """Two-sided p range, 2·P(X > |x|), for a symmetric statistic x in [lo, hi]."""
    small, large = abs_range(lo, hi)
    return [min(1.0, 2 * float(dist.sf(large))), min(1.0, 2 * float(dist.sf(small)))]


def lower_tail(dist, lo: float, hi: float) -> list[float]:
    """p range of a test whose alternative is 'below the null', P(X ≤ x)."""
    return [float(dist.cdf(lo)), float(dist.cdf(hi))]


def upper_tail(dist, lo: float, hi: float) -> list[float]:
    """p range of a test whose alternative is 'above the null', P(X ≥ x) (also F and chi-square tests)."""
    return [float(dist.sf(hi)), float(dist.sf(lo))]


def mentions_one_sided(text: str) -> bool:
    """True when `text` says a test was one-sided ("one-sided", "one-tailed", "directional"), as statcheck reads it."""
    return bool(_ONE_SIDED.search(text or ""))


def decision_error(p: Reported, ranges: Iterable[list[float]], alpha: float = ALPHA) -> bool:
    """True when the reported p and every recomputed range lie on opposite sides of `alpha`.

    As statcheck does, p ≤ alpha counts as significant; "p < 0.05" says significant, "p > 0.05" (or "ns") says not
    significant; a bound that says neither ("p < 0.10") and a range straddling alpha flag nothing.
    """
    said = _reported_side(p, alpha)
    sides = {_range_side(lo, hi, alpha) for lo, hi in ranges}
    return said is not None and sides == {not said}


def _reported_side(p: Reported, alpha: float) -> bool | None:
    if p.relation == "=":
        return p.value <= alpha
    if p.relation in ("<", "<="):
        return True if p.value <= alpha else None
    return False if p.value >= alpha else None


def _range_side(lo: float, hi: float, alpha: float) -> bool | None:
    if hi <= alpha:
        return True
    return False if lo > alpha else None


def fmt_p(p: float, *, scientific: bool | None = None) -> str:
    """A p-value to 2 significant digits: plain down to 0.000001 ("0.0000011"), below that (or when `scientific`)
    as "1.1 × 10⁻⁷"."""
    if p == 0:
        return "0"
    p = float(f"{p:.2g}")
    if not (p < PLAIN_LIMIT if scientific is None else scientific):
        return f"{p:.{max(1, 1 - math.floor(math.log10(p)))}f}"
    mantissa, exponent = f"{p:.1e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def fmt_p_range(lo: float, hi: float) -> str:
    """ "p between 0.0019 and 0.0021", or "p = 0.0020" when both ends read the same; both ends are written in
    scientific notation when either needs it."""
    scientific = any(0 < x < PLAIN_LIMIT for x in (lo, hi))
    a, b = fmt_p(lo, scientific=scientific), fmt_p(hi, scientific=scientific)
    return f"p = {a}" if a == b else f"p between {a} and {b}"

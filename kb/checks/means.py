"""p-values recomputed from means with SDs or SEs and sample sizes: one-sample, paired and two-group t-tests.

Bounding over the rounding intervals: t = difference / SE is monotone in each mean and, for a given sign of the
difference, in each SD, so its range is reached at the corners of the intervals, and p is monotone in |t|
(`pvalues`). Welch's degrees of freedom are not monotone in the SDs, so the Welch range is refined with
scipy.optimize inside the box of SDs. A paired test known only from the two means and SDs allows every
correlation ρ from −1 to 1; the SD of the differences, sqrt(s1² + s2² − 2ρ·s1·s2), is monotone in ρ, so
ρ = ±1 bound it.

A dispersion written "±" without saying SD or SE (`dispersion_type="pm"`) is read both ways; "sd" and "se" read it
one way. An SE is turned into an SD by multiplying it by √n. A two-sided test is assumed; `one_sided=True` (the
source says so) adds the one-sided p in the direction of the effect. The smallest two-sided p that an exact rank
test can reach with the same n (Wilcoxon signed-rank, Mann–Whitney rank-sum) is recorded, and mentioned when the
reported p lies below it, since such a p cannot come from that test.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np
from scipy import optimize, stats

from kb.numbers import P_DOMAIN, Reported

from .pvalues import abs_range, fmt_p, fmt_p_range, two_sided
from .verdict import Verdict, fits, missing, not_checkable, p_verdict

READINGS = {"sd": ("SD",), "se": ("SE",), "pm": ("SD", "SE")}
RANK_FLOOR_MAX_N = 50  # beyond 50 observations an exact rank test's smallest p is below 10⁻¹⁴: not worth stating


def p_one_sample(mean, dispersion, n, p, *, dispersion_type: str = "sd", null: float = 0.0,
                 one_sided: bool = False) -> Verdict:
    """Reported p of a mean ± SD/SE of n values tested against `null` (one-sample t-test).

    When no reading fits an exactly reported p, the null value that would give it (first reading, SD for "±") is
    recorded and named in the sentence as a clue; it never makes the verdict consistent. It comes straight from the
    inverse t distribution, null = mean − t(p)·SE, bounded over the rounding intervals like t itself.
    """
    kind = "p_from_mean_sd"
    m, d, size, pr = Reported.parse(mean), Reported.parse(dispersion), Reported.parse(n, exact=True), _p(p)
    inputs = {"mean": m.text, "dispersion": d.text, "dispersion_type": dispersion_type, "n": size.text,
              "null": null}
    if problem := _unusable({"the mean": m, "the SD or SE": d, "n": size, "p": pr}, size):
        return not_checkable(kind, inputs, pr.text, f"Cannot recompute p: {problem}.")
    count = int(size.value)
    dist = stats.t(count - 1)
    candidates, labels = {}, {}
    for reading in READINGS[dispersion_type]:
        se = [s / math.sqrt(count) for s in _sd_range(d, count, reading)]
        t = _t_range((m.lo - null, m.hi - null), se)
        _add(candidates, labels, _key("one-sample t-test", reading, dispersion_type), two_sided(dist, *t), one_sided)
    fit = fits(pr, candidates)
    extra, clues = _rank_clue(pr, signed_rank_floor(count), "a Wilcoxon signed-rank test", f"n = {count}")
    if not fit and pr.relation == "=" and pr.lo > 0:
        reading = READINGS[dispersion_type][0]
        point, lo, hi = _null_values(m, d, count, pr, reading, null)
        extra[f"null value giving the reported p ({reading})"] = [lo, hi]
        which = f" (± as {reading})" if dispersion_type == "pm" else ""
        clues.insert(0, f"a null value of {_fmt_like(m, point, point)} ({_fmt_like(m, lo, hi)} given the rounding)"
                        f" instead of {null:g} would give it{which}")
    subject = f"a one-sample t-test of {_mean_text(m, d, dispersion_type, count)} against {null:g}"
    return p_verdict(kind, inputs, pr, candidates, fit, _sentence(pr, subject, candidates, labels, fit, clues),
                     extra)


def p_paired(mean_before, dispersion_before, mean_after, dispersion_after, n, p, *, dispersion_type: str = "sd",
             one_sided: bool = False) -> Verdict:
    """Reported p of a before/after comparison of n patients known only by the two means and SDs/SEs: a paired
    t-test bounded over every correlation between the two measurements (−1 to 1)."""
    kind = "p_from_paired_means"
    m1, d1, m2, d2 = (Reported.parse(x) for x in (mean_before, dispersion_before, mean_after, dispersion_after))
    size, pr = Reported.parse(n, exact=True), _p(p)
    inputs = {"mean_before": m1.text, "dispersion_before": d1.text, "mean_after": m2.text,
              "dispersion_after": d2.text, "dispersion_type": dispersion_type, "n": size.text}
    if problem := _unusable({"the first mean": m1, "the first SD or SE": d1, "the second mean": m2,
                             "the second SD or SE": d2, "n": size, "p": pr}, size):
        return not_checkable(kind, inputs, pr.text, f"Cannot recompute p: {problem}.")
    count = int(size.value)
    dist = stats.t(count - 1)
    candidates, labels = {}, {}
    for reading in READINGS[dispersion_type]:
        (a_lo, a_hi), (b_lo, b_hi) = _sd_range(d1, count, reading), _sd_range(d2, count, reading)
        sd_diff = (max(0.0, a_lo - b_hi, b_lo - a_hi), a_hi + b_hi)  # correlation +1 and −1
        se = [s / math.sqrt(count) for s in sd_diff]
        t = _t_range((m1.lo - m2.hi, m1.hi - m2.lo), se)
        _add(candidates, labels, _key("paired t-test, any correlation", reading, dispersion_type),
             two_sided(dist, *t), one_sided)
    fit = fits(pr, candidates)
    extra, clues = _rank_clue(pr, signed_rank_floor(count), "a Wilcoxon signed-rank test", f"n = {count}")
    subject = (f"a paired t-test of {_mean_text(m1, d1, dispersion_type)} against "
               f"{_mean_text(m2, d2, dispersion_type)}, n = {count}, allowing any correlation between the two,")
    return p_verdict(kind, inputs, pr, candidates, fit, _sentence(pr, subject, candidates, labels, fit, clues),
                     extra)


def p_two_groups(mean1, dispersion1, n1, mean2, dispersion2, n2, p, *, dispersion_type: str = "sd",
                 one_sided: bool = False) -> Verdict:
    """Reported p of a comparison of two independent groups: Student's and Welch's unpaired t-tests."""
    kind = "p_from_two_means"
    m1, d1, m2, d2 = (Reported.parse(x) for x in (mean1, dispersion1, mean2, dispersion2))
    s1, s2, pr = Reported.parse(n1, exact=True), Reported.parse(n2, exact=True), _p(p)
    inputs = {"mean1": m1.text, "dispersion1": d1.text, "n1": s1.text, "mean2": m2.text,
              "dispersion2": d2.text, "n2": s2.text, "dispersion_type": dispersion_type}
    if gaps := missing({"the first mean": m1, "the first SD or SE": d1, "the first n": s1, "the second mean": m2,
                        "the second SD or SE": d2, "the second n": s2, "p": pr}):
        return not_checkable(kind, inputs, pr.text, f"Cannot recompute p: {gaps}.")
    k1, k2 = int(s1.value), int(s2.value)
    if min(k1, k2) < 2:
        return not_checkable(kind, inputs, pr.text, f"Cannot recompute p: each group needs n ≥ 2 ({k1}, {k2}).")
    diff = (m1.lo - m2.hi, m1.hi - m2.lo)
    candidates, labels = {}, {}
    for reading in READINGS[dispersion_type]:
        box = [_sd_range(d1, k1, reading), _sd_range(d2, k2, reading)]
        student = [stats.ttest_ind_from_stats(dd, a, k1, 0.0, b, k2, equal_var=True).statistic
                   for dd in diff for a in box[0] for b in box[1]]
        _add(candidates, labels, _key("Student t-test", reading, dispersion_type, several=True),
             two_sided(stats.t(k1 + k2 - 2), min(student), max(student)), one_sided)
        _add(candidates, labels, _key("Welch t-test", reading, dispersion_type, several=True),
             _welch_range(diff, box, k1, k2), one_sided)
    fit = fits(pr, candidates)
    extra, clues = _rank_clue(pr, rank_sum_floor(k1, k2), "a Mann–Whitney rank-sum test", f"n = {k1} and {k2}")
    subject = (f"an unpaired t-test of {_mean_text(m1, d1, dispersion_type, k1)} against "
               f"{_mean_text(m2, d2, dispersion_type, k2)}")
    return p_verdict(kind, inputs, pr, candidates, fit, _sentence(pr, subject, candidates, labels, fit, clues),
                     extra)


@lru_cache(maxsize=None)
def signed_rank_floor(n: int) -> float | None:
    """Smallest two-sided p of an exact Wilcoxon signed-rank test on n differences (scipy's exact distribution on
    the most extreme data: all differences of one sign); None above RANK_FLOOR_MAX_N."""
    if n > RANK_FLOOR_MAX_N:
        return None
    return float(stats.wilcoxon(np.arange(1, n + 1), method="exact").pvalue)


@lru_cache(maxsize=None)
def rank_sum_floor(n1: int, n2: int) -> float | None:
    """Smallest two-sided p of an exact Mann–Whitney rank-sum test with groups of n1 and n2 (completely separated
    groups); None above RANK_FLOOR_MAX_N observations in all."""
    if n1 + n2 > RANK_FLOOR_MAX_N:
        return None
    return float(stats.mannwhitneyu(np.arange(n1) + n2, np.arange(n2), method="exact").pvalue)


def _unusable(named: dict[str, Reported], size: Reported) -> str:
    """Why a t-test cannot be recomputed from these inputs: a missing number, or n below 2; empty when it can."""
    if gaps := missing(named):
        return gaps
    return f"a t-test needs n ≥ 2 (n = {int(size.value)})" if size.value < 2 else ""


def _p(text) -> Reported:
    return Reported.parse(text, domain=P_DOMAIN)


def _to_sd(x: float, n: int, reading: str) -> float:
    """A dispersion as an SD under a reading: an SE times √n."""
    return x * math.sqrt(n) if reading == "SE" else x


def _sd_range(dispersion: Reported, n: int, reading: str) -> tuple[float, float]:
    """The SD interval under a reading of the dispersion; an SD rounded to 0 (e.g. "0.0") is kept just above 0,
    where t is huge and p as good as 0, so that every test stays defined."""
    hi = _to_sd(dispersion.hi, n, reading)
    return max(_to_sd(dispersion.lo, n, reading), hi * 1e-9), hi


def _t_range(diff: tuple[float, float], se: list[float]) -> tuple[float, float]:
    """Range of difference / SE over the corners of the two intervals; a paired test's SE reaches 0 when the two
    SDs may be equal and perfectly correlated, where t is infinite (or 0 for no difference)."""
    values = [d / s if s > 0 else math.copysign(math.inf, d) if d else 0.0 for d in diff for s in se]
    return min(values), max(values)


def _welch_range(diff: tuple[float, float], box: list[tuple[float, float]], n1: int, n2: int) -> list[float]:
    """Two-sided Welch p range: p falls as |difference| grows, so the ends of |difference| give its ends; over the
    SDs it is searched at the corners, then with scipy.optimize.minimize (L-BFGS-B) inside the box."""
    small, large = abs_range(*diff)

    def p_at(d: float):
        return lambda sds: float(stats.ttest_ind_from_stats(d, sds[0], n1, 0.0, sds[1], n2, equal_var=False).pvalue)

    return [_extreme(p_at(large), box, 1.0), _extreme(p_at(small), box, -1.0)]


def _extreme(f, box: list[tuple[float, float]], sign: float) -> float:
    """The minimum (sign 1) or maximum (sign −1) of f over the box: best corner, then a bounded local search."""
    start = min(itertools.product(*box), key=lambda c: sign * f(c))
    found = optimize.minimize(lambda x: sign * f(x), np.array(start), method="L-BFGS-B", bounds=box)
    return sign * min(sign * f(start), float(found.fun))


def _key(test: str, reading: str, dispersion_type: str, *, several: bool = False) -> tuple[str, str]:
    """Method name for `recomputed` and its label in the sentence, e.g. ("Welch t-test (SE)", " (Welch, ± as SE)")."""
    parts = ([test.split()[0]] if several else []) + ([f"± as {reading}"] if dispersion_type == "pm" else [])
    return f"{test} ({reading})", f" ({', '.join(parts)})" if parts else ""


def _add(candidates: dict, labels: dict, key_label: tuple[str, str], two: list[float], one_sided: bool) -> None:
    """Record a two-sided p range and, if asked, the one-sided range in the direction of the effect (half of it:
    every t distribution is symmetric)."""
    key, label = key_label
    candidates[key], labels[key] = two, label
    if one_sided:
        labels[key] = f"{label[:-1]}, two-sided)" if label else " (two-sided)"
        candidates[key + ", one-sided"] = [x / 2 for x in two]
        labels[key + ", one-sided"] = f"{label[:-1]}, one-sided)" if label else " (one-sided)"


def _rank_clue(pr: Reported, floor: float | None, test: str, sizes: str) -> tuple[dict, list[str]]:
    """The rank test's smallest p as an extra range, and a clue when the reported p lies below it."""
    if floor is None:
        return {}, []
    extra = {f"{test.removeprefix('a ')}, smallest possible p": [floor, 1.0]}
    below = pr.hi < floor or (pr.hi == floor and pr.hi_open)
    return extra, ([f"{test} cannot give p below {fmt_p(floor)} with {sizes}"] if below else [])


def _null_values(m: Reported, d: Reported, n: int, pr: Reported, reading: str,
                 null: float) -> tuple[float, float, float]:
    """The null value giving the reported p, mean − sign·t(p/2, n−1)·SD/√n, at the reported numbers, and its
    range over the corners of the mean, SD/SE and p intervals (it is monotone in each)."""
    dist, sign = stats.t(n - 1), (1.0 if m.value >= null else -1.0)

    def value(mean: float, sd: float, p: float) -> float:
        return mean - sign * float(dist.isf(p / 2)) * sd / math.sqrt(n)

    corners = [value(mean, sd, p)
               for mean in (m.lo, m.hi) for sd in _sd_range(d, n, reading) for p in (pr.lo, pr.hi)]
    return value(m.value, _to_sd(d.value, n, reading), pr.value), min(corners), max(corners)


def _mean_text(m: Reported, d: Reported, dispersion_type: str, n: int | None = None) -> str:
    """ "59.6% ± 8.3% (n = 5)" for "±", "25.9 (SD 3.2, n = 104)" when the type is known; n is optional."""
    size = f"n = {n}" if n is not None else ""
    if dispersion_type == "pm":
        return f"{m.number} ± {d.number}" + (f" ({size})" if size else "")
    return f"{m.number} ({dispersion_type.upper()} {d.number}" + (f", {size})" if size else ")")


def _fmt_like(m: Reported, lo: float, hi: float) -> str:
    """A computed range with the decimals and unit of the reported mean: "15.7% to 16.3%"."""
    unit = "%" if m.percent else ""
    a, b = f"{lo:.{m.decimals}f}{unit}", f"{hi:.{m.decimals}f}{unit}"
    return a if a == b else f"{a} to {b}"


def _sentence(pr: Reported, subject: str, candidates: dict, labels: dict, fit: list[str], clues: list[str]) -> str:
    """ "Reported p = … is [not] reproduced[ (which way)]: <subject> gives <ranges>[; clues]." """
    ranges = ", or ".join(f"{fmt_p_range(*r)}{labels[k]}" for k, r in candidates.items())
    ranges = ranges.replace(", or p between", ", or between")
    how = "" if len(fit) in (0, len(candidates)) else " " + " or ".join(labels[k].strip() for k in fit)
    verb = "is reproduced" if fit else "is not reproduced"
    tail = "".join(f"; {c}" for c in clues)
    return f"Reported {pr.phrase('p')} {verb}{how}: {subject} gives {ranges}{tail}."

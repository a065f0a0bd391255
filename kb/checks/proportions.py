"""p-values of a comparison of two independent proportions, k1 of n1 against k2 of n2: a 2×2 table.

Four tests could have given the reported p, and each is a candidate: Pearson's chi-square test without continuity
correction, the chi-square test with Yates' continuity correction (the default of R's `chisq.test` and `prop.test`
for a 2×2 table), and Fisher's exact test, two-sided both as R and scipy compute it (the probabilities no larger
than the observed table's) and as SAS and others do (the smaller one-sided p, doubled); scipy.stats computes them
(`chi2_contingency`, `fisher_exact`). When an expected count is below 5 the chi-square tests are unreliable: the
sentence says so, and all four are still computed. A p within 0.05 in z of a candidate's is reproduced (another
program's variant of a test, or a p printed from a rounded statistic). Counts are exact. When only percentages and
the group sizes are given, every whole count each percentage allows (rounding either way, as in `counts`) is tried,
and each test's p is bounded by its smallest and largest p over all the tables these counts make.
"""

from __future__ import annotations

import math

from scipy import stats

from kb.numbers import P_DOMAIN, Reported

from .counts import _not_granular, _numerators, truncated_numerators
from .pvalues import fmt_p_range
from .verdict import Verdict, fits, missing, not_checkable, p_verdict

KIND = "p_from_two_proportions"
METHODS = {  # method in `recomputed` → its short name in a sentence
    "chi-square": "chi-square",
    "chi-square with Yates' correction": "Yates",
    "Fisher's exact test": "Fisher",
    "Fisher's exact test, one-sided p doubled": "Fisher doubling one tail",
}
NEAR_Z = 0.05  # a p within this much z of a candidate's is reproduced (e.g. 0.25 printed for Fisher's 0.2446)
MIN_EXPECTED = 5  # below this expected count the chi-square approximation is unreliable
MAX_TABLES = 2500  # percentages allowing more tables than this are not bounded (each table takes about 2 ms)


def p_two_proportions(k1, n1, k2, n2, p) -> Verdict:
    """Reported p of k1 of n1 against k2 of n2 (two independent groups): chi-square with and without Yates'
    correction and Fisher's exact test."""
    c1, s1, c2, s2 = (Reported.parse(x, exact=True) for x in (k1, n1, k2, n2))
    pr = Reported.parse(p, domain=P_DOMAIN)
    inputs = {"k1": c1.text, "n1": s1.text, "k2": c2.text, "n2": s2.text}
    if problem := (missing({"k1": c1, "n1": s1, "k2": c2, "n2": s2, "p": pr})
                   or _bad_group(c1, s1, "1") or _bad_group(c2, s2, "2")):
        return not_checkable(KIND, inputs, pr.text, f"Cannot recompute p: {problem}.")
    a, m, b, n = (int(x.value) for x in (c1, s1, c2, s2))
    if problem := _zero_margin(a, m, b, n):
        return not_checkable(KIND, inputs, pr.text, f"Cannot recompute p: {problem}.")
    subject = f"comparing {a} of {m} ({_pct(a, m)}) with {b} of {n} ({_pct(b, n)})"
    return _judge(inputs, pr, [a], m, [b], n, subject)


def p_two_proportions_from_percents(pct1, n1, pct2, n2, p) -> Verdict:
    """Reported p of pct1% of n1 against pct2% of n2: the three tests of `p_two_proportions`, each bounded over
    every pair of whole counts the two rounded percentages allow."""
    r1, s1, r2, s2 = Reported.parse(pct1), Reported.parse(n1, exact=True), Reported.parse(pct2), \
        Reported.parse(n2, exact=True)
    pr = Reported.parse(p, domain=P_DOMAIN)
    inputs = {"percent1": r1.text, "n1": s1.text, "percent2": r2.text, "n2": s2.text}
    if problem := (missing({"the first percentage": r1, "n1": s1, "the second percentage": r2, "n2": s2, "p": pr})
                   or _not_granular(r1, s1) or _not_granular(r2, s2)):
        return not_checkable(KIND, inputs, pr.text, f"Cannot recompute p: {problem}.")
    m, n = int(s1.value), int(s2.value)
    firsts, seconds = _counts(r1, m), _counts(r2, n)
    if problem := "; ".join(_no_count(r, size) for r, size, ks in ((r1, m, firsts), (r2, n, seconds)) if not ks):
        return not_checkable(KIND, inputs, pr.text, f"Cannot recompute p: {problem}.")
    if len(firsts) * len(seconds) > MAX_TABLES:
        return not_checkable(KIND, inputs, pr.text, f"Cannot recompute p: the percentages allow "
                             f"{len(firsts)} × {len(seconds)} tables, more than the {MAX_TABLES} bounded here.")
    if all(_zero_margin(a, m, b, n) for a in firsts for b in seconds):
        problem = _zero_margin(firsts[0], m, seconds[0], n)
        return not_checkable(KIND, inputs, pr.text, f"Cannot recompute p: {problem}.")
    subject = (f"comparing {_written(r1)} of {m} ({_which(firsts, m)}) with {_written(r2)} of {n} "
               f"({_which(seconds, n)})")
    return _judge(inputs, pr, firsts, m, seconds, n, subject)


def _judge(inputs: dict, pr: Reported, firsts: list[int], n1: int, seconds: list[int], n2: int,
           subject: str) -> Verdict:
    """The three tests over every table k1 of n1 against k2 of n2 (k1 in `firsts`, k2 in `seconds`), the verdict
    and its sentence. Tables with a zero margin are left out (the caller ensures one remains)."""
    ranges = {method: [math.inf, -math.inf] for method in METHODS}
    smallest_expected, left_out = math.inf, 0
    for a in firsts:
        for b in seconds:
            if _zero_margin(a, n1, b, n2):
                left_out += 1
                continue
            table = [[a, n1 - a], [b, n2 - b]]
            pearson = stats.chi2_contingency(table, correction=False)
            tails = (stats.fisher_exact(table, alternative=side).pvalue for side in ("less", "greater"))
            found = (pearson.pvalue, stats.chi2_contingency(table, correction=True).pvalue,
                     stats.fisher_exact(table).pvalue, min(1.0, 2 * min(tails)))
            for lo_hi, value in zip(ranges.values(), found):
                lo_hi[0], lo_hi[1] = min(lo_hi[0], float(value)), max(lo_hi[1], float(value))
            smallest_expected = min(smallest_expected, float(pearson.expected_freq.min()))
    fit = fits(pr, ranges) or _near(pr, ranges)
    clues = []
    if smallest_expected < MIN_EXPECTED:
        clues.append(f"an expected count is below {MIN_EXPECTED} ({smallest_expected:.2g}), so the chi-square tests "
                     "are unreliable")
    if left_out:
        clues.append(f"{left_out} of the tables the percentages allow, with a zero margin, "
                     f"{'is' if left_out == 1 else 'are'} left out")
    listed = ", or ".join(f"{fmt_p_range(*r)} ({METHODS[k]})" for k, r in ranges.items())
    listed = listed.replace(", or p between", ", or between")
    how = "" if len(fit) in (0, len(METHODS)) else f" ({' or '.join(METHODS[k] for k in fit)})"
    verb = "is reproduced" if fit else "is not reproduced"
    tail = "".join(f"; {c}" for c in clues)
    detail = f"Reported {pr.phrase('p')} {verb}{how}: {subject} gives {listed}{tail}."
    return p_verdict(KIND, inputs, pr, ranges, fit, detail)


def _near(pr: Reported, ranges: dict[str, list[float]]) -> list[str]:
    """The methods whose p misses the reported one by at most NEAR_Z in z (two-sided normal scale): what another
    program's variant of the test, or a p printed from a rounded statistic, can differ by."""
    if not pr.known or pr.relation != "=":
        return []
    z = lambda p: float(stats.norm.isf(min(max(p, 1e-300), 1.0) / 2))  # noqa: E731
    reported = (z(pr.hi), z(pr.lo))
    return [method for method, (lo, hi) in ranges.items()
            if min(abs(a - b) for a in reported for b in (z(hi), z(lo))) <= NEAR_Z]


def _bad_group(count: Reported, size: Reported, which: str) -> str:
    """Why k of n is not a group's count ("" when it is): n must be a positive whole number, k a whole count ≤ n."""
    if size.value < 1 or size.value != int(size.value):
        return f"n{which} = {size.number} is not a positive whole number"
    if count.value < 0 or count.value != int(count.value):
        return f"k{which} = {count.number} is not a whole count"
    if count.value > size.value:
        return f"k{which} = {count.number} is more than n{which} = {size.number}"
    return ""


def _zero_margin(a: int, m: int, b: int, n: int) -> str:
    """Why the table a of m against b of n has a zero margin ("" when it has none)."""
    if a + b == 0:
        return f"neither group has an event ({a} of {m} and {b} of {n}), so a margin of the 2×2 table is zero"
    if a + b == m + n:
        return f"every member of both groups has the event ({a} of {m} and {b} of {n}), so a margin of the 2×2 " \
               "table is zero"
    return ""


def _counts(pct: Reported, n: int) -> list[int]:
    """The whole counts of n that round to the percentage."""
    return [k for k in _numerators(pct.exact_bounds(), n, 100) if 0 <= k <= n]


def _no_count(pct: Reported, n: int) -> str:
    """ "no whole count of 17 gives 23% (4 of 17 gives it only if truncated)"."""
    cut = [k for k in truncated_numerators(pct, n, 100) if 0 <= k <= n]
    clue = f" ({' or '.join(f'{k} of {n}' for k in cut)} gives it only if truncated)" if cut else ""
    return f"no whole count of {n} gives {_written(pct)}{clue}"


def _written(pct: Reported) -> str:
    return pct.number if pct.percent else f"{pct.number}%"


def _which(counts: list[int], n: int) -> str:
    """ "12 of 40", "12 or 13 of 40", "12 to 15 of 40"."""
    if len(counts) == 1:
        return f"{counts[0]} of {n}"
    joiner = " or " if len(counts) == 2 else " to "
    return f"{counts[0]}{joiner}{counts[-1]} of {n}"


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}%"

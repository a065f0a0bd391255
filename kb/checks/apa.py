"""p-values recomputed from APA-style test statistics, as statcheck does: t(df), F(df1, df2), r(df), χ²(df), z.

As in statcheck, the statistic is an interval given by its rounding (t = 2.20 stands for 2.195 to 2.205); t, z and
r are two-tailed (r through t = r·√(df / (1 − r²))), F and χ² upper-tailed; a relation on the statistic bounds
its size as written ("t(28) < 2.2" means |t| < 2.2); "ns" means p > .05; a one-tailed p (half the two-tailed one)
is accepted for t, z and r when the text says the test was one-sided ("one-sided", "one-tailed", "directional").
Unlike statcheck, "p = .000" is read as p < .0005 (a p printed to three decimals), not as an error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from scipy import stats

from kb.numbers import P_DOMAIN, Reported

from .pvalues import abs_range, fmt_p_range, mentions_one_sided, two_sided, upper_tail
from .verdict import Verdict, fits, not_checkable, p_verdict

_APA = re.compile(r"""
    (?<![A-Za-z])
    (?P<test>t|F|r|z|Z|[χΧ][2²]|chi[-\s]?(?:2|²|square[d]?)|X[2²])
    \s*(?:\(\s*(?P<df1>\d+(?:\.\d+)?)\s*(?:,\s*(?P<df2>\d+(?:\.\d+)?))?\s*(?:,\s*N\s*=\s*[\d,]+\s*)?\))?
    \s*(?P<stat>(?:<=|>=|[=<>≤≥])\s*[-−–]?\s*\d*\.?\d+)
    \s*[,;]\s*
    (?P<p>[pP]\s*(?:<=|>=|[=<>≤≥])\s*\d*\.?\d+(?:[eE]-?\d+)?|n\.?s\.?(?![a-z]))
""", re.VERBOSE)
_DFS = {"t": 1, "r": 1, "chi2": 1, "F": 2, "z": 0}


@dataclass(frozen=True)
class ApaStatistic:
    """One reported test: `test` is t, F, r, chi2 or z; `statistic` the relation and value as written
    ("= 2.20"); `p` the p-value as written ("p = .036", or "ns"); `span` its place in the text."""

    raw: str
    test: str
    df1: float | None
    df2: float | None
    statistic: str
    p: str
    span: tuple[int, int]

    @property
    def shown(self) -> str:
        """ "t(28) = 2.20", "F(2, 28) = 3.21", "z = 1.96"."""
        dfs = ", ".join(f"{d:g}" for d in (self.df1, self.df2) if d is not None)
        name = {"chi2": "χ²"}.get(self.test, self.test)
        return f"{name}({dfs}) {self.statistic}" if dfs else f"{name} {self.statistic}"


def find_apa(text: str) -> list[ApaStatistic]:
    """Every APA-style result in `text` whose test has the degrees of freedom it needs. "r(2)" is not a correlation
    with 2 degrees of freedom but r² whose superscript was flattened (as PubMed writes it), and is left out."""
    found = []
    for m in _APA.finditer(text):
        test = _test_name(m["test"])
        dfs = [float(d) for d in (m["df1"], m["df2"]) if d is not None]
        if len(dfs) != _DFS[test] or (test == "r" and re.match(r"r\(2\)", m.group())):
            continue
        statistic = re.sub(r"\s+", " ", re.sub(r"^(<=|>=|[=<>≤≥])\s*", r"\1 ", m["stat"]))
        df1, df2 = (dfs + [None, None])[:2] if test in ("F", "chi2") else (None, (dfs or [None])[0])
        found.append(ApaStatistic(m.group(), test, df1, df2, statistic, m["p"], m.span()))
    return found


def check_apa_text(text: str) -> list[Verdict]:
    """Check every APA-style result in `text`; one-tailed p-values count when the text says a test was one-sided."""
    one_tailed = mentions_one_sided(text)
    return [check_apa(s, one_tailed=one_tailed) for s in find_apa(text)]


def check_apa(stat: ApaStatistic, *, one_tailed: bool = False) -> Verdict:
    """Recompute the p-value range of one APA result and compare it with the reported p."""
    kind = "p_from_apa_statistic"
    ns = stat.p.lower().startswith("n")
    pr = Reported.parse("> .05" if ns else stat.p, domain=P_DOMAIN)
    inputs = {"test": stat.test, "df1": stat.df1, "df2": stat.df2, "statistic": stat.statistic,
              "one_tailed_stated": one_tailed}
    size = _size_range(stat)
    if size is None:
        return not_checkable(kind, inputs, stat.p, f"Cannot recompute p: {stat.shown} is not a valid {stat.test} "
                                                   "statistic.")
    candidates = _candidates(stat, size, one_tailed)
    fit = fits(pr, candidates)
    ranges = ", or ".join(f"{k + ' ' if k.endswith('tailed') else ''}{fmt_p_range(*r)}"
                          for k, r in candidates.items())
    written = "ns (p > .05)" if ns else pr.phrase("p")
    detail = f"Reported {written} is {'' if fit else 'not '}reproduced: {stat.shown} gives {ranges}."
    return p_verdict(kind, inputs, pr, candidates, fit, detail)


def _test_name(raw: str) -> str:
    return {"t": "t", "F": "F", "r": "r", "z": "z", "Z": "z"}.get(raw, "chi2")


def _size_range(stat: ApaStatistic) -> tuple[float, float] | None:
    """The range of the statistic's size (|t|, |z|, |r|, F, χ²) that the reported value and relation allow."""
    value = Reported.parse(stat.statistic)
    impossible = (stat.test in ("F", "chi2") and value.value < 0) or (stat.test == "r" and abs(value.value) > 1)
    if not value.known or impossible:
        return None
    if value.relation in ("<", "<="):
        return 0.0, abs(value.value)
    if value.relation in (">", ">="):
        return abs(value.value), math.inf
    small, large = abs_range(value.lo, value.hi)
    return small, (min(large, 1.0) if stat.test == "r" else large)


def _candidates(stat: ApaStatistic, size: tuple[float, float], one_tailed: bool) -> dict[str, list[float]]:
    """p ranges: upper tail for F and χ²; two-tailed (and one-tailed when stated) for t, z and r."""
    if stat.test == "F":
        return {"F test": upper_tail(stats.f(stat.df1, stat.df2), *size)}
    if stat.test == "chi2":
        return {"chi-square test": upper_tail(stats.chi2(stat.df1), *size)}
    if stat.test == "r":
        size = tuple(_r_to_t(r, stat.df2) for r in size)
    dist = stats.norm() if stat.test == "z" else stats.t(stat.df2)
    two = two_sided(dist, *size)
    return {"two-tailed": two, **({"one-tailed": [x / 2 for x in two]} if one_tailed else {})}


def _r_to_t(r: float, df: float) -> float:
    """t = r·√(df / (1 − r²)), the test of a Pearson correlation with df = n − 2."""
    return math.inf if r >= 1 else r * math.sqrt(df / (1 - r * r))

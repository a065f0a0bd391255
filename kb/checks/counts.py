"""Granularity checks: percentages against whole counts, GRIM for means of whole numbers, parts against totals.

Rounding rule: a reported percentage or mean stands for every value that rounds to it at its reported decimals,
ties going either way (round half up, half down or half to even): the closed interval [x − h, x + h], h being
half a unit in the last place. This is the "up or down" rule of the GRIM test (Brown & Heathers, Soc Psychol
Personal Sci 2017;8:363) and of the scrutiny R package. Arithmetic is exact (fractions), so boundary cases are
decided exactly.

Truncation is not assumed, but it is recognised: a value that no whole count gives when rounded, but one gives when
truncated (cut to its reported decimals towards zero: 4 of 17 = 23.53% written "23%"), is `consistent_if_truncated`,
never `inconsistent`. Truncating x to d decimals writes r with r ≤ x < r + 10^-d (for x ≥ 0; mirrored below 0).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from kb.numbers import Reported

from .verdict import CONSISTENT_IF_TRUNCATED, Verdict, make_verdict, missing, not_checkable

SHOWN = 3  # at most this many fitting counts or denominators are named in a sentence


def percent_of_count(percent, n, k=None) -> Verdict:
    """A percentage of n (and of k out of n when k is given): consistent only if a whole count k of n rounds to
    it; consistent_if_truncated when none does but one (the stated k, if given) truncates to it; otherwise the
    denominators near n that would fit are named."""
    kind = "percent_of_count"
    pct, size = Reported.parse(percent), Reported.parse(n, exact=True)
    count = None if k is None else Reported.parse(k, exact=True)
    inputs = {"percent": pct.text, "n": size.text, "k": None if count is None else count.text}
    named = {"the percentage": pct, "n": size, **({} if count is None else {"k": count})}
    if problem := missing(named) or _not_granular(pct, size):
        return not_checkable(kind, inputs, pct.text, f"Cannot check {pct.text} against its count: {problem}.")
    total, bounds = int(size.value), pct.exact_bounds()
    written = pct.number if pct.percent else f"{pct.number}%"
    possible = [x for x in _numerators(bounds, total, 100) if 0 <= x <= total]
    wanted = possible if count is None else [x for x in possible if x == count.value]
    if not wanted and (truncated := [x for x in truncated_numerators(pct, total, 100)
                                     if 0 <= x <= total and (count is None or x == count.value)]):
        return _truncated_percent(inputs, pct, total, truncated, possible)
    shown = wanted or sorted({*_neighbours(pct, total, 100), *([] if count is None else [int(count.value)])})
    recomputed = {f"{x} of {total}": [100 * x / total] * 2 for x in shown[:SHOWN]}
    fit = [f"{x} of {total}" for x in wanted]

    def share(x: int) -> str:
        return f"{x} of {total} ({_fmt(Fraction(100 * x, total), pct.decimals + 1)}%)"

    if wanted:
        detail = f"Reported {written} of {total} matches {_listing([share(x) for x in wanted])}."
    elif count is not None and possible:
        detail = (f"Reported {written} is not {share(int(count.value))}; "
                  f"{_listing([share(x) for x in possible])} would give it.")
    else:
        detail = (f"Reported {written} cannot be a whole count of {total}: "
                  f"{' and '.join(share(x) for x in _neighbours(pct, total, 100))}; "
                  f"{_other_denominators(bounds, total, 100, counts=True)}.")
    return make_verdict(kind, inputs, pct.text, recomputed, fit, detail)


def grim_mean(mean, n, *, items: int = 1) -> Verdict:
    """GRIM: a mean of n whole-number values (each the sum of `items` items) must be a whole sum / (n·items)
    rounded; a whole sum that gives it only truncated makes it consistent_if_truncated."""
    kind = "grim_mean"
    avg, size = Reported.parse(mean), Reported.parse(n, exact=True)
    inputs = {"mean": avg.text, "n": size.text, "items": items}
    if problem := missing({"the mean": avg, "n": size}) or _not_granular(avg, size):
        return not_checkable(kind, inputs, avg.text, f"Cannot GRIM-test {avg.text}: {problem}.")
    values = int(size.value) * items
    bounds = avg.exact_bounds()
    sums = list(_numerators(bounds, values, 1))
    over = f"{int(size.value)} whole-number values" + (f" of {items} items each" if items > 1 else "")

    def mean_of(total: int) -> str:
        return f"{_fmt(Fraction(total, values), avg.decimals + 1)} ({total}/{values})"

    if not sums and (cut := list(truncated_numerators(avg, values, 1))):
        shown = _listing([f"{t}/{values} = {_shown(Fraction(t, values), avg)}" for t in cut])
        detail = (f"A mean of {avg.number} over {over} is reproduced only if the author truncated instead of "
                  f"rounding: {shown}, which truncation gives as {avg.number} but rounding gives as "
                  f"{_rounded_instead(avg)}.")
        fit = [f"sum {t} of {values} (truncated)" for t in cut]
        return make_verdict(kind, inputs, avg.text, {m: [t / values] * 2 for m, t in zip(fit, cut)}, fit, detail,
                            verdict=CONSISTENT_IF_TRUNCATED)
    if sums:
        detail = f"A mean of {avg.number} over {over} is possible: {_listing([mean_of(t) for t in sums])}."
        recomputed = {f"sum {t} of {values}": [t / values] * 2 for t in sums[:SHOWN]}
    else:
        near = _neighbours(avg, values, 1)
        others = _other_denominators(bounds, int(size.value), 1, counts=False, per=items)
        detail = (f"A mean of {avg.number} over {over} is impossible: the nearest possible means are "
                  f"{' and '.join(mean_of(t) for t in near)}; {others}.")
        recomputed = {f"sum {t} of {values}": [t / values] * 2 for t in near}
    return make_verdict(kind, inputs, avg.text, recomputed, [f"sum {t} of {values}" for t in sums], detail)


def parts_sum_to_total(parts, total) -> Verdict:
    """Counts of the parts of a group (e.g. "n = 8" and "n = 4") against the group's total ("twelve" → 12)."""
    kind = "parts_vs_total"
    pieces, whole = [Reported.parse(x, exact=True) for x in parts], Reported.parse(total, exact=True)
    inputs = {"parts": [x.text for x in pieces], "total": whole.text}
    named = {**{f"part {i + 1}": x for i, x in enumerate(pieces)}, "the total": whole}
    if gaps := missing(named):
        return not_checkable(kind, inputs, whole.text, f"Cannot add up the parts: {gaps}.")
    added = sum(x.decimal for x in pieces)
    shown = " + ".join(x.number for x in pieces)
    if added == whole.decimal:
        detail = f"The parts {shown} add up to {whole.number}, the reported total."
    else:
        gap = added - whole.decimal
        detail = (f"The parts {shown} add up to {added}, not the reported total of {whole.number} "
                  f"({abs(gap)} {'more' if gap > 0 else 'short'}).")
    fit = ["sum of parts"] if added == whole.decimal else []
    return make_verdict(kind, inputs, whole.text, {"sum of parts": [float(added)] * 2}, fit, detail)


def percentages_sum_to_100(percents) -> Verdict:
    """Rounded percentages of the categories of one whole: their sum must be within rounding of 100%."""
    kind = "percentages_sum"
    pieces = [Reported.parse(x) for x in percents]
    inputs = {"percents": [x.text for x in pieces]}
    named = {f"percentage {i + 1}": x for i, x in enumerate(pieces)}
    if problem := missing(named) or next((_not_granular(x) for x in pieces if _not_granular(x)), ""):
        return not_checkable(kind, inputs, "100%", f"Cannot add up the percentages: {problem}.")
    lo = sum(x.exact_bounds()[0] for x in pieces)
    hi = sum(x.exact_bounds()[1] for x in pieces)
    added = sum(x.decimal for x in pieces)
    places = max(x.decimals for x in pieces) + 1
    allowed = f"{_fmt(lo, places)}% to {_fmt(hi, places)}%"
    shown = " + ".join(x.number for x in pieces)
    if lo <= 100 <= hi:
        rounding = "" if added == 100 else f", which rounding allows ({allowed})"
        detail = f"The percentages {shown} add up to {added}%{rounding}."
    else:
        detail = (f"The percentages {shown} add up to {added}%; rounding allows {allowed}, not 100%, so a "
                  "category is missing, counted twice or misreported.")
    fit = ["sum of rounded percentages"] if lo <= 100 <= hi else []
    return make_verdict(kind, inputs, "100%", {"sum of rounded percentages": [float(lo), float(hi)]}, fit, detail)


def _truncated_percent(inputs: dict, pct: Reported, total: int, truncated: list[int],
                       rounded: list[int]) -> Verdict:
    """The verdict of a percentage of `total` that the counts `truncated` give only when truncated; `rounded` are
    the counts that give it when rounded (other than a stated count)."""
    written = pct.number if pct.percent else f"{pct.number}%"
    fit = [f"{x} of {total} (truncated)" for x in truncated]
    shares = _listing([f"{x} of {total} is {_shown(Fraction(100 * x, total), pct)}%" for x in truncated])
    other = ""
    if rounded:
        other = "; rounded, " + _listing([f"{x} of {total} ({_fmt(Fraction(100 * x, total), pct.decimals + 1)}%)"
                                          for x in rounded]) + " would give it"
    detail = (f"Reported {written} of {total} is reproduced only if the author truncated instead of rounding: "
              f"{shares}, which truncation gives as {written} but rounding gives as {_rounded_instead(pct)}%{other}.")
    recomputed = {m: [100 * x / total] * 2 for m, x in zip(fit[:SHOWN], truncated)}
    return make_verdict("percent_of_count", inputs, pct.text, recomputed, fit, detail,
                        verdict=CONSISTENT_IF_TRUNCATED)


def truncated_numerators(value: Reported, denominator: int, scale: int) -> range:
    """Every whole k whose k·scale/denominator, truncated (towards zero) to the decimals of `value`, is `value`:
    r ≤ x < r + 10^-d for a value r ≥ 0, r − 10^-d < x ≤ r for a negative one."""
    r = Fraction(value.decimal)
    step = Fraction(1) / Fraction(10) ** value.decimals
    if value.decimal.is_signed():
        return range(math.floor((r - step) * denominator / scale) + 1, math.floor(r * denominator / scale) + 1)
    return range(math.ceil(r * denominator / scale), math.ceil((r + step) * denominator / scale))


def _rounded_instead(value: Reported) -> str:
    """What rounding writes for a value that truncation writes as `value` but rounding does not: one unit in the
    last place further from zero ("23" → "24", "5.17" → "5.18", "-1.2" → "-1.3")."""
    step = Decimal(1).scaleb(-value.decimals)
    return format(value.decimal - step if value.decimal.is_signed() else value.decimal + step, "f")


def _shown(x: Fraction, value: Reported) -> str:
    """x with one decimal more than `value`, or as many more as it takes for x to still truncate to `value`
    (23.96 is written "23.96", not "24.0", next to "23")."""
    r, step = Fraction(value.decimal), Fraction(1) / Fraction(10) ** value.decimals

    def truncates(y: Fraction) -> bool:
        return r - step < y <= r if value.decimal.is_signed() else r <= y < r + step

    places = max(0, value.decimals + 1)
    while places < max(0, value.decimals) + 6 and not truncates(Fraction(_fmt(x, places))):
        places += 1
    return _fmt(x, places)


def _not_granular(value: Reported, size: Reported | None = None) -> str:
    """Why a value cannot be checked for granularity ("" when it can)."""
    if value.relation != "=":
        return f"{value.text} is a bound, not a rounded value"
    if size is not None and (size.value < 1 or size.value != int(size.value)):
        return f"n = {size.text} is not a positive whole number"
    return ""


def _numerators(bounds: tuple[Fraction, Fraction], denominator: int, scale: int) -> range:
    """Every whole k with k·scale/denominator inside the closed interval `bounds`."""
    lo, hi = bounds
    return range(math.ceil(lo * denominator / scale), math.floor(hi * denominator / scale) + 1)


def _neighbours(value: Reported, denominator: int, scale: int) -> list[int]:
    """The whole numerators just below and just above value·denominator/scale."""
    below = math.floor(Fraction(value.decimal) * denominator / scale)
    return [below, below + 1]


def _other_denominators(bounds: tuple[Fraction, Fraction], n: int, scale: int, *, counts: bool,
                        per: int = 1) -> str:
    """Which sample sizes within max(5, 10%) of n would give the value (each contributing `per` values), as a
    clause; with `counts`, the numerator must be a count between 0 and the denominator."""
    width = max(5, n // 10)
    window = range(max(1, n - width), n + width + 1)
    fitting = [m for m in window
               if m != n and any(not counts or 0 <= k <= m for k in _numerators(bounds, m * per, scale))]
    if not fitting:
        return f"no denominator from {window.start} to {window.stop - 1} gives it either"
    return f"n = {_listing([str(m) for m in fitting])} would fit"


def _listing(items: list[str]) -> str:
    """ "a", "a or b", "a, b or c", "a, b, c and others"."""
    if len(items) > SHOWN:
        return f"{', '.join(items[:SHOWN])} and others"
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _fmt(x: Fraction, places: int) -> str:
    return f"{float(x):.{places}f}"

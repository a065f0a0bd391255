"""A relative change recomputed from two group means, against a reported mean relative change (informational).

The mean of each patient's relative change and the relative change of the mean levels are different statistics
(a mean of ratios is not a ratio of means), so a reported mean reduction of 59.6% may differ from the 60.5% that
(2,466 − 974) / 2,466 gives without anything being wrong. This check therefore never says `inconsistent`: it is
`consistent` when the reported value lies within the change of the means over the rounding intervals (corners:
the change is monotone in each mean for a positive baseline), and `not_checkable` otherwise, stating by how much
the two differ. `decision_error` is None: no p-value is involved.
"""

from __future__ import annotations

from kb.numbers import Reported

from .verdict import NOT_CHECKABLE, Verdict, make_verdict, missing, not_checkable


def relative_change(before, after, reported, *, reduction: bool = False) -> Verdict:
    """Reported mean relative change (in %) against (after − before) / before of the group means; with
    `reduction`, the reported value is a reduction, (before − after) / before."""
    kind = "relative_change"
    b, a, r = Reported.parse(before), Reported.parse(after), Reported.parse(reported)
    word = "reduction" if reduction else "change"
    inputs = {"before": b.text, "after": a.text, "reduction": reduction}
    if gaps := missing({"the first mean": b, "the second mean": a, f"the reported {word}": r}):
        return not_checkable(kind, inputs, r.text, f"Cannot compare the {word}: {gaps}.")
    if b.lo <= 0:
        return not_checkable(kind, inputs, r.text, f"Cannot compare the {word}: the first mean {b.number} is not "
                                                   "positive, so a relative change of it is undefined.")
    sign = -1 if reduction else 1
    corners = [sign * (y - x) / x * 100 for x in (b.lo, b.hi) for y in (a.lo, a.hi)]
    lo, hi = min(corners), max(corners)
    point = sign * (a.value - b.value) / b.value * 100
    method = f"{word} of the means"
    places = r.decimals
    span = f"{point:.{places}f}% ({lo:.{places + 1}f}% to {hi:.{places + 1}f}%)"
    shown = f"{b.number} to {a.number}"
    if r.meets(lo, hi):
        detail = f"The reported mean {word} of {_pct(r)} matches the {word} of the means: {shown} is {span}."
        return make_verdict(kind, inputs, r.text, {method: [lo, hi]}, [method], detail)
    gap = point - r.value
    detail = (f"The reported mean {word} of {_pct(r)} cannot be checked against the means: {shown} is a "
              f"{word} of {span}, {abs(gap):.{places + 1}f} percentage points {'more' if gap > 0 else 'less'}, "
              f"and the mean of each patient's {word} need not equal the {word} of the mean levels.")
    return make_verdict(kind, inputs, r.text, {method: [lo, hi]}, [], detail, verdict=NOT_CHECKABLE)


def _pct(r: Reported) -> str:
    return r.number if r.percent else f"{r.number}%"

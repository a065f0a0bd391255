"""A point estimate against its own interval: a median outside its range or IQR, a ratio or mean outside its CI.

Every estimate lies within the interval reported with it (a confidence interval is built around the estimate; a
range or interquartile range holds the median of the same values). Numbers are read as the intervals their rounding
allows (`kb.numbers.Reported`), so "2.0 (1.95 to 3.1)" is within. Reversed limits ("3.71 to 2.71", often a lower
limit that lost its minus sign) are not checked.
"""

from __future__ import annotations

from kb.numbers import Reported

from .verdict import CONSISTENT, INCONSISTENT, Verdict, make_verdict, missing, not_checkable

NAMES = {"ci": "confidence interval", "range": "range", "iqr": "interquartile range"}


def estimate_in_interval(estimate, lower, upper, *, interval: str = "ci", level=None, measure: str = "") -> Verdict:
    """The reported estimate must lie between the reported limits of its interval (`interval`: ci, range, iqr)."""
    kind = "estimate_in_interval"
    est, lo, hi = Reported.parse(estimate), Reported.parse(lower), Reported.parse(upper)
    name = NAMES.get(interval, interval)
    if level and interval == "ci":
        name = f"{level}% {name}"
    inputs = {"estimate": est.text, "lower": lo.text, "upper": hi.text, "interval": name}
    if gaps := missing({"the estimate": est, "the lower limit": lo, "the upper limit": hi}):
        return not_checkable(kind, inputs, est.text, f"Cannot place the estimate in its {name}: {gaps}.")
    what = f"{measure} {est.number}".strip()
    if lo.value > hi.value:
        return not_checkable(kind, inputs, est.text, f"The {name} of the {what} is written with its limits reversed "
                                                     f"({lo.number} to {hi.number}), as when a minus sign was lost; "
                                                     "the estimate is not placed in it.")
    low, high = lo, hi
    shown = f"{low.number} to {high.number}"
    if est.meets(low.lo, high.hi):
        return make_verdict(kind, inputs, est.text, {name: [low.lo, high.hi]}, [name],
                            f"The {what} lies within its {name} ({shown}).", verdict=CONSISTENT)
    side = "below" if est.hi < low.lo else "above"
    return make_verdict(kind, inputs, est.text, {name: [low.lo, high.hi]}, [],
                        f"The {what} lies {side} its own {name} ({shown}): an estimate always lies within the "
                        f"interval reported with it.", verdict=INCONSISTENT)

"""Enrollment periods stated in text: "Between July 2014 and December 2015", "from March 2010 to May 2012"."""

from __future__ import annotations

import re

from harvest.parsing import MONTHS

_MONTH = r"(?P<{0}m>(?i:" + "|".join(m + r"[a-z]*\.?" for m in MONTHS) + r"))\s+(?P<{0}y>(?:19|20)\d\d)"
PERIOD = re.compile(r"\b(?i:between|from)\s+" + _MONTH.format("a")
                    + r"\s+(?i:and|to|through|until)\s+" + _MONTH.format("b"))


def _month(name: str) -> int:
    return MONTHS[name.lower()[:3]]


def extract_period(text: str) -> dict | None:
    """The first month-to-month period in `text`: {start: "YYYY-MM", end: "YYYY-MM", span_start, span_end}."""
    m = PERIOD.search(text)
    if not m:
        return None
    return {"start": f"{m['ay']}-{_month(m['am']):02d}", "end": f"{m['by']}-{_month(m['bm']):02d}",
            "span_start": m.start(), "span_end": m.end(), "text": m.group(0)}

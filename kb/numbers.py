"""A reported number as the interval its rounding allows: the one place that turns reported text into an interval.

`Reported.parse("59.6")` is [59.55, 59.65]; `"p = 0.0003"` is [0.00025, 0.00035]; `"P < 0.001"` is (−∞, 0.001),
or (0, 0.001) with `domain=P_DOMAIN`; an exact count (`exact=True`) is the single point. Rounding ties may have
gone either way, so a rounding interval is closed; the bound of a `<` or `>` is open and is taken as written.
Recognised: thousands separators ("2,466"), a decimal comma that cannot be a thousands group ("0,05"), a leading
point (".04"), exponents ("1e-4", "1.2 × 10⁻⁵", "1.2×10^-5"), a trailing "%", unicode minus signs, a "p" label.
Anything else ("NA", "NR", "not reached", "") is not a number: `known` is False and the bounds are NaN.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

P_DOMAIN = (0.0, 1.0)
UNBOUNDED = (-math.inf, math.inf)

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_MINUS = str.maketrans({"−": "-", "–": "-", "‐": "-", "﹣": "-", "－": "-"})
_RELATIONS = {"=": "=", "<": "<", ">": ">", "≤": "<=", "≥": ">=", "<=": "<=", ">=": ">=", "=<": "<=", "=>": ">="}
_NUMBER = re.compile(r"""
    ^(?:p\s*)?
    (?P<rel><=|>=|=<|=>|[=<>≤≥])?\s*
    (?P<sign>[-+])?\s*
    (?P<body>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+,\d+|\d*\.?\d+)
    (?:\s*(?:[eE](?P<exp>[-+]?\d+)|[x×·]\s*10\s*\^?\s*(?P<exp10>[-+]?\d+)))?
    \s*(?P<pct>%)?$
""", re.VERBOSE | re.IGNORECASE)


@dataclass(frozen=True)
class Reported:
    """A number as written: `relation` (=, <, <=, >, >=), `value` (`decimal` exactly), `decimals` (places after
    the point, exponent included, so "1e-4" has 4), the interval [`lo`, `hi`] it stands for (open at a `<` or `>`
    bound), `number` (the digits as written, for sentences) and whether it carried a "%"."""

    text: str
    relation: str | None
    value: float | None
    decimals: int | None
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    number: str = ""
    percent: bool = False
    decimal: Decimal | None = None

    @classmethod
    def parse(cls, text: str | int | float | None, *, exact: bool = False,
              domain: tuple[float, float] = UNBOUNDED) -> Reported:
        """Read `text`; `exact` makes an equality a single point (counts); `domain` clips the interval (p-values)."""
        raw = "" if text is None else str(text).strip()
        m = _NUMBER.match(raw.translate(_MINUS).translate(_SUPERSCRIPTS))
        if not m:
            return cls(raw, None, None, None, math.nan, math.nan)
        body = m["body"]
        if re.fullmatch(r"\d+,\d+", body) and not re.fullmatch(r"\d{1,3}(?:,\d{3})+", body):
            body = body.replace(",", ".")
        body = body.replace(",", "")
        exponent = int(m["exp"] or m["exp10"] or 0)
        value = Decimal(f"{m['sign'] or ''}{body}").scaleb(exponent)
        decimals = (len(body.split(".")[1]) if "." in body else 0) - exponent
        relation = _RELATIONS[m["rel"] or "="]
        lo, hi, lo_open, hi_open = _bounds(value, decimals, relation, exact)
        lo, hi = max(lo, domain[0]), min(hi, domain[1])
        number = raw[m.start("sign") if m["sign"] else m.start("body"):].strip()
        return cls(raw, relation, float(value), decimals, lo, hi, lo_open, hi_open, number, bool(m["pct"]), value)

    @property
    def known(self) -> bool:
        """True when the text is a number."""
        return self.value is not None

    def exact_bounds(self) -> tuple[Fraction, Fraction]:
        """The closed rounding interval of an equality in exact arithmetic (granularity checks: no float error)."""
        value = Fraction(self.decimal)
        half = Fraction(1, 2) / Fraction(10) ** self.decimals
        return value - half, value + half

    def meets(self, lo: float, hi: float) -> bool:
        """True when this interval shares at least one point with the closed interval [lo, hi]."""
        if not self.known or math.isnan(lo) or math.isnan(hi):
            return False
        above = lo < self.hi or (lo == self.hi and not self.hi_open)
        below = self.lo < hi or (self.lo == hi and not self.lo_open)
        return above and below

    def phrase(self, name: str = "") -> str:
        """The number as a reader saw it, with its relation: "p = 0.0003", "p < 0.001", "59.6%"."""
        symbol = {"<=": "≤", ">=": "≥"}.get(self.relation or "", self.relation)
        if not name:
            return self.number if symbol == "=" else f"{symbol} {self.number}"
        return f"{name} {symbol} {self.number}"


def _bounds(value: Decimal, decimals: int, relation: str, exact: bool) -> tuple[float, float, bool, bool]:
    """Interval of a parsed number: rounding half-width 0.5·10^-decimals for "=", a one-sided bound otherwise."""
    v = float(value)
    if relation == "=":
        half = Decimal(0) if exact else Decimal(5).scaleb(-decimals - 1)
        return float(value - half), float(value + half), False, False
    if relation in ("<", "<="):
        return -math.inf, v, False, relation == "<"
    return v, math.inf, relation == ">", False

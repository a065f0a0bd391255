"""Text helpers shared by the extractors: normalisation with an offset map, sentences, numbers and durations."""

from __future__ import annotations

import re
from dataclasses import dataclass

from text_to_num import text2num

# Characters rewritten one-for-one before matching (fullwidth punctuation, minus and hyphen variants, odd spaces).
_TRANSLATE = str.maketrans({
    "（": "(", "）": ")", "，": ",", "；": ";", "：": ":", "＋": "+", "＝": "=", "［": "[", "］": "]",
    "−": "-", "‐": "-", "‑": "-", "﹣": "-", "－": "-", "≦": "≤", "≧": "≥", "μ": "µ",
    "\u00a0": " ", "\u202f": " ", "\u205f": " ", "\u3000": " ", "\t": " ", "\r": " ",
    **{chr(c): " " for c in range(0x2000, 0x200B)},
})
_BLOCK_TAG = re.compile(r"</?(?:p|h\d|div|li|ul|ol|br|tr|td|table|section|title)\b[^>]{0,80}>", re.I)
_INLINE_TAG = re.compile(r"</?(?:i|b|em|strong|sub|sup|span|u|a|abbr)\b[^>]{0,200}>", re.I)
_MIDDLE_DOT = re.compile(r"(?<=\d)·(?=\d)")  # a decimal point as The Lancet prints it: "70·0%"
_ESCAPE = re.compile(r"\\(?=[^\w\s])")  # CT.gov markdown escapes: "p\<0.001", "\[AUC\]", "mg/m\^2"
_MARKUP = re.compile(f"{_BLOCK_TAG.pattern}|{_INLINE_TAG.pattern}|{_ESCAPE.pattern}", re.I)


@dataclass(frozen=True)
class Clean:
    """Normalised text plus, for each of its characters, the offset of the original character it came from."""

    text: str
    origin: tuple[int, ...]
    original: str

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original-text span of the clean-text span [start, end)."""
        if end <= start:
            return self.origin[start], self.origin[start]
        return self.origin[start], self.origin[end - 1] + 1


def clean(text: str) -> Clean:
    """Drop markup and escapes, unify punctuation variants; keep a map back to offsets in `text`."""
    pieces: list[tuple[str, int]] = []
    pos = 0
    for m in _MARKUP.finditer(text):
        pieces.extend((c, pos + i) for i, c in enumerate(text[pos:m.start()]))
        if _BLOCK_TAG.fullmatch(m.group()):
            pieces.extend((("\n", m.start()), ("\n", m.start())))
        pos = m.end()
    pieces.extend((c, pos + i) for i, c in enumerate(text[pos:]))
    chars = _MIDDLE_DOT.sub(".", "".join(c for c, _ in pieces).translate(_TRANSLATE))
    origin = tuple(o for _, o in pieces) + (len(text),)
    return Clean(chars, origin, text)


_ABBREVIATIONS = {"e.g", "i.e", "vs", "approx", "al", "fig", "no", "dr", "ca", "cf", "i.v", "p.o", "b.i.d", "t.i.d",
                  "q.d", "s.c", "i.m", "inc", "ltd", "st", "mr", "mrs", "ms", "jr", "resp", "ref", "eq", "nos"}
_BOUNDARY = re.compile(r"\n\s*|(?<=[.!?])\s+(?=[(\[\"'A-Z0-9•*-])|(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])")


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`; never splits inside brackets or after a known abbreviation."""
    spans, start = [], 0
    for m in _BOUNDARY.finditer(text):
        head = text[start:m.start()]
        if head.count("(") + head.count("[") > head.count(")") + head.count("]") and "\n\n" not in m.group():
            continue
        last = re.search(r"([\w.]+)[.!?]$", head)
        if last and last.group(1).lower() in _ABBREVIATIONS:
            continue
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(s, e) for s, e in (_strip(text, s, e) for s, e in spans) if e > s]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


# A number as written: optional sign, written against the digits and not after a word ("D8-21" is a range,
# "complication - 5%" a dash), never the end of a name ("IL-2", "COVID-19"), thousands groups ("2,466",
# "75 000"), decimals, ".04".
NUMBER = (r"(?:(?<![\w.)%])-)?(?<![\w.])(?<![A-Za-z]-)(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d{1,3}(?: \d{3})+(?![\d.,])|\d+)"
          r"(?:\.\d+)?|\.\d+)")

_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
          "seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORD = "|".join(_TENS + sorted(_SMALL, key=len, reverse=True))
WORD_NUMBER = rf"(?i:\b(?:{_WORD})(?:[\s-]+(?:and\s+)?(?:{_WORD}|hundred|thousand))*\b)"
COUNT = rf"(?:{NUMBER}|{WORD_NUMBER})"


@dataclass(frozen=True)
class Number:
    """A number as reported: `text` (thousands separators removed), its value and its decimal places."""

    text: str
    value: float
    decimals: int


def parse_number(written: str) -> Number:
    """Parse a numeral ("2,466", "-0.5", ".04") or number words ("five", "twenty-one")."""
    text = re.sub(r"[,\s]", "", written)
    if re.fullmatch(r"-?(?:\d+(?:\.\d+)?|\.\d+)", text):
        return Number(text, float(text), len(text.partition(".")[2]))
    value = text2num(re.sub(r"\band\b", " ", written.lower()).replace("-", " ").strip(), "en")
    return Number(str(value), float(value), 0)


_DAYS_PER = {"d": 1, "w": 7, "m": 30.4375, "y": 365.25, "h": 1 / 24}
_TIME_WORD = re.compile(r"(?:days?|d|weeks?|wks?|w|months?|mos?|m|years?|yrs?|y|hours?|hrs?|h)")


def days_per(unit: str | None) -> float | None:
    """Days in one `unit` ("Days", "weeks", "mo", "year", "h"); None when it is not a time unit ("mg/dL")."""
    word = (unit or "").strip().lower()
    return _DAYS_PER[word[0]] if _TIME_WORD.fullmatch(word) else None


def to_days(amount: float, unit: str) -> float | None:
    """A duration in days from an amount and a time unit word ("weeks", "mo", "year", "h")."""
    days = days_per(unit)
    return None if days is None else amount * days


DURATION = re.compile(rf"\b(?i:(?P<unit1>week|month|day|year)s?\s+(?P<n1>{COUNT})|"
                      rf"(?P<n2>{COUNT})(?:\s*-\s*|\s+)(?P<unit2>weeks?|months?|days?|years?|hours?|wks?|mos?|yrs?)|"
                      rf"(?P<n3>{COUNT})-(?P<unit3>year|month|week|day))\b")


def durations(text: str) -> list[tuple[re.Match, float, str]]:
    """Each duration written in `text` ("24 weeks", "Week 16", "2 year", "5-year"): the match, its length in days
    and its normalised text ("24 weeks", "16 weeks", "2 years", "5 years")."""
    found = []
    for m in DURATION.finditer(text):
        amount = next(m.group(k) for k in ("n1", "n2", "n3") if m.group(k))
        unit = next(m.group(k) for k in ("unit1", "unit2", "unit3") if m.group(k))
        days = to_days(parse_number(amount).value, unit)
        if days is not None:
            found.append((m, days, duration_text(amount, unit)))
    return found


_UNIT_NAMES = {"d": "day", "w": "week", "m": "month", "y": "year", "h": "hour"}


def duration_text(amount: str, unit: str) -> str:
    """A duration written the same way everywhere: ("two", "Years") -> "2 years", ("1", "week") -> "1 week"."""
    value = parse_number(amount).text
    name = "minute" if unit.lower().startswith("mi") else _UNIT_NAMES[unit.lower()[0]]
    return f"{value} {name}" + ("" if value == "1" else "s")

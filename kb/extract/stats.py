"""Reported statistics in abstract sentences: means ± SD/SE, medians with ranges/IQR, percentages and counts,
ratios with confidence intervals, before/after pairs, sample sizes and p-values.

`extract_stats(text)` returns one dict per reported number (keys in `ROW_KEYS`). How a sentence is read:

1. p-values (`p=0.0003`, `P<.001`, `P value of 0.01`) are found first and set aside.
2. Number patterns are matched in priority order, each claiming its characters so that no number is read twice:
   ratio with CI, value with CI, value ± dispersion, value (SD x), value (range/IQR), count (percent),
   "k of N", "(n = N)", "N <population noun>", plain percentages, values with a unit.
   Percent ranges ("20% to 50%") and "ranged from a to b" are claimed without a row: they are not point values.
   A number right after a comparator ("≥60", "more than 24 weeks") is a threshold, not a result, and is skipped;
   so is a time value after a time preposition ("at 24 weeks" is a timepoint) unless the clause names a statistic.
3. "from A to B" (and "A to B" in a sentence saying something increased/decreased/improved/changed) makes A the
   `before` and B the `after` row of one `pair`.
4. A p-value or "(n = N)" separated from the preceding row only by punctuation belongs to that row; otherwise a
   p-value becomes a `p_value_only` row and "(n = N)" an `n` row for the group named just before it.
5. `measure` is the subject of the clause before the number (statistic words, timepoints and groups removed), or
   the words after it when the number opens the clause; a row with no subject of its own inherits its neighbour's.
   `group` comes from "in/among/with the X group|arm|cohort", males/females, placebo and similar phrases;
   `timepoint` from "at 24 weeks", "at week 16", "5-year ...".
   `statistic` is the statistic named in the clause (mean, median, ...), else percent for %, else value.
   An unlabelled interval in brackets is a range after a median and a CI otherwise.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from kb.extract.common import COUNT, NUMBER, Clean, Number, clean, duration_text, parse_number, sentences

ROW_KEYS = ("measure", "group", "timepoint", "n", "k", "pairing", "statistic", "value", "value_num", "decimals",
            "dispersion_type", "dispersion", "lower", "upper", "ci_pct", "unit", "p_text", "p_relation", "p_value",
            "role", "pair", "span_start", "span_end", "source_text", "sentence_start")

# Nouns that count people or units of analysis ("patients", "eyes"): what "N <noun>" makes a sample size.
POPULATION = (r"(?i:patients|participants|subjects|men|women|males|females|boys|girls|children|adolescents|adults|"
              r"infants|neonates|individuals|volunteers|persons|people|cases|respondents|survivors|smokers|"
              r"nonsmokers|dogs|mice|rats|eyes)\b")
_TIME_UNIT = r"(?:days?|weeks?|months?|years?|hours?|h|min(?:utes?)?)"
_UNIT = (r"(?:%|percent\b|per\s+100,000\b|mm\s?Hg\b|mL/min(?:/1\.73\s?m2)?|kg/m(?:2|²)|"
         r"(?:pg|ng|µg|ug|mg|g|mmol|µmol|umol|nmol|pmol|IU|U|mU|mEq|cells|copies)/(?:mL|dL|L|kg|µL|uL|mm3|day|d)"
         r"(?![A-Za-z])|(?:kg|cm|mm|mL|L|bpm|points?)(?![A-Za-z/])|" + _TIME_UNIT + r"(?![A-Za-z]))")
_SEP = r"(?:to|–|—|-|,|;|and)"
_V = rf"(?P<v>{NUMBER})\s*(?P<vu>{_UNIT})?"
_CI = (rf"(?P<ci>\d{{2}}(?:\.\d+)?)\s*%\s*(?:CI|(?i:confidence\s+intervals?|credible\s+intervals?))"
       rf"(?:\s*[\[(]CI[\])])?\s*[:,=]?\s*(?:(?i:of|was|were)\s+)?[\[(]?\s*(?P<lo>{NUMBER})\s*{_UNIT}?\s*"
       rf"{_SEP}\s*(?P<hi>{NUMBER})\s*{_UNIT}?\s*[\])]?")
_RATIO_KIND = {"hazard": "hazard_ratio", "hr": "hazard_ratio", "ahr": "hazard_ratio", "odds": "odds_ratio",
               "or": "odds_ratio", "aor": "odds_ratio", "risk": "risk_ratio", "relative": "risk_ratio",
               "rr": "risk_ratio", "rate": "risk_ratio", "irr": "risk_ratio", "incidence": "risk_ratio",
               "mean": "mean_difference", "md": "mean_difference", "difference": "mean_difference"}

_P = re.compile(rf"\b[Pp](?:\s*-?\s*values?)?\s*(?:(?P<rel><=|>=|=<|=>|≤|≥|<|>|=)|\s(?P<of>of|was|were|is)\s)"
                rf"\s*(?P<pv>{NUMBER})")
_PATTERNS = [(name, re.compile(rx)) for name, rx in (
    ("ratio", rf"(?P<kind>\b(?i:(?:adjusted\s+)?(?:hazard|odds|risk|rate|incidence\s+rate)\s+ratios?|relative\s+risk"
              rf"|mean\s+difference)|\b(?:a?HR|a?OR|RR|IRR|MD)\b)(?P<between>[^;()\[\]\d]{{0,90}}?)"
              rf"(?:[\s,:=]|\b(?i:of|was|were|is)\b)*(?P<v>{NUMBER})(?![\d.]|\s*%)(?:\s*[;,(\[]?\s*{_CI})?"),
    ("ci", rf"{_V}\s*[;,(\[]\s*{_CI}"),
    ("pm", rf"{_V}\s*(?:±|\+\s?/\s?-|\+-)\s*(?P<d>{NUMBER})\s*(?P<du>{_UNIT})?"
           rf"(?:\s*\(?(?P<lab>SD|SEM?|s\.d\.|s\.e\.)\)?(?![A-Za-z]))?"),
    ("paren_sd", rf"{_V}\s*[(\[]\s*(?P<lab>SD|SEM?|(?i:standard\s+(?:deviation|error)))\s*[=:,]?\s*"
                 rf"(?P<d>{NUMBER})\s*(?P<du>{_UNIT})?\s*[)\]](?:\s*(?P<au>{_UNIT}))?"),
    ("paren_bare", rf"{_V}\s*\(\s*(?P<d>{NUMBER})\s*\)\s*(?P<du>{_UNIT})?"),
    ("interval", rf"{_V}\s*[(\[]\s*(?:(?P<lab>(?i:range|IQR|interquartile\s+range))\s*[:,=]?\s*)?(?P<lo>{NUMBER})"
                 rf"\s*{_UNIT}?\s*{_SEP}\s*(?P<hi>{NUMBER})\s*(?P<iu>{_UNIT})?\s*[)\]](?:\s*(?P<au>{_UNIT}))?"),
    ("pct_fraction", rf"(?P<v>{NUMBER})\s*(?P<pc>%|(?i:percent)\b)\s*[(\[]\s*(?P<c>{COUNT})\s*(?:/|(?i:of|out\s+of))\s*"
                     rf"(?P<den>{NUMBER})\s*[)\]]"),
    ("count_pct", rf"(?P<c>{COUNT})(?:\s*/\s*(?P<den>{NUMBER})|\s+(?:of|out\s+of)\s+(?P<den2>{NUMBER}))?"
                  rf"(?:\s+[A-Za-z][\w-]*){{0,2}}\s*[(\[]\s*(?P<v>{NUMBER})\s*(?P<pc>%|(?i:percent)\b)\s*[)\]]"),
    ("fraction", rf"(?P<c>{COUNT})\s+(?:of|out\s+of)\s+(?:the\s+|all\s+)?(?P<den>{COUNT})(?![\w/.])"),
    ("n_eq", rf"(?<![A-Za-z])[Nn]\s*=\s*(?P<v>{NUMBER})(?:\s*/\s*(?P<den>{NUMBER}))?"),
    ("population", rf"(?P<v>{COUNT})\s+(?P<noun>(?:(?!(?:of|and|or|with|in|at|to|per|from|were|was|for|than|who)\b)"
                   rf"[A-Za-z][\w-]*\s+){{0,4}}?{POPULATION})"),
    ("skip_label", r"\d{1,2}(?:\.\d+)?\s*%\s*(?:CI\b|(?i:confidence|credible|power|significance))"),
    ("skip_range", rf"(?:(?i:rang\w*\s+from|between)\s+{NUMBER}\s*{_UNIT}?\s*(?:to|and|-|–)\s*{NUMBER}\s*{_UNIT}?|"
                   rf"(?<!from\s){NUMBER}\s*%?\s*(?:-|–|to)\s*{NUMBER}\s*%)"),
    ("percent", rf"(?P<v>{COUNT})\s*(?P<vu>%|(?i:percent)\b)"),
    ("shared_unit", rf"(?P<v>{NUMBER})(?=\s*(?:,|and|or)\s*{NUMBER}\s*(?P<vu>{_UNIT}))"),
    ("unit", _V),
)]

_COMPARATOR = re.compile(r"(?:<|>|≤|≥|=<|>=|~|\b(?i:under|over|above|below|at\s+least|more\s+than|less\s+than|"
                         r"greater\s+than|fewer\s+than|up\s+to|exceed\w*|older\s+than|younger\s+than|aged))\s*$")
_SD_LABEL = re.compile(r"\b(?i:mean|average)\s*[(\[]\s*(SD|SEM?|(?i:standard\s+(?:deviation|error)))\s*[)\]]")
_LABEL = re.compile(r"[(\[]\s*(?:SD|SEM?|(?i:standard\s+(?:deviation|error)|range|IQR|95%\s*CI))\s*[)\]]")
_TIME_PREP = re.compile(r"\b(?i:at|after|within|for|during|every|before|over|since|in|by|until|of)\s+$")
_STAT_WORD = re.compile(r"\b(?i:(mean|average|median|proportion))\b")
_CLAUSE_BREAK = re.compile(rf";|,\s*(?:and|but|while|whereas)\b(?!\s*{NUMBER})|\bwhereas\b|:")
_CHANGE = re.compile(r"\b(?i:increas\w*|decreas\w*|improv\w*|reduc\w*|rose|rise|risen|fell|fall\w*|declin\w*|"
                     r"chang\w*|drop\w*|went)\b")
_TIMEPOINT = re.compile(rf"\b(?i:at|after|by)\s+(?i:(?P<unit1>week|month|day|year)\s+(?P<n1>{COUNT})|"
                        rf"(?P<n2>{COUNT})[\s-]+(?P<unit2>weeks?|months?|days?|years?))\b|"
                        rf"\b(?P<n3>\d+)-(?P<unit3>year|month|week|day)\b(?=(?:[\s-]+[\w-]+){{0,3}}?\s+"
                        rf"(?i:survival|rate|risk|incidence|mortality|probability))")
_GROUP = re.compile(r"^[\s,]*(?:(?i:in|among|with|for|on|receiving|versus|vs\.?)\s+)(?:(?i:the|all|those)\s+)?"
                    r"(?P<g>(?:[\w/+-]+\s+){0,3}?(?i:group|arm|cohort)s?\b|(?i:placebo|males|females|men|women|"
                    r"boys|girls|children|adults|controls)\b)")
# Verbs that link a subject to its number ("X was 12%", "X decreased from ...") or report one ("data show").
_VERB = (r"was|were|is|are|had|has|have|remained|reached|decreased|increased|rose|fell|declined|improved|reduced|"
         r"changed|dropped|went|achieved|experienced|accounted|reports?|reported|shows?|showed|demonstrat\w+|"
         r"reveal\w*|found|observed|confirms?|indicat\w+")
_SUBJECT_VERB = re.compile(rf"\b(?i:{_VERB})\b")
_LEAD = re.compile(r"^(?:[\s,;:()\[\]]|\b(?i:the|a|an|and|or|but|while|whereas|mean|median|average|respectively|"
                   r"versus|vs|compared\s+with|than|of|that|in|to|with|for|by|on|at|as|since|only|because|"
                   r"although|if|when|importantly|overall\s+(?=rate))\b\.?)+")
_TRAIL = re.compile(rf"(?:[\s,;:=()\[\]]|\b(?i:and|or|of|at|to|from|by|with|in|for|among|{_VERB}|approximately|about|"
                    rf"significantly|only|still|also|slightly|markedly|substantially|respectively|a\s+total\s+of|"
                    rf"total)\b)+$")
_RATIO_WORD = re.compile(r"\b(?:a?HR|a?OR|RR|IRR|MD|(?i:hazard|odds|risk|rate)\s+ratios?)\b")
_SUBJECT_SPLIT = re.compile(r"[,(\[]|\b(?:that|which)\b|\b(?:and|but|while|whereas)\s+(?=(?i:the|a|an|mean|median)\b)")
# A value opening a bracket names what it measures inside it ("(I2 = 38%") or just before it ("diabetes (3.2%").
_PAREN_LABEL = re.compile(r"(?P<before>\b(?:(?!(?i:of|with|in|for|and|or|was|were|is|are|than)\b)[\w/-]+\s+){0,4}?"
                          r"[\w/-]+)\s*[(\[]\s*(?:(?P<label>[^\s()\[\]\d=:][^()\[\]=:]{0,40}?)\s*[=:]\s*)?$")
_POST_STOP = re.compile(r"[,;()\[\]]|\b(?:and|while|whereas|but|compared|versus|vs)\b")


@dataclass
class _Hit:
    """One reported number being assembled (offsets relative to its sentence)."""

    start: int
    end: int
    statistic: str | None
    value: Number
    unit: str | None = None
    dispersion_type: str | None = None
    dispersion: str | None = None
    lower: str | None = None
    upper: str | None = None
    ci_pct: str | None = None
    n: int | None = None
    k: str | None = None  # a percentage's count, as written
    pairing: str | None = None  # the words that relate a percentage to its count and denominator
    den: int | None = None  # "n = k/m": the m
    p: tuple[str, str, float] | None = None
    role: str | None = None
    pair: int | None = None
    group: str | None = None
    measure: str | None = None
    timepoint: str | None = None
    tail: int = 0


def extract_stats(text: str) -> list[dict]:
    """Every reported statistic in `text`, one dict per number (see the module docstring for the rules)."""
    c = clean(text)
    pairs = itertools.count(1)
    rows: list[dict] = []
    for start, end in sentences(c.text):
        hits = _sentence_hits(c.text[start:end], pairs)
        rows.extend(_row(c, h, start, end) for h in hits)
    return rows


def _row(c: Clean, h: _Hit, s_start: int, s_end: int) -> dict:
    span_start, span_end = c.span(s_start + h.start, s_start + h.end)
    sent_start, sent_end = c.span(s_start, s_end)
    p_text, p_rel, p_val = h.p or (None, None, None)
    return {
        "measure": h.measure, "group": h.group, "timepoint": h.timepoint, "n": h.n, "k": h.k, "pairing": h.pairing,
        "statistic": h.statistic,
        "value": h.value.text if h.value else None, "value_num": h.value.value if h.value else None,
        "decimals": h.value.decimals if h.value else None, "dispersion_type": h.dispersion_type,
        "dispersion": h.dispersion, "lower": h.lower, "upper": h.upper, "ci_pct": h.ci_pct, "unit": h.unit,
        "p_text": p_text, "p_relation": p_rel, "p_value": p_val, "role": h.role, "pair": h.pair,
        "span_start": span_start, "span_end": span_end, "source_text": c.original[sent_start:sent_end],
        "sentence_start": sent_start,
    }


def _sentence_hits(sent: str, pairs) -> list[_Hit]:
    """The hits of one sentence, with p-values, n, pairs, measures, groups and timepoints filled in."""
    p_matches = list(_P.finditer(sent))
    work = _blank(sent, [(m.start(), m.end()) for m in p_matches])
    hits: list[_Hit] = []
    for name, rx in _PATTERNS:
        for m in rx.finditer(work):
            made = _hit(name, m, sent)
            work = _blank(work, [(m.start(), m.end())]) if made is not None else work
            hits.extend(made or [])
    hits.sort(key=lambda h: h.start)
    for h in hits:
        h.tail = h.end
    hits = _attach_n(hits, sent)
    _shares_of_described_group(hits, sent)
    _pair(hits, sent, pairs)
    hits = _attach_p(hits, p_matches, sent)
    _describe(hits, sent)
    return hits


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the given spans overwritten by a placeholder, so later patterns cannot read them again."""
    for a, b in spans:
        text = text[:a] + "\x00" * (b - a) + text[b:]
    return text


def _hit(name: str, m: re.Match, sent: str) -> list[_Hit] | None:
    """Hits for one pattern match; [] claims the text without a row, None leaves it unclaimed (also when number
    words do not make one number: "forty-one-six")."""
    try:
        hits = _make_hits(name, m, sent)
    except ValueError:
        return None
    for h in hits or []:
        while sent[h.end - 1] in ")]" and _unbalanced(sent[h.start:h.end]):
            h.end -= 1
    return hits


def _unbalanced(span: str) -> bool:
    return span.count(")") + span.count("]") > span.count("(") + span.count("[")


def _make_hits(name: str, m: re.Match, sent: str) -> list[_Hit] | None:
    """The hits one named pattern's match stands for (see `_hit`)."""
    if name == "skip_label":
        return []
    if name == "skip_range":
        return None if " to " in m.group() and "%" in m.group() and _CHANGE.search(sent) else []
    g = m.groupdict()
    start = m.start("v") if "v" in g and g["v"] else m.start()
    if name != "n_eq" and _COMPARATOR.search(sent[:start]):
        return None
    unit = _unit(g.get("vu") or g.get("du") or g.get("au"))
    if name == "ratio":
        return [_ratio(m)]
    if name in ("unit", "shared_unit") and (unit is None or (_is_time(unit) and not _timed_statistic(sent, m.start()))):
        return None
    if name in ("count_pct", "fraction", "pct_fraction"):
        return _counts(name, m, sent)
    if name in ("n_eq", "population"):
        count = parse_number(g["v"])
        den = int(parse_number(g["den"]).value) if g.get("den") else None
        return [_Hit(m.start("v"), m.end("den") if den else m.end("v"), "n", count, n=int(count.value), den=den,
                     measure=_tidy(g.get("noun")) if name == "population" else None)]
    if name in ("ci", "interval") and all(_is_year(g[k]) for k in ("lo", "hi")):
        return None
    if name in ("ci", "interval", "pm", "paren_sd") and (_DISPERSION_BEFORE.search(sent[:start])
                                                         or _RANGE_BEFORE.search(sent[:start])):
        return None  # an SD with its own CI ("0.42 ± 0.05 (95% CI ...)"), or the end of a range ("50-70% (...)")
    if name == "interval" and g.get("vu") and g.get("iu") and _unit(g["vu"]) != _unit(g["iu"]):
        return None  # "70% (12-17 h)": the same quantity in another unit, not an interval of it
    hit = _Hit(m.start("v"), m.end("v") if name == "shared_unit" else m.end(), None, parse_number(g["v"]), unit=unit)
    if name == "percent" and (of := _OF_AFTER.match(sent, m.end())):  # "x% of (the) N patients"
        hit.n, hit.pairing = int(parse_number(of["den"]).value), re.sub(r"\s+", " ", sent[m.start():of.end()])
    if name == "ci":
        hit.dispersion_type, hit.ci_pct, hit.lower, hit.upper = "ci", g["ci"], _num(g["lo"]), _num(g["hi"])
    elif name == "paren_bare":
        label = _SD_LABEL.search(sent)
        if not label:
            return None
        hit.dispersion_type, hit.dispersion = _dispersion_label(label.group(1), sent), _num(g["d"])
        hit.unit = unit or _unit(g.get("du"))
    elif name in ("pm", "paren_sd"):
        hit.dispersion_type = _dispersion_label(g.get("lab"), sent)
        hit.dispersion = _num(g["d"])
        hit.unit = unit or _unit(g.get("du"))
    elif name == "interval":
        hit.lower, hit.upper = _num(g["lo"]), _num(g["hi"])
        hit.dispersion_type = _interval_label(g.get("lab"), sent, m)
    return [hit]


_DISPERSION_BEFORE = re.compile(r"(?:±|\+\s?/\s?-|\+-)\s*$")
_RANGE_BEFORE = re.compile(r"\d\s*%?\s*[-–]\s*$")


def _ratio(m: re.Match) -> _Hit:
    """A ratio or difference; "hazard ratio for death in the X group, 0.45" names its measure and group."""
    g = m.groupdict()
    kind = _RATIO_KIND[[w for w in g["kind"].lower().split() if w != "adjusted"][0]]
    hit = _Hit(m.start("v"), m.end(), kind, parse_number(g["v"]))
    if g.get("ci"):
        hit.dispersion_type, hit.ci_pct, hit.lower, hit.upper = "ci", g["ci"], _num(g["lo"]), _num(g["hi"])
    between = g["between"] or ""
    where = re.search(r"\b(?i:in|among)\s", between)
    group = _GROUP.match(between[where.start():]) if where else None
    hit.group = _tidy(group.group("g")) if group else None
    about = re.search(r"\b(?i:for|of)\s+(?P<x>.+?)(?=\s+(?i:in|among|with|versus|vs)\b|[,;:]|$)", between)
    hit.measure = _tidy(about.group("x")) if about else None
    return hit


_OF_AFTER = re.compile(rf"\s*(?i:of|out\s+of)\s+(?i:the\s+|all\s+|these\s+)?(?P<den>{NUMBER})(?![\d.,%])")


def _counts(name: str, m: re.Match, sent: str) -> list[_Hit]:
    """A count, and the percentage it is written with: "k (x%)", "k/N (x%)", "k of N (x%)", "k (x%) of N",
    "x% (k/N)"."""
    g = m.groupdict()
    den = g.get("den") or g.get("den2")
    after = _OF_AFTER.match(sent, m.end()) if name == "count_pct" and not den else None
    den = after["den"] if after else den
    n = int(parse_number(den).value) if den else None
    count = _Hit(m.start("c"), m.end("den") if name in ("fraction", "pct_fraction") else m.end("c"), "count",
                 parse_number(g["c"]), n=n)
    if name == "fraction":
        return [count]
    written = sent[m.start():after.end() if after else m.end()]
    share = parse_number(g["v"].lstrip("-"))  # a share is never negative: "lesions<10 cm -64% (16/25)" is a dash
    percent = _Hit(m.start("v"), m.end("pc"), "percent", share, unit="%", n=n,
                   k=count.value.text, pairing=re.sub(r"\s+", " ", written).strip())
    return [percent, count] if name == "pct_fraction" else [count, percent]


def _num(text: str) -> str:
    return parse_number(text).text


def _unit(text: str | None) -> str | None:
    if not text:
        return None
    text = re.sub(r"\s+", " ", text)
    return "%" if text.lower() == "percent" else text


def _is_year(text: str) -> bool:
    return re.fullmatch(r"(?:19|20)\d\d", text) is not None


def _is_time(unit: str) -> bool:
    return re.fullmatch(_TIME_UNIT, unit) is not None


def _timed_statistic(sent: str, start: int) -> bool:
    """A time value is a result only when its clause names a statistic and no time preposition precedes it."""
    return bool(_STAT_WORD.search(_clause_before(sent, start))) and not _TIME_PREP.search(sent[:start])


def _dispersion_label(label: str | None, sent: str) -> str:
    said = (label or "").lower().replace(".", "")
    if not said:
        found = re.search(r"(?:±|\+/-|\(|mean\s+and\s+)\s*(SD|SEM?|standard\s+(?:deviation|error))\b", sent, re.I)
        said = found.group(1).lower() if found else ""
    if said.startswith(("sd", "standard deviation")):
        return "sd"
    return "se" if said.startswith(("se", "standard error")) else "pm"


def _interval_label(label: str | None, sent: str, m: re.Match) -> str:
    said = (label or "").lower()
    if not said:
        found = re.search(r"\b(IQR|interquartile|range)\b", sent, re.I)
        said = found.group(1).lower() if found else ""
    if said.startswith(("iqr", "interquartile")):
        return "iqr"
    return "range" if said == "range" or "median" in _clause_before(sent, m.start()).lower() else "ci"


def _clause_before(sent: str, start: int) -> str:
    """The text of the clause that contains position `start`, up to it."""
    breaks = [m.end() for m in _CLAUSE_BREAK.finditer(sent[:start])]
    return sent[breaks[-1] if breaks else 0:start]


def _attach_n(hits: list[_Hit], sent: str) -> list[_Hit]:
    """An "(n = N)" right after a row gives that row its n, except after a percentage, where it is the count of the
    percentage ("x% (n = k)"; "x% [n = k/m]" gives the denominator too); "(n = k, x%)" is likewise the percentage's
    count when the percentage closes the bracket ("(n = 266; 80% retention rate)" is a group's size and another
measure). Otherwise "(n = N)" counts the group named before it."""
    kept: list[_Hit] = []
    for i, h in enumerate(hits):
        if h.statistic == "n" and h.measure is None:
            prev = kept[-1] if kept else None
            nxt = hits[i + 1] if i + 1 < len(hits) else None
            if prev and _is_share(prev) and prev.k is None and _only_separators(sent[prev.tail:h.start], "n"):
                prev.k, prev.n, prev.tail = h.value.text, h.den, _close(sent, h.end)
                prev.pairing = re.sub(r"\s+", " ", sent[prev.start:h.end]).strip()
                h.statistic, h.n = "count", h.den
            elif prev and prev.statistic != "n" and not _is_share(prev) and prev.n is None \
                    and _only_separators(sent[prev.tail:h.start], "n"):
                prev.n, prev.tail = int(h.value.value), _close(sent, h.end)
                continue
            elif nxt and _is_share(nxt) and nxt.k is None and re.fullmatch(r"\s*[,;]\s*", sent[h.end:nxt.start]) \
                    and re.match(r"\s*[)\]]", sent[nxt.end:]):
                nxt.k, nxt.pairing = h.value.text, re.sub(r"\s+", " ", sent[h.start - 4:nxt.end]).strip(" ([")
                h.statistic, h.n = "count", h.den
            else:
                h.group = _group_before(sent[:h.start])
        kept.append(h)
    return kept


def _shares_of_described_group(hits: list[_Hit], sent: str) -> None:
    """Percentages in the bracket that describes a group just counted ("One hundred patients (aged 61.8 y, 54.1%
    females)") are shares of that group; one opening the bracket ("58 patients (61%; 30 f)") is the group's own."""
    for h in hits:
        if h.statistic != "n" or not h.measure:
            continue
        opened = re.match(rf"\s*{re.escape(h.measure)}\s*[(\[]", sent[h.end:])
        if not opened:
            continue
        start, depth, end = h.end + opened.end(), 1, None
        for i in range(start, len(sent)):
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(sent[i], 0)
            if depth == 0:
                end = i
                break
        for share in (x for x in hits if end and start <= x.start < end and _is_share(x) and x.n is None and not x.k):
            if sent[start:share.start].strip():  # "(aged 61.8 y, 54.1% females)": a share of the group
                share.n = int(h.value.value)
            else:  # "58 patients (61%; 30 f)": the group's own share of something else
                share.k = h.value.text
            share.pairing = re.sub(r"\s+", " ", sent[h.start:share.end]).strip()


def _is_share(h: _Hit) -> bool:
    """A percentage that is a share of something (not yet described: its statistic is set later)."""
    return h.statistic in ("percent", None) and h.unit == "%" and h.dispersion is None and h.lower is None


def _only_separators(gap: str, *extra: str) -> bool:
    return re.fullmatch(r"[\s,;:()\[\]]*" + "".join(rf"(?:{x}\s*=?\s*)?" for x in extra), gap) is not None


def _close(sent: str, end: int) -> int:
    m = re.match(r"\s*[)\]]", sent[end:])
    return end + m.end() if m else end


def _group_before(before: str) -> str | None:
    """The words naming a subgroup just before "(n = N)": "relapsed", "the cough group", "Time-point 1"."""
    m = re.search(r"((?:[A-Za-z][\w/+-]*\s+){0,3}[\w/+-]+)\s*[(\[][^()\[\]]*$", before)
    if not m:
        return None
    words = m.group(1).split()
    cut = max((i + 1 for i, w in enumerate(words) if w.lower() in _GROUP_STOP), default=0)
    return " ".join(words[cut:]) or None


_GROUP_STOP = {"the", "a", "an", "and", "or", "of", "in", "into", "to", "for", "with", "were", "was", "from", "by",
               "as", "on", "at", "between", "among", "divided", "included", "enrolled", "randomized", "assigned"}


def _pair(hits: list[_Hit], sent: str, pairs) -> None:
    """Mark "from A to B" (or "A to B" in a sentence about a change) as a before/after pair."""
    change = _CHANGE.search(sent) is not None
    for a, b in zip(hits, hits[1:]):
        if a.role or a.statistic in ("n", "count") or b.statistic in ("n", "count"):
            continue
        gap = sent[a.tail:b.start]
        after_from = re.search(r"\bfrom\s+$", sent[:a.start], re.I) is not None
        if re.fullmatch(r"\s*to\s+", gap) and (after_from or change) or \
                after_from and re.fullmatch(r"[^;]{0,80}?\bto\s+", gap):
            a.role, b.role = "before", "after"
            a.pair = b.pair = next(pairs)


def _attach_p(hits: list[_Hit], p_matches: list[re.Match], sent: str) -> list[_Hit]:
    """Give each p-value to the row it follows directly; a p-value on its own becomes a p_value_only row."""
    out = list(hits)
    for m in p_matches:
        rel = {"≤": "<=", "≥": ">=", "=<": "<=", "=>": ">="}.get(m.group("rel"), m.group("rel") or "=")
        p = (m.group(), rel, parse_number(m.group("pv")).value)
        before = [h for h in out if h.tail <= m.start()]
        owner = max(before, key=lambda h: h.tail, default=None)
        if owner and owner.p is None and owner.statistic != "n" and _only_separators(sent[owner.tail:m.start()]):
            owner.p, owner.tail = p, _close(sent, m.end())
        else:
            out.append(_Hit(m.start(), m.end(), "p_value_only", None, p=p, tail=m.end()))
    return sorted(out, key=lambda h: h.start)


def _describe(hits: list[_Hit], sent: str) -> None:
    """Fill statistic, measure, group and timepoint from the words around each hit."""
    sentence_time = _TIMEPOINT.match(sent)
    for i, h in enumerate(hits):
        prev = hits[i - 1] if i else None
        nxt = hits[i + 1].start if i + 1 < len(hits) else len(sent)
        after = sent[h.tail:nxt]
        if h.statistic is None and prev and prev.statistic in _RATIO_KIND.values() and h.dispersion_type == "ci" \
                and not _tidy(_GROUP.sub(" ", sent[prev.tail:h.start])):
            h.statistic = prev.statistic
        if h.statistic is None:
            named = _STAT_WORD.findall(_clause_before(sent, h.start))
            h.statistic = named[-1].lower().replace("average", "mean") if named else (
                "percent" if h.unit == "%" else "value")
        if h.group is None:
            found = _GROUP.match(after)
            h.group = _tidy(found.group("g")) if found else None
        if h.measure is None and h.statistic not in ("n", "p_value_only"):
            h.measure = _measure(sent, h, prev, after)
        if h.timepoint is None and h.statistic != "n":
            h.timepoint = _timepoint(sent, h, after, sentence_time)


def _measure(sent: str, h: _Hit, prev: _Hit | None, after: str) -> str | None:
    """What the number is of: the subject before it, else its neighbour's measure, else the words after it."""
    if h.role == "after" and prev and prev.pair == h.pair:
        return prev.measure
    labelled = _PAREN_LABEL.search(sent[:h.start])
    if labelled:
        return _tidy(labelled.group("label") if len(re.findall(r"\w", labelled.group("label") or "")) >= 2
                     else labelled.group("before"))
    clause = _clause_start(sent, h.start)
    raw = sent[max(prev.tail if prev else 0, clause):h.start]
    before = _LABEL.sub(" ", _TIMEPOINT.sub(" ", raw))
    before = _GROUP.sub(" ", before) if _GROUP.match(before) else before
    verbs = list(_SUBJECT_VERB.finditer(before))
    if verbs and _tidy(before[verbs[-1].end():]):
        before = before[verbs[-1].end():]
    pieces = _SUBJECT_SPLIT.split(before)
    subject = _tidy(_RATIO_WORD.sub(" ", pieces[-1]))
    if not subject and _SUBJECT_VERB.search(pieces[-1]) and len(pieces) > 1:
        subject = _tidy(_RATIO_WORD.sub(" ", pieces[0]))
    if subject:
        return subject
    if prev and prev.measure and prev.start >= clause and prev.statistic != "n":
        return prev.measure
    if _tidy(_SUBJECT_SPLIT.split(raw)[-1]):
        return None
    words = _POST_STOP.split(_TIMEPOINT.sub(" ", after), 1)[0]
    return _tidy(re.sub(r"^\s*(?:of\s+)?(?:the\s+)?(?:(?:were|was|had|have)\s+)?", "", words))


def _clause_start(sent: str, pos: int) -> int:
    """Offset after the last semicolon before `pos`."""
    breaks = [m.end() for m in re.finditer(r";", sent[:pos])]
    return breaks[-1] if breaks else 0


def _timepoint(sent: str, h: _Hit, after: str, sentence_time: re.Match | None) -> str | None:
    """The last timepoint named in the clause before the number, else right after it, else opening the sentence."""
    found = list(_TIMEPOINT.finditer(_clause_before(sent, h.start)))
    if not found:
        m = _TIMEPOINT.search(_CLAUSE_BREAK.split(after, 1)[0])
        found = [m] if m else []
    if not found and sentence_time:
        found = [sentence_time]
    if not found:
        return None
    m = found[-1]
    amount = next(m.group(k) for k in ("n1", "n2", "n3") if m.group(k))
    return duration_text(amount, next(m.group(k) for k in ("unit1", "unit2", "unit3") if m.group(k)))


def _tidy(text: str | None) -> str | None:
    """Trim connecting words and punctuation off a phrase; None when nothing is left."""
    if not text:
        return None
    text = re.sub(r"\s+", " ", text.replace("\x00", " "))
    previous = None
    while previous != text:
        previous = text
        text = _LEAD.sub("", text).strip()
        text = _TRAIL.sub("", text).strip()
    text = re.sub(r"\(\s*\)|\s+\($", "", text).strip(" ,;:.")
    return text if re.search(r"[A-Za-z]", text) else None

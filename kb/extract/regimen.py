"""Drug schedule lines from Methods sentences and registry arm/intervention descriptions.

`extract_regimen(text, default_drug=None)` returns one dict per dose of a drug (keys in `ROW_KEYS`); a per-cycle
change of dose is a row of its own. How a text is read:

- Drugs: the `drug-named-entity-recognition` dictionary (generic and brand names, loaded lazily once), the trial
  abbreviations in `kb.extract.abbreviations`, unknown words built on an INN stem ("furmonertinib"), and code names
  (AK104, TY-9591) written right before a dose. Dictionary entries that are salts, classes, enzymes or solutions
  (no DrugBank/MedlinePlus id and no MeSH drug tree) are ignored. Names are lower-case, without salt words.
- Doses: an amount with a unit (mg, g, µg/mcg, IU, U, with /m2 or /kg) or an AUC. A dose after a comparator
  ("more than 20 grams") or after "total of" is not a schedule line; a sentence with no dose gives no row.
  "2 tablets (200 mg each)" and "two injections of X 300 mg" are 400 mg and 600 mg with the form noted;
  "60 or 40 mg" gives two rows.
- Each dose belongs to the drug written right after it ("90 mg brigatinib"), else to the nearest drug before it
  in the sentence, else to the next drug after it; a dose whose sentence names no drug belongs to the drug of a
  heading line ("Paclitaxel injection:"), else to `default_drug`, else to the drug of the previous dose.
- Route, frequency and days are read, first found wins, from: the dose's own words (up to the next dose, drug,
  "or", "plus", "followed by"), the last dose's words when doses are listed as alternatives ("8 mg, 12 mg, or
  16 mg once daily"; "Carboplatin AUC5/ Cisplatin 75mg/m² (D1, Q3w)"), the dose phrase, the words just before
  it, the words from its drug name to the drug's first dose ("dexamethasone once a week (20 mg)"), what dose-free
  sentences say about the drug ("Anlotinib are taken on Days 1-14"), and the end of the sentence when a bracket or
  comma detaches it from the last dose ("... or paclitaxel (175 mg per square meter) every 3 weeks").
- An interval is a frequency of a week or more between doses: "every 3 weeks", "q3w", "Q3W", "q3wks" (N weeks =
  7N days), "every 21 days", "q21d" ("every 7 days" is "weekly"). It is written as stated ("every 3 weeks",
  "every 28 days"), one dose per interval (7 / interval days a week).
- Cycle length ("28-day cycles", "cycle of 21 days", "cycles repeated every 3 weeks") comes from the dose's own
  words; else, for a schedule with listed days, from an interval read with them ("on days 1, 8 and 15 every 4 weeks",
  "D1,8 q3wks", "day 1 every 21 days": the interval is the cycle, not the dosing frequency); else from its
  sentence, else the only value stated in the text; else, for a schedule without listed days whose frequency is
  an interval, from that interval ("every 3 weeks": one dose per 21-day cycle). A cycle shorter than the last
  listed day ("D1-28" beside "3wks x 4 cycles") is not the schedule's cycle and is dropped. The number of cycles
  ("six 28-day cycles", "up to 4 cycles", "until progression") comes from the dose's own "in cycle 1" / "in
  cycles 2-6", else its sentence, else the only value stated in the text.
- Frequency is what the text states about each dose: with listed days it is how often a dose is given on those
  days ("twice daily" on days 1-14); an interval after listed days names the cycle, so the frequency is None
  ("days 1, 4, 8, 11 every 3 weeks") unless a single listed day matches it ("day 1 every 3 weeks" stays "every 3
  weeks": one dose per 21-day cycle).
- Derived, always agreeing with each other: doses per cycle = listed days × doses per day when days are listed
  and a cycle length is known, else doses per week × cycle length / 7 when that is a whole number; with listed
  days and a cycle length, doses per week = doses per cycle × 7 / cycle length (the cycle's average: days 1, 4, 8,
  11 of 21 days = 4 doses, 1.33 a week), else the frequency's; `dose_per_cycle` = dose × doses per cycle;
  `drug_course_total` = the sum of dose_per_cycle × n_cycles over all of a drug's rows, when every row determines
  it in one unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from kb.extract.abbreviations import DRUG_ABBREVIATIONS, INN_STEMS, SALT_WORDS
from kb.extract.common import COUNT, NUMBER, Clean, clean, parse_number, sentences

ROW_KEYS = ("drug", "dose", "dose_num", "unit", "form", "route", "frequency", "doses_per_week", "days", "days_list",
            "cycle_length_days", "cycles", "n_cycles", "doses_per_cycle", "dose_per_cycle", "drug_course_total",
            "source_text", "span_start", "span_end")

_MASS = r"(?:(?i:mg|grams?|g|µg|ug|mcg|units?)|IU|MU|U)"
_PER = (r"(?:\s*/\s*m\^?(?:2|²)|\s*(?i:per\s+square\s+met(?:er|re))(?:\s+(?i:of\s+body[- ]surface\s+area))?|"
        r"\s*/\s*kg|\s*(?i:per\s+kilogram))")
# An amount may be glued to a drug name ("Bevacizumab15mg/kg"), so a lower-case word may precede it.
_AMOUNT = r"(?:(?<=[a-z]{4})|(?<![\w.]))(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
_DOSE = re.compile(rf"(?P<amount>{_AMOUNT}(?:\s*(?:-|–|~|to)\s*{NUMBER})?)\s*(?P<unit>{_MASS})(?P<per>{_PER})?"
                   rf"(?![A-Za-z0-9]|\s*/\s*(?i:dl|l|ml|min|h)\b)")
_UNIT_NAMES = {"grams": "g", "gram": "g", "ug": "µg", "mcg": "µg", "units": "U", "unit": "U"}
_ALTERNATIVE = re.compile(rf"(?P<amount>{NUMBER})\s*(?:,\s*)?(?:or|/)\s*(?={NUMBER}\s*{_MASS})")
_ALTERNATIVE_CLAUSE = re.compile(r"\bor\b|;|\b(?i:followed\s+by|plus|then|combined\s+with)\b|\+(?!\s*d(?:ay)?\s*\d)")
_SCHEDULE_WORD = re.compile(r"\b(?i:days?|daily|weekly|orally|intravenous(?:ly)?|subcutaneous(?:ly)?|twice|once)\b")
_LIST_GAP = re.compile(r"\s*(?:,|/|or|and|,\s*or|,\s*and)\s*(?:[a-z]+\s+){0,5}?")
_DRUG_OR = re.compile(r"\s*[)\]]?\s*(?:/|,?\s*or)\s*")  # between a dose and an alternative drug's name
_AUC = re.compile(rf"\bAUC\s*[\])]?\s*(?:of\s+|=\s*|:\s*)?(?P<a1>\d+(?:\.\d+)?)|(?i:area\s+under\s+the\s+"
                  rf"(?:concentration[- ]time\s+)?curve)\s*(?:[\[(]AUC[\])])?\s*(?:of\s+)?(?P<a2>{NUMBER})|"
                  rf"(?P<a3>{NUMBER})\s*AUC\b")
_SKIP_BEFORE = re.compile(r"(?:<|>|≤|≥|\b(?i:more\s+than|less\s+than|at\s+least|greater\s+than|up\s+to|"
                          r"exceeding|total(?:\s+dose)?\s+of|cumulative(?:\s+dose)?(?:\s+of)?|a\s+total\s+of|"
                          r"contains?))\s*$")
_FORM = r"(?P<form>(?i:tablets?|capsules?|pills?|injections?|vials?|sachets?|infusions?))"
_EACH_AFTER = re.compile(rf"(?P<count>{COUNT})\s+(?:[\w-]+\s+){{0,2}}?{_FORM}\s*\(\s*$")
_OF_BEFORE = re.compile(rf"(?P<count>{COUNT})\s+(?:[\w-]+\s+){{0,2}}?{_FORM}\s+of\s+(?:[\w-]+\s+){{0,2}}?$")
_COUNT_BEFORE = re.compile(rf"(?P<count>{COUNT})\s+$")
_FORM_AFTER = re.compile(r"^\s*(?:\(\s*)?(?:[\w-]+\s+){0,2}?(?P<form>(?i:tablets?|capsules?|pills?|sachets?|vials?|"
                         r"injection))\b")
_CODE_NAME = re.compile(rf"\b(?!NCT\d)(?=[A-Z0-9-]*\d)[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*\b(?=\s*[(:]?\s*"
                        rf"(?:(?i:at\s+(?:a\s+)?dose\s+of)\s+)?{NUMBER}\s*{_MASS})")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")
_GLUED = re.compile(r"([A-Za-z]{3,}[a-z])\d")  # "Bevacizumab15mg/kg"
_ABBREVIATION = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(k) for k in sorted(DRUG_ABBREVIATIONS, key=len,
                                                                                      reverse=True)) + r")(?![\w-])")

_ROUTES = [(name, re.compile(rx)) for name, rx in (
    ("subcutaneous", r"\b(?i:subcutaneous(?:ly)?|sub-cutaneous(?:ly)?|s\.c\.)|\b(?:SC|SQ)\b"),
    ("intramuscular", r"\b(?i:intramuscular(?:ly)?|i\.m\.)|\bIM\b"),
    ("oral", r"\b(?i:orally|oral|per\s+os|by\s+mouth|p\.\s?o\.?|po)\b|\bPO\b"),
    ("intravenous", r"\b(?i:intravenous(?:ly)?|i\.\s?v\.?|iv|infusions?|intravenous\s+drip)\b|"
                    r"(?<!stage\s)(?<!Stage\s)(?<!grade\s)\bIV\b"),
    ("intrathecal", r"\b(?i:intrathecal(?:ly)?)\b"),
    ("topical", r"\b(?i:topical(?:ly)?|transdermal(?:ly)?)\b"),
    ("inhaled", r"\b(?i:inhaled|inhalation|nebuli[sz]ed)\b"),
)]
_FREQUENCIES = [(re.compile(rx), label, per_week) for rx, label, per_week in (
    (rf"\b(?P<n>{NUMBER}\s*-\s*{NUMBER})\s+(?i:times)\s+(?i:a|per|each)\s+(?i:day)\b", "{n} times daily", None),
    (r"\b(?i:three\s+times\s+(?:a\s+|per\s+|each\s+)?day|three\s+times\s+daily|thrice\s+daily|t\.i\.d\.?|tid)\b|"
     r"\b3\s+times\s+(?:a|per)\s+day\b", "three times daily", 21),
    (r"\b(?i:four\s+times\s+(?:a\s+|per\s+)?(?:day|daily)|q\.i\.d\.?|qid)\b", "four times daily", 28),
    (r"\b(?i:twice\s+(?:a\s+|per\s+|each\s+)?(?:day|daily)|two\s+times\s+(?:a|per)\s+day|b\.i\.d\.?|bid|"
     r"every\s+12\s+hours|q12h)\b|\b2\s+times\s+(?:a|per)\s+day\b", "twice daily", 14),
    (rf"\b(?i:(?:once\s+)?every\s+(?P<n>{COUNT})[\s-]*(?:weeks?|wks?)|q\s?(?P<n2>\d)\s?w(?:ee)?ks?|q(?P<n3>\d)w)\b",
     "every {n} weeks", None),
    (rf"\b(?i:(?:once\s+)?every\s+(?P<n>{COUNT})[\s-]*days?|q\s?(?P<n2>\d{{1,2}})\s?d(?:ays?)?)\b", "every {n} days",
     None),
    (r"\b(?i:once\s+(?:a|per|every)\s+week|once\s+weekly|weekly|every\s+week|q\.?w\.?|q1w|qwk)\b", "weekly", 1),
    (r"\b(?i:every\s+other\s+day|q\.?o\.?d\.?)\b", "every other day", 3.5),
    (r"\b(?P<n>\d)\s*(?i:days?)\s*(?:/|a|per)\s*(?i:week)\b", "{n} days a week", None),
    (r"\b(?i:once\s+(?:a\s+)?daily|once\s+(?:a|per)\s+day|daily|every\s+day|each\s+day|per\s+day|a\s+day|"
     r"one\s+a\s+day|q\.?d\.?|o\.d\.|qday)(?![A-Za-z])|/\s*d(?:ay)?\b", "daily", 7),
)]
_PER_DAY = {"daily": 1, "twice daily": 2, "three times daily": 3, "four times daily": 4}
_NAMED_DAYS = {1: ("daily", 7), 2: ("every other day", 3.5), 7: ("weekly", 1)}  # "every 7 days" is weekly
_INTERVAL = re.compile(r"every (?P<n>\d+(?:\.\d+)?) (?P<u>weeks|days)")
_CYCLE_LENGTH = re.compile(
    rf"(?<![\d-])(?P<n>{COUNT})[\s-]*(?P<u>day|week|wk)s?[\s-]*(?:treatment\s+)?(?i:cycles?|courses?)\b|"
    rf"(?i:cycles?|courses?)\s+(?i:of|lasting|lasts?|=)\s+(?P<n2>\d+)\s*(?P<u2>days?|weeks?)|"
    rf"(?i:cycles?|courses?)\s+(?:(?i:is|are|was|were|will\s+be)\s+)?(?i:repeated|repeats?|given)?\s*"
    rf"(?i:every|ever|each)\s+(?P<n3>{COUNT})\s*(?P<u3>days?|weeks?)|"
    rf"(?i:every)\s+(?P<n4>\d+)[\s-]*(?P<u4>days?|weeks?)\s+(?i:cycles?)|\bq\s?d\s?(?P<n5>\d{{2}})\b|"
    rf"\b(?P<n6>\d+)\s*(?P<u6>wks?|weeks?|days?)\s*[x×*]\s*\d+\s*(?i:cycles)")
_QD = re.compile(r"\bq\s?d\s?\d{2}\b")  # what _CYCLE_LENGTH reads without the words cycle or course
_CYCLE_OWN = re.compile(r"\b(?i:cycles?|courses?)\s+(?P<a>\d+)(?:\s*(?:-|–|to|through)\s*(?P<b>\d+))?")
_CYCLE_TOTAL = re.compile(
    rf"(?i:(?:up\s+)?to\s+)(?P<max>{COUNT})\s+(?:(?:\d+[\s-]*(?:day|week)s?|treatment)[\s-]+)?(?i:cycles|courses)\b|"
    rf"(?<![\d-])(?P<a>\d+)\s*(?:-|–|~|to)\s*(?P<b>\d+)\s+(?i:cycles|courses)\b|"
    rf"(?P<n>{COUNT})\s+(?:(?:\d+[\s-]*(?:day|week)s?|treatment)[\s-]+)?(?i:cycles|courses)\b|"
    rf"(?P<until>(?i:until\s+(?:[\w-]+\s+){{0,4}}?progression))")
_DAYS = re.compile(
    r"\b(?i:days?|d)\s*(?P<list>\d+(?:\s*(?:-|–|to|through)\s*(?:(?i:days?|d)\s*)?\d+)?"
    r"(?:\s*(?:,|and|\+|&|,\s*and)\s*(?:(?i:days?|d)\s*)?\d+(?:\s*(?:-|–|to)\s*\d+)?)*)(?!\d|\.\d|\s*(?:mg|g)\b)|"
    r"\b(?i:from\s+day)\s*(?P<a>\d+)\s+(?i:to)\s+(?:(?i:day)\s*)?(?P<b>\d+)|"
    r"\b(?P<a2>\d+)\s*-\s*(?P<b2>\d+)\s*(?i:days)\b|\b(?i:for\s+(?:the\s+first\s+)?)(?P<first>\d+)\s+"
    r"(?i:(?:consecutive\s+)?days)\b|\b(?i:on\s+day\s+)(?P<word>one)\b")


@dataclass
class _Mention:
    """A drug named in a sentence (offsets in the sentence) and its normalised name."""

    start: int
    end: int
    drug: str


@dataclass
class _Dose:
    """A dose phrase (offsets in the sentence): the amount as written, its value per administration, its unit."""

    start: int
    end: int
    dose: str
    dose_num: float | None
    unit: str
    form: str | None = None
    drug: _Mention | None = None


@dataclass
class _Course:
    """What the whole text says beyond single sentences: the only cycle length and number of cycles stated, and
    schedule words said about a drug in sentences without a dose ("Anlotinib are taken on Days 1-14")."""

    length: int | None
    total: tuple[str, int | None] | None
    notes: dict[str, list[str]]


def extract_regimen(text: str, default_drug: str | None = None) -> list[dict]:
    """Every drug schedule line in `text`; `default_drug` names the drug of an intervention described without it
    (doses with no drug in their sentence go to a heading drug ("Paclitaxel injection:"), else `default_drug`,
    else the drug of the previous dose). Registry descriptions repeat from trial to trial ("Placebo tablets once
    daily"): the rows of the last CACHED distinct (text, drug) pairs are kept, and each call gets its own copies."""
    return [{**row, "days_list": list(row["days_list"]) if row["days_list"] else row["days_list"]}
            for row in _extract(text, default_drug)]


CACHED = 4096


@lru_cache(maxsize=CACHED)
def _extract(text: str, default_drug: str | None) -> tuple[dict, ...]:
    c = clean(text)
    spans = sentences(c.text)
    doses = [_doses(c.text[s:e]) for s, e in spans]
    course = _Course(_only(_cycle_length(c.text[s:e]) for s, e in spans),
                     _only(_cycle_total(c.text[s:e]) for s, e in spans),
                     _notes([c.text[s:e] for (s, e), found in zip(spans, doses) if not found]))
    default = _Mention(0, 0, _generic(default_drug)) if default_drug else None
    heading = previous = None
    rows: list[dict] = []
    for (s, e), found in zip(spans, doses):
        sent = c.text[s:e]
        if found:
            rows.extend(_sentence_rows(c, s, e, found, heading or default or previous, course))
            previous = _Mention(0, 0, rows[-1]["drug"]) if rows else previous
        named = _mentions(sent) if not found and sent.endswith(":") else []
        heading = _Mention(0, 0, named[-1].drug) if named else None
    _course_totals(rows)
    return tuple(rows)


def _only(values) -> object:
    """The one value stated (None when none or several differ)."""
    found = {v for v in values if v is not None}
    return found.pop() if len(found) == 1 else None


def _notes(dose_free: list[str]) -> dict[str, list[str]]:
    """Schedule words of dose-free sentences, by drug: the words from each drug name to the next."""
    notes: dict[str, list[str]] = {}
    for sent in dose_free:
        if not _SCHEDULE_WORD.search(sent):
            continue
        mentions = _mentions(sent)
        for m, nxt in zip(mentions, mentions[1:] + [None]):
            notes.setdefault(m.drug, []).append(sent[m.end:nxt.start if nxt else len(sent)])
    return notes


def _sentence_rows(c: Clean, s: int, e: int, doses: list[_Dose], fallback: _Mention | None,
                   course: _Course) -> list[dict]:
    """Rows for the doses of one sentence; `fallback` is the drug of doses whose sentence names none."""
    sent = c.text[s:e]
    mentions = _mentions(sent)
    doses = [d for d in doses if not any(m.start <= d.start < m.end for m in mentions)]
    _assign(sent, doses, mentions, fallback)
    doses = [d for d in doses if d.drug is not None]
    length = _cycle_length(sent) or course.length
    total = _cycle_total(sent) or course.total
    tail = _shared_tail(sent, doses, mentions)
    contexts = [_contexts(sent, i, doses, mentions) for i in range(len(doses))]
    for group in _listed(sent, doses):
        for i in group[:-1]:
            contexts[i].insert(1, contexts[group[-1]][0])
    sent_start, sent_end = c.span(s, e)
    rows = []
    for d, texts in zip(doses, contexts):
        row = _schedule(d, texts + course.notes.get(d.drug.drug, []) + [tail], length, total)
        span_start, span_end = c.span(s + d.start, s + d.end)
        row.update(source_text=c.original[sent_start:sent_end], span_start=span_start, span_end=span_end)
        rows.append(row)
    return rows


def _contexts(sent: str, i: int, doses: list[_Dose], mentions: list[_Mention]) -> list[str]:
    """Where a dose's route, frequency and days are read, in order: its own words after it (up to the next dose,
    drug or alternative), its own phrase, the words just before it, and the words from its drug name to the
    drug's first dose."""
    d = doses[i]
    own = sent[d.end:_scope_end(sent, d, doses[i + 1:], mentions)]
    own = _ALTERNATIVE_CLAUSE.split(own, 1)[0]
    lead_start = _lead_start(sent, d.drug) if d.drug.end <= d.start else d.start
    previous = [_scope_end(sent, x, doses[j + 1:], mentions) for j, x in enumerate(doses[:i])]
    previous = [x.end + len(_ALTERNATIVE_CLAUSE.split(sent[x.end:end], 1)[0]) for x, end in zip(doses, previous)]
    pre = sent[min(max([lead_start] + previous), d.start):d.start]
    first = next(x for x in doses if x.drug is d.drug)
    lead = sent[lead_start:first.start] if first.start >= d.drug.end else ""
    return [own, sent[d.start:d.end], pre, lead]


def _lead_start(sent: str, drug: _Mention) -> int:
    """Start of a drug name with up to four words before it in the same phrase ("two subcutaneous injections of
    dupilumab")."""
    m = re.search(r"(?:(?!(?i:or|and|plus|then|followed|with)\b)[\w.-]+\s+){0,4}$", sent[:drug.start])
    return m.start() if m else drug.start


def _listed(sent: str, doses: list[_Dose]) -> list[list[int]]:
    """Runs of doses written as a list or alternatives, which share the last one's words: doses of one drug
    ("8 mg, 12 mg, or 16 mg"; "1200mg or subcutaneously at a dosage of 1875 mg"), or alternative drugs with
    nothing between a dose and the next drug but "/" or "or" ("Carboplatin AUC5/ Cisplatin 75mg/m²(D1,Q3w)")."""
    groups, run = [], [0]
    for i in range(1, len(doses)):
        a, b = doses[i - 1], doses[i]
        if (b.drug is a.drug and _LIST_GAP.fullmatch(sent[a.end:b.start])) or (
                a.end <= b.drug.start and b.drug.end <= b.start and _DRUG_OR.fullmatch(sent[a.end:b.drug.start])
                and re.fullmatch(r"\s*[(\[:]?\s*", sent[b.drug.end:b.start])):
            run.append(i)
            continue
        groups.append(run)
        run = [i]
    groups.append(run)
    return [g for g in groups if len(g) > 1]


def _doses(sent: str) -> list[_Dose]:
    """Dose phrases of a sentence, with tablet/injection multipliers applied and thresholds left out."""
    found: list[_Dose] = []
    taken: list[tuple[int, int]] = []
    for m in _AUC.finditer(sent):
        amount = m.group("a1") or m.group("a2") or m.group("a3")
        found.append(_Dose(m.start(), m.end(), amount, parse_number(amount).value, "AUC"))
        taken.append((m.start(), m.end()))
    for m in _DOSE.finditer(sent):
        if any(a <= m.start() < b for a, b in taken) or _SKIP_BEFORE.search(sent[:m.start()]):
            continue
        unit = _unit(m.group("unit"), m.group("per"))
        found.extend(_Dose(a.start("amount"), a.end("amount"), a.group("amount"),
                           parse_number(a.group("amount")).value, unit)
                     for a in _ALTERNATIVE.finditer(sent) if a.end() == m.start())
        found.append(_multiplied(sent, m, unit))
    return sorted(found, key=lambda d: d.start)


def _unit(unit: str, per: str | None) -> str:
    """A unit written one way: "mcg" -> "µg", "Grams" -> "g", "mg per square meter" -> "mg/m2"."""
    base = _UNIT_NAMES.get(unit.lower()) or (unit if unit in ("IU", "MU", "U", "µg") else unit.lower())
    return base + ("" if not per else "/kg" if "k" in per.lower() else "/m2")


def _multiplied(sent: str, m: re.Match, unit: str) -> _Dose:
    """The dose of one administration: "2 tablets (200 mg each)" is 400 mg; the form is kept."""
    amount = m.group("amount")
    value = parse_number(amount).value if re.fullmatch(NUMBER, amount.strip()) else None
    before, after = sent[:m.start()], sent[m.end():]
    each_after = _EACH_AFTER.search(before) if re.match(r"\s*each\b", after, re.I) else None
    counted = each_after or _OF_BEFORE.search(before)
    form = counted.group("form") if counted else None
    if not counted and (found := _FORM_AFTER.match(after)):
        form = found.group("form")
        counted = _COUNT_BEFORE.search(before)
    dose = _Dose(m.start(), m.end(), amount.strip(), value, unit, _singular(form))
    if counted and value is not None:
        count = parse_number(counted.group("count")).value
        dose.start = min(dose.start, counted.start())
        dose.end += len(re.match(r"(?:\s*each\b\s*\)?)?", after).group())
        dose.dose_num = count * value
        dose.dose = _plain(dose.dose_num)
    return dose


def _singular(form: str | None) -> str | None:
    return form.lower().rstrip("s") if form else None


def _plain(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _mentions(sent: str) -> list[_Mention]:
    """Drug names in a sentence: dictionary matches, trial abbreviations and code names before a dose."""
    found = [_Mention(m.start(), m.end(), DRUG_ABBREVIATIONS[m.group()]) for m in _ABBREVIATION.finditer(sent)]
    tokens = []
    for m in _TOKEN.finditer(sent):
        glued = _GLUED.match(m.group())
        tokens.append((m.start(), m.start() + len(glued.group(1)) if glued else m.end()))
    for data, first, last in _find_drugs()([sent[a:b] for a, b in tokens]):
        if _is_drug(data):
            found.append(_Mention(tokens[first][0], tokens[last - 1][1], _generic(data["name"])))
    found.extend(_Mention(m.start(), m.end(), m.group().lower()) for m in _CODE_NAME.finditer(sent))
    found.extend(_Mention(a, b, sent[a:b].lower()) for a, b in tokens if _has_stem(sent[a:b]))
    unique: list[_Mention] = []
    for mention in sorted(found, key=lambda x: (x.start, -x.end)):
        if not any(u.start <= mention.start < u.end for u in unique):
            unique.append(mention)
    return unique


_STEM_WORD = re.compile(r".{3,}(?:%s)" % "|".join(map(re.escape, INN_STEMS)))


def _has_stem(word: str) -> bool:
    """An unknown word built on an INN drug stem ("furmonertinib"), not a short or capitalised acronym."""
    return word[1:].islower() and _STEM_WORD.fullmatch(word.lower()) is not None


@lru_cache(maxsize=1)
def _find_drugs():
    """The dictionary lookup, imported on first use (loading the dictionary takes seconds)."""
    from drug_named_entity_recognition import find_drugs

    return find_drugs


def _is_drug(data: dict) -> bool:
    """A medicine rather than a salt, class, enzyme, growth factor or solution."""
    if all(w.rstrip("s") in SALT_WORDS for w in data["name"].lower().split()):
        return False
    if data.get("drugbank_id") or data.get("medline_plus_id"):
        return True
    return any(t.startswith(("D02", "D03", "D04", "D06", "D09")) for t in data.get("mesh_tree") or [])


def _generic(name: str) -> str:
    words = name.lower().split()
    kept = [w for w in words if w not in SALT_WORDS]
    return " ".join(kept or words)


def _assign(sent: str, doses: list[_Dose], mentions: list[_Mention], default: _Mention | None) -> None:
    """Give each dose its drug: the one named right after it, else the nearest before, else the next after,
    else `default` (a heading such as "Paclitaxel injection:" or the intervention's name)."""
    for d in doses:
        inside = [m for m in mentions if d.start <= m.start < d.end]  # "2 sorafenib tablets (200 mg each)"
        after = inside + [m for m in mentions if m.start >= d.end]
        before = [m for m in mentions if m.end <= d.start]
        right_after = inside or after and re.fullmatch(r"\s*(?:of\s+)?", sent[d.end:after[0].start])
        d.drug = after[0] if right_after else before[-1] if before else after[0] if after else default


def _scope_end(sent: str, d: _Dose, later: list[_Dose], mentions: list[_Mention]) -> int:
    """Where a dose's own words end: at the next dose or the next drug name other than its own."""
    stops = [x.start for x in later] + [m.start for m in mentions if m.start >= d.end and m is not d.drug]
    return min(stops, default=len(sent))


def _shared_tail(sent: str, doses: list[_Dose], mentions: list[_Mention]) -> str:
    """The end of the sentence after the last dose, when a bracket or comma detaches it from that dose."""
    if not doses:
        return ""
    last = doses[-1]
    rest = sent[last.end:]
    if any(m.start >= last.end for m in mentions):
        return ""
    detached = re.search(r"[)\],]", rest)
    return rest[detached.end():] if detached else ""


def _schedule(d: _Dose, texts: list[str], length: int | None, total) -> dict:
    """One row: the dose with its route, frequency, days and cycles (first found in `texts`), and what they
    determine."""
    route = _first(_route, texts)
    label, per_week = _first(_frequency, texts) or (None, None)
    days_text, days_list = _first(_days, texts) or (None, None)
    cycles, n_cycles = _cycles(texts[0], total)
    own = _cycle_length(texts[0])
    if days_list:
        # "D1,8 q3wks", "on day 1 every 21 days": the interval of a day-listed schedule is its cycle.
        length = own or _first(_interval_in, texts) or length
        if length and max(days_list) > length:
            length = None  # "D1-28" is not a day list of a 21-day cycle stated elsewhere
        if _interval(label) and (len(days_list) > 1 or _interval(label) != length):
            label = per_week = None  # the interval names the cycle, not the spacing of the listed doses
        per_cycle = len(days_list) * _PER_DAY.get(label, 1) if length else None
        if per_cycle is not None:
            per_week = per_cycle * 7 / length  # the cycle's average: days 1, 4, 8, 11 of 21 days -> 1.33
    else:
        # "every 3 weeks" with no listed days: one dose per 3-week cycle unless a cycle length is stated.
        length = own or length or _interval(label)
        per_cycle = _doses_per_cycle(per_week, length)
    return {
        "drug": d.drug.drug, "dose": d.dose, "dose_num": d.dose_num, "unit": d.unit, "form": d.form,
        "route": route, "frequency": label, "doses_per_week": per_week, "days": days_text, "days_list": days_list,
        "cycle_length_days": length, "cycles": cycles, "n_cycles": n_cycles, "doses_per_cycle": per_cycle,
        "dose_per_cycle": d.dose_num * per_cycle if per_cycle is not None and d.dose_num is not None else None,
        "drug_course_total": None,
    }


def _first(read, texts: list[str]):
    return next((found for found in map(read, texts) if found), None)


def _route(text: str) -> str | None:
    hits = [(m.start(), name) for name, rx in _ROUTES for m in [rx.search(text)] if m]
    return min(hits)[1] if hits else None


def _frequency(text: str) -> tuple[str, float | None] | None:
    """(label, doses per week) of the first frequency stated in `text`, ignoring cycle-length phrases."""
    found = _frequencies(text)
    return found[0] if found else None


def _frequencies(text: str) -> list[tuple[str, float | None]]:
    """(label, doses per week) of the frequencies stated in `text`, in order, ignoring cycle-length phrases."""
    text = _without_cycle_lengths(text)
    hits = []
    for rx, label, per_week in _FREQUENCIES:
        m = rx.search(text)
        if m:
            n = next((g for g in (m.groupdict().get(k) for k in ("n", "n2", "n3")) if g), None)
            if n is not None and per_week is None and label.startswith("every") and not parse_number(n).value:
                continue  # "every 0 days" is no frequency
            if n is not None and per_week is None and "weeks" in label:
                weeks = parse_number(n).value
                label, per_week = ("weekly", 1) if weeks == 1 else (label.format(n=_plain(weeks)), 1 / weeks)
            elif n is not None and per_week is None and label.startswith("every"):
                days = parse_number(n).value
                label, per_week = _NAMED_DAYS.get(days) or (label.format(n=_plain(days)), 7 / days)
            elif n is not None:
                label = label.format(n=re.sub(r"\s+", "", n))
                per_week = parse_number(n).value if "days a week" in label else None
            hits.append((m.start(), label, per_week))
    return [hit[1:] for hit in sorted(hits, key=lambda h: h[:2])]


def _days(text: str) -> tuple[str, list[int]] | None:
    """Administration days within a cycle: "days 1-21" -> ("1-21", [1..21]), "D1,8" -> ("1,8", [1, 8])."""
    m = _DAYS.search(_without_cycle_lengths(text))
    if not m:
        return None
    if m.group("list"):
        parts = re.findall(r"(\d+)(?:\s*(?:-|–|to|through)\s*(?:(?i:days?|d)\s*)?(\d+))?", m.group("list"))
    elif m.group("a") or m.group("a2"):
        parts = [(m.group("a") or m.group("a2"), m.group("b") or m.group("b2"))]
    else:
        parts = [("1", m.group("first"))] if m.group("first") else [("1", "")]
    days: list[int] = []
    for a, b in parts:
        days.extend(range(int(a), int(b) + 1) if b else [int(a)])
    text = ",".join(f"{a}-{b}" if b else a for a, b in parts)
    return text, days


def _may_state_cycle(text: str) -> bool:
    """Whether `text` has a word every cycle-length phrase needs (cycle, course, or "qd21"): most texts have none,
    and the full pattern is slow to fail."""
    low = text.lower()
    return "cycl" in low or "course" in low or _QD.search(text) is not None


def _without_cycle_lengths(text: str) -> str:
    """`text` with its cycle-length phrases blanked (offsets kept)."""
    return _CYCLE_LENGTH.sub(lambda m: " " * len(m.group()), text) if _may_state_cycle(text) else text


@lru_cache(maxsize=512)
def _cycle_length(text: str) -> int | None:
    if not _may_state_cycle(text):
        return None
    m = _CYCLE_LENGTH.search(text)
    if not m:
        return None
    n = next(m.group(k) for k in ("n", "n2", "n3", "n4", "n5", "n6") if m.group(k))
    unit = next((m.group(k) for k in ("u", "u2", "u3", "u4", "u6") if m.group(k)), "day")
    return int(parse_number(n).value * (7 if unit.lower().startswith("w") else 1))


@lru_cache(maxsize=512)
def _cycle_total(text: str) -> tuple[str, int | None] | None:
    """(cycles text, number of cycles) of a whole course: ("1-6", 6), ("up to 4", None), ("until progression", None)."""
    low = text.lower()
    if "cycle" not in low and "course" not in low and "progression" not in low:
        return None
    m = _CYCLE_TOTAL.search(_CYCLE_LENGTH.sub(lambda x: x.group() if "cycles" in x.group() else " " * len(x.group()),
                                              text))
    if not m:
        return None
    if m.group("until"):
        return "until progression", None
    if m.group("max"):
        return f"up to {parse_number(m.group('max')).text}", None
    if m.group("a"):
        return f"{m.group('a')}-{m.group('b')} cycles", None
    n = int(parse_number(m.group("n")).value)
    return ("1" if n == 1 else f"1-{n}"), n


def _cycles(own: str, total) -> tuple[str | None, int | None]:
    """A dose's own cycles ("in cycle 1", "in cycles 2-6"), else the course's."""
    m = _CYCLE_OWN.search(own)
    if m:
        a, b = int(m.group("a")), int(m.group("b") or m.group("a"))
        return (f"{a}-{b}" if b != a else str(a)), b - a + 1
    return _cycle_total(own) or total or (None, None)


def _doses_per_cycle(per_week: float | None, length: int | None) -> float | None:
    """Doses in a cycle of a schedule without listed days: doses per week × length / 7 when a whole number."""
    if length is None or per_week is None:
        return None
    count = per_week * length / 7
    return round(count) if abs(count - round(count)) < 1e-9 else None


def _interval(label: str | None) -> int | None:
    """The days between doses of an interval frequency ("every 3 weeks" -> 21, "every 28 days" -> 28); None for
    shorter-than-weekly frequencies."""
    m = _INTERVAL.fullmatch(label or "")
    if not m:
        return None
    days = float(m.group("n")) * (7 if m.group("u") == "weeks" else 1)
    return int(days) if days == int(days) and days >= 7 else None


def _interval_in(text: str) -> int | None:
    """The first interval frequency stated in `text` ("q3wks" -> 21), whatever other frequencies precede it."""
    return next((days for label, _ in _frequencies(text) if (days := _interval(label))), None)


def _course_totals(rows: list[dict]) -> None:
    """Sum each drug's dose over its whole course, when every one of its rows determines its share."""
    for drug in {r["drug"] for r in rows}:
        own = [r for r in rows if r["drug"] == drug]
        if len({r["unit"] for r in own}) == 1 and all(r["dose_per_cycle"] is not None and r["n_cycles"]
                                                      for r in own):
            total = sum(r["dose_per_cycle"] * r["n_cycles"] for r in own)
            for r in own:
                r["drug_course_total"] = total

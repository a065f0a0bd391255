"""Endpoints stated in an abstract, and their match against the endpoints a registry record lists.

`extract_endpoints(text)` reads "The primary endpoint(s) was/were ...", "secondary end points included ...",
"primary outcome measure was ...", "Primary endpoint: ..." and "X was the primary end point"; a list
("X at 24 weeks and the incidence of Y") gives one row per item. An item's time frame ("at 24 weeks", "at week 16",
"within 30 days") goes to `time_frame` and leaves the measure.

`match_endpoints(publication, registry)` pairs them by this rule:
- each measure is normalised: lower case; an abbreviation defined in any of the texts ("serum vascular endothelial
  growth factor (VEGF)") is replaced by its long form; durations, stop words and generic words (patients,
  participants, number, percentage, proportion, rate, incidence, ...) are dropped; words are stemmed by stripping
  common suffixes (-s, -es, -ies, -ed, -ing, -ion, -al, ...);
- similarity = shared words / words of the shorter measure (overlap coefficient), ties broken by Jaccard;
- time frames: when both sides state durations and none agree within 10%, the score is multiplied by
  `TIME_CONFLICT_FACTOR` (0.7)
  (a conflict lowers the score, it does not veto: a registered endpoint whose time frame changed is still found,
  so the change can be reported; between registry entries that differ only in time frame, the agreeing one wins);
- pairs scoring at least `MATCH_THRESHOLD` (0.6) are assigned greedily, each registry endpoint at most once: first
  the pairs of the same kind (primary with primary) whose registry measure shares as many words with the publication
  measure as any other candidate does (the overlap coefficient alone would prefer a shorter registry measure of the
  other kind that shares fewer words, and call the endpoint switched), then the rest; within each, best score first
  (same kind first on ties). A publication endpoint left without a pair is None.
"""

from __future__ import annotations

import re

from kb.extract.common import DURATION, Clean, clean, durations, sentences

ROW_KEYS = ("kind", "measure", "time_frame", "source_text", "span_start", "span_end")
MATCH_THRESHOLD = 0.6
TIME_CONFLICT_FACTOR = 0.7

_KIND = r"(?P<kind>(?i:co-?primary|primary|key\s+secondary|secondary|exploratory|tertiary))"
_END = r"(?i:end[\s-]?points?|outcomes?(?:\s+measures?)?|efficacy\s+(?:end[\s-]?points?|outcomes?))"
_VERB = r"(?i:was|were|is|are|will\s+be|includes|included|include|consisted\s+of|comprised|being)\b"
_HEAD_FIRST = re.compile(rf"\b{_KIND}\s+(?:(?i:efficacy|safety|study)\s+)?{_END}(?:\s*\(s\))?"
                         rf"(?:\s+(?i:of|in)\s+(?i:the|this)\s+(?i:study|trial))?"
                         rf"(?:\s*(?i:was|were|is)\s+to\s+(?i:assess|evaluate|compare|determine)\s+|"
                         rf"\s*(?::|{_VERB})\s*)"
                         rf"(?P<list>[^;]+?)\s*(?:[.;]|$)")
_SUBJECT_FIRST = re.compile(rf"(?P<list>[^.;:]+?)\s+(?i:was|were|is|are|will\s+be|served\s+as)\s+(?:(?i:the|a|an)\s+)?"
                            rf"{_KIND}\s+(?:(?i:efficacy|safety)\s+)?{_END}")
_ANY = re.compile(rf"{_KIND}\s+(?:\w+\s+)?{_END}")
_DEFINITION = re.compile(r",\s*(?i:defined\s+as|i\.e\.|which|as\s+(?:measured|assessed|defined))\b")
_TIME = re.compile(rf"\s*,?\s*\b(?i:at|after|within|over|through|by|during|for|up\s+to|until|to)\s+(?:the\s+)?"
                   rf"(?:{DURATION.pattern})")
_ITEM_LEAD = re.compile(r"(?:\s|,|\b(?i:and|or|the|as\s+well\s+as|both|including)\b)+")
_NUMBERED = re.compile(r"\((?:[1-9]|[ivx]{1,4}|[a-h])\)\s")  # (1) (2) / (i) (ii) / (a) (b): an enumerated item starts
_STOP = {"the", "a", "an", "of", "in", "at", "to", "and", "or", "for", "with", "by", "on", "from", "as", "who",
         "that", "which", "were", "was", "is", "are", "be", "been", "has", "have", "had", "its", "their", "his",
         "her", "than", "per", "each", "any", "all", "after", "before", "during", "within", "over", "up", "until",
         "week", "month", "day", "year", "patients", "patient", "participants", "participant", "subjects", "number",
         "percentage", "percent", "proportion", "rate", "rates", "incidence", "measure", "measured", "assessed",
         "baseline", "time", "frame", "evaluation", "assessment"}
_SUFFIXES = ("ational", "ization", "ations", "ation", "ments", "ment", "ings", "ing", "ions", "ion", "ies", "ied",
             "ed", "es", "s", "al", "ly")


def extract_endpoints(text: str) -> list[dict]:
    """Endpoints named in `text`, one dict per item (keys in `ROW_KEYS`)."""
    c = clean(text)
    rows: list[dict] = []
    for s, e in sentences(c.text):
        sent = c.text[s:e]
        if not _ANY.search(sent):
            continue
        for m, end in [*_head_first(sent), *((m, m.end("list")) for m in _SUBJECT_FIRST.finditer(sent))]:
            items = _split_items(sent, m.start("list"), end, subject=m.re is _SUBJECT_FIRST)
            rows.extend(_row(c, s, e, sent, _kind(m.group("kind")), a, b) for a, b in items)
    return sorted(rows, key=lambda r: r["span_start"])


def _head_first(sent: str) -> list[tuple[re.Match, int]]:
    """"The primary endpoint was X" matches, each list ending where the next endpoint head or a definition starts."""
    heads = [h.start() for h in _ANY.finditer(sent)]
    found = []
    for m in filter(None, (_HEAD_FIRST.match(sent, h) for h in heads)):
        later = [h for h in heads if h > m.start("list")]
        definition = _DEFINITION.search(sent, m.start("list"), m.end("list"))
        found.append((m, min([m.end("list")] + later[:1] + ([definition.start()] if definition else []))))
    return found


def _kind(word: str) -> str:
    word = word.lower()
    return "primary" if "primary" in word else "secondary" if "secondary" in word else "other"


def _split_items(sent: str, start: int, end: int, subject: bool) -> list[tuple[int, int]]:
    """Top-level items of a list: a numbered list ("(1) X and (2) Y, or Z") splits at its numbers only, since an
    item may hold commas and "or" ("Y, or Z" is one composite endpoint); any other list splits at commas and
    semicolons, and at "and" after an item of two or more words or an abbreviation ("PFS and OS", not "safety and
    efficacy"); never inside brackets."""
    if subject:  # "In this trial, progression-free survival was ...": the subject is the last clause
        cut = max((m.end() for m in re.finditer(r",|\band\b", sent[start:end])), default=0)
        start += cut
    numbers = [m.start() for m in _NUMBERED.finditer(sent, start, end)]
    if len(numbers) >= 2 and _NUMBERED.match(sent, start) is not None:
        return [span for span in (_strip_item(sent, a, b) for a, b in zip(numbers, numbers[1:] + [end]))
                if span[1] > span[0]]
    pieces, depth, last = [], 0, start
    for i in range(start, end):
        ch = sent[i]
        depth += 1 if ch in "([" else -1 if ch in ")]" else 0
        if depth == 0 and (ch in ",;" or sent.startswith(" and ", i) and _item_like(sent[last:i])):
            pieces.append((last, i))
            last = i + (1 if ch in ",;" else 5)
    pieces.append((last, end))
    return [span for span in (_strip_item(sent, a, b) for a, b in pieces) if span[1] > span[0]]


def _item_like(text: str) -> bool:
    words = text.split()
    return len(words) >= 2 or bool(words) and words[0].isupper() and len(words[0]) > 1


def _strip_item(sent: str, a: int, b: int) -> tuple[int, int]:
    lead = _ITEM_LEAD.match(sent, a, b)
    a = lead.end() if lead else a
    a = number.end() if (number := _NUMBERED.match(sent, a, b)) else a
    trail = re.search(r"(?:\s|,|\.|\b(?:and|or|the)\b)+$", sent[a:b])
    return a, (a + trail.start() if trail else b)


def _row(c: Clean, s: int, e: int, sent: str, kind: str, a: int, b: int) -> dict:
    item = sent[a:b]
    time = _TIME.search(item)
    measure_end = a + time.start() if time and not item[time.end():].strip() else b
    found = durations(time.group() if time else item)
    time_frame = found[0][2] if found else None
    span_start, span_end = c.span(s + a, s + measure_end)
    sent_start, sent_end = c.span(s, e)
    measure = re.sub(r"\s+", " ", item[: measure_end - a] if measure_end < b else _TIME.sub("", item)).strip(" ,")
    return {"kind": kind, "measure": measure, "time_frame": time_frame,
            "source_text": c.original[sent_start:sent_end], "span_start": span_start, "span_end": span_end}


def match_endpoints(publication: list[dict], registry: list[dict]) -> list[int | None]:
    """For each publication endpoint, the index of its registry endpoint or None (rule in the module docstring)."""
    texts = [p.get("source_text") or "" for p in publication] + [p.get("measure") or "" for p in publication] + \
            [f"{r.get('measure') or ''} {r.get('description') or ''}" for r in registry]
    defined = _definitions(" ".join(texts))
    pub_words = [_words(p.get("measure") or "", defined) for p in publication]
    reg_words = [_words(r.get("measure") or "", defined) for r in registry]
    scored = []
    for i, p in enumerate(publication):
        candidates = []
        for j, r in enumerate(registry):
            factor = _time_factor(p.get("time_frame"), r.get("time_frame"))
            score = tuple(x * factor for x in _similarity(pub_words[i], reg_words[j]))
            if score[0] >= MATCH_THRESHOLD:
                same_kind = (p.get("kind") or "") == (r.get("kind") or "").lower()
                candidates.append((score, same_kind, len(pub_words[i] & reg_words[j]) * factor, j))
        most = max((shared for *_, shared, _ in candidates), default=0)
        scored.extend(((same_kind and shared >= most), score, same_kind, -j, i, j)
                      for score, same_kind, shared, j in candidates)
    result: list[int | None] = [None] * len(publication)
    used: set[int] = set()
    for *_, i, j in sorted(scored, reverse=True):
        if result[i] is None and j not in used:
            result[i] = j
            used.add(j)
    return result


def _similarity(a: set[str], b: set[str]) -> tuple[float, float]:
    """(overlap coefficient, Jaccard) of two word sets."""
    if not a or not b:
        return 0.0, 0.0
    shared = len(a & b)
    return shared / min(len(a), len(b)), shared / len(a | b)


def _time_factor(pub: str | None, reg: str | None) -> float:
    """1 unless both time frames state durations and none agree within 10%; then TIME_CONFLICT_FACTOR."""
    mine = [days for _, days, _ in durations(pub or "")]
    theirs = [days for _, days, _ in durations(reg or "")]
    if not mine or not theirs:
        return 1.0
    agree = any(abs(x - y) <= 0.1 * max(x, y) for x in mine for y in theirs)
    return 1.0 if agree else TIME_CONFLICT_FACTOR


def _definitions(text: str) -> dict[str, str]:
    """Abbreviations defined as "long form (ABBR)", long form chosen by the abbreviation's initials."""
    found = {}
    for m in re.finditer(r"((?:[A-Za-z][\w-]*\s+){1,10})\(\s*([A-Z][A-Za-z0-9-]{1,9})\s*\)", text):
        words, abbr = m.group(1).split(), m.group(2)
        letters = sum(ch.isupper() for ch in abbr) or len(abbr)
        taken, parts = [], 0
        for word in reversed(words):
            taken.insert(0, word)
            parts += len([p for p in word.split("-") if p])
            if parts >= letters:
                break
        if taken and taken[0][0].lower() == abbr[0].lower():
            found[abbr.lower()] = " ".join(taken).lower()
    return found


def _words(measure: str, defined: dict[str, str]) -> set[str]:
    """The normalised word set of a measure."""
    text = re.sub(r"\(\s*[A-Z][A-Za-z0-9-]{1,9}\s*\)", " ", measure)
    text = DURATION.sub(" ", text).lower()
    tokens = []
    for token in re.findall(r"[a-z][a-z0-9]*", text):
        tokens.extend(re.findall(r"[a-z][a-z0-9]*", defined.get(token, token)))
    return {_stem(t) for t in tokens if t not in _STOP}


def _stem(word: str) -> str:
    """Strip the first matching common suffix, keeping at least three letters ("events" -> "event")."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
    return word

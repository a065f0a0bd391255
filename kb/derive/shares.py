"""Shares and totals in an abstract: a percentage against its count and denominator, two groups' shares compared,
subgroup sizes against their total. Pairing with evidence (module docstring of `abstract_checks`): only numbers the
text relates are checked together, and the check names the words that relate them.
"""

from __future__ import annotations

import re

from kb.checks import p_two_proportions, parts_sum_to_total, percent_of_count
from kb.checks.verdict import Verdict, not_checkable
from kb.derive.pairing import TWO_GROUPS, between, same_sentence, with_pairing
from kb.extract.stats import POPULATION

# "Of the 282 patients, ...", "Among these 60 women, ...", "In this subpopulation of 47 patients, ...": the
# denominator of the shares that follow in the clause.
OF_TOTAL = re.compile(r"(?:^|[;:]\s*|\b[A-Z]+S?:\s*)(?i:of|among|in)\s+(?i:the\s+|these\s+|this\s+|all\s+|those\s+)?"
                      r"(?:[a-z]+\s+of\s+)?(?i:remaining\s+|included\s+|enrolled\s+)?(?P<n>\d[\d,]*)\s+"
                      r"(?P<noun>[A-Za-z][\w-]*)[^,;:]{0,40},")
# "a total of 303 patients (mean age, 45 years) underwent X: 213 patients (70.2%) ... and 90 (28.7%) ...": a total,
# then a colon and the shares it is split into.
TOTAL_COLON = re.compile(rf"(?P<n>\d[\d,]*)\s+(?:[A-Za-z][\w-]*\s+){{0,3}}?(?P<noun>{POPULATION})[^:;]{{0,100}}:\s")
PARTITION = re.compile(r"\b(?i:divided|split|randomi[sz]ed|allocated|assigned|stratified|separated|categori[sz]ed|"
                       r"classified|grouped)(?:\s+(?i:them|these|those|the\s+\w+))?\s+(?i:into|to|in|between)\b|"
                       r"\b(?i:consist\w*\s+of|compris\w*|of\s+whom|made\s+up\s+of)\b")
INCOMPLETE = re.compile(r"\b(?i:most\s+common\w*|most\s+frequent\w*|including|includ\w+\s+\d|such\s+as|e\.g\.|mainly|"
                        r"especially|notably|among\s+(?:them|these|others)|others?\b|remaining)")
CONCENTRATION = re.compile(r"(?i:bupivacaine|lidocaine|lignocaine|ropivacaine|levobupivacaine|mepivacaine|"
                           r"chlorhexidine|povidone|saline|dextrose|glucose\s+solution|ethanol|alcohol\s+solution|"
                           r"solution|gel\b|cream|ointment|drops|w/v|v/v|w/w|eye\s*drops|rinse|mouthwash|"
                           r"isoflurane|sevoflurane|desflurane|oxygen|O2\b|CO2\b)")
ESTIMATE = re.compile(r"(?i:kaplan|actuarial|survival|probabilit|cumulative\s+incidence|estimated|life[- ]table|"
                      r"free\s+(?:survival|interval|rate)|event[- ]free|\d+-year|\d+-month|"
                      r"at\s+\d+\s+(?:years?|months?))")
ACCURACY = re.compile(r"(?i:sensitivit|specificit|positive\s+predictive|negative\s+predictive|\bPPV\b|\bNPV\b|"
                      r"accuracy|likelihood\s+ratio|area\s+under|\bAUC\b)")


# --- percentages ---------------------------------------------------------------------------------------------------


def percent_check(rows: list[dict], row: dict) -> list[tuple[Verdict, list[str]]]:
    """A percentage against its count and denominator, when the text relates them (module docstring)."""
    near = same_sentence(rows, row)
    n, k, evidence = row["n"], row.get("k"), row.get("pairing")
    uses = [row["id"]] + [r["id"] for r in near if r["statistic"] in ("count", "n") and k is not None
                          and r["value"] == k and abs(r["span_start"] - row["span_start"]) < 80]
    if n is None:
        lead = _of_total(row)
        noun = _counted_noun(evidence or "")
        if lead and noun and not _same_noun(lead["noun"], noun):
            lead = None  # "Among 20,499 deliveries, there were 419 women (2.1%)": women are not deliveries
        if lead and _names_a_group(row):
            lead = None  # "in 177 patients: in 79 (5.25%) patients from the bezafibrate group": a share of the group
        if lead:
            n, evidence = int(lead["n"].replace(",", "")), (evidence + "; " if evidence else "") + lead.group().strip()
    if n is None and k is None:
        return []
    inputs = {"percent": row["value"], "k": k, "n": n, "pairing": evidence}
    reason = _not_a_share(row)
    if reason:
        return [(not_checkable("percent_of_count", inputs, row["value"],
                               f"Not checked: {row['value']}% {reason}, not a whole share of a stated n."), uses)]
    if n is None:
        return [_count_without_denominator(rows, row, k, evidence, uses)]
    return [(with_pairing(percent_of_count(row["value"], int(n), k), evidence), uses)]


def _count_without_denominator(rows: list[dict], row: dict, k: str, evidence: str,
                               uses: list[str]) -> tuple[Verdict, list[str]]:
    """ "k (x%)" without its denominator: consistent when k of one of the sizes the abstract states (a group's n, or
    the n of a "k of n") gives x% (that size is then named as the evidence); otherwise not checkable, since the text
    does not say what x% is of."""
    sizes = {int(r["value_num"]): r for r in rows if r["statistic"] == "n" and r["value_num"]}
    sizes |= {int(r["n"]): r for r in rows if r["statistic"] == "count" and r["n"] and int(r["n"]) not in sizes}
    sizes = sorted(sizes.items())
    for size, stated in sizes:
        verdict = percent_of_count(row["value"], size, k)
        if verdict["verdict"] == "consistent":
            verdict["detail"] += f" The denominator is not written beside it; {size} is the n stated in " \
                                 f"\"{stated['source_text']}\"."
            return with_pairing(verdict, f"{evidence}; n = {size} stated elsewhere, the one that fits"), \
                uses + [stated["id"]]
    inputs = {"percent": row["value"], "k": k, "n": None, "pairing": evidence}
    return not_checkable("percent_of_count", inputs, row["value"],
                         f"Cannot check {row['value']}% of a count of {k}: the text states no denominator for it "
                         f"(\"{evidence}\"), and none of the sizes it states elsewhere gives it."), uses


def _of_total(row: dict):
    """The "Of the N patients," opening the clause the percentage is in, or the "N patients ...:" whose colon opens
    the list it is in (its match in the sentence), or None."""
    sentence, at = row["source_text"] or "", row["span_start"] - (row.get("sentence_start") or 0)
    found = None
    for pattern in (OF_TOTAL, TOTAL_COLON):
        for match in pattern.finditer(sentence):
            if match.end() <= at and not re.search(r"[;:]", sentence[match.end():max(at, match.end())]):
                found = match
    return found


def _names_a_group(row: dict) -> bool:
    """The words after a percentage name the group it is a share of ("... patients from the placebo group")."""
    sentence, at = row["source_text"] or "", row["span_end"] - (row.get("sentence_start") or 0)
    return TWO_GROUPS.search(re.split(r"[,;]|\b(?:and|vs\.?|versus)\b", sentence[at:at + 80])[0]) is not None


def _counted_noun(pairing: str) -> str | None:
    """What a count counts, from the words that pair it with its percentage ("419 women (2.1%)" → women)."""
    found = re.match(r"\s*\S+\s+(?:(?:of|out\s+of)\s+\S+\s+)?([A-Za-z][\w-]*)", pairing)
    return found.group(1) if found and not found.group(1).lower().startswith(("of", "percent")) else None


def _same_noun(a: str, b: str) -> bool:
    """Two counted nouns name the same unit ("patients" and "patients with X", "case" and "cases")."""
    stem = lambda word: word.lower().rstrip("s")  # noqa: E731
    return stem(a) in {stem(w) for w in re.findall(r"[A-Za-z]+", b)}


def _not_a_share(row: dict) -> str:
    """Why a percentage is not a share of whole patients ("" when it may be)."""
    sentence = row["source_text"] or ""
    at = row["span_start"] - (row.get("sentence_start") or 0)
    window = sentence[max(0, at - 40):at + 40]
    if CONCENTRATION.search(window) and not row.get("k"):
        return "is a concentration"
    if ACCURACY.search(sentence[max(0, at - 80):at + 10]):
        return "is a diagnostic accuracy, whose denominator is a subset (the cases or the non-cases)"
    if ESTIMATE.search(sentence[max(0, at - 120):at + 20]) and not re.search(r"\d\s*/\s*\d|\bof\s+\d", window):
        return "is a Kaplan–Meier or actuarial estimate, which censoring keeps from being k of n"
    return ""


# --- two proportions ---------------------------------------------------------------------------------------------


def two_proportions(rows: list[dict]) -> list[tuple[Verdict, list[str]]]:
    """Two shares with their counts and denominators compared in one clause ("14 of 379 (3.7%) in the intervention
    group and 17 of 340 (5.0%) in the control group (p=0.46)"): the p of the 2×2 table they make."""
    found = []
    shares = [r for r in rows if r["statistic"] == "percent" and r.get("k") and r["n"]]
    for first, second in zip(shares, shares[1:]):
        if first["source_text"] != second["source_text"]:
            continue
        sentence = first["source_text"] or ""
        gap = between(sentence, first, second)
        if ";" in gap or not TWO_GROUPS.search(gap + between(sentence, second, second | {"span_start": len(
                sentence) + (second.get("sentence_start") or 0)})[:60]):
            continue
        p_row = second if second["p_text"] else next(
            (r for r in same_sentence(rows, second) if r["statistic"] == "p_value_only"
             and second["span_end"] <= r["span_start"] and not _sharesbetween(shares, second, r)), None)
        if p_row is None:
            continue
        evidence = f"two groups compared: \"{first['pairing']}\" and \"{second['pairing']}\""
        found.append((with_pairing(p_two_proportions(first["k"], first["n"], second["k"], second["n"],
                                                     p_row["p_text"]), evidence),
                      [first["id"], second["id"], p_row["id"]]))
    return found


def _sharesbetween(shares: list[dict], a: dict, b: dict) -> bool:
    return any(a["span_end"] <= s["span_start"] < b["span_start"] for s in shares)


# --- parts of a total ----------------------------------------------------------------------------------------------


def parts_checks(rows: list[dict]) -> list[tuple[Verdict, list[str]]]:
    """Subgroup sizes against the total the same sentence splits into them ("60 patients were divided into group A
    (n = 30) and group B (n = 30)")."""
    found, done = [], set()
    for row in rows:
        if row["statistic"] != "n" or not row["group"] or row["source_text"] in done:
            continue
        sentence = row["source_text"] or ""
        done.add(sentence)
        parts = [r for r in rows if r["source_text"] == sentence and r["statistic"] == "n" and r["group"]]
        wholes = [r for r in same_sentence(rows, row) if r["statistic"] == "n" and not r["group"]
                  and r["span_end"] <= parts[0]["span_start"]]
        if len(parts) < 2 or not wholes:
            continue
        whole = wholes[-1]
        split = between(sentence, whole, parts[0])
        cue = PARTITION.search(split) or re.match(r"\s*[A-Za-z ]{0,30}[(\[]", split)
        if not cue or INCOMPLETE.search(sentence):
            continue
        verdict = parts_sum_to_total([r["value"] for r in parts], whole["value"])
        found.append((with_pairing(verdict, f"\"{whole['value']} ... {cue.group().strip()}\" splits the total into "
                                            "the parts"), [r["id"] for r in parts] + [whole["id"]]))
    return found

"""Checks of an article's abstract: its reported numbers recomputed from one another.

Pairing with evidence, abstention by default. A number enters a check with another only through a relation the text
states, and every check names that evidence in its `inputs` (`pairing`):
- a percentage and its count and denominator: "k/n (x%)", "k of n (x%)", "x% (k/n)", "x% (n = k)" (k is the count),
  "x% [n = k/m]", "(n = k, x%)", or a clause opening "Of the n patients," ("Among these n, ...");
- subgroup sizes and their total: the total stated in the same sentence before them, and a word saying the total
  was split into them ("divided into", "randomized to", "of whom", "consisting of"...); never a list introduced as
  incomplete ("the most common were", "including", "such as");
- means and their p-value: a mean ± SD/SE with a p is tested as the text describes it — two groups ("A vs B",
  "compared with", a group named for each) with each group's n stated; a before/after pair ("from A to B",
  "before/after", "baseline") with the patients' n; one sample only when the mean is itself a change or difference
  and nothing is compared. A p-value of a comparison is never reproduced from one group's mean.
The study's overall n (a size that names no subgroup) stands in for a missing n only in a single-group study (no
arms, groups, randomisation, placebo or controls in the abstract). Percentages that are concentrations ("0.5%
bupivacaine"), Kaplan–Meier or actuarial estimates, or diagnostic accuracy (sensitivity, specificity, PPV, NPV) are
not whole shares of a stated n: with a count or denominator beside them they are `not_checkable`, saying why.
"""

from __future__ import annotations

import re

import sqlite_utils

from kb.checks import (
    check_apa_text,
    p_from_difference_ci,
    p_from_ratio_ci,
    p_one_sample,
    p_paired,
    p_two_groups,
    relative_change,
)
from kb.checks.bounds import estimate_in_interval
from kb.checks.verdict import Verdict, not_checkable
from kb.derive.pairing import TWO_GROUPS, between, same_sentence, with_pairing
from kb.derive.shares import parts_checks, percent_check, two_proportions
from kb.store.documents import get_row, rows_where

REDUCTION = re.compile(r"reduction|reduc|decreas|declin|fall|drop|lower", re.IGNORECASE)
CHANGE = re.compile(r"reduc|decreas|declin|fall|drop|chang|increas|improv|rise|gain|differ", re.IGNORECASE)
WORD = re.compile(r"[a-z][a-z0-9-]{2,}", re.IGNORECASE)
RATIOS = ("hazard_ratio", "odds_ratio", "risk_ratio")
COMPARED = re.compile(r"\b(?i:vs\.?|versus|compared\s+(?:with|to)|than|between|relative\s+to|group|groups|arm|arms|"
                      r"placebo|control|controls)\b")
PAIRED = re.compile(r"\b(?i:before|after|pre-?|post-?|baseline|follow-?up|paired|signed[- ]rank|wilcoxon|"
                    r"from\s+\S+\s+to)\b")
MULTI_GROUP = re.compile(r"\b(?i:randomi[sz]\w*|placebo|control\s+group|controls\b|arms?\b|groups\b|versus|vs\.?|"
                         r"cohorts\b|compared\s+with)")
SINGLE_GROUP = re.compile(r"\b(?i:single[- ]arm|single[- ]group|one[- ]arm|single[- ]cohort|uncontrolled|"
                          r"case\s+series)\b")
BACKGROUND = re.compile(r"(?i:background|objectives?|introduction|purpose|aims?|context|rationale|importance)\s*:")
NAMED_ONE_SAMPLE = re.compile(r"\b(?i:one[- ]sample|single[- ]sample|against\s+(?:zero|0)|from\s+baseline)\b")


def _words(text: str | None) -> set[str]:
    return {w.lower() for w in WORD.findall(text or "")}


def sample_size(rows: list[dict]) -> dict | None:
    """The article's overall n: the largest `n` row that names no subgroup."""
    sizes = [r for r in rows if r["statistic"] == "n" and not r["group"] and r["value_num"] is not None]
    return max(sizes, key=lambda r: r["value_num"], default=None)


def article_checks(db: sqlite_utils.Database, aid: str) -> list[tuple[Verdict, list[str]]]:
    rows = list(rows_where(db, "results", "subject = ? and source = 'publication' and kind = 'abstract'", [aid],
                           order_by="span_start"))
    return statistics_checks(rows, get_row(db, "articles", aid)["abstract"] or "")


def statistics_checks(rows: list[dict], text: str) -> list[tuple[Verdict, list[str]]]:
    """Every check the reported numbers of one text allow (`rows` as `extract_stats` gives them, with an `id`),
    and the APA-style test statistics in `text`; each with the ids of the rows it used."""
    single = _single_group_total(rows, text)
    found = []
    for row in rows:
        if _mean_with_sd(row) and not row["role"] and (p_text := row["p_text"] or _p_after(rows, row)):
            found.append(_mean_check(rows, {**row, "p_text": p_text}, single))
        elif row["statistic"] in RATIOS and row["p_text"]:
            found.append((with_pairing(p_from_ratio_ci(row["value"], row["lower"], row["upper"], row["p_text"],
                                                       level=row["ci_pct"] or "95",
                                                       measure=row["statistic"].replace("_", " ")),
                                       "the ratio, its CI and its p in one phrase"), [row["id"]]))
        elif _difference(row) and row["p_text"]:
            found.append((with_pairing(p_from_difference_ci(row["value"], row["lower"], row["upper"], row["p_text"],
                                                            level=row["ci_pct"] or "95", measure=row["measure"]),
                                       "the difference, its CI and its p in one phrase"), [row["id"]]))
        elif row["statistic"] == "percent":
            found.extend(percent_check(rows, row))
        if row["lower"] and row["upper"] and row["dispersion_type"] in ("ci", "range", "iqr"):
            found.append((with_pairing(estimate_in_interval(row["value"], row["lower"], row["upper"],
                                                            interval=row["dispersion_type"], level=row["ci_pct"],
                                                            measure=(row["statistic"] or "").replace("_", " ")),
                                       "the estimate and its interval in one phrase"), [row["id"]]))
    found.extend(_pair_checks(rows, single))
    found.extend(two_proportions(rows))
    found.extend(parts_checks(rows))
    found.extend((with_pairing(verdict, "the test statistic, its degrees of freedom and its p in one phrase"), [])
                 for verdict in check_apa_text(text))
    return [item for item in found if item is not None]




def _single_group_total(rows: list[dict], text: str) -> dict | None:
    """The study's overall n, when the abstract describes a single group: it says so ("single-arm"), or its
    methods and results name nothing the patients were split into (background sections may cite other trials)."""
    total = sample_size(rows)
    if total is None:
        return None
    if SINGLE_GROUP.search(text):
        return total
    own = "\n\n".join(part for part in text.split("\n\n") if not BACKGROUND.match(part))
    return None if MULTI_GROUP.search(own) else total


def _as_written(row: dict, field: str) -> str:
    """A number with its % sign when the unit is percent, as the abstract wrote it."""
    return f"{row[field]}%" if row["unit"] == "%" else row[field]


def _int(value) -> int | None:
    return None if value is None else int(value)




def _difference(row: dict) -> bool:
    """A difference (of means, proportions or risks) with a confidence interval: its null value is 0."""
    named = row["statistic"] == "mean_difference" or "difference" in (row["measure"] or "").lower()
    return named and row["dispersion_type"] == "ci" and bool(row["lower"] and row["upper"])


# --- means and their p-values --------------------------------------------------------------------------------------


def _mean_check(rows: list[dict], row: dict, single: dict | None) -> tuple[Verdict, list[str]] | None:
    """A mean ± SD/SE with a p: tested as the sentence describes the comparison (module docstring)."""
    sentence = row["source_text"] or ""
    partner = _compared_mean(rows, row)
    dispersion_type = row["dispersion_type"] or "pm"
    if partner is not None:
        gap = between(sentence, partner, row)
        if PAIRED.search(sentence) and not TWO_GROUPS.search(gap):
            n = row["n"] or partner["n"] or (single["value_num"] if single else None)
            uses = [partner["id"], row["id"]] + ([single["id"]] if single and not (row["n"] or partner["n"]) else [])
            inputs = {"pairing": f"a before/after pair: \"{gap.strip()}\""}
            if n is None:
                return not_checkable("p_from_paired_means", inputs, row["p_text"],
                                     "Cannot recompute the paired p: the text states no n for the pair."), uses
            return with_pairing(p_paired(partner["value"], partner["dispersion"], row["value"], row["dispersion"],
                                         _int(n), row["p_text"], dispersion_type=dispersion_type),
                                inputs["pairing"]), uses
        uses = [partner["id"], row["id"]]
        evidence = f"two groups compared: \"{gap.strip()}\""
        if partner["n"] is None or row["n"] is None:
            return not_checkable("p_from_two_means", {"pairing": evidence}, row["p_text"],
                                 "Cannot recompute the p of two groups: the text does not state each group's n "
                                 "beside its mean."), uses
        return with_pairing(p_two_groups(partner["value"], partner["dispersion"], partner["n"], row["value"],
                                         row["dispersion"], row["n"], row["p_text"],
                                         dispersion_type=dispersion_type), evidence), uses
    change = CHANGE.search(row["measure"] or "") or NAMED_ONE_SAMPLE.search(sentence)
    if not change or COMPARED.search(sentence):
        return not_checkable("p_from_mean_sd", {"mean": row["value"], "p": row["p_text"]}, row["p_text"],
                             "Not checked: the p-value compares groups or times that the text does not give side "
                             "by side, and one group's mean cannot reproduce it."), [row["id"]]
    n = row["n"] or (single["value_num"] if single else None)
    uses = [row["id"]] + ([single["id"]] if single and not row["n"] else [])
    evidence = "a change tested against 0"
    if single and not row["n"]:
        evidence += f"; n from \"{single['source_text']}\""
    if n is None:
        return not_checkable("p_from_mean_sd", {"pairing": evidence}, row["p_text"],
                             "Cannot recompute p: the text states no n for this mean."), uses
    return with_pairing(p_one_sample(_as_written(row, "value"), _as_written(row, "dispersion"), _int(n),
                                     row["p_text"], dispersion_type=dispersion_type), evidence), uses


def _mean_with_sd(row: dict) -> bool:
    """A mean with its SD or SE: named a mean, or written "A ± a" (which denotes a mean and its SD or SE)."""
    return row["statistic"] in ("mean", "value") and bool(row["dispersion"]) and \
        (row["statistic"] == "mean" or row["dispersion_type"] in ("sd", "se", "pm"))


def _p_after(rows: list[dict], row: dict) -> str | None:
    """The p-value that closes the comparison `row` ends ("30 ± 26 A vs 25 ± 25 B, p = 0.20"): the next p in the
    sentence, with no other number between and no clause break."""
    later = [r for r in same_sentence(rows, row) if r["span_start"] >= row["span_end"]]
    first = min(later, key=lambda r: r["span_start"], default=None)
    if first is None or first["statistic"] != "p_value_only":
        return None
    return None if re.search(r"[;]", between(row["source_text"] or "", row, first)) else first["p_text"]


def _compared_mean(rows: list[dict], row: dict) -> dict | None:
    """The mean ± SD/SE the sentence compares `row` with: the one just before it in the same clause, joined by
    "vs", "versus", "compared with", "and" or a comma."""
    before = [r for r in same_sentence(rows, row) if _mean_with_sd(r) and r["span_end"] <= row["span_start"]]
    if not before:
        return None
    partner = max(before, key=lambda r: r["span_end"])
    gap = between(row["source_text"] or "", partner, row)
    if ";" in gap or len(gap) > 120:
        return None
    return partner




def _pair_checks(rows: list[dict], single: dict | None) -> list[tuple[Verdict, list[str]]]:
    """Before/after pairs ("from A to B"): a paired test when a p is given with them, and the relative change a mean
    reports."""
    found = []
    pairs = {}
    for row in rows:
        if row["pair"] is not None:
            pairs.setdefault(row["pair"], {})[row["role"]] = row
    for pair in pairs.values():
        before, after = pair.get("before"), pair.get("after")
        if not before or not after:
            continue
        p_row = before if before["p_text"] else after if after["p_text"] else next(
            (r for r in same_sentence(rows, before) if r["statistic"] == "p_value_only"), None)
        if p_row and before["dispersion"] and after["dispersion"]:
            n = before["n"] or after["n"] or (single["value_num"] if single else None)
            uses = [before["id"], after["id"], p_row["id"]] + ([single["id"]] if single else [])
            evidence = "a before/after pair (\"from ... to ...\")"
            if n is None:
                found.append((not_checkable("p_from_paired_means", {"pairing": evidence}, p_row["p_text"],
                                            "Cannot recompute the paired p: the text states no n for the pair."),
                              uses))
            else:
                found.append((with_pairing(p_paired(before["value"], before["dispersion"], after["value"],
                                                    after["dispersion"], _int(n), p_row["p_text"],
                                                    dispersion_type=before["dispersion_type"] or "pm"), evidence),
                              uses))
        shared = _words(before["measure"]) - {"mean", "level", "levels", "serum", "the"}
        for change in rows:
            if (change["statistic"] == "mean" and change["unit"] == "%" and CHANGE.search(change["measure"] or "")
                    and shared & _words(change["measure"])):
                reduction = bool(REDUCTION.search(change["measure"]))
                found.append((relative_change(before["value"], after["value"], change["value"], reduction=reduction),
                              [before["id"], after["id"], change["id"]]))
    return found


# --- numbers no check used -----------------------------------------------------------------------------------------

REASONS = {
    "percent": "a percentage with no count or denominator stated with it",
    "count": "a count with no percentage or total it could be checked against",
    "n": "a sample size that no percentage, part or test refers to",
    "p_value_only": "a p-value with no test statistic, estimate and interval, or summary statistics beside it",
    "mean": "a mean without both an SD/SE and a p-value",
    "median": "a median: no p-value can be recomputed from medians",
    "hazard_ratio": "a ratio without both a confidence interval and a p-value",
    "odds_ratio": "a ratio without both a confidence interval and a p-value",
    "risk_ratio": "a ratio without both a confidence interval and a p-value",
    "mean_difference": "a difference without both a confidence interval and a p-value",
}


def unchecked(rows: list[dict], found: list[tuple[Verdict, list[str]]]) -> list[tuple[dict, str]]:
    """Each number that no check with a verdict used, with why it could not be checked (the not_checkable
    sentence of a check that tried it, else what kind of number it is)."""
    tried = {u: verdict["detail"] for verdict, uses in found if verdict["verdict"] == "not_checkable" for u in uses}
    checked = {u for verdict, uses in found if verdict["verdict"] != "not_checkable" for u in uses}
    return [(row, tried.get(row["id"]) or REASONS.get(row["statistic"], "a number no check relates to anything"))
            for row in rows if row["id"] not in checked]

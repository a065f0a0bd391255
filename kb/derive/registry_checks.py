"""Checks of a trial's registry record on its own: analyses recomputed, baseline counts against their totals, and
registration timing; then every comparison with the articles linked to it (`kb.derive.versus`)."""

from __future__ import annotations

import calendar
import re
from datetime import date

import sqlite_utils

from kb.checks import p_from_difference_ci, p_from_ratio_ci, parts_sum_to_total
from kb.checks.verdict import CONSISTENT, INCONSISTENT, Verdict, make_verdict, not_checkable
from kb.derive.pairing import with_pairing
from kb.derive.versus import registry_vs_article
from kb.numbers import Reported
from kb.store.documents import get_row, rows_where

RATIO = re.compile(r"hazard|odds|risk|ratio|\bHR\b|\bOR\b|\bRR\b", re.IGNORECASE)
DIFFERENCE = re.compile(r"difference", re.IGNORECASE)


def trial_checks(db: sqlite_utils.Database, nct: str) -> list[tuple[Verdict, list[str]]]:
    trial = get_row(db, "trials", nct)
    found = []
    for row in rows_where(db, "results", "subject = ? and source = 'registry' and kind = 'analysis' "
                          "and p_text is not null", [nct], order_by="id"):
        args = (row["value"], row["lower"], row["upper"], row["p_text"])
        level = row["ci_pct"] or "95"
        if RATIO.search(row["statistic"] or ""):
            verdict = p_from_ratio_ci(*args, level=level, measure=row["statistic"], context=row["source_text"] or "")
        elif DIFFERENCE.search(row["statistic"] or "") and row["lower"] and row["upper"]:
            verdict = p_from_difference_ci(*args, level=level, measure=row["statistic"],
                                              context=row["source_text"] or "")
        else:
            continue
        found.append((with_pairing(verdict, f"one registry analysis: estimate, CI and p at {row['path']}"),
                      [row["id"]]))
    found.extend(_baseline_totals(db, nct))
    if trial["study_type"] == "INTERVENTIONAL":
        found.append((registration_timing(trial), []))
    for link in db.query("select distinct l.article_id from article_trials l join articles a using (article_id) "
                         "where l.nct_id = ? order by l.article_id", [nct]):
        found.extend(registry_vs_article(db, trial, link["article_id"]))
    return found


def _baseline_totals(db: sqlite_utils.Database, nct: str) -> list[tuple[Verdict, list[str]]]:
    """Each category's group counts against the registry's own "Total" group; a category nobody is in (every count
    0) is not checked, since there is nothing to add up."""
    cells = {}
    for row in rows_where(db, "baseline_measurements", "nct_id = ? and param_type in ('COUNT_OF_PARTICIPANTS', "
                          "'NUMBER')", [nct], order_by="id"):
        cells.setdefault((row["measure"], row["class"], row["category"]), []).append(row)
    found = []
    for cell in cells.values():
        total = [r for r in cell if (r["group"] or "").strip().lower() == "total"]
        parts = [r for r in cell if r not in total]
        if len(total) == 1 and len(parts) >= 2 and any(Reported.parse(r["value"]).value != 0 for r in cell):
            found.append((parts_sum_to_total([r["value"] for r in parts], total[0]["value"]),
                          [r["id"] for r in cell]))
    return found


def _day(text: str | None, last: bool = False) -> date | None:
    """A registry date ("2014-07" or "2014-07-15") as a day: the first of its month, or the last with `last`."""
    if not text or not re.fullmatch(r"\d{4}-\d\d(-\d\d)?", text):
        return None
    year, month, *day = (int(x) for x in text.split("-"))
    return date(year, month, day[0] if day else calendar.monthrange(year, month)[1] if last else 1)


def registration_timing(trial: dict) -> Verdict:
    """Prospective registration (ICMJE, for interventional trials): first submitted no later than the study start."""
    kind = "registration_timing"
    inputs = {"first_submitted": trial["first_submitted"], "start_date": trial["start_date"],
              "start_date_type": trial["start_date_type"]}
    submitted, start = _day(trial["first_submitted"]), _day(trial["start_date"])
    if not submitted or not start:
        return not_checkable(kind, inputs, trial["first_submitted"] or "",
                             "The registry record lacks the first-submitted date or the study start date.")
    gap = (submitted - start).days
    start_end = _day(trial["start_date"], last=True)
    if gap <= 0:
        detail = (f"Registered prospectively: first submitted on {submitted}, {-gap} days before the study start "
                  f"({trial['start_date']}).")
        return make_verdict(kind, inputs, trial["first_submitted"], {"days after start": [gap, gap]}, ["prospective"],
                            detail, verdict=CONSISTENT)
    if len(trial["start_date"]) == 7 and submitted <= start_end:
        return not_checkable(kind, inputs, trial["first_submitted"],
                             f"First submitted on {submitted}, within the start month {trial['start_date']}; the "
                             "registry gives no start day, so whether registration preceded enrolment is unknown.")
    return make_verdict(kind, inputs, trial["first_submitted"], {"days after start": [gap, gap]}, [],
                        f"Registered retrospectively: first submitted on {submitted}, {gap} days after the study "
                        f"start ({trial['start_date']}).", verdict=INCONSISTENT)

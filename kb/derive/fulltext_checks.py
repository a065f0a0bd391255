"""Checks of an article's full text beyond its tables: the numbers of each Results section recomputed from one another
(the abstract's checks, `statistics_checks`, on the section's own rows and text), and the quantities the abstract
and a Results section both report compared (`kb.checks.twice`).

A quantity is the same in both places only on this evidence: an estimate with its interval written identically
(statistic, value, lower and upper bound: "HR 0.75 (95% CI 0.60 to 0.93)"), whose p-values are then compared; or a
count of a denominator written identically (k of n), whose percentages are then compared. Any other pair of numbers
is not said to be the same quantity, and nothing is compared.
"""

from __future__ import annotations

import json

import sqlite_utils

from kb.checks.twice import reported_twice
from kb.checks.verdict import Verdict
from kb.derive.abstract_checks import statistics_checks
from kb.derive.pairing import with_pairing
from kb.store.documents import rows_where


def fulltext_checks(db: sqlite_utils.Database, aid: str) -> list[tuple[Verdict, list[str]]]:
    """Every check of article `aid`'s Results sections and every quantity its abstract and full text both report."""
    rows = _results(db, aid, "fulltext")
    found = []
    sections = list(rows_where(db, "article_sections", "article_id = ?", [aid], order_by="position"))
    for section in sections:
        own = [r for r in rows if r["path"] == section["path"]]
        if own:
            found += statistics_checks(own, section["text"] or "")
    headings = {s["path"]: " › ".join(json.loads(s["headings"] or "[]")) or "untitled section" for s in sections}
    for first in _results(db, aid, "abstract"):
        for second in rows:  # a table cell holds a p or a count alone: no table row is identified this way
            if found_pair := _same_quantity(first, second):
                quantity, what, a, b = found_pair
                where = headings.get(second["path"], "untitled section")
                verdict = reported_twice(quantity, what, a, b, where)
                found.append((with_pairing(verdict, f"the same {quantity} in the abstract and the full text"),
                              [first["id"], second["id"]]))
    return found


def _results(db: sqlite_utils.Database, aid: str, kind: str) -> list[dict]:
    return list(rows_where(db, "results", "subject = ? and source = 'publication' and kind = ?", [aid, kind],
                           order_by="path, span_start"))


def _same_quantity(first: dict, second: dict) -> tuple[str, str, str, str] | None:
    """(the quantity, what is compared, its value in each) when the two rows are the same quantity (module
    docstring) and both give what is compared; else None."""
    if first["lower"] and first["upper"] and first["p_text"] and second["p_text"] and all(
            _same(first[k], second[k]) for k in ("statistic", "value", "lower", "upper")):
        name = (first["statistic"] or "estimate").replace("_", " ")
        return f"{name} {first['value']} ({first['lower']} to {first['upper']})", "p", first["p_text"], \
            second["p_text"]
    if first["statistic"] == second["statistic"] == "percent" and first["k"] and first["n"] and \
            _same(first["k"], second["k"]) and _same(first["n"], second["n"]):
        return f"count {first['k']} of {first['n']}", "percentage", first["value"], second["value"]
    return None


def _same(a, b) -> bool:
    """Whether two values are written the same (blanks, case and a trailing % aside)."""
    return a is not None and b is not None and str(a).strip().lower().rstrip("%") == str(b).strip().lower().rstrip("%")

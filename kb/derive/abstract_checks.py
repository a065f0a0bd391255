"""Checks of an article's abstract: its reported numbers recomputed from one another.

Which stored numbers go into which check is decided here; the statistics live in `kb.checks`. Each check comes with
the ids of the `results` rows it used (`uses`), so every verdict leads back to snapshots.
"""

from __future__ import annotations

import re

import sqlite_utils

from kb.checks import (
    check_apa_text,
    p_from_ratio_ci,
    p_one_sample,
    p_paired,
    parts_sum_to_total,
    percent_of_count,
    relative_change,
)
from kb.checks.verdict import Verdict, not_checkable

REDUCTION = re.compile(r"reduction|reduc|decreas|declin|fall|drop|lower", re.IGNORECASE)
CHANGE = re.compile(r"reduc|decreas|declin|fall|drop|chang|increas|improv|rise|gain", re.IGNORECASE)
WORD = re.compile(r"[a-z][a-z0-9-]{2,}", re.IGNORECASE)


def _words(text: str | None) -> set[str]:
    return {w.lower() for w in WORD.findall(text or "")}


def sample_size(rows: list[dict]) -> dict | None:
    """The article's overall n: the largest `n` row that names no subgroup."""
    sizes = [r for r in rows if r["statistic"] == "n" and not r["group"] and r["value_num"] is not None]
    return max(sizes, key=lambda r: r["value_num"], default=None)


def article_checks(db: sqlite_utils.Database, aid: str) -> list[tuple[Verdict, list[str]]]:
    rows = list(db["results"].rows_where("subject = ? and source = 'publication'", [aid], order_by="span_start"))
    return statistics_checks(rows, db["articles"].get(aid)["abstract"] or "")


def statistics_checks(rows: list[dict], text: str) -> list[tuple[Verdict, list[str]]]:
    """Every check the reported numbers of one text allow (`rows` as `extract_stats` gives them, with an `id`),
    and the APA-style test statistics in `text`; each with the ids of the rows it used."""
    total = sample_size(rows)
    found = []
    for row in rows:
        n = row["n"] or (total["value_num"] if total else None)
        uses = [row["id"]] + ([total["id"]] if total and not row["n"] else [])
        if row["statistic"] == "mean" and row["p_text"] and row["dispersion"] and not row["role"]:
            found.append((p_one_sample(_as_written(row, "value"), _as_written(row, "dispersion"), _int(n),
                                          row["p_text"], dispersion_type=row["dispersion_type"] or "pm"), uses))
        elif row["statistic"] in ("hazard_ratio", "odds_ratio", "risk_ratio") and row["p_text"]:
            found.append((p_from_ratio_ci(row["value"], row["lower"], row["upper"], row["p_text"],
                                             level=row["ci_pct"] or "95", measure=row["statistic"].replace("_", " ")),
                          [row["id"]]))
        elif row["statistic"] == "percent":
            found.extend(_percent_check(rows, row))
    found.extend(_pair_checks(rows, total))
    found.extend(_parts_checks(rows, total))
    found.extend((verdict, []) for verdict in check_apa_text(text))
    return found


def _as_written(row: dict, field: str) -> str:
    """A number with its % sign when the unit is percent, as the abstract wrote it."""
    return f"{row[field]}%" if row["unit"] == "%" else row[field]


def _int(value) -> int | None:
    return None if value is None else int(value)


def _same_sentence(rows: list[dict], row: dict) -> list[dict]:
    return [r for r in rows if r["source_text"] == row["source_text"] and r["id"] != row["id"]]


def _percent_check(rows: list[dict], row: dict) -> list[tuple[Verdict, list[str]]]:
    """GRIM for a percentage whose count ("8 (67%)") or denominator ("n = 12", "26/34") is reported with it."""
    near = _same_sentence(rows, row)
    count = next((r for r in near if r["statistic"] == "count" and 0 <= row["span_start"] - r["span_end"] <= 3), None)
    sizes = [r for r in near if r["statistic"] == "n" and not r["group"]]
    n = row["n"] or (sizes[0]["value_num"] if len(sizes) == 1 else None)
    if n is None and count is None:
        return []
    uses = [row["id"]] + [r["id"] for r in (count, *(sizes[:1] if not row["n"] else [])) if r]
    if n is None:
        return [(not_checkable("percent_of_count", {"percent": row["value"], "k": count["value"]}, row["value"],
                               f"Cannot check {row['value']}% of a count of {count['value']}: no denominator is "
                               "reported with it."), uses)]
    return [(percent_of_count(row["value"], int(n), count["value"] if count else None), uses)]


def _pair_checks(rows: list[dict], total: dict | None) -> list[tuple[Verdict, list[str]]]:
    """Before/after pairs: a paired test when a p is given with them, and the relative change a mean reports."""
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
            (r for r in _same_sentence(rows, before) if r["statistic"] == "p_value_only"), None)
        n = before["n"] or (total["value_num"] if total else None)
        if p_row and before["dispersion"] and after["dispersion"]:
            found.append((p_paired(before["value"], before["dispersion"], after["value"], after["dispersion"],
                                      _int(n), p_row["p_text"], dispersion_type=before["dispersion_type"] or "pm"),
                          [before["id"], after["id"], p_row["id"]] + ([total["id"]] if total else [])))
        shared = _words(before["measure"]) - {"mean", "level", "levels", "serum", "the"}
        for change in rows:
            if (change["statistic"] == "mean" and change["unit"] == "%" and CHANGE.search(change["measure"] or "")
                    and shared & _words(change["measure"])):
                reduction = bool(REDUCTION.search(change["measure"]))
                found.append((relative_change(before["value"], after["value"], change["value"], reduction=reduction),
                              [before["id"], after["id"], change["id"]]))
    return found


def _parts_checks(rows: list[dict], total: dict | None) -> list[tuple[Verdict, list[str]]]:
    """Subgroup sizes in one sentence ("relapsed (n = 8) or refractory (n = 4)") against the total."""
    found, done = [], set()
    for row in rows:
        if row["statistic"] != "n" or not row["group"] or row["source_text"] in done:
            continue
        done.add(row["source_text"])
        parts = [r for r in rows if r["source_text"] == row["source_text"] and r["statistic"] == "n" and r["group"]]
        whole = next((r for r in _same_sentence(rows, row) if r["statistic"] == "n" and not r["group"]), total)
        if len(parts) >= 2 and whole:
            found.append((parts_sum_to_total([r["value"] for r in parts], whole["value"]),
                          [r["id"] for r in parts] + [whole["id"]]))
    return found

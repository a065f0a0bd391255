"""Checks of the numbers in a full-text table (`kb.extract.tables.read_table`), with the pairing-with-evidence rule of
the abstract checks: numbers enter a check together only through a relation the table states, named in
`inputs.pairing`, and every sentence names the table, row and column.

- a percentage against its column's n: the cell's own "k/n", else the nearest row above labelled "n" / "No. of
  patients" in that column, else the "n = …" of the column's headers. Not checked (saying why) when the table states
  no n, when the n carries a footnote mark, when the row states its own n, when the table says its percentages are
  row percentages (or those of a row, in three or more group columns, add up to 100%), when the row is an estimate
  (Kaplan–Meier, cumulative incidence), an accuracy or a concentration, or when the count exceeds the column's n
  (then the percentage is of something else). When the table says its percentages are of the patients with data,
  the n is the column's less the count of the variable's "Missing" row;
- the counts of the group columns against a column headed Total / All / Overall (and their header n's against its
  n), only among columns under the same headers, never when two of them bear the same name (a time or subgroup
  level repeats them);
- an estimate within its own CI, IQR or range; a ratio or difference with its CI against the p of the nearest
  P column to its right on the same row (not a P for interaction or trend);
- two groups' means ± SD/SE against the p on their row, each column's n stated; two groups' counts of a row that is
  not a category of a larger variable against the p on their row. Not checked when more than two groups are on the
  row (the p is of a test across them), when the columns are times of the same patients, or when the table names
  only tests other than those recomputed (rank tests, adjusted or regression models).
"""

from __future__ import annotations

import re

from kb.checks import (
    estimate_in_interval,
    p_from_difference_ci,
    p_from_ratio_ci,
    p_two_groups,
    p_two_proportions,
    parts_sum_to_total,
    percent_of_count,
)
from kb.checks.verdict import Verdict, not_checkable
from kb.derive.pairing import with_pairing
from kb.derive.shares import ACCURACY, CONCENTRATION, ESTIMATE
from kb.extract.tables import N_IN_HEADER, TableReading
from kb.numbers import Reported

ROW_PERCENT = re.compile(r"\brow\s+(?:percent\w*|%)|%\s+of\s+(?:the\s+)?row|percent\w*\s+(?:are|were)\s+(?:calculated|"
                         r"computed|given)\s+(?:by|across|per|within)\s+rows?", re.I)
AVAILABLE = re.compile(r"\b(?:available|non-?missing|complete|valid)\s+(?:data|cases|information|responses|values)|"
                       r"\bmissing\s+(?:data|values)|denominators?\s+(?:vary|varies|differ)|"
                       r"percent\w*\s+(?:are|were)\s+(?:based\s+on|of|among)\s+(?:those|patients|participants)", re.I)
TIMES = re.compile(r"\b(?:before|after|baseline|pre|post|week|month|day|year|visit|follow-?up|time|T\d|"
                   r"end\s+of|change)\b", re.I)
OTHER_TESTS = re.compile(r"\b(?:Mann|Wilcoxon|Kruskal|rank|non-?parametric|ANCOVA|adjusted|regression|mixed|GEE|"
                         r"Cochran|Mantel|log-?rank|generali[sz]ed|multivariable|multivariate|repeated)\b", re.I)
T_TESTS = re.compile(r"\bt[- ]?tests?\b|Student|Welch", re.I)
CHI_TESTS = re.compile(r"chi|χ|Fisher", re.I)
NOT_THE_RATIO = re.compile(r"interaction|trend|heterogeneity", re.I)
MISSING = re.compile(r"^\s*(?:missing|unknown|not\s+known|not\s+(?:reported|available|recorded)|no\s+data|n/?a)\b",
                     re.I)
LEVEL = re.compile(r"(\d{2}(?:\.\d)?)\s*%\s*(?:CI|confidence)", re.I)


def table_checks(reading: TableReading) -> list[tuple[Verdict, list[str]]]:
    """Every check the numbers of one table allow (module docstring), each with the cells it used ("r4c2")."""
    by_row: dict[int, list[dict]] = {}
    for number in reading.numbers:
        by_row.setdefault(number["row"], []).append(number)
    found = []
    for number in reading.numbers:
        if number["percent"] is not None and reading.columns[number["col"]].role in ("group", "total"):
            found.append(_percent(reading, number))
        if number["lower"] is not None and number["dispersion_type"]:
            found.extend(_interval(reading, number, by_row[number["row"]]))
    for row, numbers in sorted(by_row.items()):
        found.extend(_totals(reading, numbers))
        found.extend(_two_groups(reading, numbers))
    found.extend(_header_totals(reading))
    return [item for item in found if item is not None]


def where(reading: TableReading, number: dict) -> str:
    """ 'Table 2, row 5 ("Sex › Male"), column 3 ("Placebo (n = 45)")' """
    row = f' ("{number["measure"]}")' if number["measure"] else ""
    column = f' ("{number["group"]}")' if number["group"] else ""
    return f"{reading.name}, row {number['row'] + 1}{row}, column {number['col'] + 1}{column}"


def _said(verdict: Verdict, at: str, evidence: str) -> Verdict:
    verdict["detail"] = f"{at}: {verdict['detail']}"
    return with_pairing(verdict, evidence)


def column_n(reading: TableReading, number: dict, share: bool = True) -> tuple[int | None, str, list[str]]:
    """The n a cell's value is of, the words of the table that state it, and the cells they are in; (None, why not,
    []) when the table does not state it. For a `share` (a percentage), an n marked with a footnote sign is qualified
    by the footnote ("125*: nine samples were too small to classify"), not used.
    When the table says its percentages are of the patients with data, the n is the column's less the count of the
    "Missing" row of the same variable (none given: not stated)."""
    if number["n"] is not None:
        return number["n"], f'the cell "{number["text"]}" states its count and n', []
    row = reading.rows[number["row"]]
    if not row.n_row and (own := next((x for x in row.labels if N_IN_HEADER.search(x)), None)):
        return None, f'the row states its own n ("{own}"), so the column\'s n is not its denominator', []
    if ("sizes", number["col"]) not in reading.index:
        reading.index["sizes", number["col"]] = [x for x in reading.in_column(number["col"])
                                                 if x["statistic"] == "n" and reading.rows[x["row"]].n_row]
    above = [x for x in reading.index["sizes", number["col"]] if x["row"] < number["row"]]
    column, uses = reading.columns[number["col"]], []
    if share and (above[-1]["marked"] if above else column.n_marked):
        marked = above[-1]["text"] if above else column.n_text
        return None, f'the n of this column ("{marked}") carries a footnote mark, so the footnote qualifies it', []
    if above:
        size = above[-1]
        n, evidence, uses = int(size["value_num"]), f'the row "{size["measure"]}" gives n = {size["value"]} for ' \
                                                     'this column', [size["cell"]]
    elif column.n is not None:
        n, evidence = column.n, f'the column header "{column.n_text}" states n = {column.n}'
    else:
        return None, "the table states no n for this column", []
    if not (found := AVAILABLE.search(reading.label_text())):
        return n, evidence, uses
    key = ("missing", number["col"], row.section)
    if key not in reading.index:
        reading.index[key] = [x for x in reading.in_column(number["col"]) if x["k"] and row.section
                              and reading.rows[x["row"]].section == row.section
                              and MISSING.match(reading.rows[x["row"]].labels[-1])]
    missing = reading.index[key]
    if MISSING.match(row.labels[-1] if row.labels else ""):
        if len(missing) == 1:  # the one variable of its section: its missing count is a share of the column's n
            return n, evidence, uses
        return None, f'the table gives percentages of the patients with data ("{found.group()}") and its section ' \
                     'holds several variables, so the group this missing count is a share of is not stated', []
    if len(missing) != 1:
        return None, f'the table gives percentages of the patients with data ("{found.group()}") and no count ' \
                     'missing for this variable', []
    gone = int(missing[0]["k"].replace(",", ""))
    return n - gone, f'{evidence}, less the {gone} of the row "{missing[0]["measure"]}" (percentages of the ' \
                     f'patients with data: "{found.group()}")', uses + [missing[0]["cell"]]


def _percent(reading: TableReading, number: dict) -> tuple[Verdict, list[str]] | None:
    """A percentage against its count and its column's n (module docstring)."""
    at, uses = where(reading, number), [number["cell"]]
    n, evidence, more = column_n(reading, number)
    if n is None and number["k"] is None and not number["format"]:
        return None  # a bare percentage the table relates to nothing: no check to make (as in an abstract)
    inputs = {"percent": number["percent"], "k": number["k"], "n": n, "pairing": evidence}
    labels = " ".join([reading.label_text(), number["measure"] or "", number["group"]])
    why = ""
    if ROW_PERCENT.search(labels):
        why = f'the table gives row percentages ("{ROW_PERCENT.search(labels).group()}"), not shares of a column'
    elif across := _row_shares(reading, number):
        why = f"the percentages of this row add up to 100% across its columns ({across}), so they are shares of the " \
              "row, not of each column"
    elif found := ESTIMATE.search(number["measure"] or "") or ESTIMATE.search(reading.table.get("caption") or ""):
        why = f'the percentage is an estimate ("{found.group()}"), which censoring keeps from being k of n'
    elif found := ACCURACY.search(number["measure"] or "") or CONCENTRATION.search(number["measure"] or ""):
        why = f'the row is an accuracy or a concentration ("{found.group()}"), not a share of the column'
    elif n is None:
        why = evidence
    elif number["k"] is not None and int(number["k"].replace(",", "")) > n:
        why = f"the count {number['k']} exceeds n = {n} ({evidence}), so the percentage is of something else"
    if why:
        return not_checkable("percent_of_count", inputs, number["percent"],
                             f"{at}: {number['percent']}% is not checked: {why}."), uses + more
    return _said(percent_of_count(number["percent"], n, number["k"]), at, evidence), uses + more


def _row_shares(reading: TableReading, number: dict) -> str:
    """ "49.4 + 50.1 + 0.4" when the percentages of the number's row, in three or more group columns, add up to 100
    within their rounding (row percentages, whatever the headers say); "" otherwise."""
    shares = [x for x in reading.in_row(number["row"]) if x["percent"] is not None
              and reading.columns[x["col"]].role == "group"]
    if len(shares) < 3:
        return ""
    bounds = [Reported.parse(x["percent"]).exact_bounds() for x in shares]
    if sum(lo for lo, _ in bounds) <= 100 <= sum(hi for _, hi in bounds):
        return " + ".join(x["percent"] for x in shares)
    return ""


def _interval(reading: TableReading, number: dict, row: list[dict]) -> list[tuple[Verdict, list[str]]]:
    """An estimate within its interval; a ratio or difference with its CI against the p of its row."""
    at = where(reading, number)
    cells = [number["cell"]] + ([number["ci_cell"]] if number.get("ci_cell") else [])
    level = LEVEL.search(number["format_from"] or "")
    found = [(_said(estimate_in_interval(number["value"], number["lower"], number["upper"],
                                         interval=number["dispersion_type"], level=level.group(1) if level else None,
                                         measure=number["statistic"] if number["statistic"] != "value" else ""),
                    at, f'the cell "{number["text"]}" under "{number["format_from"]}"'), cells)]
    if number["statistic"] not in ("ratio", "difference"):
        return found
    later = sorted((x for x in row if x["col"] > number["col"]), key=lambda x: x["col"])
    p = next((x for x in later if x["statistic"] in ("ratio", "difference", "p")), None)
    if p is None or p["statistic"] != "p" or NOT_THE_RATIO.search(p["group"]):
        return found
    check = p_from_ratio_ci if number["statistic"] == "ratio" else p_from_difference_ci
    verdict = check(number["value"], number["lower"], number["upper"], p["p_text"],
                    level=level.group(1) if level else "95", measure=number["format_from"].split("(")[0].strip())
    evidence = f'the {number["statistic"]} in column {number["col"] + 1} and the P column "{p["group"]}" beside it'
    return found + [(_said(verdict, f"{at} and column {p['col'] + 1}", evidence), cells + [p["cell"]])]


def _siblings(reading: TableReading, total_col: int) -> list[int] | None:
    """The group columns a Total column adds up: under the same outer headers; None when two bear the same name."""
    outer = reading.columns[total_col].headers[:-1]
    cols = [c for c, col in reading.columns.items() if col.role == "group" and col.headers[:len(outer)] == outer]
    names = [reading.columns[c].headers[-1] if reading.columns[c].headers else "" for c in cols]
    return cols if len(set(names)) == len(names) and len(cols) >= 2 else None


def _totals(reading: TableReading, numbers: list[dict]) -> list[tuple[Verdict, list[str]]]:
    """The counts of a row's group columns against its Total column."""
    found = []
    counts = {x["col"]: x for x in numbers if x["statistic"] in ("count", "n") and x["k"] or x["statistic"] == "n"}
    for total_col in (c for c, col in reading.columns.items() if col.role == "total" and c in counts):
        cols = _siblings(reading, total_col)
        if not cols or any(c not in counts for c in cols):
            continue
        parts, total = [counts[c] for c in cols], counts[total_col]
        verdict = parts_sum_to_total([x["value"] for x in parts], total["value"])
        evidence = f'column {total_col + 1} is headed "{total["group"]}"'
        at = f'{reading.name}, row {total["row"] + 1}' + (f' ("{total["measure"]}")' if total["measure"] else "") + \
            ', columns ' \
             f'{", ".join(str(c + 1) for c in cols)} against column {total_col + 1}'
        found.append((_said(verdict, at, evidence), [x["cell"] for x in parts] + [total["cell"]]))
    return found


def _header_totals(reading: TableReading) -> list[tuple[Verdict, list[str]]]:
    """The n's the group columns' headers state against the n of the Total column's header."""
    found = []
    for total_col, total in ((c, col) for c, col in reading.columns.items() if col.role == "total" and col.n):
        cols = _siblings(reading, total_col)
        if not cols or any(reading.columns[c].n is None for c in cols):
            continue
        verdict = parts_sum_to_total([reading.columns[c].n for c in cols], total.n)
        at = f"{reading.name}, the n of the headers of columns {', '.join(str(c + 1) for c in cols)} against " \
             f'column {total_col + 1} ("{total.n_text}")'
        found.append((_said(verdict, at, f'column {total_col + 1} is headed "{total.n_text}"'), []))
    return found


def _two_groups(reading: TableReading, numbers: list[dict]) -> list[tuple[Verdict, list[str]]]:
    """Two groups' means or counts on one row against the p of that row (module docstring)."""
    p = [x for x in numbers if x["statistic"] == "p" and not NOT_THE_RATIO.search(x["group"])]
    groups = [x for x in numbers if reading.columns[x["col"]].role == "group"]
    means = [x for x in groups if x["statistic"] == "mean" and x["dispersion"]]
    counts = [x for x in groups if x["statistic"] == "count" and x["k"]]
    if len(p) != 1 or not (means or counts):
        return []
    p, pairs = p[0], means if means else counts
    kind = "p_from_two_means" if means else "p_from_two_proportions"
    labels = reading.label_text()
    why = ""
    if len(pairs) != 2 or len(groups) != 2:
        why = f"the row has {len(groups)} group columns, so its p is of a test across them" if len(groups) > 2 \
            else "the row does not give both groups' values"
    elif any(TIMES.search(x["group"]) for x in pairs):
        why = f'the columns ("{pairs[0]["group"]}", "{pairs[1]["group"]}") look like times of the same patients'
    elif (found := OTHER_TESTS.search(labels + " " + p["group"])) and not (T_TESTS if means else CHI_TESTS).search(
            labels):
        why = f'the table names another test ("{found.group()}") than those recomputed'
    elif counts and not means and reading.rows[p["row"]].section:
        why = f'the row is a category of "{reading.rows[p["row"]].section}", whose p may be of the whole variable'
    sizes = [column_n(reading, x, share=not means) for x in pairs] if not why else []
    if not why and any(n is None for n, _, _ in sizes):
        why = next(e for n, e, _ in sizes if n is None)
    at = f'{reading.name}, row {p["row"] + 1}' + (f' ("{p["measure"]}")' if p["measure"] else "")
    uses = [x["cell"] for x in pairs] + [p["cell"]]
    if why:
        return [(not_checkable(kind, {"p": p["p_text"]}, p["p_text"], f"{at}: p {p['p_text']} is not recomputed: "
                                                                      f"{why}."), uses)]
    (n1, e1, u1), (n2, e2, u2) = sizes
    a, b = pairs
    if means:
        verdict = p_two_groups(a["value"], a["dispersion"], n1, b["value"], b["dispersion"], n2, p["p_text"],
                               dispersion_type=a["dispersion_type"] or "pm")
    else:
        verdict = p_two_proportions(a["k"], n1, b["k"], n2, p["p_text"])
    at += f', columns {a["col"] + 1} and {b["col"] + 1} against column {p["col"] + 1}'
    return [(_said(verdict, at, f"two group columns and the P column on one row; {e1}; {e2}"), uses + u1 + u2)]

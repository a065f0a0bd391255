"""The numbers in the cells of a full-text table, each with its place, its header path and what the table says it is.

`read_table(table)` takes an `ArticleTable` (harvest/records.py: cells with their column and row header paths) and
returns a `TableReading`: one dict per number read (`numbers`), and what the table states about its columns (`columns`:
role, n) and rows (`rows`: label path, section, whether the row gives each column's n).

What a cell holds is read from its shape and from the labels that name a format ("n (%)", "mean (SD)", "median
(IQR)", "HR (95% CI)", "% (n)"), nearest first: the row's own label, the section row above it, its column headers
(innermost first), then the caption and footnotes. A label naming several formats ("Data are n (%) or mean (SD)")
decides only the cells whose shape one of them fits. A shape the labels do not explain is read as a plain `value`,
never guessed: "12 (34.5)" is a count and its percentage only under a label saying so; "12 (34.5%)" says so itself;
"4/10" is 4 of 10 unless a label names two categories ("Sex, F/M"), when it is read as nothing;
"45.2 ± 3.1" is a mean and its SD or SE, as in an abstract. Every number carries `place` ("Table 2, row 5, column 3",
rows and columns counted from 1 as printed, header rows included), `path` (the table's XML path and the cell), its row
label path as `measure` and its column header path as `group`.

A column's role comes from its headers: `p` ("P", "P value"), `effect` (a ratio, difference, CI or test statistic),
`total` ("Total", "All", "Overall"), else `group`. A column's n is the "n = 45" / "(N=45)" of its headers, or the cell
of a row labelled just "n", "N", "No. of patients" or "Number of participants" above the cell.
Numbers are read with `kb.numbers.Reported` (the one parser) and located with `kb.extract.common.NUMBER`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb.extract.common import NUMBER, clean
from kb.numbers import Reported

_NUM = rf"(?:{NUMBER})"
_SEP = r"\s*(?:to|,|;|-)\s*"
_UNIT = r"(?:\s*[A-Za-zµ][A-Za-zµ/²³.]{0,11})?"  # a unit after the number: "37.3 years (11.5)", "4.1 mg/dL ± 0.3"
_MARK = re.compile(r"(?<=[\d)\]%])\s*(?:[*†‡§¶‖#]+|[a-h](?![a-z]))+$")  # footnote marks after the number
# The shapes of a cell, tried in order (text normalised: en/em dashes between numbers read as "to").
SHAPES = [(name, re.compile(rx)) for name, rx in (
    ("fraction", rf"(?P<k>\d[\d,]*)\s*/\s*(?P<n>\d[\d,]*)(?:\s*[(\[]\s*(?P<b>{_NUM})\s*(?P<bp>%)?\s*[)\]])?"),
    ("interval", rf"(?P<a>{_NUM})\s*(?P<ap>%)?{_UNIT}\s*[(\[]\s*(?P<lo>{_NUM})\s*%?{_SEP}(?P<hi>{_NUM})\s*%?\s*[)\]]"),
    ("paren", rf"(?P<a>{_NUM})\s*(?P<ap>%)?{_UNIT}\s*[(\[]\s*(?P<b>{_NUM})\s*(?P<bp>%)?\s*[)\]]"),
    ("pm", rf"(?P<a>{_NUM})\s*(?P<ap>%)?{_UNIT}\s*(?:±|\+/-|\+-)\s*(?P<b>{_NUM})\s*(?P<bp>%)?"),
    ("range", rf"[(\[]?\s*(?P<lo>{_NUM})\s*%?{_SEP}(?P<hi>{_NUM})\s*%?\s*[)\]]?"),
    ("single", rf"(?P<rel>[<>≤≥]|=)?\s*(?P<a>{_NUM})\s*(?P<ap>%)?"),
)]
# The formats a label can name, and the cell shapes each explains.
FORMATS = [(name, shapes, re.compile(rx, re.I)) for name, shapes, rx in (
    ("percent_count", ("paren",), r"%\s*[(\[]\s*(?:n|no\.?|number)\s*[)\]]"),
    ("count_percent", ("paren", "fraction", "single"),
     r"\b(?:n|no\.?|number|count|frequency|cases|patients|participants)\s*(?:/\s*N\s*)?[(\[,]\s*%\s*[)\]]?"),
    ("percent", ("single",), r"^\s*[(\[]?\s*(?:%|percent(?:age)?s?)\s*[)\]]?\s*$"),
    ("mean_sd", ("paren", "pm"), r"\bmeans?\s*(?:[(\[,]|±|\+/-)\s*(?:SD|SE|SEM|s\.d\.|standard)|±\s*(?:SD|SE|SEM)\b"),
    ("median_iqr", ("interval",), r"\bmedians?\s*(?:[(\[,]|and\b|with\b)\s*(?:IQR|interquartile|Q1|25)"),
    ("median_range", ("interval",), r"\bmedians?\s*(?:[(\[,]|and\b|with\b)\s*(?:range|min)"),
    ("mean_range", ("interval",), r"\bmeans?\s*(?:[(\[,]|and\b|with\b)\s*(?:range|min)"),
    ("ratio_ci", ("interval",), r"\b(?:a?HR|a?OR|a?RR|IRR|hazard\s+ratio|odds\s+ratio|risk\s+ratio|relative\s+risk|"
                                r"rate\s+ratio)s?\b[^;]{0,40}?\b(?:\d{2}\s*%\s*)?(?:CI|confidence)"),
    ("difference_ci", ("interval",), r"(?:\bdifferences?\b|\bMD\b|β|\bbeta\b|\bcoefficients?\b)[^;]{0,40}?"
                                     r"\b(?:\d{2}\s*%\s*)?(?:CI|confidence)"),
)]
P_HEADER = re.compile(r"^\s*(?:p|p[- ]?values?|p\s*\(.*\)|significance|sig\.?)\s*[*†‡§a-d]?\s*$|\bp[- ]?values?\b",
                      re.I)
EFFECT_HEADER = re.compile(r"\b(?:CI|confidence|ratio|difference|HR|OR|RR|IRR|χ2|chi|t[- ]?test|statistic|"
                           r"effect|estimate|F|t|z)\b", re.I)
TOTAL_HEADER = re.compile(r"^\s*(?:(?:total|all|overall|combined)(?:\s+(?:patients|participants|subjects|sample|cohort|"
                          r"population|groups?|children|women|men|cases|arms))?|whole\s+(?:sample|cohort))\s*"
                          r"(?:[(\[,:].*)?$", re.I)
N_IN_HEADER = re.compile(r"(?<![A-Za-z])[Nn]\s*=\s*(?P<n>\d[\d,]*)(?![\d.])(?P<mark>\s*(?:[*†‡§¶‖#]+|[a-h]\b))?")
CI_HEADER = re.compile(r"\b(?:\d{2}(?:\.\d)?\s*%\s*)?(?:CI|confidence\s+intervals?)\b", re.I)
ESTIMATE_HEADERS = (("ratio", re.compile(r"\b(?:a?HR|a?OR|a?RR|IRR|hazard\s+ratio|odds\s+ratio|risk\s+ratio|relative\s+"
                                         r"risk|rate\s+ratio)(?:s|[a-h])?\b", re.I)),
                    ("difference", re.compile(r"\bdifferences?\b|\bMD\b|β|\bbeta\b|\bcoefficients?\b", re.I)))
# A label naming categories split by a slash ("F/M", "male/female", "yes/no", "I/II"): a cell "4/10" under it gives
# the count of each, not a count of a total; a unit ("mg/dL", "mL/min") or a format ("n/N", "events/total") is not.
CATEGORY_PAIR = re.compile(
    r"(?<![\w/])(?!(?i:n|no|events?|cases|responders)\s*/\s*(?i:n|total|all|patients)\b)[A-Za-z][A-Za-z-]{0,14}\s*/\s*"
    r"(?!(?:d?L|dl|ml|mL|kg|g|m2|m²|min|h|hr|day|d|wk|week|mo|month|y|yr|year|s|sec|mmol|µmol|l)\b)"
    r"[A-Za-z][A-Za-z-]{0,14}(?![\w/])")
N_ROW = re.compile(r"^\s*(?:n|no\.?\s+of\s+(?:patients|participants|subjects)|number\s+of\s+(?:patients|participants|"
                   r"subjects)|total\s+(?:patients|participants|subjects))\s*(?:\(n\))?\s*[*†‡§a-d]?\s*$", re.I)


@dataclass
class Column:
    """What a table states about one column: its header path, role (`group`, `total`, `p`, `effect`) and n."""

    headers: list[str]
    role: str
    n: int | None = None
    n_text: str | None = None  # the header that states n
    n_marked: bool = False  # a footnote mark follows the n: the footnote qualifies it


@dataclass
class Row:
    """What a table states about one body row: its label path (section rows above, then stub cells), its section (the
    label of the row of headings it sits under) and whether it is a row of column sizes ("n", "No. of patients")."""

    labels: list[str]
    section: str | None
    n_row: bool


@dataclass
class TableReading:
    table: dict
    name: str
    numbers: list[dict] = field(default_factory=list)
    columns: dict[int, Column] = field(default_factory=dict)
    rows: dict[int, Row] = field(default_factory=dict)
    index: dict = field(default_factory=dict)  # lookups the checks build once per table (`in_column`, `in_row`)

    def in_column(self, col: int) -> list[dict]:
        """The numbers of one column, top to bottom (indexed once: checks ask per cell, tables can be long)."""
        if "by_col" not in self.index:
            self.index["by_col"] = {}
            for number in sorted(self.numbers, key=lambda x: x["row"]):
                self.index["by_col"].setdefault(number["col"], []).append(number)
        return self.index["by_col"].get(col, [])

    def in_row(self, row: int) -> list[dict]:
        """The numbers of one row, left to right."""
        if "by_row" not in self.index:
            self.index["by_row"] = {}
            for number in sorted(self.numbers, key=lambda x: x["col"]):
                self.index["by_row"].setdefault(number["row"], []).append(number)
        return self.index["by_row"].get(row, [])

    def label_text(self) -> str:
        return " ".join([self.table.get("caption") or "", *(self.table.get("footnotes") or [])])


def read_table(table: dict) -> TableReading:
    """Every number of `table` (an ArticleTable dict), with its place, header path and format (module docstring)."""
    name = table.get("label") or f"table {table['position'] + 1}"
    reading = TableReading(table, name.rstrip(".:"))
    body = [c for c in table["cells"] if not c["header"]]
    data = [c for c in body if c["col"] > 0 or c["row_headers"]]
    _rows(reading, body)
    _columns(reading, data)
    for cell in data:
        number = _read_cell(reading, cell)
        if number is not None:
            reading.numbers.append(number)
    _join_split_intervals(reading)
    return reading


def _join_split_intervals(reading: TableReading) -> None:
    """An estimate in a column headed as a ratio or difference ("odds ratio", "aOR", "β") with its interval in the
    next column, headed as a CI ("95% CI": "1.07–1.86"), is one estimate with its CI (`ci_cell` names the second
    cell, which is no number of its own)."""
    by_cell = {(x["row"], x["col"]): x for x in reading.numbers}
    for ci in [x for x in reading.numbers if x["shape"] == "range"]:
        left = by_cell.get((ci["row"], ci["col"] - 1))
        ci_head = (reading.columns[ci["col"]].headers or [""])[-1]
        est_head = (reading.columns[left["col"]].headers or [""])[-1] if left else ""
        kind = next((name for name, rx in ESTIMATE_HEADERS if rx.search(est_head)), None)
        if left and left["shape"] == "single" and left["statistic"] == "value" and kind and CI_HEADER.search(ci_head):
            left.update(statistic=kind, lower=ci["lower"], upper=ci["upper"], dispersion_type="ci", shape="interval",
                        format_from=f"{est_head} ({ci_head})", ci_cell=ci["cell"])
            reading.numbers.remove(ci)


def _rows(reading: TableReading, body: list[dict]) -> None:
    """Row label paths; a body row with text only in its stub is a section heading for the rows below it."""
    by_row: dict[int, list[dict]] = {}
    for cell in body:
        by_row.setdefault(cell["row"], []).append(cell)
    section = None
    for r in sorted(by_row):
        cells = sorted(by_row[r], key=lambda c: c["col"])
        stub = [c["text"] for c in cells if c["col"] == 0 and c["text"]]
        filled = [c for c in cells if c["text"].strip() and c["col"] > 0]
        if stub and not filled:
            section = stub[0]
            reading.rows[r] = Row([section], None, False)
            continue
        own = max((c["row_headers"] for c in cells), key=len, default=[]) or stub  # a data cell's: stub text included
        labels = ([section] if section and section not in own else []) + list(own)
        reading.rows[r] = Row(labels, section, bool(stub) and N_ROW.match(stub[0]) is not None)


def _columns(reading: TableReading, data: list[dict]) -> None:
    """Each data column's header path, role and the n its headers state."""
    for cell in data:
        if cell["col"] in reading.columns:
            continue
        headers = list(cell["column_headers"])
        inner = headers[-1] if headers else ""
        role = ("p" if P_HEADER.search(inner) else "total" if any(TOTAL_HEADER.search(h) for h in headers)
                else "effect" if EFFECT_HEADER.search(inner) and not N_IN_HEADER.search(inner) else "group")
        column = Column(headers, role)
        for header in reversed(headers):
            if found := N_IN_HEADER.search(header):
                column.n, column.n_text = int(found["n"].replace(",", "")), header
                column.n_marked = bool(found["mark"])
                break
        reading.columns[cell["col"]] = column


def _normalise(text: str) -> tuple[str, bool]:
    """The cell's text ready for the shapes, and whether a footnote mark followed its number."""
    text = clean(text).text.strip()
    text = re.sub(r"(?<=\d),(?=\d{1,2}(?!\d))", ".", text)  # a decimal comma ("8,1"), never a thousands group
    text = re.sub(r"(?<=[\d%])\s*[–—]\s*(?=[-\d.])", " to ", text).replace("–", "-").replace("—", "-")
    return _MARK.sub("", text).strip(), _MARK.search(text) is not None


def cell_format(reading: TableReading, cell: dict, shape: str) -> tuple[str | None, str | None]:
    """The format of a cell of `shape` and the label that names it: the nearest label naming a format (module
    docstring) decides; (None, None) when it names none that explains the shape, or two that both do."""
    row = reading.rows.get(cell["row"])
    levels = [*reversed(row.labels if row else []), *reversed(cell["column_headers"]), reading.label_text()]
    for text in levels:
        named = [(name, shapes) for name, shapes, rx in FORMATS if rx.search(text)]
        if named:
            fitting = [name for name, shapes in named if shape in shapes]
            return (fitting[0], text) if len(fitting) == 1 else (None, None)
    return None, None


def _read_cell(reading: TableReading, cell: dict) -> dict | None:
    """The number one data cell holds, described; None when the cell holds no number."""
    text, marked = _normalise(cell["text"])
    shape, m = next(((name, m) for name, rx in SHAPES if (m := rx.fullmatch(text))), (None, None))
    if m is None:
        return None
    row, column = reading.rows.get(cell["row"]), reading.columns.get(cell["col"])
    fmt, named_by = cell_format(reading, cell, shape)
    place = f"{reading.name}, row {cell['row'] + 1}, column {cell['col'] + 1}"
    number = {"cell": f"r{cell['row']}c{cell['col']}", "row": cell["row"], "col": cell["col"], "place": place,
              "path": f"{reading.table.get('path', '')}/cell[{cell['row'] + 1},{cell['col'] + 1}]",
              "measure": " › ".join(row.labels) if row else None, "group": " › ".join(cell["column_headers"]),
              "text": cell["text"], "marked": marked, "shape": shape, "format": fmt, "format_from": named_by,
              "statistic": "value",
              "value": None, "k": None, "n": None, "percent": None, "dispersion": None, "dispersion_type": None,
              "lower": None, "upper": None, "p_text": None}
    if shape == "fraction" and any(CATEGORY_PAIR.search(label) for label in [*(row.labels if row else []),
                                                                                *cell["column_headers"]]):
        return None  # "Sex, F/M: 4/10" is two counts (4 women, 10 men), not 4 of 10
    g = m.groupdict()
    _describe(number, shape, fmt, g, column, row)
    value = Reported.parse(number["value"])
    number["value_num"], number["decimals"] = value.value, value.decimals
    return number


def _describe(number: dict, shape: str, fmt: str | None, g: dict, column: Column | None, row: Row | None) -> None:
    """Fill statistic, value, count, percentage, dispersion or interval from the shape and format."""
    a, b = g.get("a"), g.get("b")
    if shape == "fraction":
        number.update(statistic="count", value=g["k"].replace(",", ""), k=g["k"].replace(",", ""),
                      n=int(g["n"].replace(",", "")), percent=b)
    elif shape == "single":
        rel = g.get("rel") or ""
        if column and column.role == "p":
            number.update(statistic="p", value=f"{rel}{a}", p_text=f"{rel}{a}")
        elif g.get("ap") or fmt == "percent":
            number.update(statistic="percent", value=a, percent=a)
        elif row and row.n_row:
            number.update(statistic="n", value=a)
        elif fmt == "count_percent" and not rel and _whole(a):
            number.update(statistic="count", value=a, k=a)
        else:
            number.update(value=f"{rel}{a}")
    elif shape == "paren" and _whole(a) and (g.get("bp") and not g.get("ap") or fmt == "count_percent"):
        number.update(statistic="count", value=a, k=a, percent=b)
    elif shape == "paren" and fmt == "percent_count" and _whole(b):
        number.update(statistic="count", value=b, k=b, percent=a)
    elif shape == "pm" or shape == "paren" and fmt == "mean_sd":
        label = (number["format_from"] or "") if fmt == "mean_sd" else ""
        kind = "se" if re.search(r"\bSEM?\b|standard\s+error", label, re.I) else \
            "sd" if re.search(r"\bSD\b|s\.d\.|standard\s+deviation", label, re.I) else "pm"
        number.update(statistic="mean", value=a, dispersion=b, dispersion_type=kind)
    elif shape == "range":
        number.update(lower=g["lo"], upper=g["hi"])
    elif shape == "interval":
        statistic, interval = {"median_iqr": ("median", "iqr"), "median_range": ("median", "range"),
                               "mean_range": ("mean", "range"),
                               "ratio_ci": ("ratio", "ci"), "difference_ci": ("difference", "ci")}.get(
            fmt or "", ("value", None))
        number.update(statistic=statistic, value=a, lower=g["lo"], upper=g["hi"], dispersion_type=interval)
    else:
        number.update(value=a)


def _whole(text: str | None) -> bool:
    return bool(text) and re.fullmatch(r"\d[\d,]*", text) is not None

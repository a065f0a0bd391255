"""An article's full-text tables as derive reads them from the store: their numbers as `results` rows (kind `table`)
and their checks (`table_checks`), the checks' `uses` naming those rows.

The store holds each table in `article_tables` (id, article_id, label, caption, footnotes, position, path,
snapshot_id) and its cells in `table_cells` (table_id, row, col, rowspan, colspan, header, column_headers,
row_headers as JSON, text, value_num, decimals), as the JATS parser gives them (`harvest.records.ArticleTable`).
A number's row id is `<article>/publication/table/<position>/result/<i>`; its `path` is the table's XML path and
the cell, its `source_text` the place and the cell as printed ("Table 2, row 5, column 3: 12 (34.5%)").
"""

from __future__ import annotations

import json

import sqlite_utils

from kb.checks.verdict import Verdict
from kb.derive.table_checks import table_checks
from kb.extract.tables import TableReading, read_table
from kb.store.documents import rows_where

RESULT_KEYS = ("measure", "group", "statistic", "value", "value_num", "decimals", "k", "n", "dispersion_type",
               "dispersion", "lower", "upper", "p_text", "path")


def stored_tables(db: sqlite_utils.Database, aid: str) -> list[tuple[dict, TableReading]]:
    """Each stored table of article `aid` (its `article_tables` row) with what `read_table` reads in it."""
    found = []
    for table in rows_where(db, "article_tables", "article_id = ?", [aid], order_by="position"):
        cells = [{"row": c["row"], "col": c["col"], "rowspan": c["rowspan"], "colspan": c["colspan"],
                  "header": bool(c["header"]), "column_headers": json.loads(c["column_headers"] or "[]"),
                  "row_headers": json.loads(c["row_headers"] or "[]"), "text": c["text"] or ""}
                 for c in rows_where(db, "table_cells", "table_id = ?", [table["id"]], order_by="row, col")]
        footnotes = json.loads(table["footnotes"] or "[]")  # kb.load.fulltext stores the parser's list as JSON
        found.append((table, read_table({"label": table["label"], "caption": table["caption"], "footnotes": footnotes,
                                         "position": table["position"], "cells": cells, "path": table["path"]})))
    return found


def _row_id(aid: str, reading: TableReading, i: int) -> str:
    return f"{aid}/publication/table/{reading.table['position']}/result/{i}"


def table_results(db: sqlite_utils.Database, aid: str) -> list[dict]:
    """The numbers of an article's tables as `results` rows (module docstring)."""
    rows = []
    for table, reading in stored_tables(db, aid):
        for i, number in enumerate(reading.numbers):
            rows.append({**{k: number[k] for k in RESULT_KEYS}, "id": _row_id(aid, reading, i), "subject": aid,
                         "source": "publication", "kind": "table", "snapshot_id": table["snapshot_id"],
                         "source_text": f"{number['place']}: {number['text']}"})
    return rows


def article_table_checks(db: sqlite_utils.Database, aid: str) -> list[tuple[Verdict, list[str]]]:
    """The checks of every table of article `aid`, their `uses` the ids of the `results` rows of the cells used."""
    found = []
    for _, reading in stored_tables(db, aid):
        ids = {cell: _row_id(aid, reading, i) for i, number in enumerate(reading.numbers)
               for cell in (number["cell"], number.get("ci_cell")) if cell}
        found += [(verdict, [ids[u] for u in uses]) for verdict, uses in table_checks(reading)]
    return found

"""An article's full text (`records.FullTextRecord`) as rows: `article_sections`, `article_tables`, `table_cells` and
`article_figures`, saved with the article by `kb.load.articles.merge` (one document, whose snapshot is the JATS
response: a new full text replaces every row of the article's previous one).

A table is `<article_id>/table/<position>`; a cell's `value_num` and `decimals` are read by `kb.numbers.Reported`
when the cell's text is one number and nothing else ("12.5", "1,024", "−0.3", "45%"), and are empty otherwise
("12 (34.5)", "<0.001", "NR").
"""

from __future__ import annotations

import json

from harvest.http import Fetched
from harvest.records import FullTextRecord
from kb.numbers import Reported
from kb.store import documents

TABLES = ("article_sections", "article_tables", "table_cells", "article_figures")


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def table_id(article_id: str, position: int) -> str:
    return f"{article_id}/table/{position}"


def rows(article_id: str, record: FullTextRecord) -> dict[str, list[dict]]:
    """The rows of the full text of `article_id` (snapshot ids are added when its document is saved)."""
    cells = []
    for table in record["tables"]:
        for cell in table["cells"]:
            number = Reported.parse(cell["text"]) if cell["text"] and not cell["header"] else None
            single = number is not None and number.known and number.relation == "="
            cells.append({"table_id": table_id(article_id, table["position"]), "article_id": article_id,
                          "row": cell["row"], "col": cell["col"], "rowspan": cell["rowspan"],
                          "colspan": cell["colspan"], "header": int(cell["header"]),
                          "column_headers": _json(cell["column_headers"]), "row_headers": _json(cell["row_headers"]),
                          "text": cell["text"], "value_num": number.value if single else None,
                          "decimals": number.decimals if single else None})
    return {
        "article_sections": [
            {"article_id": article_id, "position": i, "headings": _json(s["headings"]), "text": s["text"],
             "span_start": s["start"], "span_end": s["end"], "path": s["path"]}
            for i, s in enumerate(record["sections"])],
        "article_tables": [
            {"id": table_id(article_id, t["position"]), "article_id": article_id, "position": t["position"],
             "label": t["label"], "caption": t["caption"], "footnotes": _json(t["footnotes"]), "path": t["path"]}
            for t in record["tables"]],
        "table_cells": cells,
        "article_figures": [
            {"article_id": article_id, "position": i, "label": f["label"], "caption": f["caption"], "path": f["path"]}
            for i, f in enumerate(record["figures"])],
    }


def document(article_id: str, fetched: Fetched, record: FullTextRecord, aliases=()) -> list[documents.Document]:
    """The documents that store the full text of `article_id` from the response `fetched`, replacing the rows of
    any earlier full text (also those stored under the article's other names, `aliases`)."""
    docs = [documents.Document(fetched, rows(article_id, record), {t: {"article_id": article_id} for t in TABLES})]
    return docs + [documents.Document(fetched, {}, {t: {"article_id": alias}}) for alias in aliases for t in TABLES]

"""Derived rows: what the extractors read in an article's abstract and full text, and in a trial's registry texts.

Publication rows (`source = 'publication'`, subject = article_id) come from `articles.abstract` (`kind = 'abstract'`
for results): their spans are character offsets in it and their snapshot is the response the abstract was taken
from. Results read in the full text (`kind = 'fulltext'`) come from the `article_sections` whose heading path starts
with Results (or Findings): their `path` is the section's, their spans are offsets in its text, their snapshot the
JATS response. Registry regimen rows
(`source = 'registry'`, subject = NCT ID) come from intervention and arm descriptions: their path names the field
and their spans are offsets in it.
"""

from __future__ import annotations

import json
import re

import sqlite_utils

from kb.derive.table_rows import table_results
from kb.extract.endpoints import extract_endpoints, match_endpoints
from kb.extract.regimen import extract_regimen
from kb.extract.stats import extract_stats
from kb.store.documents import get_row, rows_where
from kb.store.schema import TABLES

METHODS_LABEL = re.compile(r"method|design|intervention|treatment|patients and", re.IGNORECASE)
RESULTS_HEADING = re.compile(r"(?:\d+(?:\.\d+)*\.?\s*)?(?:results?|findings)\b", re.IGNORECASE)


def _columns(table: str, row: dict) -> dict:
    """`row` reduced to the columns `table` declares, lists stored as JSON."""
    columns = TABLES[table][0]
    return {k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items() if k in columns}


def _abstract_snapshot(db: sqlite_utils.Database, article: dict) -> str | None:
    origin = json.loads(article.get("field_sources") or "{}").get("abstract")
    row = next(rows_where(db, "article_sources", "article_id = ? and source = ?", [article["article_id"], origin]),
               None)
    return row["snapshot_id"] if row else None


def article_rows(db: sqlite_utils.Database, article: dict) -> dict[str, list[dict]]:
    """Regimen (from the Methods part), endpoints and reported statistics of one article's abstract, and the numbers
    of its full-text tables (`table_rows`)."""
    aid, abstract = article["article_id"], article["abstract"] or ""
    common = {"subject": aid, "source": "publication", "snapshot_id": _abstract_snapshot(db, article),
              "path": "abstract"}
    methods = [s for s in rows_where(db, "abstract_sections", "article_id = ?", [aid], order_by="position")
               if METHODS_LABEL.search(s["label"] or "")]
    parts = [(s["span_start"], s["text"]) for s in methods] or [(0, abstract)]
    regimen = [{**row, "span_start": row["span_start"] + offset, "span_end": row["span_end"] + offset}
               for offset, text in parts for row in extract_regimen(text)]
    endpoints = extract_endpoints(abstract)
    registry = list(db.query(
        "select e.* from endpoints e join article_trials l on l.nct_id = e.subject "
        "where l.article_id = ? and e.source = 'registry' order by e.subject, e.kind, e.position", [aid]))
    matches = match_endpoints(endpoints, registry) if registry else [None] * len(endpoints)
    return {
        "regimen": [_columns("regimen", {**row, **common, "id": f"{aid}/publication/regimen/{i}"})
                    for i, row in enumerate(regimen)],
        "endpoints": [_columns("endpoints", {**row, **common, "id": f"{aid}/publication/endpoint/{i}",
                                             "position": i, "matched_to": registry[m]["id"] if m is not None else None})
                      for i, (row, m) in enumerate(zip(endpoints, matches))],
        "results": [_columns("results", {**row, **common, "id": f"{aid}/publication/result/{i}", "kind": "abstract"})
                    for i, row in enumerate(extract_stats(abstract))] + fulltext_results(db, aid)
        + [_columns("results", row) for row in table_results(db, aid)],
    }


def fulltext_results(db: sqlite_utils.Database, aid: str) -> list[dict]:
    """The reported statistics of the Results sections of an article's full text, each with its section's path."""
    found = [{**row, "path": s["path"], "snapshot_id": s["snapshot_id"]}
             for s in rows_where(db, "article_sections", "article_id = ?", [aid], order_by="position")
             if RESULTS_HEADING.match((json.loads(s["headings"]) or [""])[0].strip())
             for row in extract_stats(s["text"])]
    return [_columns("results", {**row, "id": f"{aid}/publication/fulltext/{i}", "subject": aid,
                                 "source": "publication", "kind": "fulltext"}) for i, row in enumerate(found)]


def trial_rows(db: sqlite_utils.Database, nct_id: str) -> dict[str, list[dict]]:
    """Regimen lines read from a trial's intervention and arm descriptions. Arms often repeat their intervention's
    schedule: lines with the same drug, dose, frequency, days and cycles are kept once, the most complete one."""
    trial = get_row(db, "trials", nct_id)
    texts = [(f"{i['path']}.description", i["description"], i["name"]) for i in
             rows_where(db, "interventions", "nct_id = ? and description is not null", [nct_id], order_by="position")]
    texts += [(f"{a['path']}.description", a["description"], None) for a in
              rows_where(db, "arms", "nct_id = ? and description is not null", [nct_id], order_by="position")]
    kept: dict[tuple, dict] = {}
    for path, text, drug in texts:
        for k, row in enumerate(extract_regimen(text, default_drug=drug)):
            schedule = (row["drug"], row["dose_num"], row["unit"], row["frequency"], row["days"], row["cycles"])
            known = kept.get(schedule)
            if known is None or _filled(row) > _filled(known[0]):
                kept[schedule] = (row, f"{nct_id}/registry/regimen/{path}/{k}", path)
    return {"regimen": [_columns("regimen", {**row, "id": row_id, "path": path, "subject": nct_id, "source": "registry",
                                             "snapshot_id": trial["snapshot_id"]})
                        for row, row_id, path in kept.values()]}


def _filled(row: dict) -> int:
    return sum(value is not None for value in row.values())

"""endpoint_comparison: every endpoint a trial registered beside the publication endpoint matched to it, computed by
derive and kept as a table, so that its page counts, facets and sorts through indexes rather than computing every
row on every request. `refresh_endpoint_comparison` recomputes the rows of the trials derive touches (`kb check`,
and after import and refresh); `WHERE nct_id = ?` on the query reads one trial's rows by index.
"""

from __future__ import annotations

import sqlite_utils

from kb.store.schema import TABLES

# Registry endpoints side by side with the publication endpoints matched to them (`endpoints.matched_to`).
# status: matched | kind changed (primary in one, secondary in the other) | unreported (registered, not in the
# publication) | added (in the publication, not registered) | not compared (no publication endpoints known for
# the trial) | no registry record (a publication endpoint of an article linked to a trial whose registry record is
# not in the KB: neither "added" nor "matched" can be said without it).
# A publication endpoint belongs to a trial through its subject: the NCT ID of a trial in `trials`, or
# an article linked to the trial in article_trials (one row per trial and endpoint, whatever the evidence).
ENDPOINT_COMPARISON = """
SELECT r.subject AS nct_id,
  CASE WHEN p.id IS NOT NULL AND p.kind IS NOT r.kind THEN 'kind changed'
       WHEN p.id IS NOT NULL THEN 'matched'
       WHEN EXISTS (SELECT 1 FROM endpoints e WHERE e.subject = r.subject AND e.source = 'publication'
                    AND EXISTS (SELECT 1 FROM trials t WHERE t.nct_id = r.subject))
         OR EXISTS (SELECT 1 FROM article_trials l JOIN endpoints e ON e.subject = l.article_id
                    WHERE l.nct_id = r.subject AND e.source = 'publication') THEN 'unreported'
       ELSE 'not compared' END AS status,
  r.kind AS registry_kind, r.measure AS registry_measure, r.time_frame AS registry_time_frame,
  p.subject AS article_id, p.kind AS publication_kind, p.measure AS publication_measure,
  p.time_frame AS publication_time_frame, p.source_text AS publication_sentence,
  r.position AS registry_position, r.id AS registry_endpoint, p.id AS publication_endpoint
FROM endpoints r LEFT JOIN endpoints p ON p.matched_to = r.id AND p.source = 'publication'
  AND (p.subject = r.subject AND EXISTS (SELECT 1 FROM trials t WHERE t.nct_id = r.subject)
       OR EXISTS (SELECT 1 FROM article_trials l WHERE l.nct_id = r.subject AND l.article_id = p.subject))
WHERE r.source = 'registry'
UNION ALL
SELECT e.subject, 'added', NULL, NULL, NULL, e.subject, e.kind, e.measure, e.time_frame, e.source_text, NULL, NULL, e.id
FROM endpoints e
WHERE e.source = 'publication' AND e.matched_to IS NULL
  AND EXISTS (SELECT 1 FROM trials t WHERE t.nct_id = e.subject)
UNION ALL
SELECT l.nct_id,
  CASE WHEN EXISTS (SELECT 1 FROM trials t WHERE t.nct_id = l.nct_id) THEN 'added' ELSE 'no registry record' END,
  NULL, NULL, NULL, e.subject, e.kind, e.measure, e.time_frame, e.source_text, NULL, NULL, e.id
FROM article_trials l JOIN endpoints e ON e.subject = l.article_id
WHERE e.source = 'publication' AND e.matched_to IS NULL
  AND l.evidence = (SELECT min(m.evidence) FROM article_trials m
                    WHERE m.article_id = l.article_id AND m.nct_id = l.nct_id)
  AND NOT (l.article_id = l.nct_id AND EXISTS (SELECT 1 FROM trials t WHERE t.nct_id = l.nct_id))
"""


def refresh_endpoint_comparison(db: sqlite_utils.Database, nct_ids=None) -> None:
    """Recompute the endpoint_comparison rows of the trials `nct_ids` (harvested, or only linked to an article), or
    of every trial when None, inside the caller's transaction. Rows that stay the same are left as they are (a second
    run changes nothing); an empty table is filled in one statement."""
    names = list(TABLES["endpoint_comparison"][0])
    columns = ", ".join(f"[{c}]" for c in names)
    if nct_ids is None and not db.execute("SELECT 1 FROM endpoint_comparison LIMIT 1").fetchone():
        db.execute(f"INSERT INTO endpoint_comparison ({columns}) SELECT * FROM ({ENDPOINT_COMPARISON})")
        return
    if nct_ids is None:  # every trial the query can yield rows for, and every trial that has rows
        nct_ids = [r[0] for r in db.execute("SELECT subject FROM endpoints UNION SELECT nct_id FROM article_trials "
                                            "UNION SELECT nct_id FROM endpoint_comparison")]
    for nct_id in nct_ids:
        write_comparison(db, nct_id, db.execute(f"SELECT * FROM ({ENDPOINT_COMPARISON}) WHERE nct_id = ?",
                                                [nct_id]).fetchall())


def write_comparison(db: sqlite_utils.Database, nct_id: str, fresh: list[tuple]) -> None:
    """Make the endpoint_comparison rows of `nct_id` the tuples `fresh` (in the table's column order), deleting
    and inserting only the rows that differ."""
    names = list(TABLES["endpoint_comparison"][0])
    columns = ", ".join(f"[{c}]" for c in names)
    stored = {row[1:]: row[0] for row in
              db.execute(f"SELECT rowid, {columns} FROM endpoint_comparison WHERE nct_id = ?", [nct_id])}
    for row in set(stored) - set(fresh):
        db.execute("DELETE FROM endpoint_comparison WHERE rowid = ?", [stored[row]])
    insert = f"INSERT INTO endpoint_comparison ({columns}) VALUES ({', '.join('?' * len(names))})"
    for row in fresh:
        if row not in stored:
            db.execute(insert, row)

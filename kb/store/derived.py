"""What each trial's and article's derived rows were computed from, and which of them are stale.

Derive (kb/derive) replaces a subject's derived rows (regimen, endpoints, results, endpoint_comparison, checks) and,
in the same transaction, records in `derived` what they were computed from (`record`):

- a trial: its current body (`trials.snapshot_id`) | the articles linked to it (`article_trials`);
- an article: its bodies (the `article_sources` snapshots its fields were merged from) | the trials linked to it;

and `version`, the version of derive's code (DERIVE_VERSION). A subject is stale (`stale_subjects`) when it has no
`derived` row (never derived: an import interrupted before or during derive, `kb import --no-derive`, a KB made
before this table existed), when its bodies or its links differ from those recorded, or when derive's code is
another version.

A subject's rows also depend on its linked subjects' bodies (a trial's checks read its articles' endpoints, which are
matched against the registry endpoints of every trial linked to them); those are not repeated in its record, because
`rederive` derives each subject together with everything linked to it: when a body changes, its subject is stale,
and deriving it re-derives the linked subjects in the same transaction. A link that goes away changes the record of
both ends, so the subject that lost it is stale too.

Which subjects are stale is one query (`STALE`): one pass over `trials` and `articles`, each read from an index of
its id, and every other read through an index (article_trials by nct_id or by article_id, article_sources and
derived by their primary keys).
"""

from __future__ import annotations

import json

import sqlite_utils

# Bump when derive's code gives other rows for the same inputs: every subject becomes stale, and the next import,
# refresh or `kb check` re-derives the whole KB (chunk by chunk, each committed).
DERIVE_VERSION = "1"

# Every trial and article with what it would be derived from now; `{trials}` and `{articles}` restrict them. Linked
# subjects are listed by id, in id order: each read from an index that holds them in that order (a subject linked by
# two kinds of evidence is listed twice; the record changes when evidence does).
INPUTS = """
SELECT t.nct_id AS subject, 'trial' AS kind, coalesce(t.snapshot_id, '') || ' | ' || coalesce(
  (SELECT group_concat(l.article_id, ' ') FROM article_trials l WHERE l.nct_id = t.nct_id), '') AS derived_from
FROM trials t {trials}
UNION ALL
SELECT a.article_id, 'article',
  coalesce((SELECT group_concat(s.snapshot_id, ' ') FROM article_sources s WHERE s.article_id = a.article_id), '')
  || ' | ' || coalesce((SELECT group_concat(l.nct_id, ' ') FROM article_trials l WHERE l.article_id = a.article_id), '')
FROM articles a {articles}
"""

# The subjects whose derived rows are missing or were computed from other inputs (or code): (subject, kind), trials
# first, each kind in id order. One parameter: the current DERIVE_VERSION.
STALE = f"""
SELECT i.subject, i.kind FROM ({INPUTS.format(trials='', articles='')}) i
LEFT JOIN derived d ON d.subject = i.subject
WHERE d.subject IS NULL OR d.derived_from IS NOT i.derived_from OR d.version IS NOT ?
ORDER BY i.kind != 'trial', i.subject
"""

_RECORD = f"""
INSERT INTO derived (subject, kind, derived_from, version)
SELECT subject, kind, derived_from, ? FROM ({INPUTS.format(
    trials='WHERE t.nct_id IN (SELECT value FROM json_each(?))',
    articles='WHERE a.article_id IN (SELECT value FROM json_each(?))')}) WHERE true
ON CONFLICT (subject) DO UPDATE SET kind = excluded.kind, derived_from = excluded.derived_from,
  version = excluded.version
WHERE kind IS NOT excluded.kind OR derived_from IS NOT excluded.derived_from OR version IS NOT excluded.version
"""


def stale_subjects(db: sqlite_utils.Database, version: str = DERIVE_VERSION) -> list[tuple[str, str]]:
    """Every trial and article to derive, as (subject, kind) with kind `trial` or `article`: never derived, or
    derived from other inputs than it has now, or by another version of derive's code."""
    return [tuple(row) for row in db.execute(STALE, [version])]


def record(db: sqlite_utils.Database, nct_ids, article_ids, version: str = DERIVE_VERSION) -> None:
    """Record what the given trials' and articles' derived rows were just computed from (inside derive's
    transaction); a subject whose record is already this one is not written (a second derive writes nothing)."""
    db.execute(_RECORD, [version, json.dumps(sorted(nct_ids)), json.dumps(sorted(article_ids))])


def write(db: sqlite_utils.Database, rows: list[dict]) -> None:
    """Store `derived` rows computed elsewhere (a derive worker: what it read, in its own read transaction); a row
    already stored as it is is not written. A subject whose inputs changed since it was read stays stale."""
    db.conn.executemany(_WRITE, [(r["subject"], r["kind"], r["derived_from"], r["version"]) for r in rows])


_WRITE = """
INSERT INTO derived (subject, kind, derived_from, version) VALUES (?, ?, ?, ?)
ON CONFLICT (subject) DO UPDATE SET kind = excluded.kind, derived_from = excluded.derived_from,
  version = excluded.version
WHERE kind IS NOT excluded.kind OR derived_from IS NOT excluded.derived_from OR version IS NOT excluded.version
"""

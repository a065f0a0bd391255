"""Derive: extract (regimen, endpoints, statistics) and check, for the trials and articles a command touched.

`rederive` replaces what the previous run derived for the same subjects, so `kb check` is idempotent: rows from the
extractors (`rows`, with the numbers of an article's full-text tables from `table_rows`), the computed endpoint
comparison (`endpoint_comparison`), and the `checks` rows of each subject: an article's abstract, full-text Results
sections and tables recomputed, and its abstract compared with its full text (`abstract_checks`, `fulltext_checks`,
`table_checks`), a trial's registry record recomputed and compared with its articles
(`registry_checks`, `versus`). In the same transaction it records what each subject's rows were computed
from (`kb.store.derived`), so that a run interrupted before or during derive leaves its subjects stale, and the next
one derives them.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import sqlite_utils

from kb.derive.abstract_checks import article_checks
from kb.derive.endpoint_comparison import refresh_endpoint_comparison
from kb.derive.fulltext_checks import fulltext_checks
from kb.derive.registry_checks import trial_checks
from kb.derive.rows import article_rows, trial_rows
from kb.derive.table_rows import article_table_checks
from kb.store import derived, documents


def check_rows(db: sqlite_utils.Database, subject: str) -> list[dict]:
    """The `checks` rows of one article or trial (NCT ID), numbered per kind in a stable order."""
    if subject.upper().startswith("NCT"):
        found = trial_checks(db, subject)
    else:
        found = article_checks(db, subject) + fulltext_checks(db, subject) + article_table_checks(db, subject)
    rows, seen = [], {}
    for verdict, uses in found:
        kind = verdict["kind"]
        seen[kind] = seen.get(kind, 0) + 1
        rows.append({
            "id": f"{subject}/{kind}/{seen[kind]}", "subject": subject, "kind": kind,
            "inputs": json.dumps(verdict["inputs"]), "reported": verdict["reported"],
            "recomputed": json.dumps(verdict["recomputed"]), "methods_fit": json.dumps(verdict["methods_fit"]),
            "verdict": verdict["verdict"],
            "decision_error": None if verdict["decision_error"] is None else int(verdict["decision_error"]),
            "detail": verdict["detail"], "uses": json.dumps(uses),
        })
    return rows


def with_linked(db: sqlite_utils.Database, nct_ids, article_ids) -> tuple[set[str], set[str], list[str]]:
    """The trials and articles stored among those given and those linked to them through a stored article, and
    every trial linked (stored, or only linked to an article, whose endpoint comparison lists its endpoints).

    A link to an article the KB does not hold adds nothing to derive: that article has no rows, and the other trials
    citing it (a reporting guideline may be cited by thousands) are not linked through it."""
    article_ids = {a for a in article_ids if db.execute("SELECT 1 FROM articles WHERE article_id = ?", [a]).fetchone()}
    nct_ids = set(nct_ids)
    for nct in list(nct_ids):
        article_ids |= {r[0] for r in db.execute("SELECT l.article_id FROM article_trials l JOIN articles a "
                                                 "ON a.article_id = l.article_id WHERE l.nct_id = ?", [nct])}
    for aid in list(article_ids):
        nct_ids |= {r["nct_id"] for r in documents.rows_where(db, "article_trials", "article_id = ?", [aid])}
    linked = sorted(nct_ids)
    nct_ids = {n for n in nct_ids if db.execute("SELECT 1 FROM trials WHERE nct_id = ?", [n]).fetchone()}
    return nct_ids, article_ids, linked


def rederive(db: sqlite_utils.Database, nct_ids=(), article_ids=(), every_trial: bool = False) -> set[str]:
    """Re-extract and re-check the given trials and articles, and everything linked to them, in one transaction;
    then recompute their computed rows (endpoint_comparison), those of every trial when `every_trial`, and record
    what they were derived from. Returns the trials and articles derived."""
    nct_ids, article_ids, linked = with_linked(db, nct_ids, article_ids)
    with db.atomic():
        docs = [documents.Document(None, trial_rows(db, nct), {"regimen": {"subject": nct, "source": "registry"}})
                for nct in sorted(nct_ids)]
        docs += [documents.Document(None, article_rows(db, documents.get_row(db, "articles", aid)),
                                    {t: {"subject": aid, "source": "publication"}
                                     for t in ("regimen", "endpoints", "results")})
                 for aid in sorted(article_ids)]
        documents.save(db, docs)
        refresh_endpoint_comparison(db, None if every_trial else linked)
        documents.save(db, [documents.Document(None, {"checks": check_rows(db, subject)},
                                               {"checks": {"subject": subject}})
                        for subject in sorted(nct_ids) + sorted(article_ids)])
        derived.record(db, nct_ids, article_ids)
    return nct_ids | article_ids


def rederive_all(db: sqlite_utils.Database) -> set[str]:
    """Re-derive every trial and article in the KB."""
    return rederive(db, [r["nct_id"] for r in db["trials"].rows], [r["article_id"] for r in db["articles"].rows],
                    every_trial=True)


def derive_in_batches(db: sqlite_utils.Database, subjects: list[tuple[str, str]], size: int,
                      stopped: Callable[[], bool] = lambda: False) -> int:
    """Derive (subject, kind) pairs `size` at a time, each batch with everything linked to it in its own transaction,
    taken before anything is read (BEGIN IMMEDIATE: another writer waits rather than failing halfway); a subject
    derived with an earlier batch is not derived again. `stopped()` is asked between two batches. Returns how many
    trials and articles were derived."""
    done: set[str] = set()
    for start in range(0, len(subjects), size):
        if stopped():
            break
        batch = [(subject, kind) for subject, kind in subjects[start:start + size] if subject not in done]
        if not batch:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            derived_now = rederive(db, [s for s, kind in batch if kind == "trial"],
                                   [s for s, kind in batch if kind != "trial"])
            db.commit()  # inside: a full disk may fail the commit itself
        except BaseException:
            db.rollback()
            raise
        done |= derived_now
    return len(done)


def verdict_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """How many checks the KB holds of each verdict."""
    return dict(db.execute("select verdict, count(*) from checks group by verdict").fetchall())

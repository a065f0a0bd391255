"""Derive in worker processes: N workers read and compute, the main process writes (one writer).

Each worker opens the KB read-only, with TEMP tables shadowing the tables derive writes (`WRITES`): SQLite resolves
an unqualified table name to the temp table first, so `kb.derive.rederive` runs in the worker unchanged. For a chunk
of stale subjects the worker, in one read transaction, copies into its temp tables the stored rows of those subjects
and of everything linked to them, derives them, reads back the rows each scope should hold, and rolls back. The main
process writes each chunk in its own transaction (BEGIN IMMEDIATE, as `derive_in_batches`), through
`kb.store.documents.save` (a scope whose rows are unchanged is not written), so an interruption keeps the chunks
written and leaves the rest stale. A chunk records what the worker read (`kb.store.derived.write`): a subject whose
inputs changed between that read and the write stays stale, and the next run derives it again.

At most `AHEAD` chunks per worker wait to be written, so memory does not grow with the number of subjects.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import sqlite3
from collections import deque
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import sqlite_utils

from kb.derive.endpoint_comparison import write_comparison
from kb.store import derived, documents
from kb.store.schema import TABLES

# The tables derive writes, each with the column a subject's rows are found by.
WRITES = {"regimen": "subject", "endpoints": "subject", "results": "subject", "checks": "subject",
          "endpoint_comparison": "nct_id", "derived": "subject"}
AHEAD = 2  # chunks per worker computed ahead of the writer
_TYPES = {str: "TEXT", int: "INTEGER", float: "FLOAT", bytes: "BLOB"}
_db: sqlite_utils.Database | None = None  # a worker's read-only connection


def derive_parallel(db: sqlite_utils.Database, subjects: list[tuple[str, str]], size: int, workers: int,
                    stopped: Callable[[], bool] = lambda: False) -> int:
    """Derive (subject, kind) pairs `size` to a chunk in `workers` processes, each chunk written by this process in
    its own transaction; `stopped()` is asked between two chunks. Returns how many trials and articles were
    derived."""
    path = db.execute("PRAGMA database_list").fetchone()[2]
    chunks = iter([subjects[start:start + size] for start in range(0, len(subjects), size)])
    done: set[str] = set()
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_start, initargs=(path,)) as pool:
        waiting = deque(pool.apply_async(_derive, (chunk,)) for chunk in islice(chunks, workers * AHEAD))
        while waiting and not stopped():
            result = waiting.popleft().get()
            chunk = next(chunks, None)
            if chunk is not None:
                waiting.append(pool.apply_async(_derive, (chunk,)))
            _write(db, result)
            done |= {row["subject"] for row in result["derived"]}
    return len(done)


def _write(db: sqlite_utils.Database, result: dict) -> None:
    """Write one chunk's rows, in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        documents.save(db, [documents.Document(None, rows, scopes) for rows, scopes in result["rows"]])
        for nct_id, rows in result["comparison"]:
            write_comparison(db, nct_id, rows)
        documents.save(db, [documents.Document(None, {"checks": rows}, {"checks": {"subject": subject}})
                            for subject, rows in result["checks"]])
        derived.write(db, result["derived"])
        db.commit()  # inside: a full disk may fail the commit itself
    except BaseException:
        db.rollback()
        raise


def _start(path: str) -> None:
    """A worker: open the KB read-only and shadow the tables derive writes with empty temp tables. Ctrl-C is the
    main process's to handle (it stops the pool)."""
    global _db
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    for table, column in WRITES.items():
        columns, pk, indexes = TABLES[table]
        declared = ", ".join(f"[{name}] {_TYPES[kind]}" for name, kind in columns.items())
        key = f", PRIMARY KEY ({', '.join(f'[{c}]' for c in pk)})" if pk else ""
        conn.execute(f"CREATE TEMP TABLE [{table}] ({declared}{key})")
        for i, index in enumerate([column, *indexes]):
            names = ", ".join(f"[{c}]" for c in ([index] if isinstance(index, str) else index))
            conn.execute(f"CREATE INDEX temp.[{table}_{i}] ON [{table}] ({names})")
    _db = sqlite_utils.Database(conn)


def _derive(chunk: list[tuple[str, str]]) -> dict:
    """A worker: derive one chunk as `kb.derive.rederive` would, and return the rows of every scope it replaces."""
    from kb.derive import rederive, with_linked

    db = _db
    ncts = [subject for subject, kind in chunk if kind == "trial"]
    aids = [subject for subject, kind in chunk if kind != "trial"]
    db.execute("BEGIN")
    try:
        nct_ids, article_ids, linked = with_linked(db, ncts, aids)
        keys = sorted(nct_ids | article_ids | set(linked))
        for table, column in WRITES.items():
            names = ", ".join(f"[{c}]" for c in TABLES[table][0])
            db.execute(f"INSERT INTO temp.[{table}] ({names}) SELECT {names} FROM main.[{table}] "
                       f"WHERE [{column}] IN (SELECT value FROM json_each(?))", [json.dumps(keys)])
        rederive(db, ncts, aids)
        return _rows(db, sorted(nct_ids), sorted(article_ids), linked)
    finally:
        db.execute("ROLLBACK")


def _rows(db: sqlite_utils.Database, nct_ids: list[str], article_ids: list[str], linked: list[str]) -> dict:
    """What the temp tables (which an unqualified name reads) hold after derive, per scope derive replaces."""

    def scope(table: str, subject: str, source: str | None = None) -> list[dict]:
        where = "subject = ?" + (" AND source = ?" if source else "")
        return list(documents.rows_where(db, table, where, [subject] + ([source] if source else [])))

    columns = ", ".join(f"[{c}]" for c in TABLES["endpoint_comparison"][0])
    rows = [({"regimen": scope("regimen", nct, "registry")}, {"regimen": {"subject": nct, "source": "registry"}})
            for nct in nct_ids]
    rows += [({t: scope(t, aid, "publication") for t in ("regimen", "endpoints", "results")},
              {t: {"subject": aid, "source": "publication"} for t in ("regimen", "endpoints", "results")})
             for aid in article_ids]
    return {
        "rows": rows,
        "comparison": [(nct, db.execute(f"SELECT {columns} FROM temp.endpoint_comparison WHERE nct_id = ?",
                                        [nct]).fetchall()) for nct in linked],
        "checks": [(subject, scope("checks", subject)) for subject in nct_ids + article_ids],
        "derived": [row for subject in nct_ids + article_ids for row in scope("derived", subject)],
    }

"""Writing to the KB: raw snapshots and the rows parsed from them, one transaction per document or batch.

A `Document` is what one response becomes: its snapshot, its rows per table, and the scope of existing rows it
replaces (e.g. every `arms` row of its NCT ID). Saving deletes that scope and inserts the new rows, so re-running
gives the same rows, and a failure rolls the whole document (or batch) back.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter

import sqlite_utils
from sqlite_utils.db import NotFoundError, PrimaryKeyRequired, jsonify_if_needed

from harvest.http import Fetched
from kb.store.schema import TABLES

# Values SQLite stores as they are; anything else (lists, dicts, dates) is converted as sqlite-utils converts it.
_PLAIN = frozenset({str, int, float, bytes, bool, type(None)})
ROWS_PER_STATEMENT = 1000


@dataclass
class Document:
    """`snapshot` is None for derived rows, which point at the snapshots their inputs came from."""

    snapshot: Fetched | None
    rows: dict[str, list[dict]]
    replaces: dict[str, dict] = field(default_factory=dict)


def snapshot_id(fetched: Fetched) -> str:
    """A readable, deterministic id: source slug / key / first 16 hex digits of the body's sha256."""
    slug = fetched.source.lower().replace(" ", "-").replace(".", "")
    return f"{slug}/{fetched.key}/{fetched.sha256[:16]}"


def snapshot_row(fetched: Fetched) -> dict:
    return {
        "id": snapshot_id(fetched), "source": fetched.source, "key": fetched.key, "url": fetched.url,
        "fetched_at": fetched.fetched_at, "status": fetched.status, "content_type": fetched.content_type,
        "sha256": fetched.sha256, "size": len(fetched.body), "body": fetched.body,
    }


def rows_where(db: sqlite_utils.Database, table: str, where: str, params=(), order_by: str | None = None
               ) -> Iterator[dict]:
    """The rows `db[table].rows_where(where, params, order_by=...)` gives, without sqlite-utils' work around every
    statement (schema look-ups, a savepoint): derive reads a few rows of many tables per subject."""
    cursor = db.conn.execute(f"SELECT * FROM [{table}] WHERE {where}" + (f" ORDER BY {order_by}" if order_by else ""),
                             params)
    keys = [d[0] for d in cursor.description]
    return (dict(zip(keys, row)) for row in cursor)


def get_row(db: sqlite_utils.Database, table: str, key) -> dict:
    """The row of `table` whose (one-column) primary key is `key`, as `db[table].get(key)` (NotFoundError)."""
    found = next(rows_where(db, table, f"[{TABLES[table][1][0]}] = ?", [key]), None)
    if found is None:
        raise NotFoundError(f"no {table} row {key!r}")
    return found


def where_clause(columns) -> str:
    """`[a] = ? AND [b] = ?` for the given column names."""
    return " AND ".join(f"[{c}] = ?" for c in columns)


def _unchanged(db: sqlite_utils.Database, table: str, where: dict, rows: list[dict]) -> bool:
    """True when the rows stored in scope `where` of `table` are exactly `rows` (column by column, in key order)."""
    columns, pk = TABLES[table][0], TABLES[table][1]
    stored = list(db.query(f"SELECT * FROM [{table}] WHERE {where_clause(where)}", list(where.values())))
    key = lambda row: tuple(str(row.get(c)) for c in pk)  # noqa: E731
    return len(stored) == len(rows) and all(
        all(a.get(c) == b.get(c) for c in columns) for a, b in zip(sorted(stored, key=key), sorted(rows, key=key)))


def save(db: sqlite_utils.Database, documents: Iterable[Document]) -> None:
    """Store `documents` in one transaction: snapshots kept (never rewritten), scoped rows replaced.

    A derived document (no snapshot) leaves a scope untouched when its rows are those already stored, so that
    re-deriving writes nothing (full-text indexes included) unless something changed.
    """
    documents = list(documents)
    with db.atomic():
        _write(db, documents)


def _write(db: sqlite_utils.Database, documents: list[Document]) -> None:
    inserts: dict[str, list[dict]] = defaultdict(list)
    deletes: dict[tuple[str, tuple[str, ...]], list[tuple]] = defaultdict(list)
    snapshots = []
    for doc in documents:
        sid = None
        if doc.snapshot:
            snapshots.append(snapshot_row(doc.snapshot))
            sid = snapshots[-1]["id"]
        rows = dict(doc.rows)
        for table, where in doc.replaces.items():
            if sid is None and _unchanged(db, table, where, rows.get(table, [])):
                rows.pop(table, None)
                continue
            deletes[(table, tuple(where))].append(tuple(where.values()))
        for table, table_rows in rows.items():
            if sid and "snapshot_id" in TABLES[table][0]:
                table_rows = [{"snapshot_id": sid, **row} for row in table_rows]
            inserts[table].extend(table_rows)
    if snapshots:
        _insert(db, "snapshots", snapshots, on_conflict="ignore")
    for (table, columns), values in deletes.items():
        db.conn.executemany(f"DELETE FROM [{table}] WHERE {where_clause(columns)}", values)
    for table, rows in inserts.items():
        if rows:
            _insert(db, table, rows, on_conflict="update")


def _insert(db: sqlite_utils.Database, table: str, rows: list[dict], on_conflict: str) -> None:
    """Insert `rows`; a row whose primary key is taken is skipped (`ignore`) or updates that row (`update`).

    The statements of sqlite-utils' `insert_all(ignore=True)` and `upsert_all` (a column that some rows lack is NULL
    in those rows; a row without its primary key is an error; lists, dicts and dates are stored as sqlite-utils
    stores them), built once per table and batch, without sqlite-utils' Python work for every value. Each statement
    inserts up to ROWS_PER_STATEMENT rows: SQLite flushes a full-text index's pending terms at every statement that
    follows a write to it, so one statement per row would make a trigger-maintained FTS table ~4x slower to fill.
    """
    pk = TABLES[table][1]
    declared, present = TABLES[table][0], set().union(*rows)
    columns = [c for c in declared if c in present] + sorted(present - declared.keys())  # unknown: SQLite refuses
    values = [tuple(map(row.get, columns)) for row in rows]
    if not set(map(type, chain.from_iterable(values))) <= _PLAIN:
        values = [tuple(map(jsonify_if_needed, value)) for value in values]
    if any(c not in columns or None in map(itemgetter(columns.index(c)), values) for c in pk):
        raise PrimaryKeyRequired(f"every {table} row needs a value for its primary key {', '.join(pk)}")
    if on_conflict == "ignore":
        verb, action = "INSERT OR IGNORE", ""
    else:
        updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns if c not in pk)
        verb, action = "INSERT", f" ON CONFLICT({', '.join(f'[{c}]' for c in pk)}) " + (
            f"DO UPDATE SET {updates}" if updates else "DO NOTHING")
    head = f"{verb} INTO [{table}] ({', '.join(f'[{c}]' for c in columns)}) VALUES "
    marks = f"({', '.join('?' * len(columns))})"
    size = max(1, min(ROWS_PER_STATEMENT, db.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(columns)))
    start = 0
    for count in _chunk_sizes(len(values), size):
        chunk = values[start:start + count]
        db.conn.execute(head + ", ".join([marks] * count) + action, list(chain.from_iterable(chunk)))
        start += count


def _chunk_sizes(total: int, size: int) -> list[int]:
    """`total` rows as chunks of `size`, then the rest as powers of two (700 = 512 + 128 + 32 + 16 + 8 + 4).

    Each row count is another statement text, and the connection keeps its last 128 statements prepared: with a
    chunk of any length per table and batch, that cache fills with large statements (~80 MB); with powers of two
    there are a few of each size, and an import's memory stays flat however many studies it reads.
    """
    sizes = [size] * (total // size)
    rest = total % size
    sizes += [1 << bit for bit in reversed(range(rest.bit_length())) if rest >> bit & 1]
    return sizes

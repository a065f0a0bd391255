"""Writing to the KB: raw snapshots and the rows parsed from them, one transaction per document or batch.

A `Document` is what one response becomes: its snapshot, its rows per table, and the scope of existing rows it
replaces (e.g. every `arms` row of its NCT ID). Saving deletes that scope and inserts the new rows, so re-running
gives the same rows, and a failure rolls the whole document (or batch) back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlite_utils

from harvest.http import Fetched

from .schema import TABLES


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
    for doc in documents:
        sid = snapshot_id(doc.snapshot) if doc.snapshot else None
        rows = dict(doc.rows)
        for table, where in doc.replaces.items():
            if sid is None and _unchanged(db, table, where, rows.get(table, [])):
                rows.pop(table, None)
                continue
            deletes[(table, tuple(where))].append(tuple(where.values()))
        for table, table_rows in rows.items():
            has_snapshot = "snapshot_id" in TABLES[table][0]
            inserts[table].extend({"snapshot_id": sid, **row} if has_snapshot and sid else row for row in table_rows)
    db["snapshots"].insert_all((snapshot_row(d.snapshot) for d in documents if d.snapshot), ignore=True)
    for (table, columns), values in deletes.items():
        db.conn.executemany(f"DELETE FROM [{table}] WHERE {where_clause(columns)}", values)
    for table, rows in inserts.items():
        pk = TABLES[table][1]
        db[table].upsert_all(rows, pk=pk[0] if len(pk) == 1 else pk, batch_size=500)

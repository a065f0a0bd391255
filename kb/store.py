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
    snapshot: Fetched
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


def save(db: sqlite_utils.Database, documents: Iterable[Document]) -> None:
    """Store `documents` in one transaction: snapshots kept (never rewritten), scoped rows replaced."""
    documents = list(documents)
    inserts: dict[str, list[dict]] = defaultdict(list)
    deletes: dict[tuple[str, tuple[str, ...]], list[tuple]] = defaultdict(list)
    for doc in documents:
        sid = snapshot_id(doc.snapshot)
        for table, where in doc.replaces.items():
            deletes[(table, tuple(where))].append(tuple(where.values()))
        for table, rows in doc.rows.items():
            has_snapshot = "snapshot_id" in TABLES[table][0]
            inserts[table].extend({"snapshot_id": sid, **row} if has_snapshot else row for row in rows)
    with db.atomic():
        db["snapshots"].insert_all((snapshot_row(d.snapshot) for d in documents), ignore=True)
        for (table, columns), values in deletes.items():
            condition = " AND ".join(f"[{c}] = ?" for c in columns)
            db.conn.executemany(f"DELETE FROM [{table}] WHERE {condition}", values)
        for table, rows in inserts.items():
            pk = TABLES[table][1]
            db[table].upsert_all(rows, pk=pk[0] if len(pk) == 1 else pk, batch_size=500)

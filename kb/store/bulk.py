"""Bulk loading: while a large import runs, the KB's secondary indexes and full-text triggers are set aside and
rebuilt once at the end, which costs a sort per index instead of a B-tree update per row.

The indexes a load itself reads (those led by the columns whose rows a document replaces, e.g. `nct_id`) stay.
Readers meanwhile see correct but slower pages. Whatever ends the load (success, error, Ctrl-C), the indexes and
full-text tables are rebuilt; if the process is killed, `schema.ensure_shape` rebuilds them at the next open.
"""

from __future__ import annotations

import sqlite_utils

from kb.store import schema


class DeferredIndexes:
    """Context manager; `start()` sets aside (once) the indexes and full-text triggers of the tables in `tables`,
    but for the indexes led by one of the columns listed for that table."""

    def __init__(self, db: sqlite_utils.Database, tables: dict[str, set[str]]):
        self.db, self.tables, self.started = db, tables, False

    def __enter__(self) -> DeferredIndexes:
        return self

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        with self.db.atomic():
            for table, keep in self.tables.items():
                declared = {(i,) if isinstance(i, str) else tuple(i) for i in schema.TABLES[table][2]}
                for index in self.db[table].indexes:
                    if tuple(index.columns) in declared and index.columns[0] not in keep:
                        self.db.execute(f"DROP INDEX [{index.name}]")
                if table in schema.FTS:
                    for trigger in self.db[table].triggers:
                        self.db.execute(f"DROP TRIGGER [{trigger.name}]")

    def __exit__(self, *exc) -> None:
        if self.started:
            schema.ensure_shape(self.db)

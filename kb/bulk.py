"""Bulk loading: while a large import runs, the KB's secondary indexes and full-text triggers are set aside and
rebuilt once at the end, which costs a sort per index instead of a B-tree update per row.

The indexes a load itself reads (those led by the columns whose rows a document replaces, e.g. `nct_id`) stay.
Readers meanwhile see correct but slower pages. Whatever ends the load (success, error, Ctrl-C), the indexes and
full-text tables are rebuilt; if the process is killed, `schema.ensure_shape` rebuilds them at the next open.
"""

from __future__ import annotations

import sqlite_utils

from . import schema


class DeferredIndexes:
    """Context manager; `start()` sets the indexes aside (once), leaving those led by `keep[table]` columns."""

    def __init__(self, db: sqlite_utils.Database, keep: dict[str, set[str]]):
        self.db, self.keep, self.started = db, keep, False

    def __enter__(self) -> DeferredIndexes:
        return self

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        with self.db.atomic():
            for table, (_, _, declared) in schema.TABLES.items():
                wanted = {(index,) if isinstance(index, str) else tuple(index) for index in declared}
                for index in self.db[table].indexes:
                    if tuple(index.columns) in wanted and index.columns[0] not in self.keep.get(table, ()):
                        self.db.execute(f"DROP INDEX [{index.name}]")
            for table in schema.FTS:
                for trigger in self.db[table].triggers:
                    self.db.execute(f"DROP TRIGGER [{trigger.name}]")

    def __exit__(self, *exc) -> None:
        if self.started:
            schema.ensure_shape(self.db)

"""Full-text benchmark: the time to parse and import each JATS fixture, and what it gives.

    .venv/bin/python benchmarks/fulltext_import.py            # every file of tests/fixtures/jats, 5 runs each
    .venv/bin/python benchmarks/fulltext_import.py A.nxml ... # other JATS files

For each file: the parse alone (`harvest.articles.fulltext.parse`, median of the runs), and `kb import FILE` into a
new KB with derive (`kb.pipeline.import_paths`: parse, merge, save, extraction and checks; median), then the
sections, tables, cells, figures and full-text results rows it stored. It prints figures; it never fails. Not a test.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from harvest.articles import fulltext
from kb import pipeline
from kb.store.schema import open_db

FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures" / "jats"
RUNS = 5


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(path: Path) -> str:
    body = path.read_bytes()
    parse = statistics.median(timed(lambda: fulltext.parse(body, path.name)) for _ in range(RUNS))
    imports = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as folder:
            db = open_db(str(Path(folder) / "kb.db"))
            imports.append(timed(lambda: pipeline.import_paths(db, [path])))
            counts = [db[t].count for t in ("article_sections", "article_tables", "table_cells", "article_figures")]
            counts.append(db["results"].count_where("kind = 'fulltext'"))
            db.close()
    return (f"{path.name:58} {len(body) / 1024:7.1f} KiB  parse {parse * 1000:6.1f} ms  import+derive "
            f"{statistics.median(imports) * 1000:7.1f} ms  sections {counts[0]:3}  tables {counts[1]:2}  "
            f"cells {counts[2]:4}  figures {counts[3]:2}  full-text results {counts[4]:3}")


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv] or sorted(p for p in FIXTURES.iterdir() if p.suffix in (".nxml", ".xml"))
    for path in paths:
        print(measure(path), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

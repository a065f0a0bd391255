"""Full-text benchmark: the time to parse and import each JATS fixture, and what it gives.

    .venv/bin/python benchmarks/fulltext_import.py            # every file of tests/fixtures/jats, 5 runs each
    .venv/bin/python benchmarks/fulltext_import.py A.nxml ... # other JATS files

For each file: the parse alone (`harvest.articles.fulltext.parse`, median of the runs), and `kb import FILE` into a
new KB with derive (`kb.pipeline.import_paths`: parse, merge, save, extraction and checks; median), then the
sections, tables, cells and figures it stored; then the coverage of the checks: the article's numbers (results rows)
found in the abstract and in the full text (Results sections and tables), how many of each entered a check with a
verdict (not `not_checkable`), and the verdicts of its checks by kind. It prints figures; it never fails. Not a test.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections import Counter
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
            coverage = checked(db)
            db.close()
    return (f"{path.name:58} {len(body) / 1024:7.1f} KiB  parse {parse * 1000:6.1f} ms  import+derive "
            f"{statistics.median(imports) * 1000:7.1f} ms  sections {counts[0]:3}  tables {counts[1]:2}  "
            f"cells {counts[2]:4}  figures {counts[3]:2}\n    {coverage}")


def checked(db) -> str:
    """Numbers found and checked, abstract vs full text, and the verdicts by kind (module docstring)."""
    found = Counter(kind for (kind,) in db.execute("select kind from results where source = 'publication'"))
    kind_of = dict(db.execute("select id, kind from results where source = 'publication'").fetchall())
    used: dict[str, set] = {}
    verdicts = Counter()
    for kind, verdict, uses in db.execute("select kind, verdict, uses from checks"):
        verdicts[f"{kind} {verdict}"] += 1
        if verdict != "not_checkable":
            for row_id in json.loads(uses or "[]"):
                if row_id in kind_of:
                    used.setdefault(kind_of[row_id], set()).add(row_id)
    abstract = f"abstract {len(used.get('abstract', ()))}/{found['abstract']}"
    full = sum(len(used.get(k, ())) for k in ("fulltext", "table"))
    return (f"numbers checked/found: {abstract}; full text {full}/{found['fulltext'] + found['table']} (Results "
            f"sections {len(used.get('fulltext', ()))}/{found['fulltext']}, tables {len(used.get('table', ()))}/"
            f"{found['table']}); checks: {', '.join(f'{k} {n}' for k, n in sorted(verdicts.items())) or 'none'}")


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv] or sorted(p for p in FIXTURES.iterdir() if p.suffix in (".nxml", ".xml"))
    for path in paths:
        print(measure(path), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""How far the checks of full-text tables can be trusted, measured on real JATS articles the checks were not tuned on.

Reads every `<table-wrap>` of the JATS files given (or of `--corpus DIR`), turns each into an `ArticleTable`
(harvest/records.py) and runs what derive runs on it (`kb.extract.tables.read_table`, then
`kb.derive.table_checks.table_checks`), and prints: tables read, numbers read, checks by kind and verdict, and every
`inconsistent` verdict with its sentence, for reading by hand against the table.

The tables are read by the harvest JATS parser (`harvest.fulltext.jats`), as `kb import` reads them.

    .venv/bin/python benchmarks/table_audit.py --corpus DIR          # every *.xml / *.nxml under DIR
    .venv/bin/python benchmarks/table_audit.py FILE.xml --show all   # every check, not only the inconsistent ones
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harvest.errors import ParseError  # noqa: E402
from harvest.fulltext import jats  # noqa: E402
from kb.derive.table_checks import table_checks  # noqa: E402
from kb.extract.tables import read_table  # noqa: E402


def jats_tables(path: Path) -> list[dict]:
    """Every table of a JATS file as the harvest parser gives it (`ArticleTable`s); none when it is not JATS."""
    try:
        return jats.tables(jats.article_element(path.read_bytes(), "audit", path.name), lambda e: e.getroottree()
                           .getpath(e), "audit", path.name)
    except ParseError:
        return []


def audit(paths: list[Path]) -> tuple[list[dict], Counter]:
    """Every check of every table of the files, and counts of articles, tables and numbers read."""
    found, counts = [], Counter()
    for path in paths:
        start = time.perf_counter()
        tables = jats_tables(path)
        counts["articles"] += 1
        counts["articles with tables"] += bool(tables)
        for table in tables:
            counts["tables"] += 1
            reading = read_table(table)
            counts["numbers"] += len(reading.numbers)
            checks = table_checks(reading)
            counts["numbers in a check with a verdict"] += len({u for verdict, uses in checks for u in uses
                                                                 if verdict["verdict"] != "not_checkable"})
            for verdict, uses in checks:
                found.append({"file": path.name, "table": table["label"] or f"table {table['position'] + 1}",
                              "kind": verdict["kind"], "verdict": verdict["verdict"], "detail": verdict["detail"],
                              "inputs": verdict["inputs"], "uses": uses})
        counts["seconds"] += time.perf_counter() - start
    return found, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--corpus", type=Path, help="a folder of JATS files (*.xml, *.nxml)")
    parser.add_argument("--show", choices=("inconsistent", "flagged", "all", "none"), default="inconsistent")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    paths = list(args.files)
    if args.corpus:
        paths += sorted(p for p in args.corpus.rglob("*") if p.suffix in (".xml", ".nxml"))
    found, counts = audit(paths)
    by_kind = Counter((item["kind"], item["verdict"]) for item in found)
    figures = {**{k: round(v, 2) if isinstance(v, float) else v for k, v in counts.items()},
               "checks": len(found), "by_verdict": dict(Counter(item["verdict"] for item in found)),
               "by_kind": {f"{k} {v}": n for (k, v), n in sorted(by_kind.items())}}
    shown = {"inconsistent": ("inconsistent",), "flagged": ("inconsistent", "consistent_if_truncated"),
             "all": None, "none": ()}[args.show]
    for item in found:
        if shown is None or item["verdict"] in shown:
            print(f"{item['file']} {item['table']} [{item['kind']} {item['verdict']}] {item['detail']}"
                  f"  (pairing: {item['inputs'].get('pairing')})")
    print(json.dumps(figures, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()

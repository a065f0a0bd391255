"""How far the checks of full-text tables can be trusted, measured on real JATS articles the checks were not tuned on.

Reads every `<table-wrap>` of the JATS files given (or of `--corpus DIR`), turns each into an `ArticleTable`
(harvest/records.py) and runs what derive runs on it (`kb.extract.tables.read_table`, then
`kb.derive.table_checks.table_checks`), and prints: tables read, numbers read, checks by kind and verdict, and every
`inconsistent` verdict with its sentence, for reading by hand against the table.

The JATS to `ArticleTable` step here is a STAND-IN for the harvest JATS parser (issue 16, written on another branch):
spans resolved on a grid, `thead` rows (else the leading rows of `th` cells) as headers, the leading columns
holding mostly no numbers as the stub; it is
to be replaced by that parser when both land.

    .venv/bin/python benchmarks/table_audit.py --corpus DIR          # every *.xml / *.nxml under DIR
    .venv/bin/python benchmarks/table_audit.py FILE.xml --show all   # every check, not only the inconsistent ones
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.derive.table_checks import table_checks  # noqa: E402
from kb.extract.tables import read_table  # noqa: E402


def _text(node) -> str:
    return " ".join("".join(node.itertext()).split())


def jats_tables(body: bytes) -> list[dict]:
    """Every table of a JATS article as an `ArticleTable` dict (the stand-in described in the module docstring)."""
    tree = etree.fromstring(body, etree.XMLParser(recover=True, resolve_entities=False, no_network=True))
    tables = []
    for position, wrap in enumerate(tree.iter("table-wrap")):
        table = next(wrap.iter("table"), None)
        if table is None:
            continue
        label, caption = wrap.find("label"), wrap.find("caption")
        foot = [_text(f) for f in wrap.iter("fn")] or [_text(f) for f in wrap.iter("table-wrap-foot")]
        tables.append({"label": _text(label) if label is not None else None,
                       "caption": _text(caption) if caption is not None else None, "footnotes": foot,
                       "position": position, "cells": _cells(table), "path": tree.getroottree().getpath(wrap)})
    return tables


def _cells(table) -> list[dict]:
    """The cells of one `<table>`, spans resolved on a grid, with their column and row header paths."""
    rows = [(tr, tr.getparent().tag == "thead") for tr in table.iter("tr")]
    grid: dict[tuple[int, int], dict] = {}
    placed = []
    for r, (tr, head) in enumerate(rows):
        c = 0
        for cell in tr:
            if cell.tag not in ("td", "th"):
                continue
            while (r, c) in grid:
                c += 1
            rs, cs = int(cell.get("rowspan") or 1), int(cell.get("colspan") or 1)
            item = {"row": r, "col": c, "rowspan": rs, "colspan": cs, "header": head, "text": _text(cell),
                    "th": cell.tag == "th"}
            for dr in range(rs):
                for dc in range(cs):
                    grid[(r + dr, c + dc)] = item
            placed.append(item)
            c += cs
    if not any(head for _, head in rows):  # no thead: the leading rows made only of th cells are the head
        for r in range(len(rows)):
            own = [x for x in placed if x["row"] == r]
            if not own or not all(x["th"] for x in own):
                break
            for x in own:
                x["header"] = True
    stubs = _stub_width(placed)
    out = []
    for item in placed:
        column_headers, row_headers = [], []
        if not item["header"]:
            for r in range(item["row"]):
                above = grid.get((r, item["col"]))
                if above and above["header"] and above["text"] and above["text"] not in column_headers:
                    column_headers.append(above["text"])
            for c in range(min(item["col"], stubs)):
                stub = grid.get((item["row"], c))
                if stub and stub["text"] and stub["text"] not in row_headers:
                    row_headers.append(stub["text"])
        out.append({k: item[k] for k in ("row", "col", "rowspan", "colspan", "header", "text")}
                   | {"column_headers": column_headers, "row_headers": row_headers})
    return out


def _stub_width(placed: list[dict]) -> int:
    """How many leading columns are the stub: those whose body cells mostly hold no number (at least one)."""
    width = 1
    while True:
        texts = [x["text"] for x in placed if not x["header"] and x["col"] == width and x["text"]]
        if not texts or sum(bool(re.match(r"[<>≤≥±−–-]?\s*[\d.]", t)) for t in texts) * 2 >= len(texts):
            return width
        width += 1


def audit(paths: list[Path]) -> tuple[list[dict], Counter]:
    """Every check of every table of the files, and counts of articles, tables and numbers read."""
    found, counts = [], Counter()
    for path in paths:
        start = time.perf_counter()
        tables = jats_tables(path.read_bytes())
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

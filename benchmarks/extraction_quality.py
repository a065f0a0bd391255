"""Precision, recall and F1 of the statistics and regimen extractors against the labelled set.

    .venv/bin/python benchmarks/extraction_quality.py [--split dev|holdout] [--show-errors]

Reads benchmarks/extraction_labels.json (real sentences with their source and expected rows), runs
`extract_stats` / `extract_regimen` on each text and compares field by field under the matching rule stated in
that file. Also checks that every labelled text still occurs verbatim in its source file when the file is present.
This is a benchmark, not a test: it prints figures and never fails.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.extract.regimen import extract_regimen  # noqa: E402
from kb.extract.stats import extract_stats  # noqa: E402

LABELS = ROOT / "benchmarks" / "extraction_labels.json"
SOURCE_DIRS = [ROOT / "tests" / "fixtures", ROOT.parent / "shared" / "fixtures"]
FIELDS = {
    "stats": ("statistic", "value", "unit", "dispersion_type", "dispersion", "lower", "upper", "ci_pct", "n",
              "p_relation", "p_value", "role", "measure", "group", "timepoint"),
    "regimen": ("drug", "dose_num", "unit", "form", "route", "frequency", "days", "cycle_length_days", "cycles",
                "n_cycles", "dose_per_cycle", "drug_course_total"),
}
WORDY = {"measure", "group"}
_SKIP_WORDS = {"the", "a", "an", "of", "in"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "holdout"), help="score only this part of the set")
    parser.add_argument("--show-errors", action="store_true", help="print each mismatching field")
    args = parser.parse_args()
    items = json.loads(LABELS.read_text())["items"]
    items = [i for i in items if args.split in (None, i["split"])]
    checked = [_verbatim(i) for i in items]
    print(f"{len(items)} labelled texts from {len({_record(i) for i in items})} records; "
          f"verbatim in source: {checked.count(True)}, source file absent: {checked.count(None)}, "
          f"NOT FOUND: {checked.count(False)}")
    for task in ("stats", "regimen"):
        counts: dict[str, Counter] = {f: Counter() for f in FIELDS[task] + ("(rows)",)}
        for item in (i for i in items if i["task"] == task):
            _score(item, _predict(item), counts, args.show_errors)
        _report(task, counts)


def _predict(item: dict) -> list[dict]:
    if item["task"] == "stats":
        return extract_stats(item["text"])
    return extract_regimen(item["text"], default_drug=item.get("default_drug"))


def _record(item: dict) -> str:
    return item["source"].get("pmid") or item["source"].get("nct")


def _score(item: dict, predicted: list[dict], counts: dict[str, Counter], show: bool) -> None:
    """Align expected and predicted rows, then count each field as TP, FP or FN."""
    task = item["task"]
    left = list(predicted)
    for expected in item["expected"]:
        found = next((p for p in left if _same_row(task, expected, p, strict=True)), None) or \
            next((p for p in left if _same_row(task, expected, p, strict=False)), None)
        counts["(rows)"]["tp" if found else "fn"] += 1
        if found:
            left.remove(found)
        for field in FIELDS[task]:
            want, got = expected.get(field), (found or {}).get(field)
            if want is not None and got is not None and _equal(field, want, got):
                counts[field]["tp"] += 1
                continue
            counts[field]["fn"] += want is not None
            counts[field]["fp"] += got is not None
            if show and (want is not None or got is not None):
                print(f"  {item['id']} {field}: expected {want!r}, got {got!r}")
    for extra in left:
        counts["(rows)"]["fp"] += 1
        for field in FIELDS[task]:
            counts[field]["fp"] += extra.get(field) is not None
        if show:
            print(f"  {item['id']} unexpected row: {({k: extra.get(k) for k in FIELDS[task][:3]})}")


def _same_row(task: str, expected: dict, predicted: dict, strict: bool) -> bool:
    if task == "stats":
        if expected["statistic"] == "p_value_only":
            return predicted["statistic"] == "p_value_only" and _equal("p_value", expected["p_value"],
                                                                      predicted["p_value"])
        return predicted["value"] == expected["value"]
    same_dose = _equal("dose_num", expected["dose_num"], predicted["dose_num"])
    return same_dose and (not strict or predicted["drug"] == expected["drug"])


def _equal(field: str, want, got) -> bool:
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return abs(want - got) <= 1e-6 * max(1.0, abs(want))
    if field in WORDY:
        a, b = _words(str(want)), _words(str(got))
        return bool(a | b) and len(a & b) / len(a | b) >= 0.5
    return str(want).lower() == str(got).lower()


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _SKIP_WORDS}


def _report(task: str, counts: dict[str, Counter]) -> None:
    print(f"\n{task}: field precision / recall / F1 (tp fp fn)")
    total = Counter()
    for field, c in counts.items():
        if field != "(rows)":
            total.update(c)
        print(_line(field, c))
    print(_line("ALL FIELDS", total))


def _line(name: str, c: Counter) -> str:
    p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
    r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else float("nan")
    f = 2 * p * r / (p + r) if p + r else float("nan")
    return f"  {name:<18} {p:6.3f} {r:6.3f} {f:6.3f}   ({c['tp']} {c['fp']} {c['fn']})"


def _verbatim(item: dict) -> bool | None:
    """Whether the labelled text occurs verbatim in its source file (None when the file is not available)."""
    name = item["source"]["file"]
    path = next((d / name for d in SOURCE_DIRS if (d / name).exists()), None)
    if path is None:
        return None
    if path.suffix == ".json":
        return any(item["text"] in s for s in _strings(json.loads(path.read_text())))
    if path.suffix == ".xml":
        return item["text"] in "".join(etree.parse(str(path)).getroot().itertext())
    return item["text"] in path.read_text()


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


if __name__ == "__main__":
    main()

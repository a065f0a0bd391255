"""How far the abstract checks can be trusted, measured on real abstracts the project was not tuned on.

Runs what `kb check` runs on an article's abstract (`kb.extract.stats.extract_stats`, then
`kb.derive.abstract_checks.statistics_checks`) over every abstract of the audit corpus
(`benchmarks/audit_corpus/`: 1,000 real PubMed abstracts; provenance in its PROVENANCE.md), and prints, per
check kind and overall:
- verdicts by class (consistent, inconsistent, consistent_if_truncated, not_checkable);
- precision of `inconsistent`: verdicts labelled true by hand / all flagged (labels in
  `benchmarks/verdict_audit.json`, each read from the abstract's text, with a one-line reason);
- flagged per 1,000 abstracts;
- coverage: the share of reported numbers (rows of extract_stats) that enter at least one check with a verdict
  (consistent, inconsistent or consistent_if_truncated).

A flagged verdict without a label is listed (`--worklist FILE` writes them as JSON for labelling); the figures count it
as unlabelled, never as right.

    .venv/bin/python benchmarks/verdict_audit.py
    .venv/bin/python benchmarks/verdict_audit.py --worklist /tmp/to_label.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.audit_corpus import corpus  # noqa: E402
from kb.derive.abstract_checks import statistics_checks  # noqa: E402
from kb.extract.stats import extract_stats  # noqa: E402

LABELS = ROOT / "benchmarks" / "verdict_audit.json"
FLAGGED = ("inconsistent", "consistent_if_truncated")
CHECKED = ("consistent", "inconsistent", "consistent_if_truncated")
crashed: list[str] = []  # PMIDs of abstracts the extraction or checks raised on
VERDICTS = ("consistent", "inconsistent", "consistent_if_truncated", "not_checkable")


def label_key(pmid: str, verdict: dict, used: list[dict]) -> str:
    """What identifies a verdict across versions of the code: the abstract, the kind, the reported text and the
    characters of the numbers it used."""
    spans = sorted(f"{row['span_start']}-{row['span_end']}" for row in used)
    return f"{pmid}|{verdict['kind']}|{verdict['reported']}|{','.join(spans)}"


def audit(records: list[dict]) -> tuple[list[dict], int, int, int]:
    """Every check of every abstract (with the sentence and numbers it used), the count of abstracts, of reported
    numbers, and of numbers that entered a check with a verdict."""
    found, abstracts, numbers, covered = [], 0, 0, 0
    crashed.clear()
    for record in records:
        abstracts += 1
        text = record["abstract"]
        try:
            rows = [{**row, "id": f"{record['pmid']}/{i}"} for i, row in enumerate(extract_stats(text))]
            checks = statistics_checks(rows, text)
        except Exception as exc:  # counted and named: a crash on real text is a finding, not a reason to stop
            print(f"PMID {record['pmid']}: {type(exc).__name__}: {exc}", file=sys.stderr)
            crashed.append(record["pmid"])
            continue
        by_id = {row["id"]: row for row in rows}
        entered = set()
        for verdict, uses in checks:
            used = [by_id[u] for u in uses if u in by_id]
            if verdict["verdict"] in CHECKED:
                entered.update(uses)
            found.append({
                "key": label_key(record["pmid"], verdict, used), "pmid": record["pmid"], "kind": verdict["kind"],
                "verdict": verdict["verdict"], "reported": verdict["reported"], "detail": verdict["detail"],
                "inputs": verdict["inputs"],
                "sentences": sorted({row["source_text"] for row in used}) or [text[:300]],
                "numbers": [text[row["span_start"]:row["span_end"]] for row in used],
            })
        numbers += len(rows)
        covered += len(entered & set(by_id))
    return found, abstracts, numbers, covered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--worklist", type=Path, help="write the flagged verdicts that have no label here (JSON)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    labels = {item["key"]: item for item in json.loads(args.labels.read_text())["labels"]}
    found, abstracts, numbers, covered = audit(corpus.load())
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for item in found:
        by_kind[item["kind"]][item["verdict"]] += 1
        if item["verdict"] in FLAGGED:
            label = labels.get(item["key"], {}).get("label")
            by_kind[item["kind"]][f"label {label or 'missing'}"] += 1
    total = sum(by_kind.values(), Counter())
    unlabelled = [item for item in found if item["verdict"] in FLAGGED and item["key"] not in labels]
    if args.worklist:
        args.worklist.write_text(json.dumps(unlabelled, indent=1, ensure_ascii=False))

    def precision(counts: Counter) -> str:
        flagged = counts["inconsistent"]
        inconsistent_true = sum(1 for item in found if item["verdict"] == "inconsistent"
                                and labels.get(item["key"], {}).get("label") == "true"
                                and (counts is total or by_kind[item["kind"]] is counts))
        return f"{inconsistent_true}/{flagged} = {inconsistent_true / flagged:.2f}" if flagged else "-"

    figures = {
        "abstracts": abstracts, "reported_numbers": numbers, "numbers_in_a_check": covered,
        "coverage": round(covered / numbers, 3) if numbers else None,
        "flagged_per_1000_abstracts": round(1000 * sum(total[v] for v in FLAGGED) / abstracts, 1),
        "inconsistent_per_1000_abstracts": round(1000 * total["inconsistent"] / abstracts, 1),
        "precision_of_inconsistent": precision(total), "unlabelled_flagged": len(unlabelled),
        "abstracts_that_raised": crashed,
        "by_kind": {kind: {**dict(counts), "precision": precision(counts)} for kind, counts in sorted(by_kind.items())},
    }
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    print(f"{abstracts} abstracts, {numbers} reported numbers; {covered} entered a check with a verdict "
          f"(coverage {figures['coverage']:.1%}); flagged per 1,000 abstracts: {figures['flagged_per_1000_abstracts']} "
          f"(inconsistent {figures['inconsistent_per_1000_abstracts']})")
    print(f"precision of inconsistent (labelled true / flagged): {figures['precision_of_inconsistent']}; "
          f"flagged without a label: {len(unlabelled)}; abstracts that raised an error: {len(crashed)}")
    print(f"\n{'kind':24} " + " ".join(f"{v[:14]:>14}" for v in VERDICTS) + "  precision")
    for kind, counts in sorted(by_kind.items()):
        print(f"{kind:24} " + " ".join(f"{counts[v]:>14}" for v in VERDICTS) + f"  {precision(counts)}")
    print(f"{'all':24} " + " ".join(f"{total[v]:>14}" for v in VERDICTS) + f"  {precision(total)}")


if __name__ == "__main__":
    main()

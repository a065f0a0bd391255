"""The audit corpus: the 1,000 PubMed abstracts of raw/ori_pqal.json (PubMedQA's expert-labelled set), one dict each.

Source: github.com/pubmedqa/pubmedqa, data/ori_pqal.json, commit 1f00b98d5cc626844bf8c4ca513b6e62c40071ec
(2,584,787 characters), copied into raw/ as read page by page (provenance and checks: PROVENANCE.md).

Text is not edited: each PubMedQA CONTEXTS entry becomes one section (label from LABELS), and LONG_ANSWER (the
abstract's conclusion, stored by PubMedQA without its heading) becomes a final section labelled CONCLUSIONS; the
abstract is the sections joined as "LABEL: text", separated by a blank line. PMID 23591401 (reserved for independent
evaluation) is left out. `python3 benchmarks/audit_corpus/corpus.py` checks the file and prints its counts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE / "raw" / "ori_pqal.json"
SOURCE_FILE = "pubmedqa/pubmedqa/data/ori_pqal.json"
SOURCE_COMMIT = "1f00b98d5cc626844bf8c4ca513b6e62c40071ec"
SOURCE_CHARS = 2584787
EXCLUDED_PMIDS = {"23591401"}


def corpus_row(pmid: str, record: dict) -> dict:
    sections = [{"label": label, "text": text} for label, text in zip(record["LABELS"], record["CONTEXTS"],
                                                                      strict=True)]
    if record.get("LONG_ANSWER"):
        sections.append({"label": "CONCLUSIONS", "text": record["LONG_ANSWER"]})
    return {
        "pmid": pmid, "source_file": SOURCE_FILE, "source_commit": SOURCE_COMMIT,
        "question_title": record.get("QUESTION"), "year": record.get("YEAR"), "mesh": record.get("MESHES", []),
        "sections": sections, "abstract": "\n\n".join(f"{s['label']}: {s['text']}" for s in sections),
    }


def load() -> list[dict]:
    """Every abstract of the corpus, in file order."""
    text = SOURCE.read_text(encoding="utf-8")
    assert len(text) == SOURCE_CHARS, f"{SOURCE} has {len(text)} characters, not {SOURCE_CHARS}"
    return [corpus_row(pmid, record) for pmid, record in json.loads(text).items() if pmid not in EXCLUDED_PMIDS]


def main() -> None:
    text = SOURCE.read_text(encoding="utf-8")
    rows = load()
    print(json.dumps({"source_sha256": hashlib.sha256(text.encode()).hexdigest(), "abstracts": len(rows),
                      "with_percent": sum("%" in r["abstract"] for r in rows),
                      "randomised_trials": sum(any("Random" in m for m in r["mesh"]) for r in rows)}, indent=1))


if __name__ == "__main__":
    main()

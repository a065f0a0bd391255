#!/usr/bin/env python3
"""Build abstracts.jsonl from a saved prefix of PubMedQA's data/ori_pqal.json.

Source: github.com/pubmedqa/pubmedqa, data/ori_pqal.json
        (commit 1f00b98d5cc626844bf8c4ca513b6e62c40071ec, 2,584,787 chars).

The prefix was read page by page (16,000 characters per page, offsets
0, 16000, 32000, ...) and saved verbatim.  Two input forms are accepted:

  * --pages DIR   a folder of pNNNNNNN.json files, each holding one page as a
                  JSON string literal (how the pages were first saved); the
                  pages must be contiguous from offset 0 and 16,000 chars each
                  (the last may be shorter only if it ends the file);
  * --prefix FILE the concatenated prefix (raw/ori_pqal.prefix.txt, kept in
                  this folder), i.e. the first N characters of the upstream
                  file, byte for byte.

Only complete records are written; a record cut by the end of the prefix is
dropped.  Text is not edited: each PubMedQA CONTEXTS entry becomes one section
(label from LABELS), and LONG_ANSWER (the abstract's conclusion, stored by
PubMedQA without its heading) becomes a final section labelled CONCLUSIONS.

Usage:
  python3 build_corpus.py --prefix raw/ori_pqal.prefix.txt
  python3 build_corpus.py --pages /tmp/pqa/pages --write-prefix raw/ori_pqal.prefix.txt
"""
import argparse
import glob
import hashlib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_REPO = "pubmedqa/pubmedqa"
SOURCE_PATH = "data/ori_pqal.json"
SOURCE_COMMIT = "1f00b98d5cc626844bf8c4ca513b6e62c40071ec"
SOURCE_TOTAL_CHARS = 2584787
PAGE = 16000
EXCLUDED_PMIDS = {"23591401"}  # reserved for independent evaluation

START = re.compile(r'\n    "(\d+)": \{\n')
END = "\n    }"


def load_pages(folder):
    files = sorted(glob.glob(os.path.join(folder, "p*.json")))
    if not files:
        sys.exit("no pages in %s" % folder)
    parts = []
    for i, f in enumerate(files):
        off = int(os.path.basename(f)[1:-5])
        if off != i * PAGE:
            sys.exit("page gap: expected offset %d, found %s" % (i * PAGE, f))
        with open(f, encoding="utf-8") as fh:
            text = json.loads(fh.read())
        last = i == len(files) - 1
        if len(text) != PAGE and not (last and off + len(text) == SOURCE_TOTAL_CHARS):
            sys.exit("page %s has %d chars, expected %d" % (f, len(text), PAGE))
        parts.append(text)
    return "".join(parts)


def parse_records(prefix):
    out = []
    for m in START.finditer(prefix):
        pmid = m.group(1)
        body_start = m.end() - 2  # position of "{"
        end = prefix.find(END, m.end())
        if end < 0:
            break  # record cut by the end of the prefix
        body = prefix[body_start:end + len(END)]
        try:
            rec = json.loads(body)
        except ValueError as exc:
            sys.exit("record %s does not parse: %s" % (pmid, exc))
        out.append((pmid, rec))
    return out


def to_corpus_row(pmid, rec):
    contexts, labels = rec["CONTEXTS"], rec["LABELS"]
    if len(contexts) != len(labels):
        raise ValueError("%s: %d contexts but %d labels" % (pmid, len(contexts), len(labels)))
    sections = [{"label": lab, "text": txt} for lab, txt in zip(labels, contexts)]
    if rec.get("LONG_ANSWER"):
        sections.append({"label": "CONCLUSIONS", "text": rec["LONG_ANSWER"]})
    abstract = "\n\n".join("%s: %s" % (s["label"], s["text"]) for s in sections)
    return {
        "pmid": pmid,
        "source_file": "%s/%s" % (SOURCE_REPO, SOURCE_PATH),
        "source_commit": SOURCE_COMMIT,
        "question_title": rec.get("QUESTION"),
        "year": rec.get("YEAR"),
        "mesh": rec.get("MESHES", []),
        "sections": sections,
        "abstract": abstract,
    }


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--pages")
    g.add_argument("--prefix")
    ap.add_argument("--write-prefix")
    ap.add_argument("--out", default=os.path.join(HERE, "abstracts.jsonl"))
    args = ap.parse_args()

    if args.pages:
        prefix = load_pages(args.pages)
    else:
        with open(args.prefix, encoding="utf-8", newline="") as fh:
            prefix = fh.read()
    if args.write_prefix:
        with open(args.write_prefix, "w", encoding="utf-8", newline="") as fh:
            fh.write(prefix)

    rows, seen, excluded = [], set(), 0
    for pmid, rec in parse_records(prefix):
        if pmid in EXCLUDED_PMIDS:
            excluded += 1
            continue
        if pmid in seen:
            continue
        seen.add(pmid)
        rows.append(to_corpus_row(pmid, rec))

    with open(args.out, "w", encoding="utf-8", newline="\n") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")

    pct = sum(1 for r in rows if "%" in r["abstract"])
    pval = sum(1 for r in rows if re.search(r"[Pp]\s*[<=>\u2264\u2265]", r["abstract"]))
    both = sum(1 for r in rows if "%" in r["abstract"] and re.search(r"[Pp]\s*[<=>\u2264\u2265]", r["abstract"]))
    print(json.dumps({
        "prefix_chars": len(prefix),
        "prefix_sha256": hashlib.sha256(prefix.encode("utf-8")).hexdigest(),
        "records_written": len(rows),
        "excluded_reserved_pmids": excluded,
        "first_pmid": rows[0]["pmid"] if rows else None,
        "last_pmid": rows[-1]["pmid"] if rows else None,
        "with_percent": pct,
        "with_p_value": pval,
        "with_both": both,
        "bytes": os.path.getsize(args.out),
    }, indent=1))


if __name__ == "__main__":
    main()

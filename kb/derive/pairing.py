"""The evidence that relates numbers: helpers shared by the checks of an abstract (`abstract_checks`, `shares`).

Every check names, in its `inputs` (`pairing`), the words that relate its numbers; rows are compared within their
sentence (`source_text`, which starts at `sentence_start` in the abstract).
"""

from __future__ import annotations

import re

from kb.checks.verdict import Verdict

TWO_GROUPS = re.compile(r"\b(?i:group|groups|arm|arms|placebo|control|controls|patients\s+(?:receiving|treated|given|"
                        r"on|with)|versus|vs\.?|compared\s+(?:with|to))\b")


def with_pairing(verdict: Verdict, evidence: str) -> Verdict:
    """`verdict` with the words that related its numbers (its pairing evidence) in `inputs`."""
    verdict["inputs"]["pairing"] = evidence
    return verdict


def same_sentence(rows: list[dict], row: dict) -> list[dict]:
    return [r for r in rows if r["source_text"] == row["source_text"] and r["id"] != row["id"]]


def between(sentence: str, first: dict, second: dict) -> str:
    offset = first.get("sentence_start") or 0
    return sentence[first["span_end"] - offset:second["span_start"] - offset]

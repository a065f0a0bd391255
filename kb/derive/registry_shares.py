"""An article's percentages against the counts its linked registry record posts: arm-level shares against the
registry's arm sizes, adverse-event shares against the registry's counts for the same event and arm.

Pairing with evidence: a percentage is compared only when the article names its group and that group is one of the
registry's (a word of the group, such as the drug, in the registry group's title), and, for an adverse event, when
every word of the registry's event term is in the article's measure. The evidence (registry table, term, group and
counts) is in `inputs.pairing`. An arm-level share that no whole count of the registry's arm size gives is
`not_checkable`, since the article may count another population (evaluable, per protocol); an adverse-event share that
differs from the one count the registry posts for that event and arm is `inconsistent`.
"""

from __future__ import annotations

import re

import sqlite_utils

from kb.checks import percent_of_count
from kb.checks.verdict import Verdict, not_checkable
from kb.derive.pairing import with_pairing
from kb.store.documents import rows_where

GENERIC = {"group", "groups", "arm", "arms", "patients", "participants", "subjects", "the", "with", "and", "treated",
           "receiving", "given", "cohort"}


def registry_shares(db: sqlite_utils.Database, nct: str, published: list[dict]) -> list[tuple[Verdict, list[str]]]:
    """The checks of the article's group-level percentages (`published`: its results rows) against registry `nct`."""
    arms = {}  # group → (STARTED count, path) of the first period: the arm as randomised
    for r in rows_where(db, "participant_flow", "nct_id = ? and kind = 'milestone' and type = 'STARTED'", [nct],
                        order_by="rowid"):
        if r["group"]:
            arms.setdefault(r["group"], (r["count"], r["path"]))
    events = list(rows_where(db, "adverse_events", "nct_id = ? and num_at_risk > 0", [nct], order_by="id"))
    found = []
    for row in published:
        if row["statistic"] != "percent" or not row["group"] or row["n"]:
            continue
        group = _registry_group(row["group"], set(arms) | {e["group"] for e in events})
        if group is None:
            continue
        same_event = [e for e in events if e["group"] == group and _names_event(row, e["term"])]
        if same_event:
            found.append(_event_check(row, group, same_event))
        elif group in arms and (size := _integer(arms[group][0])):
            found.append(_arm_check(row, group, size, arms[group][1]))
    return found


def _event_check(row: dict, group: str, events: list[dict]) -> tuple[Verdict, list[str]]:
    verdicts = [(e, percent_of_count(row["value"], e["num_at_risk"], e["num_affected"])) for e in events]
    uses = [row["id"]] + [e["id"] for e in events]
    fitting = [(e, v) for e, v in verdicts if v["verdict"] != "inconsistent"]
    event, verdict = (fitting or verdicts)[0]
    evidence = (f"registry adverse_events: \"{event['term']}\" ({event['seriousness']}) in \"{group}\": "
                f"{event['num_affected']} of {event['num_at_risk']} ({event['path']})")
    if not fitting and len(events) > 1:
        counts = "; ".join(f"{e['num_affected']} of {e['num_at_risk']} ({e['seriousness']})" for e in events)
        return not_checkable("registry_percent", {"percent": row["value"], "pairing": evidence}, row["value"],
                             f"The article's {row['value']}% of \"{event['term']}\" in {row['group']} matches none "
                             f"of the registry's counts for it ({counts}); which one the article reports is not "
                             "stated."), uses
    verdict["kind"] = "registry_percent"
    verdict["detail"] = (f"Against the registry's \"{event['term']}\" in \"{group}\": {verdict['detail']}")
    return with_pairing(verdict, evidence), uses


def _arm_check(row: dict, group: str, size: int, path: str) -> tuple[Verdict, list[str]]:
    verdict = percent_of_count(row["value"], size, row.get("k"))
    evidence = f"registry participant_flow: \"{group}\" STARTED {size} ({path})"
    if verdict["verdict"] == "inconsistent":
        return not_checkable("registry_percent", {"percent": row["value"], "pairing": evidence}, row["value"],
                             f"No whole count of the registry's {size} in \"{group}\" gives {row['value']}%; the "
                             "article may count another population (evaluable, per protocol)."), [row["id"]]
    verdict["kind"] = "registry_percent"
    verdict["detail"] = f"Against the registry's arm size of \"{group}\": {verdict['detail']}"
    return with_pairing(verdict, evidence), [row["id"]]


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z0-9-]{2,}", text.lower()) if w not in GENERIC}


def _registry_group(article_group: str, titles: set[str]) -> str | None:
    """The one registry group whose title shares a word with the article's group ("sorafenib group")."""
    wanted = _words(article_group)
    matches = [t for t in titles if wanted & _words(t)]
    return matches[0] if len(matches) == 1 else None


def _names_event(row: dict, term: str | None) -> bool:
    """Every word of the registry's event term is in the article's measure of the percentage or in the words just
    before it."""
    words = _words(term or "")
    at = row["span_start"] - (row.get("sentence_start") or 0)
    before = (row["source_text"] or "")[max(0, at - 60):at]
    return bool(words) and words <= _words(f"{row['measure'] or ''} {before}")


def _integer(text) -> int | None:
    return int(text) if str(text or "").isdigit() and int(text) > 0 else None

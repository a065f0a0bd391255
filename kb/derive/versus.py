"""A registry record against one of its articles: enrollment, enrollment period, endpoints (COMPare's
classification), regimen, posted results, and the numbers both report."""

from __future__ import annotations

import re

import sqlite_utils

from kb.checks.verdict import CONSISTENT, INCONSISTENT, NOT_CHECKABLE, Verdict, make_verdict, not_checkable
from kb.derive.abstract_checks import sample_size
from kb.derive.registry_shares import registry_shares
from kb.extract.common import days_per
from kb.extract.dates import extract_period
from kb.extract.endpoints import match_endpoints
from kb.numbers import Reported
from kb.store.documents import get_row, rows_where


def registry_vs_article(db: sqlite_utils.Database, trial: dict, aid: str) -> list[tuple[Verdict, list[str]]]:
    """Enrollment, enrollment period, endpoints, regimen and posted results of a trial against one article."""
    article = get_row(db, "articles", aid)
    results = list(rows_where(db, "results", "subject = ? and source = 'publication' and kind = 'abstract'", [aid],
                              order_by="span_start"))
    found = [_enrollment(trial, aid, sample_size(results)), _period(trial, article)]
    found += _endpoints(db, trial, aid)
    found.append(_regimen(db, trial, aid))
    found.append(_results_posted(trial, aid))
    found += _shared_numbers(db, trial["nct_id"], results)
    found += registry_shares(db, trial["nct_id"], results)
    return found


def _enrollment(trial: dict, aid: str, size: dict | None) -> tuple[Verdict, list[str]]:
    kind = "enrollment"
    inputs = {"article": aid, "registry_enrollment": trial["enrollment"], "enrollment_type": trial["enrollment_type"],
              "article_n": size["value"] if size else None}
    uses = [size["id"]] if size else []
    if trial["enrollment"] is None or size is None:
        missing = "the registry gives no enrollment" if trial["enrollment"] is None else "the abstract states no n"
        return not_checkable(kind, inputs, inputs["article_n"] or "", f"Cannot compare enrollment: {missing}."), uses
    n, registered = int(size["value_num"]), trial["enrollment"]
    kind_word = (trial["enrollment_type"] or "").lower() or "registered"
    if n == registered:
        return make_verdict(kind, inputs, size["value"], {"registry": [registered, registered]}, ["registry"],
                            f"The article's n = {n} equals the registry's {kind_word} enrollment of {registered}.",
                            verdict=CONSISTENT), uses
    detail = (f"The article reports n = {n}, the registry an {kind_word} enrollment of {registered} "
              f"({abs(n - registered)} {'fewer' if n < registered else 'more'} in the article).")
    verdict = INCONSISTENT if trial["enrollment_type"] == "ACTUAL" else NOT_CHECKABLE
    if verdict == NOT_CHECKABLE:
        detail += " An anticipated enrollment need not be reached."
    return make_verdict(kind, inputs, size["value"], {"registry": [registered, registered]}, [], detail,
                        verdict=verdict), uses


def _period(trial: dict, article: dict) -> tuple[Verdict, list[str]]:
    kind = "enrollment_period"
    period = extract_period(article["abstract"] or "")
    inputs = {"article": article["article_id"], "period": period, "start_date": trial["start_date"],
              "primary_completion_date": trial["primary_completion_date"]}
    if not period or not trial["start_date"]:
        return not_checkable(kind, inputs, period["text"] if period else "",
                             "Cannot compare the enrollment period: "
                             + ("the abstract states none." if not period else "the registry gives no start date.")), []
    start, end = period["start"], period["end"]
    registry_start = trial["start_date"][:7]
    registry_end = (trial["primary_completion_date"] or "")[:7]
    inside = registry_start <= start and (not registry_end or end <= registry_end)
    detail = (f"The article's enrollment period {period['text'].split(' ', 1)[1]} "
              f"{'lies within' if inside else 'falls outside'} the registry's study dates "
              f"(start {trial['start_date']}, primary completion {trial['primary_completion_date'] or 'not given'}).")
    return make_verdict(kind, inputs, period["text"], {}, ["within registry dates"] if inside else [], detail,
                        verdict=CONSISTENT if inside else INCONSISTENT), []


def _endpoints(db: sqlite_utils.Database, trial: dict, aid: str) -> list[tuple[Verdict, list[str]]]:
    """COMPare's classification: registered primary endpoints reported, unreported, or changed; endpoints added."""
    nct = trial["nct_id"]
    registry = list(rows_where(db, "endpoints", "subject = ? and source = 'registry'", [nct],
                               order_by="kind, position"))
    published = list(rows_where(db, "endpoints", "subject = ? and source = 'publication'", [aid], order_by="position"))
    if registry and not published:
        return [(not_checkable("endpoint_reported", {"article": aid}, "", "The abstract names no endpoints, so the "
                               f"{len(registry)} registered endpoints cannot be compared with it."),
                 [r["id"] for r in registry])]
    by_match = {p["matched_to"]: p for p in published if p["matched_to"]}
    mentions_secondary = any(p["kind"] == "secondary" for p in published)
    found = []
    for reg in registry:
        pub = by_match.get(reg["id"])
        inputs = {"article": aid, "registry": reg["measure"], "registry_time_frame": reg["time_frame"],
                  "publication": pub["measure"] if pub else None,
                  "publication_time_frame": pub["time_frame"] if pub else None}
        name = f"registered {reg['kind']} endpoint \"{reg['measure']}\""
        if pub is None:
            if reg["kind"] == "primary" or mentions_secondary:
                found.append((make_verdict("endpoint_unreported", inputs, "", {}, [],
                                           f"The {name} is not reported in the abstract.", verdict=INCONSISTENT),
                              [reg["id"]]))
            continue
        if pub["kind"] != reg["kind"]:
            detail, verdict = f"The {name} is reported as a {pub['kind']} endpoint.", INCONSISTENT
        elif pub["time_frame"] and reg["time_frame"] and not _same_time(pub["time_frame"], reg["time_frame"]):
            detail, verdict = (f"The {name} is reported with time frame \"{pub['time_frame']}\" instead of "
                               f"\"{reg['time_frame']}\"."), INCONSISTENT
        else:
            detail, verdict = f"The {name} is reported as registered (\"{pub['measure']}\").", CONSISTENT
        found.append((make_verdict("endpoint_reported", inputs, pub["measure"], {}, [] if verdict != CONSISTENT
                                   else ["matched"], detail, verdict=verdict), [reg["id"], pub["id"]]))
    if registry:
        for pub in published:
            if not pub["matched_to"]:
                inputs = {"article": aid, "publication": pub["measure"], "kind": pub["kind"]}
                found.append((make_verdict("endpoint_added", inputs, pub["measure"], {}, [],
                                           f"The {pub['kind']} endpoint \"{pub['measure']}\" of the article is not "
                                           "among the registered endpoints.", verdict=INCONSISTENT), [pub["id"]]))
    elif published:
        found.append((not_checkable("endpoint_reported", {"article": aid}, "",
                                    "The registry record lists no outcome measures to compare with the article's "
                                    "endpoints."), [p["id"] for p in published]))
    return found


def _durations(text: str | None) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?\s*(?:day|week|month|year)", (text or "").lower()))


def _same_time(a: str, b: str) -> bool:
    """True when two time frames name a common duration (e.g. "24 weeks" in "Baseline and 24 weeks")."""
    left, right = _durations(a), _durations(b)
    return not left or not right or bool(left & right)


def _regimen(db: sqlite_utils.Database, trial: dict, aid: str) -> tuple[Verdict, list[str]]:
    """The article's drugs and doses against the registry's interventions."""
    nct = trial["nct_id"]
    published = list(rows_where(db, "regimen", "subject = ? and source = 'publication'", [aid]))
    registered = list(rows_where(db, "regimen", "subject = ? and source = 'registry'", [nct]))
    names = {r["name"].lower() for r in rows_where(db, "interventions", "nct_id = ?", [nct]) if r["name"]}
    inputs = {"article": aid, "publication_drugs": sorted({r["drug"] for r in published}),
              "registry_interventions": sorted(names)}
    uses = [r["id"] for r in published + registered]
    if not published or not names:
        return not_checkable("regimen", inputs, "", "Cannot compare the regimen: "
                             + ("the abstract gives no dosed drug." if not published else
                                "the registry lists no interventions.")), uses
    registry_text = " ".join(names) + " " + " ".join(r["drug"] for r in registered)
    missing = sorted({r["drug"] for r in published if r["drug"] not in registry_text})
    reg_doses = {(r["drug"], r["dose_num"], r["unit"]) for r in registered if r["dose_num"] is not None}
    pub_doses = {(r["drug"], r["dose_num"], r["unit"]) for r in published if r["dose_num"] is not None}
    other_doses = sorted(f"{d} {v:g} {u}" for d, v, u in pub_doses - reg_doses
                         if reg_doses and d in {x[0] for x in reg_doses})
    if missing or other_doses:
        parts = ([f"drug(s) {', '.join(missing)} not among the registered interventions"] if missing else []) + \
                ([f"dose(s) {', '.join(other_doses)} not in the registry's descriptions"] if other_doses else [])
        return make_verdict("regimen", inputs, "", {}, [], f"The article's regimen differs from the registry: "
                            f"{'; '.join(parts)}.", verdict=INCONSISTENT), uses
    doses = "with the same doses" if reg_doses else "(the registry states no doses to compare)"
    return make_verdict("regimen", inputs, "", {}, ["same drugs"], f"The article's drugs "
                        f"({', '.join(inputs['publication_drugs'])}) are the registered interventions {doses}.",
                        verdict=CONSISTENT), uses


def _results_posted(trial: dict, aid: str) -> tuple[Verdict, list[str]]:
    inputs = {"article": aid, "has_results": trial["has_results"],
              "results_first_posted": trial["results_first_posted"],
              "primary_completion_date": trial["primary_completion_date"]}
    if trial["has_results"]:
        return make_verdict("results_posted", inputs, "", {}, ["posted"],
                            f"Results are posted on the registry (first posted {trial['results_first_posted']}), so "
                            "the article's numbers can be compared with them.", verdict=CONSISTENT), []
    return not_checkable("results_posted", inputs, "", "No results are posted on the registry, so the article's "
                         "numbers cannot be compared with registry results."), []


COMPARED_STATISTICS = ("median", "mean", "hazard_ratio", "odds_ratio", "risk_ratio", "percent")


def _statistic_class(statistic: str | None, unit: str | None) -> str | None:
    """A registry param type or an extracted statistic as one of COMPARED_STATISTICS (None if not compared)."""
    text, unit = (statistic or "").lower(), (unit or "").lower()
    for word, name in (("hazard", "hazard_ratio"), ("odds", "odds_ratio"), ("risk", "risk_ratio"),
                       ("median", "median"), ("mean", "mean")):
        if word in text:
            return name
    if text in ("percent", "number", "count_of_participants") and ("percent" in unit or "%" in unit):
        return "percent"
    return None


def _scaled(value: Reported, unit: str | None, to_unit: str | None) -> tuple[float, float] | None:
    """`value`'s interval in `to_unit` (durations converted; any other unit must be the same)."""
    here, there = days_per(unit), days_per(to_unit)
    if here and there:
        return value.lo * here / there, value.hi * here / there
    same = (unit or "").lower() == (to_unit or "").lower() or "percent" in (unit or "").lower() and to_unit == "%"
    return (value.lo, value.hi) if same or not to_unit else None


def _registry_value(row: dict, unit: str | None) -> str:
    """ "386 Days (12.7 months) (Placebo)": a registry value, converted to the article's unit when it differs."""
    text = " ".join(x for x in (row["value"], row["unit"]) if x)
    here, there = days_per(row["unit"]), days_per(unit)
    if here and there and here != there:
        text += f" ({row['value_num'] * here / there:.1f} {unit})"
    return f"{text} ({row['group']})" if row["group"] else text


def _shared_numbers(db: sqlite_utils.Database, nct: str, published: list[dict]) -> list[tuple[Verdict, list[str]]]:
    """Numbers both sides report (a median, a ratio, a mean, a percentage; durations converted): do they agree?

    A published number equal, within both roundings, to a registry value of the same kind is consistent. One that
    equals none is inconsistent only when its measure matches a registry outcome reporting that kind of number
    (the endpoint matching rule); otherwise the two sides are not about the same thing and nothing is said.
    """
    registry = [r for r in rows_where(db, "results", "subject = ? and source = 'registry'", [nct], order_by="id")
                if r["value_num"] is not None and _statistic_class(r["statistic"], r["unit"])]
    found = []
    for pub in published:
        kind = pub["statistic"] if pub["statistic"] in COMPARED_STATISTICS else None
        same_kind = [r for r in registry if kind and _statistic_class(r["statistic"], r["unit"]) == kind]
        if not same_kind or pub["value_num"] is None:
            continue
        value = Reported.parse(pub["value"])
        agree = [r for r in same_kind if (b := _scaled(Reported.parse(r["value"]), r["unit"], pub["unit"]))
                 and value.meets(*b)]
        shown = f"{kind.replace('_', ' ')} {pub['value']}{' ' + pub['unit'] if pub['unit'] else ''}"
        inputs = {"publication": pub["value"], "unit": pub["unit"], "measure": pub["measure"]}
        if agree:
            reg = agree[0]
            inputs["pairing"] = f"equal values of one kind ({kind}) on both sides, at {reg['path']}"
            found.append((make_verdict("shared_number", {**inputs, "registry": reg["value"]}, pub["value"], {},
                                       [reg["id"]],
                          f"The article's {shown} ({pub['measure'] or 'unnamed measure'}) matches the registry's "
                          f"{_registry_value(reg, pub['unit'])} for \"{reg['measure']}\".",
                          verdict=CONSISTENT), [pub["id"], reg["id"]]))
            continue
        measures = list({r["measure"]: r for r in same_kind}.values())
        match = match_endpoints([{"measure": pub["measure"] or "", "time_frame": pub["timepoint"]}],
                                [{"measure": r["measure"], "time_frame": r["timepoint"]} for r in measures])[0]
        if match is None:
            continue
        reg_measure = measures[match]["measure"]
        values = ", ".join(_registry_value(r, pub["unit"]) for r in same_kind if r["measure"] == reg_measure)
        inputs["pairing"] = (f"the article's measure \"{pub['measure']}\" matches the registry outcome "
                             f"\"{reg_measure}\" (the endpoint matching rule)")
        found.append((make_verdict("shared_number", inputs, pub["value"], {}, [],
                                   f"The article's {shown} for {pub['measure']} matches none of the registry's values "
                                   f"for \"{reg_measure}\": {values}.", verdict=INCONSISTENT),
                      [pub["id"]] + [r["id"] for r in same_kind if r["measure"] == reg_measure]))
    return found

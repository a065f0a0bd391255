"""Which stored numbers go into which check, and the comparisons of a registry record with its articles.

`checks(db, subject)` returns the `checks` rows of one subject: an article (`pmid:…`: its abstract's statistics
recomputed) or a trial (NCT ID: its registry analyses and baseline counts recomputed, its registration timing, and
every comparison with the articles linked to it). Each row names the `results`, `endpoints` and `regimen` rows it
used (`uses`), so every verdict leads back to snapshots. The statistics live in `kb.checks`; this module only
chooses their inputs and words the registry-versus-publication findings.
"""

from __future__ import annotations

import calendar
import json
import re
from datetime import date

import sqlite_utils

from .checks import recompute as rc
from .checks.verdict import CONSISTENT, INCONSISTENT, NOT_CHECKABLE, Verdict, make_verdict, not_checkable
from .checks.intervals import Reported
from .extract.dates import extract_period
from .extract.endpoints import match_endpoints

RATIO = re.compile(r"hazard|odds|risk|ratio|\bHR\b|\bOR\b|\bRR\b", re.IGNORECASE)
DIFFERENCE = re.compile(r"difference", re.IGNORECASE)
REDUCTION = re.compile(r"reduction|reduc|decreas|declin|fall|drop|lower", re.IGNORECASE)
CHANGE = re.compile(r"reduc|decreas|declin|fall|drop|chang|increas|improv|rise|gain", re.IGNORECASE)
WORD = re.compile(r"[a-z][a-z0-9-]{2,}", re.IGNORECASE)


def checks(db: sqlite_utils.Database, subject: str) -> list[dict]:
    """The `checks` rows of one article or trial, numbered in a stable order."""
    found = trial_checks(db, subject) if subject.upper().startswith("NCT") else article_checks(db, subject)
    rows, seen = [], {}
    for verdict, uses in found:
        seen[verdict["kind"]] = seen.get(verdict["kind"], 0) + 1
        rows.append({
            "id": f"{subject}/{verdict['kind']}/{seen[verdict['kind']]}", "subject": subject, "kind": verdict["kind"],
            "inputs": json.dumps(verdict["inputs"]), "reported": verdict["reported"],
            "recomputed": json.dumps(verdict["recomputed"]), "methods_fit": json.dumps(verdict["methods_fit"]),
            "verdict": verdict["verdict"],
            "decision_error": None if verdict["decision_error"] is None else int(verdict["decision_error"]),
            "detail": verdict["detail"], "uses": json.dumps(uses),
        })
    return rows


# --- an article's abstract --------------------------------------------------------------------------------------


def _words(text: str | None) -> set[str]:
    return {w.lower() for w in WORD.findall(text or "")}


def sample_size(rows: list[dict]) -> dict | None:
    """The article's overall n: the largest `n` row that names no subgroup."""
    sizes = [r for r in rows if r["statistic"] == "n" and not r["group"] and r["value_num"] is not None]
    return max(sizes, key=lambda r: r["value_num"], default=None)


def article_checks(db: sqlite_utils.Database, aid: str) -> list[tuple[Verdict, list[str]]]:
    rows = list(db["results"].rows_where("subject = ? and source = 'publication'", [aid], order_by="span_start"))
    return statistics_checks(rows, db["articles"].get(aid)["abstract"] or "")


def statistics_checks(rows: list[dict], text: str) -> list[tuple[Verdict, list[str]]]:
    """Every check the reported numbers of one text allow (`rows` as `extract_stats` gives them, with an `id`),
    and the APA-style test statistics in `text`; each with the ids of the rows it used."""
    total = sample_size(rows)
    found = []
    for row in rows:
        n = row["n"] or (total["value_num"] if total else None)
        uses = [row["id"]] + ([total["id"]] if total and not row["n"] else [])
        if row["statistic"] == "mean" and row["p_text"] and row["dispersion"] and not row["role"]:
            found.append((rc.p_one_sample(_as_written(row, "value"), _as_written(row, "dispersion"), _int(n), row["p_text"],
                                          dispersion_type=row["dispersion_type"] or "pm"), uses))
        elif row["statistic"] in ("hazard_ratio", "odds_ratio", "risk_ratio") and row["p_text"]:
            found.append((rc.p_from_ratio_ci(row["value"], row["lower"], row["upper"], row["p_text"],
                                             level=row["ci_pct"] or "95", measure=row["statistic"].replace("_", " ")),
                          [row["id"]]))
        elif row["statistic"] == "percent":
            found.extend(_percent_check(rows, row))
    found.extend(_pair_checks(rows, total))
    found.extend(_parts_checks(rows, total))
    found.extend((verdict, []) for verdict in rc.check_apa_text(text))
    return found


def _as_written(row: dict, field: str) -> str:
    """A number with its % sign when the unit is percent, as the abstract wrote it."""
    return f"{row[field]}%" if row["unit"] == "%" else row[field]


def _int(value) -> int | None:
    return None if value is None else int(value)


def _same_sentence(rows: list[dict], row: dict) -> list[dict]:
    return [r for r in rows if r["source_text"] == row["source_text"] and r["id"] != row["id"]]


def _percent_check(rows: list[dict], row: dict) -> list[tuple[Verdict, list[str]]]:
    """GRIM for a percentage whose count ("8 (67%)") or denominator ("n = 12", "26/34") is reported with it."""
    near = _same_sentence(rows, row)
    count = next((r for r in near if r["statistic"] == "count" and 0 <= row["span_start"] - r["span_end"] <= 3), None)
    sizes = [r for r in near if r["statistic"] == "n" and not r["group"]]
    n = row["n"] or (sizes[0]["value_num"] if len(sizes) == 1 else None)
    if n is None and count is None:
        return []
    uses = [row["id"]] + [r["id"] for r in (count, *(sizes[:1] if not row["n"] else [])) if r]
    if n is None:
        return [(not_checkable("percent_of_count", {"percent": row["value"], "k": count["value"]}, row["value"],
                               f"Cannot check {row['value']}% of a count of {count['value']}: no denominator is "
                               "reported with it."), uses)]
    return [(rc.percent_of_count(row["value"], int(n), count["value"] if count else None), uses)]


def _pair_checks(rows: list[dict], total: dict | None) -> list[tuple[Verdict, list[str]]]:
    """Before/after pairs: a paired test when a p is given with them, and the relative change a mean reports."""
    found = []
    pairs = {}
    for row in rows:
        if row["pair"] is not None:
            pairs.setdefault(row["pair"], {})[row["role"]] = row
    for pair in pairs.values():
        before, after = pair.get("before"), pair.get("after")
        if not before or not after:
            continue
        p_row = before if before["p_text"] else after if after["p_text"] else next(
            (r for r in _same_sentence(rows, before) if r["statistic"] == "p_value_only"), None)
        n = before["n"] or (total["value_num"] if total else None)
        if p_row and before["dispersion"] and after["dispersion"]:
            found.append((rc.p_paired(before["value"], before["dispersion"], after["value"], after["dispersion"],
                                      _int(n), p_row["p_text"], dispersion_type=before["dispersion_type"] or "pm"),
                          [before["id"], after["id"], p_row["id"]] + ([total["id"]] if total else [])))
        shared = _words(before["measure"]) - {"mean", "level", "levels", "serum", "the"}
        for change in rows:
            if (change["statistic"] == "mean" and change["unit"] == "%" and CHANGE.search(change["measure"] or "")
                    and shared & _words(change["measure"])):
                reduction = bool(REDUCTION.search(change["measure"]))
                found.append((rc.relative_change(before["value"], after["value"], change["value"], reduction=reduction),
                              [before["id"], after["id"], change["id"]]))
    return found


def _parts_checks(rows: list[dict], total: dict | None) -> list[tuple[Verdict, list[str]]]:
    """Subgroup sizes in one sentence ("relapsed (n = 8) or refractory (n = 4)") against the total."""
    found, done = [], set()
    for row in rows:
        if row["statistic"] != "n" or not row["group"] or row["source_text"] in done:
            continue
        done.add(row["source_text"])
        parts = [r for r in rows if r["source_text"] == row["source_text"] and r["statistic"] == "n" and r["group"]]
        whole = next((r for r in _same_sentence(rows, row) if r["statistic"] == "n" and not r["group"]), total)
        if len(parts) >= 2 and whole:
            found.append((rc.parts_sum_to_total([r["value"] for r in parts], whole["value"]),
                          [r["id"] for r in parts] + [whole["id"]]))
    return found


# --- a trial's registry record, and the registry against its articles -----------------------------------------


def trial_checks(db: sqlite_utils.Database, nct: str) -> list[tuple[Verdict, list[str]]]:
    trial = db["trials"].get(nct)
    found = []
    for row in db["results"].rows_where("subject = ? and source = 'registry' and kind = 'analysis' and p_text is not null",
                                        [nct], order_by="id"):
        args = (row["value"], row["lower"], row["upper"], row["p_text"])
        level = row["ci_pct"] or "95"
        if RATIO.search(row["statistic"] or ""):
            verdict = rc.p_from_ratio_ci(*args, level=level, measure=row["statistic"], context=row["source_text"] or "")
        elif DIFFERENCE.search(row["statistic"] or "") and row["lower"] and row["upper"]:
            verdict = rc.p_from_difference_ci(*args, level=level, measure=row["statistic"],
                                              context=row["source_text"] or "")
        else:
            continue
        found.append((verdict, [row["id"]]))
    found.extend(_baseline_totals(db, nct))
    if trial["study_type"] == "INTERVENTIONAL":
        found.append((registration_timing(trial), []))
    for link in db.query("select distinct l.article_id from article_trials l join articles a using (article_id) "
                         "where l.nct_id = ? order by l.article_id", [nct]):
        found.extend(registry_vs_article(db, trial, link["article_id"]))
    return found


def _baseline_totals(db: sqlite_utils.Database, nct: str) -> list[tuple[Verdict, list[str]]]:
    """Each category's group counts against the registry's own "Total" group."""
    cells = {}
    for row in db["baseline_measurements"].rows_where(
            "nct_id = ? and param_type in ('COUNT_OF_PARTICIPANTS', 'NUMBER')", [nct], order_by="id"):
        cells.setdefault((row["measure"], row["class"], row["category"]), []).append(row)
    found = []
    for cell in cells.values():
        total = [r for r in cell if (r["group"] or "").strip().lower() == "total"]
        parts = [r for r in cell if r not in total]
        if len(total) == 1 and len(parts) >= 2:
            found.append((rc.parts_sum_to_total([r["value"] for r in parts], total[0]["value"]),
                          [r["id"] for r in cell]))
    return found


def _day(text: str | None, last: bool = False) -> date | None:
    """A registry date ("2014-07" or "2014-07-15") as a day: the first of its month, or the last with `last`."""
    if not text or not re.fullmatch(r"\d{4}-\d\d(-\d\d)?", text):
        return None
    year, month, *day = (int(x) for x in text.split("-"))
    return date(year, month, day[0] if day else calendar.monthrange(year, month)[1] if last else 1)


def registration_timing(trial: dict) -> Verdict:
    """Prospective registration (ICMJE, for interventional trials): first submitted no later than the study start."""
    kind = "registration_timing"
    inputs = {"first_submitted": trial["first_submitted"], "start_date": trial["start_date"],
              "start_date_type": trial["start_date_type"]}
    submitted, start = _day(trial["first_submitted"]), _day(trial["start_date"])
    if not submitted or not start:
        return not_checkable(kind, inputs, trial["first_submitted"] or "",
                             "The registry record lacks the first-submitted date or the study start date.")
    gap = (submitted - start).days
    start_end = _day(trial["start_date"], last=True)
    if gap <= 0:
        detail = (f"Registered prospectively: first submitted on {submitted}, {-gap} days before the study start "
                  f"({trial['start_date']}).")
        return make_verdict(kind, inputs, trial["first_submitted"], {"days after start": [gap, gap]}, ["prospective"],
                            detail, verdict=CONSISTENT)
    if len(trial["start_date"]) == 7 and submitted <= start_end:
        return not_checkable(kind, inputs, trial["first_submitted"],
                             f"First submitted on {submitted}, within the start month {trial['start_date']}; the "
                             "registry gives no start day, so whether registration preceded enrolment is unknown.")
    return make_verdict(kind, inputs, trial["first_submitted"], {"days after start": [gap, gap]}, [],
                        f"Registered retrospectively: first submitted on {submitted}, {gap} days after the study "
                        f"start ({trial['start_date']}).", verdict=INCONSISTENT)


def registry_vs_article(db: sqlite_utils.Database, trial: dict, aid: str) -> list[tuple[Verdict, list[str]]]:
    """Enrollment, enrollment period, endpoints, regimen and posted results of a trial against one article."""
    article = db["articles"].get(aid)
    results = list(db["results"].rows_where("subject = ? and source = 'publication'", [aid], order_by="span_start"))
    found = [_enrollment(trial, aid, sample_size(results)), _period(trial, article)]
    found += _endpoints(db, trial, aid)
    found.append(_regimen(db, trial, aid))
    found.append(_results_posted(trial, aid))
    found += _shared_numbers(db, trial["nct_id"], results)
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
    registry = list(db["endpoints"].rows_where("subject = ? and source = 'registry'", [nct], order_by="kind, position"))
    published = list(db["endpoints"].rows_where("subject = ? and source = 'publication'", [aid], order_by="position"))
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
                  "publication": pub["measure"] if pub else None, "publication_time_frame": pub["time_frame"] if pub else None}
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


def _same_time(a: str, b: str) -> bool:
    """True when two time frames name a common duration (e.g. "24 weeks" in "Baseline and 24 weeks")."""
    numbers = lambda text: set(re.findall(r"\d+(?:\.\d+)?\s*(?:day|week|month|year)", (text or "").lower()))
    left, right = numbers(a), numbers(b)
    return not left or not right or bool(left & right)


def _regimen(db: sqlite_utils.Database, trial: dict, aid: str) -> tuple[Verdict, list[str]]:
    """The article's drugs and doses against the registry's interventions."""
    nct = trial["nct_id"]
    published = list(db["regimen"].rows_where("subject = ? and source = 'publication'", [aid]))
    registered = list(db["regimen"].rows_where("subject = ? and source = 'registry'", [nct]))
    names = {r["name"].lower() for r in db["interventions"].rows_where("nct_id = ?", [nct]) if r["name"]}
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
    inputs = {"article": aid, "has_results": trial["has_results"], "results_first_posted": trial["results_first_posted"],
              "primary_completion_date": trial["primary_completion_date"]}
    if trial["has_results"]:
        return make_verdict("results_posted", inputs, "", {}, ["posted"],
                            f"Results are posted on the registry (first posted {trial['results_first_posted']}), so "
                            "the article's numbers can be compared with them.", verdict=CONSISTENT), []
    return not_checkable("results_posted", inputs, "", "No results are posted on the registry, so the article's "
                         "numbers cannot be compared with registry results."), []


DAYS = {"day": 1, "week": 7, "month": 30.4375, "year": 365.25}
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


def _days(unit: str | None) -> float | None:
    """Days in one `unit` ("Months", "weeks", "days") or None when it is not a duration."""
    return DAYS.get((unit or "").lower().strip().rstrip("s"))


def _scaled(value: Reported, unit: str | None, to_unit: str | None) -> tuple[float, float] | None:
    """`value`'s interval in `to_unit` (durations converted; any other unit must be the same)."""
    here, there = _days(unit), _days(to_unit)
    if here and there:
        return value.lo * here / there, value.hi * here / there
    same = (unit or "").lower() == (to_unit or "").lower() or "percent" in (unit or "").lower() and to_unit == "%"
    return (value.lo, value.hi) if same or not to_unit else None


def _registry_value(row: dict, unit: str | None) -> str:
    """ "386 Days (12.7 months) (Placebo)": a registry value, converted to the article's unit when it differs."""
    text = " ".join(x for x in (row["value"], row["unit"]) if x)
    here, there = _days(row["unit"]), _days(unit)
    if here and there and here != there:
        text += f" ({row['value_num'] * here / there:.1f} {unit})"
    return f"{text} ({row['group']})" if row["group"] else text


def _shared_numbers(db: sqlite_utils.Database, nct: str, published: list[dict]) -> list[tuple[Verdict, list[str]]]:
    """Numbers both sides report (a median, a ratio, a mean, a percentage; durations converted): do they agree?

    A published number equal, within both roundings, to a registry value of the same kind is consistent. One that
    equals none is inconsistent only when its measure matches a registry outcome reporting that kind of number
    (the endpoint matching rule); otherwise the two sides are not about the same thing and nothing is said.
    """
    registry = [r for r in db["results"].rows_where("subject = ? and source = 'registry'", [nct], order_by="id")
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
            found.append((make_verdict("shared_number", {**inputs, "registry": reg["value"]}, pub["value"], {}, [reg["id"]],
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
        found.append((make_verdict("shared_number", inputs, pub["value"], {}, [],
                                   f"The article's {shown} for {pub['measure']} matches none of the registry's values "
                                   f"for \"{reg_measure}\": {values}.", verdict=INCONSISTENT),
                      [pub["id"]] + [r["id"] for r in same_kind if r["measure"] == reg_measure]))
    return found

"""ClinicalTrials.gov API v2: fetch a study or a search, and parse a study into table rows.

`fetch_study` and `search` touch the network through `harvest.http`; `parse_study` is pure and turns one study
document (the JSON of `/api/v2/studies/{id}` or one element of the site's bulk download) into rows for the tables of
DESIGN.md, each child row carrying the JSON path it came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from . import http
from .errors import BadIdentifier, ParseError

SOURCE = http.CTGOV
NCT_RE = re.compile(r"^NCT\d{8}$", re.IGNORECASE)
MAX_PAGE_SIZE = 1000


def normalize_nct(nct_id: str) -> str:
    """`nct_id` upper-cased, or BadIdentifier if it is not NCT followed by 8 digits."""
    text = str(nct_id).strip()
    if not NCT_RE.match(text):
        raise BadIdentifier(SOURCE.name, repr(nct_id), "expected NCT followed by 8 digits, e.g. NCT02193698")
    return text.upper()


def fetch_study(nct_id: str) -> http.Fetched:
    """GET /studies/{nct_id}; a registry alias is followed to the record it now points to (see `Fetched.url`)."""
    nct = normalize_nct(nct_id)
    return http.get(SOURCE, nct, f"/studies/{nct}", params={"format": "json"}, accept="application/json")


def search(page_size: int = 100, fields: list[str] | None = None, **query: str) -> Iterator[http.Fetched]:
    """Yield every page of GET /studies for the given parameters, following `nextPageToken` to the end.

    Keyword arguments are API parameters with dots written as underscores: `filter_ids="NCT1,NCT2"`,
    `query_cond="POEMS syndrome"`, `filter_advanced="AREA[LastUpdatePostDate]RANGE[2024-01-01,MAX]"`.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadIdentifier(SOURCE.name, f"pageSize={page_size}", f"page size must be 1 to {MAX_PAGE_SIZE}")
    params = {key.replace("_", "."): value for key, value in query.items()}
    params.update({"format": "json", "pageSize": page_size, "countTotal": "true"})
    if fields:
        params["fields"] = ",".join(fields)
    key = "search " + " ".join(f"{k}={v}" for k, v in sorted(query.items()))
    while True:
        page = http.get(SOURCE, key, "/studies", params=params, accept="application/json")
        yield page
        token = parse_search_page(page.body, key).get("nextPageToken")
        if not token:
            return
        params = {**params, "pageToken": token}
        params.pop("countTotal", None)


def parse_search_page(body: bytes | str, key: str = "search") -> dict:
    """The decoded search page: `studies` (list), `nextPageToken`, `totalCount`; ParseError if it is not one."""
    page = _decode(body, key)
    if not isinstance(page, dict) or not isinstance(page.get("studies", []), list):
        raise ParseError(SOURCE.name, key, "search response has no list of studies")
    return page


def _decode(body: bytes | str | dict, key: str):
    if isinstance(body, (dict, list)):
        return body
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(SOURCE.name, key, f"body is not valid JSON ({exc})") from None


# --- parse ---------------------------------------------------------------------------------------------------------


def _obj(value) -> dict:
    return value if isinstance(value, dict) else {}


def _items(value) -> list[tuple[int, dict]]:
    """(index, element) for every dict element of a JSON array; anything else yields nothing."""
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value) -> str | None:
    if isinstance(value, bool) or value is None:
        return None if value is None else str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _int(value) -> int | None:
    try:
        return int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _strings(value) -> list[str]:
    return [str(v) for v in value if isinstance(v, (str, int, float))] if isinstance(value, list) else []


def _date(struct) -> tuple[str | None, str | None]:
    struct = _obj(struct)
    return _text(struct.get("date")), _text(struct.get("type"))


def study_nct_id(doc) -> str | None:
    """The NCT ID a study document declares, or None."""
    ident = _obj(_obj(_obj(doc).get("protocolSection")).get("identificationModule"))
    nct = _text(ident.get("nctId"))
    return nct.upper() if nct and NCT_RE.match(nct) else None


def parse_study(body: bytes | str | dict, key: str = "study") -> dict[str, list[dict]]:
    """Rows per table for one study document; ParseError if it is not a study."""
    doc = _decode(body, key)
    nct = study_nct_id(doc)
    if nct is None:
        raise ParseError(SOURCE.name, key, "JSON is not a ClinicalTrials.gov study (no protocolSection.identificationModule.nctId)")
    protocol = _obj(doc["protocolSection"])
    rows = {"trials": [_trial(nct, doc, protocol)]}
    rows.update(_terms(nct, protocol))
    rows.update(_arms_interventions(nct, protocol))
    rows["locations"] = _locations(nct, protocol)
    rows["trial_references"] = _references(nct, protocol)
    rows["endpoints"] = _endpoints(nct, protocol)
    results = _obj(doc.get("resultsSection"))
    rows["results"] = _outcome_results(nct, results)
    rows["baseline_measurements"] = _baseline(nct, results)
    rows["adverse_events"] = _adverse_events(nct, results)
    rows["participant_flow"] = _participant_flow(nct, results)
    return rows


def _trial(nct: str, doc: dict, p: dict) -> dict:
    ident, status = _obj(p.get("identificationModule")), _obj(p.get("statusModule"))
    sponsor, design = _obj(p.get("sponsorCollaboratorsModule")), _obj(p.get("designModule"))
    info, desc = _obj(design.get("designInfo")), _obj(p.get("descriptionModule"))
    elig, enrol = _obj(p.get("eligibilityModule")), _obj(design.get("enrollmentInfo"))
    start, start_type = _date(status.get("startDateStruct"))
    primary, primary_type = _date(status.get("primaryCompletionDateStruct"))
    completion, completion_type = _date(status.get("completionDateStruct"))
    collaborators = [_text(c.get("name")) for _, c in _items(sponsor.get("collaborators"))]
    healthy = elig.get("healthyVolunteers")
    return {
        "nct_id": nct,
        "org_study_id": _text(_obj(ident.get("orgStudyIdInfo")).get("id")),
        "brief_title": _text(ident.get("briefTitle")),
        "official_title": _text(ident.get("officialTitle")),
        "acronym": _text(ident.get("acronym")),
        "overall_status": _text(status.get("overallStatus")),
        "why_stopped": _text(status.get("whyStopped")),
        "study_type": _text(design.get("studyType")),
        "phase": ", ".join(_strings(design.get("phases"))) or None,
        "allocation": _text(info.get("allocation")),
        "intervention_model": _text(info.get("interventionModel")),
        "primary_purpose": _text(info.get("primaryPurpose")),
        "masking": _text(_obj(info.get("maskingInfo")).get("masking")),
        "enrollment": _int(enrol.get("count")),
        "enrollment_type": _text(enrol.get("type")),
        "start_date": start,
        "start_date_type": start_type,
        "primary_completion_date": primary,
        "primary_completion_date_type": primary_type,
        "completion_date": completion,
        "completion_date_type": completion_type,
        "first_submitted": _text(status.get("studyFirstSubmitDate")),
        "first_posted": _date(status.get("studyFirstPostDateStruct"))[0],
        "last_update_submitted": _text(status.get("lastUpdateSubmitDate")),
        "last_update_posted": _date(status.get("lastUpdatePostDateStruct"))[0],
        "results_first_posted": _date(status.get("resultsFirstPostDateStruct"))[0],
        "sponsor": _text(_obj(sponsor.get("leadSponsor")).get("name")),
        "sponsor_class": _text(_obj(sponsor.get("leadSponsor")).get("class")),
        "collaborators": json.dumps(collaborators) if collaborators else None,
        "has_results": int(doc.get("hasResults") is True or bool(doc.get("resultsSection"))),
        "brief_summary": _text(desc.get("briefSummary")),
        "detailed_description": _text(desc.get("detailedDescription")),
        "eligibility_criteria": _text(elig.get("eligibilityCriteria")),
        "sex": _text(elig.get("sex")),
        "minimum_age": _text(elig.get("minimumAge")),
        "maximum_age": _text(elig.get("maximumAge")),
        "healthy_volunteers": None if not isinstance(healthy, bool) else int(healthy),
        "std_ages": json.dumps(_strings(elig.get("stdAges"))) if _strings(elig.get("stdAges")) else None,
        "registry_state": "current",
    }


def _terms(nct: str, p: dict) -> dict[str, list[dict]]:
    conditions = _obj(p.get("conditionsModule"))
    base = "protocolSection.conditionsModule"
    return {
        table: [
            {"nct_id": nct, "position": i, column: str(term), "path": f"{base}.{field}[{i}]"}
            for i, term in enumerate(conditions.get(field) or [])
            if isinstance(term, (str, int, float))
        ]
        for table, column, field in (("conditions", "condition", "conditions"), ("keywords", "keyword", "keywords"))
    }


def _arms_interventions(nct: str, p: dict) -> dict[str, list[dict]]:
    module = _obj(p.get("armsInterventionsModule"))
    base = "protocolSection.armsInterventionsModule"
    arms, interventions, links = [], [], {}
    for i, arm in _items(module.get("armGroups")):
        label = _text(arm.get("label"))
        arms.append({"nct_id": nct, "position": i, "label": label, "type": _text(arm.get("type")),
                     "description": _text(arm.get("description")), "path": f"{base}.armGroups[{i}]"})
        for j, name in enumerate(_strings(arm.get("interventionNames"))):
            name = re.sub(r"^[A-Za-z_ ]+:\s*", "", name)  # "Drug: Sorafenib" names the intervention "Sorafenib"
            links[(label, name)] = f"{base}.armGroups[{i}].interventionNames[{j}]"
    for i, item in _items(module.get("interventions")):
        name = _text(item.get("name"))
        interventions.append({
            "nct_id": nct, "position": i, "type": _text(item.get("type")), "name": name,
            "description": _text(item.get("description")),
            "other_names": json.dumps(_strings(item.get("otherNames"))) if _strings(item.get("otherNames")) else None,
            "path": f"{base}.interventions[{i}]",
        })
        for j, label in enumerate(_strings(item.get("armGroupLabels"))):
            links.setdefault((label, name), f"{base}.interventions[{i}].armGroupLabels[{j}]")
    arm_links = [{"nct_id": nct, "arm_label": arm, "intervention": name, "path": path}
                 for (arm, name), path in links.items()]
    return {"arms": arms, "interventions": interventions, "arm_interventions": arm_links}


def _locations(nct: str, p: dict) -> list[dict]:
    base = "protocolSection.contactsLocationsModule.locations"
    return [
        {"nct_id": nct, "position": i, "facility": _text(loc.get("facility")), "city": _text(loc.get("city")),
         "state": _text(loc.get("state")), "country": _text(loc.get("country")), "status": _text(loc.get("status")),
         "path": f"{base}[{i}]"}
        for i, loc in _items(_obj(p.get("contactsLocationsModule")).get("locations"))
    ]


def _references(nct: str, p: dict) -> list[dict]:
    base = "protocolSection.referencesModule.references"
    return [
        {"nct_id": nct, "position": i, "pmid": _text(ref.get("pmid")), "type": _text(ref.get("type")),
         "citation": _text(ref.get("citation")), "path": f"{base}[{i}]"}
        for i, ref in _items(_obj(p.get("referencesModule")).get("references"))
    ]


def _endpoints(nct: str, p: dict) -> list[dict]:
    outcomes = _obj(p.get("outcomesModule"))
    rows = []
    for kind in ("primary", "secondary", "other"):
        for i, item in _items(outcomes.get(f"{kind}Outcomes")):
            path = f"protocolSection.outcomesModule.{kind}Outcomes[{i}]"
            rows.append({
                "id": f"{nct}/registry/{path}", "subject": nct, "source": "registry", "kind": kind, "position": i,
                "measure": _text(item.get("measure")), "description": _text(item.get("description")),
                "time_frame": _text(item.get("timeFrame")), "path": path,
            })
    return rows


def _group_titles(groups) -> dict[str, str]:
    return {str(g.get("id")): _text(g.get("title")) for _, g in _items(groups)}


def _denominators(denoms) -> dict[str, str]:
    """groupId → participant count from a `denoms` list (the participants unit when there are several)."""
    chosen = {}
    for _, denom in _items(denoms):
        counts = {str(c.get("groupId")): _text(c.get("value")) for _, c in _items(denom.get("counts"))}
        if not chosen or str(denom.get("units", "")).lower() == "participants":
            chosen = counts
    return chosen


def _outcome_results(nct: str, results: dict) -> list[dict]:
    """One row per outcome measurement and one per statistical analysis."""
    rows = []
    base = "resultsSection.outcomeMeasuresModule.outcomeMeasures"
    for i, om in _items(_obj(results.get("outcomeMeasuresModule")).get("outcomeMeasures")):
        groups = _group_titles(om.get("groups"))
        common = {"subject": nct, "source": "registry", "measure": _text(om.get("title")),
                  "timepoint": _text(om.get("timeFrame")), "unit": _text(om.get("unitOfMeasure"))}
        outer_denoms = _denominators(om.get("denoms"))
        for j, cls in _items(om.get("classes")):
            denoms = _denominators(cls.get("denoms")) or outer_denoms
            for k, cat in _items(cls.get("categories")):
                category = " / ".join(t for t in (_text(cls.get("title")), _text(cat.get("title"))) if t) or None
                for m, meas in _items(cat.get("measurements")):
                    path = f"{base}[{i}].classes[{j}].categories[{k}].measurements[{m}]"
                    group_id = str(meas.get("groupId"))
                    rows.append({
                        **common, "id": f"{nct}/registry/{path}", "kind": "outcome", "path": path,
                        "group": groups.get(group_id) or group_id, "category": category,
                        "n": _int(denoms.get(group_id)), "statistic": _text(om.get("paramType")),
                        "value": _text(meas.get("value")), "dispersion_type": _text(om.get("dispersionType")),
                        "dispersion": _text(meas.get("spread")), "lower": _text(meas.get("lowerLimit")),
                        "upper": _text(meas.get("upperLimit")), "source_text": _text(meas.get("comment")),
                    })
        for a, analysis in _items(om.get("analyses")):
            path = f"{base}[{i}].analyses[{a}]"
            ids = _strings(analysis.get("groupIds"))
            comments = [_text(analysis.get(f)) for f in ("statisticalComment", "pValueComment", "estimateComment",
                                                          "groupDescription")]
            rows.append({
                **common, "id": f"{nct}/registry/{path}", "kind": "analysis", "path": path, "unit": None,
                "group": " vs ".join(groups.get(g) or g for g in ids) or None,
                "groups_compared": json.dumps(ids) if ids else None,
                "statistic": _text(analysis.get("paramType")), "value": _text(analysis.get("paramValue")),
                "dispersion_type": _text(analysis.get("dispersionType")),
                "dispersion": _text(analysis.get("dispersionValue")),
                "lower": _text(analysis.get("ciLowerLimit")), "upper": _text(analysis.get("ciUpperLimit")),
                "ci_pct": _text(analysis.get("ciPctValue")), "ci_sides": _text(analysis.get("ciNumSides")),
                "p_text": _text(analysis.get("pValue")), "method": _text(analysis.get("statisticalMethod")),
                "source_text": " ".join(c for c in comments if c) or None,
            })
    return rows


def _baseline(nct: str, results: dict) -> list[dict]:
    module = _obj(results.get("baselineCharacteristicsModule"))
    groups = _group_titles(module.get("groups"))
    rows = []
    for i, measure in _items(module.get("measures")):
        for j, cls in _items(measure.get("classes")):
            for k, cat in _items(cls.get("categories")):
                for m, meas in _items(cat.get("measurements")):
                    path = f"resultsSection.baselineCharacteristicsModule.measures[{i}].classes[{j}].categories[{k}].measurements[{m}]"
                    group_id = str(meas.get("groupId"))
                    rows.append({
                        "id": f"{nct}/{path}", "nct_id": nct, "measure": _text(measure.get("title")),
                        "param_type": _text(measure.get("paramType")),
                        "dispersion_type": _text(measure.get("dispersionType")),
                        "unit": _text(measure.get("unitOfMeasure")), "class": _text(cls.get("title")),
                        "category": _text(cat.get("title")), "group_id": group_id,
                        "group": groups.get(group_id) or group_id, "value": _text(meas.get("value")),
                        "spread": _text(meas.get("spread")), "lower": _text(meas.get("lowerLimit")),
                        "upper": _text(meas.get("upperLimit")), "path": path,
                    })
    return rows


def _adverse_events(nct: str, results: dict) -> list[dict]:
    module = _obj(results.get("adverseEventsModule"))
    groups = _group_titles(module.get("eventGroups"))
    rows = []
    for seriousness in ("serious", "other"):
        for i, event in _items(module.get(f"{seriousness}Events")):
            for j, stat in _items(event.get("stats")):
                path = f"resultsSection.adverseEventsModule.{seriousness}Events[{i}].stats[{j}]"
                group_id = str(stat.get("groupId"))
                rows.append({
                    "id": f"{nct}/{path}", "nct_id": nct, "seriousness": seriousness, "term": _text(event.get("term")),
                    "organ_system": _text(event.get("organSystem")), "group_id": group_id,
                    "group": groups.get(group_id) or group_id, "num_events": _int(stat.get("numEvents")),
                    "num_affected": _int(stat.get("numAffected")), "num_at_risk": _int(stat.get("numAtRisk")),
                    "path": path,
                })
    return rows


def _participant_flow(nct: str, results: dict) -> list[dict]:
    module = _obj(results.get("participantFlowModule"))
    groups = _group_titles(module.get("groups"))
    rows = []
    for i, period in _items(module.get("periods")):
        for kind, field, inner in (("milestone", "milestones", "achievements"), ("drop_withdraw", "dropWithdraws", "reasons")):
            for j, item in _items(period.get(field)):
                for k, count in _items(item.get(inner)):
                    path = f"resultsSection.participantFlowModule.periods[{i}].{field}[{j}].{inner}[{k}]"
                    group_id = str(count.get("groupId"))
                    rows.append({
                        "id": f"{nct}/{path}", "nct_id": nct, "period": _text(period.get("title")), "kind": kind,
                        "type": _text(item.get("type")), "group_id": group_id, "group": groups.get(group_id) or group_id,
                        "count": _text(count.get("numSubjects")), "path": path,
                    })
    return rows

"""The parts of a ClinicalTrials.gov study document (API v2 JSON, or one study of the site's bulk download), each a
list of plain dicts carrying the record's NCT ID and the JSON path the part came from; `ctgov.parse_study` puts them
together into a `records.StudyRecord`. Pure: no network, no database.
"""

from __future__ import annotations

import json
import re

from harvest.identifiers import normalize_pmid, valid_or_none
from harvest.parsing import as_text, integer, items, obj, strings


def _date(struct) -> tuple[str | None, str | None]:
    struct = obj(struct)
    return as_text(struct.get("date")), as_text(struct.get("type"))


def trial(nct: str, doc: dict, p: dict) -> dict:
    ident, status = obj(p.get("identificationModule")), obj(p.get("statusModule"))
    sponsor, design = obj(p.get("sponsorCollaboratorsModule")), obj(p.get("designModule"))
    info, desc = obj(design.get("designInfo")), obj(p.get("descriptionModule"))
    elig, enrol = obj(p.get("eligibilityModule")), obj(design.get("enrollmentInfo"))
    start, start_type = _date(status.get("startDateStruct"))
    primary, primary_type = _date(status.get("primaryCompletionDateStruct"))
    completion, completion_type = _date(status.get("completionDateStruct"))
    collaborators = [as_text(c.get("name")) for _, c in items(sponsor.get("collaborators"))]
    healthy = elig.get("healthyVolunteers")
    return {
        "nct_id": nct,
        "org_study_id": as_text(obj(ident.get("orgStudyIdInfo")).get("id")),
        "brief_title": as_text(ident.get("briefTitle")),
        "official_title": as_text(ident.get("officialTitle")),
        "acronym": as_text(ident.get("acronym")),
        "overall_status": as_text(status.get("overallStatus")),
        "why_stopped": as_text(status.get("whyStopped")),
        "study_type": as_text(design.get("studyType")),
        "phase": ", ".join(strings(design.get("phases"))) or None,
        "allocation": as_text(info.get("allocation")),
        "intervention_model": as_text(info.get("interventionModel")),
        "primary_purpose": as_text(info.get("primaryPurpose")),
        "masking": as_text(obj(info.get("maskingInfo")).get("masking")),
        "enrollment": integer(enrol.get("count")),
        "enrollment_type": as_text(enrol.get("type")),
        "start_date": start,
        "start_date_type": start_type,
        "primary_completion_date": primary,
        "primary_completion_date_type": primary_type,
        "completion_date": completion,
        "completion_date_type": completion_type,
        "first_submitted": as_text(status.get("studyFirstSubmitDate")),
        "first_posted": _date(status.get("studyFirstPostDateStruct"))[0],
        "last_update_submitted": as_text(status.get("lastUpdateSubmitDate")),
        "last_update_posted": _date(status.get("lastUpdatePostDateStruct"))[0],
        "results_first_posted": _date(status.get("resultsFirstPostDateStruct"))[0],
        "sponsor": as_text(obj(sponsor.get("leadSponsor")).get("name")),
        "sponsor_class": as_text(obj(sponsor.get("leadSponsor")).get("class")),
        "collaborators": json.dumps(collaborators) if collaborators else None,
        "has_results": int(doc.get("hasResults") is True or bool(doc.get("resultsSection"))),
        "brief_summary": as_text(desc.get("briefSummary")),
        "detailed_description": as_text(desc.get("detailedDescription")),
        "eligibility_criteria": as_text(elig.get("eligibilityCriteria")),
        "sex": as_text(elig.get("sex")),
        "minimum_age": as_text(elig.get("minimumAge")),
        "maximum_age": as_text(elig.get("maximumAge")),
        "healthy_volunteers": None if not isinstance(healthy, bool) else int(healthy),
        "std_ages": json.dumps(strings(elig.get("stdAges"))) if strings(elig.get("stdAges")) else None,
    }


def terms(nct: str, p: dict) -> dict[str, list[dict]]:
    conditions = obj(p.get("conditionsModule"))
    base = "protocolSection.conditionsModule"
    return {
        field: [
            {"nct_id": nct, "position": i, column: str(term), "path": f"{base}.{field}[{i}]"}
            for i, term in enumerate(conditions.get(field) if isinstance(conditions.get(field), list) else [])
            if isinstance(term, (str, int, float)) and not isinstance(term, bool)
        ]
        for column, field in (("condition", "conditions"), ("keyword", "keywords"))
    }


def arms_interventions(nct: str, p: dict) -> dict[str, list[dict]]:
    module = obj(p.get("armsInterventionsModule"))
    base = "protocolSection.armsInterventionsModule"
    arms, interventions, links = [], [], {}
    for i, arm in items(module.get("armGroups")):
        label = as_text(arm.get("label"))
        arms.append({"nct_id": nct, "position": i, "label": label, "type": as_text(arm.get("type")),
                     "description": as_text(arm.get("description")), "path": f"{base}.armGroups[{i}]"})
        for j, name in enumerate(strings(arm.get("interventionNames"))):
            name = re.sub(r"^[A-Za-z_ ]+:\s*", "", name)  # "Drug: Sorafenib" names the intervention "Sorafenib"
            links[(label, name)] = f"{base}.armGroups[{i}].interventionNames[{j}]"
    for i, item in items(module.get("interventions")):
        name = as_text(item.get("name"))
        interventions.append({
            "nct_id": nct, "position": i, "type": as_text(item.get("type")), "name": name,
            "description": as_text(item.get("description")),
            "other_names": json.dumps(strings(item.get("otherNames"))) if strings(item.get("otherNames")) else None,
            "path": f"{base}.interventions[{i}]",
        })
        for j, label in enumerate(strings(item.get("armGroupLabels"))):
            links.setdefault((label, name), f"{base}.interventions[{i}].armGroupLabels[{j}]")
    arm_links = [{"nct_id": nct, "arm_label": arm, "intervention": name, "path": path}
                 for (arm, name), path in links.items()]
    return {"arms": arms, "interventions": interventions, "arm_interventions": arm_links}


def locations(nct: str, p: dict) -> list[dict]:
    base = "protocolSection.contactsLocationsModule.locations"
    return [
        {"nct_id": nct, "position": i, "facility": as_text(loc.get("facility")), "city": as_text(loc.get("city")),
         "state": as_text(loc.get("state")), "country": as_text(loc.get("country")),
         "status": as_text(loc.get("status")), "path": f"{base}[{i}]"}
        for i, loc in items(obj(p.get("contactsLocationsModule")).get("locations"))
    ]


def references(nct: str, p: dict) -> list[dict]:
    base = "protocolSection.referencesModule.references"
    return [
        {"nct_id": nct, "position": i, "pmid": valid_or_none(normalize_pmid, as_text(ref.get("pmid"))),
         "type": as_text(ref.get("type")),
         "citation": as_text(ref.get("citation")), "path": f"{base}[{i}]"}
        for i, ref in items(obj(p.get("referencesModule")).get("references"))
    ]


def outcomes(nct: str, p: dict) -> list[dict]:
    outcomes = obj(p.get("outcomesModule"))
    rows = []
    for kind in ("primary", "secondary", "other"):
        for i, item in items(outcomes.get(f"{kind}Outcomes")):
            rows.append({
                "nct_id": nct, "kind": kind, "position": i, "measure": as_text(item.get("measure")),
                "description": as_text(item.get("description")), "time_frame": as_text(item.get("timeFrame")),
                "path": f"protocolSection.outcomesModule.{kind}Outcomes[{i}]",
            })
    return rows


def _group_titles(groups) -> dict[str, str]:
    return {str(g.get("id")): as_text(g.get("title")) for _, g in items(groups)}


def _denominators(denoms) -> dict[str, str]:
    """groupId → participant count from a `denoms` list (the participants unit when there are several)."""
    chosen = {}
    for _, denom in items(denoms):
        counts = {str(c.get("groupId")): as_text(c.get("value")) for _, c in items(denom.get("counts"))}
        if not chosen or str(denom.get("units", "")).lower() == "participants":
            chosen = counts
    return chosen


def outcome_results(nct: str, results: dict) -> list[dict]:
    """One row per outcome measurement and one per statistical analysis."""
    rows = []
    base = "resultsSection.outcomeMeasuresModule.outcomeMeasures"
    for i, om in items(obj(results.get("outcomeMeasuresModule")).get("outcomeMeasures")):
        groups = _group_titles(om.get("groups"))
        common = {"nct_id": nct, "measure": as_text(om.get("title")),
                  "timepoint": as_text(om.get("timeFrame")), "unit": as_text(om.get("unitOfMeasure"))}
        outer_denoms = _denominators(om.get("denoms"))
        for j, cls in items(om.get("classes")):
            denoms = _denominators(cls.get("denoms")) or outer_denoms
            for k, cat in items(cls.get("categories")):
                category = " / ".join(t for t in (as_text(cls.get("title")), as_text(cat.get("title"))) if t) or None
                for m, meas in items(cat.get("measurements")):
                    path = f"{base}[{i}].classes[{j}].categories[{k}].measurements[{m}]"
                    group_id = str(meas.get("groupId"))
                    rows.append({
                        **common, "kind": "outcome", "path": path,
                        "group": groups.get(group_id) or group_id, "category": category,
                        "n": integer(denoms.get(group_id)), "statistic": as_text(om.get("paramType")),
                        "value": as_text(meas.get("value")), "dispersion_type": as_text(om.get("dispersionType")),
                        "dispersion": as_text(meas.get("spread")), "lower": as_text(meas.get("lowerLimit")),
                        "upper": as_text(meas.get("upperLimit")), "source_text": as_text(meas.get("comment")),
                    })
        for a, analysis in items(om.get("analyses")):
            path = f"{base}[{i}].analyses[{a}]"
            ids = strings(analysis.get("groupIds"))
            comments = [as_text(analysis.get(f)) for f in ("statisticalComment", "pValueComment", "estimateComment",
                                                          "groupDescription")]
            rows.append({
                **common, "kind": "analysis", "path": path, "unit": None,
                "group": " vs ".join(groups.get(g) or g for g in ids) or None,
                "groups_compared": json.dumps(ids) if ids else None,
                "statistic": as_text(analysis.get("paramType")), "value": as_text(analysis.get("paramValue")),
                "dispersion_type": as_text(analysis.get("dispersionType")),
                "dispersion": as_text(analysis.get("dispersionValue")),
                "lower": as_text(analysis.get("ciLowerLimit")), "upper": as_text(analysis.get("ciUpperLimit")),
                "ci_pct": as_text(analysis.get("ciPctValue")), "ci_sides": as_text(analysis.get("ciNumSides")),
                "p_text": as_text(analysis.get("pValue")), "method": as_text(analysis.get("statisticalMethod")),
                "source_text": " ".join(c for c in comments if c) or None,
            })
    return rows


def baseline(nct: str, results: dict) -> list[dict]:
    module = obj(results.get("baselineCharacteristicsModule"))
    groups = _group_titles(module.get("groups"))
    rows = []
    for i, measure in items(module.get("measures")):
        about = {"measure": as_text(measure.get("title")), "param_type": as_text(measure.get("paramType")),
                 "dispersion_type": as_text(measure.get("dispersionType")),
                 "unit": as_text(measure.get("unitOfMeasure"))}
        for j, cls in items(measure.get("classes")):
            for k, cat in items(cls.get("categories")):
                for m, meas in items(cat.get("measurements")):
                    path = (f"resultsSection.baselineCharacteristicsModule.measures[{i}]"
                            f".classes[{j}].categories[{k}].measurements[{m}]")
                    group_id = str(meas.get("groupId"))
                    rows.append({
                        "nct_id": nct, **about, "class": as_text(cls.get("title")),
                        "category": as_text(cat.get("title")), "group_id": group_id,
                        "group": groups.get(group_id) or group_id, "value": as_text(meas.get("value")),
                        "spread": as_text(meas.get("spread")), "lower": as_text(meas.get("lowerLimit")),
                        "upper": as_text(meas.get("upperLimit")), "path": path,
                    })
    return rows


def adverse_events(nct: str, results: dict) -> list[dict]:
    module = obj(results.get("adverseEventsModule"))
    groups = _group_titles(module.get("eventGroups"))
    rows = []
    for seriousness in ("serious", "other"):
        for i, event in items(module.get(f"{seriousness}Events")):
            term, organ_system = as_text(event.get("term")), as_text(event.get("organSystem"))
            for j, stat in items(event.get("stats")):
                path = f"resultsSection.adverseEventsModule.{seriousness}Events[{i}].stats[{j}]"
                group_id = str(stat.get("groupId"))
                rows.append({
                    "nct_id": nct, "seriousness": seriousness, "term": term,
                    "organ_system": organ_system, "group_id": group_id,
                    "group": groups.get(group_id) or group_id, "num_events": integer(stat.get("numEvents")),
                    "num_affected": integer(stat.get("numAffected")), "num_at_risk": integer(stat.get("numAtRisk")),
                    "path": path,
                })
    return rows


def participant_flow(nct: str, results: dict) -> list[dict]:
    module = obj(results.get("participantFlowModule"))
    groups = _group_titles(module.get("groups"))
    rows = []
    for i, period in items(module.get("periods")):
        for kind, field, inner in (("milestone", "milestones", "achievements"),
                                   ("drop_withdraw", "dropWithdraws", "reasons")):
            for j, item in items(period.get(field)):
                for k, count in items(item.get(inner)):
                    path = f"resultsSection.participantFlowModule.periods[{i}].{field}[{j}].{inner}[{k}]"
                    group_id = str(count.get("groupId"))
                    rows.append({
                        "nct_id": nct, "period": as_text(period.get("title")), "kind": kind,
                        "type": as_text(item.get("type")), "group_id": group_id,
                        "group": groups.get(group_id) or group_id,
                        "count": as_text(count.get("numSubjects")), "path": path,
                    })
    return rows


# The parts below leave out an entry that gives none of its values (an identifier without its id, a sponsor without
# name or class, a term without id or name): a row of nulls says nothing.


def secondary_ids(nct: str, p: dict) -> list[dict]:
    """The record's secondary IDs (EudraCT, NIH grant, another registry's number, a sponsor's number, ...)."""
    base = "protocolSection.identificationModule.secondaryIdInfos"
    return [
        {"nct_id": nct, "position": i, "secondary_id": as_text(info.get("id")), "type": as_text(info.get("type")),
         "domain": as_text(info.get("domain")), "link": as_text(info.get("link")), "path": f"{base}[{i}]"}
        for i, info in items(obj(p.get("identificationModule")).get("secondaryIdInfos")) if as_text(info.get("id"))
    ]


def sponsors(nct: str, p: dict) -> list[dict]:
    """The lead sponsor (role `lead`, position 0) and each collaborator (role `collaborator`, in the record's order)."""
    module = obj(p.get("sponsorCollaboratorsModule"))
    base = "protocolSection.sponsorCollaboratorsModule"
    listed = [("lead", 0, obj(module.get("leadSponsor")), f"{base}.leadSponsor")]
    listed += [("collaborator", i, item, f"{base}.collaborators[{i}]")
               for i, item in items(module.get("collaborators"))]
    rows = [{"nct_id": nct, "role": role, "position": i, "name": as_text(item.get("name")),
             "class": as_text(item.get("class")), "path": path} for role, i, item, path in listed]
    return [row for row in rows if row["name"] or row["class"]]


# The registry's browse modules (derivedSection): the MeSH terms it matched to the record's conditions and
# interventions (`meshes`), their MeSH ancestors, the site's browse leaves (its own ids, with relevance and the
# record's text that matched) and browse branches (the site's categories). No module gives MeSH tree numbers.
BROWSE_MODULES = (("condition", "conditionBrowseModule"), ("intervention", "interventionBrowseModule"))
BROWSE_LISTS = (("mesh", "meshes", "term"), ("ancestor", "ancestors", "term"), ("leaf", "browseLeaves", "name"),
                ("branch", "browseBranches", "name"))


def mesh_terms(nct: str, derived: dict) -> list[dict]:
    """One row per term of the browse modules: `mesh_id` for MeSH terms and ancestors, `browse_id` for the site's
    leaves (M…, T…) and branches (their abbreviation)."""
    rows = []
    for kind, module_name in BROWSE_MODULES:
        module = obj(derived.get(module_name))
        for relation, field, term in BROWSE_LISTS:
            for i, item in items(module.get(field)):
                code = as_text(item.get("abbrev" if relation == "branch" else "id"))
                if not (code or as_text(item.get(term))):
                    continue
                rows.append({
                    "nct_id": nct, "kind": kind, "relation": relation, "position": i,
                    "mesh_id": code if relation in ("mesh", "ancestor") else None,
                    "browse_id": code if relation in ("leaf", "branch") else None,
                    "term": as_text(item.get(term)), "relevance": as_text(item.get("relevance")),
                    "as_found": as_text(item.get("asFound")), "path": f"derivedSection.{module_name}.{field}[{i}]",
                })
    return rows


def countries(nct: str, p: dict, derived: dict) -> list[dict]:
    """The distinct countries of the record's locations (`removed` 0; path: the first location in that country),
    then the countries the registry lists as removed from the record (`removed` 1)."""
    rows, seen = [], set()
    base = "protocolSection.contactsLocationsModule.locations"
    for i, location in items(obj(p.get("contactsLocationsModule")).get("locations")):
        country = as_text(location.get("country"))
        if country and (country, 0) not in seen:
            seen.add((country, 0))
            rows.append({"nct_id": nct, "country": country, "removed": 0, "path": f"{base}[{i}].country"})
    removed = obj(derived.get("miscInfoModule")).get("removedCountries")
    for i, country in enumerate(removed if isinstance(removed, list) else []):
        country = country if isinstance(country, str) and country else None
        if country and (country, 1) not in seen:
            seen.add((country, 1))
            rows.append({"nct_id": nct, "country": country, "removed": 1,
                         "path": f"derivedSection.miscInfoModule.removedCountries[{i}]"})
    return rows

"""ClinicalTrials.gov API v2: fetch a study, a search (its pages split into one response per study), the change
list and (unofficially) a record's history; parse a study into a `records.StudyRecord`.

`fetch_*` and `search` touch the network through `harvest.http`; the parsers are pure. `parse_study` turns one study
document (the JSON of `/api/v2/studies/{id}` or one element of the site's bulk download) into a StudyRecord, every
part carrying the JSON path it came from; the parts themselves are read in `ctgov_study.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlsplit

from harvest import http
from harvest.errors import BadIdentifier, ParseError
from harvest.identifiers import normalize_nct, valid_or_none
from harvest.parsing import as_text, decode_json, obj
from harvest.records import StudyRecord
from harvest.registries import ctgov_study as part

SOURCE = http.Source("ClinicalTrials.gov", "KB_CTGOV_URL", "https://clinicaltrials.gov/api/v2", 50 / 60)
# The registry's record-history view: an undocumented internal endpoint (shape as used by the R package cthist).
HISTORY = http.Source("ClinicalTrials.gov unofficial history", "KB_CTGOV_HISTORY_URL",
                      "https://clinicaltrials.gov/api/int", 50 / 60)
MAX_PAGE_SIZE = 1000
# filter.ids is sent in the URL: at most URL_BUDGET bytes of it per request (NCT IDs and their encoded commas), so
# that a request URL stays under the 8 KiB that servers and proxies commonly accept: 571 IDs a request.
URL_BUDGET = 8000
IDS_PER_REQUEST = min(MAX_PAGE_SIZE, URL_BUDGET // len(quote("NCT00000000,", safe="")))
CHANGE_FIELDS = ["NCTId", "LastUpdatePostDate"]
# What every full study record has and a fields-restricted one lacks (unless it asked for all of them).
FULL_RECORD = ("hasResults", "derivedSection", "protocolSection.identificationModule.orgStudyIdInfo",
               "protocolSection.statusModule", "protocolSection.sponsorCollaboratorsModule")


def fetch_study(nct_id: str) -> http.Fetched:
    """GET /studies/{nct_id}; a registry alias is followed to the record it now points to (see `Fetched.url`)."""
    nct = normalize_nct(nct_id)
    return http.get(SOURCE, nct, f"/studies/{nct}", params={"format": "json"}, accept="application/json")


def search(page_size: int = 100, fields: list[str] | None = None, key: str | None = None,
           page_token: str | None = None, **query: str) -> Iterator[http.Fetched]:
    """Yield every page of GET /studies for the given parameters, following `nextPageToken` to the end (from
    `page_token` on, if given); `key` names the search in snapshots and errors (default: its parameters).

    Keyword arguments are API parameters with dots written as underscores: `filter_ids="NCT1,NCT2"`,
    `query_cond="POEMS syndrome"`, `filter_advanced="AREA[LastUpdatePostDate]RANGE[2024-01-01,MAX]"`.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadIdentifier(SOURCE.name, f"pageSize={page_size}", f"page size must be 1 to {MAX_PAGE_SIZE}")
    params = {key.replace("_", "."): value for key, value in query.items()}
    params.update({"format": "json", "pageSize": page_size, "countTotal": "true"})
    if fields:
        params["fields"] = ",".join(fields)
    if page_token:
        params = {**params, "pageToken": page_token}
        params.pop("countTotal")
    key, seen = key or search_key(**query), {page_token}
    while True:
        page = http.get(SOURCE, key, "/studies", params=params, accept="application/json")
        yield page
        token = parse_search_page(page.body, key).get("nextPageToken")
        if not token:
            return
        if token in seen:
            raise ParseError(SOURCE.name, key, f"nextPageToken {token[:40]!r} given twice: the pages would never end")
        seen.add(token)
        params = {**params, "pageToken": token}
        params.pop("countTotal", None)


def search_key(**query: str) -> str:
    """The name of a search in snapshots and messages: `search query.cond=POEMS syndrome`."""
    return "search " + " ".join(f"{k.replace('_', '.')}={v}" for k, v in sorted(query.items()))


def parse_search_page(body: bytes | str, key: str = "search") -> dict:
    """The decoded search page: `studies` (list), `nextPageToken`, `totalCount`; ParseError if it is not one."""
    page = _decode(body, key)
    if not isinstance(page, dict) or not isinstance(page.get("studies", []), list):
        raise ParseError(SOURCE.name, key, "search response has no list of studies")
    return page


def _decode(body: bytes | str | dict, key: str):
    return body if isinstance(body, (dict, list)) else decode_json(body, SOURCE.name, key)


def id_chunks(nct_ids: list[str]) -> Iterator[list[str]]:
    """`nct_ids` in runs of IDS_PER_REQUEST, one `filter.ids` request each."""
    for start in range(0, len(nct_ids), IDS_PER_REQUEST):
        yield nct_ids[start:start + IDS_PER_REQUEST]


def chunk_key(chunk: list[str]) -> str:
    return f"{len(chunk)} records {chunk[0]}..{chunk[-1]}" if len(chunk) > 1 else chunk[0]


def fetch_change_list(nct_ids: list[str] | None = None, since: str | None = None) -> list[http.Fetched]:
    """The pages of the change list (`fields=NCTId,LastUpdatePostDate`, 1,000 to a page): of the records posted on
    or after `since` (a date) if given, else of `nct_ids` (one search per IDS_PER_REQUEST IDs)."""
    if since:
        return list(search(MAX_PAGE_SIZE, CHANGE_FIELDS, f"change list since {since}",
                           filter_advanced=f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"))
    return [page for chunk in id_chunks(nct_ids or []) for page in search(
        MAX_PAGE_SIZE, CHANGE_FIELDS, f"change list of {chunk_key(chunk)}", filter_ids=",".join(chunk))]


def fetch_studies(chunk: list[str]) -> Iterator[http.Fetched]:
    """The pages of full records (no `fields`) of one chunk of `id_chunks`, up to 1,000 records a page; split them
    with `split_page`."""
    return search(min(len(chunk), MAX_PAGE_SIZE), key=chunk_key(chunk), filter_ids=",".join(chunk))


_BLANK = re.compile(r"[ \t\n\r]*")


def split_page(page: http.Fetched) -> list[tuple[http.Fetched, dict]]:
    """Each study of a search page of full records as its own response, with its decoded JSON: the study's exact
    bytes as the API sent them (sliced from the page, not re-serialised), the page's URL with the study's place
    (`#/studies/3`), the page's fetch time. ParseError, nothing split, for a page that is not a search page or holds
    fields-restricted records (the request had `fields`, or a study lacks what every full record has)."""
    if "fields" in parse_qs(urlsplit(page.url).query):
        raise ParseError(SOURCE.name, page.key, "a fields-restricted search page (the request had fields=) is not "
                                                "full records; nothing of it stored")
    try:
        text = page.body.decode("utf-8")
        spans = _study_spans(text)
    except (UnicodeDecodeError, ValueError, IndexError, KeyError) as exc:
        raise ParseError(SOURCE.name, page.key, f"not a search page of studies ({exc})") from None
    split = []
    for index, (start, end, study) in enumerate(spans):
        nct = study_nct_id(study, f"{page.key} study {index}")
        if missing := [name for name in FULL_RECORD if not _has(study, name.split("."))]:
            raise ParseError(SOURCE.name, page.key, f"study {index} ({nct}) lacks {', '.join(missing)}: a "
                             "fields-restricted page, not full records; nothing of it stored")
        split.append((http.Fetched(page.source, nct, f"{page.url}#/studies/{index}", page.status,
                                   text[start:end].encode(), page.content_type, page.fetched_at), study))
    return split


def _has(value, path: list[str]) -> bool:
    for step in path:
        if not isinstance(value, dict) or step not in value:
            return False
        value = value[step]
    return True


def _study_spans(text: str) -> list[tuple[int, int, dict]]:
    """(start, end, decoded) of each element of the top-level `studies` array of a JSON object, read in place."""
    decoder, spans, found = json.JSONDecoder(), [], False

    def blank(at: int) -> int:
        return _BLANK.match(text, at).end()

    at = blank(0)
    if text[at] != "{":
        raise ValueError("not a JSON object")
    at = blank(at + 1)
    while text[at] != "}":
        name, at = decoder.raw_decode(text, at)
        at = blank(at)
        if text[at] != ":":
            raise ValueError(f"':' expected at {at}")
        at = blank(at + 1)
        if name == "studies" and text[at] == "[":
            found, at = True, blank(at + 1)
            while text[at] != "]":
                study, end = decoder.raw_decode(text, at)
                if not isinstance(study, dict):
                    raise ValueError(f"studies[{len(spans)}] is not an object")
                spans.append((at, end, study))
                at = blank(end)
                at = blank(at + 1) if text[at] == "," else at
            at += 1
        else:
            _, at = decoder.raw_decode(text, at)
        at = blank(at)
        at = blank(at + 1) if text[at] == "," else at
    if not found or text[blank(at + 1):]:
        raise ValueError("no list of studies" if not found else "text after the page")
    return spans


def parse_change_list(body: bytes | str) -> dict[str, str | None]:
    """NCT ID → last update posted for one fields-restricted search page; ParseError if it is not one.

    Dates go through `parse_study`, the parser that reads a record's last update date, so both compare alike.
    """
    page = parse_search_page(body, "change list")
    if "studies" not in page:
        raise ParseError(SOURCE.name, "change list", "search response has no list of studies")
    records = (parse_study(study, "change list") for study in page["studies"])
    return {record["nct_id"]: record["trial"]["last_update_posted"] for record in records}


def fetch_history(nct_id: str) -> list[http.Fetched]:
    """UNOFFICIAL, best effort: the record-history index of `nct_id` and every version it lists.

    The registry documents no history API; this calls the internal endpoint behind its "History of Changes" page
    (`/api/int/studies/{id}?history=true` → `history.changes[].version`, `/api/int/studies/{id}/history/{n}` →
    `study`), as the R package cthist does. It may change or vanish without notice.
    """
    nct_id = normalize_nct(nct_id)
    index = http.get(HISTORY, f"{nct_id}/history", f"/studies/{nct_id}", params={"history": "true"},
                     accept="application/json")
    numbers = [int(change["version"]) for change in _history_field(index, "history", "changes")]
    versions = [http.get(HISTORY, f"{nct_id}/history/{n}", f"/studies/{nct_id}/history/{n}",
                         accept="application/json") for n in numbers]
    for version in versions:
        if study_nct_id(_history_field(version, "study")) != nct_id:
            raise ParseError(HISTORY.name, version.key, f"response holds no study {nct_id}")
    return [index, *versions]


def _history_field(fetched: http.Fetched, *path: str):
    """The value at `path` in a history response; ParseError if the (undocumented) shape is not as expected."""
    value = decode_json(fetched.body, HISTORY.name, fetched.key)
    try:
        for step in path:
            value = value[step]
        return value
    except (KeyError, TypeError, IndexError):
        raise ParseError(HISTORY.name, fetched.key, f"no {'.'.join(path)} in the response (the unofficial "
                                                    "endpoint may have changed)") from None


# --- parse ---------------------------------------------------------------------------------------------------------


def study_nct_id(doc, key: str | None = None) -> str | None:
    """The NCT ID a study document declares, normalised (upper case, blanks around it dropped); None if it declares
    none or a malformed one, or, when `key` is given, ParseError naming `key` and saying which."""
    declared = as_text(obj(obj(obj(doc).get("protocolSection")).get("identificationModule")).get("nctId"))
    if (nct := valid_or_none(normalize_nct, declared)) or key is None:
        return nct
    raise ParseError(SOURCE.name, key, f"protocolSection.identificationModule.nctId {declared!r} is not NCT followed "
                     "by 8 digits" if declared else "JSON is not a ClinicalTrials.gov study "
                     "(no protocolSection.identificationModule.nctId)")


def parse_study(body: bytes | str | dict, key: str = "study") -> StudyRecord:
    """The StudyRecord of one study document (or its decoded JSON); ParseError if it is not a study."""
    doc = _decode(body, key)
    nct = study_nct_id(doc, key)
    protocol, results, derived = (obj(doc.get(section)) for section in ("protocolSection", "resultsSection",
                                                                         "derivedSection"))
    return StudyRecord(
        nct_id=nct, trial=part.trial(nct, doc, protocol), **part.terms(nct, protocol),
        **part.arms_interventions(nct, protocol), locations=part.locations(nct, protocol),
        references=part.references(nct, protocol), outcomes=part.outcomes(nct, protocol),
        outcome_results=part.outcome_results(nct, results), baseline=part.baseline(nct, results),
        adverse_events=part.adverse_events(nct, results), participant_flow=part.participant_flow(nct, results),
        secondary_ids=part.secondary_ids(nct, protocol), sponsors=part.sponsors(nct, protocol),
        mesh_terms=part.mesh_terms(nct, derived), countries=part.countries(nct, protocol, derived),
    )

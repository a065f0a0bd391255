"""Identifiers: NCT ID, PMID, DOI and PMCID, checked (whole string) and normalised before any request is made."""

from __future__ import annotations

import re

from .errors import BadIdentifier

NCT_RE = re.compile(r"NCT\d{8}", re.IGNORECASE)
PMID_RE = re.compile(r"(?:pmid:?\s*)?(\d{1,8})", re.IGNORECASE)
DOI_RE = re.compile(r"10\.\d{4,9}/\S+")
DOI_PREFIX_RE = re.compile(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/)", re.IGNORECASE)
PMCID_RE = re.compile(r"PMC\d+", re.IGNORECASE)
# An NCT number anywhere in free text, however it is spelt: "NCT02193698", "nct 02193698", "NCT-02193698".
NCT_IN_TEXT = re.compile(r"\bNCT[\s-]?(\d{8})\b", re.IGNORECASE)


def normalize_nct(value) -> str:
    """`value` as an upper-case NCT ID (NCT followed by 8 digits); BadIdentifier otherwise."""
    text = str(value).strip()
    if not NCT_RE.fullmatch(text):
        raise BadIdentifier("ClinicalTrials.gov", repr(value), "expected NCT followed by 8 digits, e.g. NCT02193698")
    return text.upper()


def normalize_pmid(value) -> str:
    """`value` as a PMID (1 to 8 digits, an optional "PMID:" prefix dropped); BadIdentifier otherwise."""
    match = PMID_RE.fullmatch(str(value).strip())
    if not match or not int(match.group(1)):
        raise BadIdentifier("PMID", repr(value), 'expected 1 to 8 digits, optionally after "PMID:", e.g. 32009091')
    return str(int(match.group(1)))


def normalize_doi(value) -> str:
    """`value` as a lower-case DOI (a "doi:" or "https://doi.org/" prefix dropped); BadIdentifier otherwise."""
    text = DOI_PREFIX_RE.sub("", str(value).strip())
    if not DOI_RE.fullmatch(text):
        raise BadIdentifier("DOI", repr(value), "expected 10.NNNN/suffix, e.g. 10.2169/internalmedicine.3800-19")
    return text.lower()


def normalize_pmcid(value) -> str:
    """`value` as an upper-case PMCID (PMC followed by digits); BadIdentifier otherwise."""
    text = str(value).strip()
    if not PMCID_RE.fullmatch(text):
        raise BadIdentifier("PMCID", repr(value), "expected PMC followed by digits, e.g. PMC7270764")
    return text.upper()


def valid_or_none(normalize, value) -> str | None:
    """`normalize(value)`, or None when `value` is empty or malformed (for identifiers read from a response)."""
    if value in (None, ""):
        return None
    try:
        return normalize(value)
    except BadIdentifier:
        return None


def nct_in_field(value) -> str | None:
    """The NCT ID of a field that holds one registry number (a databank accession, a clinical-trial-number), however
    it is spelt ("nct 02193698", "NCT-02193698", blanks around it), upper case; None for anything else."""
    match = NCT_IN_TEXT.fullmatch(str(value).strip()) if value is not None else None
    return "NCT" + match.group(1) if match else None


def nct_ids(text: str | None) -> list[tuple[str, int, int]]:
    """(NCT ID, start, end) of every NCT number in `text`, in order, first occurrence of each."""
    seen, found = set(), []
    for match in NCT_IN_TEXT.finditer(text or ""):
        nct = "NCT" + match.group(1)
        if nct not in seen:
            seen.add(nct)
            found.append((nct, match.start(), match.end()))
    return found

"""How an article is named in the KB: one `article_id` whichever source described it."""

from __future__ import annotations


def article_id(pmid: str | None = None, doi: str | None = None, pmcid: str | None = None) -> str:
    """`pmid:N` when the PMID is known, else `doi:<lower-case DOI>`, else `pmcid:PMCN`."""
    if pmid:
        return f"pmid:{pmid}"
    if doi:
        return f"doi:{doi.lower()}"
    if pmcid:
        return f"pmcid:{pmcid.upper()}"
    raise ValueError("an article needs a PMID, a DOI or a PMCID")

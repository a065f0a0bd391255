"""PubMed through NCBI E-utilities: fetch citations by PMID, and parse efetch XML into article records.

NCBI etiquette: every request names the tool (`tool=trial-kb`) and a contact (`email`, from KB_CONTACT_EMAIL);
NCBI_API_KEY, when set, is sent as `api_key` and raises the rate from 3 to 10 requests per second. Up to 200 PMIDs
go in one request. `http.get` keeps the key and the address out of every stored URL and message.

Records follow the contract of `harvest.records.ArticleRecord`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

from harvest import http
from harvest.errors import NotFound, ParseError
from harvest.identifiers import nct_in_field, normalize_doi, normalize_pmcid, normalize_pmid, valid_or_none
from harvest.parsing import element_text, iso_date, page_range, parse_xml, squash
from harvest.records import ArticleRecord, Ids

SOURCE = http.Source("PubMed", "KB_PUBMED_URL", "https://eutils.ncbi.nlm.nih.gov/entrez/eutils", 3)
BATCH = 200


def source() -> http.Source:
    """The PubMed source at the rate NCBI allows: 10 requests/s with NCBI_API_KEY, 3 without."""
    return dataclasses.replace(SOURCE, per_second=10 if os.environ.get("NCBI_API_KEY") else 3)


def lookup(ids: Ids, found: list[ArticleRecord]) -> Iterator[http.Fetched]:
    """The efetch response of the article's PMID (nothing without one)."""
    if ids["pmid"]:
        yield from fetch([ids["pmid"]])


def looks_like(head: bytes) -> bool:
    """An efetch PubmedArticleSet (or its <eFetchResult> error answer)."""
    return b"<pubmedarticleset" in head or b"<efetchresult" in head


def fetch(pmids: list[str]) -> Iterator[http.Fetched]:
    """GET efetch.fcgi for `pmids`, at most BATCH per request; every PMID is validated before the first one."""
    return _batches([normalize_pmid(p) for p in pmids])


def _batches(pmids: list[str]) -> Iterator[http.Fetched]:
    params = {"db": "pubmed", "retmode": "xml", "tool": "trial-kb"}
    if http.contact_email():
        params["email"] = http.contact_email()
    if os.environ.get("NCBI_API_KEY"):
        params["api_key"] = os.environ["NCBI_API_KEY"]
    for start in range(0, len(pmids), BATCH):
        batch = pmids[start:start + BATCH]
        yield http.get(source(), ",".join(batch), "/efetch.fcgi", params={**params, "id": ",".join(batch)},
                       accept="application/xml")


def parse(body: bytes | str, key: str = "efetch") -> list[ArticleRecord]:
    """Article records of an efetch PubmedArticleSet ([] when it is empty); NotFound for an E-utilities <ERROR>."""
    root = parse_xml(body, SOURCE.name, key)
    if root.tag == "eFetchResult" or root.find("ERROR") is not None:
        raise NotFound(SOURCE.name, key, f"E-utilities error: {element_text(root.find('.//ERROR')) or 'none given'}")
    if root.tag != "PubmedArticleSet":
        raise ParseError(SOURCE.name, key, f"root element is <{root.tag}>, not <PubmedArticleSet>")
    return [_record(article, i, key) for i, article in enumerate(root.findall("PubmedArticle"))]


def child_text(element, path: str) -> str | None:
    return element_text(element.find(path)) if element is not None else None


def _record(article, index: int, key: str) -> ArticleRecord:
    base = f"PubmedArticle[{index}]"
    citation = article.find("MedlineCitation")
    pmid = valid_or_none(normalize_pmid, child_text(citation, "PMID"))
    if pmid is None:
        raise ParseError(SOURCE.name, key, f"{base} has no valid PMID")
    art, author_list = citation.find("Article"), citation.find("Article/AuthorList")
    if art is None:
        raise ParseError(SOURCE.name, key, f"{base} (PMID {pmid}) has no <Article>")
    ids = {id_.get("IdType"): element_text(id_) for id_ in article.findall("PubmedData/ArticleIdList/ArticleId")}
    eloc_doi = next((element_text(e) for e in art.findall("ELocationID") if e.get("EIdType") == "doi"), None)
    journal, issue = art.find("Journal"), art.find("Journal/JournalIssue")
    pub_date = _date(issue.find("PubDate") if issue is not None else None)
    epub = next((e for e in art.findall("ArticleDate") if e.get("DateType") == "Electronic"), None)
    databanks = [
        {"databank": child_text(bank, "DataBankName"), "accession": element_text(number),
         "path": f"{base}/MedlineCitation/Article/DataBankList/DataBank[{i}]/AccessionNumberList/AccessionNumber[{j}]"}
        for i, bank in enumerate(art.findall("DataBankList/DataBank"))
        for j, number in enumerate(bank.findall("AccessionNumberList/AccessionNumber"))
    ]
    return {
        "source": SOURCE.name,
        "path": base,
        "ids": {"pmid": pmid, "doi": valid_or_none(normalize_doi, ids.get("doi") or eloc_doi),
                "pmcid": valid_or_none(normalize_pmcid, ids.get("pmc"))},
        "fields": {
            "title": child_text(art, "ArticleTitle"),
            "journal": child_text(journal, "Title"),
            "journal_iso": child_text(journal, "ISOAbbreviation"),
            "issn": child_text(journal, "ISSN"),
            "volume": child_text(issue, "Volume"),
            "issue": child_text(issue, "Issue"),
            "pages": page_range(child_text(art, "Pagination/StartPage"), child_text(art, "Pagination/EndPage"))
            or page_range(child_text(art, "Pagination/MedlinePgn")),
            "pub_date": pub_date,
            "year": int(pub_date[:4]) if pub_date else None,
            "epub_date": _date(epub),
            "language": ", ".join(filter(None, (element_text(e) for e in art.findall("Language")))) or None,
            "publication_types": [t for t in (element_text(e)
                                              for e in art.findall("PublicationTypeList/PublicationType")) if t],
            "mesh": [_mesh(heading) for heading in citation.findall("MeshHeadingList/MeshHeading")],
            "keywords": [k for k in (element_text(e) for e in citation.findall("KeywordList/Keyword")) if k],
            "accessions": [{"databank": d["databank"], "accession": d["accession"]}
                           for d in databanks if d["accession"]],
        },
        "sections": [
            {"label": squash(text.get("Label")), "category": squash(text.get("NlmCategory")),
             "text": element_text(text), "path": f"{base}/MedlineCitation/Article/Abstract/AbstractText[{i}]"}
            for i, text in enumerate(art.findall("Abstract/AbstractText")) if element_text(text)
        ],
        "authors": [
            _author(author, f"{base}/MedlineCitation/Article/AuthorList/Author[{i}]")
            for i, author in enumerate(author_list.findall("Author") if author_list is not None else [])
            if author.get("ValidYN") != "N" and author_list.get("Type") in (None, "authors")
        ],
        "trials": [
            {"nct_id": nct, "evidence": "databank", "path": d["path"]}
            for d in databanks if (nct := nct_in_field(d["accession"]))
        ],
    }


def _date(element) -> str | None:
    if element is None:
        return None
    medline = child_text(element, "MedlineDate")
    if medline:
        return iso_date(medline[:4])
    return iso_date(child_text(element, "Year"), child_text(element, "Month") or child_text(element, "Season"),
                    child_text(element, "Day"))


def _mesh(heading) -> dict:
    descriptor = heading.find("DescriptorName")
    return {
        "descriptor": element_text(descriptor),
        "ui": descriptor.get("UI") if descriptor is not None else None,
        "major": descriptor is not None and descriptor.get("MajorTopicYN") == "Y",
        "qualifiers": [{"name": element_text(q), "ui": q.get("UI"), "major": q.get("MajorTopicYN") == "Y"}
                       for q in heading.findall("QualifierName")],
    }


def _author(author, path: str) -> dict:
    orcid = next((element_text(i) for i in author.findall("Identifier") if i.get("Source") == "ORCID"), None)
    collective = child_text(author, "CollectiveName")
    return {
        "family": child_text(author, "LastName"),
        "given": child_text(author, "ForeName"),
        "initials": child_text(author, "Initials"),
        "name": collective,
        "collective": collective is not None,
        "orcid": orcid,
        "affiliations": [a for a in (element_text(e) for e in author.findall("AffiliationInfo/Affiliation")) if a],
        "path": path,
    }

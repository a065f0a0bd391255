"""Parsing helpers shared by the sources: tolerant JSON accessors, safe XML, abstract markup, partial dates, pages."""

from __future__ import annotations

import json
import re
import warnings
from itertools import accumulate

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, NavigableString, XMLParsedAsHTMLWarning
from lxml import etree

from .errors import ParseError

for _warning in (MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning):  # bs4's advice, not a parse problem
    warnings.filterwarnings("ignore", category=_warning)

MONTHS = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
HEADING_TAGS = {"title", "h1", "h2", "h3", "h4", "h5", "h6"}
BOLD_TAGS = {"b", "strong", "bold"}
BLOCK_TAGS = {"p", "div", "sec", "section", "li", "abstract", "title", "h1", "h2", "h3", "h4", "h5", "h6"}
UNLABELLED = {"abstract", "summary"}
# Deeper JSON is refused: no record of any source comes near it (a registry study is 11 levels deep), and recursive
# code (the C decoder, the registry history's diff) must never meet a depth that exhausts the stack.
MAX_JSON_DEPTH = 64
_ESCAPE, _NOT_BRACKET = re.compile(rb"\\.", re.S), re.compile(rb"[^\[\]{}]+")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def parse_xml(body: bytes | str, source: str, key: str) -> etree._Element:
    """The root of `body`, parsed without loading any DTD or resolving any entity; ParseError if malformed.

    An entity reference left in the tree (undeclared, or declared in an inline DTD) is refused too, so that no
    text silently goes missing and no external entity is ever followed.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body.encode() if isinstance(body, str) else body, parser)
    except (etree.XMLSyntaxError, etree.ParserError, ValueError) as exc:
        raise ParseError(source, key, f"not well-formed XML ({exc})") from None
    entity = next(root.iter(etree.Entity), None)
    if entity is not None:
        raise ParseError(source, key, f"XML uses the entity {entity.text}, which is undeclared or would need a DTD "
                                      "(DTDs and external entities are never loaded)")
    return root


def json_depth(text: bytes | str) -> int:
    """How deeply the arrays and objects of the JSON `text` nest (exact for valid JSON; no recursion)."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    unescaped = _ESCAPE.sub(b"", text) if b"\\" in text else text
    brackets = _NOT_BRACKET.sub(b"", b"".join(unescaped.split(b'"')[::2]))  # outside strings
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def too_deep(source: str, key: str) -> ParseError:
    return ParseError(source, key, f"JSON nested more than {MAX_JSON_DEPTH} levels deep")


def decode_json(body: bytes | str, source: str, key: str):
    """`body` decoded as JSON; ParseError naming the source and the record if it is not valid JSON (invalid UTF-8
    included) or nests more than MAX_JSON_DEPTH levels."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise too_deep(source, key) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(source, key, f"body is not valid JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    if isinstance(value, (dict, list)) and json_depth(body) > MAX_JSON_DEPTH:
        raise too_deep(source, key)
    return value


def squash(text: str | None) -> str | None:
    """`text` with runs of whitespace collapsed to one space and trimmed; None when nothing is left."""
    text = " ".join(str(text).split()) if text is not None else ""
    return text or None


def element_text(element) -> str | None:
    """The text of an XML element with its inline markup (<i>, <sup>, ...) kept as text."""
    return None if element is None else squash("".join(element.itertext()))


def plain_text(markup: str | None) -> str | None:
    """`markup` (HTML or JATS) as plain text, tags removed."""
    if markup is None or "<" not in markup:
        return squash(markup)
    return squash(BeautifulSoup(markup, "html.parser").get_text())


def _local(name: str | None) -> str:
    return (name or "").rsplit(":", 1)[-1].lower()


def _is_label(tag) -> bool:
    """A heading, or bold text opening a paragraph (`<p><b>Methods </b>...`)."""
    name = _local(tag.name)
    if name in HEADING_TAGS:
        return True
    if name not in BOLD_TAGS or tag.parent is None or _local(tag.parent.name) not in BLOCK_TAGS:
        return False
    for sibling in tag.previous_siblings:
        if not (isinstance(sibling, NavigableString) and not sibling.strip()):
            return False
    return True


def abstract_sections(markup: str | None) -> list[dict]:
    """Labelled parts of an abstract written in HTML or JATS: [{"label", "text"}] in order, plain text.

    Headings (`<jats:title>`, `<h4>`) and bold text opening a paragraph (`<p><b>Methods </b>`) start a section;
    text before the first label forms an unlabelled section; a label "Abstract" is no label.
    """
    if not markup or not markup.strip():
        return []
    sections = [{"label": None, "parts": [], "tag": None}]
    previous_block = None
    for string in BeautifulSoup(markup, "html.parser").find_all(string=True):
        if type(string) is not NavigableString:
            continue  # comments, CDATA, doctype
        ancestors = list(string.parents)
        label_tag = next((tag for tag in ancestors if _is_label(tag)), None)
        if label_tag is not None:
            if sections[-1]["tag"] is label_tag:  # a label split over several strings
                sections[-1]["label"] += str(string)
            else:
                sections.append({"label": str(string), "parts": [], "tag": label_tag})
            continue
        block = next((tag for tag in ancestors if _local(tag.name) in BLOCK_TAGS), None)
        if block is not previous_block:
            sections[-1]["parts"].append(" ")
            previous_block = block
        sections[-1]["parts"].append(str(string))
    result = []
    for section in sections:
        label, text = squash((section["label"] or "").strip().rstrip(":.")), squash("".join(section["parts"]))
        if text:
            result.append({"label": None if label and label.lower() in UNLABELLED else label, "text": text})
    return result


def iso_date(year, month=None, day=None) -> str | None:
    """A partial ISO date ("2020", "2020-05", "2020-05-01") from parts; month may be "Jul", "07" or 7."""
    year = str(year).strip() if year is not None else ""
    if not re.fullmatch(r"\d{4}", year):
        return None
    month_text = str(month).strip().lower() if month is not None else ""
    number = MONTHS.get(month_text[:3]) if month_text[:3] in MONTHS else (
        int(month_text) if month_text.isdigit() else None)
    if number is None or not 1 <= number <= 12:
        return year
    day_text = str(day).strip() if day is not None else ""
    if day_text.isdigit() and 1 <= int(day_text) <= 31:
        return f"{year}-{number:02d}-{int(day_text):02d}"
    return f"{year}-{number:02d}"


def date_from_text(text: str | None) -> str | None:
    """A partial ISO date from "2020/05/01", "2020-05-01", "2020-05", "2020 Jul 12" or "2020"."""
    match = re.match(r"\s*(\d{4})(?:[-/ ](\w{1,9})(?:[-/ ](\d{1,2}))?)?", text or "")
    return iso_date(*match.groups()) if match else None


def page_range(first: str | None, last: str | None = None) -> str | None:
    """"107-114" from ("107", "114") or from an abbreviated range ("107-14"); a single page stays as it is."""
    first, last = squash(first), squash(last)
    if first and not last and re.fullmatch(r"[^-–]+[-–][^-–]+", first):
        first, last = re.split(r"[-–]", first)
    if not first:
        return None
    if last and first.isdigit() and last.isdigit() and len(last) < len(first):
        last = first[: len(first) - len(last)] + last
    return f"{first}-{last}" if last and last != first else first


# --- tolerant accessors for JSON documents whose shape is not guaranteed -----------------------------------------


def obj(value) -> dict:
    return value if isinstance(value, dict) else {}


def items(value) -> list[tuple[int, dict]]:
    """(index, element) for every dict element of a JSON array; anything else yields nothing."""
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def as_text(value) -> str | None:
    if type(value) is str:  # most values: returned as they are, before the general checks
        return value
    if isinstance(value, bool) or value is None:
        return None if value is None else str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def integer(value) -> int | None:
    """A whole number from an int, an integral float or a string of digits; None for anything else (never rounded)."""
    if type(value) is int:  # most values, before the general checks
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def strings(value) -> list[str]:
    return [str(v) for v in value if isinstance(v, (str, int, float))] if isinstance(value, list) else []

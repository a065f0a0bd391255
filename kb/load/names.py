"""Person names across sources: folding for comparison, name order, ORCID, and the deterministic `author_id`.

`author_id` rule: `orcid:<ORCID>` when any source gives the author's ORCID; `group:<folded name>` for a collective
author; otherwise `name:<folded family>|<folded first given name>` (e.g. `name:suzuki|yoichi` for Yo-ichi Suzuki,
`name:flaherty|keith` for Keith T Flaherty), or `<...>|<initial>` when only initials are known.
Limits: two people with the same family and first given name share an id (homonyms are not told apart); one person
gets two ids when a source spells the first given name differently, gives only initials, or gives an ORCID on one
article and not on another.
"""

from __future__ import annotations

import re
import unicodedata

PARTICLES = {"van", "von", "de", "del", "della", "der", "den", "di", "da", "dos", "das", "du", "le", "la", "ten", "ter",
             "st", "al", "el", "bin", "ibn"}
ORCID_RE = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])\s*$", re.IGNORECASE)


def fold(text: str | None) -> str:
    """`text` for comparison: accents dropped, case folded, hyphens, dots and apostrophes removed, other
    punctuation turned into spaces ("Yo-ichi" → "yoichi", "Del Vecchio" → "del vecchio", "O'Neill" → "oneill")."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"[-‐‑.'’]", "", text)
    return " ".join(re.sub(r"[^\w\s]|_", " ", text).split())


def orcid(value: str | None) -> str | None:
    """The bare ORCID iD ("0000-0003-3863-9582") from an iD or an orcid.org URL, else None."""
    match = ORCID_RE.search(value or "")
    return match.group(1).upper() if match else None


def initial(author: dict) -> str:
    """The folded first letter of the author's given name (or initials)."""
    return (fold(author.get("given")) or fold(author.get("initials")))[:1]


def split_name(text: str) -> tuple[str | None, str | None]:
    """(family, given) of a name written in one string, when no other source says which part is which.

    "Family, Given" is read as such; otherwise the last word is the family name together with the particles before
    it ("Marco Del Vecchio" → "Del Vecchio"). A name written family name first without a comma ("Suichi Tomoki")
    is therefore split the wrong way round: the merge avoids this by matching such names against structured ones.
    """
    if "," in text:
        family, _, given = text.partition(",")
        return family.strip() or None, given.strip() or None
    words = text.split()
    if len(words) < 2:
        return (words[0] if words else None), None
    start = len(words) - 1
    while start > 1 and words[start - 1].casefold() in PARTICLES:
        start -= 1
    return " ".join(words[start:]), " ".join(words[:start])


def written_as(text: str, author: dict) -> bool:
    """True when the unsplit name `text` is `author`'s structured name, in either order ("Suichi Tomoki" and
    "Tomoki Suichi" both match family Suichi, given Tomoki; "T. Suichi" matches too)."""
    family, first = fold(author.get("family")), initial(author)
    name = fold(text)
    if not family or not name:
        return False
    if name == family:
        return True
    if name.startswith(family + " "):
        rest = name[len(family) + 1:]
    elif name.endswith(" " + family):
        rest = name[: -len(family) - 1]
    else:
        return False
    return not first or rest[:1] == first


def same_person(a: dict, b: dict) -> bool:
    """Two structured author entries name the same person: same ORCID, else same folded family name and initial.

    Different ORCIDs never match; a collective author matches only the same collective name.
    """
    if a.get("orcid") and b.get("orcid"):
        return a["orcid"] == b["orcid"]
    if a.get("collective") or b.get("collective"):
        return bool(a.get("collective") and b.get("collective")) and fold(a.get("name")) == fold(b.get("name"))
    if fold(a.get("family")) != fold(b.get("family")) or not fold(a.get("family")):
        return False
    return not initial(a) or not initial(b) or initial(a) == initial(b)


def swapped(a: dict, b: dict) -> bool:
    """`b` gives `a`'s family and given names the other way round (a source that mixed up East-Asian order)."""
    return bool(fold(a.get("family"))) and fold(a.get("family")) == fold(b.get("given")) \
        and fold(a.get("given")) == fold(b.get("family"))


def author_key(author: dict) -> str:
    """The deterministic `author_id` of the module docstring."""
    if author.get("orcid"):
        return f"orcid:{author['orcid']}"
    if author.get("collective"):
        return f"group:{fold(author.get('name'))}"
    given = fold(author.get("given")).split()
    return f"name:{fold(author.get('family'))}|{given[0] if given else initial(author)}"


def display_name(author: dict) -> str:
    if author.get("collective"):
        return author.get("name") or ""
    return " ".join(p for p in (author.get("given"), author.get("family")) if p)

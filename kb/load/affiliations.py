"""Affiliation strings: normalised (one row per distinct organisation string) and split into department,
institution and country.

The split is a heuristic over comma-separated parts: the country is the last part when it names a country; the
institution is the first part naming an organisation (university, hospital, institute, ...) that does not open
like a sub-unit ("Department of", "Graduate School of", "Research Center for", ...); the parts before it form the
department. Parts after the institution (city, state, postcode) stay only in the full name.
"""

from __future__ import annotations

import hashlib
import re

from harvest.parsing import squash

from .names import fold

EMAIL_TAIL = re.compile(r"[\s.,;]*(?:electronic address:\s*)?[\w.+-]+@[\w-]+(?:\.[\w-]+)+[\s.]*$", re.IGNORECASE)
SUB_UNIT = re.compile(
    r"^(?:the\s+)?(?:department|dept\b|division|section|unit\b|laborator(?:y|ies) (?:of|for)|lab of|graduate school|"
    r"school of|faculty of|college of|(?:research )?(?:center|centre|unit|group|program(?:me)?) (?:for|of|on)|"
    r"clinic (?:of|for)|chair of|service of)", re.IGNORECASE)
ORGANISATION = re.compile(
    r"universit|hospital|institut|college|school|clinic|\bcent(?:er|re)\b|foundation|ministry|agency|corporation|"
    r"company|\binc\b|\bltd\b|gmbh|laboratories|council|academy|society|organi[sz]ation|\btrust\b|\bnhs\b",
    re.IGNORECASE)
COUNTRIES = {fold(name) for name in """
Afghanistan|Albania|Algeria|Andorra|Angola|Argentina|Armenia|Australia|Austria|Azerbaijan|Bahamas|Bahrain|Bangladesh|
Barbados|Belarus|Belgium|Belize|Benin|Bhutan|Bolivia|Bosnia and Herzegovina|Botswana|Brazil|Brunei|Bulgaria|
Burkina Faso|Burundi|Cambodia|Cameroon|Canada|Cape Verde|Central African Republic|Chad|Chile|China|P. R. China|
PR China|People's Republic of China|Colombia|Comoros|Congo|Democratic Republic of the Congo|Costa Rica|Cote d'Ivoire|
Croatia|Cuba|Cyprus|Czech Republic|Czechia|Denmark|Djibouti|Dominica|Dominican Republic|Ecuador|Egypt|El Salvador|
Equatorial Guinea|Eritrea|Estonia|Eswatini|Ethiopia|Fiji|Finland|France|Gabon|Gambia|Georgia|Germany|Ghana|Greece|
Grenada|Guatemala|Guinea|Guinea-Bissau|Guyana|Haiti|Honduras|Hong Kong|Hungary|Iceland|India|Indonesia|Iran|Iraq|
Ireland|Israel|Italy|Jamaica|Japan|Jordan|Kazakhstan|Kenya|Kiribati|Korea|South Korea|Republic of Korea|North Korea|
Kosovo|Kuwait|Kyrgyzstan|Laos|Latvia|Lebanon|Lesotho|Liberia|Libya|Liechtenstein|Lithuania|Luxembourg|Macau|Macao|
Madagascar|Malawi|Malaysia|Maldives|Mali|Malta|Marshall Islands|Mauritania|Mauritius|Mexico|Micronesia|Moldova|
Monaco|Mongolia|Montenegro|Morocco|Mozambique|Myanmar|Namibia|Nauru|Nepal|Netherlands|The Netherlands|New Zealand|
Nicaragua|Niger|Nigeria|North Macedonia|Norway|Oman|Pakistan|Palau|Palestine|Panama|Papua New Guinea|Paraguay|Peru|
Philippines|Poland|Portugal|Puerto Rico|Qatar|Romania|Russia|Russian Federation|Rwanda|Saint Lucia|Samoa|San Marino|
Saudi Arabia|Senegal|Serbia|Seychelles|Sierra Leone|Singapore|Slovakia|Slovenia|Solomon Islands|Somalia|
South Africa|South Sudan|Spain|Sri Lanka|Sudan|Suriname|Sweden|Switzerland|Syria|Taiwan|Tajikistan|Tanzania|
Thailand|Timor-Leste|Togo|Tonga|Trinidad and Tobago|Tunisia|Turkey|Türkiye|Turkmenistan|Tuvalu|Uganda|Ukraine|
United Arab Emirates|UAE|United Kingdom|UK|U.K.|England|Scotland|Wales|Northern Ireland|United States|
United States of America|USA|U.S.A.|US|Uruguay|Uzbekistan|Vanuatu|Vatican City|Venezuela|Vietnam|Viet Nam|Yemen|
Zambia|Zimbabwe""".replace("\n", "").split("|")}


def normalise(text: str | None) -> list[str]:
    """The organisation strings in one source's affiliation text: whitespace collapsed, trailing e-mail
    addresses ("... Japan. x@y.jp", "Electronic address: x@y.org.") and punctuation removed, split at ";"."""
    names = []
    for part in (text or "").split(";"):
        name = squash(part) or ""
        while (shorter := EMAIL_TAIL.sub("", name)) != name:
            name = shorter
        name = name.strip(" .,;:")
        if name and name not in names:
            names.append(name)
    return names


def affiliation_id(name: str) -> str:
    """`aff:` + the first 16 hex digits of the SHA-256 of the folded name (case and accents do not count)."""
    return "aff:" + hashlib.sha256(fold(name).encode()).hexdigest()[:16]


def split(name: str) -> dict:
    """{department, institution, country} of a normalised affiliation (each None when not found)."""
    parts = [p.strip() for p in name.split(",") if p.strip()]
    country = None
    if parts and fold(re.sub(r"\d[\d-]*", " ", parts[-1])) in COUNTRIES:
        country = parts.pop()
    found = next((i for i, p in enumerate(parts) if ORGANISATION.search(p) and not SUB_UNIT.match(p)), None)
    if found is None:
        found = next((i for i, p in enumerate(parts) if not SUB_UNIT.match(p)), None)
    department = parts[:found] if found is not None else parts
    return {"department": ", ".join(department) or None,
            "institution": parts[found] if found is not None else None,
            "country": country}


def row(name: str) -> dict:
    """The `affiliations` row of a normalised affiliation."""
    return {"affiliation_id": affiliation_id(name), "name": name, **split(name)}

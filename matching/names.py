"""Company names as banks and payers write them, folded so that the same company compares equal.

``compact`` is the key used everywhere a payer name meets a customer name: case, accents,
punctuation, '&' and legal-form suffixes folded away. Matching then works on that key with
rapidfuzz, so 'ACME CORP.', 'Acme Corporation' and 'acme' meet.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Legal forms, after punctuation is folded ('L.P.' -> 'l p', 'B.V.' -> 'b v').
_LEGAL_FORMS = (
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "llc",
    "l l c",
    "lp",
    "l p",
    "llp",
    "ltd",
    "limited",
    "plc",
    "gmbh",
    "gmbh co kg",
    "co kg",
    "kg",
    "ag",
    "se",
    "sa",
    "s a",
    "sas",
    "sarl",
    "srl",
    "spa",
    "s p a",
    "bv",
    "b v",
    "nv",
    "n v",
    "oy",
    "ab",
    "as",
    "aps",
    "pty",
    "pty ltd",
    "kk",
)
# Abbreviations banks and payers' systems use to fit a name into a short field.
_ABBREVIATIONS = {
    "amer": "american",
    "assn": "association",
    "assoc": "associates",
    "bros": "brothers",
    "constr": "construction",
    "ctr": "center",
    "dept": "department",
    "dev": "development",
    "dist": "distribution",
    "distr": "distribution",
    "elec": "electronics",
    "eng": "engineering",
    "engr": "engineering",
    "ent": "enterprises",
    "grp": "group",
    "hldg": "holdings",
    "hldgs": "holdings",
    "ind": "industrial",
    "inds": "industries",
    "intl": "international",
    "log": "logistics",
    "med": "medical",
    "mfg": "manufacturing",
    "mgmt": "management",
    "natl": "national",
    "pharm": "pharma",
    "prod": "products",
    "prods": "products",
    "ptnr": "partners",
    "ptnrs": "partners",
    "svc": "services",
    "svcs": "services",
    "sup": "supply",
    "supp": "supply",
    "sys": "systems",
    "tech": "technologies",
    "trdg": "trading",
}
_SUFFIX = re.compile(r"(?:\s(?:" + "|".join(sorted(_LEGAL_FORMS, key=len, reverse=True)) + r"))+$")
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def fold(name: str) -> str:
    """Case, accents, punctuation and spacing folded; '&' reads 'and'."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    text = text.replace("&", " and ")
    return _NOT_WORD.sub(" ", text).strip()


@lru_cache(maxsize=1 << 16)
def compact(name: str) -> str:
    """The comparison key of a company name: folded, abbreviations spelled out, legal-form
    suffixes removed.

    A name that is nothing but a legal form keeps it, so 'AG' does not become ''.
    """
    folded = " ".join(_ABBREVIATIONS.get(word, word) for word in fold(name).split())
    stripped = _SUFFIX.sub("", " " + folded).strip()
    return stripped or folded

"""Company names, and the forms a payer's name takes on a bank statement."""

from __future__ import annotations

import random
import re

_PREFIXES = (
    "North",
    "South",
    "East",
    "West",
    "Blue",
    "Red",
    "Green",
    "Silver",
    "Golden",
    "Iron",
    "Granite",
    "Cedar",
    "Maple",
    "Harbor",
    "Summit",
    "Pioneer",
    "Atlas",
    "Orion",
    "Polar",
    "Coastal",
    "Prairie",
    "Alpine",
    "Metro",
    "Union",
    "Liberty",
    "Keystone",
    "Beacon",
    "Crown",
    "Falcon",
    "Eagle",
    "Lakeside",
    "Riverside",
    "Highland",
    "Sterling",
    "Evergreen",
    "Borealis",
    "Cobalt",
    "Helix",
    "Vertex",
    "Apex",
    "Nova",
    "Delta",
    "Sigma",
    "Quantum",
    "Titan",
    "Meridian",
)
_CORES = (
    "Industrial",
    "Foods",
    "Logistics",
    "Retail",
    "Hospital",
    "Marine",
    "Construction",
    "Pharma",
    "Energy",
    "Textiles",
    "Electronics",
    "Paper",
    "Packaging",
    "Chemicals",
    "Motors",
    "Farms",
    "Hardware",
    "Medical",
    "Software",
    "Furniture",
    "Brewing",
    "Plastics",
    "Steel",
    "Glass",
    "Aviation",
    "Outfitters",
    "Grocers",
    "Dental",
    "Labs",
    "Printing",
)
_TAILS = (
    "Supply",
    "Group",
    "Partners",
    "Holdings",
    "Services",
    "Distribution",
    "Systems",
    "Works",
    "Trading",
    "Solutions",
    "Enterprises",
    "Products",
    "Stores",
    "Company",
    "",
)
SUFFIXES = {
    "USD": ("Inc.", "LLC", "Corp.", "Co.", "Inc", "L.P."),
    "EUR": ("GmbH", "AG", "S.A.", "B.V.", "S.r.l.", "SAS", "GmbH & Co. KG"),
    "GBP": ("Ltd", "Limited", "PLC", "LLP"),
}
_ABBREVIATIONS = {
    "Industrial": "Ind",
    "Logistics": "Log",
    "Construction": "Constr",
    "Pharma": "Pharm",
    "Electronics": "Elec",
    "Distribution": "Dist",
    "Services": "Svcs",
    "Systems": "Sys",
    "Holdings": "Hldgs",
    "Enterprises": "Ent",
    "Products": "Prods",
    "Company": "Co",
    "International": "Intl",
    "Corporation": "Corp",
    "Manufacturing": "Mfg",
    "Medical": "Med",
    "Partners": "Ptnrs",
    "Supply": "Sup",
    "Group": "Grp",
    "Trading": "Trdg",
}
PROCESSORS = (
    "BILL.COM",
    "AVIDXCHANGE INC",
    "PAYMODE-X",
    "CORPAY SOLUTIONS",
    "TIPALTI INC",
    "COUPA PAY",
    "ROUTABLE INC",
    "MELIO PAYMENTS",
)
_LEGAL = re.compile(
    r"\s*,?\s*\b(inc|llc|corp|co|l\.?p|gmbh(\s*&\s*co\.?\s*kg)?|ag|s\.?a|b\.?v|s\.?r\.?l|sas|"
    r"ltd|limited|plc|llp)\.?$",
    re.IGNORECASE,
)


def company_name(rng: random.Random, currency: str, taken: set[str]) -> str:
    """A fresh, plausible company name with a legal suffix fitting the currency's country."""
    suffixes = SUFFIXES.get(currency, SUFFIXES["USD"])
    for _ in range(1000):
        parts = [rng.choice(_PREFIXES), rng.choice(_CORES), rng.choice(_TAILS)]
        name = " ".join(p for p in parts if p) + " " + rng.choice(suffixes)
        if name not in taken:
            taken.add(name)
            return name
    raise RuntimeError("ran out of distinct company names")  # pragma: no cover


def without_legal_suffix(name: str) -> str:
    return _LEGAL.sub("", name).strip(" ,")


def abbreviated(name: str) -> str:
    return " ".join(_ABBREVIATIONS.get(word, word) for word in name.split())


def bank_variant(rng: random.Random, name: str, kind: str) -> str:
    """The customer's name as a bank shows it: ``kind`` picks how it is mangled.

    exact: unchanged; upper: upper case; truncated: upper case cut to 35 characters (SWIFT
    field width) or 22 (ACH company name); abbreviated: abbreviations and no legal suffix;
    no_suffix: legal suffix dropped; punctuation: '.' and ',' removed, '&' spelled AND.
    """
    if kind == "exact":
        return name
    if kind == "upper":
        return name.upper()
    if kind == "truncated":
        return name.upper()[: rng.choice((35, 22, 16))].rstrip()
    if kind == "abbreviated":
        return abbreviated(without_legal_suffix(name)).upper()
    if kind == "no_suffix":
        return without_legal_suffix(name)
    if kind == "punctuation":
        return re.sub(r"[.,]", "", name).replace("&", "AND").upper()
    raise ValueError(f"unknown name variant {kind!r}")


def normalised(name: str) -> str:
    """Case, punctuation and spacing folded: how 'equal names' is judged in the mix."""
    return re.sub(r"[^0-9a-z]+", " ", name.casefold()).strip()

"""ISO 4217 currency codes and their minor-unit exponents (digits after the decimal mark)."""

from __future__ import annotations

from types import MappingProxyType

# Active ISO 4217 codes. Most have two decimals; only the exceptions are listed by exponent.
_TWO_DECIMALS = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN
BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP
LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR
NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP
STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER
ZAR ZMW ZWG ZWL
"""
_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"


def _build() -> dict[str, int]:
    table: dict[str, int] = {}
    for codes, exponent in (
        (_TWO_DECIMALS, 2),
        (_ZERO_DECIMALS, 0),
        (_THREE_DECIMALS, 3),
        (_FOUR_DECIMALS, 4),
    ):
        for code in codes.split():
            table[code] = exponent
    return table


EXPONENTS: MappingProxyType[str, int] = MappingProxyType(_build())
"""Currency code -> number of minor-unit digits (JPY 0, USD 2, BHD 3, CLF 4)."""


def is_known(code: str) -> bool:
    """True when ``code`` is an active ISO 4217 code (upper case, three letters)."""
    return code in EXPONENTS


def exponent(code: str) -> int:
    """Minor-unit digits of ``code``; raises :class:`UnknownCurrency` for an unknown code."""
    try:
        return EXPONENTS[code]
    except (KeyError, TypeError):
        from ledger.errors import UnknownCurrency

        raise UnknownCurrency(
            f"unknown currency {code!r}: expected an ISO 4217 code such as USD, EUR or JPY"
        ) from None

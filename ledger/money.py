"""Money as integer minor units plus an ISO 4217 currency; the one place amounts come from text.

Amounts are never floats: storage and polars hold ``Int64`` minor units, ``Decimal`` appears only
at the edges (parsing and display). :func:`parse_amount` is the single helper that turns text into
minor units; every parser in arpilot calls it rather than ``float()`` or ``Decimal()`` on money.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ledger.currencies import exponent
from ledger.errors import CurrencyMismatch, MoneyError

_PLAIN = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
# A grouped number: 1,234,567.89 or 1.234.567,89 or 1 234 567,89 or 1'234'567.89
_GROUPED = {
    ".": re.compile(r"[+-]?[0-9]{1,3}(?:([,' \u00a0\u202f])[0-9]{3})(?:\1[0-9]{3})*(?:\.[0-9]+)?"),
    ",": re.compile(r"[+-]?[0-9]{1,3}(?:([.' \u00a0\u202f])[0-9]{3})(?:\1[0-9]{3})*(?:,[0-9]+)?"),
}

# Unsigned digits with an optional fraction ('1234', '1234.5'; '1234,56' with a decimal comma):
# what bank files nearly always hold, and read the same by every rule of the general reading.
_UNSIGNED = {
    ".": re.compile(r"([0-9]+)(?:\.([0-9]+))?"),
    ",": re.compile(r"([0-9]+)(?:,([0-9]+))?"),
}


def parse_amount(
    text: str, currency: str, *, decimal_mark: str = ".", grouping: bool = False
) -> int:
    """Parse a decimal amount written in text into integer minor units of ``currency``.

    Accepts an optional sign, digits and a decimal part; with ``grouping`` also thousands
    separators that group by three ("1,234.56"; with ``decimal_mark=","`` "1.234,56"). Digits beyond the
    currency's exponent must be zeros: "10.50" and "10.500" are 1050 US cents, "10.505" is an
    error, never a rounding. Raises :class:`MoneyError` with the offending text.
    """
    # A shortcut for plain unsigned amounts within the currency's precision, which parsers
    # call for every transaction; the general reading below gives the same minor units.
    pattern = _UNSIGNED.get(decimal_mark) if text.__class__ is str else None
    plain = pattern.fullmatch(text) if pattern is not None else None
    if plain is not None:
        digits = exponent(currency)
        whole, fraction = plain.group(1), plain.group(2) or ""
        if len(fraction) <= digits:
            return int(whole + fraction.ljust(digits, "0"))
    return _parse_amount_general(text, currency, decimal_mark=decimal_mark, grouping=grouping)


def _parse_amount_general(
    text: str, currency: str, *, decimal_mark: str = ".", grouping: bool = False
) -> int:
    """:func:`parse_amount` for any text: signs, blanks, grouping, extra zero decimals, errors."""
    if isinstance(text, float) or not isinstance(text, str):
        raise MoneyError(f"amount must be text, got {type(text).__name__} {text!r}")
    if decimal_mark not in (".", ","):
        raise MoneyError(f"decimal mark must be '.' or ',', got {decimal_mark!r}")
    digits = exponent(currency)
    raw = text.strip()
    if decimal_mark == ",":
        if grouping and _GROUPED[","].fullmatch(raw):
            raw = re.sub(r"[.' \u00a0\u202f]", "", raw)
        normalised = raw.replace(",", ".", 1) if raw.count(",") == 1 else raw
    else:
        normalised = (
            re.sub(r"[,' \u00a0\u202f]", "", raw)
            if grouping and _GROUPED["."].fullmatch(raw)
            else raw
        )
    if not _PLAIN.fullmatch(normalised):
        raise MoneyError(f"not an amount: {text!r}")
    sign = -1 if normalised.startswith("-") else 1
    unsigned = normalised.lstrip("+-")
    whole, _, fraction = unsigned.partition(".")
    kept, dropped = fraction[:digits], fraction[digits:]
    if dropped.strip("0"):
        raise MoneyError(
            f"amount {text!r} has more than {digits} decimal(s), the precision of {currency}"
        )
    return sign * int(whole + kept.ljust(digits, "0"))


def from_decimal(value: Decimal, currency: str) -> int:
    """Exact minor units of a ``Decimal``; refuses floats and sub-minor precision."""
    if not isinstance(value, Decimal):
        raise MoneyError(f"expected a Decimal, got {type(value).__name__} {value!r}")
    if not value.is_finite():
        raise MoneyError(f"amount {value} is not finite")
    scaled = value.scaleb(exponent(currency))
    try:
        integral = scaled.to_integral_value()
    except InvalidOperation as exc:  # pragma: no cover - only for absurd exponents
        raise MoneyError(f"amount {value} is out of range") from exc
    if integral != scaled:
        raise MoneyError(
            f"amount {value} has more decimals than {currency} allows ({exponent(currency)})"
        )
    return int(integral)


def to_decimal(minor: int, currency: str) -> Decimal:
    """The exact ``Decimal`` value of ``minor`` units of ``currency``."""
    return Decimal(minor).scaleb(-exponent(currency))


def format_amount(minor: int, currency: str, *, grouping: bool = False) -> str:
    """Minor units as a plain decimal string with the currency's exponent: 123456 USD -> '1234.56'."""
    digits = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**digits)
    whole_text = f"{whole:,}" if grouping else str(whole)
    return f"{sign}{whole_text}.{fraction:0{digits}d}" if digits else f"{sign}{whole_text}"


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of money.

    minor: integer count of the currency's minor unit (cents for USD, yen for JPY, fils for BHD).
    currency: ISO 4217 code.
    """

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise MoneyError(
                f"minor units must be an int, got {type(self.minor).__name__} {self.minor!r}"
            )
        exponent(self.currency)

    @classmethod
    def parse(
        cls, text: str, currency: str, *, decimal_mark: str = ".", grouping: bool = False
    ) -> Money:
        """``Money`` from text such as '1234.56'; see :func:`parse_amount`."""
        return cls(
            parse_amount(text, currency, decimal_mark=decimal_mark, grouping=grouping), currency
        )

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.minor), self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def __bool__(self) -> bool:
        return self.minor != 0

    def to_decimal(self) -> Decimal:
        return to_decimal(self.minor, self.currency)

    def amount_text(self) -> str:
        """The amount as a plain decimal string, as exports and JSON carry it."""
        return format_amount(self.minor, self.currency)

    def __str__(self) -> str:
        return f"{format_amount(self.minor, self.currency, grouping=True)} {self.currency}"

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split into parts proportional to non-negative integer ``weights`` that sum exactly.

        Leftover minor units go to the largest remainders first (ties to the earliest part), so
        the parts always add back to ``self`` and no cent is created or lost.
        """
        if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
            raise MoneyError("allocation weights must be non-negative and not all zero")
        total = sum(weights)
        sign = -1 if self.minor < 0 else 1
        magnitude = abs(self.minor)
        shares = [magnitude * w // total for w in weights]
        remainders = [magnitude * w % total for w in weights]
        leftover = magnitude - sum(shares)
        order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
        for i in order[:leftover]:
            shares[i] += 1
        return [Money(sign * s, self.currency) for s in shares]


def total(amounts: Iterable[Money], currency: str) -> Money:
    """Sum of ``amounts`` that must all be in ``currency`` (the sum of none is zero)."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result

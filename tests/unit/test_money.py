"""Money: exact parsing, formatting, arithmetic and allocation in minor units."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.currencies import EXPONENTS, exponent
from ledger.errors import CurrencyMismatch, MoneyError, UnknownCurrency
from ledger.money import (
    Money,
    _parse_amount_general,
    format_amount,
    from_decimal,
    parse_amount,
    to_decimal,
)

currencies = st.sampled_from(sorted(EXPONENTS))
minor_units = st.integers(min_value=-(10**15), max_value=10**15)


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("1234.56", "USD", 123456),
        ("-0.01", "USD", -1),
        ("+7", "EUR", 700),
        ("10.500", "USD", 1050),
        ("1500", "JPY", 1500),
        ("1500.000", "JPY", 1500),
        ("1.234", "BHD", 1234),
        ("0.0001", "CLF", 1),
        ("  42.10 ", "GBP", 4210),
    ],
)
def test_parse_amount(text: str, currency: str, expected: int) -> None:
    assert parse_amount(text, currency) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.234,56", 123456), ("1 234,56", 123456), ("-12,5", -1250), ("1234", 123400)],
)
def test_parse_amount_decimal_comma(text: str, expected: int) -> None:
    assert parse_amount(text, "EUR", decimal_mark=",", grouping=True) == expected


def test_grouping_only_when_asked() -> None:
    assert parse_amount("1,234,567.89", "USD", grouping=True) == 123456789
    assert parse_amount("1'234.50", "CHF", grouping=True) == 123450
    with pytest.raises(MoneyError):
        parse_amount("1,234.56", "USD")


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("10.505", "USD"),  # sub-cent precision is an error, never a rounding
        ("1.5", "JPY"),
        ("1.0001", "BHD"),
        ("abc", "USD"),
        ("", "USD"),
        ("1e3", "USD"),
        ("12,34.5", "USD"),  # not a plain decimal
        ("--1", "USD"),
        ("NaN", "USD"),
    ],
)
def test_parse_amount_refuses(text: str, currency: str) -> None:
    with pytest.raises(MoneyError):
        parse_amount(text, currency)


def test_floats_are_refused_everywhere() -> None:
    with pytest.raises(MoneyError):
        parse_amount(12.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(12.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        from_decimal(12.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(True, "USD")


def test_exponents_of_unusual_currencies() -> None:
    assert (exponent("JPY"), exponent("USD"), exponent("BHD"), exponent("CLF")) == (0, 2, 3, 4)
    with pytest.raises(UnknownCurrency):
        exponent("XXX")
    with pytest.raises(UnknownCurrency):
        Money(1, "usd")


@given(minor_units, currencies)
def test_parse_of_format_is_identity(minor: int, currency: str) -> None:
    assert parse_amount(format_amount(minor, currency), currency) == minor
    grouped = format_amount(minor, currency, grouping=True)
    assert parse_amount(grouped, currency, grouping=True) == minor


@given(minor_units, currencies)
def test_decimal_round_trip(minor: int, currency: str) -> None:
    assert from_decimal(to_decimal(minor, currency), currency) == minor


@given(
    minor_units,
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=60).filter(any),
)
def test_allocation_never_loses_a_cent(minor: int, weights: list[int]) -> None:
    parts = Money(minor, "USD").allocate(weights)
    assert sum(p.minor for p in parts) == minor
    assert len(parts) == len(weights)
    # Each part is within one minor unit of its exact proportional share.
    for part, weight in zip(parts, weights, strict=True):
        exact = Decimal(minor) * weight / sum(weights)
        assert abs(Decimal(part.minor) - exact) < 1


@given(st.lists(minor_units, max_size=50))
def test_sums_are_exact(values: list[int]) -> None:
    total = Money.zero("EUR")
    for v in values:
        total = total + Money(v, "EUR")
    assert total.minor == sum(values)
    assert total.to_decimal() == sum((Decimal(v) / 100 for v in values), Decimal(0))


def test_arithmetic_refuses_mixed_currencies() -> None:
    with pytest.raises(CurrencyMismatch):
        Money(1, "USD") + Money(1, "EUR")
    with pytest.raises(CurrencyMismatch):
        _ = Money(1, "USD") < Money(1, "EUR")


def test_display() -> None:
    assert str(Money(123456789, "USD")) == "1,234,567.89 USD"
    assert str(Money(-5, "BHD")) == "-0.005 BHD"
    assert str(Money(1500, "JPY")) == "1,500 JPY"
    assert Money(-1050, "EUR").amount_text() == "-10.50"


def _outcome(
    read: Callable[..., int], text: str, currency: str, mark: str, grouping: bool
) -> object:
    try:
        return read(text, currency, decimal_mark=mark, grouping=grouping)
    except MoneyError as exc:
        return (type(exc).__name__, str(exc))


@given(
    text=st.text(alphabet="0123456789.,+- '\u00a0", max_size=14)
    | st.from_regex(r"[0-9]{1,6}([.,][0-9]{0,5})?", fullmatch=True),
    currency=st.sampled_from(["USD", "EUR", "JPY", "BHD", "CLF", "QQQ"]),
    mark=st.sampled_from([".", ","]),
    grouping=st.booleans(),
)
def test_the_plain_amount_shortcut_reads_as_the_general_rule(
    text: str, currency: str, mark: str, grouping: bool
) -> None:
    assert _outcome(parse_amount, text, currency, mark, grouping) == _outcome(
        _parse_amount_general, text, currency, mark, grouping
    )

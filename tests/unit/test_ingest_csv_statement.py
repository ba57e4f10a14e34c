"""CSV statements through bank profiles: exact amounts, strict headers, no guessing."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.bank.csv_statement import CsvProfile, parse_csv_statement
from ledger.errors import ParseError
from simulator.formats import EU_BANK_CSV, US_BANK_CSV, write_csv_statement
from simulator.model import BankAccount, Statement, StatementLine


def statement(currency: str = "USD") -> Statement:
    lines = (
        StatementLine(
            "P1",
            date(2026, 9, 1),
            date(2026, 9, 2),
            1_234_567,
            currency,
            payer_name="Müller & Söhne GmbH",
            payer_account="DE89370400440532013000",
            customer_reference="E2E-1",
            remittance_text="INV-100231, INV-100232",
        ),
        StatementLine(
            "P2",
            date(2026, 9, 1),
            date(2026, 9, 1),
            5,
            currency,
            payer_name='ACME; Inc., "the best"',
            remittance_text="PO 4500123",
        ),
        StatementLine(
            "D1",
            date(2026, 9, 2),
            date(2026, 9, 2),
            -2_500,
            currency,
            remittance_text="ACCOUNT MAINTENANCE FEE",
            channel="fee",
        ),
    )
    account = BankAccount("Bank", "BIC", "ACC1", "Ops", currency, "csv")
    return Statement(
        account,
        "S1",
        1,
        datetime(2026, 9, 3, 6),
        date(2026, 9, 1),
        date(2026, 9, 2),
        100_000,
        lines,
    )


@pytest.mark.parametrize("dialect", [US_BANK_CSV, EU_BANK_CSV], ids=lambda d: d.name)
def test_round_trip_through_the_declared_mapping(dialect: object) -> None:
    source = statement("EUR" if dialect is EU_BANK_CSV else "USD")
    profile = CsvProfile.from_mapping({**dialect.mapping(), "account": "ACC1"})  # type: ignore[attr-defined]
    parsed = parse_csv_statement(write_csv_statement(source, dialect), profile)  # type: ignore[arg-type]
    got = parsed.transactions
    assert [t.amount.minor for t in got] == [line.amount_minor for line in source.lines]
    assert [t.booking_date for t in got] == [line.booking_date for line in source.lines]
    assert [t.payer_name for t in got] == [line.payer_name for line in source.lines]
    assert all(t.account == "ACC1" for t in got)
    assert got[0].remittance_text == "INV-100231, INV-100232"


def test_header_that_does_not_fit_is_refused() -> None:
    profile = CsvProfile.from_mapping(US_BANK_CSV.mapping())
    with pytest.raises(ParseError, match="header lacks"):
        parse_csv_statement(b"Date,Amt\n01/02/2026,1.00\n", profile)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("13/45/2026,13/45/2026,1.00,USD,A,1,R,T", "not a date"),
        ("09/01/2026,09/01/2026,1.005,USD,A,1,R,T", "more than 2 decimal"),
        ("09/01/2026,09/01/2026,abc,USD,A,1,R,T", "not an amount"),
        ("09/01/2026,09/01/2026,1.00,XYZ,A,1,R,T", "unknown currency"),
        ("09/01/2026,09/01/2026,1.00", "fields where the header has"),
    ],
)
def test_bad_rows_name_their_line(row: str, message: str) -> None:
    profile = CsvProfile.from_mapping(US_BANK_CSV.mapping())
    good = write_csv_statement(statement(), US_BANK_CSV).decode()
    with pytest.raises(ParseError, match=message) as caught:
        parse_csv_statement((good + row + "\n").encode(), profile, source="s.csv")
    assert caught.value.line == len(good.splitlines()) + 1


def test_profiles_are_validated() -> None:
    with pytest.raises(ParseError, match="unknown profile keys"):
        CsvProfile.from_mapping({"name": "x", "date": "D", "amount": "A", "colour": "red"})
    with pytest.raises(ParseError, match="'amount' or both"):
        CsvProfile.from_mapping({"name": "x", "date": "D", "default_currency": "USD"})
    ok = CsvProfile.from_mapping(
        {"name": "x", "date": "D", "amount": "A", "default_currency": "USD"}
    )
    assert dataclasses.replace(ok).amount == "A"


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_parse_error(data: bytes) -> None:
    profile = CsvProfile.from_mapping(US_BANK_CSV.mapping())
    good = write_csv_statement(statement(), US_BANK_CSV)
    for candidate in (data, good[: len(data)], good + data):
        with contextlib.suppress(ParseError):
            parse_csv_statement(candidate, profile)


DIRECTED = {
    "name": "nl-bank",
    "date": "Datum",
    "amount": "Bedrag (EUR)",
    "direction": "Af Bij",
    "debit_marks": ["Af"],
    "credit_marks": "Bij",
    "payer_name": "Naam / Omschrijving",
    "remittance": "Mededelingen",
    "delimiter": ",",
    "decimal_mark": ",",
    "date_format": "%Y%m%d",
    "default_currency": "EUR",
    "skip_lines": 1,
}
DIRECTED_FILE = (
    "EXPORT OF ACCOUNT NL91ABNA0417164300\n"
    '"Datum","Naam / Omschrijving","Af Bij","Bedrag (EUR)","Mededelingen"\n'
    '"20261101","De Vries BV","Bij","1.250,00","Factuur 2026-117"\n'
    '"20261102","Energie NV","af","84,10","Termijn november"\n'
)


def test_an_unsigned_amount_is_signed_by_its_debit_or_credit_column() -> None:
    """ING and Knab write the amount unsigned beside a debit/credit column, and some exports
    start with a title line before the header."""
    profile = CsvProfile.from_mapping(DIRECTED)
    parsed = parse_csv_statement(DIRECTED_FILE.encode(), profile, source="nl.csv")
    assert [(t.amount.minor, t.payer_name) for t in parsed.transactions] == [
        (125_000, "De Vries BV"),
        (-8_410, "Energie NV"),
    ]
    assert [t.line for t in parsed.transactions] == [3, 4]
    unknown = DIRECTED_FILE + '"20261103","X","Storno","1,00","?"\n'
    with pytest.raises(ParseError, match="'Storno' is neither a debit") as caught:
        parse_csv_statement(unknown.encode(), profile, source="nl.csv")
    assert caught.value.line == 5
    signed = DIRECTED_FILE + '"20261103","X","Af","-1,00","?"\n'
    with pytest.raises(ParseError, match="unsigned amounts"):
        parse_csv_statement(signed.encode(), profile, source="nl.csv")
    with pytest.raises(ParseError, match="'debit_marks', 'credit_marks'"):
        CsvProfile.from_mapping({**DIRECTED, "credit_marks": ""})
    for skip in ("one", "\u00b2"):
        with pytest.raises(ParseError, match="skip_lines must be a whole number"):
            CsvProfile.from_mapping({**DIRECTED, "skip_lines": skip})
    with pytest.raises(ParseError, match="af marks both a debit and a credit"):
        CsvProfile.from_mapping({**DIRECTED, "credit_marks": "Bij, AF"})
    # Read from its first line, the title is taken for the header, and says what it lacks.
    with pytest.raises(ParseError, match="header lacks") as caught:
        parse_csv_statement(
            DIRECTED_FILE.encode(), CsvProfile.from_mapping({**DIRECTED, "skip_lines": 0})
        )
    assert caught.value.line == 1


def test_a_profile_named_for_a_file_it_does_not_fit_says_what_the_header_lacks() -> None:
    from pipelines.ingest import parse_any

    profile = CsvProfile.from_mapping({**DIRECTED, "skip_lines": 0})
    with pytest.raises(ParseError, match="header lacks the column"):
        parse_any(DIRECTED_FILE.encode(), source="nl.csv", file_format="csv", profiles=[profile])
    with pytest.raises(ParseError, match="profile 'nl-bank' lacks 'Datum'"):
        parse_any(DIRECTED_FILE.encode(), source="nl.csv", profiles=[profile])
    parsed = parse_any(
        DIRECTED_FILE.encode(),
        source="nl.csv",
        file_format="csv",
        profiles=[profile, CsvProfile.from_mapping(DIRECTED)],
    )
    assert len(parsed.transactions) == 2  # type: ignore[union-attr]

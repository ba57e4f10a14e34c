"""The BAI2 parser against real example files, the simulator's writer and fuzzed input."""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.bank import bai2
from ingest.bank.bai2 import difference, parse_bai2, read_bai2
from ingest.statements import ParsedFile
from ledger.errors import ParseError, UnbalancedStatement
from ledger.money import Money
from simulator.formats import write_bai2
from simulator.formats.bai2 import to_ascii
from simulator.model import BankAccount, Statement, StatementLine
from tests.conftest import shared_path

CREATED = datetime(2026, 3, 2, 6, 15)


def _fixtures() -> list[Path]:
    return sorted(shared_path("fixtures", "bai2").glob("*.bai2"))


def _fixture(name: str) -> bytes:
    return next(p for p in _fixtures() if p.stem == name).read_bytes()


def _control_totals(data: bytes) -> list[tuple[str, int, int]]:
    """(account, 49 total, sum of its 03 summary and 16 amounts), read by a naive twin."""
    records: list[str] = []
    for line in data.decode().splitlines():
        line = line.strip()
        if line.startswith("88,") and records:
            records[-1] = records[-1].removesuffix("/") + "," + line[3:]
        elif line:
            records.append(line)
    result = []
    account, found = "", 0
    for record in records:
        fields = record.rstrip("/").split(",")
        if fields[0] == "03":
            account, found, index = fields[1], 0, 3
            while index + 1 < len(fields):  # type code, amount, item count, funds type
                code, amount = fields[index], fields[index + 1]
                if re.fullmatch(r"\d{3}", code) and re.fullmatch(r"-?\d*", amount):
                    found += int(amount or 0)
                    index += 4
                else:  # an empty field some banks add before a continuation
                    index += 1
        elif fields[0] == "16":
            found += int(fields[2])
        elif fields[0] == "49":
            result.append((account, int(fields[1] or 0), found))
    return result


def test_every_real_example_parses_and_ties_to_its_control_totals() -> None:
    names = {p.stem for p in _fixtures()}
    assert names == {
        "account_trailer_amount_blank_example",
        "citi_example",
        "nwb_example",
        "svb_us_example",
    }
    for path in _fixtures():
        data = path.read_bytes()
        for account, total, found in _control_totals(data):
            assert total == found, (path.name, account)
        read = read_bai2(data, source=path.name)  # control totals are checked here already
        assert {s.account for s in read.statements} == {a for a, _, _ in _control_totals(data)}


@pytest.mark.parametrize("name", ["account_trailer_amount_blank_example", "nwb_example",
                                  "svb_us_example"])  # fmt: skip
def test_real_examples_tie_out_their_ledger_balances(name: str) -> None:
    parsed = parse_bai2(_fixture(name), source=name)
    for statement in parsed.statements:
        assert difference(statement) in (None, Money.zero(statement.currency))


def test_the_citi_example_does_not_tie_its_ledger_balances_and_is_refused() -> None:
    # Opening and closing ledger are both 100.00 GBP, yet the one detail credits 0.01 GBP.
    data = _fixture("citi_example")
    (statement,) = read_bai2(data).statements
    assert statement.opening_balance == statement.closing_balance == Money(100_00, "GBP")
    assert [t.amount for t in statement.transactions] == [Money(1, "GBP")]
    with pytest.raises(UnbalancedStatement, match=r"'77777777'.*difference -0\.01 GBP") as error:
        parse_bai2(data, source="citi")
    assert error.value.line == 3


def test_real_examples_read_field_by_field() -> None:
    nwb = parse_bai2(_fixture("nwb_example"))
    (statement,) = nwb.statements
    assert (statement.account, statement.currency) == ("88888888 600004", "GBP")
    assert (statement.opening_balance, statement.closing_balance) == (
        Money(365_21, "GBP"),
        Money(338_45, "GBP"),
    )
    assert [t.amount.minor for t in statement.transactions] == [-971, -100, -123, -1571, 89]
    assert [t.line for t in statement.transactions] == [5, 7, 9, 11, 13]
    assert statement.transactions[-1].booking_date == date(2009, 12, 16)
    # A full 80-character line was cut inside a word: 'CLIE' + 'NT', not 'CLIE NT'.
    assert statement.transactions[-1].remittance_text.endswith(
        "INTERNATIONAL-5373 CLIENT SECCY AC TFR"
    )

    citi = read_bai2(_fixture("citi_example")).transactions[0]
    assert (citi.type_code, citi.bank_reference, citi.customer_reference) == (
        "191",
        "1234567890",
        "RP12312312312312",
    )
    assert citi.value_date == date(2015, 7, 15)
    assert citi.remittance_text.startswith("FR:FP SIP INCOMING ENDT:20150715 TRID:")

    svb = parse_bai2(_fixture("svb_us_example"))
    assert [s.to_date for s in svb.statements] == [date(2022, 2, 1), date(2022, 2, 2)]
    assert [t.bank_reference for t in svb.transactions] == ["172629", "150675"]
    assert [t.amount for t in svb.transactions] == [Money(4901_96, "USD"), Money(9058_00, "USD")]
    assert svb.details["file_id"] == "1"

    blank = parse_bai2(_fixture("account_trailer_amount_blank_example"))
    assert [s.account for s in blank.statements] == ["12345", "54321"]
    assert blank.statements[0].currency == "USD" and not blank.transactions


# -- round trip through the simulator's writer --------------------------------------------------

LONG = (
    "Remittance for invoices INV-1001 INV-1002 INV-1003 per agreement of 12.01.2026 less 2% "
    "discount and a short-pay for the damaged pallet, questions to Jäger in accounts payable"
)


def _line(n: int, amount: int, currency: str, code: str, **kwargs: Any) -> StatementLine:
    day = date(2026, 2, 27)
    fields: dict[str, Any] = {
        "line_id": f"L-{n}",
        "booking_date": day,
        "value_date": day,
        "amount_minor": amount,
        "currency": currency,
        "bai_type_code": code,
    }
    return StatementLine(**(fields | kwargs))  # fmt: skip


def _statements() -> list[Statement]:
    usd = BankAccount("First Bank", "021000089", "000123456789", "Demo", "USD", "bai2")
    jpy = BankAccount("Tokyo Trust", "021000089", "0123456", "Demo KK", "JPY", "bai2")
    usd_lines = (
        _line(1, 1_234_56, "USD", "165", payer_name="Müller & Söhne, Köln/Bonn",
              bank_reference="BR,0001", customer_reference="TRACE/77", remittance_text=LONG),
        _line(2, 9_870_00, "USD", "115", payer_name="Lockbox Payer Inc",
              customer_reference="CHK 1001", remittance_text="INV-2001"),
        _line(3, -25_00, "USD", "698", bank_reference="FEE-1", remittance_text="Service fee",
              channel="fee"),
        _line(4, 50_00, "USD", "195"),
    )  # fmt: skip
    jpy_lines = (
        _line(1, 1_000_000, "JPY", "195", payer_name="Yamada Shoji", remittance_text="INV 77"),
        _line(2, -880, "JPY", "698", remittance_text="Fee"),
    )
    day = date(2026, 2, 27)
    return [
        Statement(usd, "S-1", 1, CREATED, day, day, 10_000_00, usd_lines),
        Statement(jpy, "S-2", 1, CREATED, day, day, -5_000, jpy_lines),
    ]


def _text(line: StatementLine) -> str:
    """What the writer puts in a 16 record's text: remittance, then the payer's name."""
    words = to_ascii(" ".join(p for p in (line.remittance_text, line.payer_name) if p)).split()
    return " ".join(words).rstrip("/ ")


def _bai2(statements: list[Statement]) -> bytes:
    return write_bai2(
        statements, sender_id="021000089", receiver_id="ARPILOT", file_id="260227A",
        created_at=CREATED,
    )  # fmt: skip


def test_round_trip_through_the_simulator_writer() -> None:
    statements = _statements()
    data = _bai2(statements)
    parsed = parse_bai2(data, source="sim.bai2")
    assert parsed.details["file_id"] == "260227A"
    assert len(parsed.statements) == len(statements)
    for mine, truth in zip(parsed.statements, statements, strict=True):
        currency = truth.account.currency
        assert (mine.account, mine.currency) == (truth.account.account_id, currency)
        assert mine.opening_balance == Money(truth.opening_balance_minor, currency)
        assert mine.closing_balance == Money(truth.closing_balance_minor, currency)
        assert mine.to_date == truth.to_date
        for got, line in zip(mine.transactions, truth.lines, strict=True):
            assert got.amount == Money(line.amount_minor, currency)
            assert got.type_code == line.bai_type_code
            assert got.booking_date == truth.to_date  # BAI2 dates a detail by its group
            expected = [to_ascii(r).replace(",", "-").replace("/", "-").strip()[:30]
                        for r in (line.bank_reference, line.customer_reference)]  # fmt: skip
            assert [got.bank_reference, got.customer_reference] == expected
            assert got.remittance_text == _text(line)
    long_text = parsed.statements[0].transactions[0].remittance_text
    assert "Jaeger" in long_text and "Mueller + Soehne" not in long_text  # '&' kept by BAI2
    assert long_text.endswith("Mueller & Soehne, Koeln/Bonn")


def test_continuations_join_with_a_space_unless_the_line_was_full() -> None:
    # The parser follows real files: a bank that fills an 80-character line cuts a word
    # ('CLIE' / 'NT' in nwb_example, checked above), so a full line runs on without a space;
    # a shorter line ended at a space. The simulator's writer keeps to that rule.
    import dataclasses

    data = _bai2(_statements()).decode()
    assert "for the damaged pallet" in parse_bai2(data.encode()).transactions[0].remittance_text
    word = "".join(f"{i:03d}" for i in range(60))  # 180 characters, no space: cut on full lines
    statement = _statements()[0]
    first = dataclasses.replace(
        statement.lines[0], remittance_text=f"REF {word} END", payer_name=""
    )
    data = _bai2([dataclasses.replace(statement, lines=(first, *statement.lines[1:]))]).decode()
    assert any(len(line) == 80 and line[-1].isdigit() for line in data.splitlines())
    assert parse_bai2(data.encode()).transactions[0].remittance_text == f"REF {word} END"


def test_a_wrong_account_control_total_is_unbalanced() -> None:
    data = _bai2(_statements()).decode()
    trailer = re.search(r"^49,(\d+),(\d+)/$", data, re.MULTILINE)
    assert trailer
    bad = data.replace(trailer.group(0), f"49,{int(trailer.group(1)) + 1},{trailer.group(2)}/")
    with pytest.raises(UnbalancedStatement, match=r"account '000123456789'.*difference 1") as err:
        parse_bai2(bad.encode(), source="bad.bai2")
    assert err.value.line == data.splitlines().index(trailer.group(0)) + 1


def test_a_file_cut_after_a_detail_is_refused_without_hanging() -> None:
    lines = _fixture("nwb_example").decode().splitlines()
    for end in range(1, len(lines)):
        with pytest.raises(ParseError):
            parse_bai2("\n".join(lines[:end]).encode())


def test_a_btrs_file_version_3_reads_as_bai2() -> None:
    """BTRS (ANSI X9.121) is BAI2's successor and keeps its records: version 3 is read alike."""
    data = _fixture("nwb_example").decode()
    version_3 = parse_bai2(data.replace("2215,,,2/", "2215,,,3/").encode())
    assert version_3.statements == parse_bai2(data.encode()).statements


# Written as the specification's own example writes them: an account record continued right
# after a type code ('...,015/' then '88,175000,...'), a summary with distributed availability,
# and a detail whose immediate availability is left blank ('S,,30000,15000').
_SPEC_STYLE = """01,ARPTEST,ARPBANK,261201,0700,1,80,,2/
02,ARPTEST,ARPBANK,1,261130,2359,USD,2/
03,1122334455,USD,010,100000,,,015/
88,175000,,,100,75000,2,0,190/
88,30000,1,D,2,0,20000,1,10000/
16,195,45000,S,,30000,15000,REF1,CUST1,WIRE FROM ACME/
16,165,30000,0,REF2,,ACH ACME CORP/
49,455000,6/
98,455000,1,8/
99,455000,1,10/
"""


def test_a_field_ended_by_a_slash_before_a_continuation_is_not_glued_to_the_next() -> None:
    parsed = parse_bai2(_SPEC_STYLE.encode())
    (statement,) = parsed.statements
    assert (statement.opening_balance, statement.closing_balance) == (
        Money(1000_00, "USD"),
        Money(1750_00, "USD"),
    )
    assert [
        (t.type_code, t.amount, t.bank_reference, t.remittance_text) for t in statement.transactions
    ] == [
        ("195", Money(450_00, "USD"), "REF1", "WIRE FROM ACME"),
        ("165", Money(300_00, "USD"), "REF2", "ACH ACME CORP"),
    ]
    # The same record with the type code written at the start of the continuation instead.
    moved = _SPEC_STYLE.replace(",,,015/\n88,175000,", ",,/\n88,015,175000,")
    assert parse_bai2(moved.encode()).statements == parsed.statements
    # Distributed availability is read by the bai2 package, which knows version 2 only: a
    # BTRS (version 3) file is still read alike.
    lines, numbers = bai2._lines(_SPEC_STYLE.encode(), "spec")
    with pytest.raises(bai2._Unusual):
        bai2._read_plain(lines, numbers, "spec")
    btrs = _SPEC_STYLE.replace("80,,2/", "80,,3/", 1)
    assert parse_bai2(btrs.encode()).statements == parsed.statements


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("16,699,971,", "16,699,9.71,"), "'9.71'"),
        (("16,699,971,", "16,799,971,"), "not supported"),
        (("2215,,,2/", "2215,,,4/"), "version"),
        (("49,143764,14/", "17,143764,14/"), "record code"),
        (("99,143764,1,18/", "99,143764,1,18/\n01,X"), "data after the file trailer"),
    ],
)
def test_malformed_files_are_parse_errors_with_a_line(change: tuple[str, str], reason: str) -> None:
    data = _fixture("nwb_example").decode().replace(*change).encode()
    with pytest.raises(ParseError, match=reason) as error:
        parse_bai2(data)
    assert error.value.line is not None


# -- fuzz ---------------------------------------------------------------------------------------


@functools.cache
def _seeds() -> tuple[bytes, ...]:
    return (*(p.read_bytes() for p in _fixtures()), _bai2(_statements()))


@st.composite
def _mutated(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    data = draw(st.sampled_from(seeds))
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "encode", "lines"]))
    at = draw(st.integers(0, max(len(data) - 1, 0)))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 40)) :]
    if kind == "encode":
        codec = draw(st.sampled_from(["utf-16", "utf-32", "cp500", "latin-1", "utf-8-sig"]))
        return data.decode("utf-8", "replace").encode(codec, "replace")
    lines = data.split(b"\n")
    index = draw(st.integers(0, len(lines) - 1))
    if draw(st.booleans()):
        lines.insert(index, lines[index])
    else:
        del lines[index]
    return b"\n".join(lines)


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_files_parse_or_raise_parse_error(data: st.DataObject) -> None:
    mutated = data.draw(_mutated(_seeds()))
    try:
        result = parse_bai2(mutated, source="fuzz")
    except ParseError:
        return
    assert isinstance(result, ParsedFile) and result.file_format == "bai2"


# -- the plain path against the bai2 reader it stands in for ------------------------------------


def _bump(line: str, field: int) -> str:
    """A trailer with one more record counted in its ``field``-th field (1-based)."""
    fields = line.removesuffix("/").split(",")
    fields[field] = str(int(fields[field]) + 1)
    return ",".join(fields) + "/"


@st.composite
def _recut(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A 16 or 03 record cut into a continuation (88) at any point, trailer counts kept right;
    or a detail's funds type changed to another the reader accepts."""
    lines = draw(st.sampled_from(seeds)).decode().splitlines()
    index = draw(st.sampled_from([i for i, line in enumerate(lines) if line[:3] in ("16,", "03,")]))
    line = lines[index]
    if line.startswith("16,") and draw(st.booleans()):
        funds = draw(st.sampled_from(["0", "1", "2", "", "V,260301,1200", "V,,", "S,1,2,3", "D,0"]))
        fields = line.split(",")
        lines[index] = ",".join([*fields[:3], funds, *fields[4:]])
        return "\n".join(lines).encode()
    cut = draw(st.integers(3, len(line)))
    slash = "/" if draw(st.booleans()) else ""
    lines[index : index + 1] = [line[:cut] + slash, "88," + line[cut:]]
    for code, field in (("49,", 2), ("98,", 3), ("99,", 3)):
        after = next(i for i in range(index, len(lines)) if lines[i].startswith(code))
        lines[after] = _bump(lines[after], field)
    return "\n".join(lines).encode()


def _outcome(read: Any, lines: list[str], numbers: list[int]) -> object:
    try:
        return read(lines, numbers, "twin")
    except bai2._Unusual:
        return None
    except ParseError as exc:
        return (type(exc).__name__, str(exc), exc.line)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_plain_path_reads_what_the_bai2_reader_reads(data: st.DataObject) -> None:
    mutated = data.draw(st.one_of(_mutated(_seeds()), _recut(_seeds())))
    try:
        lines, numbers = bai2._lines(mutated, "twin")
    except ParseError:
        return
    plain = _outcome(bai2._read_plain, lines, numbers)
    if plain is not None:
        assert plain == _outcome(bai2._read_with_library, lines, numbers)


def test_real_and_simulated_files_take_the_plain_path() -> None:
    for data in _seeds():
        lines, numbers = bai2._lines(data, "plain")
        assert bai2._read_plain(lines, numbers, "plain") == bai2._read_with_library(
            lines, numbers, "plain"
        )


def test_a_detail_without_a_type_code_is_a_parse_error() -> None:
    data = _fixture("nwb_example").decode().replace("16,699,971,", "16,,971,").encode()
    with pytest.raises(ParseError, match="without a type code") as error:
        parse_bai2(data)
    assert error.value.line == 5

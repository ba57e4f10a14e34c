"""The MT940 parser against the real files of the mt940 project, the simulator's writer and fuzz."""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.bank import mt940 as mt940_module
from ingest.bank.mt940 import difference, parse_mt940, read_mt940
from ingest.statements import ParsedFile, ParsedStatement
from ledger.errors import ParseError, UnbalancedStatement
from ledger.money import Money
from simulator.formats import write_mt940
from simulator.formats.mt940 import to_swift_x
from simulator.model import BankAccount, Statement, StatementLine
from tests.conftest import shared_path

# -- what is true of each real file -----------------------------------------------------------

FRAGMENTS = {
    # Snippets the mt940 project uses to test single tags: no :20: (or no :25:/balances).
    "amount_formats": 1,
    "currency_in_25": 1,
    "empty_86": 1,
    "empty_entry_date": 1,
    "missing_crlf_at_end": 1,
    "empty_line": 2,
}
BROKEN = {"sepa_snippet_broken": (6, "second account (:25:)")}  # its :86: is tagged :25:
# Statements whose own numbers do not add up: closing - (opening + lines), as in the file.
UNBALANCED = {
    "sepa_snippet": {"T089414096000001/00004/00001": "300.08"},
    "abnamro": {"ABN AMRO BANK NV/19321/1": "-2038.00", "ABN AMRO BANK NV/19322/1": "-1002.60"},
    "ing": {"MPBZ/000": "49.06"},
    "knab": {"B4G30MS9D00A003D/999/1": "4500.00"},
    "postfinance": {"2014040708285928/999/2": "0.20"},
    "rabobank": {"940A110615/00000/00": "1135.93", "940A110617/00000/00": "236.56"},
    "triodos": {"1308728725026/1/1": "111.40"},
}
BALANCED = {
    "sepa_mt9401": 26,
    "with_binary_character": 2,
    "generic": 2,
    "rabobank-iban": 2,
    "sns": 2,
}


def _fixtures() -> list[Path]:
    return sorted(shared_path("fixtures", "mt940").glob("*/*.sta"))


def _fixture(name: str) -> Path:
    return next(p for p in _fixtures() if p.stem == name)


class _FixtureLoader(yaml.SafeLoader):
    """Reads the mt940 project's pickled-YAML expectations as plain data, running no code."""


def _object(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    data: dict[str, Any] = {}
    yield data
    assert isinstance(node, yaml.MappingNode)
    data.update(loader.construct_mapping(node, deep=True))


def _apply(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.SequenceNode)
    args = loader.construct_sequence(node, deep=True)
    if suffix == "decimal.Decimal":
        return Decimal(args[0])
    if suffix in ("mt940.models.Date", "datetime.date"):
        packed = args[0]  # pickled date state: year (2 bytes), month, day
        return date(packed[0] * 256 + packed[1], packed[2], packed[3])
    return None


_FixtureLoader.add_multi_constructor("tag:yaml.org,2002:python/object:", _object)
_FixtureLoader.add_multi_constructor("tag:yaml.org,2002:python/object/apply:", _apply)
_FixtureLoader.add_multi_constructor(
    "tag:yaml.org,2002:python/name:", lambda loader, suffix, node: suffix
)


def _expected(path: Path) -> dict[str, Any]:
    loaded = yaml.load(path.with_suffix(".yml").read_text(), Loader=_FixtureLoader)
    assert isinstance(loaded, dict)
    return loaded


def _minor(value: Decimal, currency: str) -> int:
    return Money.parse(str(value), currency).minor


def test_every_real_file_is_classified() -> None:
    names = {p.stem for p in _fixtures()}
    assert names == set(FRAGMENTS) | set(BROKEN) | set(UNBALANCED) | set(BALANCED)


@pytest.mark.parametrize("name", sorted(BALANCED))
def test_real_statements_parse_and_tie_out(name: str) -> None:
    parsed = parse_mt940(_fixture(name).read_bytes(), source=name)
    assert len(parsed.statements) == BALANCED[name]
    assert all(difference(s) == Money.zero(s.currency) for s in parsed.statements)


@pytest.mark.parametrize("name", sorted(UNBALANCED))
def test_real_statements_that_do_not_add_up_are_refused_with_the_numbers(name: str) -> None:
    data = _fixture(name).read_bytes()
    read = read_mt940(data, source=name)
    gaps = {s.statement_id: difference(s) for s in read.statements}
    untied = {k: v.amount_text() for k, v in gaps.items() if v is not None and v.minor}
    assert untied == UNBALANCED[name]
    first_id, first_gap = next(iter(UNBALANCED[name].items()))
    with pytest.raises(UnbalancedStatement) as refused:
        parse_mt940(data, source=name)
    message = str(refused.value)
    assert first_id in message and refused.value.line is not None
    assert f"difference {Money.parse(first_gap, read.statements[0].currency)}" in message


@pytest.mark.parametrize("name", sorted(FRAGMENTS))
def test_fragments_without_a_statement_are_refused_with_a_line(name: str) -> None:
    with pytest.raises(ParseError) as refused:
        parse_mt940(_fixture(name).read_bytes(), source=name)
    assert refused.value.line == FRAGMENTS[name]
    assert not isinstance(refused.value, UnbalancedStatement)


def test_a_mis_tagged_field_is_refused_not_taken_as_the_account() -> None:
    line, reason = BROKEN["sepa_snippet_broken"]
    with pytest.raises(ParseError, match=re.escape(reason)) as refused:
        parse_mt940(_fixture("sepa_snippet_broken").read_bytes())
    assert refused.value.line == line


@pytest.mark.parametrize("name", sorted(set(BALANCED) | set(UNBALANCED)))
def test_real_files_match_the_mt940_projects_expectations(name: str) -> None:
    path = _fixture(name)
    parsed = read_mt940(path.read_bytes(), source=name)
    expected = _expected(path)
    transactions = [t["data"] for t in expected["transactions"]]
    ours = parsed.transactions
    assert len(ours) == len(transactions)
    for mine, theirs in zip(ours, transactions, strict=True):
        currency = mine.amount.currency
        mark = theirs["status"].upper()
        # The project's old default left a reversal of a credit (RC) positive; it is a debit.
        sign = -1 if mark == "RC" else 1
        assert mine.amount.minor == sign * _minor(theirs["amount"]["amount"], currency)
        assert mine.value_date == theirs["date"]
        assert mine.booking_date == (theirs.get("entry_date") or theirs["date"])
        assert mine.type_code == (theirs["id"] or "").upper()
    # parse() keeps the balances of the last statement only (it merges them).
    data = expected["data"]
    last = parsed.statements[-1]
    openings = [data.get(k) for k in ("final_opening_balance", "intermediate_opening_balance")]
    closings = [data.get(k) for k in ("final_closing_balance", "intermediate_closing_balance")]
    assert _balance(last, opening=True) in [_as_balance(b, last.currency) for b in openings if b]
    assert _balance(last, opening=False) in [_as_balance(b, last.currency) for b in closings if b]
    assert data["account_identification"] == last.account


def _balance(statement: ParsedStatement, *, opening: bool) -> tuple[int, date | None]:
    money = statement.opening_balance if opening else statement.closing_balance
    assert money is not None
    return money.minor, statement.from_date if opening else statement.to_date


def _as_balance(balance: dict[str, Any], currency: str) -> tuple[int, date]:
    sign = -1 if balance["status"] == "D" else 1
    return sign * abs(_minor(balance["amount"]["amount"], currency)), balance["date"]


def _wrapped(*fields: str, account: str = "DE00TEST", closing: str = "") -> bytes:
    body = "\r\n".join(fields)
    return f":20:WRAPPED\r\n:25:{account}\r\n:28C:1/1\r\n{body}\r\n{closing}-\r\n".encode()


def test_fragments_read_inside_a_statement_match_their_expectations() -> None:
    # amount_formats: six opening balances, one per amount layout the format allows.
    lines = _fixture("amount_formats").read_text().split()
    amounts = [
        read_mt940(_wrapped(line, closing=f":62F:{line[5:]}\r\n")).statements[0].opening_balance
        for line in lines
    ]
    assert [a.amount_text() for a in amounts if a] == [
        "380115.12", "380115.10", "380115.00", "0.12", "0.12", "1.12"
    ]  # fmt: skip
    last = _expected(_fixture("amount_formats"))["data"]["final_opening_balance"]
    assert amounts[-1] == Money(_minor(last["amount"]["amount"], "EUR"), "EUR")

    entry = _fixture("empty_entry_date").read_text().split("\n")[0]
    parsed = read_mt940(_wrapped(":60F:C110701EUR0,00", entry, ":62F:C110701EUR50,00"))
    (transaction,) = parsed.transactions
    expected = _expected(_fixture("empty_entry_date"))["transactions"][0]["data"]
    assert transaction.amount == Money(_minor(expected["amount"]["amount"], "EUR"), "EUR")
    assert transaction.value_date == transaction.booking_date == expected["date"]

    closing = _fixture("missing_crlf_at_end").read_text().split("\n")[0]
    parsed = read_mt940(_wrapped(":60F:C100323EUR42570,04", closing))
    assert parsed.statements[0].closing_balance == Money(42570_04, "EUR")

    account = _fixture("currency_in_25").read_text().strip()[4:]
    parsed = read_mt940(_wrapped(":60F:C100323EUR1,00", ":62F:C100323EUR1,00", account=account))
    assert parsed.statements[0].account == "51210600/9223382012EUR"

    info = _fixture("empty_86").read_text().split("\n")[0]
    parsed = read_mt940(_wrapped(":60F:C100323EUR1,00", info, ":62F:C100323EUR1,00"))
    assert parsed.details["statement_information"] == {"WRAPPED/1/1": "091"}


def test_structured_details_of_real_files() -> None:
    german = read_mt940(_fixture("sepa_snippet").read_bytes()).transactions[0]
    assert german.payer_name == "KARL KAUFMANN"
    assert german.payer_account == "DE14508800500194785000"
    assert german.end_to_end_id == "EndToEndId TFNR 22 004 00001"
    assert german.remittance_text == "Verw CTSc-01 BC-PPP TFNr 22 004"
    assert german.bank_reference == "0724710333343453"
    assert german.customer_reference == ""  # NONREF

    slash = read_mt940(_fixture("rabobank-iban").read_bytes()).transactions
    assert slash[0].payer_name == "CONTRA ACCOUNT HOLDER"  # 'ACCOUN' + 'T HOLDER' across lines
    assert slash[0].end_to_end_id == "01-01-2013 12:00 0030000987654321"
    assert slash[1].remittance_text == "Reference 201301234 P001234567"  # + supplementary details

    triodos = read_mt940(_fixture("triodos").read_bytes()).transactions[0]  # '>' subfields
    assert triodos.remittance_text == (
        "ALGEMENE TUSSENREKENING KOSTEN VAN 01-10-2010 TOT EN MET 31-12-2010"
    )
    ing = read_mt940(_fixture("ing").read_bytes())
    # A statement-level :86: after the closing balance is not hung on the last transaction.
    assert ing.details["statement_information"] == {"MPBZ/000": "D000004C000002D25,24C28,71"}
    assert "D000004" not in ing.transactions[-1].remittance_text


# -- round trip through the simulator's writer --------------------------------------------------

NAME = "Müller & Söhne GmbH, Niederlassung Köln/Bonn"
LONG = (
    "Zahlung für Rechnungen INV-1001, INV-1002/2026 und INV-1003 gemäß Vereinbarung vom "
    "12.01.2026; Skonto 2% abgezogen, Rückfragen bitte an Frau Jäger (Buchhaltung) Tel 0221 "
    "555 0199 danke für die prompte Lieferung der Ersatzteile und den freundlichen Service"
)


def _line(n: int, amount: int, currency: str, **kwargs: Any) -> StatementLine:
    defaults: dict[str, Any] = {
        "line_id": f"L-{n}",
        "booking_date": date(2026, 1, 2),
        "value_date": date(2025, 12, 31),  # entry date in the next year: the roll-over
        "amount_minor": amount,
        "currency": currency,
    }
    return StatementLine(**(defaults | kwargs))


def _statements() -> list[Statement]:
    eur = BankAccount("Rheinland Bank", "COBADEFFXXX", "DE89 3704 0044 0532 0130 00", "Demo",
                      "EUR", "mt940")  # fmt: skip
    jpy = BankAccount("Tokyo Trust", "MHCBJPJTXXX", "0123456", "Demo KK", "JPY", "mt940")
    eur_lines = (
        _line(1, 1_234_56, "EUR", payer_name=NAME, payer_account="DE44 5001 0517 5407 3249 31",
              bank_reference="BR/0001", customer_reference="KD-4711", end_to_end_id="E2E-1",
              remittance_text=LONG, channel="sepa"),
        _line(2, -12_50, "EUR", bank_reference="FEE-0227", remittance_text="Kontoführung",
              channel="fee"),
        _line(3, 75_00, "EUR", channel="transfer"),  # NONREF, no details
        _line(4, 99_999_999_99, "EUR", payer_name="A & B Ölhandel Straßburg Ærø Łódź Sp. z o.o. "
              "Zweigniederlassung", payer_account="NL91ABNA0417164300",
              customer_reference="ORDER 99 / A", end_to_end_id="X" * 40,
              remittance_text="Prepayment contract 2026/77 ?20 EREF+ fake"),
    )  # fmt: skip
    jpy_lines = (
        _line(1, 1_000_000, "JPY", payer_name="Yamada Shoji", payer_account="JP1234",
              bank_reference="JP-1", remittance_text="INV 77", value_date=date(2026, 1, 2)),
        _line(2, -880, "JPY", remittance_text="Fee", channel="fee",
              value_date=date(2026, 1, 2)),
    )  # fmt: skip
    created = datetime(2026, 1, 3, 6, 0)
    return [
        Statement(eur, "STMT/2026-01-02", 7, created, date(2025, 12, 31), date(2026, 1, 2),
                  -500_00, eur_lines),
        Statement(jpy, "J-1", 1, created, date(2026, 1, 2), date(2026, 1, 2), 5_000, jpy_lines),
    ]  # fmt: skip


def _swift_value(text: str) -> str:
    return " ".join(to_swift_x(text).replace("/", "-").split())


def _german_value(text: str) -> str:
    return " ".join(to_swift_x(text).replace("?", "").split())


def _reference(text: str, width: int = 16) -> str:
    return to_swift_x(text).replace(" ", "").replace("/", "-").strip("-")[:width]


@pytest.mark.parametrize("dialect", ["swift", "german"])
def test_round_trip_through_the_simulator_writer(dialect: str) -> None:
    statements = _statements()
    parsed = parse_mt940(write_mt940(statements, dialect=dialect), source=dialect)
    assert len(parsed.statements) == len(statements)
    value = _german_value if dialect == "german" else _swift_value
    for mine, truth in zip(parsed.statements, statements, strict=True):
        currency = truth.account.currency
        assert mine.account == to_swift_x(truth.account.account_id).replace(" ", "")
        assert mine.statement_id == f"{_reference(truth.statement_id)}/{truth.sequence:05d}/001"
        assert mine.currency == currency
        assert mine.opening_balance == Money(truth.opening_balance_minor, currency)
        assert mine.closing_balance == Money(truth.closing_balance_minor, currency)
        assert (mine.from_date, mine.to_date) == (truth.from_date, truth.to_date)
        assert parsed.details["available_balance"][mine.statement_id] == mine.closing_balance
        assert len(mine.transactions) == len(truth.lines)
        for got, line in zip(mine.transactions, truth.lines, strict=True):
            assert got.amount == Money(line.amount_minor, currency)
            assert (got.value_date, got.booking_date) == (line.value_date, line.booking_date)
            assert got.customer_reference == _reference(line.customer_reference)
            assert got.bank_reference == _reference(line.bank_reference)
            assert got.type_code == {"fee": "NCHG", "transfer": "NTRF", "sepa": "NTRF"}.get(
                line.channel, "NTRF"
            )
            assert got.end_to_end_id == value(line.end_to_end_id)[:35]
            assert got.payer_account == value(line.payer_account).replace(" ", "")
            name = value(line.payer_name)
            assert got.payer_name == (" ".join(name[:54].split()) if dialect == "german" else name)
            full = value(line.remittance_text)
            # Text beyond six lines of :86: (or ten German subfields) is cut at its end.
            assert full.startswith(got.remittance_text)
            assert len(got.remittance_text) >= min(len(full), 150)
    first = parsed.statements[0].transactions[0]
    assert first.payer_name.startswith("Mueller + Soehne GmbH, Niederlassung Koeln")


def test_a_dot_decimal_is_refused_not_truncated() -> None:
    good = _wrapped(":60F:C091019EUR1000,57", ":61:0910201020C12,34NTRFNONREF",
                    ":62F:C091020EUR1012,91")  # fmt: skip
    assert parse_mt940(good).transactions[0].amount == Money(12_34, "EUR")
    for field, line in ((":60F:C091019EUR1000.57", 4), (":61:0910201020C12.34NTRFNONREF", 5)):
        fields = [":60F:C091019EUR1000,57", ":61:0910201020C12,34NTRFNONREF"]
        fields[line - 4] = field
        with pytest.raises(ParseError, match=re.escape("'.'")) as refused:
            parse_mt940(_wrapped(*fields, ":62F:C091020EUR1012,91"), source="dot.sta")
        assert refused.value.line == line
        assert not isinstance(refused.value, UnbalancedStatement)


def test_a_reference_longer_than_sixteen_characters_is_read_whole() -> None:
    """Some Dutch banks write the counterparty's IBAN (18 characters) as the reference for the
    account owner, with or without a supplementary line after it: never cut, never refused; a
    valid IBAN there is the payer's account."""
    with_line = (":61:2001010101C65,00NOVBNL91ABNA0417164300", "J DE VRIES",
                 ":86:NL91ABNA0417164300 J de Vries factuur 2019-118")  # fmt: skip
    without_line = (":61:2001010101C65,00NOVBNL91ABNA0417164300", ":86:factuur 2019-118")
    for fields in (with_line, without_line):
        data = _wrapped(":60F:C200101EUR100,00", *fields, ":62F:C200101EUR165,00")
        (line,) = parse_mt940(data).transactions
        assert line.customer_reference == "NL91ABNA0417164300"
        assert line.payer_account == "NL91ABNA0417164300"
        assert line.amount == Money(65_00, "EUR")
    sixteen = (":60F:C200101EUR100,00", ":61:2001010101C65,00NOVBAB12CD34EF56GH78")
    (line,) = parse_mt940(_wrapped(*sixteen, ":62F:C200101EUR165,00")).transactions
    assert (line.customer_reference, line.payer_account) == ("AB12CD34EF56GH78", "")


def test_our_own_account_is_never_the_payers() -> None:
    """Triodos' layout: '>31' is the statement's own account; the payer's BIC and IBAN are in
    '>20' and '>21'."""
    details = (":86:000>100000000000", ">20ABNANL2A", ">21NL91ABNA0417164300",
               ">22J DE VRIES AMSTERDAM", ">23FACTUUR 2019-118>310454545454")  # fmt: skip
    data = _wrapped(":60F:C131007EUR0,00", ":61:131007C1000,00NET NONREF", *details,
                    ":62F:C131007EUR1000,00", account="TRIODOSBANK/0454545454")  # fmt: skip
    (line,) = parse_mt940(data).transactions
    assert line.payer_account == "NL91ABNA0417164300"
    assert "ABNANL2A" not in line.remittance_text
    assert "NL91ABNA0417164300" not in line.remittance_text
    assert "FACTUUR 2019-118" in line.remittance_text
    # German layout: an account in ?31 that is not ours stays the payer's
    german = _wrapped(":60F:C131007EUR0,00", ":61:131007C1000,00NTRFNONREF",
                      ":86:166?20SVWZ+RE 4711?31DE89370400440532013000?32MUELLER GMBH",
                      ":62F:C131007EUR1000,00", account="DE02120300000000202051")  # fmt: skip
    (line,) = parse_mt940(german).transactions
    assert (line.payer_account, line.payer_name) == ("DE89370400440532013000", "MUELLER GMBH")


def test_an_iban_in_the_supplementary_details_is_the_payers_account() -> None:
    """Rabobank writes the counterparty's account on the :61: line's second line."""
    data = _wrapped(":60F:C130403EUR0,00", ":61:130403C000000000127,50N102EREF",
                    "NL91ABNA0417164300", ":86:/NAME/J de Vries/REMI/factuur 2013-77",
                    ":62F:C130403EUR127,50")  # fmt: skip
    (line,) = parse_mt940(data).transactions
    assert line.payer_account == "NL91ABNA0417164300"
    assert line.remittance_text == "factuur 2013-77"


def test_a_blank_at_the_end_of_a_wrapped_line_separates_words() -> None:
    details = (":86:/NAME/J de Vries/REMI/USTD//loon ", "periode 8 (aug)/")
    data = _wrapped(":60F:C140801EUR0,00", ":61:140801C5,00NTRFNONREF", *details,
                    ":62F:C140801EUR5,00")  # fmt: skip
    (line,) = parse_mt940(data).transactions
    assert line.remittance_text == "loon periode 8 (aug)"


def test_a_closing_balance_one_cent_off_is_unbalanced() -> None:
    data = write_mt940(_statements()[:1])
    text = data.decode()
    closing = next(line for line in text.split("\r\n") if line.startswith(":62F:"))
    cent_off = closing[:-1] + str((int(closing[-1]) + 1) % 10)
    with pytest.raises(UnbalancedStatement, match=r"difference -?0\.01 EUR") as refused:
        parse_mt940(text.replace(closing, cent_off).encode(), source="x.sta")
    assert refused.value.line == text.split("\r\n").index(closing) + 1


def test_reversals_flip_the_sign_and_malformed_lines_name_their_line() -> None:
    data = _wrapped(":60F:C240101EUR100,00", ":61:2401020102RC10,00NTRFNONREF",
                    ":61:2401020102RD2,50NTRFREF1//BANK1", ":62F:C240102EUR92,50")  # fmt: skip
    parsed = parse_mt940(data)
    assert [t.amount.minor for t in parsed.transactions] == [-10_00, 2_50]
    assert parsed.transactions[1].customer_reference == "REF1"
    for bad in (":61:24X1020102C1,00NTRF", ":61:2413020102C1,00NTRF", ":61:2401020102C1,00"):
        with pytest.raises(ParseError) as refused:
            parse_mt940(_wrapped(":60F:C240101EUR0,", bad, ":62F:C240102EUR1,"))
        assert refused.value.line == 5


def test_binary_and_empty_input_are_parse_errors() -> None:
    for data in (b"", b"\x00\x01\x02", "héllo".encode("utf-16"), b"random text\n"):
        with pytest.raises(ParseError):
            parse_mt940(data)


# -- fuzz ---------------------------------------------------------------------------------------


@functools.cache
def _seeds() -> tuple[bytes, ...]:
    return tuple(p.read_bytes() for p in _fixtures())


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
def test_fuzzed_real_files_parse_or_raise_parse_error(data: st.DataObject) -> None:
    mutated = data.draw(_mutated(_seeds()))
    try:
        result = parse_mt940(mutated, source="fuzz")
    except ParseError:
        return
    assert isinstance(result, ParsedFile) and result.file_format == "mt940"
    for statement in result.statements:
        assert difference(statement) == Money.zero(statement.currency)


def test_round_trip_keeps_a_short_statement_exact() -> None:
    statement = _statements()[1]
    short = replace(statement, lines=statement.lines[:1])
    parsed = parse_mt940(write_mt940([short], dialect="german"))
    (got,) = parsed.transactions
    assert (got.payer_name, got.payer_account, got.remittance_text) == (
        "Yamada Shoji",
        "JP1234",
        "INV 77",
    )


# -- splitting into fields, against the line-by-line reading it replaced ----------------------

_TAG_START = re.compile(r":(?P<tag>[0-9]{2}[A-Z]?|NS[A-Z]?):")


def _blocks_line_by_line(text: str) -> list[list[tuple[str, tuple[str, ...], int]]]:
    """Statements as (tag, lines, line) fields, read one line at a time: the slow twin."""
    blocks: list[list[tuple[str, tuple[str, ...], int]]] = []
    block: list[tuple[str, tuple[str, ...], int]] | None = None
    current: tuple[str, list[str], int] | None = None

    def flush() -> None:
        nonlocal current
        if current is not None and block is not None:
            block.append((current[0], tuple(current[1]), current[2]))
        current = None

    def trimmed(value: str) -> str:  # one trailing blank kept where there were any
        kept = value.rstrip()
        return kept + " " if kept and kept != value else kept

    raws = text.split("\n")

    def ends_message(index: int) -> bool:
        """'-' alone ends it; '-XXX' only when no field of the message follows (else it is a
        wrapped text line)."""
        if re.fullmatch(r"-\}?[ \t]*", raws[index].replace("\r", "")):
            return True
        for later in raws[index + 1 :]:
            tag = _TAG_START.match(later)
            if later.startswith("-") or tag:
                return not tag or tag.group("tag") == "20"
        return True

    for number, raw in enumerate(raws, start=1):
        unstripped = raw.replace("\r", "")
        line = unstripped.rstrip()
        match = _TAG_START.match(line)
        if match:
            tag = match.group("tag")
            if tag == "20":
                flush()
                if block is not None:
                    blocks.append(block)
                block = []
            elif block is None:
                raise ParseError(f"field :{tag}: outside a statement", line=number)
            flush()
            current = (tag, [trimmed(unstripped[match.end() :])], number)
        elif line.startswith("-") and ends_message(number - 1):
            flush()
            if block is not None:
                blocks.append(block)
            block = None
        elif current is not None:
            current[1].append(trimmed(unstripped))
    flush()
    if block is not None:
        blocks.append(block)
    return blocks


def _split(read: Any, text: str) -> object:
    try:
        return read(text)
    except ParseError as exc:
        return ("ParseError", exc.line)


_PIECES = [":20:REF", ":25:DE1", ":61:2601", ":86:?20X", ":62F:C", "-", "-}", "x", "", " ", "\t",
           "\r", "\u00a0", "\u2028", ":NS:", ":20", "\n", "\r\n", " \n", "?21 y"]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # Deferred: the real files are read when the test runs, so it (not the module) is skipped
    # when ../shared is absent.
    seeded=st.deferred(lambda: _mutated(_seeds())),
    pieces=st.lists(st.sampled_from(_PIECES), max_size=30),
    use_pieces=st.booleans(),
)
def test_fields_split_as_the_line_by_line_reading_splits_them(
    seeded: bytes, pieces: list[str], use_pieces: bool
) -> None:
    raw = "".join(pieces).encode() if use_pieces else seeded
    try:
        text = mt940_module._decode(raw, "")  # what the parser hands on: no control characters
    except ParseError:
        return

    def fast(text: str) -> list[list[tuple[str, tuple[str, ...], int]]]:
        return [
            [(f.tag, f.lines, f.line) for f in b.fields] for b in mt940_module._blocks(text, "")
        ]

    assert _split(fast, text) == _split(_blocks_line_by_line, text)


def test_an_mt942_interim_report_is_refused_for_what_it_is() -> None:
    interim = (":13D:2601191815+0100", ":34F:EUR0,", ":61:2601190119C5,00NTRFNONREF",
               ":86:invoice 4711", ":90C:1EUR5,00")  # fmt: skip
    with pytest.raises(ParseError, match="MT942 interim transaction report"):
        parse_mt940(_wrapped(*interim))


def test_a_counterparty_written_rek_naam_is_the_payer() -> None:
    """Knab writes the counterparty in the text: 'REK: account/NAAM: name'."""
    details = (":86:FACTUUR 2024-0117 TERMIJN 2", "REK: NL91ABNA0417164300/NAAM: DE VRIES BV")
    data = _wrapped(":60F:C241024EUR0,", ":61:2410241024C10,NTRFNONREF//AB12", *details,
                    ":62F:C241024EUR10,")  # fmt: skip
    (line,) = parse_mt940(data).transactions
    assert (line.payer_name, line.payer_account) == ("DE VRIES BV", "NL91ABNA0417164300")
    assert line.remittance_text == "FACTUUR 2024-0117 TERMIJN 2"


def test_a_counterparty_written_before_the_description_is_the_payer() -> None:
    """ASN and SNS put the counterparty's IBAN in the reference, its name in the supplementary
    details, and both again first in :86:, then the description: free text or '/KEY/' tags."""
    tagged = (
        ":61:2410241024C42,50NTRFNL91ABNA0417164300",
        "de vries bv",
        ":86:NL91ABNA0417164300 de vries bv",
        "",
        "/TRTP/SEPA OVERBOEKING/NAME/DE VRIES BV/REMI/FACTUUR 2024-0117/EREF/E2E-77",
    )
    plain = (
        ":61:2410241024C7,50NTRFNL91ABNA0417164300",
        "de vries bv",
        ":86:NL91ABNA0417164300 de vries bv",
        "",
        "factuur 2024-0118",
    )
    data = _wrapped(":60F:C241024EUR0,", *tagged, *plain, ":62F:C241024EUR50,")  # fmt: skip
    first, second = parse_mt940(data).transactions
    assert (first.payer_name, first.payer_account, first.end_to_end_id) == (
        "DE VRIES BV", "NL91ABNA0417164300", "E2E-77",
    )  # fmt: skip
    assert first.remittance_text == "FACTUUR 2024-0117"
    assert (second.payer_name, second.payer_account, second.remittance_text) == (
        "de vries bv", "NL91ABNA0417164300", "factuur 2024-0118",
    )  # fmt: skip


def test_a_line_without_a_type_code_and_nonref_has_no_reference() -> None:
    """Penta leaves the type code out ('D20,00NONREF') and writes free text after the German
    layout's '999'."""
    data = _wrapped(":60F:C200902EUR100,00", ":61:2009020902D20,00NONREF",
                    ":86:999SEPA_STANDING_ORDER:Rent September", ":62F:C200902EUR80,00")  # fmt: skip
    (line,) = parse_mt940(data).transactions
    assert (line.type_code, line.customer_reference) == ("", "")
    assert line.remittance_text == "SEPA_STANDING_ORDER:Rent September"


def test_an_iban_written_with_its_currency_is_the_account() -> None:
    """bunq writes the currency after the account in :25:."""
    data = _wrapped(":60F:C190401EUR10,00", ":61:1904010401D0,61NMSCNONREF",
                    ":86:/NAME/ROUTER HOSTING/REMI/HOSTING", ":62F:C190401EUR9,39",
                    account="NL91ABNA0417164300 EUR")  # fmt: skip
    (line,) = parse_mt940(data).transactions
    assert line.account == "NL91ABNA0417164300"
    kept = _wrapped(":60F:C190401EUR10,00", ":61:1904010401D0,61NMSCNONREF", ":86:X",
                    ":62F:C190401EUR9,39", account="12345678 EUR")  # fmt: skip
    assert parse_mt940(kept).transactions[0].account == "12345678 EUR"  # not an IBAN


@pytest.mark.parametrize(
    ("statement_line", "details", "text"),
    [
        # The name runs on in :86: ('DE VRIESEN'): not the layout.
        (
            (":61:2410241024C1,NTRFNL91ABNA0417164300", "DE VRIES"),
            (":86:NL91ABNA0417164300 DE VRIESEN BV FACTUUR 12",),
            "NL91ABNA0417164300 DE VRIESEN BV FACTUUR 12",
        ),
        # A reference that is no IBAN: the words after it are the payer's description.
        (
            (":61:2410241024C1,NTRFINV-4711", "ACME GMBH"),
            (":86:INV-4711 ACME GMBH FACTUUR 2024-0117",),
            "INV-4711 ACME GMBH FACTUUR 2024-0117",
        ),
        # '999' starting a number is text, not the free-text code.
        ((":61:2410241024C1,NTRFNONREF",), (":86:999-4711 Rechnung",), "999-4711 Rechnung"),
    ],
)
def test_words_that_only_look_like_a_layout_are_read_as_text(
    statement_line: tuple[str, ...], details: tuple[str, ...], text: str
) -> None:
    data = _wrapped(":60F:C241024EUR0,", *statement_line, *details, ":62F:C241024EUR1,")
    (line,) = parse_mt940(data).transactions
    assert line.remittance_text.startswith(text)
    assert line.payer_name == ""


def test_statements_of_one_account_in_two_currencies_are_not_chained_to_each_other() -> None:
    """A multi-currency account has a statement per currency under one number: each opens
    where the one before it in its currency closed."""
    euro = ":20:EUR-1\r\n:25:DE89370400440532013000\r\n:28C:1/1\r\n:60F:C240101EUR100,00\r\n:61:2401010101C5,00NTRFNONREF\r\n:62F:C240101EUR105,00\r\n-\r\n"
    dollar = euro.replace("EUR", "USD").replace("100,00", "700,00").replace("105,00", "705,00")
    euro_2 = (
        euro.replace("EUR-1", "EUR-2")
        .replace("100,00", "105,00")
        .replace("105,00\r\n-", "110,00\r\n-")
    )
    parsed = parse_mt940((euro + dollar + euro_2).encode())
    assert [s.currency for s in parsed.statements] == ["EUR", "USD", "EUR"]
    with pytest.raises(ParseError, match="a page or statement between them is missing"):
        parse_mt940((euro + dollar + euro).encode())


def test_subfields_marked_with_a_plus_are_read_like_german_ones() -> None:
    """Romanian BRD writes the German layout with '+' before each subfield number."""
    details = (":86:000+20Plata           +30302410000+31RO49AAAA1B31007593840000",
               "+32EXEMPLU IMPEX SRL+33/", "+23PLATA FACT 4711")  # fmt: skip
    data = _wrapped(":60F:C160517EUR100,00", ":61:1605170517D10,00NTRFNONREF", *details,
                    ":62F:C160517EUR90,00")  # fmt: skip
    (line,) = parse_mt940(data).transactions
    assert (line.payer_name, line.payer_account) == (
        "EXEMPLU IMPEX SRL",
        "RO49AAAA1B31007593840000",
    )
    assert line.remittance_text == "Plata PLATA FACT 4711"

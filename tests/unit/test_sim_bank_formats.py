"""The simulator's bank-statement writers, each checked by an independent reader of its format."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import mt940
import pytest
from bai2 import bai2
from bai2.constants import TypeCodeTransaction
from lxml import etree
from stdnum import iso11649

from ledger.errors import InputError
from ledger.money import parse_amount
from simulator.formats import (
    EU_BANK_CSV,
    US_BANK_CSV,
    CsvDialect,
    write_bai2,
    write_camt053,
    write_camt054,
    write_csv_statement,
    write_mt940,
)
from simulator.formats.camt import VERSIONS
from simulator.formats.mt940 import to_swift_x
from simulator.model import BankAccount, RemittanceRef, Statement, StatementLine

CREATED = datetime(2026, 3, 2, 6, 15, 0)
LONG_TEXT = (
    "Zahlung für Rechnungen INV-1001, INV-1002/2026 und INV-1003 gemäß Vereinbarung vom "
    "12.01.2026; Skonto 2% abgezogen, Rückfragen bitte an Frau Jäger (Buchhaltung) Tel 0221 "
    "555 0199 danke"
)
# LONG_TEXT in the SWIFT X character set, written out by hand.
LONG_TEXT_X = (
    "Zahlung fuer Rechnungen INV-1001, INV-1002/2026 und INV-1003 gemaess Vereinbarung vom "
    "12.01.2026 Skonto 2 abgezogen, Rueckfragen bitte an Frau Jaeger (Buchhaltung) Tel 0221 "
    "555 0199 danke"
)
UMLAUT_NAME = "Müller & Söhne GmbH, Niederlassung Köln/Bonn"
NAME_35 = "Northwind Traders International Ltd"  # exactly 35 characters
RF_REFERENCE = "RF18539007547034"
TEN_BILLION = 10_000_000_000


def _eur_lines() -> tuple[StatementLine, ...]:
    day = date(2026, 2, 27)
    return (
        StatementLine(
            line_id="P-1",
            booking_date=day,
            value_date=day,
            amount_minor=1_234_56,
            currency="EUR",
            payer_name=UMLAUT_NAME,
            payer_account="DE44500105175407324931",
            bank_reference="BR-0001",
            customer_reference="KD-4711",
            end_to_end_id="E2E-2026-0001",
            remittance_text=LONG_TEXT,
            channel="sepa",
        ),
        StatementLine(
            line_id="P-2",
            booking_date=day,
            value_date=date(2026, 2, 26),
            amount_minor=1_440_00,
            currency="EUR",
            payer_name=NAME_35,
            payer_account="GB29NWBK60161331926819",
            bank_reference="BR-0002",
            end_to_end_id="E2E-2026-0002",
            structured=(
                RemittanceRef("INV-1001", 950_00, 20_00, 30_00, "DAMAGED"),
                RemittanceRef("INV-1002", 490_00, adjustment_minor=-5_00, adjustment_reason="PRC"),
            ),
            creditor_reference=RF_REFERENCE,
            channel="wire",
        ),
        StatementLine(
            line_id="F-1",
            booking_date=day,
            value_date=day,
            amount_minor=-12_50,
            currency="EUR",
            bank_reference="FEE-0227",
            remittance_text="Kontoführung Februar",
            channel="fee",
            bai_type_code="698",
        ),
        StatementLine(
            line_id="P-3",
            booking_date=day,
            value_date=day,
            amount_minor=75_00,
            currency="EUR",
            channel="transfer",
        ),
        StatementLine(
            line_id="P-4",
            booking_date=day,
            value_date=day,
            amount_minor=TEN_BILLION,
            currency="EUR",
            payer_name="Big Corp / Holding, Inc. & Co",
            payer_account="NL91ABNA0417164300",
            bank_reference="BR-0004",
            customer_reference="ORDER 99",
            remittance_text="Prepayment contract 2026/77",
            channel="wire",
        ),
    )


def _eur_statement() -> Statement:
    account = BankAccount(
        bank_name="Rheinland Bank AG",
        bank_id="COBADEFFXXX",
        account_id="DE89370400440532013000",
        account_name="Arpilot Demo GmbH",
        currency="EUR",
        file_format="camt053",
    )
    return Statement(
        account=account,
        statement_id="STMT-2026-02-27",
        sequence=58,
        created_at=CREATED,
        from_date=date(2026, 2, 27),
        to_date=date(2026, 2, 27),
        opening_balance_minor=-500_00,
        lines=_eur_lines(),
    )


def _jpy_statement() -> Statement:
    account = BankAccount(
        bank_name="Tokyo Trust",
        bank_id="MHCBJPJTXXX",
        account_id="0123456",
        account_name="Arpilot KK",
        currency="JPY",
        file_format="mt940",
    )
    day = date(2026, 2, 27)
    lines = (
        StatementLine(
            line_id="J-1",
            booking_date=day,
            value_date=day,
            amount_minor=TEN_BILLION,
            currency="JPY",
            payer_name="Yamada Shoji",
            bank_reference="JB-1",
            customer_reference="T-1",
            remittance_text="INV-7001",
            channel="wire",
            bai_type_code="195",
        ),
        StatementLine(
            line_id="J-2",
            booking_date=day,
            value_date=day,
            amount_minor=-880,
            currency="JPY",
            bank_reference="JB-2",
            channel="fee",
            bai_type_code="698",
        ),
    )
    return Statement(
        account=account,
        statement_id="JP-0227",
        sequence=9,
        created_at=CREATED,
        from_date=day,
        to_date=day,
        opening_balance_minor=1_000_000,
        lines=lines,
    )


def _usd_statement(account_id: str = "000123456789", to_day: int = 27) -> Statement:
    account = BankAccount(
        bank_name="First Continental",
        bank_id="021000089",
        account_id=account_id,
        account_name="Arpilot Inc",
        currency="USD",
        file_format="bai2",
    )
    day = date(2026, 2, to_day)
    lines = (
        StatementLine(
            line_id="U-1",
            booking_date=day,
            value_date=day,
            amount_minor=12_345_67,
            currency="USD",
            payer_name="Smith, Jones & Partners / West",
            bank_reference="ACH,0001/77",
            customer_reference="091000019876543",
            remittance_text=LONG_TEXT,
            channel="ach",
            bai_type_code="165",
        ),
        StatementLine(
            line_id="U-2",
            booking_date=day,
            value_date=day,
            amount_minor=TEN_BILLION,
            currency="USD",
            payer_name=NAME_35,
            bank_reference="FW2026022700001",
            customer_reference="20260227-OBI-REF-0000000001",
            remittance_text="INV-2001 INV-2002",
            channel="wire",
            bai_type_code="195",
        ),
        StatementLine(
            line_id="U-3",
            booking_date=day,
            value_date=day,
            amount_minor=980_00,
            currency="USD",
            customer_reference="1044",
            channel="check",
            bai_type_code="301",
        ),
        StatementLine(
            line_id="U-4",
            booking_date=day,
            value_date=day,
            amount_minor=-45_00,
            currency="USD",
            bank_reference="SVC FEB",
            remittance_text="Account analysis fee",
            channel="fee",
            bai_type_code="698",
        ),
        StatementLine(
            line_id="U-5",
            booking_date=day,
            value_date=day,
            amount_minor=5_00,
            currency="USD",
            payer_name="Müller Café Ltd",
            remittance_text="X" * 100,
            channel="lockbox",
            bai_type_code="115",
        ),
    )
    return Statement(
        account=account,
        statement_id=f"US-{account_id}-{to_day}",
        sequence=to_day,
        created_at=CREATED,
        from_date=day,
        to_date=day,
        opening_balance_minor=-250_000_00,
        lines=lines,
    )


# ---------------------------------------------------------------- BAI2


def _bai2_statements() -> list[Statement]:
    return [
        _usd_statement(),
        _usd_statement("000987654321"),
        _usd_statement(to_day=26),
        _jpy_statement(),
    ]


def _bai2_text(statements: list[Statement]) -> str:
    return write_bai2(
        statements,
        sender_id="021000089",
        receiver_id="ARPILOT",
        file_id="260227A",
        created_at=CREATED,
    ).decode("ascii")


def test_bai2_is_read_back_by_the_bai2_package_with_integrity_checks() -> None:
    statements = _bai2_statements()
    text = _bai2_text(statements)
    assert all(len(line) <= 80 for line in text.splitlines())

    parsed = bai2.parse_from_string(text, check_integrity=True)
    assert parsed.header.sender_id == "021000089"
    assert parsed.header.receiver_id == "ARPILOT"
    assert parsed.header.creation_date == CREATED.date()
    assert parsed.header.version_number == 2
    # One group per bank and as-of date: (021000089, 27th), (021000089, 26th), (MHCB, 27th).
    assert [(g.header.originator_id, g.header.as_of_date.day) for g in parsed.children] == [
        ("021000089", 27),
        ("021000089", 26),
        ("MHCBJPJTXXX", 27),
    ]
    accounts = [account for group in parsed.children for account in group.children]
    assert len(accounts) == len(statements)
    for account, statement in zip(accounts, statements, strict=True):
        header = account.header
        assert header.customer_account_number == statement.account.account_id
        assert header.currency == statement.account.currency
        summary = {item.type_code.code: item for item in header.summary_items}
        assert summary["010"].amount == statement.opening_balance_minor
        assert summary["015"].amount == statement.closing_balance_minor
        credits = [x.amount_minor for x in statement.lines if x.amount_minor > 0]
        debits = [-x.amount_minor for x in statement.lines if x.amount_minor < 0]
        assert (summary["100"].amount, summary["100"].item_count) == (sum(credits), len(credits))
        assert (summary["400"].amount, summary["400"].item_count) == (sum(debits), len(debits))

        assert len(account.children) == len(statement.lines)
        for detail, line in zip(account.children, statement.lines, strict=True):
            assert detail.type_code.code == line.bai_type_code
            sign = -1 if detail.type_code.transaction == TypeCodeTransaction.debit else 1
            assert sign * detail.amount == line.amount_minor
            assert detail.funds_type.value == "Z"
            # ',' and '/' delimit BAI2 fields, so references carry '-' in their place.
            expected_bank = line.bank_reference.replace(",", "-").replace("/", "-")
            assert (detail.bank_reference or "") == expected_bank
            assert (detail.customer_reference or "") == line.customer_reference
            # The reader joins 88 continuations with a space, so compare without spaces.
            expected_text = f"{line.remittance_text}{line.payer_name}"
            expected_text = expected_text.replace("ü", "ue").replace("é", "e").replace("ä", "ae")
            expected_text = expected_text.replace("ö", "oe").replace("ß", "ss")
            assert (detail.text or "").replace(" ", "") == expected_text.replace(" ", "")


def test_bai2_totals_tie_out_independently_of_the_library() -> None:
    statements = _bai2_statements()
    records = _bai2_text(statements).splitlines()
    trailers = [r for r in records if r.startswith("49,")]
    for trailer, statement in zip(trailers, statements, strict=True):
        expected = (
            statement.opening_balance_minor
            + statement.closing_balance_minor
            + 2 * (statement.credits_minor + statement.debits_minor)
        )
        assert int(trailer.split(",")[1]) == expected
    file_total = int(records[-1].split(",")[1])
    assert file_total == sum(int(t.split(",")[1]) for t in trailers)
    assert records[-1].rstrip("/").split(",")[3] == str(len(records))


def test_bai2_refuses_a_credit_with_a_debit_type_code() -> None:
    statement = _usd_statement()
    bad = replace(statement, lines=(replace(statement.lines[0], bai_type_code="699"),))
    with pytest.raises(InputError, match="type code 699"):
        _bai2_text([bad])


# ---------------------------------------------------------------- camt


def _ns(message: str, version: str) -> dict[str, str]:
    return {"c": f"urn:iso:std:iso:20022:tech:xsd:camt.{message}.{version}"}


def _minor(element: etree._Element, currency: str) -> int:
    assert element.get("Ccy") == currency
    return parse_amount(element.text or "", currency)


def _signed(parent: etree._Element, ns: dict[str, str], currency: str) -> int:
    amount = _minor(parent.find("c:Amt", ns), currency)
    return -amount if parent.findtext("c:CdtDbtInd", namespaces=ns) == "DBIT" else amount


@pytest.mark.parametrize("message", ["053", "054"])
def test_camt_is_schema_valid_and_reads_back_in_every_version(
    message: str, camt_xsd_dir: Path
) -> None:
    statement = _eur_statement()
    writer = write_camt053 if message == "053" else write_camt054
    for version in VERSIONS:
        data = writer(statement, version=version, message_id="MSG-0001")
        schema = etree.XMLSchema(etree.parse(str(camt_xsd_dir / f"camt.{message}.{version}.xsd")))
        document = etree.fromstring(data)
        assert schema.validate(document), (version, schema.error_log.last_error)
        _check_camt(document, statement, message, version)


def _check_camt(document: etree._Element, statement: Statement, message: str, version: str) -> None:
    ns = _ns(message, version)
    number = int(version[-2:])
    currency = statement.account.currency
    assert document.findtext(".//c:GrpHdr/c:MsgId", namespaces=ns) == "MSG-0001"
    report = document.find(".//c:Stmt" if message == "053" else ".//c:Ntfctn", ns)
    assert report.findtext("c:Id", namespaces=ns) == statement.statement_id
    assert report.findtext("c:ElctrncSeqNb", namespaces=ns) == "58"
    assert report.findtext("c:Acct/c:Id/c:IBAN", namespaces=ns) == statement.account.account_id
    assert report.findtext("c:Acct/c:Ccy", namespaces=ns) == "EUR"
    bic_tag = "BIC" if number == 2 else "BICFI"
    assert report.findtext(f"c:Acct/c:Svcr/c:FinInstnId/c:{bic_tag}", namespaces=ns) == (
        "COBADEFFXXX"
    )

    balances = {
        bal.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=ns): bal
        for bal in report.findall("c:Bal", ns)
    }
    if message == "053":
        assert _signed(balances["OPBD"], ns, currency) == statement.opening_balance_minor
        assert _signed(balances["CLBD"], ns, currency) == statement.closing_balance_minor
        assert balances["CLBD"].findtext("c:Dt/c:Dt", namespaces=ns) == "2026-02-27"
    else:
        assert not balances

    entries = report.findall("c:Ntry", ns)
    assert len(entries) == len(statement.lines)
    for entry, line in zip(entries, statement.lines, strict=True):
        assert _signed(entry, ns, currency) == line.amount_minor
        status = entry.findtext("c:Sts/c:Cd" if number >= 7 else "c:Sts", namespaces=ns)
        assert status == "BOOK"
        assert entry.findtext("c:BookgDt/c:Dt", namespaces=ns) == line.booking_date.isoformat()
        assert entry.findtext("c:ValDt/c:Dt", namespaces=ns) == line.value_date.isoformat()
        assert (entry.findtext("c:AcctSvcrRef", namespaces=ns) or "") == line.bank_reference
        family = entry.findtext("c:BkTxCd/c:Domn/c:Fmly/c:Cd", namespaces=ns)
        assert family == ("MDOP" if line.channel == "fee" else "RCDT")

        details = entry.find("c:NtryDtls/c:TxDtls", ns)
        refs = details.find("c:Refs", ns)
        assert refs.findtext("c:EndToEndId", namespaces=ns) == (line.end_to_end_id or "NOTPROVIDED")
        if number == 2:
            tx_amount = details.find("c:AmtDtls/c:TxAmt/c:Amt", ns)
        else:
            tx_amount = details.find("c:Amt", ns)
        assert _minor(tx_amount, currency) == abs(line.amount_minor)

        debtor_names = details.xpath(".//c:RltdPties/c:Dbtr//c:Nm/text()", namespaces=ns)
        assert debtor_names == ([line.payer_name] if line.payer_name else [])
        if number >= 7 and line.payer_name:
            assert details.find("c:RltdPties/c:Dbtr/c:Pty/c:Nm", ns) is not None
        account_ids = details.xpath(".//c:RltdPties/c:DbtrAcct/c:Id//text()", namespaces=ns)
        assert [t for t in account_ids if t.strip()] == (
            [line.payer_account] if line.payer_account else []
        )

        unstructured = details.xpath("c:RmtInf/c:Ustrd/text()", namespaces=ns)
        assert all(len(text) <= 140 for text in unstructured)
        assert "".join(unstructured) == line.remittance_text
        if line.remittance_text == LONG_TEXT:
            assert len(unstructured) == 2
        _check_structured(details, line, ns, currency)


def _check_structured(
    details: etree._Element, line: StatementLine, ns: dict[str, str], currency: str
) -> None:
    read: list[RemittanceRef] = []
    for strd in details.findall("c:RmtInf/c:Strd", ns):
        document = strd.find("c:RfrdDocInf", ns)
        if document is None:
            continue
        assert document.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=ns) == "CINV"
        amounts = strd.find("c:RfrdDocAmt", ns)
        paid = _minor(amounts.find("c:RmtdAmt", ns), currency)
        discount_element = amounts.find("c:DscntApldAmt", ns)
        discount = None
        if discount_element is not None:
            inner = discount_element.find("c:Amt", ns)
            discount = _minor(inner if inner is not None else discount_element, currency)
        adjustment_element = amounts.find("c:AdjstmntAmtAndRsn", ns)
        adjustment, reason = None, ""
        if adjustment_element is not None:
            adjustment = _minor(adjustment_element.find("c:Amt", ns), currency)
            if adjustment_element.findtext("c:CdtDbtInd", namespaces=ns) == "CRDT":
                adjustment = -adjustment
            reason = adjustment_element.findtext("c:Rsn", namespaces=ns) or (
                adjustment_element.findtext("c:AddtlInf", namespaces=ns) or ""
            )
        due = _minor(amounts.find("c:DuePyblAmt", ns), currency)
        assert due == paid + (discount or 0) + (adjustment or 0)
        number = document.findtext("c:Nb", namespaces=ns) or ""
        read.append(RemittanceRef(number, paid, discount, adjustment, reason))
    assert read == list(line.structured)

    creditor = details.xpath(
        "c:RmtInf/c:Strd/c:CdtrRefInf[c:Tp/c:CdOrPrtry/c:Cd='SCOR']/c:Ref/text()", namespaces=ns
    )
    assert creditor == ([line.creditor_reference] if line.creditor_reference else [])
    if creditor:
        assert iso11649.is_valid(creditor[0])


def test_camt_zero_decimal_currency_and_non_iban_account(camt_xsd_dir: Path) -> None:
    statement = _jpy_statement()
    for version in ("001.02", "001.08"):
        data = write_camt053(statement, version=version, message_id="JP-1")
        schema = etree.XMLSchema(etree.parse(str(camt_xsd_dir / f"camt.053.{version}.xsd")))
        document = etree.fromstring(data)
        assert schema.validate(document), schema.error_log.last_error
        ns = _ns("053", version)
        assert document.findtext(".//c:Acct/c:Id/c:Othr/c:Id", namespaces=ns) == "0123456"
        amounts = document.xpath(".//c:Ntry/c:Amt/text()", namespaces=ns)
        assert amounts == ["10000000000", "880"]  # JPY has no decimals


def test_camt_refuses_an_unknown_version() -> None:
    with pytest.raises(InputError, match="not supported"):
        write_camt053(_eur_statement(), version="001.99", message_id="X")


# ---------------------------------------------------------------- MT940

_X_SET = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]*")


def _mt940_statements(data: bytes) -> list[mt940.models.Transactions]:
    text = data.decode("ascii")
    assert "\n" not in text.replace("\r\n", "")
    for line in text.split("\r\n"):
        # Each line of a field holds 65 characters; the tag in front of the first is extra.
        assert len(re.sub(r"^:\d\d[A-Z]?:", "", line)) <= 65, line
        assert _X_SET.fullmatch(line), line
        if line.startswith(":") and not re.match(r":\d\d[A-Z]?:", line):
            pytest.fail(f"a continuation line starts like a tag: {line!r}")
    return mt940.parse_statements(text, options=mt940.Options(applicant_iban=True))


def _decimal(minor: int, exponent: int) -> Decimal:
    return Decimal(minor) / Decimal(10) ** exponent


def _check_mt940_statement(parsed: mt940.models.Transactions, statement: Statement) -> None:
    exponent = 0 if statement.account.currency == "JPY" else 2
    data = parsed.data
    assert data["account_identification"] == statement.account.account_id
    assert int(data["statement_number"]) == statement.sequence
    opening = data["final_opening_balance"]
    closing = data["final_closing_balance"]
    assert opening.amount.amount == _decimal(statement.opening_balance_minor, exponent)
    assert opening.amount.currency == statement.account.currency
    assert opening.date == statement.from_date
    assert closing.amount.amount == _decimal(statement.closing_balance_minor, exponent)
    assert closing.date == statement.to_date
    assert len(parsed) == len(statement.lines)
    total = opening.amount.amount
    for transaction, line in zip(parsed, statement.lines, strict=True):
        tx = transaction.data
        assert tx["amount"].amount == _decimal(line.amount_minor, exponent)
        assert tx["date"] == line.value_date
        assert tx["entry_date"] == line.booking_date
        assert tx["bank_reference"] == (line.bank_reference or None)
        total += tx["amount"].amount
    assert total == closing.amount.amount  # opening + lines tie out to closing


def test_mt940_swift_dialect_reads_back() -> None:
    statements = [_eur_statement(), _jpy_statement()]
    parsed = _mt940_statements(write_mt940(statements, dialect="swift"))
    assert len(parsed) == 2
    for one, statement in zip(parsed, statements, strict=True):
        _check_mt940_statement(one, statement)

    expected_types = ["NTRF", "NTRF", "NCHG", "NTRF", "NTRF"]
    assert [t.data["id"] for t in parsed[0]] == expected_types
    references = [t.data["customer_reference"] for t in parsed[0]]
    assert references == ["KD-4711", "NONREF", "NONREF", "NONREF", "ORDER99"]

    fields = [_swift_subfields(t.data["transaction_details"]) for t in parsed[0]]
    assert fields[0]["EREF"] == "E2E-2026-0001"
    # Transliterated to the X set; '/' is the keyword separator, so the name carries '-'.
    assert fields[0]["NAME"] == "Mueller + Soehne GmbH, Niederlassung Koeln-Bonn"
    assert fields[0]["IBAN"] == "DE44500105175407324931"
    assert fields[0]["USTD"] == LONG_TEXT_X.replace("/", "-")
    assert fields[1]["NAME"] == NAME_35
    assert fields[1]["USTD"] == RF_REFERENCE
    assert fields[2]["EREF"] == "NOTPROVIDED"
    assert "NAME" not in fields[2]
    assert fields[2]["USTD"] == "Kontofuehrung Februar"
    assert fields[3] == {"EREF": "NOTPROVIDED"}
    assert fields[4]["NAME"] == "Big Corp - Holding, Inc. + Co"


def _swift_subfields(details: str) -> dict[str, str]:
    """A minimal reader of the structured ``/KEY/value`` :86: (the library leaves it raw)."""
    keys = {"EREF", "ORDP", "NAME", "IBAN", "REMI", "USTD"}
    joined = details.replace("\n", "").replace("\r", "")
    tokens = [token for token in joined.split("/") if token]
    fields: dict[str, str] = {}
    index = 0
    while index < len(tokens):
        key = tokens[index]
        assert key in keys, (key, details)
        # ORDP and REMI open a group: the next token is a keyword, not their value.
        has_value = index + 1 < len(tokens) and tokens[index + 1] not in keys
        fields[key] = tokens[index + 1] if has_value else ""
        index += 2 if has_value else 1
    return fields


def test_mt940_german_dialect_subfields_read_back() -> None:
    statement = _eur_statement()
    parsed = _mt940_statements(write_mt940([statement], dialect="german"))
    assert len(parsed) == 1
    _check_mt940_statement(parsed[0], statement)
    tx = [t.data for t in parsed[0]]

    assert [t["transaction_code"] for t in tx] == ["166", "166", "808", "166", "166"]
    assert tx[0]["posting_text"] == "GUTSCHRIFT"
    assert tx[0]["end_to_end_reference"] == "E2E-2026-0001"
    # The reader appends the KREF+ of :86: to the :61: customer reference on a new line.
    assert tx[0]["customer_reference"].split("\n") == ["KD-4711", "KD-4711"]
    assert tx[0]["applicant_iban"] == "DE44500105175407324931"
    # ?32 and ?33 hold 27 characters each; the reader joins them.
    assert tx[0]["applicant_name"] == "Mueller + Soehne GmbH, Niederlassung Koeln/Bonn"
    assert tx[0]["purpose"] == LONG_TEXT_X

    assert tx[1]["purpose"] == RF_REFERENCE
    assert tx[1]["applicant_name"] == NAME_35
    assert tx[1]["end_to_end_reference"] == "E2E-2026-0002"
    assert tx[2]["purpose"] == "Kontofuehrung Februar"
    assert tx[2]["applicant_name"] is None
    assert tx[3]["end_to_end_reference"] == "NOTPROVIDED"
    assert tx[4]["applicant_name"] == "Big Corp / Holding, Inc. + Co"


@pytest.mark.parametrize("dialect", ["swift", "german"])
def test_mt940_cuts_only_the_end_of_a_text_longer_than_six_lines(dialect: str) -> None:
    words = " ".join(f"INV-{n:04d}" for n in range(1, 61))  # 539 characters
    statement = _eur_statement()
    line = replace(statement.lines[0], remittance_text=words)
    statement = replace(statement, lines=(line,), opening_balance_minor=0)
    text = write_mt940([statement], dialect=dialect).decode("ascii")
    detail_lines = text.split(":86:")[1].split(":62F:")[0].split("\r\n")[:-1]
    assert len(detail_lines) <= 6
    parsed = _mt940_statements(text.encode("ascii"))
    _check_mt940_statement(parsed[0], statement)
    tx = parsed[0][0].data
    kept = (
        tx["purpose"]
        if dialect == "german"
        else _swift_subfields(tx["transaction_details"])["USTD"]
    )
    assert words.startswith(kept)
    assert len(kept) >= 150
    if dialect == "german":
        assert tx["applicant_name"] == "Mueller + Soehne GmbH, Niederlassung Koeln/Bonn"
    else:
        assert _swift_subfields(tx["transaction_details"])["IBAN"] == line.payer_account


def test_mt940_amounts_always_use_a_decimal_comma() -> None:
    text = write_mt940([_eur_statement(), _jpy_statement()]).decode("ascii")
    balances = re.findall(r"^:(?:60F|62F|64):[CD]\d{6}[A-Z]{3}([0-9.,]+)", text, re.MULTILINE)
    lines = re.findall(r"^:61:\d{10}[CD]([0-9.,]+)", text, re.MULTILINE)
    amounts = balances + lines
    assert len(balances) == 6 and len(lines) == 7
    assert all("," in amount and "." not in amount for amount in amounts)
    assert ":61:2602270227C100000000,00NTRF" in text
    assert "JPY10000999120," in text  # 1,000,000 + 10bn - 880 yen, no decimals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Müller & Söhne", "Mueller + Soehne"),
        ("Straße 5; Zürich", "Strasse 5 Zuerich"),
        ("José Núñez", "Jose Nunez"),
        ("100% <ok>?", "100 ok?"),
    ],
)
def test_to_swift_x_transliterates(text: str, expected: str) -> None:
    assert to_swift_x(text) == expected


def test_mt940_refuses_an_unknown_dialect() -> None:
    with pytest.raises(InputError, match="dialect"):
        write_mt940([_eur_statement()], dialect="french")


# ---------------------------------------------------------------- CSV


def _read_csv(
    data: bytes, mapping: dict[str, str | bool], currency: str
) -> list[dict[str, object]]:
    """Read a CSV statement using nothing but the bank's mapping, as an importer would."""
    text = data.decode(str(mapping["encoding"]))
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=str(mapping["delimiter"]))
    decimal_mark = str(mapping["decimal_mark"])
    rows: list[dict[str, object]] = []
    for row in reader:
        if mapping["signed_amount"]:
            amount = parse_amount(row[str(mapping["amount"])], currency, decimal_mark=decimal_mark)
        else:
            debit, credit = row[str(mapping["debit"])], row[str(mapping["credit"])]
            assert bool(debit) != bool(credit)
            amount = (
                parse_amount(credit, currency, decimal_mark=decimal_mark)
                if credit
                else -parse_amount(debit, currency, decimal_mark=decimal_mark)
            )
        date_format = str(mapping["date_format"])
        rows.append(
            {
                "amount": amount,
                "date": datetime.strptime(row[str(mapping["date"])], date_format).date(),
                "value_date": datetime.strptime(
                    row[str(mapping["value_date"])], date_format
                ).date(),
                "currency": row[str(mapping["currency"])],
                "payer_name": row[str(mapping["payer_name"])],
                "payer_account": row[str(mapping["payer_account"])],
                "reference": row[str(mapping["reference"])],
                "remittance": row[str(mapping["remittance"])],
            }
        )
    return rows


@pytest.mark.parametrize(
    ("dialect", "statement"),
    [
        (US_BANK_CSV, _usd_statement()),
        (EU_BANK_CSV, _eur_statement()),
        (EU_BANK_CSV, _jpy_statement()),
    ],
    ids=["us", "eu", "eu-jpy"],
)
def test_csv_reads_back_with_only_the_mapping(dialect: CsvDialect, statement: Statement) -> None:
    data = write_csv_statement(statement, dialect)
    rows = _read_csv(data, dialect.mapping(), statement.account.currency)
    assert len(rows) == len(statement.lines)
    for row, line in zip(rows, statement.lines, strict=True):
        assert row["amount"] == line.amount_minor
        assert row["date"] == line.booking_date
        assert row["value_date"] == line.value_date
        assert row["currency"] == line.currency
        assert row["payer_name"] == line.payer_name
        assert row["payer_account"] == line.payer_account
        assert row["reference"] == (line.customer_reference or line.end_to_end_id)
        assert row["remittance"] == (line.remittance_text or line.creditor_reference)


def test_csv_presets_look_like_their_banks() -> None:
    us = write_csv_statement(_usd_statement(), US_BANK_CSV).decode("utf-8").splitlines()
    assert us[0].startswith("Posting Date,Effective Date,Amount,")
    assert us[1].startswith("02/27/2026,02/27/2026,12345.67,USD,")
    assert '"Smith, Jones & Partners / West"' in us[1]
    assert us[4].startswith("02/27/2026,02/27/2026,-45.00,")

    eu = write_csv_statement(_eur_statement(), EU_BANK_CSV).decode("utf-8").splitlines()
    assert eu[0].startswith("Buchungstag;Valuta;Soll;Haben;Währung;Auftraggeber/Empfänger;")
    assert eu[1].startswith("27.02.2026;27.02.2026;;1234,56;EUR;Müller & Söhne GmbH")
    assert eu[3].startswith("27.02.2026;27.02.2026;12,50;;EUR;")
    assert EU_BANK_CSV.mapping()["signed_amount"] is False


def test_csv_dialect_refuses_an_ambiguous_layout() -> None:
    with pytest.raises(InputError, match="decimal mark"):
        replace(EU_BANK_CSV, delimiter=",")


# ---------------------------------------------------------------- all formats


def test_every_writer_is_deterministic() -> None:
    def everything() -> list[bytes]:
        eur, jpy, usd = _eur_statement(), _jpy_statement(), _usd_statement()
        return [
            write_bai2([usd, jpy], sender_id="S", receiver_id="R", file_id="1", created_at=CREATED),
            write_camt053(eur, version="001.08", message_id="M"),
            write_camt054(eur, version="001.04", message_id="M"),
            write_mt940([eur, jpy], dialect="swift"),
            write_mt940([eur, jpy], dialect="german"),
            write_csv_statement(usd, US_BANK_CSV),
            write_csv_statement(eur, EU_BANK_CSV),
        ]

    first, second = everything(), everything()
    assert first == second
    assert all(first)


def test_a_line_in_another_currency_is_refused() -> None:
    statement = _eur_statement()
    bad = replace(statement, lines=(replace(statement.lines[0], currency="USD"),))
    with pytest.raises(InputError, match="USD"):
        write_camt053(bad, message_id="M")
    with pytest.raises(InputError, match="USD"):
        write_mt940([bad])
    with pytest.raises(InputError, match="USD"):
        write_csv_statement(bad, EU_BANK_CSV)

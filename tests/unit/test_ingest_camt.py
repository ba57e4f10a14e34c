"""The camt.053/054 parser against real bank fixtures, simulator ground truth and hostile input."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from datetime import date, datetime
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ingest.bank import camt, parse_bank_file
from ingest.bank.camt import USTRD_WIDTH, join_unstructured, parse_camt
from ingest.detect import detect_format
from ingest.statements import BankTransaction, ParsedFile, StructuredRemittance
from ledger.errors import ParseError, UnbalancedStatement
from ledger.money import Money, format_amount, parse_amount
from simulator.formats import write_camt053, write_camt054
from simulator.model import BankAccount, RemittanceRef, Statement, StatementLine
from tests.conftest import SHARED, shared_path

FIXTURE_DIR = ("fixtures", "camt")
BROKEN_FIXTURE = "camt053.v2.wrong.xml"
# The fixtures are synthetic: these two do not tie out (opening + entries != closing).
UNTIED_FIXTURES = {"camt053.v2.all-balance-types.xml", "camt053.v2.five.decimals.xml"}
RECURSION = "__RECURSIVITY__"  # the fixture dumper's marker for an object already written


def _fixture_names() -> list[str]:
    folder = SHARED.joinpath(*FIXTURE_DIR)
    return sorted(p.name for p in folder.glob("*.xml")) if folder.is_dir() else []


def _fixture(name: str) -> bytes:
    return shared_path(*FIXTURE_DIR, name).read_bytes()


# ------------------------------------------------------------------ real fixtures


def _json_details(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Every TxDtls of a dumped entry: details[0] is a recursion marker for ``detail``."""
    first = entry["getTransactionDetail"]
    assert entry["getTransactionDetails"][:1] in ([], [RECURSION])
    rest = entry["getTransactionDetails"][1:]
    return [d for d in [first, *rest] if isinstance(d, dict)]


def _json_party(details: list[dict[str, Any]], credit: bool) -> str:
    """The counterparty the dump names: debtor on a credit, creditor on a debit."""
    role, ultimate = ("Debtor", "UltimateDebtor") if credit else ("Creditor", "UltimateCreditor")
    for detail in details:
        by_type = {
            p["getRelatedPartyType"]["__CLASS__"].rsplit("\\", 1)[-1]: p["getRelatedPartyType"]
            for p in detail["getRelatedParties"]
            if isinstance(p, dict)
        }
        party = by_type.get(role) or by_type.get(ultimate)
        if party and party.get("getName"):
            return str(party["getName"])
    return ""


def _json_balance(record: dict[str, Any], kind: str) -> Money | None:
    for balance in record.get("getBalances", []):
        if balance["getType"] == kind:
            money = balance["getAmount"]
            return Money(int(money["getAmount"]), money["getCurrency"]["getCode"])
    return None


@pytest.mark.parametrize("name", [n for n in _fixture_names() if n != BROKEN_FIXTURE])
def test_fixture_matches_its_reference_dump(name: str) -> None:
    parsed = parse_camt(_fixture(name), source=name, check_balances=False)
    dump = json.loads(shared_path(*FIXTURE_DIR, name.removesuffix(".xml") + ".json").read_text())
    assert parsed.file_format == name[:7]
    statements = {s.statement_id: s for s in parsed.statements}
    # The dump of a multi-statement file keeps only the last statement: compare what it holds.
    dumped: dict[str, list[dict[str, Any]]] = {}
    for entry in dump["getEntries"]:
        dumped.setdefault(entry["getRecord"]["getId"], []).append(entry)
    assert dumped and set(dumped) <= set(statements)
    for statement_id, entries in dumped.items():
        statement = statements[statement_id]
        record = entries[0]["getRecord"]
        assert statement.account == record["getAccount"]["getIdentification"]
        assert statement.opening_balance == _json_balance(record, "opening")
        assert statement.closing_balance == _json_balance(record, "closing")
        by_entry: dict[int | None, list[BankTransaction]] = {}
        for transaction in statement.transactions:
            by_entry.setdefault(transaction.line, []).append(transaction)
        assert len(by_entry) == len(entries)
        for transactions, entry in zip(by_entry.values(), entries, strict=True):
            money = entry["getAmount"]
            currency = money["getCurrency"]["getCode"]
            assert {t.amount.currency for t in transactions} == {currency}
            assert sum(t.amount.minor for t in transactions) == int(money["getAmount"])
            assert transactions[0].bank_reference == (entry["getAccountServicerReference"] or "")
            details = _json_details(entry)
            end_to_end = [d["getReference"]["getEndToEndId"] for d in details if d["getReference"]]
            assert transactions[0].end_to_end_id == next((e for e in end_to_end if e), "")
            credit = entry["getCreditDebitIndicator"] == "CRDT"
            assert transactions[0].payer_name == _json_party(details, credit)
            booked = entry["getBookingDate"]
            assert transactions[0].booking_date == (
                date.fromisoformat(booked["0"][:10]) if booked else None
            )


@pytest.mark.parametrize("name", [n for n in _fixture_names() if n != BROKEN_FIXTURE])
def test_fixture_tie_out_fails_only_where_the_synthetic_data_does_not_add_up(name: str) -> None:
    if name in UNTIED_FIXTURES:
        with pytest.raises(UnbalancedStatement, match="does not tie out"):
            parse_camt(_fixture(name), source=name)
    else:
        assert parse_camt(_fixture(name), source=name).statements


def test_broken_fixture_is_refused() -> None:
    with pytest.raises(ParseError, match="no Stmt") as caught:
        parse_camt(_fixture(BROKEN_FIXTURE), source=BROKEN_FIXTURE)
    assert caught.value.source == BROKEN_FIXTURE


def test_trailing_zero_decimals_are_exact_and_a_real_extra_digit_is_refused() -> None:
    data = _fixture("camt053.v2.five.decimals.xml")
    parsed = parse_camt(data, check_balances=False)
    assert parsed.transactions[0].amount == Money(885, "EUR")  # 8.850 EUR
    altered = data.replace(b'<Amt Ccy="EUR">8.850</Amt>', b'<Amt Ccy="EUR">8.855</Amt>')
    with pytest.raises(ParseError, match="more than 2 decimal") as caught:
        parse_camt(altered, source="five.xml", check_balances=False)
    assert caught.value.line == data[: data.index(b"8.850")].count(b"\n") + 1


# ------------------------------------------------------------------ ground truth round trip

DAY = date(2026, 2, 27)
CREATED = datetime(2026, 3, 2, 6, 15)
RF_REFERENCE = "RF18539007547034"
# Over three Ustrd lines; the cuts at 140 and 280 fall inside words, on a space and before one.
LONG_TEXT = (
    "Zahlung für Rechnungen INV-1001, INV-1002/2026 und INV-1003 gemäß Vereinbarung vom 12.01.2026;"
    " Skonto 2% abgezogen, Rückfragen an Frau Jäger"
    " Buchhaltung, Tel 0221 555 0199, Durchwahl 12, Mo-Fr 8-16 Uhr; Referenz Lieferschein LS-88 "
    "und LS-89; Gutschrift CN-77 verrechnet, Restbetrag folgt"
)


def _line(line_id: str, amount: int, currency: str = "EUR", **fields: Any) -> StatementLine:
    return StatementLine(
        line_id=line_id,
        booking_date=DAY,
        value_date=fields.pop("value_date", DAY),
        amount_minor=amount,
        currency=currency,
        **fields,
    )


def _eur_statement() -> Statement:
    lines = (
        _line(
            "P-1",
            1_234_56,
            value_date=date(2026, 2, 26),
            payer_name="Müller & Söhne GmbH, Niederlassung Köln/Bonn",
            payer_account="DE44 5001 0517 5407 3249 31",
            bank_reference="BR-0001",
            customer_reference="KD-4711",
            end_to_end_id="E2E-2026-0001",
            remittance_text=LONG_TEXT,
            structured=(
                RemittanceRef("INV-1001", 950_00, 20_00, 30_00, "DAMG"),
                RemittanceRef(
                    "INV-1002", 490_00, adjustment_minor=-5_00, adjustment_reason="PRICING"
                ),
                RemittanceRef("CN-77", -205_44),
                RemittanceRef("INV-1003", discount_minor=4_00),
                RemittanceRef("INV-1004"),
            ),
            creditor_reference=RF_REFERENCE,
            channel="sepa",
        ),
        _line("P-2", 75_00, channel="transfer"),  # no payer, no references, no remittance
        _line(
            "F-1",
            -12_50,
            payer_name="Rheinland Bank AG",
            bank_reference="FEE-0227",
            remittance_text="Kontoführung Februar",
            channel="fee",
        ),
        _line(
            "C-1",
            310_00,
            payer_name="Northwind Traders International Ltd",
            payer_account="00123456789",
            customer_reference="000815",
            remittance_text="cheque for INV-2001",
            channel="check",
        ),
    )
    account = BankAccount(
        "Rheinland Bank AG", "COBADEFFXXX", "DE89370400440532013000", "Demo GmbH", "EUR", "camt053"
    )
    return Statement(account, "STMT-2026-02-27", 58, CREATED, DAY, DAY, -500_00, lines)


def _jpy_statement() -> Statement:
    lines = (
        _line(
            "J-1",
            10_000_000_000,
            "JPY",
            payer_name="Yamada Shoji",
            bank_reference="JB-1",
            customer_reference="T-1",
            end_to_end_id="JP-E2E-1",
            remittance_text="INV-7001",
            structured=(RemittanceRef("INV-7001", 9_999_990_000, 10_000),),
            channel="wire",
        ),
        _line("J-2", -880, "JPY", bank_reference="JB-2", channel="fee"),
    )
    account = BankAccount("Tokyo Trust", "MHCBJPJTXXX", "0123456", "Arpilot KK", "JPY", "camt053")
    return Statement(account, "JP-0227", 9, CREATED, DAY, DAY, 1_000_000, lines)


def _expected_structured(line: StatementLine) -> tuple[StructuredRemittance, ...]:
    currency = line.currency

    def money(minor: int | None) -> Money | None:
        return Money(minor, currency) if minor else None

    items = [
        StructuredRemittance(
            reference=ref.document_number,
            kind="invoice",
            amount=Money(ref.amount_minor, currency) if ref.amount_minor is not None else None,
            discount=money(ref.discount_minor),
            adjustment=money(ref.adjustment_minor),
            adjustment_reason=ref.adjustment_reason if ref.adjustment_minor else "",
        )
        for ref in line.structured
    ]
    if line.creditor_reference:
        items.append(StructuredRemittance(line.creditor_reference, "creditor_reference"))
    return tuple(items)


TYPE_CODES = {
    ("sepa", True): "PMNT/RCDT/ESCT",
    ("transfer", True): "PMNT/RCDT/BOOK",
    ("check", True): "PMNT/RCHQ/CCHQ",
    ("wire", True): "PMNT/RCDT/XBCT",
    ("fee", False): "ACMT/MDOP/CHRG",
}


@pytest.mark.parametrize("version", ["001.02", "001.04", "001.08"])
@pytest.mark.parametrize("message", ["053", "054"])
@pytest.mark.parametrize("make", [_eur_statement, _jpy_statement])
def test_round_trip_reproduces_the_simulator_ground_truth(
    make: Any, message: str, version: str
) -> None:
    statement = make()
    writer = write_camt053 if message == "053" else write_camt054
    parsed = parse_camt(writer(statement, version=version, message_id="MSG-1"), source="sim.xml")

    assert parsed.file_format == f"camt{message}"
    assert parsed.details["version"] == version
    assert parsed.details["message_id"] == "MSG-1"
    (result,) = parsed.statements
    currency = statement.account.currency
    assert result.statement_id == statement.statement_id
    assert result.account == statement.account.account_id
    assert result.currency == currency
    assert (result.from_date, result.to_date) == (statement.from_date, statement.to_date)
    if message == "053":
        assert result.opening_balance == Money(statement.opening_balance_minor, currency)
        assert result.closing_balance == Money(statement.closing_balance_minor, currency)
    else:
        assert result.opening_balance is result.closing_balance is None
    assert len(result.transactions) == len(statement.lines)
    for line, got in zip(statement.lines, result.transactions, strict=True):
        expected = BankTransaction(
            account=statement.account.account_id,
            amount=Money(line.amount_minor, currency),
            booking_date=line.booking_date,
            value_date=line.value_date,
            payer_name=line.payer_name,
            payer_account=line.payer_account.replace(" ", ""),
            bank_reference=line.bank_reference,
            customer_reference=line.customer_reference,
            end_to_end_id=line.end_to_end_id,
            remittance_text=line.remittance_text,
            structured=_expected_structured(line),
            creditor_reference=line.creditor_reference,
            type_code=TYPE_CODES[line.channel, line.amount_minor > 0],
            line=got.line,
        )
        assert got == expected
        assert got.line is not None and got.line > 1


def test_long_remittance_text_really_spans_several_ustrd_lines() -> None:
    data = write_camt053(_eur_statement(), version="001.08", message_id="M")
    assert data.count(b"<Ustrd>") >= 3
    assert LONG_TEXT[USTRD_WIDTH] == " " or LONG_TEXT[USTRD_WIDTH - 1] == " "


def test_unstructured_lines_join_with_single_spaces() -> None:
    assert join_unstructured(["INV 1 ", "  INV 2", "", "INV 3"]) == "INV 1 INV 2 INV 3"
    full = "x" * (USTRD_WIDTH - 1) + " "
    assert join_unstructured([full, "continued", "next"]) == full + "continued next"


@given(
    st.lists(
        st.one_of(
            st.text(alphabet=" \tAB\u00a0", max_size=8),
            st.text(alphabet=" x", min_size=USTRD_WIDTH - 2, max_size=USTRD_WIDTH + 2),
        ),
        max_size=1,
    )
)
def test_one_unstructured_line_reads_as_the_general_join_reads_it(pieces: list[str]) -> None:
    assert join_unstructured(pieces) == join_unstructured(iter(pieces))  # a list takes a shortcut


# ------------------------------------------------------------------ batches, statuses, reversals


def _camt053(
    entries: str, *, opening: str = "100.00", closing: str = "100.00", extra: str = ""
) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>M-1</MsgId><CreDtTm>2026-03-02T06:00:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>S-1</Id>
   <CreDtTm>2026-03-02T06:00:00</CreDtTm>
   <Acct><Id><Othr><Id>4711</Id></Othr></Id><Ccy>EUR</Ccy></Acct>
   <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{opening}</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-02-27</Dt></Dt></Bal>
   <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{closing}</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-02-27</Dt></Dt></Bal>
   {extra}
   {entries}
  </Stmt>
 </BkToCstmrStmt>
</Document>
""".encode()


def _entry(
    amount: str, indicator: str = "CRDT", *, status: str = "BOOK", details: str = "", more: str = ""
) -> str:
    return f"""<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>{more}
    <Sts>{status}</Sts><BookgDt><Dt>2026-02-27</Dt></BookgDt><ValDt><DtTm>2026-02-27T10:00:00+01:00</DtTm></ValDt>
    <AcctSvcrRef>BATCH-1</AcctSvcrRef>
    <BkTxCd><Prtry><Cd>166</Cd></Prtry></BkTxCd><NtryDtls>{details}</NtryDtls></Ntry>"""


def _tx(e2e: str, name: str, amount: str | None = None, text: str = "") -> str:
    own = f'<Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>' if amount else ""
    return f"""<TxDtls><Refs><AcctSvcrRef>R-{e2e}</AcctSvcrRef><EndToEndId>{e2e}</EndToEndId></Refs>{own}
      <RltdPties><Dbtr><Nm>{name}</Nm></Dbtr></RltdPties><RmtInf><Ustrd>{text or e2e}</Ustrd></RmtInf></TxDtls>"""


def test_a_text_wrapped_inside_its_element_reads_on_one_line() -> None:
    # Raiffeisen (CH) wraps the entry's words inside AddtlNtryInf; a payer's Ustrd may too.
    entry = _entry("50.00", details="").replace(
        "<NtryDtls></NtryDtls>",
        "<AddtlNtryInf>Acquisto MIGROS M ARBEDO-CAST\n31.03.2017/13:30 / N. carta</AddtlNtryInf>",
    )
    wrapped = _entry("20.00", details=_tx("E-1", "Alpha", text="INV 1\r\n\tINV 2"))
    parsed = parse_camt(_camt053(entry + wrapped, closing="170.00"))
    assert [t.remittance_text for t in parsed.transactions] == [
        "Acquisto MIGROS M ARBEDO-CAST 31.03.2017/13:30 / N. carta",
        "INV 1 INV 2",
    ]
    assert join_unstructured(["A\nB", "C"]) == "A B C"
    # A full line is measured as the bank wrote it: it runs on into the next.
    full = "x" * 70 + " \n" + "y" * (USTRD_WIDTH - 72)
    assert join_unstructured([full, "z"]) == "x" * 70 + " " + "y" * (USTRD_WIDTH - 72) + "z"


def test_a_batch_whose_details_add_up_becomes_one_transaction_each() -> None:
    details = _tx("E-1", "Alpha", "30.00") + _tx("E-2", "Beta", "20.00")
    parsed = parse_camt(_camt053(_entry("50.00", details=details), closing="150.00"))
    first, second = parsed.transactions
    assert (first.amount, first.payer_name, first.end_to_end_id) == (
        Money(30_00, "EUR"),
        "Alpha",
        "E-1",
    )
    assert (second.amount, second.payer_name, second.bank_reference) == (
        Money(20_00, "EUR"),
        "Beta",
        "R-E-2",
    )
    assert first.line == second.line
    assert first.value_date == date(2026, 2, 27) and first.type_code == "166"
    assert parsed.details["split_entries"] == 1


def test_a_batch_whose_details_do_not_add_up_stays_one_merged_transaction() -> None:
    details = _tx("E-1", "Alpha", "30.00", "INV 1") + _tx("E-2", "Beta", "19.99", "INV 2")
    parsed = parse_camt(_camt053(_entry("50.00", details=details), closing="150.00"))
    (merged,) = parsed.transactions
    assert merged.amount == Money(50_00, "EUR")
    assert (merged.payer_name, merged.end_to_end_id, merged.bank_reference) == (
        "Alpha",
        "E-1",
        "BATCH-1",
    )
    assert merged.remittance_text == "INV 1 INV 2"
    assert parsed.details["merged_entries"] == 1


def test_pending_and_information_entries_are_skipped_and_counted() -> None:
    entries = _entry("10.00") + _entry("5.00", status="PDNG") + _entry("1.00", status="INFO")
    parsed = parse_camt(_camt053(entries, closing="110.00"))
    assert [t.amount.minor for t in parsed.transactions] == [10_00]
    assert parsed.details["skipped_entries"] == {"PDNG": 1, "INFO": 1}
    assert parsed.details["entries"] == 3 and parsed.details["booked_entries"] == 1


def test_a_reversal_is_booked_in_the_direction_its_indicator_says() -> None:
    # ISO 20022: a reversed credit is reported as DBIT with RvslInd; the balances confirm it.
    entries = _entry("40.00") + _entry("40.00", "DBIT", more="<RvslInd>true</RvslInd>")
    parsed = parse_camt(_camt053(entries, closing="100.00"))
    assert [t.amount.minor for t in parsed.transactions] == [40_00, -40_00]
    assert parsed.details["reversals"] == 1


def test_structured_amounts_go_to_the_one_reference_they_can_belong_to() -> None:
    amounts = '<RfrdDocAmt><RmtdAmt Ccy="EUR">10.00</RmtdAmt></RfrdDocAmt>'
    documents = "".join(
        f"<RfrdDocInf><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Nb>{number}</Nb></RfrdDocInf>"
        for code, number in (("CINV", "INV-1"), ("CREN", "CN-2"))
    )
    creditor = "<CdtrRefInf><Ref>RF18 5390 0754 7034</Ref></CdtrRefInf>"
    details = (
        f"<TxDtls><RmtInf><Strd>{documents}{amounts}</Strd>"
        f"<Strd>{amounts}{creditor}</Strd></RmtInf></TxDtls>"
    )
    parsed = parse_camt(_camt053(_entry("10.00", details=details), closing="110.00"))
    (transaction,) = parsed.transactions
    assert transaction.structured == (
        StructuredRemittance("INV-1", "invoice"),
        StructuredRemittance("CN-2", "credit_note"),
        StructuredRemittance("RF18 5390 0754 7034", "creditor_reference", Money(10_00, "EUR")),
    )
    assert transaction.creditor_reference == RF_REFERENCE
    assert parsed.details["unassigned_document_amounts"] == 1


# ------------------------------------------------------------------ tie-out


def _off_by_one_cent(data: bytes) -> bytes:
    root = etree.fromstring(data)
    namespace = etree.QName(root).namespace
    for balance in root.iter(f"{{{namespace}}}Bal"):
        if balance.findtext(f".//{{{namespace}}}Cd") == "CLBD":
            amount = balance.find(f"{{{namespace}}}Amt")
            amount.text = format_amount(parse_amount(amount.text, "EUR") + 1, "EUR")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_closing_balance_off_by_one_cent_is_unbalanced() -> None:
    statement = replace(_eur_statement(), opening_balance_minor=1_000_00)
    data = write_camt053(statement, version="001.04", message_id="M")
    assert parse_camt(data).statements[0].closing_balance == Money(
        statement.closing_balance_minor, "EUR"
    )
    with pytest.raises(
        UnbalancedStatement, match=r"STMT-2026-02-27.*difference 0\.01 EUR"
    ) as caught:
        parse_camt(_off_by_one_cent(data), source="off.xml")
    assert caught.value.source == "off.xml" and caught.value.line
    assert parse_camt(_off_by_one_cent(data), check_balances=False).statements


def test_a_transaction_summary_that_disagrees_is_unbalanced() -> None:
    summary = (
        "<TxsSummry><TtlNtries><NbOfNtries>2</NbOfNtries><Sum>10.00</Sum></TtlNtries></TxsSummry>"
    )
    with pytest.raises(UnbalancedStatement, match="counts 2 entries"):
        parse_camt(_camt053(_entry("10.00"), closing="110.00", extra=summary))
    summary = "<TxsSummry><TtlNtries><NbOfNtries>1</NbOfNtries><Sum>10.00</Sum><TtlNetNtry><Amt>10.00</Amt><CdtDbtInd>DBIT</CdtDbtInd></TtlNetNtry></TtlNtries></TxsSummry>"
    with pytest.raises(UnbalancedStatement, match="net"):
        parse_camt(_camt053(_entry("10.00"), closing="110.00", extra=summary))
    version_2 = (
        "<TxsSummry><TtlNtries><NbOfNtries>1</NbOfNtries><TtlNetNtryAmt>10.00</TtlNetNtryAmt>"
        "<CdtDbtInd>CRDT</CdtDbtInd></TtlNtries></TxsSummry>"
    )
    assert parse_camt(_camt053(_entry("10.00"), closing="110.00", extra=version_2)).statements
    with pytest.raises(UnbalancedStatement, match="net"):
        parse_camt(
            _camt053(_entry("10.00"), closing="110.00", extra=version_2.replace("CRDT", "DBIT"))
        )


def test_the_banks_own_words_are_the_text_when_there_is_no_remittance_information() -> None:
    """AddtlTxInf for the transaction, else AddtlNtryInf for the entry (Swiss and German banks
    write the payer and purpose there); remittance information, where given, comes first."""
    bare = "<TxDtls><Refs><EndToEndId>E-1</EndToEndId></Refs></TxDtls>"
    on_tx = bare.replace(
        "</TxDtls>", "<AddtlTxInf>Gutschrift Muster AG Re 4711</AddtlTxInf></TxDtls>"
    )
    on_entry = "<AddtlNtryInf>E-banking order Huber AG invoice 2024-17</AddtlNtryInf>"
    only_flags = bare.replace(
        "</TxDtls>",
        "<RmtInf><Strd><AddtlRmtInf>?REJECT?0</AddtlRmtInf></Strd></RmtInf></TxDtls>",
    )
    flagged = only_flags.replace("?REJECT?0", "Order 88 of May ?REJECT?0 ?ERROR?000")
    cases = (
        (_entry("10.00", details=on_tx), "Gutschrift Muster AG Re 4711"),
        (_entry("10.00", details=bare, more=on_entry), "E-banking order Huber AG invoice 2024-17"),
        (_entry("10.00", details=_tx("E-1", "Alpha", text="INV 1"), more=on_entry), "INV 1"),
        # A bank's processing flags in the structured remittance (PostFinance) are no text.
        (_entry("10.00", details=flagged, more=on_entry), "Order 88 of May"),
        (
            _entry("10.00", details=only_flags, more=on_entry),
            "E-banking order Huber AG invoice 2024-17",
        ),
    )
    for entry, text in cases:
        (line,) = parse_camt(_camt053(entry, closing="110.00")).transactions
        assert line.remittance_text == text


def test_a_summary_total_written_net_is_accepted() -> None:
    """The standard's TtlNtries/Sum adds every amount up; some banks write the net there."""
    entries = _entry("1000.00") + _entry("900.00", "DBIT")
    for total in ("1900.00", "100.00"):
        summary = f"<TxsSummry><TtlNtries><NbOfNtries>2</NbOfNtries><Sum>{total}</Sum></TtlNtries></TxsSummry>"
        assert parse_camt(_camt053(entries, closing="200.00", extra=summary)).statements
    summary = (
        "<TxsSummry><TtlNtries><NbOfNtries>2</NbOfNtries><Sum>1000.00</Sum></TtlNtries></TxsSummry>"
    )
    with pytest.raises(UnbalancedStatement, match=r"sums to 1000\.00"):
        parse_camt(_camt053(entries, closing="200.00", extra=summary))


def test_the_austrian_banks_namespace_is_read_as_camt053() -> None:
    stuzza = _camt053(_entry("10.00"), closing="110.00").replace(
        b"urn:iso:std:iso:20022:tech:xsd:camt.053.001.04",
        b"ISO:camt.053.001.02:APC:STUZZA:payments:003",
    )
    assert detect_format(stuzza) == "camt053"
    (line,) = parse_camt(stuzza).transactions
    assert line.amount == Money(10_00, "EUR")


def test_our_own_account_is_never_the_payers() -> None:
    iban = b"<IBAN>DE89370400440532013000</IBAN>"
    party = (
        b"<RltdPties><Dbtr><Nm>Testzahlung</Nm></Dbtr><DbtrAcct><Id>" + iban + b"</Id></DbtrAcct>"
    )
    details = "<TxDtls>PARTY</RltdPties></TxDtls>"
    data = _camt053(_entry("10.00", details=details), closing="110.00")
    data = data.replace(b"<Othr><Id>4711</Id></Othr>", iban).replace(b"PARTY", party)
    (line,) = parse_camt(data).transactions
    assert (line.payer_name, line.payer_account) == ("Testzahlung", "")


# ------------------------------------------------------------------ broken and hostile input


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"<Document", "malformed XML"),
        (
            b"<?xml version='1.0'?><Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.001.001.03'/>",
            "not a camt",
        ),
        (b"<Document><BkToCstmrStmt/></Document>", "not a camt"),
        (
            _camt053(_entry("10.00").replace('Ccy="EUR"', 'Ccy="XYZ"'), closing="110.00"),
            "unknown currency",
        ),
        (_camt053(_entry("-10.00"), closing="110.00"), "not an ISO 20022 amount"),
        (_camt053(_entry("10.00", "CREDIT"), closing="110.00"), "CdtDbtInd"),
        (
            _camt053(
                _entry("10.00").replace("2026-02-27</Dt></BookgDt>", "27.02.2026</Dt></BookgDt>")
            ),
            "not an ISO date",
        ),
        (_camt053("").replace(b"<Id>S-1</Id>", b""), "has no Id"),
        (
            _camt053(_entry("1.00")).replace(
                b"<Acct><Id><Othr><Id>4711</Id></Othr></Id>", b"<Acct>"
            ),
            "names no account",
        ),
    ],
)
def test_broken_input_is_a_parse_error_with_its_place(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as caught:
        parse_camt(data, source="bad.xml")
    assert caught.value.source == "bad.xml"


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Id>&xxe;</Id></Stmt></BkToCstmrStmt></Document>"""
_LAUGH_LEVELS = "".join(
    f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 10)
)
LAUGHS = (
    f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{_LAUGH_LEVELS}]>'
    '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&lol9;</Document>'
).encode()
PLAIN_DOCTYPE = (
    b'<?xml version="1.0"?><!DOCTYPE Document SYSTEM "http://example.invalid/camt.dtd"><Document/>'
)


@pytest.mark.parametrize(
    "data",
    [
        XXE,
        LAUGHS,
        PLAIN_DOCTYPE,
        XXE.decode().encode("utf-16"),
        XXE.replace(b"DOCTYPE", b"doctype"),
    ],
    ids=["xxe", "billion-laughs", "doctype", "xxe-utf16", "lower-case"],
)
def test_doctypes_and_entities_are_refused_quickly(data: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(ParseError):
        parse_camt(data, source="evil.xml")
    assert time.perf_counter() - started < 1.0


# ------------------------------------------------------------------ property tests


@cache
def _samples() -> tuple[bytes, ...]:
    real = tuple(_fixture(name) for name in _fixture_names())
    simulated = (
        write_camt053(_eur_statement(), version="001.02", message_id="M"),
        write_camt054(_jpy_statement(), version="001.08", message_id="M"),
    )
    return real + simulated


def _parses_or_refuses(data: bytes) -> None:
    try:
        parsed = parse_camt(data, source="fuzz.xml")
    except ParseError as exc:
        assert exc.source == "fuzz.xml"
        return
    assert isinstance(parsed, ParsedFile) and parsed.file_format in ("camt053", "camt054")
    for transaction in parsed.transactions:
        assert isinstance(transaction.amount.minor, int)


XML_TEXT = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
FUZZ = settings(
    max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow], database=None
)


@FUZZ
@given(st.data())
def test_byte_mutations_parse_or_raise_parse_error(data: st.DataObject) -> None:
    sample = data.draw(st.sampled_from(_samples()))
    at = data.draw(st.integers(0, len(sample)))
    mutation = data.draw(
        st.sampled_from(["truncate", "flip", "insert", "delete", "utf16", "latin1"])
    )
    if mutation == "truncate":
        mutated = sample[:at]
    elif mutation == "flip":
        mutated = sample[:at] + bytes([data.draw(st.integers(0, 255))]) + sample[at + 1 :]
    elif mutation == "insert":
        mutated = sample[:at] + data.draw(st.binary(min_size=1, max_size=8)) + sample[at:]
    elif mutation == "delete":
        mutated = sample[:at] + sample[at + data.draw(st.integers(1, 64)) :]
    else:
        mutated = sample.decode("utf-8").encode(
            "utf-16" if mutation == "utf16" else "latin-1", "replace"
        )
    _parses_or_refuses(mutated)


@FUZZ
@given(st.data())
def test_structural_mutations_parse_or_raise_parse_error(data: st.DataObject) -> None:
    root = etree.fromstring(data.draw(st.sampled_from(_samples())))
    elements = list(root.iter())
    for _ in range(data.draw(st.integers(1, 4))):
        target = elements[data.draw(st.integers(0, len(elements) - 1))]
        parent = target.getparent()
        if parent is None:
            continue
        action = data.draw(st.sampled_from(["delete", "duplicate", "empty", "garble"]))
        if action == "delete":
            parent.remove(target)
        elif action == "duplicate":
            for _ in range(data.draw(st.integers(1, 3))):
                target.addnext(etree.fromstring(etree.tostring(target)))
        elif action == "empty":
            target.text = ""
        else:
            target.text = data.draw(st.text(XML_TEXT, max_size=20))
    _parses_or_refuses(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def test_duplicated_entries_break_the_tie_out() -> None:
    data = write_camt053(_eur_statement(), version="001.08", message_id="M")
    root = etree.fromstring(data)
    entry = next(e for e in root.iter() if etree.QName(e).localname == "Ntry")
    entry.addnext(etree.fromstring(etree.tostring(entry)))
    with pytest.raises(UnbalancedStatement):
        parse_camt(etree.tostring(root))


@pytest.mark.parametrize("data", [XXE, LAUGHS, PLAIN_DOCTYPE], ids=["xxe", "laughs", "doctype"])
def test_the_parser_itself_expands_nothing_when_the_byte_scan_is_bypassed(
    data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(camt, "_refuse_doctype", lambda data, source: None)
    started = time.perf_counter()
    with pytest.raises(ParseError) as caught:
        parse_camt(data, source="evil.xml")
    assert "root:" not in str(caught.value)  # nothing of /etc/passwd leaks into a message
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "name", [n for n in _fixture_names() if n not in UNTIED_FIXTURES | {BROKEN_FIXTURE}]
)
def test_a_statement_saved_as_utf16_is_detected_and_reads_the_same(name: str) -> None:
    data = _fixture(name)
    text = data.decode("utf-8")
    declared = re.sub(r'encoding="[^"]+"', 'encoding="UTF-16"', text, count=1)
    wide = declared.encode("utf-16")
    kind = detect_format(data)
    assert kind is not None and detect_format(wide) == kind

    def outcome(raw: bytes) -> object:
        try:
            return parse_bank_file(raw, kind, source=name)
        except ParseError as exc:  # refused the same way (a fixture with an undated entry)
            return str(exc)

    assert outcome(wide) == outcome(data)

"""Bank files as real banks write them beyond the textbook: bank-defined BAI2 codes, records
ended early, German purpose lines over several subfields, wrapped lines starting with '-',
an 820 delivered twice; and what no ledger can keep (no date, an impossible amount) refused
with a reason while the rest of a batch goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.bank import parse_bank_file
from ingest.edi820 import parse_edi820
from ledger.errors import ParseError
from ledger.settings import LedgerSettings
from pipelines.ingest import ingest_paths

BAI2 = """01,SENDER,RECEIVER,240301,1200,FILE1,80,,2/
02,RECEIVER,BANKUS33,1,{as_of},,USD,2/
03,1111111111,USD,010,100000,,,015,{closing},,/
16,{code},{amount}{rest}
49,{control},3/
98,{control},1,5/
99,{control},1,7/
"""


def _bai2(
    code: str, amount: int = 50000, rest: str = ",Z,BR001,CR001,TEXT/", as_of: str = "240301"
) -> bytes:
    closing = 100000 + (amount if int(code) < 400 or 920 <= int(code) < 960 else -amount)
    control = 100000 + closing + amount
    text = BAI2.format(
        as_of=as_of, closing=closing, code=code, amount=amount, rest=rest, control=control
    )
    return text.encode()


@pytest.mark.parametrize(("code", "sign"), [("930", 1), ("975", -1), ("165", 1)])
def test_a_bank_defined_type_code_books_money_by_its_range(code: str, sign: int) -> None:
    (transaction,) = parse_bank_file(_bai2(code), "bai2").transactions
    assert transaction.amount.minor == sign * 50000
    assert transaction.type_code == code


@pytest.mark.parametrize("rest", ["/", ",/", ",Z/", ",Z,BR1/"])
def test_a_detail_record_ended_early_has_blank_references(rest: str) -> None:
    (transaction,) = parse_bank_file(_bai2("165", rest=rest), "bai2").transactions
    assert transaction.amount.minor == 50000
    assert transaction.customer_reference == "" and transaction.remittance_text == ""


def test_a_transaction_with_no_date_is_refused_with_its_line() -> None:
    with pytest.raises(ParseError, match=r"line 4: transaction of 500.00 USD .* has no date"):
        parse_bank_file(_bai2("165", as_of=""), "bai2")


def test_an_amount_beyond_what_the_ledger_keeps_is_refused() -> None:
    huge = 10**19
    with pytest.raises(ParseError, match="beyond the largest amount"):
        parse_bank_file(_bai2("165", amount=huge), "bai2")


MT940 = """:20:STMT001
:25:DE89370400440532013000
:28C:1/1
:60F:C240301EUR1000,00
:61:2403010301C250,00NTRFNONREF
:86:{details}
:62F:C240301EUR1250,00
-
"""


def test_the_purpose_runs_on_over_every_subfield_up_to_the_next_keyword() -> None:
    details = (
        "166?00SEPA-GUTSCHRIFT?109310?20EREF+NOTPROVIDED?21SVWZ+RE 10017?22RE 10018"
        "?23RE 10019?30GENODEF1XXX?31DE44500105175407324931?32MUSTERMANN GMBH"
    )
    (transaction,) = parse_bank_file(MT940.format(details=details).encode(), "mt940").transactions
    assert transaction.remittance_text == "RE 10017 RE 10018 RE 10019"
    assert transaction.payer_name == "MUSTERMANN GMBH"


def test_a_wrapped_text_line_starting_with_a_dash_ends_no_message() -> None:
    details = "/REMI/USTD//Invoices 1001, 1002\n-1003 and 1004/"
    (transaction,) = parse_bank_file(MT940.format(details=details).encode(), "mt940").transactions
    assert transaction.remittance_text == "Invoices 1001, 1002-1003 and 1004"


EDI = (
    "ISA*00*          *00*          *ZZ*PAYERID        *ZZ*PAYEEID        *240301*1200*U*00401"
    "*000000001*0*P*>~GS*RA*PAYER*PAYEE*20240301*1200*1*X*004010~ST*820*0001~"
    "BPR*C*350.00*C*ACH*CTX*01*011000015*DA*123456*1234567890**01*021000021*DA*987654*20240301~"
    "TRN*1*TRACE0001*1234567890~N1*PR*ACME CORP*91*CUST001~N1*PE*OUR COMPANY~ENT*1~"
    "RMR*IV*INV-1001**200.00*200.00~RMR*IV*INV-1002**150.00*150.00~SE*9*0001~GE*1*1~"
    "IEA*1*000000001~"
)


def test_an_820_delivered_again_under_another_name_is_the_same_advice(tmp_path: Path) -> None:
    first = parse_edi820(EDI.encode(), source="remit_20240301T1200.edi")
    again = parse_edi820(EDI.replace("~", "~\r\n").encode(), source="remit_20240301T1215.edi")
    assert [a.advice_id for a in first] == [a.advice_id for a in again]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "remit_20240301T1200.edi").write_text(EDI)
    (inbox / "remit_20240301T1215.edi").write_text(EDI.replace("~", "~\r\n"))
    report = ingest_paths([inbox], LedgerSettings(home=tmp_path / "home"))
    assert sum(f.advices for f in report.files) == 1


def test_a_file_that_trips_a_fault_of_ours_is_quarantined_and_the_batch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.ingest

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a_trips.bai").write_bytes(_bai2("165"))
    (inbox / "b_good.bai").write_bytes(_bai2("165", amount=70000))
    parse = pipelines.ingest.parse_any

    def tripping(data: bytes, **kwargs: object) -> object:
        if kwargs.get("source") == "a_trips.bai":
            raise TypeError("a fault of ours")
        return parse(data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipelines.ingest, "parse_any", tripping)
    report = ingest_paths([inbox], LedgerSettings(home=tmp_path / "home"))
    by_name = {Path(f.path).name: f for f in report.files}
    assert by_name["a_trips.bai"].status == "refused"
    assert "internal error TypeError: a fault of ours" in by_name["a_trips.bai"].reason
    assert by_name["a_trips.bai"].quarantined_to
    assert (by_name["b_good.bai"].status, by_name["b_good.bai"].new) == ("ingested", 1)


def test_a_statement_page_missing_between_two_is_refused() -> None:
    page = (
        ":20:STMT001\n:25:DE89370400440532013000\n:28C:5/{n}\n:60{o}:C240301EUR{opening}\n"
        ":61:240301C{amount}NTRFREF{n}\n:62{c}:C240301EUR{closing}\n-\n"
    )
    first = page.format(n=1, o="F", opening="1000,00", amount="100,00", c="M", closing="1100,00")
    third = page.format(n=3, o="M", opening="1500,00", amount="10,00", c="F", closing="1510,00")
    second = page.format(n=2, o="M", opening="1100,00", amount="400,00", c="M", closing="1500,00")
    assert len(parse_bank_file((first + second + third).encode(), "mt940").transactions) == 3
    with pytest.raises(ParseError, match=r"closed at 1,100\.00 EUR: a page or statement between"):
        parse_bank_file((first + third).encode(), "mt940")


CAMT_ENTRY = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-03-01T18:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><CreDtTm>2024-03-01T18:00:00</CreDtTm>
<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1000.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-01</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{closing}</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-01</Dt></Dt></Bal>
<Ntry><Amt Ccy="EUR">250.00</Amt><CdtDbtInd>{direction}</CdtDbtInd>{reversal}
<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-03-01</Dt></BookgDt><AcctSvcrRef>B1</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>E2E-1</EndToEndId></Refs><RltdPties>
<Dbtr><Pty><Nm>ACME GmbH</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct>
<Cdtr><Pty><Nm>OUR COMPANY AG</Nm></Pty></Cdtr><CdtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></CdtrAcct>
</RltdPties></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>
"""


@pytest.mark.parametrize(
    ("direction", "reversal", "closing", "party"),
    [
        ("CRDT", "", "1250.00", "ACME GmbH"),  # the customer pays us
        ("DBIT", "", "750.00", "OUR COMPANY AG"),  # we pay: the creditor (here ourselves)
        ("DBIT", "<RvslInd>true</RvslInd>", "750.00", "ACME GmbH"),  # the customer's, returned
    ],
)
def test_a_returned_payment_names_the_customer_it_came_from(
    direction: str, reversal: str, closing: str, party: str
) -> None:
    text = CAMT_ENTRY.format(direction=direction, reversal=reversal, closing=closing)
    (transaction,) = parse_bank_file(text.encode(), "camt053").transactions
    assert transaction.payer_name == party

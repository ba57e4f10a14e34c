"""Returned receipts: told apart from other debits, linked only on evidence, and undone."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from ingest.bank import parse_bank_file
from ingest.returns import is_returned_receipt
from ingest.statements import BankTransaction
from ledger import audit
from ledger.db import utcnow
from ledger.errors import InputError
from ledger.money import Money
from matching.returns import Booking, link_by_analyst, original_of, return_reason, shared_keys
from matching.scoring import RuleScorer
from matching.settings import MatchSettings
from matching.store import match_ledger, resolve_exception
from pipelines.match import export_rows
from tests.conftest import SHARED
from tests.unit.test_match_store import _payment, _seed


def _debit(
    text: str = "", code: str = "", *, reversal: bool = False, minor: int = -5_000
) -> BankTransaction:
    return BankTransaction(
        account="ACCT",
        amount=Money(minor, "USD"),
        booking_date=date(2025, 6, 3),
        value_date=date(2025, 6, 3),
        remittance_text=text,
        type_code=code,
        reversal=reversal,
    )


@pytest.mark.parametrize(
    ("transaction", "returned"),
    [
        (_debit(code="555"), True),  # BAI2 deposited item returned
        (_debit(code="557"), True),  # BAI2 individual ACH return item
        (_debit(code="567"), False),  # BAI2 return item fee: a fee, not a return
        (_debit(code="PMNT/RCDT/RRTN"), True),
        (_debit(code="PMNT/RCDT/ESCT"), False),
        (_debit(code="RTI"), True),  # MT940 NRTI
        (_debit(reversal=True), True),  # camt RvslInd / MT940 RC on a debit
        (_debit("ACH RETURN R01 ACME WIDGETS"), True),
        (_debit("RETURNED R01"), True),
        (_debit("CREDIT FOR RETURNED GOODS RMA 77"), False),  # a refund of ours
        (_debit("RETURNED"), False),  # too little to say whose money went back
        (_debit("RETURNED ITEM FEE"), False),
        (_debit("REFUND OF OVERPAYMENT, RETURNED TO CUSTOMER"), False),
        (_debit("INCOME TAX RETURN PAYMENT"), False),
        (_debit("SUPPLIER PAYMENT INV 4711"), False),
        (_debit("ACH RETURN R01", minor=5_000), False),  # a credit is never a returned receipt
    ],
)
def test_a_returned_receipt_is_told_by_the_banks_code_flag_or_words(
    transaction: BankTransaction, returned: bool
) -> None:
    assert is_returned_receipt(transaction) is returned


def test_real_mt940_reversal_of_a_credit_is_a_returned_receipt() -> None:
    path = SHARED / "fixtures" / "mt940" / "betterplace" / "sepa_mt9401.sta"
    if not path.exists():
        pytest.skip(f"shared fixture absent: {path.name}")
    transactions = parse_bank_file(path.read_bytes(), "mt940", source=path.name).transactions
    reversed_credits = [t for t in transactions if t.reversal and not t.is_credit]
    assert reversed_credits and all(is_returned_receipt(t) for t in reversed_credits)
    assert not any(is_returned_receipt(t) for t in transactions if t.is_credit)


def _booking(pid: str, minor: int, day: int, **kw: str) -> Booking:
    fields: dict[str, Any] = {
        "payer_name": "",
        "payer_account": "",
        "bank_reference": "",
        "customer_reference": "",
        "end_to_end_id": "",
        "remittance_text": "",
    } | kw
    return Booking(pid, "ACCT", "USD", minor, date(2025, 6, day), **fields)


def test_a_return_links_only_on_a_shared_reference_or_the_same_payer() -> None:
    acme = _booking("P1", 5_000, 2, payer_name="ACME WIDGETS", customer_reference="TRACE0001")
    other = _booking("P2", 5_000, 2, payer_name="BOREALIS GMBH", customer_reference="TRACE0002")
    late = _booking("P3", 5_000, 20, payer_name="ACME WIDGETS")
    receipts = [acme, other, late]
    by_trace = _booking("R1", -5_000, 5, remittance_text="ACH RETURN R01 TRACE0001")
    assert original_of(by_trace, receipts)[0] == acme
    by_payer = _booking("R2", -5_000, 5, payer_name="Acme Widgets Inc.")
    assert original_of(by_payer, receipts)[0] == acme
    # no reference, no payer: two receipts could be the one; neither is guessed
    silent = _booking("R3", -5_000, 5, remittance_text="DEPOSITED ITEM RETURNED")
    receipt, evidence = original_of(silent, receipts)
    assert receipt is None and evidence["candidates"] == ["P1", "P2"]
    # another amount or account is never the receipt
    assert original_of(_booking("R4", -4_999, 5, payer_name="ACME WIDGETS"), receipts)[0] is None
    assert return_reason("ACH RETURN R01 TRACE0001") == "R01"


def _return(con: Any, pid: str, minor: int, text: str, day: date, payer: str = "") -> None:
    _payment(con, pid, minor, payer, "", text, day)
    con.execute("UPDATE payments SET status = 'return' WHERE payment_id = ?", [pid])


def _open(con: Any, number: str) -> int:
    return int(
        con.execute(
            "SELECT open_minor FROM invoices WHERE invoice_number = ?", [number]
        ).fetchall()[0][0]
    )


def test_a_returned_payment_reopens_what_it_paid_and_the_export_reverses_it(
    ledger_con: Any,
) -> None:
    _seed(ledger_con)
    _payment(ledger_con, "PAY-A", 50_000, "ACME WIDGETS", "", "INV-1001", date(2025, 6, 2))
    assert match_ledger(ledger_con, RuleScorer(), MatchSettings()).applied == 1
    assert _open(ledger_con, "INV-1001") == 0

    _return(
        ledger_con,
        "PAY-R",
        -50_000,
        "ACH RETURN R01 INSUFFICIENT FUNDS",
        date(2025, 6, 4),
        "ACME WIDGETS INC",
    )
    summary = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert (summary.returns.linked, summary.returns.reversed_applications) == (1, 1)
    assert _open(ledger_con, "INV-1001") == 50_000
    statuses = dict(ledger_con.execute("SELECT payment_id, status FROM payments").fetchall())
    assert statuses == {"PAY-A": "returned", "PAY-R": "return_linked"}
    rows = list(export_rows(ledger_con, "applications"))
    assert [(r["invoice_number"], r["applied_amount"], r["kind"]) for r in rows] == [
        ("INV-1001", "500.00", "full"),
        ("INV-1001", "-500.00", "reversal"),
    ]
    assert rows[1]["reason"] == "payment returned: PAY-R"
    (payload,) = ledger_con.execute(
        "SELECT payload FROM audit_log WHERE action = 'return_payment'"
    ).fetchall()[0]
    assert json.loads(payload)["reason"] == "R01"
    assert audit.verify(ledger_con).ok
    again = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert again.payments == 0 and again.returns.linked == 0
    assert _open(ledger_con, "INV-1001") == 50_000


def test_a_receipt_returned_before_it_was_matched_is_never_applied(ledger_con: Any) -> None:
    _seed(ledger_con)
    _payment(ledger_con, "PAY-A", 50_000, "ACME WIDGETS", "US01", "INV-1001", date(2025, 6, 2))
    _return(ledger_con, "PAY-R", -50_000, "RETURNED ITEM", date(2025, 6, 2), "ACME WIDGETS")
    summary = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert summary.payments == 0 and summary.returns.linked == 1
    assert summary.returns.reversed_applications == 0
    assert _open(ledger_con, "INV-1001") == 50_000
    assert ledger_con.execute("SELECT count(*) FROM applications").fetchall() == [(0,)]


def test_a_return_that_cannot_be_told_goes_to_an_analyst_who_links_it(ledger_con: Any) -> None:
    _seed(ledger_con)
    _payment(ledger_con, "PAY-A", 50_000, "ACME WIDGETS", "", "INV-1001", date(2025, 6, 2))
    _payment(ledger_con, "PAY-B", 50_000, "BOREALIS GMBH", "", "", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    _return(ledger_con, "PAY-R", -50_000, "DEPOSITED ITEM RETURNED", date(2025, 6, 5))
    summary = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert summary.returns.unlinked == 1 and summary.returns.linked == 0
    assert _open(ledger_con, "INV-1001") == 0  # nothing undone on a guess
    ((exception_id, reason, evidence),) = ledger_con.execute(
        "SELECT exception_id, reason, evidence FROM exceptions WHERE payment_id = 'PAY-R'"
    ).fetchall()
    assert reason == "unlinked_return"
    assert json.loads(evidence)["candidates"] == ["PAY-A", "PAY-B"]
    with pytest.raises(InputError, match="returned receipt"):
        resolve_exception(
            ledger_con, exception_id, analyst="ana", expected_version=1, allocations=[("", -50_000)]
        )
    assert match_ledger(ledger_con, RuleScorer(), MatchSettings()).returns.unlinked == 1
    assert ledger_con.execute(
        "SELECT count(*) FROM exceptions WHERE payment_id = 'PAY-R'"
    ).fetchall() == [(1,)]

    _payment(ledger_con, "PAY-C", 40_000, "ACME WIDGETS", "", "", date(2025, 6, 2))
    with pytest.raises(InputError, match="amount"):
        link_by_analyst(ledger_con, "PAY-R", "PAY-C", "ana", utcnow())
    assert link_by_analyst(ledger_con, "PAY-R", "PAY-A", "ana", utcnow()) == (1, 1)
    assert _open(ledger_con, "INV-1001") == 50_000
    assert ledger_con.execute(
        "SELECT status FROM exceptions WHERE payment_id = 'PAY-R'"
    ).fetchall() == [("resolved",)]
    with pytest.raises(InputError, match="not a return waiting"):
        link_by_analyst(ledger_con, "PAY-R", "PAY-B", "ana", utcnow())
    assert audit.verify(ledger_con).ok
    from matching.store import ledger_labels

    ledger_labels(ledger_con)  # a linked return's resolution is no analyst's allocation


def test_a_returned_receipt_in_the_queue_leaves_it_and_teaches_nothing(ledger_con: Any) -> None:
    from matching.store import ledger_labels

    _seed(ledger_con)
    _payment(ledger_con, "PAY-B", 12_345, "BOREALIS GMBH", "DE01", "", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert ledger_con.execute(
        "SELECT status FROM exceptions WHERE payment_id = 'PAY-B'"
    ).fetchall() == [("open",)]
    _return(ledger_con, "PAY-R", -12_345, "RETURN R02 ACCOUNT CLOSED", date(2025, 6, 3), "BOREALIS")
    assert match_ledger(ledger_con, RuleScorer(), MatchSettings()).returns.linked == 1
    ((status, resolution),) = ledger_con.execute(
        "SELECT status, resolution FROM exceptions WHERE payment_id = 'PAY-B'"
    ).fetchall()
    assert status == "withdrawn"
    assert json.loads(resolution) == {"returned_by": "PAY-R", "reason": "R02"}
    assert ledger_labels(ledger_con) == []


def test_receipts_sharing_the_returns_reference_leave_no_room_for_a_guess_by_payer() -> None:
    # Two receipts carry the trace the return names (a payer's constant ACH id, say) and are
    # not the return's payer; a third is from the payer but names nothing: no link.
    shared = {"customer_reference": "ACHID77881"}
    receipts = [
        _booking("P1", 5_000, 2, payer_name="BOREALIS GMBH", **shared),
        _booking("P2", 5_000, 3, payer_name="COBALT AND SONS", **shared),
        _booking("P3", 5_000, 3, payer_name="ACME WIDGETS"),
    ]
    returned = _booking("R1", -5_000, 5, payer_name="ACME WIDGETS", **shared)
    assert original_of(returned, receipts)[0] is None


def test_a_return_is_not_linked_on_a_word_a_date_or_someone_elses_receipt() -> None:
    cobalt = _booking(
        "P1",
        5_000,
        2,
        payer_name="COBALT AND SONS",
        customer_reference="PAYMENT",
        bank_reference="202506",
    )
    acme = _booking("P2", 5_000, 2, payer_name="ACME WIDGETS")
    # 'PAYMENT' is a word, '202506' part of a date: neither is a reference both carry
    by_words = _booking(
        "R1", -5_000, 5, payer_name="ACME WIDGETS", remittance_text="RETURNED PAYMENT 20250605"
    )
    assert shared_keys(by_words, cobalt) == []
    assert original_of(by_words, [cobalt, acme])[0] == acme
    # a reference of Cobalt's receipt on a return naming Acme: someone's mistake, not a rule's
    crossed = _booking(
        "R2", -5_000, 5, payer_name="ACME WIDGETS", remittance_text="RETURN ITEM REF 202506"
    )
    assert original_of(crossed, [cobalt, acme])[0] is None


def test_with_no_reference_only_a_recent_receipt_from_the_payer_is_taken_back() -> None:
    may = _booking("P1", 5_000, 1, payer_name="ACME WIDGETS")
    returned = Booking(
        "R1", "ACCT", "USD", -5_000, date(2025, 7, 5), "ACME WIDGETS", "", "", "", "", "R01"
    )
    assert original_of(returned, [may])[0] is None  # 34 days: more likely June's, not in yet


@pytest.mark.parametrize("placeholder", ["N/A", "NOT PROVIDED", "NOTPROVIDED", "UNKNOWN"])
def test_a_placeholder_reference_ties_no_return_to_a_receipt(placeholder: str) -> None:
    fields = {"end_to_end_id": placeholder, "customer_reference": placeholder}
    receipt = _booking("P1", 5_000, 2, payer_name="ACME WIDGETS", **fields)
    returned = _booking("R1", -5_000, 5, **fields)
    assert shared_keys(returned, receipt) == []


def test_a_return_never_opens_an_invoice_beyond_its_amount(ledger_con: Any) -> None:
    # The ERP reopened INV-1001 for the bounce before the return was linked here.
    _seed(ledger_con)
    _payment(ledger_con, "PAY-A", 50_000, "ACME WIDGETS", "", "INV-1001", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    ledger_con.execute("UPDATE invoices SET open_minor = 50000 WHERE invoice_number = 'INV-1001'")
    _return(ledger_con, "PAY-R", -50_000, "RETURNED ITEM", date(2025, 6, 4), "ACME WIDGETS")
    assert match_ledger(ledger_con, RuleScorer(), MatchSettings()).returns.linked == 1
    assert _open(ledger_con, "INV-1001") == 50_000


def test_a_return_of_one_item_of_a_deposit_takes_back_only_what_that_item_paid(
    ledger_con: Any,
) -> None:
    """A lockbox deposit pays three invoices; one cheque of it (500.00, for INV-1001) bounces.
    The return differs from the deposit in amount, so it waits; the analyst links it naming
    the invoice: only that application is reversed, and the deposit stays applied."""
    _seed(ledger_con)
    _payment(
        ledger_con,
        "PAY-D",
        210_000,
        "ACME WIDGETS",
        "",
        "INV-1001 INV-1002 INV-2001",
        date(2025, 6, 2),
    )
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert [_open(ledger_con, n) for n in ("INV-1001", "INV-1002", "INV-2001")] == [0, 0, 0]
    _return(ledger_con, "PAY-R", -50_000, "DEPOSITED ITEM RETURNED", date(2025, 6, 5))
    _return(ledger_con, "PAY-S", -70_000, "DEPOSITED ITEM RETURNED", date(2025, 6, 6))
    _return(ledger_con, "PAY-T", -50_000, "DEPOSITED ITEM RETURNED", date(2025, 6, 7))
    assert match_ledger(ledger_con, RuleScorer(), MatchSettings()).returns.unlinked == 3
    assert _open(ledger_con, "INV-1001") == 0

    with pytest.raises(InputError, match="amount is not the amount returned"):
        link_by_analyst(ledger_con, "PAY-R", "PAY-D", "ana", utcnow())
    with pytest.raises(InputError, match=r"cash on INV-1002 is 700\.00, the return 500\.00"):
        link_by_analyst(ledger_con, "PAY-R", "PAY-D", "ana", utcnow(), ["INV-1002"])
    with pytest.raises(InputError, match="applied nothing to INV-9"):
        link_by_analyst(ledger_con, "PAY-R", "PAY-D", "ana", utcnow(), ["INV-9"])
    assert link_by_analyst(ledger_con, "PAY-R", "PAY-D", "ana", utcnow(), [" INV-1001 "]) == (
        1,
        1,
    )
    assert [_open(ledger_con, n) for n in ("INV-1001", "INV-1002", "INV-2001")] == [50_000, 0, 0]
    statuses = dict(ledger_con.execute("SELECT payment_id, status FROM payments").fetchall())
    assert statuses["PAY-D"] == "applied" and statuses["PAY-R"] == "return_linked"
    # A second item of the same deposit bounces too.
    assert link_by_analyst(ledger_con, "PAY-S", "PAY-D", "ana", utcnow(), ["INV-1002"]) == (1, 1)
    with pytest.raises(InputError, match="applied nothing to INV-1001"):
        link_by_analyst(ledger_con, "PAY-T", "PAY-D", "ana", utcnow(), ["INV-1001"])
    reversals = [r for r in export_rows(ledger_con, "applications") if r["kind"] == "reversal"]
    assert [(r["invoice_number"], r["applied_amount"], r["reason"]) for r in reversals] == [
        ("INV-1001", "-500.00", "payment returned: PAY-R"),
        ("INV-1002", "-700.00", "payment returned: PAY-S"),
    ]
    assert match_ledger(ledger_con, RuleScorer(), MatchSettings()).returns.unlinked == 1
    assert _open(ledger_con, "INV-2001") == 0
    assert audit.verify(ledger_con).ok


def test_a_deposit_whose_every_item_came_back_is_returned(ledger_con: Any) -> None:
    _seed(ledger_con)
    _payment(
        ledger_con, "PAY-D", 120_000, "ACME WIDGETS", "", "INV-1001 INV-1002", date(2025, 6, 2)
    )
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    _return(ledger_con, "PAY-R", -50_000, "DEPOSITED ITEM RETURNED", date(2025, 6, 5))
    _return(ledger_con, "PAY-S", -70_000, "DEPOSITED ITEM RETURNED", date(2025, 6, 6))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    link_by_analyst(ledger_con, "PAY-R", "PAY-D", "ana", utcnow(), ["INV-1001"])
    link_by_analyst(ledger_con, "PAY-S", "PAY-D", "ana", utcnow(), ["INV-1002"])
    statuses = dict(ledger_con.execute("SELECT payment_id, status FROM payments").fetchall())
    assert statuses["PAY-D"] == "returned"
    assert (_open(ledger_con, "INV-1001"), _open(ledger_con, "INV-1002")) == (50_000, 70_000)
    assert audit.verify(ledger_con).ok

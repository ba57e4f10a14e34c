"""The engine against a real ledger file: decisions written once, analysts' decisions checked,
applied and learned from at once."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from ingest.documents.text_advice import read_csv_advice
from ledger import audit
from ledger.db import utcnow
from ledger.errors import InputError, StaleVersion
from ledger.repository import insert_advices
from matching.scoring import RuleScorer
from matching.settings import MatchSettings
from matching.store import load_advices, load_payers, match_ledger, resolve_exception
from pipelines.extract import Extraction, to_remittance_advices


def _seed(con: Any) -> None:
    now = utcnow()
    con.execute("INSERT INTO customers VALUES ('C1', 'Acme Widgets Inc.', NULL, ?, ?)", [now, now])
    con.execute("INSERT INTO customers VALUES ('C2', 'Borealis GmbH', NULL, ?, ?)", [now, now])
    for number, customer, minor, terms in (
        ("INV-1001", "C1", 50_000, "2/10 NET 30"),
        ("INV-1002", "C1", 70_000, "NET30"),
        ("INV-2001", "C2", 90_000, "NET30"),
    ):
        con.execute(
            "INSERT INTO invoices VALUES (?, ?, 'invoice', DATE '2025-05-01', DATE '2025-05-31', "
            "'USD', ?, ?, ?, '', NULL, ?, ?)",
            [number, customer, minor, minor, terms, now, minor],
        )


def _payment(
    con: Any, pid: str, minor: int, payer: str, account: str, text: str, day: date
) -> None:
    con.execute(
        "INSERT INTO payments VALUES (?, 'ACCT', 'USD', ?, ?, ?, ?, ?, ?, '', ?, ?, 1, NULL, "
        "'unapplied', ?, '', NULL, '', NULL)",
        [pid, minor, day, day, payer, account, f"REF{pid}", text, f"fp{pid}", utcnow()],
    )


def test_match_writes_applications_exceptions_and_audit_once(ledger_con: Any) -> None:
    _seed(ledger_con)
    _payment(ledger_con, "PAY-A", 50_000, "ACME WIDGETS", "", "INV-1001", date(2025, 6, 2))
    _payment(ledger_con, "PAY-B", 12_345, "NOBODY WE KNOW", "DE00", "", date(2025, 6, 2))
    summary = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert (summary.payments, summary.applied, summary.exceptions) == (2, 1, 1)
    assert summary.exceptions_by_reason == {"unknown_payer": 1}
    assert ledger_con.execute(
        "SELECT open_minor FROM invoices WHERE invoice_number = 'INV-1001'"
    ).fetchall() == [(0,)]
    statuses = dict(ledger_con.execute("SELECT payment_id, status FROM payments").fetchall())
    assert statuses == {"PAY-A": "applied", "PAY-B": "exception"}
    assert audit.verify(ledger_con).ok
    again = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert again.payments == 0


def test_an_analyst_decision_is_checked_applied_and_taught(ledger_con: Any) -> None:
    _seed(ledger_con)
    _payment(
        ledger_con,
        "PAY-B",
        90_000,
        "BX HOLDING TREASURY",
        "DE44500105175407324931",
        "",
        date(2025, 6, 2),
    )
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    ((exception_id, version),) = ledger_con.execute(
        "SELECT exception_id, version FROM exceptions"
    ).fetchall()
    with pytest.raises(InputError, match="add up"):
        resolve_exception(
            ledger_con,
            exception_id,
            analyst="jo",
            expected_version=version,
            allocations=[("INV-2001", 80_000)],
        )
    with pytest.raises(StaleVersion):
        resolve_exception(
            ledger_con,
            exception_id,
            analyst="jo",
            expected_version=version + 1,
            allocations=[("INV-2001", 90_000)],
        )
    done = resolve_exception(
        ledger_con,
        exception_id,
        analyst="jo",
        expected_version=version,
        allocations=[("INV-2001", 90_000)],
    )
    assert done.customer_id == "C2"
    assert len(done.learned) == 2
    assert ledger_con.execute(
        "SELECT open_minor FROM invoices WHERE invoice_number = 'INV-2001'"
    ).fetchall() == [(0,)]
    with pytest.raises(StaleVersion, match="already resolved by jo at 20"):
        resolve_exception(
            ledger_con,
            exception_id,
            analyst="jo",
            expected_version=version + 1,
            allocations=[("INV-2001", 90_000)],
        )
    payers = load_payers(ledger_con)
    assert [c.customer_id for c in payers.by_account("DE44 5001 0517 5407 3249 31")] == ["C2"]
    assert [c.source for c in payers.by_name("Bx Holding Treasury")] == ["alias"]
    # The next payment from that account is known at once.
    _payment(ledger_con, "PAY-C", 70_000, "", "DE44500105175407324931", "", date(2025, 6, 9))
    summary = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert summary.exceptions_by_reason.get("unknown_payer", 0) == 0
    assert audit.verify(ledger_con).ok


def test_an_analyst_cannot_settle_more_than_is_open(ledger_con: Any) -> None:
    _seed(ledger_con)
    _payment(ledger_con, "PAY-D", 95_000, "SOMEONE", "X1", "", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    ((exception_id, version),) = ledger_con.execute(
        "SELECT exception_id, version FROM exceptions"
    ).fetchall()
    with pytest.raises(InputError, match="cannot settle"):
        resolve_exception(
            ledger_con,
            exception_id,
            analyst="jo",
            expected_version=version,
            allocations=[("INV-2001", 95_000)],
        )
    done = resolve_exception(
        ledger_con,
        exception_id,
        analyst="jo",
        expected_version=version,
        allocations=[("INV-2001", 90_000), ("", 5_000)],
    )
    assert done.allocations == (("INV-2001", 90_000), ("", 5_000))


def test_an_analyst_choice_among_suggestions_becomes_training_data(ledger_con: Any) -> None:
    from matching.store import ledger_labels

    _seed(ledger_con)
    now = utcnow()
    ledger_con.execute(
        "INSERT INTO invoices VALUES ('INV-1003', 'C1', 'invoice', DATE '2025-05-02', DATE '2025-06-01', "
        "'USD', 50000, 50000, 'NET30', '', NULL, ?, 50000)",
        [now],
    )
    _payment(ledger_con, "PAY-E", 50_000, "ACME WIDGETS INC", "", "", date(2025, 6, 2))
    summary = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert summary.exceptions_by_reason == {"ambiguous": 1}
    ((exception_id, version),) = ledger_con.execute(
        "SELECT exception_id, version FROM exceptions"
    ).fetchall()
    assert ledger_labels(ledger_con) == []
    resolve_exception(
        ledger_con, exception_id, analyst="jo", expected_version=version, suggestion=2
    )
    labels = ledger_labels(ledger_con)
    assert sorted(label.right for label in labels) == [False, True]
    assert all(label.features for label in labels)


@pytest.mark.parametrize("parent", [None, "C2"])
def test_a_parent_known_to_the_ledger_pays_for_its_subsidiary(
    ledger_con: Any, parent: str | None
) -> None:
    # Borealis (C2) pays Acme's (C1) invoice with no remittance; only the ERP's customer
    # hierarchy says it may.
    _seed(ledger_con)
    ledger_con.execute("UPDATE customers SET parent_id = ? WHERE customer_id = 'C1'", [parent])
    _payment(ledger_con, "PAY-P", 70_000, "BOREALIS GMBH", "", "", date(2025, 6, 2))
    summary = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    applied = ledger_con.execute(
        "SELECT invoice_number, applied_minor FROM applications WHERE payment_id = 'PAY-P'"
    ).fetchall()
    if parent is None:
        assert (summary.applied, applied) == (0, [])
    else:
        assert (summary.applied, applied) == (1, [("INV-1002", 70_000)])


def test_an_analyst_learning_a_platform_name_for_a_second_customer_is_told_it_identifies_no_one(
    ledger_con: Any,
) -> None:
    _seed(ledger_con)
    for pid, minor, day in (
        ("PAY-P", 50_000, date(2025, 6, 2)),
        ("PAY-Q", 90_000, date(2025, 6, 3)),
    ):
        _payment(ledger_con, pid, minor, "BILL.COM", "US-PLATFORM-01", "", day)
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    exceptions = dict(
        ledger_con.execute("SELECT payment_id, exception_id FROM exceptions").fetchall()
    )

    def resolve(pid: str, invoice: str, minor: int) -> tuple[str, ...]:
        (version,) = ledger_con.execute(
            "SELECT version FROM exceptions WHERE exception_id = ?", [exceptions[pid]]
        ).fetchone()
        done = resolve_exception(
            ledger_con,
            exceptions[pid],
            analyst="jo",
            expected_version=version,
            allocations=[(invoice, minor)],
        )
        return done.learned

    first = resolve("PAY-P", "INV-1001", 50_000)
    assert not any("intermediary" in line for line in first)
    assert [c.customer_id for c in load_payers(ledger_con).by_name("bill.com")] == ["C1"]
    second = resolve("PAY-Q", "INV-2001", 90_000)
    told = [line for line in second if "intermediary" in line]
    assert len(told) == 2 and "'BILL.COM'" in told[1] and "'US-PLATFORM-01'" in told[0]
    payers = load_payers(ledger_con)
    assert payers.by_name("BILL.COM") == [] and payers.by_account("US-PLATFORM-01") == []


def _one_exception(con: Any, minor: int) -> tuple[str, int]:
    _seed(con)
    con.execute(
        "INSERT INTO invoices VALUES ('CM-1', 'C1', 'credit_memo', DATE '2025-05-03', "
        "DATE '2025-05-03', 'USD', -5000, -5000, '', '', NULL, ?, -5000)",
        [utcnow()],
    )
    _payment(con, "PAY-X", minor, "SOMEONE", "X9", "", date(2025, 6, 2))
    match_ledger(con, RuleScorer(), MatchSettings())
    ((exception_id, version),) = con.execute(
        "SELECT exception_id, version FROM exceptions"
    ).fetchall()
    return exception_id, version


def _decide_own(
    con: Any, allocations: list[tuple[str, int]], adjustments: list[tuple[str, int, str]]
) -> Any:
    """A payment of what ``allocations`` add up to, sent to the queue and decided so."""
    exception_id, version = _one_exception(con, sum(m for _, m in allocations))
    return resolve_exception(
        con,
        exception_id,
        analyst="jo",
        expected_version=version,
        allocations=allocations,
        adjustments=adjustments,
    )


@pytest.mark.parametrize(
    ("allocations", "adjustments", "booked"),
    [
        # Cash alone: the whole invoice, or part of it (the rest stays open, undisputed).
        ([("INV-1001", 46_000)], [], [("INV-1001", 46_000, 0, "partial", "", 4_000)]),
        # The payer took a deduction, and said why.
        (
            [("INV-1001", 46_000)],
            [("INV-1001", 4_000, "DAMAGED")],
            [("INV-1001", 46_000, 4_000, "short_pay", "DAMAGED", 0)],
        ),
        (
            # Paid in part: the discount is the terms' 2% of what it settles.
            [("INV-1001", 46_000)],
            [("INV-1001", 939, "unearned")],
            [("INV-1001", 46_000, 939, "discount", "unearned", 3_061)],
        ),
        (
            [("INV-1002", 45_000), ("INV-1001", 1_000)],
            [("INV-1001", 2_500, "bank_fee")],
            [
                ("INV-1001", 1_000, 2_500, "write_off", "bank_fee", 46_500),
                ("INV-1002", 45_000, 0, "partial", "", 25_000),
            ],
        ),
        # A memo netted, an invoice the payer paid nothing of but deducted whole, on account.
        (
            [("INV-1001", 50_000), ("CM-1", -5_000), ("INV-1002", 0), ("", 1_000)],
            [("INV-1002", 70_000, "PRICING")],
            [
                ("", 1_000, 0, "on_account", "", None),
                ("CM-1", -5_000, 0, "credit_memo", "", 0),
                ("INV-1001", 50_000, 0, "full", "", 0),
                ("INV-1002", 0, 70_000, "short_pay", "PRICING", 0),
            ],
        ),
    ],
)
def test_an_analyst_books_cash_and_what_the_payer_took_off_each_by_its_kind(
    ledger_con: Any,
    allocations: list[tuple[str, int]],
    adjustments: list[tuple[str, int, str]],
    booked: list[tuple[str, int, int, str, str, int | None]],
) -> None:
    done = _decide_own(ledger_con, allocations, adjustments)
    assert done.adjustments == tuple(adjustments)
    rows = ledger_con.execute(
        "SELECT coalesce(a.invoice_number, ''), a.applied_minor, a.adjustment_minor, a.kind, "
        "a.reason, i.open_minor FROM applications a LEFT JOIN invoices i USING (invoice_number) "
        "ORDER BY 1"
    ).fetchall()
    assert rows == booked
    assert audit.verify(ledger_con).ok


@pytest.mark.parametrize(
    ("allocations", "adjustments", "refused"),
    [
        # Twice 30,000 on an invoice with 50,000 open would take it below zero.
        ([("INV-1001", 30_000), ("INV-1001", 30_000)], [], "allocated more than once"),
        ([("INV-2001", 70_000), ("INV-1001", -10_000)], [], r"cannot settle -100\.00"),
        ([("INV-1001", 50_000), ("", 0)], [], "on account must be more than zero"),
        ([("INV-1001", 40_000)], [("INV-1001", 20_000, "DAMAGED")], r"cannot settle 600\.00"),
        ([("INV-1001", 40_000)], [("INV-1001", 5_000, " ")], "needs a reason"),
        ([("INV-1001", 40_000)], [("INV-1001", 0, "DAMAGED")], "more than zero"),
        ([("INV-1001", 40_000)], [("INV-1002", 5_000, "DAMAGED")], "allocate that invoice too"),
        (
            [("INV-1001", 40_000)],
            [("INV-1001", 5_000, "DAMAGED"), ("INV-1001", 1_000, "FREIGHT")],
            "adjusted more than once",
        ),
        ([("INV-1001", 45_000), ("CM-1", -5_000)], [("CM-1", 100, "x")], "credit memo"),
        # Write-offs within their configured limits, discounts within the invoice's terms.
        ([("INV-1001", 10_000)], [("INV-1001", 40_000, "small_difference")], "above the limit"),
        ([("INV-1001", 40_000)], [("INV-1001", 10_000, "bank_fee")], r"above the limit of 50\.00"),
        # Charges split over invoices count together for the payment.
        (
            [("INV-1001", 46_000), ("INV-1002", 66_000)],
            [("INV-1001", 4_000, "bank_fee"), ("INV-1002", 4_000, "Bank Charge")],
            r"bank_fee write-offs of 80\.00 USD on this payment",
        ),
        # USD is the book's own currency: nothing was converted.
        ([("INV-1001", 49_900)], [("INV-1001", 100, "fx_difference")], "own currency"),
        # A write-off is money that never arrived; cash left on account says otherwise.
        (
            [("INV-1001", 49_000), ("", 500)],
            [("INV-1001", 1_000, "bank_fee")],
            "leaves cash on account",
        ),
        # Paid on 2025-06-02 for an invoice of 2025-05-01 on 2/10 terms: not earned.
        ([("INV-1001", 49_000)], [("INV-1001", 1_000, "earned")], "book it as unearned"),
        ([("INV-1001", 45_000)], [("INV-1001", 5_000, "earned")], r"at most 10\.00"),
        ([("INV-1002", 69_000)], [("INV-1002", 1_000, "unearned")], "no early-payment discount"),
        # A misspelt write-off reason would book a deduction.
        ([("INV-1001", 49_000)], [("INV-1001", 1_000, "bank_fea")], "did you mean bank_fee"),
        # A discount by any name is earned within the terms' days only.
        ([("INV-1001", 49_000)], [("INV-1001", 1_000, "cash discount")], "book it as unearned"),
        # A bank keeps its charge on what the payment pays.
        (
            [("INV-1001", 50_000), ("INV-1002", 0)],
            [("INV-1002", 1_000, "bank_fee")],
            "pays nothing of",
        ),
        # Cash on account beside invoices of two unrelated customers: whose account is it?
        ([("INV-1001", 50_000), ("INV-2001", 90_000), ("", 1_000)], [], "needs the customer"),
        # A deduction on one of C1's invoices frees none of C1's credit for C2's.
        (
            [("INV-2001", 89_999), ("INV-1001", 1), ("CM-1", -5_000)],
            [("INV-1001", 4_999, "DAMAGED")],
            "CM-1 of C1",
        ),
        # C1's credit is not C2's to spend.
        ([("INV-2001", 85_000), ("CM-1", -5_000)], [], "CM-1 of C1"),
        # A token payment on one of C1's invoices does not free its credit for C2's.
        ([("INV-2001", 89_999), ("INV-1001", 1), ("CM-1", -5_000)], [], r"settles 0\.01 USD"),
        # Nor does credit become cash on account.
        ([("CM-1", -5_000), ("", 10_000)], [], "CM-1 of C1"),
    ],
)
def test_an_analyst_decision_that_does_not_hold_is_refused_and_changes_nothing(
    ledger_con: Any,
    allocations: list[tuple[str, int]],
    adjustments: list[tuple[str, int, str]],
    refused: str,
) -> None:
    with pytest.raises(InputError, match=refused):
        _decide_own(ledger_con, allocations, adjustments)
    settled = "SELECT count(*) FROM invoices WHERE open_minor <> amount_minor"
    assert ledger_con.execute(settled).fetchall() == [(0,)]
    assert ledger_con.execute("SELECT count(*) FROM applications").fetchall() == [(0,)]


def test_a_suggestion_that_settles_more_than_the_payment_is_not_applied_as_is(
    ledger_con: Any,
) -> None:
    # 45,000 from an unknown payer, suggested on an invoice of 50,000 with the 5,000 missing
    # shown as negative cash on account (how a proposal that does not add up is shown):
    # applied as it stands, it would clear more than was paid.
    exception_id, version = _one_exception(ledger_con, 45_000)
    short = {
        "rank": 1,
        "customer": "C1",
        "confidence": 0.1,
        "strategy": "subset",
        "allocations": [
            {"invoice": invoice, "applied_minor": minor, "adjustment_minor": 0, "kind": kind,
             "reason": ""}
            for invoice, minor, kind in (("INV-1001", 50_000, "full"), ("", -5_000, "on_account"))
        ],
        "evidence": {},
        "features": {},
    }  # fmt: skip
    ledger_con.execute(
        "UPDATE exceptions SET suggestions = ? WHERE exception_id = ?",
        [json.dumps([short]), exception_id],
    )
    with pytest.raises(InputError, match=r"settles 50\.00 more than the payment"):
        resolve_exception(
            ledger_con, exception_id, analyst="jo", expected_version=version, suggestion=1
        )
    assert ledger_con.execute("SELECT count(*) FROM applications").fetchall() == [(0,)]


@pytest.mark.parametrize(
    ("header", "row", "stated"),
    [
        ("Invoice Number,Amount Paid", "105038,6499.88", False),
        ("Invoice Number,Currency,Amount Paid", "105038,EUR,6499.88", True),
    ],
)
def test_an_advice_that_names_no_currency_is_stored_and_read_back_as_assumed(
    ledger_con: Any, header: str, row: str, stated: bool
) -> None:
    extracted = read_csv_advice(f"{header}\n{row}\n".encode(), source="sheet.csv")
    assert extracted.currency_stated is stated
    records = to_remittance_advices(Extraction(extracted), source="sheet.csv", file_id="F1")
    insert_advices(ledger_con, records)
    (advice,) = load_advices(ledger_con)
    assert (advice.currency, advice.currency_stated) == ("EUR" if stated else "USD", stated)


def test_a_deduction_on_no_invoice_is_kept_and_sends_its_payment_to_an_analyst(
    ledger_con: Any,
) -> None:
    # The EDI 820 pays INV-1001 and INV-1002 in full (1,200.00) less 15.00 freight taken off
    # the whole remittance: 1,185.00 arrives. No invoice bears the 15.00, so nothing is applied.
    from ingest.edi820 import parse_edi820

    _seed(ledger_con)
    segments = [
        "ST*820*0001",
        "BPR*C*1185.00*C*ACH*CTX*01*011000015*DA*123456*1234567890**01*021000021*DA*987654"
        "*20250602",
        "TRN*1*TRACE77*1234567890",
        "N1*PR*ACME WIDGETS INC",
        "ENT*1",
        "ADX*-15.00*54",
        "RMR*IV*INV-1001**500.00*500.00",
        "RMR*IV*INV-1002**700.00*700.00",
    ]
    segments.append(f"SE*{len(segments) + 1}*0001")
    edi = (
        "ISA*00*          *00*          *ZZ*PAYERID        *ZZ*PAYEEID        *250602*1200*U"
        "*00401*000000001*0*P*>~GS*RA*PAYER*PAYEE*20250602*1200*1*X*004010~"
        + "~".join(segments)
        + "~GE*1*1~IEA*1*000000001~"
    )
    insert_advices(ledger_con, parse_edi820(edi.encode(), source="remit.edi"))
    (advice,) = load_advices(ledger_con)
    assert (advice.unassigned_deduction_minor, advice.unassigned_reason) == (
        1_500,
        "freight deduction",
    )
    _payment(ledger_con, "PAY-A", 118_500, "ACME WIDGETS", "", "TRACE77", date(2025, 6, 2))
    summary = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert (summary.applied, summary.exceptions_by_reason) == (0, {"amount_mismatch": 1})
    (evidence,) = ledger_con.execute("SELECT evidence FROM exceptions").fetchone()
    assert json.loads(evidence)["deduction_on_no_invoice"] == [
        {"advice": advice.advice_id, "amount_minor": 1_500, "reason": "freight deduction"}
    ]
    assert ledger_con.execute("SELECT sum(open_minor) FROM invoices").fetchone() == (210_000,)


def _suggest(
    con: Any, exception_id: str, allocations: list[tuple[str, int, int, str, str]]
) -> None:
    """Replace the exception's suggestions with one of ``allocations`` (invoice, cash,
    adjustment, kind, reason)."""
    suggestion = {
        "rank": 1,
        "customer": "C1",
        "confidence": 0.5,
        "strategy": "subset",
        "allocations": [
            {"invoice": n, "applied_minor": m, "adjustment_minor": a, "kind": k, "reason": r}
            for n, m, a, k, r in allocations
        ],
        "evidence": {},
        "features": {},
    }
    con.execute(
        "UPDATE exceptions SET suggestions = ? WHERE exception_id = ?",
        [json.dumps([suggestion]), exception_id],
    )


def test_a_suggestion_and_allocations_of_ones_own_together_are_refused(ledger_con: Any) -> None:
    exception_id, version = _one_exception(ledger_con, 50_000)
    _suggest(ledger_con, exception_id, [("INV-1001", 50_000, 0, "full", "")])
    with pytest.raises(InputError, match="not both"):
        resolve_exception(
            ledger_con,
            exception_id,
            analyst="jo",
            expected_version=version,
            suggestion=1,
            allocations=[("INV-2001", 50_000)],
        )
    assert ledger_con.execute("SELECT count(*) FROM applications").fetchall() == [(0,)]


def test_a_suggestion_whose_invoice_changed_since_is_refused(ledger_con: Any) -> None:
    """Suggested as paid in full at 500.00; the ERP has raised the invoice to 600.00 since:
    booked as suggested, it would be called paid while 100.00 stays open."""
    exception_id, version = _one_exception(ledger_con, 50_000)
    _suggest(ledger_con, exception_id, [("INV-1001", 50_000, 0, "full", "")])
    ledger_con.execute(
        "UPDATE invoices SET amount_minor = 60000, open_minor = 60000 "
        "WHERE invoice_number = 'INV-1001'"
    )
    with pytest.raises(InputError, match="no longer fits INV-1001"):
        resolve_exception(
            ledger_con, exception_id, analyst="jo", expected_version=version, suggestion=1
        )


def test_a_suggestions_deduction_is_in_the_audit_and_the_resolution(ledger_con: Any) -> None:
    exception_id, version = _one_exception(ledger_con, 46_000)
    _suggest(ledger_con, exception_id, [("INV-1001", 46_000, 4_000, "short_pay", "unspecified")])
    done = resolve_exception(
        ledger_con, exception_id, analyst="jo", expected_version=version, suggestion=1
    )
    assert done.adjustments == (("INV-1001", 4_000, "unspecified"),)
    (payload,) = ledger_con.execute(
        "SELECT payload FROM audit_log WHERE action = 'resolve_exception'"
    ).fetchone()
    assert json.loads(payload)["adjustments"] == [["INV-1001", 4000, "unspecified"]]


def test_a_write_off_reason_is_read_in_any_spelling_and_booked_canonically(
    ledger_con: Any,
) -> None:
    done = _decide_own(ledger_con, [("INV-1001", 49_000)], [("INV-1001", 1_000, "Bank-Fee")])
    assert done.adjustments == (("INV-1001", 1_000, "bank_fee"),)
    assert ledger_con.execute("SELECT kind, reason FROM applications").fetchall() == [
        ("write_off", "bank_fee")
    ]


@pytest.mark.parametrize(("parent", "taught"), [(None, ""), ("C1", "C2")])
def test_what_a_decision_for_two_customers_teaches_is_decided_by_their_family(
    ledger_con: Any, parent: str | None, taught: str
) -> None:
    """Unrelated: the payer's account stands for neither. One family: the customer with the
    most invoices, then the most cash (here the subsidiary C2), whatever the process."""
    _, version = _one_exception(ledger_con, 140_000)
    ledger_con.execute("UPDATE customers SET parent_id = ? WHERE customer_id = 'C2'", [parent])
    done = resolve_exception(
        ledger_con,
        "PAY-X",  # the payment's id names its exception too
        analyst="jo",
        expected_version=version,
        allocations=[("INV-1001", 50_000), ("INV-2001", 90_000)],
    )
    assert done.customer_id == taught
    accounts = ledger_con.execute("SELECT customer_id FROM customer_bank_accounts").fetchall()
    assert accounts == ([(taught,)] if taught else [])
    if not taught:
        assert "2 unrelated families" in done.learned[0]


def test_a_queued_payment_is_decided_again_once_an_analyst_teaches_its_payer(
    ledger_con: Any,
) -> None:
    """Two payments from a payer nobody knows wait; the analyst decides the first, which
    teaches its account; the next run decides the second again and applies it, closing its
    exception. A run after that has nothing to decide."""
    _seed(ledger_con)
    _payment(ledger_con, "PAY-1", 50_000, "ZETA TRADING", "Z1", "", date(2025, 6, 2))
    _payment(ledger_con, "PAY-2", 70_000, "ZETA TRADING", "Z1", "", date(2025, 6, 3))
    first = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert (first.applied, first.exceptions) == (0, 2)
    (version,) = ledger_con.execute(
        "SELECT version FROM exceptions WHERE payment_id = 'PAY-1'"
    ).fetchone()
    resolve_exception(
        ledger_con, "PAY-1", analyst="jo", expected_version=version,
        allocations=[("INV-1001", 50_000)],
    )  # fmt: skip
    again = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert (again.reconsidered, again.applied, again.from_queue) == (1, 1, 1)
    assert ledger_con.execute(
        "SELECT invoice_number, applied_minor FROM applications WHERE payment_id = 'PAY-2'"
    ).fetchall() == [("INV-1002", 70_000)]
    status, resolution = ledger_con.execute(
        "SELECT status, resolution FROM exceptions WHERE payment_id = 'PAY-2'"
    ).fetchone()
    assert status == "resolved" and json.loads(resolution)["decided_again"] == again.run_id
    assert audit.verify(ledger_con).ok
    third = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert (third.payments, third.reconsidered) == (0, 0)


def _second_payment_waits(con: Any, second_minor: int, first: str = "PAY-1") -> None:
    """Two payments from a payer nobody knows (500.00, then ``second_minor``) sent to the
    queue, and the first decided by an analyst (named ``first``), which teaches its account."""
    _seed(con)
    _payment(con, "PAY-1", 50_000, "ZETA TRADING", "Z1", "", date(2025, 6, 2))
    _payment(con, "PAY-2", second_minor, "ZETA TRADING", "Z1", "", date(2025, 6, 3))
    match_ledger(con, RuleScorer(), MatchSettings())
    resolve_exception(
        con, first, analyst="jo", expected_version=1, allocations=[("INV-1001", 50_000)]
    )


def test_a_queued_payment_that_still_cannot_be_decided_shows_what_the_run_found_once(
    ledger_con: Any,
) -> None:
    """Learnt since, the payer of 123.45 is known, and none of its invoices fits: the queue
    says so now (a new version: a decision on what the analyst saw before is stale), and the
    next run leaves it be."""
    _second_payment_waits(ledger_con, 12_345, "pay-1")  # an analyst may type it so
    again = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert (again.reconsidered, again.applied, again.payments) == (1, 0, 0)
    assert ledger_con.execute(
        "SELECT status, reason, version FROM exceptions WHERE payment_id = 'PAY-2'"
    ).fetchall() == [("open", "no_candidate", 2)]
    assert ledger_con.execute(
        "SELECT count(*) FROM audit_log WHERE action = 'decide_again'"
    ).fetchall() == [(1,)]
    assert audit.verify(ledger_con).ok
    assert match_ledger(ledger_con, RuleScorer(), MatchSettings()).reconsidered == 0


def test_the_queue_says_when_a_suggestion_no_longer_fits(ledger_con: Any) -> None:
    from pipelines.match import exception_queue

    exception_id, _ = _one_exception(ledger_con, 50_000)
    _suggest(ledger_con, exception_id, [("INV-1001", 50_000, 0, "full", "")])
    (item,) = exception_queue(ledger_con)
    assert item["exception_id"] == exception_id and item["suggestions"][0]["still_fits"]
    # Another payment has paid part of the invoice since.
    ledger_con.execute("UPDATE invoices SET open_minor = 20000 WHERE invoice_number = 'INV-1001'")
    (item,) = exception_queue(ledger_con)
    assert not item["suggestions"][0]["still_fits"]


@pytest.mark.parametrize(
    ("allocations", "adjustments", "booked"),
    [
        # Any reason that is no write-off or discount reason is the payer's deduction.
        ([("INV-1001", 49_000)], [("INV-1001", 1_000, "TAX DIFFERENCE")], ("short_pay", "TAX DIFFERENCE")),
        ([("INV-1001", 49_000)], [("INV-1001", 1_000, "LEARNED")], ("short_pay", "LEARNED")),
        # The usual ways of writing a bank charge.
        ([("INV-1001", 49_000)], [("INV-1001", 1_000, "WIRE FEE")], ("write_off", "bank_fee")),
        ([("INV-1001", 49_000)], [("INV-1001", 1_000, "bank charges")], ("write_off", "bank_fee")),
    ],
)  # fmt: skip
def test_an_analysts_reason_is_booked_as_the_trade_writes_it(
    ledger_con: Any,
    allocations: list[tuple[str, int]],
    adjustments: list[tuple[str, int, str]],
    booked: tuple[str, str],
) -> None:
    _decide_own(ledger_con, allocations, adjustments)
    assert ledger_con.execute(
        "SELECT kind, reason FROM applications WHERE invoice_number = 'INV-1001'"
    ).fetchall() == [booked]


def test_a_discount_already_taken_on_an_invoice_leaves_only_the_rest(ledger_con: Any) -> None:
    """2/10 on 500.00 gives 10.00: a first payment took 8.00 of it, so 2.00 are left."""
    exception_id, version = _one_exception(ledger_con, 20_000)
    ledger_con.execute(
        "INSERT INTO applications (application_id, payment_id, invoice_number, currency, "
        "applied_minor, adjustment_minor, kind, reason, method, confidence, model_version, "
        "evidence, decided_by, decided_at, reversed_at, run_id) VALUES ('APP-0', 'PAY-0', "
        "'INV-1001', 'USD', 29200, 800, 'discount', 'unearned', 'analyst', 1.0, '', '{}', 'jo', "
        "?, NULL, '')",
        [utcnow()],
    )
    ledger_con.execute("UPDATE invoices SET open_minor = 20000 WHERE invoice_number = 'INV-1001'")
    with pytest.raises(InputError, match=r"at most 2\.00 USD"):
        resolve_exception(
            ledger_con, exception_id, analyst="jo", expected_version=version,
            allocations=[("INV-1001", 19_000), ("", 1_000)],
            adjustments=[("INV-1001", 1_000, "unearned")],
        )  # fmt: skip


def test_a_queued_payment_decided_again_comes_after_a_new_one_naming_its_invoice(
    ledger_con: Any,
) -> None:
    """The queued 700.00 from Zeta (no remittance) would fit INV-1002; Acme's new 700.00
    names it. The new payment keeps its invoice."""
    _second_payment_waits(ledger_con, 70_000)
    _payment(ledger_con, "PAY-3", 70_000, "ACME WIDGETS INC", "A1", "INV-1002", date(2025, 6, 9))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert ledger_con.execute(
        "SELECT payment_id FROM applications WHERE invoice_number = 'INV-1002'"
    ).fetchall() == [("PAY-3",)]


def test_a_queued_payment_an_unlinked_return_names_is_not_decided_again(ledger_con: Any) -> None:
    _second_payment_waits(ledger_con, 70_000)
    ledger_con.execute(
        "INSERT INTO exceptions VALUES ('EXC-R', 'PAY-R', 'unlinked_return', '[]', 'open', '', 1, "
        "NULL, ?, ?, '', ?)",
        [utcnow(), utcnow(), json.dumps({"candidates": ["PAY-2"]})],
    )
    assert match_ledger(ledger_con, RuleScorer(), MatchSettings()).reconsidered == 0


def test_cash_put_on_account_with_no_invoice_names_whose_account_it_is_on(ledger_con: Any) -> None:
    exception_id, version = _one_exception(ledger_con, 10_000)
    with pytest.raises(InputError, match="needs the customer whose account"):
        resolve_exception(
            ledger_con, exception_id, analyst="jo", expected_version=version,
            allocations=[("", 10_000)],
        )  # fmt: skip
    with pytest.raises(InputError, match="no customer C9"):
        resolve_exception(
            ledger_con, exception_id, analyst="jo", expected_version=version,
            allocations=[("", 10_000)], customer="C9",
        )  # fmt: skip
    done = resolve_exception(
        ledger_con, exception_id, analyst="jo", expected_version=version,
        allocations=[("", 10_000)], customer="c2",
    )  # fmt: skip
    assert done.customer_id == "C2"
    (evidence,) = ledger_con.execute("SELECT evidence FROM applications").fetchone()
    assert json.loads(evidence)["customer"] == "C2"
    from pipelines.match import export_rows

    (row,) = export_rows(ledger_con, "applications", posting=True)
    assert (row["kind"], row["customer_id"], row["adjustment_amount"]) == (
        "on_account",
        "C2",
        "0.00",
    )
    assert [c.customer_id for c in load_payers(ledger_con).by_account("X9")] == ["C2"]


def test_a_customer_named_beside_invoices_is_of_their_group(ledger_con: Any) -> None:
    exception_id, version = _one_exception(ledger_con, 60_000)
    with pytest.raises(InputError, match="of none of the groups"):
        resolve_exception(
            ledger_con, exception_id, analyst="jo", expected_version=version,
            allocations=[("INV-1001", 50_000), ("", 10_000)], customer="C2",
        )  # fmt: skip


def test_the_queue_names_the_payment_a_suspected_duplicate_repeats(ledger_con: Any) -> None:
    from pipelines.match import exception_queue

    _seed(ledger_con)
    for pid in ("PAY-A", "PAY-B"):
        _payment(ledger_con, pid, 90_000, "BOREALIS GMBH", "B1", "INV-2001", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    (item,) = exception_queue(ledger_con)
    assert (item["payment_id"], item["reason"]) == ("PAY-B", "suspected_duplicate")
    assert item["why"] == {"duplicate_of": "PAY-A"}

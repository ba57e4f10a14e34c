"""An application taken back by an analyst, against a real ledger file: what it settled is open
again, what it taught is forgotten, the payment waits for an analyst and only an analyst
applies it again; the export carries the reversal for the ERP."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from ledger import audit
from ledger.db import utcnow
from ledger.errors import InputError
from ledger.money import format_amount, parse_amount
from matching.reversals import unapply_payment
from matching.scoring import RuleScorer
from matching.settings import MatchSettings
from matching.store import ledger_labels, load_payers, match_ledger, resolve_exception
from pipelines.match import exception_queue, export_rows
from tests.unit.test_match_store import _payment, _seed

ACCOUNT = "DE44500105175407324931"


def _open(con: Any, number: str) -> int:
    return con.execute(
        "SELECT open_minor FROM invoices WHERE invoice_number = ?", [number]
    ).fetchall()[0][0]


def _status(con: Any, payment_id: str) -> str:
    return con.execute("SELECT status FROM payments WHERE payment_id = ?", [payment_id]).fetchall()[
        0
    ][0]


def _two_payments_from_one_account(con: Any) -> None:
    """PAY-1 names INV-1001 and teaches ACCOUNT; PAY-2, a week on from ACCOUNT, names INV-1002."""
    _seed(con)
    _payment(con, "PAY-1", 50_000, "ACME WIDGETS", ACCOUNT, "INV-1001", date(2025, 6, 2))
    match_ledger(con, RuleScorer(), MatchSettings())
    _payment(con, "PAY-2", 70_000, "", ACCOUNT, "INV-1002", date(2025, 6, 9))
    match_ledger(con, RuleScorer(), MatchSettings())


def test_a_payment_the_engine_applied_is_unapplied_and_waits_for_an_analyst(
    ledger_con: Any,
) -> None:
    _seed(ledger_con)
    _payment(ledger_con, "PAY-A", 50_000, "ACME WIDGETS", ACCOUNT, "INV-1001", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert _status(ledger_con, "PAY-A") == "applied"
    assert [c.customer_id for c in load_payers(ledger_con).by_account(ACCOUNT)] == ["C1"]

    done = unapply_payment(
        ledger_con, "pay-a", analyst="jo", reason="customer says it paid INV-1002"
    )
    assert done.reversed == (("INV-1001", 50_000, 0, "full"),)
    assert done.reopened == (("INV-1001", 50_000),)
    assert done.forgotten == (f"bank account {ACCOUNT!r} -> C1",)
    assert _open(ledger_con, "INV-1001") == 50_000
    assert _status(ledger_con, "PAY-A") == "exception"
    assert load_payers(ledger_con).by_account(ACCOUNT) == []
    (item,) = exception_queue(ledger_con)
    assert (item["exception_id"], item["reason"], item["version"]) == (
        done.exception_id,
        "reversed",
        1,
    )
    assert item["why"]["reversed"]["allocations"] == [["INV-1001", "500.00", "0.00", "full"]]
    assert item["why"]["reversed"]["reason"] == "customer says it paid INV-1002"

    # The engine never takes it back from the queue, even once its payer is taught again.
    _payment(ledger_con, "PAY-B", 90_000, "BOREALIS", "", "INV-2001", date(2025, 6, 3))
    again = match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert again.reconsidered == 0
    assert _status(ledger_con, "PAY-A") == "exception"
    assert _open(ledger_con, "INV-1001") == 50_000

    rows = [
        r
        for r in export_rows(ledger_con, "applications", posting=True)
        if r["payment_id"] == "PAY-A"
    ]
    assert [(r["invoice_number"], r["applied_amount"], r["kind"], r["method"]) for r in rows] == [
        ("INV-1001", "500.00", "full", "rule"),
        ("INV-1001", "-500.00", "reversal", "analyst"),
    ]
    assert rows[1]["reason"] == "customer says it paid INV-1002"
    assert rows[1]["customer_id"] == "C1"

    resolved = resolve_exception(
        ledger_con,
        "PAY-A",
        analyst="jo",
        expected_version=1,
        allocations=[("INV-1002", 50_000)],
    )
    assert resolved.customer_id == "C1"
    assert _open(ledger_con, "INV-1002") == 20_000
    assert _open(ledger_con, "INV-1001") == 50_000
    assert audit.verify(ledger_con).ok
    (entry,) = [
        json.loads(p)
        for (p,) in ledger_con.execute(
            "SELECT payload FROM audit_log WHERE action = 'unapply_payment'"
        ).fetchall()
    ]
    assert entry["reopened"] == {"INV-1001": 50_000}
    assert entry["methods"] == ["rule"]


def test_an_analysts_decision_is_unapplied_and_what_it_taught_forgotten(
    ledger_con: Any,
) -> None:
    _seed(ledger_con)
    _payment(ledger_con, "PAY-B", 90_000, "BX HOLDING TREASURY", ACCOUNT, "", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    ((exception_id, version, suggestions),) = ledger_con.execute(
        "SELECT exception_id, version, suggestions FROM exceptions"
    ).fetchall()
    assert json.loads(suggestions), "the engine suggests the invoice of that amount"
    # The analyst picks the wrong customer's invoice, settled with a deduction.
    resolve_exception(
        ledger_con,
        exception_id,
        analyst="jo",
        expected_version=version,
        allocations=[("INV-1002", 60_000), ("INV-1001", 30_000)],
        adjustments=[("INV-1002", 10_000, "DAMAGED")],
    )
    assert (_open(ledger_con, "INV-1002"), _open(ledger_con, "INV-1001")) == (0, 20_000)
    assert ledger_labels(ledger_con)
    taught = load_payers(ledger_con)
    assert [c.customer_id for c in taught.by_account(ACCOUNT)] == ["C1"]
    assert [c.customer_id for c in taught.by_name("BX HOLDING TREASURY")] == ["C1"]

    done = unapply_payment(ledger_con, "PAY-B", analyst="sam", reason="wrong customer")
    assert (_open(ledger_con, "INV-1002"), _open(ledger_con, "INV-1001")) == (70_000, 50_000)
    assert sorted(done.forgotten) == [
        f"bank account {ACCOUNT!r} -> C1",
        "payer name 'BX HOLDING TREASURY' -> C1",
    ]
    forgot = load_payers(ledger_con)
    assert forgot.by_account(ACCOUNT) == []
    assert forgot.by_name("BX HOLDING TREASURY") == []
    # The decision no longer teaches the scorer; the exception is open again, a version on.
    assert ledger_labels(ledger_con) == []
    (item,) = exception_queue(ledger_con)
    assert (item["exception_id"], item["version"], item["reason"]) == (
        exception_id,
        version + 2,
        "reversed",
    )
    assert item["why"]["reversed"]["decided_by"] == ["jo"]
    assert [s["rank"] for s in item["suggestions"]] == list(range(1, len(item["suggestions"]) + 1))

    resolve_exception(
        ledger_con,
        exception_id,
        analyst="sam",
        expected_version=version + 2,
        allocations=[("INV-2001", 90_000)],
    )
    assert [c.customer_id for c in load_payers(ledger_con).by_account(ACCOUNT)] == ["C2"]
    assert _open(ledger_con, "INV-2001") == 0
    assert audit.verify(ledger_con).ok


def test_a_link_another_payment_backs_is_kept_and_later_payments_are_named(
    ledger_con: Any,
) -> None:
    _two_payments_from_one_account(ledger_con)
    assert _status(ledger_con, "PAY-2") == "applied"

    later = unapply_payment(ledger_con, "PAY-2", analyst="jo", reason="review")
    assert later.forgotten == ()  # PAY-1, applied before it, says the account is C1's
    assert [c.customer_id for c in load_payers(ledger_con).by_account(ACCOUNT)] == ["C1"]

    first = unapply_payment(ledger_con, "PAY-1", analyst="jo", reason="review")
    assert first.forgotten == (f"bank account {ACCOUNT!r} -> C1",)
    assert first.applied_since == ()  # PAY-2 is unapplied already


def test_later_payments_from_the_account_are_named_for_checking(ledger_con: Any) -> None:
    _two_payments_from_one_account(ledger_con)
    done = unapply_payment(ledger_con, "PAY-1", analyst="jo", reason="review")
    assert done.applied_since == ("PAY-2",)


def test_only_an_applied_payment_is_unapplied_and_a_refusal_changes_nothing(
    ledger_con: Any,
) -> None:
    _seed(ledger_con)
    _payment(ledger_con, "PAY-Q", 12_345, "NOBODY WE KNOW", "X1", "", date(2025, 6, 2))
    _payment(ledger_con, "PAY-A", 50_000, "ACME WIDGETS", ACCOUNT, "INV-1001", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    entries = ledger_con.execute("SELECT count(*) FROM audit_log").fetchall()
    with pytest.raises(InputError, match="waits in the exception queue"):
        unapply_payment(ledger_con, "PAY-Q", analyst="jo", reason="x")
    with pytest.raises(InputError, match="no payment PAY-NONE"):
        unapply_payment(ledger_con, "PAY-NONE", analyst="jo", reason="x")
    with pytest.raises(InputError, match="--reason"):
        unapply_payment(ledger_con, "PAY-A", analyst="jo", reason="  ")
    with pytest.raises(InputError, match="analyst's name"):
        unapply_payment(ledger_con, "PAY-A", analyst="", reason="x")
    unapply_payment(ledger_con, "PAY-A", analyst="jo", reason="x")
    with pytest.raises(InputError, match="status is 'exception'"):
        unapply_payment(ledger_con, "PAY-A", analyst="jo", reason="x")
    assert ledger_con.execute("SELECT count(*) FROM audit_log").fetchall()[0][0] == (
        entries[0][0] + 1
    )
    assert _open(ledger_con, "INV-1001") == 50_000


def test_the_suggestion_taken_back_is_not_suggested_again(ledger_con: Any) -> None:
    _seed(ledger_con)
    _payment(ledger_con, "PAY-S", 90_000, "BX HOLDING TREASURY", ACCOUNT, "", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    ((exception_id, version, suggestions),) = ledger_con.execute(
        "SELECT exception_id, version, suggestions FROM exceptions"
    ).fetchall()
    first = json.loads(suggestions)[0]["allocations"]
    resolve_exception(
        ledger_con, exception_id, analyst="jo", expected_version=version, suggestion=1
    )
    unapply_payment(ledger_con, "PAY-S", analyst="jo", reason="wrong invoice")
    (item,) = exception_queue(ledger_con)
    offered = [
        [(a["invoice_number"], a["applied_amount"]) for a in s["allocations"]]
        for s in item["suggestions"]
    ]
    taken_back = [(a["invoice"], format_amount(int(a["applied_minor"]), "USD")) for a in first]
    assert taken_back not in offered
    assert len(offered) == len(json.loads(suggestions)) - 1


def test_a_link_taught_to_the_parent_who_paid_is_forgotten_too(ledger_con: Any) -> None:
    _seed(ledger_con)
    now = utcnow()
    ledger_con.execute(
        "INSERT INTO customers VALUES ('P', 'Parent Holding', NULL, ?, ?)", [now, now]
    )
    ledger_con.execute("UPDATE customers SET parent_id = 'P' WHERE customer_id = 'C2'")
    _payment(ledger_con, "PAY-X", 90_000, "SOME TREASURY SVC", ACCOUNT, "", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    ((version,),) = ledger_con.execute("SELECT version FROM exceptions").fetchall()
    done = resolve_exception(
        ledger_con,
        "PAY-X",
        analyst="jo",
        expected_version=version,
        allocations=[("INV-2001", 90_000)],
        customer="P",
    )
    taught = load_payers(ledger_con).by_account(ACCOUNT)
    assert [c.customer_id for c in taught] == [done.customer_id]
    unapplied = unapply_payment(ledger_con, "PAY-X", analyst="jo", reason="wrong group")
    assert load_payers(ledger_con).by_account(ACCOUNT) == []
    assert load_payers(ledger_con).by_name("SOME TREASURY SVC") == []
    assert len(unapplied.forgotten) == 2


def test_what_the_queue_showed_before_stays_and_the_links_that_stand_are_named(
    ledger_con: Any,
) -> None:
    _two_payments_from_one_account(ledger_con)
    # PAY-2 had been held as a suspected duplicate once; its exception said of what.
    ledger_con.execute(
        "INSERT INTO exceptions VALUES ('EXC-2', 'PAY-2', 'suspected_duplicate', '[]', "
        "'resolved', 'jo', 2, '{}', ?, ?, '', '{\"duplicate_of\": \"PAY-1\"}')",
        [utcnow(), utcnow()],
    )
    done = unapply_payment(ledger_con, "exc-2", analyst="kim", reason="review")
    assert done.payment_id == "PAY-2"
    assert done.still_linked == (
        f"bank account {ACCOUNT!r} -> C1 (payments PAY-1 applied there too)",
    )
    (item,) = exception_queue(ledger_con)
    assert item["why"]["duplicate_of"] == "PAY-1" and item["reason"] == "reversed"
    with pytest.raises(InputError, match="name the payment"):
        unapply_payment(ledger_con, " ", analyst="kim", reason="x")


def test_payments_applied_on_a_taught_name_are_named_for_checking(ledger_con: Any) -> None:
    _seed(ledger_con)
    _payment(ledger_con, "PAY-N", 90_000, "BX HOLDING TREASURY", "", "", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    ((version,),) = ledger_con.execute("SELECT version FROM exceptions").fetchall()
    resolve_exception(
        ledger_con, "PAY-N", analyst="jo", expected_version=version,
        allocations=[("INV-1002", 70_000), ("INV-1001", 20_000)],
    )  # fmt: skip
    _payment(ledger_con, "PAY-M", 30_000, "BX HOLDING TREASURY", "", "INV-1001", date(2025, 6, 9))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert _status(ledger_con, "PAY-M") == "applied"
    done = unapply_payment(ledger_con, "PAY-N", analyst="jo", reason="wrong customer")
    assert done.applied_since == ("PAY-M",)


def test_a_payment_part_of_which_was_returned_is_applied_again_with_what_is_left(
    ledger_con: Any,
) -> None:
    from matching.returns import link_by_analyst
    from tests.unit.test_returns import _return

    _seed(ledger_con)
    _payment(
        ledger_con, "PAY-L", 120_000, "ACME WIDGETS", "", "INV-1001 INV-1002", date(2025, 6, 2)
    )
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    _return(ledger_con, "PAY-R", -50_000, "DEPOSITED ITEM RETURNED", date(2025, 6, 5))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    link_by_analyst(ledger_con, "PAY-R", "PAY-L", "ana", utcnow(), ["INV-1001"])
    unapply_payment(
        ledger_con,
        "PAY-L",
        analyst="ana",
        reason="INV-1002 was not this payment",
        scorer=RuleScorer(),
    )
    (item,) = [i for i in exception_queue(ledger_con) if i["payment_id"] == "PAY-L"]
    assert (item["amount"], item["why"]["returned_in_part"]) == ("700.00", "500.00")
    for suggestion in item["suggestions"]:  # on the 700.00 left, never the 1,200.00 received
        assert (
            sum(parse_amount(a["applied_amount"], "USD") for a in suggestion["allocations"])
            == 70_000
        )
    ((version,),) = ledger_con.execute(
        "SELECT version FROM exceptions WHERE payment_id = 'PAY-L'"
    ).fetchall()
    with pytest.raises(
        InputError, match=r"payment is 700\.00 USD \(1200\.00 received, 500\.00 of it returned\)"
    ):
        resolve_exception(
            ledger_con, "PAY-L", analyst="ana", expected_version=version,
            allocations=[("INV-1001", 50_000), ("INV-1002", 70_000)],
        )  # fmt: skip
    resolve_exception(
        ledger_con, "PAY-L", analyst="ana", expected_version=version,
        allocations=[("", 70_000)], customer="C1",
    )  # fmt: skip
    assert (_open(ledger_con, "INV-1001"), _open(ledger_con, "INV-1002")) == (50_000, 70_000)
    assert audit.verify(ledger_con).ok


def test_with_a_scorer_the_queue_suggests_what_the_engine_finds_now_but_what_was_taken_back(
    ledger_con: Any,
) -> None:
    _seed(ledger_con)
    _payment(ledger_con, "PAY-A", 50_000, "ACME WIDGETS", ACCOUNT, "", date(2025, 6, 2))
    match_ledger(ledger_con, RuleScorer(), MatchSettings())
    assert _status(ledger_con, "PAY-A") == "applied"
    # The customer says it paid an invoice billed since, of the same amount.
    now = utcnow()
    ledger_con.execute(
        "INSERT INTO invoices VALUES ('INV-1004', 'C1', 'invoice', DATE '2025-05-20', "
        "DATE '2025-06-19', 'USD', 50000, 50000, 'NET30', '', NULL, ?, 50000)",
        [now],
    )
    unapply_payment(ledger_con, "PAY-A", analyst="jo", reason="paid INV-1004", scorer=RuleScorer())
    (item,) = exception_queue(ledger_con)
    offered = [[a["invoice_number"] for a in s["allocations"]] for s in item["suggestions"]]
    assert ["INV-1004"] in offered and ["INV-1001"] not in offered
    assert item["suggestions"][0]["rank"] == 1
    assert _status(ledger_con, "PAY-A") == "exception"
    assert _open(ledger_con, "INV-1004") == 50_000

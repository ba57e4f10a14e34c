"""How the benchmark scores a world: held duplicates and the suggestions of exceptions."""

from __future__ import annotations

from matching.model import Allocation, ApplicationKind, Proposal
from pipelines.worlds import Scorecard, TruePayment

INVOICE = "INV-1"


def _true(payment_id: str, duplicate_of: str = "") -> TruePayment:
    return TruePayment(
        payment_id=payment_id,
        customer_id="C1",
        amount_minor=10_000,
        tags=frozenset({"duplicate"} if duplicate_of else set()),
        allocations=((INVOICE, 10_000),),
        duplicate_of=duplicate_of,
    )


def _proposal(minor: int) -> Proposal:
    allocation = Allocation(INVOICE, minor, 0, ApplicationKind.FULL)
    return Proposal(customer_id="C1", allocations=(allocation,), strategy="references")


def test_a_held_duplicate_is_counted_held_and_not_as_an_exception_without_its_answer() -> None:
    card = Scorecard()
    card.add(_true("P1"), None, [_proposal(10_000)], {INVOICE: "C1"})
    card.add(_true("P2"), None, [_proposal(9_000)], {INVOICE: "C1"})
    card.add(_true("P3", duplicate_of="P1"), None, [_proposal(10_000)], {INVOICE: "C1"})
    figures = card.figures()
    assert figures["exceptions_per_1000"] == 1000.0
    assert figures["suggestion_hit_rate"] == 0.5  # P1 yes, P2 no; the duplicate is not asked
    assert figures["duplicates_held"] == 1.0


def test_an_applied_duplicate_is_neither_held_nor_right() -> None:
    card = Scorecard()
    card.add(_true("P3", duplicate_of="P1"), _proposal(10_000), [], {INVOICE: "C1"})
    figures = card.figures()
    assert figures["duplicates_held"] == 0.0
    assert figures["precision"] == 0.0

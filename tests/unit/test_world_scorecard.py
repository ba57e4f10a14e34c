"""How the benchmark scores a world: held duplicates, the suggestions of exceptions, charges."""

from __future__ import annotations

import pytest

from matching.model import Allocation, ApplicationKind, Proposal
from pipelines.worlds import Scorecard, TruePayment, proposal_is_right, truth_in_roles

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


def test_the_copy_applied_while_its_original_waits_takes_the_original_role() -> None:
    truth = {"P1": _true("P1"), "P3": _true("P3", duplicate_of="P1")}
    links = {"L1": "P1", "L3": "P3"}
    swapped = truth_in_roles([("L1", None, []), ("L3", _proposal(10_000), [])], links, truth)
    assert not swapped["P3"].duplicate_of and swapped["P3"].payment_id == "P3"
    assert swapped["P1"].duplicate_of  # the original is now the copy to hold
    # Both applied, or the original applied: the truth stands as it is.
    for decisions in (
        [("L1", _proposal(10_000), []), ("L3", _proposal(10_000), [])],
        [("L1", _proposal(10_000), []), ("L3", None, [])],
    ):
        assert truth_in_roles(decisions, links, truth) == truth


def _charged(tags: set[str]) -> TruePayment:
    # Two invoices of 1,000.00 and 500.00 paid less a 25.00 bank charge, written off on INV-1.
    return TruePayment(
        payment_id="P9",
        customer_id="C1",
        amount_minor=147_500,
        tags=frozenset(tags),
        allocations=(("INV-1", 97_500), ("INV-2", 50_000)),
        cleared=(("INV-1", 100_000), ("INV-2", 50_000)),
        written_off=(("bank_fee", 2_500),),
    )


def _two(first: Allocation, second: Allocation) -> Proposal:
    return Proposal(customer_id="C1", allocations=(first, second), strategy="subset")


FULL_1 = Allocation("INV-1", 100_000, 0, ApplicationKind.FULL)


@pytest.mark.parametrize(
    ("tags", "second", "right"),
    [
        # The charge on the other invoice: both cleared, the same written off to the same reason.
        (
            {"bank_fee"},
            Allocation("INV-2", 47_500, 2_500, ApplicationKind.WRITE_OFF, "bank_fee"),
            True,
        ),
        # The same amount as a deduction is not a bank charge.
        (
            {"bank_fee"},
            Allocation("INV-2", 47_500, 2_500, ApplicationKind.SHORT_PAY, "unspecified"),
            False,
        ),
        # The other invoice left partly open.
        ({"bank_fee"}, Allocation("INV-2", 47_500, 0, ApplicationKind.PARTIAL), False),
        # Without a charge in the payment, cash on other invoices is another application.
        (set(), Allocation("INV-2", 47_500, 2_500, ApplicationKind.WRITE_OFF, "bank_fee"), False),
    ],
)
def test_which_invoice_carries_a_bank_charge_does_not_make_an_application_wrong(
    tags: set[str], second: Allocation, right: bool
) -> None:
    assert proposal_is_right(_two(FULL_1, second), _charged(tags)) is right


def test_worlds_pooled_count_every_payment_of_each() -> None:
    first, second = Scorecard(), Scorecard()
    first.add(_true("P1"), _proposal(10_000), [], {INVOICE: "C1"})
    second.add(_true("P2"), _proposal(9_000), [], {INVOICE: "C1"})
    second.add(_true("P3"), None, [_proposal(10_000)], {INVOICE: "C1"})
    first.merge(second)
    figures = first.figures()
    assert (first.payments, first.invoices, first.applied) == (3, 3, 2)
    assert figures["precision"] == 0.5  # P1 right, P2 wrong
    assert figures["invoice_hit_rate"] == pytest.approx(1 / 3)
    assert figures["suggestion_hit_rate"] == 1.0  # P3's suggestion is its answer
    assert second.payments == 2  # the other card is left as it was

"""Who paid: payer names found in the free text banks write."""

from __future__ import annotations

import pytest

from matching.payers import PayerIndex

INDEX = PayerIndex(
    [
        ("C1", "Polar Marine Works LLC", None),
        ("C2", "Helix Plastics Enterprises Co", None),
        ("C3", "Atlas Outfitters Products L.P.", None),
        ("C4", "Summit Glass Group", None),
        ("C5", "Polar Marine Supply", None),
    ]
)


@pytest.mark.parametrize(
    ("text", "customer"),
    [
        ("POLAR MARINE WORKS PAYMENT POLAR MARINE WORKS LLC", "C1"),
        ("HELIX PLASTICS ENT PAYMENT HELIX PLASTICS ENTERPRISES CO", "C2"),
        ("ATLAS OUTFITTERS P PAYMENT Atlas Outfitters Products L.P.", "C3"),
        ("ACH CREDIT SUMMIT GLASS GRO PAYMENT", "C4"),
        ("PMT INV-100231 SUMMIT GLASS GROUP", "C4"),
    ],
)
def test_a_name_written_around_boilerplate_is_found(text: str, customer: str) -> None:
    found = INDEX.in_text(text)
    assert found and found[0].customer_id == customer
    assert found[0].score < 1.0  # read from free text: never as sure as a named payer


@pytest.mark.parametrize("text", ["COUPA PAY", "ACH CREDIT BILL.COM", "PAYMENT 4711", ""])
def test_text_that_names_no_customer_finds_nobody(text: str) -> None:
    assert INDEX.in_text(text) == []


def test_a_prefix_two_customers_share_is_at_most_a_weak_fuzzy_guess() -> None:
    found = INDEX.in_text("ACH CREDIT POLAR MARINE")
    assert all(c.source == "fuzzy_name" and c.score < 0.8 for c in found)


def test_customers_a_name_stands_for_equally_come_in_customer_order() -> None:
    # Six customers share one name; a misspelt payer name is as close to each. Their order
    # must not depend on the run's string hashing: it decides which of two equally scored
    # proposals ranks first, and so what a run applies.
    twins = [(f"C{n}", "Northwind Harbour Traders Ltd", None) for n in (17, 3, 42, 8, 25, 11)]
    index = PayerIndex(twins)
    found = index.by_name("NORTHWIND HARBOR TRADERS")
    assert [c.customer_id for c in found] == ["C11", "C17", "C25", "C3", "C42", "C8"]
    assert len({c.score for c in found}) == 1
    text = index.in_text("PAYMENT NORTHWIND HARBOR TRADERS")
    assert [c.customer_id for c in text] == ["C11", "C17", "C25", "C3", "C42", "C8"]


FAMILY = [
    ("P1", "Granite Holdings Inc", None),
    ("P1-A", "Granite Retail Supply Inc", "P1"),
    ("X9", "Nova Dental Distribution Co", None),
]


def test_a_name_learnt_for_customers_of_two_families_identifies_no_one() -> None:
    # A payment platform pays for many customers: once its name has been learnt for two that
    # are not related, it is an intermediary's name, not a payer's.
    index = PayerIndex(FAMILY, aliases=[("P1-A", "BILL.COM"), ("X9", "Bill.com")])
    assert index.by_name("BILL.COM") == []
    assert index.in_text("ACH CREDIT BILL.COM") == []
    assert [c.customer_id for c in index.in_text("NOVA DENTAL DIST PAYMENT BILL.COM")] == ["X9"]


def test_a_name_learnt_for_one_family_still_finds_it() -> None:
    index = PayerIndex(FAMILY, aliases=[("P1", "GRANITE GROUP AP"), ("P1-A", "Granite Group AP")])
    assert [c.customer_id for c in index.by_name("GRANITE GROUP AP")] == ["P1", "P1-A"]
    alone = PayerIndex(FAMILY, aliases=[("X9", "NDD TREASURY")])
    assert [(c.customer_id, c.source) for c in alone.by_name("ndd treasury")] == [("X9", "alias")]


def test_an_account_that_paid_for_customers_of_two_families_is_no_evidence() -> None:
    shared = PayerIndex(FAMILY, accounts=[("DE45 7853 0549", "P1-A"), ("DE4578530549", "X9")])
    assert shared.by_account("DE45785305 49") == []
    assert shared.intermediary("", "DE45785305 49") == {"payer_account": "DE45785305 49"}
    family = PayerIndex(FAMILY, accounts=[("DE4578530549", "P1"), ("DE4578530549", "P1-A")])
    assert [c.customer_id for c in family.by_account("DE4578530549")] == ["P1", "P1-A"]
    assert family.intermediary("Granite Holdings", "DE4578530549") == {}
    learning = PayerIndex(FAMILY, accounts=[("4400012345", "X9")])
    assert [c.customer_id for c in learning.by_account("4400012345")] == ["X9"]
    learning.learn_account("4400012345", "P1")  # an application in this run
    assert learning.by_account("4400012345") == []


def test_a_name_cut_where_two_customers_share_it_stands_for_both_equally() -> None:
    index = PayerIndex([("C2", "Acme Tools Inc", None), ("C3", "Acme Tooling LLC", None)])
    found = index.by_name("ACME TOOL")
    assert [c.customer_id for c in found] == ["C2", "C3"]
    assert len({c.score for c in found}) == 1 and found[0].score < 0.95


def test_a_family_is_the_whole_group_however_many_levels_down() -> None:
    """A subsidiary's subsidiary pays and is paid for like any member of its group; a loop in
    the hierarchy ends where it comes back."""
    index = PayerIndex(
        [
            ("P1", "Parent Holdings", None),
            ("S1", "Sub One", "P1"),
            ("G1", "Grandchild", "S1"),
            ("S2", "Sub Two", "P1"),
            ("X", "Stranger", None),
            ("A", "Loop A", "B"),
            ("B", "Loop B", "A"),
        ]
    )
    group = {"P1", "S1", "G1", "S2"}
    assert all(index.family(c) == group for c in group)
    assert index.family("X") == {"X"}
    assert index.family("A") == {"A", "B"}

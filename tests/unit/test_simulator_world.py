"""The simulated world: reproducible, mixes on target, ground truth consistent, behaviour real."""

from __future__ import annotations

import statistics
from collections import defaultdict

import pytest

from simulator import names, noise
from simulator.presets import PRESETS
from simulator.world import World, generate, ground_truth_problems


def world(seed: int, preset: str = "realistic", customers: int = 250, months: int = 12) -> World:
    return generate(seed, customers, months, PRESETS[preset])


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_mix_within_one_point_of_the_preset(seed: int, preset: str) -> None:
    w = world(seed, preset)
    assert len(w.window) > 300
    for key, target in w.targets.items():
        if key == "separate_advice":
            continue  # a behaviour, not a stated share; drawn per payment
        assert abs(w.mix[key] - target) <= 0.01, (key, w.mix[key], target)


def test_stated_preset_shares() -> None:
    realistic, hard, easy = PRESETS["realistic"], PRESETS["hard"], PRESETS["easy"]
    assert realistic.no_remittance >= 0.5 and realistic.multi_invoice >= 0.2
    assert (realistic.payer_name_differs, realistic.mistyped, realistic.short_pay) == (
        0.1,
        0.05,
        0.05,
    )
    assert (realistic.bank_fee, realistic.overpayment, realistic.duplicate) == (0.03, 0.02, 0.01)
    assert hard.no_remittance == 0.7 and hard.duplicate == pytest.approx(2 * realistic.duplicate)
    assert easy.no_remittance == pytest.approx(realistic.no_remittance / 2)
    assert easy.bank_fee == pytest.approx(realistic.bank_fee / 2)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_ground_truth_is_consistent(seed: int, preset: str) -> None:
    assert ground_truth_problems(world(seed + 1, preset)) == []


def test_ground_truth_check_catches_an_over_application(seed: int) -> None:
    w = world(seed, customers=60, months=4)
    payment = next(p for p in w.window if p.allocations and p.allocations[0].invoice_number)
    first = payment.allocations[0]
    payment.allocations[0] = type(first)(
        first.payment_id,
        first.invoice_number,
        first.applied_minor + 1,
        first.adjustment_minor,
        first.kind,
    )
    problems = ground_truth_problems(w)
    assert any(payment.payment_id in p for p in problems)


def test_same_seed_same_world_other_seed_other_world(seed: int) -> None:
    a, b, c = (
        world(seed, customers=80, months=6),
        world(seed, customers=80, months=6),
        world(seed + 1, customers=80, months=6),
    )
    assert [(p.payment_id, p.received_minor, p.payer_name, p.reference_text) for p in a.window] == [
        (p.payment_id, p.received_minor, p.payer_name, p.reference_text) for p in b.window
    ]
    assert a.documents == b.documents
    assert [i.amount_minor for i in a.invoices] != [i.amount_minor for i in c.invoices]


def test_behaviours_differ_by_archetype(seed: int) -> None:
    w = world(seed, customers=400, months=12)
    archetype = {c.customer_id: c.archetype for c in w.customers}
    lateness = defaultdict(list)
    for inv in w.invoices:
        if inv.pay_date and not inv.disputed:
            lateness[archetype[inv.customer_id]].append((inv.pay_date - inv.due_date).days)
    assert statistics.median(lateness["late"]) > statistics.median(lateness["punctual"]) + 10
    assert statistics.median(lateness["discount_taker"]) < 0  # they pay inside the discount window
    # Deteriorating customers end in default: their late invoices are written off, not paid.
    deteriorating = [c for c in w.customers if c.archetype == "deteriorating"]
    assert deteriorating and all(c.default_date for c in deteriorating)
    written_off = [i for i in w.invoices if i.written_off]
    assert {i.customer_id for i in written_off} <= {c.customer_id for c in deteriorating}


def test_lump_sums_and_parents(seed: int) -> None:
    w = world(seed, "hard", customers=300, months=12)
    sizes = [len(p.invoices) for p in w.window if not p.duplicate_of]
    assert max(sizes) >= 10
    parent_paid = [p for p in w.window if p.payer_id != p.customer_id]
    assert parent_paid, "some subsidiaries' invoices are paid by their parent"


def test_discounts_are_marked_earned_or_unearned(seed: int) -> None:
    w = world(seed, customers=300, months=12)
    reasons = {
        a.reason.split(";")[0] for p in w.window for a in p.allocations if a.kind == "discount"
    }
    assert reasons == {"earned", "unearned"}


def test_payer_names_that_differ_really_differ(seed: int) -> None:
    w = world(seed, "hard")
    known = {names.normalised(c.name) for c in w.customers}
    tagged = [p for p in w.window if "payer_name_differs" in p.tags]
    assert tagged and all(names.normalised(p.payer_name) not in known for p in tagged)
    untagged = [p for p in w.window if "payer_name_differs" not in p.tags]
    assert all(names.normalised(p.payer_name) in known for p in untagged)


@pytest.mark.parametrize("mistake", noise.MISTAKES)
def test_every_mistake_changes_the_reference(seed: int, mistake: str) -> None:
    import random

    rng = random.Random(seed)
    for reference in ("INV-100234", "INV-100001", "INV-155555", "4500123"):
        mangled, _ = noise.mistype(rng, reference, mistake)
        assert mangled != reference


def test_credit_memos_are_netted_or_left_open(seed: int) -> None:
    w = world(seed, customers=300, months=12)
    memos = [i for i in w.invoices if i.doc_type == "credit_memo"]
    assert memos and all(m.amount_minor < 0 and m.credits_invoice for m in memos)
    netted = [a for p in w.window + w.history for a in p.allocations if a.kind == "credit_memo"]
    assert netted and all(a.applied_minor < 0 for a in netted)
    for p in w.window:
        if any(a.kind == "credit_memo" for a in p.allocations):
            credited = {a.reason for a in p.allocations if a.kind == "credit_memo"}
            assert credited <= {a.invoice_number for a in p.allocations}  # with its invoice
            assert p.received_minor > 0
    assert any(m.open_before_window for m in memos), "some memos stay open for the ERP export"


def test_fx_differences_are_small_and_written_off(seed: int) -> None:
    w = world(seed, "hard", customers=400, months=12)
    fx = [p for p in w.window if "fx_difference" in p.tags]
    assert fx and all(p.currency != "USD" for p in fx)
    pure = 0
    for p in fx:
        written = [a for a in p.allocations if "fx_difference" in a.reason]
        assert len(written) == 1
        if written[0].reason != "fx_difference":
            continue  # combined with a discount or deduction on the same invoice
        pure += 1
        owed = sum(a.applied_minor + a.adjustment_minor for a in p.allocations if a.invoice_number)
        assert 0 < written[0].adjustment_minor <= max(1, owed // 200)  # at most 0.5%
    assert pure

"""Runs of open items with a few held back, checked against a brute-force twin."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from matching.subset import TAIL_GAPS, WIDE_TAIL_GAPS, GappedRun, OpenAmount, gapped_runs


def every_gapped_run(
    items: list[OpenAmount],
    target: int,
    from_start: bool,
    charges: tuple[int, ...] = (0,),
    tail_gaps: int = TAIL_GAPS,
) -> set[tuple[tuple[str, ...], tuple[str, ...]]]:
    """All shapes the documented rules allow, by looking at every window and every gap set."""
    keys = [i.key for i in items]
    oldest_debit = next((p for p, i in enumerate(items) if i.amount > 0), 0)
    found = set()
    for start in [0] if from_start else range(len(items)):
        for stop in range(start + 1, len(items)):
            window = range(start, stop + 1)
            inner = range(start if from_start else start + 1, stop)
            most = 3 if (from_start or start <= oldest_debit) else 1
            for gaps in range(most + 1):
                for skipped in combinations(inner, gaps):
                    if gaps == 3 and min(skipped) < stop - tail_gaps:
                        continue  # three held back only near the run's end
                    paid = [p for p in window if p not in skipped]
                    total = sum(items[p].amount for p in paid)
                    if sum(items[p].amount for p in window) - target in charges and gaps:
                        continue  # a window that adds up is not searched for gaps
                    if len(paid) >= 2 and total - target in charges:
                        found.add((tuple(keys[p] for p in paid), tuple(keys[p] for p in skipped)))
    return found


def _shape(run: GappedRun) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return run.keys, run.skipped


@settings(max_examples=300, deadline=None)
@given(
    # Open items are never zero: the engine leaves settled items out.
    st.lists(st.integers(min_value=-300, max_value=900).filter(bool), min_size=1, max_size=11),
    st.integers(min_value=0, max_value=4),
    st.integers(min_value=0, max_value=3),
    st.booleans(),
    st.sampled_from([(0,), (0, 5, 10), (0, 100, 200, 300)]),
    st.integers(min_value=0, max_value=3),
    st.sampled_from([TAIL_GAPS, 4, WIDE_TAIL_GAPS]),
)
def test_gapped_runs_are_exactly_the_ones_the_twin_finds(
    amounts: list[int],
    first: int,
    count: int,
    from_start: bool,
    charges: tuple[int, ...],
    kept: int,
    tail_gaps: int,
) -> None:
    items = [OpenAmount(f"I{k}", a, k) for k, a in enumerate(amounts)]
    chosen = items[first : first + count + 2]
    charge = charges[kept % len(charges)]
    target = sum(i.amount for i in chosen) - charge if len(chosen) >= 2 else 1234
    twin = every_gapped_run(items, target, from_start, charges, tail_gaps)
    runs = gapped_runs(
        items, target, from_start=from_start, limit=10_000, charges=charges, tail_gaps=tail_gaps
    )
    assert {_shape(r) for r in runs} == twin
    amount = {i.key: i.amount for i in items}
    assert all(sum(amount[k] for k in r.keys) - target == r.charge for r in runs)
    order = [(len(r.skipped), r.charge, len(r.keys), r.start) for r in runs]
    assert order == sorted(order)


def test_a_list_cut_short_continues_with_the_next_items_one_held_back() -> None:
    items = [OpenAmount(f"INV-{k}", 100 * (k + 1), k) for k in range(8)]
    # 100 + 200 + 400 + 500: INV-2 held back
    runs = gapped_runs(items, 1_200, from_start=True)
    assert runs[0] == GappedRun(("INV-0", "INV-1", "INV-3", "INV-4"), ("INV-2",), 0)


def test_old_credit_memos_do_not_stop_a_run_from_the_oldest_invoice_holding_two_back() -> None:
    amounts = [-5_000, -700, 100, 200, 300, 400, 500, 600]
    items = [OpenAmount(f"K{k}", a, k) for k, a in enumerate(amounts)]
    # 100 + 300 + 500 + 600, with 200 and 400 held back; the memos stay open
    runs = gapped_runs(items, 1_500)
    assert GappedRun(("K2", "K4", "K6", "K7"), ("K3", "K5"), 2) in runs


def test_three_items_due_around_the_run_date_may_be_held_back() -> None:
    items = [OpenAmount(f"K{k}", 1_000 + 37 * k * k, k) for k in range(12)]
    paid = [0, 1, 2, 3, 4, 5, 6, 10]  # 7, 8 and 9 left for the next run
    target = sum(items[p].amount for p in paid)
    runs = gapped_runs(items, target)
    assert GappedRun(tuple(f"K{p}" for p in paid), ("K7", "K8", "K9"), 0) in runs
    # The same three held back early in the window is not a shape looked for.
    early = [0, 4, 5, 6, 7, 8, 9, 10, 11]
    assert not any(
        r.skipped == ("K1", "K2", "K3")
        for r in gapped_runs(items, sum(items[p].amount for p in early))
    )


def test_the_limit_keeps_the_fewest_gaps() -> None:
    items = [OpenAmount(f"K{k}", 10, k) for k in range(12)]
    runs = gapped_runs(items, 30, limit=3)
    assert len(runs) == 3
    assert all(not r.skipped for r in runs)

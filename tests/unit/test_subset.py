"""Subset search for payments without remittance, checked against a brute-force twin."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import InputError, MoneyError
from matching import subset
from matching.subset import OpenAmount, SubsetSearch, find_subsets

GENEROUS = (
    30.0  # seconds; small cases finish in milliseconds, so this budget is never what stops them
)
SHAPES = ("single", "run", "all", "search")
ENGINES = {"meet-in-the-middle": subset.MITM_MAX_ITEMS, "branch-and-bound": -1}


# --- the slow twin --------------------------------------------------------------------------


def brute_force(items: Sequence[OpenAmount], low: int, high: int) -> set[frozenset[str]]:
    """Every non-empty subset whose sum lies in [low, high], by trying all 2^n of them."""
    sums = [0]  # sums[mask]: bit i of mask says whether items[i] is in the subset
    for item in items:
        sums += [total + item.amount for total in sums]
    return {
        frozenset(item.key for i, item in enumerate(items) if mask >> i & 1)
        for mask, total in enumerate(sums)
        if mask and low <= total <= high
    }


Plausibility = tuple[int, int, int, tuple[int, ...]]


def plausibility_of(
    items: Sequence[OpenAmount], low: int
) -> Callable[[frozenset[str]], Plausibility]:
    """The documented order: shape (index into SHAPES), size, short-pay, rank positions."""
    position = {item.key: p for p, item in enumerate(sorted(items, key=lambda i: (i.rank, i.key)))}
    amount = {item.key: item.amount for item in items}

    def plausibility(solution: frozenset[str]) -> Plausibility:
        positions = tuple(sorted(position[key] for key in solution))
        if len(positions) == 1:
            shape = 0
        elif len(positions) == len(items):
            shape = 2
        elif positions[-1] - positions[0] + 1 == len(positions):
            shape = 1
        else:
            shape = 3
        return (shape, len(positions), sum(amount[key] for key in solution) - low, positions)

    return plausibility


def assert_honest(
    result: SubsetSearch, items: Sequence[OpenAmount], low: int, high: int, limit: int
) -> None:
    """What must hold whatever the truth is: listed solutions fit, are distinct and ordered."""
    by_key = {item.key: item for item in items}
    listed = [frozenset(solution) for solution in result.solutions]
    for solution in result.solutions:
        assert solution, "an empty subset is never a payment"
        assert low <= sum(by_key[key].amount for key in solution) <= high
        assert list(solution) == sorted(solution, key=lambda k: (by_key[k].rank, k))
    assert len(set(listed)) == len(listed) <= limit
    assert result.exhausted_budget is (not result.complete)
    keys = [plausibility_of(items, low)(solution) for solution in listed]
    assert keys == sorted(keys)
    assert result.strategy == (SHAPES[keys[0][0]] if keys else "")


def assert_matches_brute_force(
    items: Sequence[OpenAmount], low: int, high: int, limits: Sequence[int] = (1, 2, 3, 1 << 12)
) -> None:
    """The fast search, with a generous budget, against every fitting subset."""
    truth = brute_force(items, low, high)
    plausibility = plausibility_of(items, low)
    best = min(truth, key=plausibility, default=None)
    for limit in limits:
        result = find_subsets(items, low, high, limit=limit, budget_seconds=GENEROUS)
        assert_honest(result, items, low, high, limit)
        listed = {frozenset(solution) for solution in result.solutions}
        assert listed <= truth
        assert result.complete, "a generous budget finishes any small case"
        assert len(listed) == min(limit, len(truth))
        if best is not None and plausibility(best)[0] < 3:
            # Singles, runs and the whole set are searched exhaustively: the best comes first.
            assert frozenset(result.solutions[0]) == best
        if limit == 2:
            assert (len(truth) == 1) == (result.complete and len(result.solutions) == 1)


def random_case(rng: random.Random) -> tuple[list[OpenAmount], int, int]:
    """Open items with duplicates, credit memos and zeros, and a range that often fits."""
    n = rng.randint(0, 12)
    pool = [rng.randint(-40, 90) for _ in range(rng.randint(1, 9))]
    amounts = [rng.choice(pool) if rng.random() < 0.7 else rng.randint(-40, 90) for _ in range(n)]
    if rng.random() < 0.5:
        ranks = rng.sample(range(3 * n + 1), n)
    else:  # ties in rank: the order falls back to the key
        ranks = [rng.randint(0, n) for _ in range(n)]
    items = [
        OpenAmount(f"INV-{i:03d}", a, r)
        for i, (a, r) in enumerate(zip(amounts, ranks, strict=True))
    ]
    rng.shuffle(items)
    if items and rng.random() < 0.7:
        low = sum(item.amount for item in rng.sample(items, rng.randint(1, n)))
    else:
        low = rng.randint(-60, 200)
    return items, low, low + rng.choice([0, 0, 0, 1, 3, 10, 60, -1])


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test once per exhaustive search; small cases otherwise only meet the first."""
    monkeypatch.setattr(subset, "MITM_MAX_ITEMS", ENGINES[request.param])
    yield request.param


# --- against the brute-force twin -----------------------------------------------------------


def test_matches_brute_force_on_random_cases(seed: int, engine: str) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        assert_matches_brute_force(*random_case(rng))


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(-60, 120), st.integers(0, 12)), max_size=10),
    low=st.integers(-120, 400),
    width=st.integers(-2, 40),
    engine=st.sampled_from(sorted(ENGINES)),
)
def test_matches_brute_force_property(
    rows: list[tuple[int, int]], low: int, width: int, engine: str
) -> None:
    items = [OpenAmount(f"K{i}", amount, rank) for i, (amount, rank) in enumerate(rows)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subset, "MITM_MAX_ITEMS", ENGINES[engine])
        assert_matches_brute_force(items, low, low + width)


def test_engines_agree_beyond_brute_force(seed: int) -> None:
    """At 18 items both exhaustive searches list every solution, and the same ones."""
    rng = random.Random(seed)
    for _ in range(4):
        items = [
            OpenAmount(
                f"INV-{i}", rng.randint(-2_000, 20_000) if i % 6 else -rng.randint(1, 500), i
            )
            for i in range(18)
        ]
        low = sum(item.amount for item in rng.sample(items, 7))
        listings = []
        for engine in sorted(ENGINES):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(subset, "MITM_MAX_ITEMS", ENGINES[engine])
                result = find_subsets(items, low, low + 20, limit=1 << 18, budget_seconds=GENEROUS)
            assert result.complete
            assert_honest(result, items, low, low + 20, 1 << 18)
            listings.append({frozenset(solution) for solution in result.solutions})
        assert listings[0] == listings[1]
        assert listings[0], "the range was built from a subset, so something fits"


def test_amounts_beyond_int64_stay_exact(seed: int) -> None:
    """Sums past 2^63 skip numpy and are searched with Python integers."""
    rng = random.Random(seed)
    for _ in range(40):
        items = [
            OpenAmount(f"INV-{i}", rng.choice((1, -1, 3)) * 10**18 + rng.randint(0, 5), i)
            for i in range(rng.randint(1, 10))
        ]
        low = sum(item.amount for item in rng.sample(items, rng.randint(1, len(items))))
        assert_matches_brute_force(items, low, low + 2, limits=(2, 1 << 10))


# --- plausibility order ---------------------------------------------------------------------


def test_single_item_listed_before_a_combination() -> None:
    items = [
        OpenAmount("INV-1", 60_00, 0),
        OpenAmount("INV-2", 40_00, 1),
        OpenAmount("INV-3", 100_00, 2),
    ]
    result = find_subsets(items, 100_00, 100_00)
    assert result.solutions == (("INV-3",), ("INV-1", "INV-2"))
    assert result.strategy == "single"
    assert result.complete and not result.exhausted_budget


def test_consecutive_run_preferred_over_fewer_scattered_items() -> None:
    items = [
        OpenAmount("INV-1", 40_00, 0),
        OpenAmount("INV-2", 10_00, 1),
        OpenAmount("INV-3", 20_00, 2),
        OpenAmount("INV-4", 30_00, 3),
    ]
    result = find_subsets(items, 70_00, 70_00)
    assert result.solutions == (("INV-1", "INV-2", "INV-3"), ("INV-1", "INV-4"))
    assert result.strategy == "run"


def test_credit_memo_inside_a_run_is_part_of_it() -> None:
    items = [
        OpenAmount("INV-1", 100_00, 0),
        OpenAmount("CM-2", -20_00, 1),
        OpenAmount("INV-3", 50_00, 2),
        OpenAmount("INV-4", 999_00, 3),
    ]
    result = find_subsets(items[::-1], 130_00, 130_00)
    assert result.solutions == (("INV-1", "CM-2", "INV-3"),)
    assert result.strategy == "run"
    assert result.complete, "one solution and a complete search: the application is unique"


def test_shorter_run_and_smaller_short_pay_first() -> None:
    items = [
        OpenAmount("INV-1", 30_00, 0),
        OpenAmount("INV-2", 30_00, 1),
        OpenAmount("INV-3", 40_00, 2),
        OpenAmount("INV-4", 60_00, 3),
        OpenAmount("INV-5", 99_99, 4),
        OpenAmount("INV-6", 100_00, 5),
    ]
    # A payment of 99.95 with a 10.00 tolerance: singles 5 (short 0.04) and 6 (short 0.05),
    # runs 3-4 and 1-3 (100.00 each), nothing else.
    result = find_subsets(items, 99_95, 109_95, limit=5)
    assert result.solutions == (
        ("INV-5",),
        ("INV-6",),
        ("INV-3", "INV-4"),
        ("INV-1", "INV-2", "INV-3"),
    )
    assert result.complete, "four listed under a limit of five: the search proved there are no more"


def test_whole_set() -> None:
    items = [
        OpenAmount("INV-1", 10_00, 0),
        OpenAmount("INV-2", 20_00, 1),
        OpenAmount("INV-3", 30_00, 2),
    ]
    result = find_subsets(items, 60_00, 60_00)
    assert result.solutions == (("INV-1", "INV-2", "INV-3"),)
    assert result.strategy == "all"
    assert result.complete


def test_equal_amounts_are_ambiguous() -> None:
    items = [
        OpenAmount("INV-1", 250_00, 0),
        OpenAmount("INV-2", 100_00, 1),
        OpenAmount("INV-3", 250_00, 2),
    ]
    result = find_subsets(items, 250_00, 250_00)
    assert result.solutions == (("INV-1",), ("INV-3",))
    assert result.complete, "two fits found: ambiguous, which is a complete answer with limit=2"


def test_zero_amount_item_makes_any_fit_ambiguous() -> None:
    items = [OpenAmount("INV-1", 500_00, 0), OpenAmount("INV-2", 0, 1)]
    result = find_subsets(items, 500_00, 500_00)
    assert result.solutions == (("INV-1",), ("INV-1", "INV-2"))


def test_nothing_to_search() -> None:
    items = [OpenAmount("INV-1", 100, 0)]
    for result in (find_subsets([], 0, 10), find_subsets(items, 100, 99)):
        assert result == SubsetSearch(
            (), complete=True, exhausted_budget=False, nodes=0, strategy=""
        )
    beyond = find_subsets(items, 101, 10**30)
    assert beyond.solutions == () and beyond.complete


@pytest.mark.parametrize(
    ("items", "limit", "error"),
    [
        ([OpenAmount("INV-1", 100, 0), OpenAmount("INV-1", 200, 1)], 2, InputError),
        ([OpenAmount("INV-1", 1.5, 0)], 2, MoneyError),  # type: ignore[arg-type]
        ([OpenAmount("INV-1", True, 0)], 2, MoneyError),
        ([OpenAmount("INV-1", 100, 0)], 0, InputError),
    ],
)
def test_refuses_bad_input(items: list[OpenAmount], limit: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        find_subsets(items, 100, 100, limit=limit)


# --- realistic sizes and budget honesty -----------------------------------------------------


def customer_ledger(rng: random.Random, n: int = 2_000) -> list[OpenAmount]:
    """A large customer: open invoices of 50.00 to 50,000.00, passed in no particular order."""
    items = [
        OpenAmount(f"INV-{rank:05d}", rng.randint(50_00, 50_000_00), rank) for rank in range(n)
    ]
    rng.shuffle(items)
    return items


def by_rank(items: Sequence[OpenAmount]) -> list[OpenAmount]:
    return sorted(items, key=lambda item: item.rank)


def test_run_of_sixty_among_two_thousand(seed: int) -> None:
    rng = random.Random(seed)
    items = customer_ledger(rng)
    start = rng.randrange(0, len(items) - 60)
    run = by_rank(items)[start : start + 60]
    planted = tuple(item.key for item in run)
    paid = sum(item.amount for item in run) - 15_00  # a 15.00 bank fee
    for low, high in ((paid + 15_00, paid + 15_00), (paid, paid + 25_00)):
        result = find_subsets(items, low, high)
        assert_honest(result, items, low, high, 2)
        assert result.strategy == "run"
        assert planted in result.solutions or all(
            plausibility_of(items, low)(frozenset(s))[0] == 1 for s in result.solutions
        )


def test_sixty_scattered_items_among_two_thousand(seed: int) -> None:
    rng = random.Random(seed)
    items = customer_ledger(rng)
    target = sum(item.amount for item in rng.sample(items, 60))
    result = find_subsets(items, target, target)
    assert_honest(result, items, target, target, 2)
    # A fit exists, so either one is listed or the search admits it ran out of budget.
    assert result.solutions or (result.exhausted_budget and not result.complete)


def test_target_out_of_reach_among_two_thousand(seed: int) -> None:
    items = customer_ledger(random.Random(seed))
    below = min(item.amount for item in items) - 1
    result = find_subsets(items, below, below)
    assert result.solutions == ()
    assert result.complete or result.exhausted_budget
    assert find_subsets(items, 0, 10**15).complete  # every subset fits: two found at once


def hard_instance(rng: random.Random, n: int) -> tuple[list[OpenAmount], int]:
    """Even amounts and an odd target: no subset fits, and the bounds cannot tell."""
    items = [OpenAmount(f"INV-{i}", 2 * rng.randint(25_00, 25_000_00), i) for i in range(n)]
    return items, sum(item.amount for item in items) // 3 | 1


@pytest.mark.parametrize("n", [40, 300])
def test_tiny_budget_is_reported(seed: int, n: int) -> None:
    items, target = hard_instance(random.Random(seed), n)
    result = find_subsets(items, target, target, budget_seconds=0.0, max_nodes=10**9)
    assert result.solutions == ()
    assert result.exhausted_budget and not result.complete


def test_node_budget_is_reported(seed: int) -> None:
    items, target = hard_instance(random.Random(seed), 300)
    result = find_subsets(items, target, target, budget_seconds=GENEROUS, max_nodes=500)
    assert result.exhausted_budget and not result.complete
    assert result.nodes == 500


def test_hard_instance_is_proved_impossible_when_small(seed: int) -> None:
    items, target = hard_instance(random.Random(seed), 24)
    result = find_subsets(items, target, target, budget_seconds=GENEROUS)
    assert result.solutions == ()
    assert result.complete and not result.exhausted_budget

"""Which open items does a payment without remittance pay: subsets of open items whose sum fits.

A customer's open items (invoices positive, credit memos negative, integer minor units) are
searched for non-empty subsets whose sum lies in ``[low, high]``; the engine passes
``low = payment`` and ``high = payment + tolerance`` so that bank fees and FX short-pays still
fit. A wrong application is worse than none, so the answer says whether the solution is unique
and whether the search was complete; a time and node budget keeps one payment from stalling a run.

Cheap structured checks run first, in the order a clerk would try them: a single open item, a
consecutive run in due-date (rank) order, every open item. Then an exhaustive search:
meet-in-the-middle over numpy arrays for up to :data:`MITM_MAX_ITEMS` items, a depth-first
branch-and-bound beyond that (or when amounts could overflow ``int64``).
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ledger.errors import InputError, MoneyError

MITM_MAX_ITEMS = 40
"""Most open items searched by meet-in-the-middle: at 40, 2^18 sorted and 2^22 streamed sums.

Exhausting 40 items takes about half a second, 34 items about 30 ms; it is also used only while
its sums fit in ``max_nodes``, else branch-and-bound searches instead.
"""

_SORTED_SIDE_MAX_BITS = 18
"""The sorted half holds at most 2^18 sums: sorting is the one step the clock cannot interrupt."""

_CHUNK_BITS = 14
"""The other half is streamed in chunks of 2^14 sums, with a clock check after each chunk."""

_CLOCK_EVERY = 1024
"""Branch-and-bound and the run scan look at the clock once per this many steps."""

_INT64_SAFE = 1 << 62
"""Meet-in-the-middle needs |partial sums|, |low|, |high| below this so int64 cannot overflow."""

_SINGLE, _RUN, _ALL, _OTHER = 0, 1, 2, 3
_STRATEGY = {_SINGLE: "single", _RUN: "run", _ALL: "all", _OTHER: "search"}


@dataclass(frozen=True, slots=True)
class OpenAmount:
    """key: invoice number; amount: open amount in minor units (negative for credit memos); rank: position in due-date order (0 = oldest), used to prefer consecutive runs."""

    key: str
    amount: int
    rank: int


@dataclass(frozen=True, slots=True)
class SubsetSearch:
    """solutions: up to `limit` distinct subsets (each a tuple of keys sorted by rank), most plausible first;
    complete: True when the search proved there are no other solutions beyond those listed (or listed == limit found);
    exhausted_budget: True when the time/node budget stopped the search; nodes: search nodes visited;
    strategy: name of the strategy that found the first solution ('single', 'run', 'all', 'search', '').

    With ``limit >= 2`` the solution is unique exactly when ``complete`` and one solution is
    listed; with none listed and ``complete``, no subset fits. A search ends by finding ``limit``
    solutions, by exploring everything, or by running out of budget, so ``exhausted_budget`` is
    always ``not complete``. ``nodes`` counts branch-and-bound nodes, or the half-subset sums
    meet-in-the-middle enumerated; the structured checks are not counted.
    """

    solutions: tuple[tuple[str, ...], ...]
    complete: bool
    exhausted_budget: bool
    nodes: int
    strategy: str


def find_subsets(
    items: Sequence[OpenAmount],
    low: int,
    high: int,
    *,
    limit: int = 2,
    budget_seconds: float = 0.05,
    max_nodes: int = 2_000_000,
    max_sums: int | None = None,
) -> SubsetSearch:
    """Up to ``limit`` distinct non-empty subsets of ``items`` whose sum lies in ``[low, high]``.

    Solutions are listed most plausible first: a single open item, then consecutive runs in rank
    order (credit memos inside the run included), then all open items, then any other subset;
    within each group fewer items first, then the smallest ``sum - low`` (the smallest short-pay),
    then the oldest ranks. Singles, runs and the whole set are found exhaustively, so the first
    listed solution is the most plausible one whenever it is of one of those shapes; other subsets
    are listed in that order among the ones the search met before it had found ``limit``.

    Two open items with the same amount are two different solutions: that is real ambiguity. The
    search stops at ``budget_seconds`` of wall-clock time or ``max_nodes`` nodes, whichever comes
    first, and then reports ``exhausted_budget=True, complete=False`` unless ``limit`` solutions
    were already found. ``max_sums`` (default ``max_nodes``) caps the half-subset sums
    meet-in-the-middle may enumerate: they are cheap array work, so a caller may allow many more
    of them than branch-and-bound nodes. A budget in work rather than time makes the answer the
    same on a busy machine as on an idle one. Raises :class:`InputError` for repeated keys or a ``limit`` below 1 and
    :class:`MoneyError` for an amount that is not an integer.
    """
    _validate(items, low, high, limit)
    if not items or low > high:
        return SubsetSearch((), complete=True, exhausted_budget=False, nodes=0, strategy="")
    deadline = time.perf_counter() + budget_seconds
    # Everything below works on positions in rank order, ties broken by key.
    ordered = sorted(items, key=lambda item: (item.rank, item.key))
    amounts = [item.amount for item in ordered]
    # Every subset sum lies between the credit memos' total and the invoices' total: clamping
    # the range to that span changes no answer, keeps numpy's int64 safe, and settles targets
    # out of reach at once.
    credits = sum(amount for amount in amounts if amount < 0)
    invoices = sum(amount for amount in amounts if amount > 0)
    low, high = max(low, credits), min(high, invoices)
    if low > high:
        return SubsetSearch((), complete=True, exhausted_budget=False, nodes=0, strategy="")

    found, cut = _structured(amounts, low, high, limit, deadline)
    known = set(found)
    nodes = 0
    complete = len(known) >= limit
    if not complete and not cut:
        n = len(amounts)
        sorted_bits = min(n // 2, _SORTED_SIDE_MAX_BITS)
        if (
            n <= MITM_MAX_ITEMS
            and (1 << sorted_bits) + (1 << (n - sorted_bits))
            <= (max_nodes if max_sums is None else max_sums)
            and invoices - credits < _INT64_SAFE
        ):
            complete, nodes = _meet_in_the_middle(
                amounts, low, high, known, limit, deadline, sorted_bits
            )
        else:
            complete, nodes = _branch_and_bound(
                amounts, low, high, known, limit, deadline, max_nodes
            )
    ranked = sorted(known, key=lambda positions: _plausibility(positions, amounts, low))[:limit]
    return SubsetSearch(
        solutions=tuple(tuple(ordered[p].key for p in sorted(s)) for s in ranked),
        complete=complete,
        exhausted_budget=not complete,
        nodes=nodes,
        strategy=_STRATEGY[_category(ranked[0], len(amounts))] if ranked else "",
    )


def _validate(items: Sequence[OpenAmount], low: int, high: int, limit: int) -> None:
    """Refuse inputs that would make an answer meaningless rather than guess."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"limit must be a positive integer, got {limit!r}")
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise MoneyError(f"{name} must be integer minor units, got {value!r}")
    seen: set[str] = set()
    for item in items:
        if isinstance(item.amount, bool) or not isinstance(item.amount, int):
            raise MoneyError(
                f"open item {item.key!r}: amount must be integer minor units, got {item.amount!r}"
            )
        if item.key in seen:
            raise InputError(
                f"open item {item.key!r} appears twice; solutions are sets of keys, "
                "so each open item must be passed once"
            )
        seen.add(item.key)


def _category(positions: frozenset[int], n: int) -> int:
    """Single item, consecutive run (not everything), every item, or anything else."""
    size = len(positions)
    if size == 1:
        return _SINGLE
    if size == n:
        return _ALL
    if max(positions) - min(positions) + 1 == size:
        return _RUN
    return _OTHER


def _plausibility(
    positions: frozenset[int], amounts: Sequence[int], low: int
) -> tuple[int, int, int, tuple[int, ...]]:
    """Sort key: shape, fewer items, smaller short-pay (sum - low), older items."""
    ranks = tuple(sorted(positions))
    total = sum(amounts[p] for p in ranks)
    return (_category(positions, len(amounts)), len(ranks), total - low, ranks)


def _structured(
    amounts: Sequence[int], low: int, high: int, limit: int, deadline: float
) -> tuple[list[frozenset[int]], bool]:
    """Singles, then consecutive runs, then the whole set; each group complete and best first.

    Returns the solutions (at most ``limit`` per group) and whether the run scan was cut short by
    the clock, which only happens when thousands of runs fit and the verdict is ambiguous anyway.
    """
    n = len(amounts)
    # A scan rather than a dict lookup: with a tolerance, any amount in a range qualifies.
    singles = sorted((amount - low, p) for p, amount in enumerate(amounts) if low <= amount <= high)
    found = [frozenset((p,)) for _, p in singles[:limit]]
    if len(found) >= limit:
        return found, False
    runs, cut = _runs(amounts, low, high, limit - len(found), deadline)
    found.extend(frozenset(range(start, stop)) for start, stop in runs)
    total = sum(amounts)
    if n >= 2 and low <= total <= high:
        found.append(frozenset(range(n)))
    return found, cut


def _runs(
    amounts: Sequence[int], low: int, high: int, want: int, deadline: float
) -> tuple[list[tuple[int, int]], bool]:
    """The best ``want`` consecutive runs ``[start, stop)`` of 2..n-1 items whose sum fits.

    A run sums to ``prefix[stop] - prefix[start]``. Credit memos make the prefix sums
    non-monotone, so the earlier prefix sums are kept in a sorted list and the starts that fit
    are one bisected slice of it: O(n log n) plus the number of runs that fit.
    """
    n = len(amounts)
    prefix = [0]
    for amount in amounts:
        prefix.append(prefix[-1] + amount)
    earlier: list[tuple[int, int]] = []  # (prefix sum, start) for starts at least 2 before stop
    best: list[tuple[int, int, int, int]] = []  # (length, short-pay, start, stop)
    matched = 0
    for stop in range(2, n + 1):
        bisect.insort(earlier, (prefix[stop - 2], stop - 2))
        first = bisect.bisect_left(earlier, (prefix[stop] - high, -1))
        last = bisect.bisect_right(earlier, (prefix[stop] - low, n + 1))
        for _, start in earlier[first:last]:
            if start == 0 and stop == n:
                continue  # the whole set is its own, less plausible, shape
            best.append((stop - start, prefix[stop] - prefix[start] - low, start, stop))
            matched += 1
            if matched % _CLOCK_EVERY == 0:
                best = sorted(best)[:want]
                if time.perf_counter() > deadline:
                    return [(run[2], run[3]) for run in best], True
        if len(best) > 4 * want + 64:
            best = sorted(best)[:want]
    return [(run[2], run[3]) for run in sorted(best)[:want]], False


def _subset_sums(amounts: Sequence[int]) -> npt.NDArray[np.int64]:
    """All 2^k subset sums; bit i of an index says whether ``amounts[i]`` is in that subset."""
    sums = np.zeros(1 << len(amounts), dtype=np.int64)
    size = 1
    for amount in amounts:
        np.add(sums[:size], amount, out=sums[size : 2 * size])
        size *= 2
    return sums


def _meet_in_the_middle(
    amounts: Sequence[int],
    low: int,
    high: int,
    known: set[frozenset[int]],
    limit: int,
    deadline: float,
    sorted_bits: int,
) -> tuple[bool, int]:
    """Exhaustive search by two halves; adds new solutions to ``known`` until it holds ``limit``.

    The last ``sorted_bits`` items form the sorted half; the first items are streamed in sorted
    chunks (sorted queries make ``searchsorted`` cache-friendly) and, for each partial sum ``a``,
    the sorted half's sums in ``[low - a, high - a]`` are one slice. Returns (complete, nodes).
    """
    streamed = len(amounts) - sorted_bits
    side_sums = _subset_sums(amounts[streamed:])
    side_order = np.argsort(side_sums)
    side_sorted = side_sums[side_order]
    nodes = len(side_sums)
    chunk_bits = min(streamed, _CHUNK_BITS)
    chunk_sums = _subset_sums(amounts[:chunk_bits])
    chunk_order = np.argsort(chunk_sums)
    chunk_sorted = chunk_sums[chunk_order]
    for high_mask, base in enumerate(_subset_sums(amounts[chunk_bits:streamed]).tolist()):
        if time.perf_counter() > deadline:
            return False, nodes
        queries = chunk_sorted + base
        starts = np.searchsorted(side_sorted, low - queries, side="left")
        stops = np.searchsorted(side_sorted, high - queries, side="right")
        nodes += len(queries)
        for q in np.flatnonzero(stops > starts).tolist():
            streamed_mask = (high_mask << chunk_bits) | int(chunk_order[q])
            for k in range(int(starts[q]), int(stops[q])):
                side_mask = int(side_order[k])
                if streamed_mask == 0 and side_mask == 0:
                    continue  # the empty subset is never a payment
                known.add(frozenset(_bits(streamed_mask, 0) + _bits(side_mask, streamed)))
                if len(known) >= limit:
                    return True, nodes
    return True, nodes


def _bits(mask: int, offset: int) -> list[int]:
    """Positions ``offset + i`` for every set bit ``i`` of ``mask``."""
    return [offset + i for i in range(mask.bit_length()) if mask >> i & 1]


def _branch_and_bound(
    amounts: Sequence[int],
    low: int,
    high: int,
    known: set[frozenset[int]],
    limit: int,
    deadline: float,
    max_nodes: int,
) -> tuple[bool, int]:
    """Exhaustive depth-first search; adds new solutions to ``known`` until it holds ``limit``.

    Items are sorted by amount descending (invoices, zeros, then credit memos from smallest to
    largest), and each node adds one more item after the last one taken, so every subset is
    visited at most once. A child is taken only if ``[low, high]`` is still reachable from it:
    adding every later credit memo must get the sum down to ``high`` and adding every later
    invoice must get it up to ``low``. Both ends of that reachable range fall as the child moves
    right, so the next viable invoice is one bisection away and the first child that fails the
    ``low`` end (or, among credit memos, either end) closes the node: O(log n) per node.
    Returns (complete, nodes).
    """
    n = len(amounts)
    order = sorted(range(n), key=lambda p: (-amounts[p], p))
    amount = [amounts[p] for p in order]
    negated = [-a for a in amount]  # ascending, for bisect
    invoices = sum(1 for a in amount if a >= 0)  # zeros count with invoices: they never lower a sum
    positive_after = [0] * (n + 1)
    negative_after = [0] * (n + 1)
    for j in range(n - 1, -1, -1):
        positive_after[j] = positive_after[j + 1] + max(amount[j], 0)
        negative_after[j] = negative_after[j + 1] + min(amount[j], 0)
    credits = negative_after[0]

    nodes = 0
    checkpoint = min(_CLOCK_EVERY, max_nodes)
    path: list[int] = []  # indices into `amount` of the items taken, one per frame below the root
    next_child = [0]
    sums = [0]
    while next_child:
        j, s = next_child[-1], sums[-1]
        child = -1
        if j < invoices:
            # The largest invoice that still lets the credit memos bring the sum to `high`.
            j = bisect.bisect_left(negated, s + credits - high, j, invoices)
            if s + positive_after[j] < low:
                j = n  # neither these invoices nor any credit memo can reach `low`
            elif j < invoices:
                child = j
        if child < 0 and j < n and s + amount[j] >= low and s + negative_after[j] <= high:
            # A credit memo: both ends of the reachable range only move away from [low, high]
            # for later ones, so if this one cannot reach it, no later one can.
            child = j
        if child < 0:
            next_child.pop()
            sums.pop()
            if path:
                path.pop()
            continue
        next_child[-1] = child + 1
        total = s + amount[child]
        path.append(child)
        next_child.append(child + 1)
        sums.append(total)
        nodes += 1
        if low <= total <= high:
            known.add(frozenset(order[c] for c in path))
            if len(known) >= limit:
                return True, nodes
        if nodes >= checkpoint:
            if nodes >= max_nodes or time.perf_counter() > deadline:
                return False, nodes
            checkpoint = min(nodes + _CLOCK_EVERY, max_nodes)
    return True, nodes


@dataclass(frozen=True, slots=True)
class GappedRun:
    """A run of open items in rank order that pays ``target`` once ``skipped`` items inside it
    are left out: what an accounts-payable run looks like when a few items are held back.

    keys: the items paid, in rank order; start: rank position (in the searched list) of the
    window's first item; skipped: the items inside the window that were not paid.
    """

    keys: tuple[str, ...]
    skipped: tuple[str, ...]
    start: int
    charge: int = 0


TAIL_GAPS = 6
"""Three items held back are looked for only among the last this many before a run's end."""

WIDE_TAIL_GAPS = 20
"""Where a caller looks for three items held back when no run fits with :data:`TAIL_GAPS`:
among the last this many before the run's end."""

MAX_GAPPED_ITEMS = 150
"""Longest list searched for gapped runs: one gap costs a dict lookup per window (n²/2)."""


def gapped_runs(
    items: Sequence[OpenAmount],
    target: int,
    *,
    max_gaps: int = 3,
    from_start: bool = False,
    limit: int = 8,
    charges: Sequence[int] = (0,),
    tail_gaps: int = TAIL_GAPS,
) -> list[GappedRun]:
    """Runs in rank order (at least two items paid) that sum to exactly ``target`` once at most
    ``max_gaps`` items inside them are left out; fewest gaps first, then the smallest charge,
    then fewest items, then the oldest start. At most ``limit`` are listed.

    ``charges``: what a bank may have kept of the payment; a run then sums to ``target`` plus
    one of them (its ``charge``). The default, only 0, is a run that adds up exactly.

    ``from_start``: every window starts at the first item (the continuation of a list that was
    cut off, or "the oldest items, a few held back"), and the first item itself may be a gap.
    Otherwise any window may hold one gap, and two gaps are looked for only in windows that start
    at the oldest item or at the oldest debit (old credit memos the payer leaves open come
    before it): the search stays O(n²) and the shapes stay ones a payer really makes. Those
    windows may also hold three gaps, all among the last ``tail_gaps`` items before the
    window's end: items due around the payment-run date that the payer left for the next run.
    A gap is never at a window's end: that would be a shorter window.
    """
    ordered = sorted(items, key=lambda item: (item.rank, item.key))[:MAX_GAPPED_ITEMS]
    amounts = [item.amount for item in ordered]
    n = len(amounts)
    prefix = [0]
    for amount in amounts:
        prefix.append(prefix[-1] + amount)
    by_value = sorted((amount, position) for position, amount in enumerate(amounts))
    values = [value for value, _ in by_value]
    kept = sorted(set(charges))
    is_kept = set(kept)

    def inside(excess: int, first: int, last: int) -> list[tuple[int, int]]:
        """(position, charge) of the items in ``first..last`` whose leaving out brings
        ``excess`` to a charge the bank may keep."""
        low = bisect.bisect_left(values, excess - kept[-1])
        high = bisect.bisect_right(values, excess - kept[0])
        return [
            (position, excess - value)
            for value, position in by_value[low:high]
            if first <= position <= last and excess - value in is_kept
        ]

    # (gaps, charge, items paid, start, stop, skipped positions); the window is start..stop
    found: list[tuple[int, int, int, int, int, tuple[int, ...]]] = []
    oldest_debit = next((p for p, amount in enumerate(amounts) if amount > 0), 0)
    for start in [0] if from_start else range(n):
        first_gap = start if from_start else start + 1
        for stop in range(start + 1, n):
            excess = prefix[stop + 1] - prefix[start] - target
            length = stop - start + 1
            if excess in is_kept:
                found.append((0, excess, length, start, stop, ()))
                continue
            if max_gaps >= 1 and length >= 3:
                for k, charge in inside(excess, first_gap, stop - 1):
                    found.append((1, charge, length - 1, start, stop, (k,)))
            if max_gaps >= 2 and length >= 4 and (from_start or start <= oldest_debit):
                for k in range(first_gap, stop - 1):
                    for m, charge in inside(excess - amounts[k], k + 1, stop - 1):
                        found.append((2, charge, length - 2, start, stop, (k, m)))
                if max_gaps >= 3 and length >= 5:
                    tail = max(first_gap, stop - tail_gaps)
                    for k, m in itertools.combinations(range(tail + 1, stop), 2):
                        rest = excess - amounts[k] - amounts[m]
                        for j, charge in inside(rest, tail, k - 1):
                            found.append((3, charge, length - 3, start, stop, (j, k, m)))
            if len(found) > 4 * limit + 64:
                found = sorted(found)[:limit]
    runs = []
    for _, charge, _, start, stop, skipped in sorted(found)[:limit]:
        keys = tuple(ordered[p].key for p in range(start, stop + 1) if p not in skipped)
        runs.append(GappedRun(keys, tuple(ordered[p].key for p in skipped), start, charge))
    return runs

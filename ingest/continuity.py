"""Which of a bank file's transactions are new: overlapping statements against consecutive ones.

Banks report one transaction more than once: an intraday report and the day's statement, a
notification and the statement, an export of the last 30 days taken every week. A transaction is
therefore known by its fingerprint (account, amount, dates, references, payer, text), and a
statement adds only the copies of a fingerprint beyond those already stored or brought by the
file's other statements. Repeats within one statement are genuine (a bank does not list one
transaction twice in a statement).

That alone would take two genuinely identical payments (same day, amount, payer and text, no
bank reference) reported in two consecutive statements for one payment. Balance continuity tells
them apart: a statement that opens where another of the account closes comes after it and
repeats none of its transactions, so the payments that statement holds are not copies of this
one's. The chain is followed while it is certain: balances that move, both dates, and at each
balance crossed one statement ending and one starting (a statement of the whole day starts where
its morning did; a day that comes back to its opening balance places nothing). Whatever is not
certain is compared as overlapping: a payment counted twice is worse than one held back.

A statement read while one between it and those stored is missing cannot be placed, and its
twin is taken for a copy; the statement that fills the gap shows the two statements of one chain
holding one payment, and the later one's is put right: a copy its chain does not hold (from an
overlapping statement) or a new payment.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from ingest.statements import BankTransaction, ParsedFile, ParsedStatement
from ledger.repository import StoredStatement

CHAIN_LIMIT = 400
"""Statements followed each way at most (a year of daily statements and some intraday ones)."""


@dataclass(frozen=True, slots=True)
class Placed:
    """One transaction of the file, sorted out.

    statement_key: its statement's key ('' when its balances cannot place it).
    payment_id / occurrence: the payment it is stored as, or is a copy of (``is_new`` False).
    """

    transaction: BankTransaction
    fingerprint: str
    statement_key: str
    payment_id: str
    occurrence: int
    is_new: bool


def known_statement(statement: ParsedStatement) -> StoredStatement | None:
    """The statement as a link of its account's balance chain, or None where its balances
    cannot place it: it needs both balances and both dates, and a balance that moves.
    Balances that come back where they were (a zero-balance account swept every day, a day
    whose debits undo its credits, an empty intraday statement) say nothing about which
    statement comes first."""
    opening, closing = statement.opening_balance, statement.closing_balance
    if opening is None or closing is None or opening.minor == closing.minor:
        return None
    if not (statement.from_date and statement.to_date):
        return None
    amounts = [t.amount.minor for t in statement.transactions]
    parts = [
        statement.account,
        statement.currency,
        statement.statement_id,
        statement.from_date.isoformat(),
        statement.to_date.isoformat(),
        str(opening.minor),
        str(closing.minor),
        str(len(amounts)),
        str(sum(a for a in amounts if a > 0)),
    ]
    return StoredStatement(
        statement_key=hashlib.sha256("\x1f".join(parts).encode()).hexdigest(),
        account=statement.account,
        currency=statement.currency,
        statement_id=statement.statement_id,
        from_date=statement.from_date,
        to_date=statement.to_date,
        opening_minor=opening.minor,
        closing_minor=closing.minor,
    )


def chained(
    statement: StoredStatement, known: Sequence[StoredStatement], days: tuple[date, date] | None
) -> set[str]:
    """Keys of the known statements that provably come before or after ``statement``.

    A step back goes from a statement to the one statement of the account that closes where it
    opens and ends no later than it starts; a step forward, to the one that opens where it
    closes and starts no earlier than it ends. A step is taken only when the balance it
    crosses is unambiguous: one statement ends there and one starts there in those days. A
    balance the account comes back to (an overlapping statement of the whole day starts where
    the morning did, or the day's debits undo its credits) ends the walk. So does a statement
    wholly outside ``days`` (the first and last booking day of ``statement``): it cannot hold a
    copy of one of its transactions, and neither can the ones beyond it.
    """
    closing_at: dict[int, list[StoredStatement]] = defaultdict(list)
    opening_at: dict[int, list[StoredStatement]] = defaultdict(list)
    for k in [statement, *known]:
        if (k.account, k.currency) == (statement.account, statement.currency) and (
            k is statement or k.statement_key != statement.statement_key
        ):
            closing_at[k.closing_minor].append(k)
            opening_at[k.opening_minor].append(k)
    found: set[str] = set()
    for back in (True, False):
        current = statement
        for _ in range(CHAIN_LIMIT):
            balance = current.opening_minor if back else current.closing_minor
            ending = [k for k in closing_at.get(balance, ()) if k is not current]
            starting = [k for k in opening_at.get(balance, ()) if k is not current]
            if back:
                step = [k for k in ending if not _starts_before(current, k)]
                rivals = [k for k in starting if _overlap(k, current)]
            else:
                step = [k for k in starting if not _starts_before(k, current)]
                rivals = [k for k in ending if _overlap(k, current)]
            if len(step) != 1 or rivals or step[0].statement_key in found:
                break
            current = step[0]
            found.add(current.statement_key)
            if days and _outside(current, days, back=back):
                break
    found.discard(statement.statement_key)
    return found


def _overlap(one: StoredStatement, other: StoredStatement) -> bool:
    """The two statements' periods share a day (or either has no dates)."""
    if not (one.from_date and one.to_date and other.from_date and other.to_date):
        return True
    return one.from_date <= other.to_date and other.from_date <= one.to_date


def _starts_before(later: StoredStatement, earlier: StoredStatement) -> bool:
    """``later`` starts before ``earlier`` ends: it cannot follow it."""
    return bool(later.from_date and earlier.to_date and later.from_date < earlier.to_date)


def _outside(statement: StoredStatement, days: tuple[date, date], *, back: bool) -> bool:
    if back:
        return bool(statement.to_date and statement.to_date < days[0])
    return bool(statement.from_date and statement.from_date > days[1])


@dataclass(frozen=True, slots=True)
class Placement:
    """A file's transactions sorted out, and what it shows about the stored ones.

    statements: the file's statements its balances can place, to be kept.
    separated: stored statements' transactions that were taken for copies of payments but are
    payments of their own: the file joined their statement and the one that holds the payment
    into one chain (it was read while a statement between them was missing).
    """

    placed: list[Placed]
    statements: list[StoredStatement]
    separated: list[Separated]


@dataclass(frozen=True, slots=True)
class Separated:
    """A stored statement's transaction found not to be ``payment_id`` but ``instead``: a
    stored copy no statement of its chain holds, or (``occurrence`` > 0) a new payment."""

    statement_key: str
    payment_id: str
    instead: str
    occurrence: int = 0


def place(
    parsed: ParsedFile,
    fingerprints: Sequence[str],
    copies: Mapping[str, Sequence[tuple[str, int]]],
    known: Iterable[StoredStatement],
    claims_of: Callable[[list[str]], Mapping[str, set[str]]],
    copies_of: Callable[[list[str]], Mapping[str, Sequence[tuple[str, int]]]],
) -> Placement:
    """Sort out every transaction of ``parsed``: a copy of a stored one, or new.

    fingerprints: of ``parsed.transactions``, in their order.
    copies: by fingerprint, the payments stored by earlier files: (payment id, occurrence), in
    occurrence order.
    known: the stored statements of the file's accounts that have both balances, oldest first.
    claims_of: by statement key, the payments the stored statements' transactions were found
    to be (asked only for the statements chained to one of the file's).
    copies_of: like ``copies``, for the fingerprints of the payments named (asked only for a
    payment two statements of one chain hold whose fingerprint the file does not have).
    """
    fingerprint_of = iter(fingerprints)
    by_account: dict[tuple[str, str], list[StoredStatement]] = {}
    order: dict[str, int] = {}
    for k in known:
        if k.statement_key not in order:
            order[k.statement_key] = len(order)
            by_account.setdefault((k.account, k.currency), []).append(k)
    claimed_by: dict[str, set[str]] = {}
    last_occurrence = {f: max((n for _, n in found), default=0) for f, found in copies.items()}
    # by fingerprint, what the file's statements placed so far are: (statement, payment,
    # occurrence)
    in_file: dict[str, list[tuple[str, str, int]]] = {}
    placed: list[Placed] = []
    separated: list[Separated] = []
    fingerprint_of_payment = {c[0]: f for f, found in copies.items() for c in found}
    available = {f: list(found) for f, found in copies.items()}
    links = [known_statement(statement) for statement in parsed.statements]
    stored = set(order)
    for link in links:  # the file's own statements place each other whatever their order
        if link is not None and link.statement_key not in order:
            order[link.statement_key] = len(order)
            by_account.setdefault((link.account, link.currency), []).append(link)
    for number, (statement, link) in enumerate(zip(parsed.statements, links, strict=True)):
        chain = by_account.setdefault((statement.account, statement.currency), [])
        linked = _linked(statement, link, chain)
        if unknown := [key for key in linked if key not in claimed_by]:
            loaded = claims_of(unknown)
            claimed_by.update({key: set(loaded.get(key, ())) for key in unknown})
        key = link.statement_key if link else ""
        if key in stored and key not in claimed_by:
            claimed_by.update({key: set(claims_of([key]).get(key, ()))})
        twice = _held_twice(linked | ({key} & stored), claimed_by, order)
        if unseen := [p for _, p in twice if p not in fingerprint_of_payment]:
            for fingerprint, found in copies_of(unseen).items():
                available.setdefault(fingerprint, list(found))
                last_occurrence.setdefault(fingerprint, max(n for _, n in found))
                fingerprint_of_payment.update({c[0]: fingerprint for c in found})
        for later, payment_id in twice:
            fingerprint = fingerprint_of_payment.get(payment_id, "")
            if later not in stored or not fingerprint:
                continue  # a statement of this file holds what its chain leaves it
            holds = set().union(*(claimed_by.get(k, set()) for k in linked | {key}))
            own = _own_payment(fingerprint, available, holds, last_occurrence)
            claimed_by[later] = claimed_by[later] - {payment_id} | {own.instead}
            separated.append(replace(own, statement_key=later, payment_id=payment_id))
        claimed = set().union(*(claimed_by.get(k, set()) for k in linked))
        marker = key or f"#{number}"
        here: Counter[str] = Counter()
        mine: list[Placed] = []
        for transaction in statement.transactions:
            fingerprint = next(fingerprint_of)
            here[fingerprint] += 1
            pool = _pool(fingerprint, available, in_file, claimed, linked | {marker})
            if here[fingerprint] <= len(pool):
                payment_id, occurrence = pool[here[fingerprint] - 1]
                mine.append(Placed(transaction, fingerprint, key, payment_id, occurrence, False))
            else:
                occurrence = last_occurrence[fingerprint] = last_occurrence.get(fingerprint, 0) + 1
                payment_id = payment_id_of(fingerprint, occurrence)
                mine.append(Placed(transaction, fingerprint, key, payment_id, occurrence, True))
        for p in mine:
            in_file.setdefault(p.fingerprint, []).append((marker, p.payment_id, p.occurrence))
        placed.extend(mine)
        if link is not None:
            claimed_by.setdefault(key, set()).update(p.payment_id for p in mine)
    return Placement(placed, [link for link in links if link is not None], separated)


def _own_payment(
    fingerprint: str,
    available: dict[str, list[tuple[str, int]]],
    holds: set[str],
    last_occurrence: dict[str, int],
) -> Separated:
    """The payment a transaction taken for a copy of one its chain ``holds`` is: a copy the
    chain does not hold yet (an overlapping statement brought it) if there is one, else a new
    one (its occurrence taken, so the rest of the file sees it)."""
    spare = [c for c in available[fingerprint] if c[0] not in holds]
    if spare:
        return Separated("", "", spare[0][0])
    occurrence = last_occurrence[fingerprint] = last_occurrence[fingerprint] + 1
    instead = payment_id_of(fingerprint, occurrence)
    available[fingerprint].append((instead, occurrence))
    return Separated("", "", instead, occurrence)


def _pool(
    fingerprint: str,
    stored: Mapping[str, Sequence[tuple[str, int]]],
    in_file: Mapping[str, Sequence[tuple[str, str, int]]],
    claimed: set[str],
    apart: set[str],
) -> list[tuple[str, int]]:
    """The payments a transaction with ``fingerprint`` may be a copy of: the stored ones the
    statements chained to its own do not hold, then those the file's other statements placed
    (bar the ones ``apart``: its own and those chained to it), each once."""
    pool = [c for c in stored.get(fingerprint, ()) if c[0] not in claimed]
    seen = {payment_id for payment_id, _ in pool} | claimed
    for marker, payment_id, occurrence in in_file.get(fingerprint, ()):
        if marker not in apart and payment_id not in seen:
            pool.append((payment_id, occurrence))
            seen.add(payment_id)
    return pool


def _held_twice(
    keys: set[str], claimed_by: Mapping[str, set[str]], order: Mapping[str, int]
) -> list[tuple[str, str]]:
    """(statement key, payment id) of the payments two statements of one chain hold, each
    but the first statement's (by when it was read). Statements of one chain share no
    transaction: each later one's is a payment of its own, taken for a copy when it was read.
    """
    held: set[str] = set()
    twice: list[tuple[str, str]] = []
    for key in sorted(keys, key=lambda k: order.get(k, len(order))):
        for payment_id in sorted(claimed_by.get(key, ())):
            if payment_id in held:
                twice.append((key, payment_id))
            held.add(payment_id)
    return twice


def _linked(
    statement: ParsedStatement, link: StoredStatement | None, chain: Sequence[StoredStatement]
) -> set[str]:
    if link is None:
        return set()
    booked = [d for t in statement.transactions if (d := t.booking_date or t.value_date)]
    return chained(link, chain, (min(booked), max(booked)) if booked else None)


def payment_id_of(fingerprint: str, occurrence: int) -> str:
    """arpilot's stable payment id: the same transaction always gets the same id."""
    digest = hashlib.sha256(f"{fingerprint}/{occurrence}".encode()).hexdigest()
    return f"PAY-{digest[:16].upper()}"

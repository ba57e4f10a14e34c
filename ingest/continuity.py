"""Which of a bank file's transactions are new: overlapping statements against consecutive ones.

Banks report one transaction more than once: an intraday report and the day's statement, a
notification and the statement, an export of the last 30 days taken every week. A transaction is
therefore known by its fingerprint (account, amount, dates, references, payer, text), and a file
adds only the copies of a fingerprint beyond those already stored.

That alone would take two genuinely identical payments (same day, amount, payer and text, no
bank reference) reported in two consecutive statements for one payment. Balance continuity tells
them apart: a statement whose opening balance is where a stored statement of the account closed
comes after it and repeats none of its transactions. So the copies such earlier statements hold
are not copies of this statement's transactions. The chain is followed back while it is
unambiguous (exactly one statement closes where the next opens) and while its statements can
still hold a transaction of the same booking day.

A statement without both balances (most CSV exports, camt.054 notifications) chains to nothing
and overlaps everything, as before; within one file, repeats are genuine (a bank file does not
list one transaction twice), except across statements chained to each other.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from ingest.statements import BankTransaction, ParsedFile, ParsedStatement
from ledger.repository import StoredStatement

CHAIN_LIMIT = 400
"""Statements followed back at most (a year of daily statements and some intraday ones)."""


@dataclass(frozen=True, slots=True)
class Placed:
    """One transaction of the file, sorted out.

    statement_key: its statement's key ('' when the statement has not both balances).
    payment_id / occurrence: the payment it is stored as, or is a copy of (``is_new`` False).
    """

    transaction: BankTransaction
    fingerprint: str
    statement_key: str
    payment_id: str
    occurrence: int
    is_new: bool


def known_statement(statement: ParsedStatement) -> StoredStatement | None:
    """The statement as a link of its account's balance chain; None without both balances."""
    if statement.opening_balance is None or statement.closing_balance is None:
        return None
    amounts = [t.amount.minor for t in statement.transactions]
    parts = [
        statement.account,
        statement.currency,
        statement.statement_id,
        statement.from_date.isoformat() if statement.from_date else "",
        statement.to_date.isoformat() if statement.to_date else "",
        str(statement.opening_balance.minor),
        str(statement.closing_balance.minor),
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
        opening_minor=statement.opening_balance.minor,
        closing_minor=statement.closing_balance.minor,
    )


def chained(
    statement: StoredStatement, known: Sequence[StoredStatement], days: tuple[date, date] | None
) -> set[str]:
    """Keys of the known statements that provably come before or after ``statement``.

    A step back takes the one statement of the account that closes where the current one opens
    and ends no later than it starts; a step forward, the one that opens where it closes and
    starts no earlier than it ends. None or several end the walk. So does a statement wholly
    outside ``days`` (the first and last booking day of ``statement``): it cannot hold a copy of
    one of its transactions, and neither can the ones beyond it.
    """
    closing_at: dict[int, list[StoredStatement]] = defaultdict(list)
    opening_at: dict[int, list[StoredStatement]] = defaultdict(list)
    for k in known:
        if (k.account, k.currency) == (statement.account, statement.currency) and (
            k.statement_key != statement.statement_key
        ):
            closing_at[k.closing_minor].append(k)
            opening_at[k.opening_minor].append(k)
    found: set[str] = set()
    for back in (True, False):
        current = statement
        for _ in range(CHAIN_LIMIT):
            if back:
                step = [
                    k
                    for k in closing_at.get(current.opening_minor, ())
                    if not _starts_before(current, k)
                ]
            else:
                step = [
                    k
                    for k in opening_at.get(current.closing_minor, ())
                    if not _starts_before(k, current)
                ]
            step = [k for k in step if k.statement_key not in found]
            if len(step) != 1:
                break
            current = step[0]
            found.add(current.statement_key)
            if days and _outside(current, days, back=back):
                break
    return found


def _starts_before(later: StoredStatement, earlier: StoredStatement) -> bool:
    """``later`` starts before ``earlier`` ends: it cannot follow it."""
    return bool(later.from_date and earlier.to_date and later.from_date < earlier.to_date)


def _outside(statement: StoredStatement, days: tuple[date, date], *, back: bool) -> bool:
    if back:
        return bool(statement.to_date and statement.to_date < days[0])
    return bool(statement.from_date and statement.from_date > days[1])


def place(
    parsed: ParsedFile,
    fingerprints: Sequence[str],
    copies: Mapping[str, Sequence[tuple[str, int]]],
    known: Iterable[StoredStatement],
    claims: Mapping[str, set[str]],
) -> list[Placed]:
    """Sort out every transaction of ``parsed``: a copy of a stored one, or new.

    fingerprints: of ``parsed.transactions``, in their order.
    copies: by fingerprint, the payments stored by earlier files: (payment id, occurrence), in
    occurrence order.
    known: the stored statements of the file's accounts that have both balances.
    claims: by statement key, the payments (of ``copies``) a stored statement's transactions
    were found to be.
    """
    fingerprint_of = iter(fingerprints)
    by_account: dict[tuple[str, str], list[StoredStatement]] = {}
    for k in {k.statement_key: k for k in known}.values():
        by_account.setdefault((k.account, k.currency), []).append(k)
    claimed_by = {key: set(ids) for key, ids in claims.items()}
    last_occurrence = {f: max((n for _, n in found), default=0) for f, found in copies.items()}
    in_file: Counter[str] = Counter()
    in_statement: dict[str, Counter[str]] = {}
    placed: list[Placed] = []
    for statement in parsed.statements:
        link = known_statement(statement)
        chain = by_account.setdefault((statement.account, statement.currency), [])
        linked = _linked(statement, link, chain)
        claimed = set().union(*(claimed_by.get(key, set()) for key in linked))
        elsewhere = [in_statement[key] for key in linked if key in in_statement]
        key = link.statement_key if link else ""
        here: Counter[str] = Counter()
        for transaction in statement.transactions:
            fingerprint = next(fingerprint_of)
            here[fingerprint] += 1
            # the how-many-th copy in this file, not counting statements linked to this one
            nth = in_file[fingerprint] + here[fingerprint] - sum(c[fingerprint] for c in elsewhere)
            pool = [c for c in copies.get(fingerprint, ()) if c[0] not in claimed]
            if nth <= len(pool):
                payment_id, occurrence = pool[nth - 1]
                placed.append(Placed(transaction, fingerprint, key, payment_id, occurrence, False))
            else:
                occurrence = last_occurrence[fingerprint] = last_occurrence.get(fingerprint, 0) + 1
                payment_id = payment_id_of(fingerprint, occurrence)
                placed.append(Placed(transaction, fingerprint, key, payment_id, occurrence, True))
        in_file.update(here)
        if link is not None:
            if all(k.statement_key != key for k in chain):
                chain.append(link)
            in_statement[key] = in_statement.get(key, Counter()) + here
            claimed_by.setdefault(key, set()).update(
                p.payment_id for p in placed[len(placed) - len(statement.transactions) :]
            )
    return placed


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

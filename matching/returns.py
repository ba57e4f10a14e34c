"""Returned receipts: link each to the payment it takes back and undo what that payment settled.

A bounced cheque or a returned ACH credit means the cash never arrived. Whatever the original
payment was applied to is open again (its deductions and write-offs with it: the payer agreed
to nothing), a payment still waiting is never applied, and its exception is withdrawn. The
link is made only on evidence: the same amount on the same account before the return, and
either a reference both carry (end-to-end id, bank or cheque reference) or, recently, the
same payer. Anything less
goes to an analyst as an ``unlinked_return`` exception naming the candidates, because undoing
the wrong customer's application is as bad as applying money to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from duckdb import DuckDBPyConnection as Connection
from rapidfuzz import fuzz

from ledger import audit
from ledger.errors import InputError
from ledger.money import format_amount
from ledger.records import ExceptionReason
from matching import references as refs
from matching.names import compact

RETURN_WINDOW_DAYS = 120
"""How far back a return looks for the receipt it takes back when both carry one reference:
ACH returns come within days, unauthorised-debit claims within 60 days, cheques a few weeks
after deposit."""

PAYER_ONLY_WINDOW_DAYS = 14
"""How far back, with no reference shared, a receipt from the return's payer may be the one
taken back: an older one is more likely another payment than this one's receipt not in yet."""

SAME_PAYER_SCORE = 90
"""rapidfuzz ratio of the compact names above which a return's counterparty is the payer."""

_MIN_REFERENCE = 6  # a reference shorter than this is too common to find in a return's text
_MIN_CHEQUE = 3  # a cheque number equal in both fields, at least this long
_NO_REFERENCE = frozenset({"", "NOTPROVIDED", "NONREF", "NONE", "NA", "UNKNOWN"})
_LINKABLE = ("unapplied", "applied", "exception")  # statuses of a receipt a return can take back
_ACH_REASON = re.compile(r"\bR(\d\d)\b")
_WORD = re.compile(r"[0-9A-Z]+(?:[-/.][0-9A-Z]+)*")
_OTHER_PAYER = 60  # rapidfuzz ratio of compact names below which two payers are not one


@dataclass(frozen=True, slots=True)
class Booking:
    """A bank transaction as the linking needs it: a return or a receipt it may take back."""

    payment_id: str
    account: str
    currency: str
    amount_minor: int
    day: date
    payer_name: str
    payer_account: str
    bank_reference: str
    customer_reference: str
    end_to_end_id: str
    remittance_text: str
    status: str = ""


_BOOKING = (
    "payment_id, account, currency, amount_minor, coalesce(value_date, booking_date), "
    "payer_name, payer_account, bank_reference, coalesce(customer_reference, ''), "
    "end_to_end_id, remittance_text, status"
)


@dataclass(frozen=True, slots=True)
class ReturnsSummary:
    """What one pass over the waiting returns did."""

    linked: int = 0
    reversed_applications: int = 0
    reopened_invoices: int = 0
    unlinked: int = 0


def return_reason(text: str) -> str:
    """The return's reason as the bank wrote it: an ACH code (R01), else its text, shortened."""
    code = _ACH_REASON.search(text.upper())
    if code is not None:
        return f"R{code.group(1)}"
    return " ".join(text.split())[:80]


def _reference(text: str) -> str:
    return text.strip().upper()


def _telling(reference: str) -> bool:
    """A reference that can tie two bookings: long enough, with a digit, no placeholder
    ('NOTPROVIDED', 'N/A')."""
    return (
        len(reference) >= _MIN_REFERENCE
        and any(c.isdigit() for c in reference)
        and refs.key(reference) not in _NO_REFERENCE
    )


def shared_keys(returned: Booking, receipt: Booking) -> list[str]:
    """The references a return and a receipt both carry, by kind."""
    keys = []
    end_to_end = _reference(returned.end_to_end_id)
    if _telling(end_to_end) and end_to_end == _reference(receipt.end_to_end_id):
        keys.append("end_to_end_id")
    said = set(
        _WORD.findall(
            " ".join(
                (returned.remittance_text, returned.bank_reference, returned.customer_reference)
            ).upper()
        )
    )
    for kind, value in (
        ("bank_reference", receipt.bank_reference),
        ("customer_reference", receipt.customer_reference),
    ):
        value = _reference(value)
        # a whole word of the return's, with a digit: 'PAYMENT' or a date's digits say nothing
        if _telling(value) and value in said:
            keys.append(kind)
    cheque = _reference(returned.customer_reference)  # a cheque number or ACH trace, as sent
    if (
        len(cheque) >= _MIN_CHEQUE
        and any(c.isdigit() for c in cheque)
        and cheque == _reference(receipt.customer_reference)
    ):
        keys.append("customer_reference")
    return sorted(set(keys))


def same_payer(returned: Booking, receipt: Booking) -> list[str]:
    """How the return's counterparty is the receipt's payer: account, name, or not at all."""
    found = []
    if returned.payer_account and returned.payer_account == receipt.payer_account:
        found.append("payer_account")
    a, b = compact(returned.payer_name), compact(receipt.payer_name)
    if a and b and fuzz.ratio(a, b) >= SAME_PAYER_SCORE:
        found.append("payer_name")
    return found


def other_payer(returned: Booking, receipt: Booking) -> bool:
    """Whether the return names a counterparty that is not the receipt's payer: both named,
    the names far apart and no bank account in common."""
    if returned.payer_account and returned.payer_account == receipt.payer_account:
        return False
    a, b = compact(returned.payer_name), compact(receipt.payer_name)
    return bool(a and b) and fuzz.ratio(a, b) < _OTHER_PAYER


def original_of(
    returned: Booking, receipts: list[Booking]
) -> tuple[Booking | None, dict[str, Any]]:
    """The receipt a return takes back, with the evidence; or None and the candidates.

    Candidates are receipts of the returned amount on the same account and currency, in the
    window before the return. One sharing a reference whose payer the return does not
    contradict wins if it is the only one (or the only one also from the same payer); with no
    reference shared, the one recent receipt from the same payer.
    """
    candidates = [
        r
        for r in receipts
        if r.account == returned.account
        and r.currency == returned.currency
        and r.amount_minor == -returned.amount_minor
        and returned.day - timedelta(days=RETURN_WINDOW_DAYS) <= r.day <= returned.day
    ]
    keyed = [(r, shared_keys(returned, r), same_payer(returned, r)) for r in candidates]
    by_reference = [k for k in keyed if k[1]]
    if any(other_payer(returned, r) for r, *_ in by_reference):
        chosen = []  # the reference points at a receipt of someone else: not for a rule
    elif len(by_reference) > 1:
        chosen = [k for k in by_reference if k[2]]
    elif by_reference:
        chosen = by_reference
    else:
        recent = returned.day - timedelta(days=PAYER_ONLY_WINDOW_DAYS)
        chosen = [k for k in keyed if k[2] and k[0].day >= recent]
    if len(chosen) == 1:
        receipt, keys, payer = chosen[0]
        return receipt, {"references": keys, "payer": payer}
    return None, {"candidates": [r.payment_id for r in candidates]}


def _bookings(con: Connection, where: str, params: list[Any]) -> list[Booking]:
    rows = con.execute(f"SELECT {_BOOKING} FROM payments WHERE {where}", params).fetchall()
    return [Booking(*row) for row in rows]


def _booking(con: Connection, payment_id: str) -> Booking | None:
    found = _bookings(con, "payment_id = ?", [payment_id])
    return found[0] if found else None


def settle_returns(con: Connection, now: datetime, actor: str) -> ReturnsSummary:
    """Link every waiting return it can and undo what its receipt settled; raise (once) an
    ``unlinked_return`` exception for the others. The caller holds the transaction."""
    waiting = _bookings(
        con, "status = 'return' ORDER BY coalesce(value_date, booking_date), payment_id", []
    )
    if not waiting:
        return ReturnsSummary()
    receipts = _bookings(
        con, "status IN (SELECT unnest(?)) AND amount_minor > 0", [list(_LINKABLE)]
    )
    linked = reversed_ = reopened = unlinked = 0
    for returned in waiting:
        receipt, evidence = original_of(returned, receipts)
        if receipt is None:
            unlinked += 1
            _raise_unlinked(con, returned, evidence, now)
            continue
        receipts.remove(receipt)
        undone, invoices = link_return(con, returned, receipt, actor, evidence, now)
        linked += 1
        reversed_ += undone
        reopened += invoices
    return ReturnsSummary(linked, reversed_, reopened, unlinked)


def _raise_unlinked(
    con: Connection, returned: Booking, evidence: dict[str, Any], now: datetime
) -> None:
    exception_id = f"EXC-{returned.payment_id.removeprefix('PAY-')}"
    con.execute(
        """
        INSERT INTO exceptions (exception_id, payment_id, reason, suggestions, status, assignee,
                                version, resolution, created_at, updated_at, run_id, evidence)
        VALUES (?, ?, ?, '[]', 'open', '', 1, NULL, ?, ?, '', ?)
        ON CONFLICT DO NOTHING
        """,
        [
            exception_id,
            returned.payment_id,
            str(ExceptionReason.UNLINKED_RETURN),
            now,
            now,
            json.dumps({**evidence, "return_reason": return_reason(returned.remittance_text)}),
        ],
    )


def returned_in_part(con: Connection, payment_id: str) -> int:
    """What returns of items of the payment (a cheque of a deposit bounced) took back of it, in
    minor units: cash that is not there to apply."""
    (taken,) = con.execute(
        "SELECT coalesce(-sum(amount_minor), 0) FROM payments "
        "WHERE returns_payment_id = ? AND status = 'return_linked'",
        [payment_id],
    ).fetchone() or (0,)
    return int(taken)


def reverse_applications(
    con: Connection,
    payment_id: str,
    now: datetime,
    *,
    by: str = "",
    reason: str = "",
    invoices: Sequence[str] = (),
) -> tuple[list[tuple[str, str | None, int, int, str]], dict[str, int]]:
    """Reverse the payment's live applications (only those on ``invoices`` when it names
    some), with the analyst's name ``by`` when one takes them back and the ``reason`` the
    export gives the ERP, and reopen what they settled, cash and adjustment. Returns the
    applications reversed (id, invoice, cash, adjustment, kind) and what each item was
    reopened by. The caller holds the transaction."""
    undone = con.execute(
        """
        UPDATE applications SET reversed_at = ?, reversed_by = ?, reversal_reason = ?
        WHERE payment_id = ? AND reversed_at IS NULL
          AND (len(?) = 0 OR invoice_number IN (SELECT unnest(?)))
        RETURNING application_id, invoice_number, applied_minor, adjustment_minor, kind
        """,
        [now, by, reason, payment_id, list(invoices), list(invoices)],
    ).fetchall()
    settled: dict[str, int] = {}
    for _, invoice, applied, adjustment, _ in undone:
        if invoice is not None:
            settled[invoice] = settled.get(invoice, 0) + applied + adjustment
    for invoice, minor in sorted(settled.items()):
        # Never past the item's amount: an ERP that reopened it already shows part of what is
        # reopened here (a credit memo's amount is negative, so both bounds).
        con.execute(
            "UPDATE invoices SET open_minor = greatest(least(open_minor + ?, "
            "greatest(amount_minor, 0)), least(amount_minor, 0)), updated_at = ? "
            "WHERE invoice_number = ?",
            [minor, now, invoice],
        )
    return [tuple(row) for row in undone], settled


def link_return(
    con: Connection,
    returned: Booking,
    receipt: Booking,
    actor: str,
    evidence: dict[str, Any],
    now: datetime,
    invoices: Sequence[str] = (),
) -> tuple[int, int]:
    """Record that ``returned`` takes back ``receipt``: reverse the receipt's applications,
    reopen what they settled, close its exception and the return's. A return of one item of
    the receipt (a cheque of a lockbox deposit) names the ``invoices`` that item paid: only
    their applications are reversed and the receipt stays applied. Returns (applications
    reversed, invoices reopened). The caller holds the transaction."""
    undone, settled = reverse_applications(
        con,
        receipt.payment_id,
        now,
        reason=f"payment returned: {returned.payment_id}",
        invoices=invoices,
    )
    reason = return_reason(returned.remittance_text)
    resolution = json.dumps({"returned_by": returned.payment_id, "reason": reason})
    con.execute(
        "UPDATE exceptions SET status = 'withdrawn', resolution = ?, version = version + 1, "
        "updated_at = ? WHERE payment_id = ? AND status = 'open'",
        [resolution, now, receipt.payment_id],
    )
    con.execute(
        "UPDATE exceptions SET status = 'resolved', resolution = ?, version = version + 1, "
        "updated_at = ? WHERE payment_id = ? AND status = 'open'",
        [json.dumps({"takes_back": receipt.payment_id}), now, returned.payment_id],
    )
    con.execute(
        "UPDATE payments SET status = 'return_linked', returns_payment_id = ? WHERE payment_id = ?",
        [receipt.payment_id, returned.payment_id],
    )
    if invoices and returned_in_part(con, receipt.payment_id) >= receipt.amount_minor:
        # Its last item returned too: nothing of the payment is left, on account or anywhere.
        more, reopened = reverse_applications(
            con, receipt.payment_id, now, reason=f"payment returned: {returned.payment_id}"
        )
        undone += more
        for number, minor in reopened.items():
            settled[number] = settled.get(number, 0) + minor
        invoices = ()
    if not invoices:
        con.execute(
            "UPDATE payments SET status = 'returned' WHERE payment_id = ?", [receipt.payment_id]
        )
    audit.append(
        con,
        [
            audit.NewEntry(
                actor=actor,
                action="return_payment",
                entity="payment",
                entity_id=receipt.payment_id,
                payload={
                    "return": returned.payment_id,
                    "reason": reason,
                    "evidence": evidence,
                    "was": receipt.status,
                    "in_part": list(invoices),
                    "reversed": [
                        [app_id, invoice, applied, adjustment, kind]
                        for app_id, invoice, applied, adjustment, kind in sorted(undone)
                    ],
                    "reopened": settled,
                    "currency": receipt.currency,
                },
            )
        ],
        at=now,
    )
    return len(undone), len(settled)


def link_by_analyst(
    con: Connection,
    return_id: str,
    receipt_id: str,
    analyst: str,
    now: datetime,
    invoices: Sequence[str] = (),
) -> tuple[int, int]:
    """An analyst's link of a waiting return to the receipt it takes back, checked first:
    the return must be waiting, the receipt a credit of the same account and currency,
    booked no later than the return and not taken back already, and of the amount returned;
    or, for a return of one item of it (a cheque of a lockbox deposit), an applied receipt
    whose applications on ``invoices`` (the ones that item paid) come to the amount returned.
    Caller holds the transaction."""
    returned = _booking(con, return_id)
    if returned is None or returned.status != "return":
        found = "no such payment" if returned is None else f"its status is {returned.status!r}"
        raise InputError(f"{return_id} is not a return waiting to be linked ({found})")
    receipt = _booking(con, receipt_id)
    if receipt is None:
        raise InputError(f"no payment {receipt_id}")
    invoices = sorted({number.strip() for number in invoices if number.strip()})
    problems = []
    if receipt.status not in _LINKABLE or receipt.amount_minor <= 0:
        problems.append(f"it is not a receipt that can be taken back (status {receipt.status!r})")
    if (receipt.account, receipt.currency) != (returned.account, returned.currency):
        problems.append("it was booked on another account or in another currency")
    if receipt.day > returned.day:
        problems.append("it was booked after the return")
    if not invoices and receipt.amount_minor != -returned.amount_minor:
        problems.append(
            "its amount is not the amount returned (a return of one item of it names the "
            "invoices that item paid)"
        )
    if invoices:
        problems.extend(_part_problems(con, returned, receipt, invoices))
    if problems:
        raise InputError(f"{return_id} cannot take back {receipt_id}: " + "; ".join(problems))
    evidence = {"analyst": analyst} | ({"invoices": invoices} if invoices else {})
    return link_return(con, returned, receipt, analyst, evidence, now, invoices)


def _part_problems(
    con: Connection, returned: Booking, receipt: Booking, invoices: list[str]
) -> list[str]:
    """Why ``returned`` cannot take back the receipt's applications on ``invoices`` alone."""
    if receipt.status != "applied":
        return [f"only an applied receipt is taken back in part (its status is {receipt.status!r})"]
    if receipt.amount_minor <= -returned.amount_minor:
        return ["the return takes back the whole receipt: name no invoice"]
    paid = dict(
        con.execute(
            "SELECT invoice_number, sum(applied_minor) FROM applications "
            "WHERE payment_id = ? AND reversed_at IS NULL AND invoice_number IS NOT NULL "
            "GROUP BY invoice_number",
            [receipt.payment_id],
        ).fetchall()
    )
    problems = []
    if unpaid := [number for number in invoices if number not in paid]:
        problems.append(
            f"it applied nothing to {', '.join(unpaid)} (it paid {', '.join(sorted(paid))})"
        )
    elif (cash := sum(paid[number] for number in invoices)) != -returned.amount_minor:
        problems.append(
            f"its cash on {', '.join(invoices)} is {format_amount(cash, receipt.currency)}, "
            f"the return {format_amount(-returned.amount_minor, receipt.currency)}"
        )
    return problems

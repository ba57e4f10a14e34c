"""Applications an analyst takes back: a payment applied to the wrong invoices, by the engine or
by an analyst, found out later (a customer's query, a controller's review) and unapplied.

Unapplying reverses every live application of the payment, the deductions, discounts and
write-offs beside them included, and reopens what they settled, as a returned receipt's are.
The payment goes back to the exception queue (reason ``reversed``, the reversed allocations in
its evidence, what the engine finds for it now as suggestions) and only an analyst applies it
again: the engine never takes it back from the queue. What the application taught is
forgotten: a bank account or payer name it first linked to its customer no longer points
there, unless another payment from that account or name, applied to that customer no later
than it, says so too; imported history's and the ERP's links stand. Payments from the same
account or name applied to the same customers since are named, for the analyst to check: they
may have been applied on what the wrong application taught.
``arpilot export applications`` follows each application with its reversal, the analyst's
reason on it, for the ERP that posted the first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

from duckdb import DuckDBPyConnection as Connection

from ledger import audit
from ledger.db import transaction, utcnow
from ledger.errors import InputError
from ledger.money import format_amount
from ledger.records import ExceptionReason
from matching.engine import MAX_SUGGESTIONS, Scorer
from matching.returns import returned_in_part, reverse_applications
from matching.settings import MatchSettings

_NOT_APPLIED = {
    "unapplied": "it has not been matched yet",
    "exception": "it waits in the exception queue: decide it with 'arpilot resolve'",
    "returned": "its bank returned it, which reversed its applications already",
    "return": "it is a returned receipt, not cash applied",
    "return_linked": "it is a returned receipt, not cash applied",
}


class _Payer(NamedTuple):
    """The payment taken back, and the bank account and name it came from."""

    payment_id: str
    account: str
    name: str


@dataclass(frozen=True, slots=True)
class Unapplied:
    """A payment unapplied: the exception it waits in again, the allocations reversed (invoice
    or '' for cash on account, cash and adjustment in minor units, kind), what each item was
    reopened by, the links forgotten, the payments from the payer's account or name applied to
    the same customers since (to check), and the links that stand because other payments back
    them (the next payment from that account goes to the same customer)."""

    payment_id: str
    exception_id: str
    analyst: str
    currency: str
    reversed: tuple[tuple[str, int, int, str], ...]
    reopened: tuple[tuple[str, int], ...]
    forgotten: tuple[str, ...]
    applied_since: tuple[str, ...]
    still_linked: tuple[str, ...] = ()


def unapply_payment(
    con: Connection,
    payment_id: str,
    *,
    analyst: str,
    reason: str,
    now: datetime | None = None,
    scorer: Scorer | None = None,
    settings: MatchSettings | None = None,
) -> Unapplied:
    """Take back every live application of ``payment_id``, reopen what it settled, forget what
    it taught and queue the payment for an analyst again, with the audit entry, in one
    transaction. ``reason``: why (a customer's query, a review's finding), carried on each
    reversal the export gives the ERP. With a ``scorer`` the queue suggests what the engine
    finds for the payment now (never applied; the allocation taken back left out), else the
    suggestions its exception had."""
    if not analyst.strip():
        raise InputError("unapplying a payment needs the analyst's name")
    if not reason.strip():
        raise InputError("say why the payment is unapplied (--reason): it goes to the ERP")
    payment_id = payment_id.strip().upper()
    if not payment_id:
        raise InputError("name the payment to unapply (PAY-...)")
    now = now or utcnow()
    with transaction(con):
        if payment_id.startswith("EXC-"):
            held = con.execute(
                "SELECT payment_id FROM exceptions WHERE exception_id = ?", [payment_id]
            ).fetchall()
            payment_id = held[0][0] if held else payment_id
        found = con.execute(
            "SELECT status, currency, payer_account, payer_name FROM payments WHERE payment_id = ?",
            [payment_id],
        ).fetchall()
        if not found:
            raise InputError(f"no payment {payment_id}")
        status, currency, account, payer = found[0]
        if status != "applied":
            raise InputError(
                f"{payment_id} is not applied (its status is {status!r}): "
                + _NOT_APPLIED.get(status, "there is nothing to unapply")
            )
        live = con.execute(
            """
            SELECT coalesce(a.invoice_number, ''), a.applied_minor, a.adjustment_minor, a.kind,
                   a.method, a.decided_by, a.decided_at, coalesce(i.customer_id, ''),
                   coalesce(json_extract_string(a.evidence, '$.customer'), '')
            FROM applications a LEFT JOIN invoices i USING (invoice_number)
            WHERE a.payment_id = ? AND a.reversed_at IS NULL ORDER BY a.application_id
            """,
            [payment_id],
        ).fetchall()
        # Whose the application was: its invoices' customers, and the one the decision named
        # (a parent paying for a subsidiary's invoice is taught as the parent).
        customers = sorted({c for row in live for c in row[7:9] if c})
        decided_at = min((row[6] for row in live), default=now)
        _, settled = reverse_applications(con, payment_id, now, by=analyst, reason=reason.strip())
        paid_by = _Payer(payment_id, account, payer)
        forgotten, kept = _forget(con, paid_by, customers, decided_at)
        applied_since = _applied_since(con, paid_by, customers, decided_at)
        reversed_ = tuple((row[0], row[1], row[2], row[3]) for row in live)
        con.execute("UPDATE payments SET status = 'exception' WHERE payment_id = ?", [payment_id])
        found_now = (
            _suggestions_now(con, payment_id, scorer, settings or MatchSettings())
            if scorer is not None
            else None
        )
        exception_id = _queue_again(
            con,
            payment_id,
            {
                "by": analyst,
                "at": now.isoformat(timespec="seconds"),
                "reason": reason.strip(),
                "decided_by": sorted({row[5] for row in live}),
                "allocations": [
                    [
                        invoice,
                        format_amount(cash, currency),
                        format_amount(adjustment, currency),
                        kind,
                    ]
                    for invoice, cash, adjustment, kind in reversed_
                ],
                "forgotten": forgotten,
                "still_linked": kept,
                "applied_since": applied_since,
            },
            reversed_,
            now,
            found_now,
        )
        audit.append(
            con,
            [
                audit.NewEntry(
                    actor=analyst,
                    action="unapply_payment",
                    entity="payment",
                    entity_id=payment_id,
                    payload={
                        "exception": exception_id,
                        "reason": reason.strip(),
                        "methods": sorted({row[4] for row in live}),
                        "reversed": [list(row) for row in reversed_],
                        "reopened": settled,
                        "forgotten": forgotten,
                        "still_linked": kept,
                        "applied_since": applied_since,
                        "currency": currency,
                    },
                )
            ],
            at=now,
        )
    return Unapplied(
        payment_id,
        exception_id,
        analyst,
        currency,
        reversed_,
        tuple(sorted(settled.items())),
        tuple(forgotten),
        tuple(applied_since),
        tuple(kept),
    )


def _forget(
    con: Connection, paid_by: _Payer, customers: list[str], decided_at: datetime
) -> tuple[list[str], list[str]]:
    """Drop the bank-account and name links to ``customers`` the payment's application taught
    (learnt by an analyst or an applied payment at the moment it was decided), unless another
    payment from that account or name applied to that customer no later than it says so too.
    Returns the links forgotten and the ones that stand, with why."""
    forgotten, kept = [], []
    payment_id = paid_by.payment_id
    for column, table, key, value in (
        ("payer_account", "customer_bank_accounts", "account", paid_by.account),
        ("payer_name", "customer_aliases", "alias", paid_by.name),
    ):
        if not value.strip():
            continue
        what = "bank account" if table == "customer_bank_accounts" else "payer name"
        for customer in customers:
            linked = con.execute(
                f"SELECT source, learned_at FROM {table} WHERE {key} = ? AND customer_id = ?",
                [value, customer],
            ).fetchall()
            if not linked:
                continue
            source, learned_at = linked[0]
            backers = [
                pid
                for (pid,) in con.execute(
                    f"""
                    SELECT DISTINCT a.payment_id FROM applications a
                    JOIN payments p USING (payment_id) LEFT JOIN invoices i USING (invoice_number)
                    WHERE p.{column} = ? AND a.payment_id <> ? AND a.reversed_at IS NULL
                      AND a.decided_at <= ?
                      AND ? IN (i.customer_id, json_extract_string(a.evidence, '$.customer'))
                    ORDER BY a.payment_id
                    """,
                    [value, payment_id, decided_at, customer],
                ).fetchall()
            ]
            taught_here = source in ("analyst", "applied") and learned_at == decided_at
            if taught_here and not backers:
                con.execute(
                    f"DELETE FROM {table} WHERE {key} = ? AND customer_id = ?", [value, customer]
                )
                forgotten.append(f"{what} {value!r} -> {customer}")
                continue
            why = (
                f"payments {', '.join(backers[:5])} applied there too"
                if backers
                else {"erp": "the ERP's", "history": "imported history's"}.get(
                    source, f"learnt {learned_at:%Y-%m-%d %H:%M} UTC, before this application"
                )
            )
            kept.append(f"{what} {value!r} -> {customer} ({why})")
    return forgotten, kept


def _applied_since(
    con: Connection, paid_by: _Payer, customers: list[str], decided_at: datetime
) -> list[str]:
    """Payments from the same bank account or payer name applied to one of ``customers`` after
    the payment: an application on what the wrong one taught would look like these."""
    payment_id, account, payer = paid_by
    if not (account.strip() or payer.strip()) or not customers:
        return []
    rows = con.execute(
        """
        SELECT DISTINCT a.payment_id FROM applications a JOIN payments p USING (payment_id)
        LEFT JOIN invoices i USING (invoice_number)
        WHERE ((? <> '' AND p.payer_account = ?) OR (? <> '' AND p.payer_name = ?))
          AND a.payment_id <> ? AND a.reversed_at IS NULL AND a.decided_at > ?
          AND (i.customer_id IN (SELECT unnest(?))
               OR json_extract_string(a.evidence, '$.customer') IN (SELECT unnest(?)))
        ORDER BY a.payment_id
        """,
        [
            account.strip(),
            account,
            payer.strip(),
            payer,
            payment_id,
            decided_at,
            customers,
            customers,
        ],
    ).fetchall()
    return [pid for (pid,) in rows]


def _suggestions_now(
    con: Connection, payment_id: str, scorer: Scorer, settings: MatchSettings
) -> list[dict[str, Any]]:
    """What the engine would suggest for the payment on the ledger as it is now."""
    from matching.store import build_engine, load_advices, load_payments, suggestions_of

    payment = [
        replace(p, amount_minor=p.amount_minor - returned_in_part(con, p.payment_id))
        for p in load_payments(con, status="", also=[payment_id])
    ]
    engine = build_engine(con, scorer, settings, payment)
    (decision,) = engine.run(payment, load_advices(con))
    return suggestions_of(decision)


def _queue_again(
    con: Connection,
    payment_id: str,
    reversal: dict[str, Any],
    reversed_: tuple[tuple[str, int, int, str], ...],
    now: datetime,
    found_now: list[dict[str, Any]] | None = None,
) -> str:
    """Open the payment's exception again (or a new one for a payment the engine applied), its
    reason ``reversed``, its evidence kept with the reversal beside it, and the suggestions
    (``found_now``, else the exception's own) but the one taken back, renumbered."""
    exception_id = f"EXC-{payment_id.removeprefix('PAY-')}"
    rows = con.execute(
        "SELECT suggestions, evidence FROM exceptions WHERE exception_id = ?", [exception_id]
    ).fetchall()
    # What the queue showed before (the payment a suspected duplicate repeats, ...) stays.
    before = json.loads(rows[0][1] or "{}") if rows else {}
    evidence = json.dumps(before | {"reversed": reversal}, sort_keys=True)
    taken_back = sorted((invoice, cash) for invoice, cash, _, _ in reversed_)
    kept = [
        suggestion
        for suggestion in (
            found_now if found_now is not None else json.loads(rows[0][0]) if rows else []
        )
        if sorted((a["invoice"] or "", int(a["applied_minor"])) for a in suggestion["allocations"])
        != taken_back
    ][:MAX_SUGGESTIONS]
    for rank, suggestion in enumerate(kept, start=1):
        suggestion["rank"] = rank
    suggestions = json.dumps(kept, default=str)
    if not rows:
        con.execute(
            """
            INSERT INTO exceptions (exception_id, payment_id, reason, suggestions, status,
                                    assignee, version, resolution, created_at, updated_at,
                                    run_id, evidence)
            VALUES (?, ?, ?, ?, 'open', '', 1, NULL, ?, ?, '', ?)
            """,
            [
                exception_id,
                payment_id,
                str(ExceptionReason.REVERSED),
                suggestions,
                now,
                now,
                evidence,
            ],
        )
        return exception_id
    con.execute(
        "UPDATE exceptions SET status = 'open', reason = ?, suggestions = ?, evidence = ?, "
        "resolution = NULL, assignee = '', version = version + 1, updated_at = ? "
        "WHERE exception_id = ?",
        [str(ExceptionReason.REVERSED), suggestions, evidence, now, exception_id],
    )
    return exception_id

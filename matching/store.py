"""The engine's I/O: read what it needs from the ledger, write its decisions back in one
transaction (applications, exceptions, open amounts, learned accounts and the audit chain)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import polars as pl
from duckdb import DuckDBPyConnection as Connection

from ledger import audit
from ledger.db import transaction, utcnow
from ledger.money import format_amount, from_decimal
from ledger.records import ApplicationKind, ApplicationMethod
from matching.engine import DISCOUNT_GRACE_DAYS, Decision, Engine, Scorer
from matching.model import (
    Advice,
    AdviceLine,
    DiscountTerms,
    IncomingPayment,
    OpenInvoice,
    Proposal,
    Settled,
)
from matching.names import compact
from matching.payers import PayerIndex
from matching.returns import ReturnsSummary, returned_in_part, settle_returns
from matching.settings import MatchSettings
from matching.training import LabelledProposal

_PAYMENT_COLUMNS = (
    "payment_id, currency, amount_minor, coalesce(value_date, booking_date), account, payer_name, "
    "payer_account, bank_reference, coalesce(customer_reference, ''), end_to_end_id, remittance_text"
)


@dataclass(frozen=True, slots=True)
class MatchSummary:
    """What one ``arpilot match`` did: payments seen, applied and sent to exceptions."""

    run_id: str
    scorer: str
    threshold: float
    payments: int
    applied: int
    exceptions: int
    applied_minor_by_currency: dict[str, int] = field(default_factory=dict)
    exceptions_by_reason: dict[str, int] = field(default_factory=dict)
    advices_linked: int = 0
    returns: ReturnsSummary = field(default_factory=ReturnsSummary)
    reconsidered: int = 0
    """Queued payments decided again because their payer was learnt since (not in
    ``payments`` unless applied)."""
    from_queue: int = 0
    """Of ``applied``: payments decided again from the queue and applied."""


def load_invoices(con: Connection) -> list[OpenInvoice]:
    rows = con.execute(
        "SELECT invoice_number, customer_id, doc_type, issue_date, due_date, currency, "
        "amount_minor, open_minor, terms, po_number FROM invoices WHERE open_minor <> 0"
    ).fetchall()
    return [OpenInvoice(*row) for row in rows]


def load_paid(con: Connection) -> list[tuple[str, str, str]]:
    """Invoices paid already and credit memos used up, as (number, customer, doc type): a
    payment naming one may be paid twice, or mean to take a credit that is gone."""
    return con.execute(
        "SELECT invoice_number, customer_id, doc_type FROM invoices WHERE open_minor = 0"
    ).fetchall()


def load_payers(con: Connection) -> PayerIndex:
    return PayerIndex(
        con.execute("SELECT customer_id, name, parent_id FROM customers").fetchall(),
        con.execute("SELECT customer_id, alias FROM customer_aliases").fetchall(),
        con.execute("SELECT account, customer_id FROM customer_bank_accounts").fetchall(),
    )


def load_payments(
    con: Connection, status: str = "unapplied", also: Collection[str] = ()
) -> list[IncomingPayment]:
    """Payments of ``status`` (and the payments ``also`` names) oldest first and, within a
    day, in the order the bank reported them: files in the order they were ingested, each
    file's payments in its own order."""
    rows = con.execute(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments "
        "WHERE status = ? OR payment_id IN (SELECT unnest(?)) "
        "ORDER BY coalesce(value_date, booking_date), created_at, source_file_id, source_line, "
        "payment_id",
        [status, sorted(also)],
    ).fetchall()
    return [IncomingPayment(*row) for row in rows]


RECONSIDERED_REASONS = ("unknown_payer", "no_candidate", "low_confidence", "ambiguous")
"""Why a queued payment waits when knowing its payer may decide it: learnt since, its bank
account or name is decided again (not a suspected duplicate, a return or an amount that
disagrees with what the payer named)."""


def load_taught_since(con: Connection) -> dict[str, str]:
    """The queued payments (payment -> its open exception) whose payer's bank account or name
    the ledger has learnt since the exception was raised or last looked at again: by an
    analyst's decision, a later payment applied on the invoices it named, or imported
    history."""
    queued = con.execute(
        "SELECT e.exception_id, e.payment_id, e.updated_at, p.payer_account, p.payer_name "
        "FROM exceptions e JOIN payments p USING (payment_id) "
        "WHERE e.status = 'open' AND p.status = 'exception' AND p.amount_minor > 0 "
        "AND e.reason IN (SELECT unnest(?))",
        [list(RECONSIDERED_REASONS)],
    ).fetchall()
    if not queued:
        return {}
    # A payment an unlinked return may take back waits for the analyst who links it.
    named_by_returns = {
        candidate
        for (evidence,) in con.execute(
            "SELECT evidence FROM exceptions WHERE status = 'open' AND reason = 'unlinked_return'"
        ).fetchall()
        for candidate in json.loads(evidence or "{}").get("candidates", [])
    }
    accounts: dict[str, datetime] = dict(
        con.execute(
            "SELECT account, max(learned_at) FROM customer_bank_accounts GROUP BY account"
        ).fetchall()
    )
    names: dict[str, datetime] = {}
    for alias, learned_at in con.execute(
        "SELECT alias, learned_at FROM customer_aliases"
    ).fetchall():
        key = compact(alias)
        names[key] = max(learned_at, names.get(key, learned_at))
    taught = {}
    for exception_id, payment_id, looked_at, account, name in queued:
        if payment_id in named_by_returns:
            continue
        learned = [
            accounts.get(account) if account else None,
            names.get(compact(name)) if name and compact(name) else None,
        ]
        if any(when is not None and when > looked_at for when in learned):
            taught[payment_id] = exception_id
    return taught


def load_recent(con: Connection, since_days: int, before: list[IncomingPayment]) -> list[Settled]:
    """Payments already applied within ``since_days`` of the earliest waiting one, with the
    customer and invoices they settled."""
    if not before:
        return []
    start = min(p.value_date for p in before) - timedelta(days=since_days)
    settled: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for payment_id, invoice, customer in con.execute(
        "SELECT a.payment_id, a.invoice_number, i.customer_id FROM applications a "
        "JOIN payments p USING (payment_id) LEFT JOIN invoices i USING (invoice_number) "
        "WHERE a.reversed_at IS NULL AND p.status = 'applied' "
        "AND coalesce(p.value_date, p.booking_date) >= ?",
        [start],
    ).fetchall():
        if invoice:
            settled[payment_id][0].append(invoice)
            settled[payment_id][1].append(customer or "")
    rows = con.execute(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE status = 'applied' "
        "AND coalesce(value_date, booking_date) >= ?",
        [start],
    ).fetchall()
    out = []
    for row in rows:
        payment = IncomingPayment(*row)
        invoices, customers = settled.get(payment.payment_id, ([], []))
        customer = max(set(customers), key=customers.count) if customers else ""
        out.append(Settled(payment, customer, frozenset(invoices)))
    return out


def load_advices(con: Connection) -> list[Advice]:
    """Advices linked to a waiting payment, and those not linked to any payment yet."""
    heads = con.execute(
        """
        SELECT a.advice_id, a.payer_name, a.payment_reference, a.payment_date, a.currency,
               a.total_minor, a.confidence, a.payment_id, a.details
        FROM remittance_advices a LEFT JOIN payments p USING (payment_id)
        WHERE a.payment_id IS NULL OR p.status = 'unapplied'
        """
    ).fetchall()
    lines: dict[str, list[AdviceLine]] = defaultdict(list)
    for row in con.execute(
        """
        SELECT l.advice_id, l.reference, l.paid_minor, l.gross_minor, l.discount_minor,
               l.deduction_minor, l.reason, l.confidence
        FROM remittance_lines l JOIN remittance_advices a USING (advice_id)
        LEFT JOIN payments p USING (payment_id)
        WHERE a.payment_id IS NULL OR p.status = 'unapplied'
        ORDER BY l.advice_id, l.line_no
        """
    ).fetchall():
        lines[row[0]].append(AdviceLine(*row[1:]))
    advices = []
    for advice_id, payer, reference, day, currency, total, confidence, payment_id, details in heads:
        said = json.loads(details or "{}")
        advices.append(
            Advice(
                advice_id,
                payer,
                reference,
                day,
                currency,
                total,
                confidence,
                payment_id,
                tuple(lines.get(advice_id, ())),
                said.get("payer_number", ""),
                said.get("currency_stated", True),
                said.get("unassigned_deduction_minor", 0),
                said.get("unassigned_reason", ""),
            )
        )
    return advices


def build_engine(
    con: Connection, scorer: Scorer, settings: MatchSettings, waiting: list[IncomingPayment]
) -> Engine:
    paid = load_paid(con)
    return Engine(
        load_invoices(con),
        load_payers(con),
        scorer,
        settings,
        recent=load_recent(con, settings.duplicate_window_days, waiting),
        paid=[(number, customer) for number, customer, _ in paid],
        used_memos=[number for number, _, doc_type in paid if doc_type == "credit_memo"],
    )


def match_ledger(
    con: Connection, scorer: Scorer, settings: MatchSettings | None = None
) -> MatchSummary:
    """Decide every unapplied payment and record the outcome in one transaction."""
    settings = settings or MatchSettings()
    started = utcnow()
    with transaction(con):  # first, so that a receipt already taken back is never applied
        returns = settle_returns(con, started, actor="arpilot:returns")
    queued = load_taught_since(con)
    waiting = load_payments(con, also=queued)
    engine = build_engine(con, scorer, settings, waiting)
    decisions = engine.run(waiting, load_advices(con), last=queued)
    run_id = f"RUN-{started:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8].upper()}"
    with transaction(con):
        summary = record_decisions(
            con, run_id, started, scorer, waiting, decisions, engine.teaches, queued
        )
    return replace(summary, returns=returns)


def record_decisions(
    con: Connection,
    run_id: str,
    started: datetime,
    scorer: Scorer,
    payments: list[IncomingPayment],
    decisions: list[Decision],
    teaches: Callable[[IncomingPayment, Proposal], bool],
    queued: dict[str, str] | None = None,
) -> MatchSummary:
    """Write ``decisions`` (caller holds the transaction); an applied payment's bank account
    is learnt for its customer when ``teaches`` says so. ``queued``: payments decided again
    from the queue (payment -> its open exception): applied, the exception is closed as
    decided again; not, it shows this run's reason and suggestions (a new version when they
    changed) and is marked looked at."""
    queued = queued or {}
    by_id = {p.payment_id: p for p in payments}
    now = utcnow()
    scorer_name = f"{scorer.name}:{scorer.version}"
    method = scorer.method
    applications: list[dict[str, Any]] = []
    exceptions: list[dict[str, Any]] = []
    entries: list[audit.NewEntry] = []
    links: list[tuple[str, str, str]] = []  # (advice, payment, how)
    learned: set[tuple[str, str]] = set()
    applied_total: dict[str, int] = defaultdict(int)
    reasons: dict[str, int] = defaultdict(int)
    superseded: list[str] = []
    still_queued: list[tuple[str, Decision]] = []
    for decision in decisions:
        payment = by_id[decision.payment_id]
        if decision.applied is None and payment.payment_id in queued:
            still_queued.append((queued[payment.payment_id], decision))
            continue
        link = decision.evidence.get("advice_link")
        if link:
            links.append((link["advice"], payment.payment_id, link["by"]))
        if decision.applied is not None:
            proposal = decision.applied
            rows = []
            for n, allocation in enumerate(proposal.allocations, start=1):
                rows.append(
                    {
                        "application_id": _application_id(run_id, payment.payment_id, n),
                        "payment_id": payment.payment_id,
                        "invoice_number": allocation.invoice_number or None,
                        "currency": payment.currency,
                        "applied_minor": allocation.applied_minor,
                        "adjustment_minor": allocation.adjustment_minor,
                        "kind": str(allocation.kind),
                        "reason": allocation.reason,
                        "method": str(method),
                        "confidence": decision.confidence,
                        "model_version": scorer_name if method is ApplicationMethod.MODEL else "",
                        "evidence": json.dumps(
                            {
                                **proposal.evidence,
                                **decision.evidence,
                                "strategy": proposal.strategy,
                                "customer": proposal.customer_id,
                            },
                            sort_keys=True,
                            default=str,
                        ),
                        "decided_by": scorer_name,
                        "decided_at": now,
                        "reversed_at": None,
                        "run_id": run_id,
                        "reversed_by": "",
                        "reversal_reason": "",
                    }
                )
            applications.extend(rows)
            applied_total[payment.currency] += payment.amount_minor
            entries.append(
                audit.NewEntry(
                    actor=scorer_name,
                    action="apply_payment",
                    entity="payment",
                    entity_id=payment.payment_id,
                    payload={
                        "customer": proposal.customer_id,
                        "strategy": proposal.strategy,
                        "confidence": round(decision.confidence, 6),
                        "allocations": [
                            [
                                a.invoice_number,
                                a.applied_minor,
                                a.adjustment_minor,
                                str(a.kind),
                                a.reason,
                            ]
                            for a in proposal.allocations
                        ],
                        "currency": payment.currency,
                        "run": run_id,
                        **(
                            {"from_queue": queued[payment.payment_id]}
                            if payment.payment_id in queued
                            else {}
                        ),
                    },
                )
            )
            if payment.payment_id in queued:
                superseded.append(queued[payment.payment_id])
            if teaches(payment, proposal):
                learned.add((payment.payer_account, proposal.customer_id))
        else:
            reason = str(decision.reason)
            reasons[reason] += 1
            exception_id = f"EXC-{payment.payment_id.removeprefix('PAY-')}"
            exceptions.append(
                {
                    "exception_id": exception_id,
                    "payment_id": payment.payment_id,
                    "reason": reason,
                    "suggestions": json.dumps(suggestions_of(decision), default=str),
                    "status": "open",
                    "assignee": "",
                    "version": 1,
                    "resolution": None,
                    "created_at": now,
                    "updated_at": now,
                    "run_id": run_id,
                    "evidence": json.dumps(decision.evidence, sort_keys=True, default=str),
                }
            )
            entries.append(
                audit.NewEntry(
                    actor=scorer_name,
                    action="raise_exception",
                    entity="payment",
                    entity_id=payment.payment_id,
                    payload={
                        "reason": reason,
                        "confidence": round(decision.confidence, 6),
                        "run": run_id,
                    },
                )
            )
    _insert(con, "applications", applications)
    _insert(con, "exceptions", exceptions)
    if applications:
        frame = pl.DataFrame(applications).select(
            "invoice_number", "applied_minor", "adjustment_minor"
        )
        con.register("applied_now", frame)
        try:
            con.execute(
                """
                UPDATE invoices SET open_minor = open_minor - d.settled, updated_at = ?
                FROM (SELECT invoice_number, sum(applied_minor + adjustment_minor) AS settled
                      FROM applied_now WHERE invoice_number IS NOT NULL GROUP BY 1) d
                WHERE invoices.invoice_number = d.invoice_number
                """,
                [now],
            )
        finally:
            con.unregister("applied_now")
    _set_status(con, [a["payment_id"] for a in applications], "applied")
    _set_status(con, [e["payment_id"] for e in exceptions], "exception")
    for exception_id in superseded:
        con.execute(
            "UPDATE exceptions SET status = 'resolved', resolution = ?, version = version + 1, "
            "assignee = ?, updated_at = ? WHERE exception_id = ?",
            [
                json.dumps({"decided_again": run_id, "why": "its payer was learnt since"}),
                f"arpilot (run {run_id})",
                now,
                exception_id,
            ],
        )
    for exception_id, decision in still_queued:
        # Still for an analyst: the queue shows what this run found (a reason or suggestions
        # that changed are a new version of the exception, so a decision on the old is stale).
        reason = str(decision.reason)
        suggestions = json.dumps(suggestions_of(decision), default=str)
        changed = con.execute(
            "UPDATE exceptions SET reason = ?, suggestions = ?, evidence = ?, run_id = ?, "
            "version = version + 1, updated_at = ? "
            "WHERE exception_id = ? AND (reason <> ? OR suggestions <> ?) RETURNING payment_id",
            [
                reason,
                suggestions,
                json.dumps(decision.evidence, sort_keys=True, default=str),
                run_id,
                now,
                exception_id,
                reason,
                suggestions,
            ],
        ).fetchall()
        if changed:
            entries.append(
                audit.NewEntry(
                    actor=scorer_name,
                    action="decide_again",
                    entity="payment",
                    entity_id=changed[0][0],
                    payload={"exception": exception_id, "reason": reason, "run": run_id},
                )
            )
        else:
            con.execute(
                "UPDATE exceptions SET updated_at = ? WHERE exception_id = ?", [now, exception_id]
            )
    for advice_id, payment_id, how in links:
        con.execute(
            "UPDATE remittance_advices SET payment_id = ?, linked_by = ? WHERE advice_id = ? AND payment_id IS NULL",
            [payment_id, how, advice_id],
        )
    for account, customer_id in sorted(learned):
        con.execute(
            "INSERT INTO customer_bank_accounts VALUES (?, ?, 'applied', ?) ON CONFLICT DO NOTHING",
            [account, customer_id, now],
        )
    applied_payments = len({a["payment_id"] for a in applications})
    summary = MatchSummary(
        run_id=run_id,
        scorer=scorer_name,
        threshold=scorer.threshold,
        payments=len(decisions) - len(still_queued),
        applied=applied_payments,
        from_queue=len(superseded),
        reconsidered=len(queued),
        exceptions=len(exceptions),
        applied_minor_by_currency=dict(applied_total),
        exceptions_by_reason=dict(sorted(reasons.items())),
        advices_linked=len(links),
    )
    con.execute(
        "INSERT INTO match_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            started,
            now,
            scorer.name,
            scorer.version,
            scorer.threshold,
            json.dumps(
                {
                    "payments": summary.payments,
                    "applied": summary.applied,
                    "exceptions": summary.exceptions,
                    "by_reason": summary.exceptions_by_reason,
                }
            ),
        ],
    )
    audit.append(con, entries)
    return summary


def suggestions_of(decision: Decision) -> list[dict[str, Any]]:
    """The ranked proposals of an exception, as an analyst reads them."""
    return [
        {
            "rank": rank,
            "customer": proposal.customer_id,
            "confidence": round(probability, 4),
            "strategy": proposal.strategy,
            "allocations": [
                {
                    "invoice": a.invoice_number,
                    "applied_minor": a.applied_minor,
                    "adjustment_minor": a.adjustment_minor,
                    "kind": str(a.kind),
                    "reason": a.reason,
                }
                for a in proposal.allocations
            ],
            "evidence": proposal.evidence,
            "features": proposal.features,
        }
        for rank, (proposal, probability) in enumerate(decision.ranked, start=1)
    ]


def _application_id(run_id: str, payment_id: str, n: int) -> str:
    digest = hashlib.sha256(f"{run_id}/{payment_id}/{n}".encode()).hexdigest()[:16].upper()
    return f"APP-{digest}"


def _insert(con: Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    frame = pl.DataFrame(rows, infer_schema_length=None).select(columns)
    con.register("incoming_rows", frame)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM incoming_rows")
    finally:
        con.unregister("incoming_rows")


def _set_status(con: Connection, payment_ids: list[str], status: str) -> None:
    if payment_ids:
        con.execute(
            "UPDATE payments SET status = ? WHERE payment_id IN (SELECT unnest(?))",
            [status, sorted(set(payment_ids))],
        )


@dataclass(frozen=True, slots=True)
class Resolution:
    """An analyst's decision on an exception: the allocations chosen (invoice number or '' for
    on account, cash in minor units), who decided, what the engine learned from it, what the
    analyst settled beyond the cash (invoice, minor units, reason), and the currency."""

    exception_id: str
    payment_id: str
    customer_id: str
    allocations: tuple[tuple[str, int], ...]
    analyst: str
    learned: tuple[str, ...]
    adjustments: tuple[tuple[str, int, str], ...] = ()
    currency: str = ""


ANALYST_DISCOUNT_REASONS = frozenset({"earned", "unearned", "discount"})
"""An analyst's adjustment for one of these reasons is an early-payment discount."""

ANALYST_WRITE_OFF_REASONS = frozenset({"bank_fee", "fx_difference", "small_difference"})
"""An analyst's adjustment for one of these reasons is a write-off; any other reason is a
deduction the payer took (a short-pay: DAMAGED, PRICING, FREIGHT, ...)."""


def resolve_exception(
    con: Connection,
    exception_id: str,
    *,
    analyst: str,
    expected_version: int,
    suggestion: int | None = None,
    allocations: list[tuple[str, int]] | None = None,
    adjustments: list[tuple[str, int, str]] | None = None,
    limits: MatchSettings | None = None,
    customer: str = "",
) -> Resolution:
    """Apply an exception's payment as the analyst decides: one of its ranked suggestions, or
    allocations of their own, each invoice at most once, with ``adjustments`` beside them:
    what an invoice is settled by beyond the cash (invoice, minor units, reason), a deduction
    the payer took (its reason code), an early-payment discount ('earned', 'unearned') or a
    write-off ('bank_fee', 'fx_difference', 'small_difference'). The decision is checked
    (the cash adds up to the payment, every invoice is settled towards zero and not beyond
    what is open, a write-off within its configured limit in ``limits``, a discount within
    the invoice's terms, a credit memo spent only on its own customer family's invoices, a
    suggestion only while its invoices are open as they were when it was made, the exception
    has not changed since the analyst read it), written with the audit entry in one
    transaction, and taught at once: the payer's bank account and name now point to the
    customer (not when the decision pays customers of unrelated families). Each allocation's
    kind follows from it: full, partial, short-pay, discount, write-off, credit memo, on
    account. ``exception_id`` may also be the payment's id (PAY-...). ``customer``: whose
    account cash put on account goes on, required when the decision names no invoice (cash
    of nobody's would leave the queue unseen); with invoices, one of their customer groups.
    """
    from ledger.errors import InputError, StaleVersion

    if not analyst.strip():
        raise InputError("an analyst decision needs the analyst's name")
    if suggestion is not None and (allocations or adjustments):
        raise InputError(
            "choose a suggestion or give allocations (and adjustments) of your own, not both"
        )
    limits = limits or MatchSettings()
    with transaction(con):
        exception_id = exception_of(con, exception_id)
        row = con.execute(
            "SELECT e.payment_id, e.status, e.version, e.suggestions, p.currency, p.amount_minor, "
            "p.payer_name, p.payer_account, e.assignee, e.updated_at, "
            "coalesce(p.value_date, p.booking_date) "
            "FROM exceptions e JOIN payments p USING (payment_id) WHERE e.exception_id = ?",
            [exception_id],
        ).fetchall()
        if not row:
            raise InputError(f"no exception {exception_id}")
        payment_id, status, version, suggestions, currency, amount, payer, account = row[0][:8]
        by, when, paid_on = row[0][8:]
        if amount <= 0:
            raise InputError(
                f"exception {exception_id} is a returned receipt, not cash to apply: link it to "
                "the payment it takes back with 'arpilot link-return'"
            )
        if status != "open":
            raise StaleVersion(
                f"exception {exception_id} is already {status}"
                + (f" by {by}" if by else "")
                + (f" at {when:%Y-%m-%d %H:%M} UTC" if when else "")
            )
        if version != expected_version:
            raise StaleVersion(
                f"exception {exception_id} is at version {version}, not {expected_version}: "
                "reload it and decide again"
            )
        # Cash a return took back from the payment in part (a bounced cheque of a deposit)
        # is not the analyst's to apply again.
        returned = returned_in_part(con, payment_id)
        received, amount = amount, amount - returned
        ranked = json.loads(suggestions)
        if suggestion is not None:
            if not 1 <= suggestion <= len(ranked):
                raise InputError(
                    f"exception {exception_id} has {len(ranked)} suggestion(s), not {suggestion}"
                )
            chosen = ranked[suggestion - 1]
            pairs = [(a["invoice"], int(a["applied_minor"])) for a in chosen["allocations"]]
            if short := -sum(minor for number, minor in pairs if not number and minor < 0):
                raise InputError(
                    f"suggestion {suggestion} settles {format_amount(short, currency)} more than "
                    "the payment: give allocations of your own"
                )
            adjustments_by_invoice = {
                a["invoice"]: (int(a["adjustment_minor"]), a["reason"])
                for a in chosen["allocations"]
            }
            kinds = {a["invoice"]: a["kind"] for a in chosen["allocations"]}
        elif allocations:
            pairs = list(allocations)
            adjustments_by_invoice = _checked_adjustments(pairs, adjustments or [])
        else:
            raise InputError("choose a suggestion or give allocations")
        given = sum(minor for _, minor in pairs)
        if given != amount:
            hint = (
                f": put the rest on account with --allocate ={format_amount(amount - given, currency)}"
                if given < amount
                else ""
            )
            raise InputError(
                f"allocations add up to {format_amount(given, currency)} {currency}, the "
                f"payment is {format_amount(amount, currency)} {currency}"
                + (
                    f" ({format_amount(received, currency)} received, "
                    f"{format_amount(returned, currency)} of it returned)"
                    if returned
                    else ""
                )
                + hint
            )
        numbers = [n for n, _ in pairs if n]
        found: dict[str, _Item] = {
            row_[0]: _Item(*row_[1:])
            for row_ in con.execute(
                "SELECT i.invoice_number, i.customer_id, i.open_minor, i.currency, "
                "coalesce(i.terms, ''), i.issue_date, i.amount_minor, coalesce(("
                "  SELECT sum(a.adjustment_minor) FROM applications a "
                "  WHERE a.invoice_number = i.invoice_number AND a.kind = 'discount' "
                "  AND a.reversed_at IS NULL), 0) "
                "FROM invoices i WHERE i.invoice_number IN (SELECT unnest(?))",
                [numbers],
            ).fetchall()
        }
        for number, minor in pairs:
            if not number:
                continue
            if number not in found:
                raise InputError(f"no invoice {number} in the ledger")
            open_minor, invoice_currency = found[number].open_minor, found[number].currency
            if invoice_currency != currency:
                raise InputError(
                    f"invoice {number} is in {invoice_currency}, the payment in {currency}"
                )
            adjustment = adjustments_by_invoice.get(number, (0, ""))[0]
            if adjustment and open_minor < 0:
                raise InputError(f"{number} is a credit memo: it takes no adjustment")
            settled = minor + adjustment
            if not (0 < settled <= open_minor or open_minor <= settled < 0):
                raise InputError(
                    f"invoice {number} has {format_amount(open_minor, currency)} open, "
                    f"cannot settle {format_amount(settled, currency)}"
                )
            if suggestion is not None and not settles_as_suggested(
                kinds[number], settled, open_minor
            ):
                raise InputError(
                    f"suggestion {suggestion} no longer fits {number}: it settles "
                    f"{format_amount(settled, currency)} as {kinds[number]}, and "
                    f"{format_amount(open_minor, currency)} is open now: give allocations of "
                    "your own"
                )
        if suggestion is None:
            home = con.execute(
                "SELECT currency FROM invoices GROUP BY currency ORDER BY count(*) DESC, currency "
                "LIMIT 1"
            ).fetchall()
            adjustments_by_invoice = _checked_settlement(
                pairs,
                adjustments_by_invoice,
                found,
                _Payment(amount, currency, paid_on, home[0][0] if home else currency),
                limits,
            )
        payers = load_payers(con)
        _no_strangers_credit(pairs, found, payers, currency)
        customer_id, families = _taught_customer(pairs, found, payers)
        customer_id = _on_account_customer(con, customer.strip(), customer_id, pairs, found, payers)
        now = utcnow()
        rows = []
        if suggestion is None:
            kinds = {
                number: _analyst_kind(
                    found[number].open_minor, minor, *adjustments_by_invoice.get(number, (0, ""))
                )
                for number, minor in pairs
                if number
            }
        for n, (number, minor) in enumerate(pairs, start=1):
            adjustment, reason = adjustments_by_invoice.get(number, (0, ""))
            kind = kinds.get(number, str(ApplicationKind.ON_ACCOUNT))
            rows.append(
                {
                    "application_id": _application_id(f"{exception_id}/{version}", payment_id, n),
                    "payment_id": payment_id,
                    "invoice_number": number or None,
                    "currency": currency,
                    "applied_minor": minor,
                    "adjustment_minor": adjustment,
                    "kind": kind,
                    "reason": reason,
                    "method": str(ApplicationMethod.ANALYST),
                    "confidence": 1.0,
                    "model_version": "",
                    "evidence": json.dumps(
                        {"exception": exception_id, "suggestion": suggestion}
                        | ({"customer": customer_id} if customer_id else {})
                    ),
                    "decided_by": analyst,
                    "decided_at": now,
                    "reversed_at": None,
                    "run_id": "",
                    "reversed_by": "",
                    "reversal_reason": "",
                }
            )
        _insert(con, "applications", rows)
        for row_ in rows:
            if row_["invoice_number"]:
                con.execute(
                    "UPDATE invoices SET open_minor = open_minor - ?, updated_at = ? WHERE invoice_number = ?",
                    [row_["applied_minor"] + row_["adjustment_minor"], now, row_["invoice_number"]],
                )
        _set_status(con, [payment_id], "applied")
        settled_beyond_cash = [
            (number, minor, reason)
            for number, (minor, reason) in adjustments_by_invoice.items()
            if minor
        ]
        resolution = {
            "suggestion": suggestion,
            "allocations": pairs,
            "analyst": analyst,
            "adjustments": settled_beyond_cash,
        }
        con.execute(
            "UPDATE exceptions SET status = 'resolved', resolution = ?, version = version + 1, "
            "assignee = ?, updated_at = ? WHERE exception_id = ?",
            [json.dumps(resolution), analyst, now, exception_id],
        )
        learned = []
        taught = customer_id
        if families > 1:
            taught = ""
            learned.append(
                f"nothing: the decision pays customers of {families} unrelated families, so "
                "the payer's account and name stand for none of them"
            )
        if taught and account:
            known = con.execute(
                "SELECT count(*) FROM customer_bank_accounts WHERE account = ? AND customer_id = ?",
                [account, taught],
            ).fetchall()[0][0]
            if not known:
                con.execute(
                    "INSERT INTO customer_bank_accounts VALUES (?, ?, 'analyst', ?)",
                    [account, taught, now],
                )
                learned.append(f"bank account {account} -> {taught}")
        if taught and payer.strip():
            counts = con.execute(
                "SELECT count(*) FROM customers WHERE customer_id = ? AND name = ? "
                "UNION ALL SELECT count(*) FROM customer_aliases WHERE customer_id = ? AND alias = ?",
                [taught, payer, taught, payer],
            ).fetchall()
            if not sum(count for (count,) in counts):
                con.execute(
                    "INSERT INTO customer_aliases VALUES (?, ?, 'analyst', ?) ON CONFLICT DO NOTHING",
                    [taught, payer, now],
                )
                learned.append(f"payer name {payer!r} -> {taught}")
        if taught:
            learned.extend(_intermediary_notices(load_payers(con), payer, account))
        audit.append(
            con,
            [
                audit.NewEntry(
                    actor=analyst,
                    action="resolve_exception",
                    entity="payment",
                    entity_id=payment_id,
                    payload={
                        "exception": exception_id,
                        "suggestion": suggestion,
                        "customer": customer_id,
                        "allocations": [list(p) for p in pairs],
                        "adjustments": [list(a) for a in settled_beyond_cash],
                        "currency": currency,
                        "learned": learned,
                    },
                )
            ],
        )
    return Resolution(
        exception_id,
        payment_id,
        customer_id,
        tuple(pairs),
        analyst,
        tuple(learned),
        tuple(settled_beyond_cash),
        currency,
    )


def settles_as_suggested(kind: str, settled: int, open_minor: int) -> bool:
    """Whether a suggested allocation that settles ``settled`` of an item (cash and
    adjustment) still holds on the ``open_minor`` open now: within it, and in full unless it
    was suggested as a partial payment. An ERP import or another payment may have changed the
    item since: booked as suggested, it would be called paid while some stays open, or the
    other way round."""
    within = 0 < settled <= open_minor or open_minor <= settled < 0
    return within and (kind == "partial") == (settled != open_minor)


def exception_of(con: Connection, ident: str) -> str:
    """The exception ``ident`` names: itself (EXC-...), or the open exception of a payment
    (PAY-...); unchanged when neither is found, for the caller to report."""
    ident = ident.strip()
    if ident[:4].upper() in ("EXC-", "PAY-"):
        ident = ident.upper()
    if ident.startswith("EXC-"):
        return ident
    rows = con.execute(
        "SELECT exception_id FROM exceptions WHERE payment_id = ? ORDER BY status = 'open' DESC, "
        "updated_at DESC LIMIT 1",
        [ident],
    ).fetchall()
    return rows[0][0] if rows else ident


class _Item(NamedTuple):
    """An invoice an analyst's decision names, as the ledger holds it now."""

    customer: str
    open_minor: int
    currency: str
    terms: str
    issue_date: date
    amount_minor: int
    discounted_minor: int  # early-payment discount already booked on it


class _Payment(NamedTuple):
    amount_minor: int
    currency: str
    paid_on: date | None
    home_currency: str  # the book's own: money in it was never converted


REASON_SPELLINGS = {
    "bank_fee": (
        "bank_fee",
        "bank_fees",
        "bank_charge",
        "bank_charges",
        "bank_chgs",
        "bank",
        "wire_fee",
        "wire_fees",
        "wire_charge",
        "wire_charges",
    ),
    "fx_difference": (
        "fx_difference",
        "fx",
        "fx_diff",
        "fx_loss",
        "exchange_difference",
        "exchange_loss",
    ),
    "small_difference": ("small_difference", "small_diff", "rounding"),
    "earned": ("earned", "earned_discount", "earned_disc"),
    "unearned": ("unearned", "unearned_discount", "unearned_disc"),
    "discount": ("discount", "cash_discount", "cash_disc", "discount_taken"),
}
"""How analysts write the reasons booked as write-offs and discounts (case, spaces, hyphens
and underscores aside); any other reason is a deduction the payer took."""

_REASON_OF = {
    spelling.replace("_", ""): canonical
    for canonical, spellings in REASON_SPELLINGS.items()
    for spelling in spellings
}
"""Each spelling, without separators, and the reason it is booked as."""


def _canonical_reason(number: str, reason: str) -> str:
    """``reason`` as booked: a write-off or discount reason in its one spelling, any other as
    written. One letter off such a reason ('bank_fea', 'earnd') is refused: booked as a
    deduction, it would escape the write-off's limit or the discount's terms."""
    from rapidfuzz.distance import Levenshtein

    from ledger.errors import InputError

    key = "".join(reason.lower().replace("-", " ").replace("_", " ").split())
    if key in _REASON_OF:
        return _REASON_OF[key]
    for spelling, canonical in _REASON_OF.items():
        if len(key) >= 5 and key[0] == spelling[0] and Levenshtein.distance(key, spelling) == 1:
            raise InputError(
                f"reason {reason!r} on {number}: did you mean {canonical}? Any other "
                "reason is booked as a deduction the payer took"
            )
    return reason


def _checked_settlement(
    pairs: list[tuple[str, int]],
    adjustments: dict[str, tuple[int, str]],
    found: dict[str, _Item],
    payment: _Payment,
    limits: MatchSettings,
) -> dict[str, tuple[int, str]]:
    """An analyst's adjustments with their reasons as booked, checked against what the ledger
    allows: write-offs of each reason within its configured limit for the whole payment (a
    bank charge, a small difference; an FX difference only on money not in the book's own
    currency, within its basis points), none beside cash left on account (a write-off is money
    that never arrived), and a discount within the invoice's early-payment terms (earned only
    within their days of the invoice date, and no more than they give on the invoice, less
    any discount taken on it already)."""
    from ledger.errors import InputError

    currency = payment.currency
    booked = {
        n: (minor, _canonical_reason(n, reason)) for n, (minor, reason) in adjustments.items()
    }
    cash = dict(pairs)
    written: dict[str, int] = defaultdict(int)
    for number, (minor, reason) in booked.items():
        if reason in ANALYST_WRITE_OFF_REASONS:
            if cash.get(number, 0) <= 0:
                raise InputError(
                    f"a {reason} write-off on {number}, which this payment pays nothing of: a "
                    "bank keeps its charge, and a difference arises, on what the payment pays"
                )
            written[reason] += minor
        if reason in ANALYST_DISCOUNT_REASONS:
            item = found[number]
            terms = DiscountTerms.parse(item.terms)
            if terms is None:
                raise InputError(
                    f"{number} has terms {item.terms or '(none)'} with no early-payment "
                    "discount: book the amount kept as a deduction with its reason"
                )
            # What the terms give on the invoice, less what was taken on it already, and on
            # what this payment settles of it (a part paid earns its part of the discount).
            most = min(
                terms.discount(item.amount_minor) - item.discounted_minor,
                terms.discount(cash.get(number, 0) + minor),
            )
            if minor > most:
                raise InputError(
                    f"the terms of {number} ({item.terms}) leave a discount of at most "
                    f"{format_amount(max(most, 0), currency)} {currency}, not "
                    f"{format_amount(minor, currency)} {currency}"
                )
            paid_on = payment.paid_on
            if (
                reason != "unearned"
                and paid_on is not None
                and not terms.earned(item.issue_date, paid_on, DISCOUNT_GRACE_DAYS)
            ):
                raise InputError(
                    f"the discount on {number} was earned only within {terms.days} days of "
                    f"{item.issue_date.isoformat()}; the payment is of {paid_on.isoformat()}: "
                    "book it as unearned (a deduction to chase) or as a deduction"
                )
    if written and any(not number and minor > 0 for number, minor in pairs):
        raise InputError(
            "a write-off is money that never arrived, and this decision leaves cash on "
            "account: settle the invoice with that cash instead"
        )
    if written.get("fx_difference") and currency == payment.home_currency:
        raise InputError(
            f"an FX difference on a payment in {currency}, the book's own currency: no "
            "conversion lost anything; book the amount as a deduction with its reason"
        )
    limit_of = {
        "bank_fee": from_decimal(limits.bank_fee_limit, currency),
        "small_difference": from_decimal(limits.small_difference_limit, currency),
        "fx_difference": max(payment.amount_minor * limits.fx_tolerance_bp // 10_000, 1),
    }
    for reason, total in sorted(written.items()):
        if total > limit_of[reason]:
            raise InputError(
                f"{reason} write-offs of {format_amount(total, currency)} {currency} on this "
                f"payment are above the limit of {format_amount(limit_of[reason], currency)} "
                f"{currency}: book it as a deduction with its reason (DAMAGED, PRICING, ...), "
                "or raise the limit in the settings"
            )
    return booked


def _no_strangers_credit(
    pairs: list[tuple[str, int]],
    found: dict[str, _Item],
    payers: PayerIndex,
    currency: str,
) -> None:
    """Refuses credit memos worth more than the cash the decision puts on invoices of their
    own customer's group: a customer's credit is not another company's to spend, nor cash to
    put on account (a deduction taken on one of the group's invoices frees none of it)."""
    from ledger.errors import InputError

    settled: dict[frozenset[str], int] = defaultdict(int)
    credit: dict[frozenset[str], int] = defaultdict(int)
    memos: dict[frozenset[str], list[str]] = defaultdict(list)
    for number, minor in pairs:
        if not number:
            continue
        item = found[number]
        family = payers.family(item.customer)
        if item.open_minor > 0:
            settled[family] += minor  # its cash: a deduction on it frees no credit
        else:
            credit[family] -= minor
            memos[family].append(number)
    for family, total in credit.items():
        if settled[family] < total:
            owner = found[memos[family][0]].customer
            raise InputError(
                f"credit memo {', '.join(memos[family])} of {owner}: "
                f"{format_amount(total, currency)} {currency} of credit pays only invoices of "
                f"{owner}'s own family, and this decision settles "
                f"{format_amount(settled[family], currency)} {currency} of them"
            )


def _on_account_customer(
    con: Connection,
    named: str,
    taught: str,
    pairs: list[tuple[str, int]],
    found: dict[str, _Item],
    payers: PayerIndex,
) -> str:
    """The customer of an analyst's decision: the one the analyst ``named``, checked (known,
    and of the group of the invoices the decision pays), else the one it teaches. A decision
    that puts cash on account and names no invoice must name its customer."""
    from ledger.errors import InputError

    on_account = any(not number and minor > 0 for number, minor in pairs)
    if not named:
        if on_account and not taught:
            raise InputError(
                "cash on account needs the customer whose account it goes on: --customer ID "
                "(leave the payment in the queue while nobody knows whose it is)"
            )
        return taught
    known = con.execute(
        "SELECT customer_id FROM customers WHERE upper(customer_id) = upper(?)", [named]
    ).fetchall()
    if not known:
        raise InputError(f"no customer {named} in the ledger")
    named = known[0][0]
    paid = {found[number].customer for number, _ in pairs if number}
    if paid and not paid & payers.family(named):
        raise InputError(
            f"customer {named} is of none of the groups of the invoices this decision pays "
            f"({', '.join(sorted(paid))})"
        )
    return named


def _taught_customer(
    pairs: list[tuple[str, int]], found: dict[str, _Item], payers: PayerIndex
) -> tuple[str, int]:
    """The customer an analyst's decision teaches the payer's account and name to (the one
    with the most invoices paid, then the most cash, then the first by id), and how many
    unrelated families the decision pays: with more than one, it teaches nothing."""
    cash: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    for number, minor in pairs:
        if number:
            customer = found[number].customer
            cash[customer] += minor
            count[customer] += 1
    if not count:
        return "", 0
    families = {payers.family(c) for c in count}
    if len(families) > 1:
        return "", len(families)
    return min(count, key=lambda c: (-count[c], -cash[c], c)), 1


def _checked_adjustments(
    pairs: list[tuple[str, int]], adjustments: list[tuple[str, int, str]]
) -> dict[str, tuple[int, str]]:
    """An analyst's own allocations and adjustments, checked: each invoice allocated once,
    cash on account positive, an adjustment positive, with a reason, on an invoice allocated
    (with no cash, if the payer paid none of it); each invoice's adjustment and reason."""
    from ledger.errors import InputError

    numbers = [number for number, _ in pairs if number]
    if twice := sorted({n for n in numbers if numbers.count(n) > 1}):
        raise InputError(f"invoice {twice[0]} is allocated more than once: give it once")
    if any(not number and minor <= 0 for number, minor in pairs):
        raise InputError("cash on account must be more than zero")
    found: dict[str, tuple[int, str]] = {}
    for number, minor, reason in adjustments:
        if number not in numbers:
            raise InputError(
                f"an adjustment on {number or 'no invoice'}: allocate that invoice too "
                "(0 when the payer paid none of it)"
            )
        if number in found:
            raise InputError(f"invoice {number} is adjusted more than once: give it once")
        if minor <= 0:
            raise InputError(f"the adjustment on {number} must be more than zero")
        if not reason.strip():
            raise InputError(f"the adjustment on {number} needs a reason (e.g. DAMAGED, earned)")
        found[number] = (minor, reason.strip())
    return found


def _analyst_kind(open_minor: int, cash: int, adjustment: int, reason: str) -> str:
    """What an analyst's allocation of ``cash`` and ``adjustment`` to an item with
    ``open_minor`` open is: a credit memo, a discount, a write-off, a short-pay, or the cash
    alone settling it in full or in part."""
    if open_minor < 0:
        return str(ApplicationKind.CREDIT_MEMO)
    if adjustment:
        if reason.lower() in ANALYST_DISCOUNT_REASONS:
            return str(ApplicationKind.DISCOUNT)
        if reason.lower() in ANALYST_WRITE_OFF_REASONS:
            return str(ApplicationKind.WRITE_OFF)
        return str(ApplicationKind.SHORT_PAY)
    return str(ApplicationKind.FULL if cash == open_minor else ApplicationKind.PARTIAL)


def _intermediary_notices(payers: PayerIndex, payer: str, account: str) -> list[str]:
    """Say so when the payer name or bank account the ledger has now learnt stands for
    customers of more than one family: from here on it identifies no one."""
    shared = payers.intermediary(payer, account)
    return [
        f"{what} {shared[key]!r} now stands for customers of more than one family: an "
        "intermediary's (a payment platform, a bank), no longer taken for who paid"
        for key, what in (("payer_account", "bank account"), ("payer_name", "payer name"))
        if key in shared
    ]


def ledger_labels(con: Connection) -> list[LabelledProposal]:
    """Training rows from analysts' decisions: every suggestion of a resolved exception,
    labelled right when the analyst applied exactly its allocations."""
    rows = []
    for exception_id, suggestions, resolution in con.execute(
        "SELECT exception_id, suggestions, resolution FROM exceptions "
        "WHERE status = 'resolved' AND resolution IS NOT NULL"
    ).fetchall():
        applied = json.loads(resolution).get("allocations")
        if applied is None:  # a return linked to what it takes back: no allocation chosen
            continue
        chosen = sorted((n or "", int(m)) for n, m in applied)
        for suggestion in json.loads(suggestions):
            if not suggestion.get("features"):
                continue
            mine = sorted(
                (a["invoice"] or "", int(a["applied_minor"])) for a in suggestion["allocations"]
            )
            rows.append(LabelledProposal(exception_id, suggestion["features"], mine == chosen))
    return rows

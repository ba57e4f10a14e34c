"""`arpilot match` and `arpilot export`: run the engine over the ledger, and write out what it
applied and what waits for an analyst."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from duckdb import DuckDBPyConnection as Connection

from ledger.errors import InputError
from ledger.money import format_amount
from matching.engine import Scorer
from matching.scoring import LightGBMScorer, RuleScorer
from matching.store import settles_as_suggested

PRETRAINED = Path(__file__).resolve().parent.parent / "matching" / "pretrained"
"""The scorer shipped with arpilot, trained on simulated worlds (cold start)."""

EXPORT_COLUMNS = (
    "payment_id",
    "bank_reference",
    "invoice_number",
    "applied_amount",
    "kind",
    "reason",
    "method",
    "confidence",
)


def scorer_for(home: Path, choice: str = "auto") -> Scorer:
    """The scorer a match run uses: the home's own trained scorer, else the shipped one
    trained on simulated worlds, else rules. ``choice`` forces 'rules', 'pretrained' or 'home'."""
    own = home / "models" / "match_scorer"
    if choice in ("auto", "home") and (own / "scorer.json").exists():
        return LightGBMScorer.load(own)
    if choice == "home":
        raise InputError(f"no trained scorer under {own}: run 'arpilot train-matcher' first")
    if choice in ("auto", "pretrained") and (PRETRAINED / "scorer.json").exists():
        return LightGBMScorer.load(PRETRAINED)
    if choice == "pretrained":
        raise InputError("this arpilot ships no pretrained scorer")
    if choice not in ("auto", "rules"):
        raise InputError(f"unknown scorer {choice!r}: choose auto, home, pretrained or rules")
    return RuleScorer()


def export_rows(con: Connection, what: str, posting: bool = False) -> Iterator[dict[str, Any]]:
    """Rows of ``arpilot export``: one per allocation, or one per suggested allocation of an
    open exception (its rank in ``method``). With ``posting``, what an ERP needs to post each
    row too (:data:`POSTING_COLUMNS`): what the allocation settles beyond the cash
    (``adjustment_amount``: a deduction, discount or write-off, whose reason is the row's
    ``reason`` for an application) and whose account it is on (``customer_id``: the
    invoice's customer; for cash on account, the customer an analyst named, else the one of
    the payment's invoices) and the application's id (``application_id``: a reversal carries
    the id of the application it takes back, whose kind and reason are on that row).

    An application reversed since (its payment came back, or an analyst took it back) stays,
    followed by its reversal: the same allocation with the amount negated, kind ``reversal``
    and the return's reason or the analyst's, so an ERP that posted the first posts the
    second."""
    if what == "applications":
        rows = con.execute(
            """
            SELECT x.payment_id, x.bank_reference, x.invoice, x.currency, x.minor, x.kind,
                   x.reason, x.method, x.confidence, x.adjustment, x.application_id,
                   coalesce(i.customer_id, json_extract_string(x.evidence, '$.customer'),
                            (SELECT min(i2.customer_id) FROM applications a2
                             JOIN invoices i2 ON i2.invoice_number = a2.invoice_number
                             WHERE a2.payment_id = x.payment_id), '')
            FROM (
                SELECT a.payment_id, p.bank_reference, coalesce(a.invoice_number, '') AS invoice,
                       a.currency, a.applied_minor AS minor, a.kind, a.reason, a.method,
                       a.confidence, a.decided_at AS booked_at, a.application_id, 0 AS step,
                       a.adjustment_minor AS adjustment, a.evidence
                FROM applications a JOIN payments p USING (payment_id)
                UNION ALL
                SELECT a.payment_id, p.bank_reference, coalesce(a.invoice_number, ''),
                       a.currency, -a.applied_minor, 'reversal',
                       CASE WHEN a.reversal_reason <> '' THEN a.reversal_reason
                            ELSE 'payment returned' || coalesce(': ' || (
                                SELECT min(r.payment_id) FROM payments r
                                WHERE r.returns_payment_id = a.payment_id), '') END,
                       CASE WHEN a.reversed_by <> '' THEN 'analyst' ELSE 'rule' END, 1.0,
                       a.reversed_at, a.application_id, 1, -a.adjustment_minor, a.evidence
                FROM applications a JOIN payments p USING (payment_id)
                WHERE a.reversed_at IS NOT NULL
            ) x LEFT JOIN invoices i ON i.invoice_number = nullif(x.invoice, '')
            ORDER BY x.booked_at, x.payment_id, x.application_id, x.step
            """
        ).fetchall()
        for pid, bank_ref, invoice, currency, minor, kind, reason, method, conf, *posted in rows:
            adj, app, who = posted
            row = {
                "payment_id": pid,
                "bank_reference": bank_ref,
                "invoice_number": invoice,
                "applied_amount": format_amount(minor, currency),
                "kind": kind,
                "reason": reason,
                "method": method,
                "confidence": f"{conf:.4f}",
            }
            if posting:
                row.update(
                    adjustment_amount=format_amount(adj, currency),
                    customer_id=who,
                    application_id=app,
                )
            yield row
        return
    if what != "exceptions":
        raise InputError(f"unknown export {what!r}: choose applications or exceptions")
    rows = con.execute(
        """
        SELECT e.payment_id, p.bank_reference, p.currency, p.amount_minor, e.reason, e.suggestions
        FROM exceptions e JOIN payments p USING (payment_id)
        WHERE e.status = 'open' ORDER BY e.created_at, e.payment_id
        """
    ).fetchall()
    for payment_id, bank_ref, currency, amount, reason, suggestions in rows:
        ranked = json.loads(suggestions)
        if not ranked:
            row = {
                "payment_id": payment_id,
                "bank_reference": bank_ref,
                "invoice_number": "",
                "applied_amount": format_amount(amount, currency),
                "kind": "unapplied",
                "reason": reason,
                "method": "",
                "confidence": "",
            }
            if posting:
                row.update(
                    adjustment_amount=format_amount(0, currency), customer_id="", application_id=""
                )
            yield row
        for suggestion in ranked:
            for allocation in suggestion["allocations"]:
                row = {
                    "payment_id": payment_id,
                    "bank_reference": bank_ref,
                    "invoice_number": allocation["invoice"],
                    "applied_amount": format_amount(allocation["applied_minor"], currency),
                    "kind": allocation["kind"],
                    "reason": reason,
                    "method": f"suggestion {suggestion['rank']}",
                    "confidence": f"{suggestion['confidence']:.4f}",
                }
                if posting:
                    row.update(
                        adjustment_amount=format_amount(allocation["adjustment_minor"], currency),
                        customer_id=suggestion.get("customer", ""),
                        application_id="",
                    )
                yield row


POSTING_COLUMNS = ("adjustment_amount", "customer_id", "application_id")
"""What ``arpilot export --for-posting`` adds to the contract's columns."""


def write_export(rows: Iterator[dict[str, Any]], out_format: str, posting: bool = False) -> str:
    if out_format == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows)
    if out_format != "csv":
        raise InputError(f"unknown export format {out_format!r}: choose jsonl or csv")
    buffer = io.StringIO()
    columns = (*EXPORT_COLUMNS, *POSTING_COLUMNS) if posting else EXPORT_COLUMNS
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


QUEUE_EVIDENCE = (
    "duplicate_of",
    "names_paid_invoices",
    "names_invoices_not_in_the_ledger",
    "invoices_in_another_currency",
    "named_but_left_out",
    "deduction_on_no_invoice",
    "candidates",
    "reversed",
    "returned_in_part",
)
"""What of an exception's evidence the queue shows: the facts an analyst decides on (the
payment a suspected duplicate repeats, the invoices named that are paid, missing or in
another currency, the receipts a return may take back, the application an analyst took
back, ...)."""


def exception_queue(con: Connection) -> list[dict[str, Any]]:
    """The open exceptions as an analyst works them, oldest first: each with its id and
    version (what ``arpilot resolve`` asks for), the payment, why it waits and its ranked
    suggestions, each allocation with the cash and what it settles beyond it (amounts as
    decimal strings), and whether it still fits (its invoices open as they were when it was
    made: another payment or an ERP import may have changed them since)."""
    rows = con.execute(
        """
        SELECT e.exception_id, e.version, e.payment_id, p.value_date, p.currency,
               p.amount_minor, p.payer_name, p.remittance_text, e.reason, e.suggestions,
               e.evidence, coalesce((
                   SELECT -sum(r.amount_minor) FROM payments r
                   WHERE r.returns_payment_id = p.payment_id AND r.status = 'return_linked'
               ), 0)
        FROM exceptions e JOIN payments p USING (payment_id)
        WHERE e.status = 'open' ORDER BY e.created_at, e.payment_id
        """
    ).fetchall()
    open_now = dict(con.execute("SELECT invoice_number, open_minor FROM invoices").fetchall())

    def fits(allocations: list[dict[str, Any]]) -> bool:
        """Whether the suggestion still holds as ``arpilot resolve`` would book it: each item
        open as it was when suggested, and no more settled than the payment."""
        return all(
            settles_as_suggested(
                a["kind"],
                int(a["applied_minor"]) + int(a["adjustment_minor"]),
                open_now.get(a["invoice"], 0),
            )
            if a["invoice"]
            else int(a["applied_minor"]) >= 0
            for a in allocations
        )

    queue = []
    for (
        exc_id,
        version,
        pid,
        day,
        currency,
        received,
        payer,
        text,
        reason,
        suggestions,
        why,
        back,
    ) in rows:
        found = json.loads(why or "{}")
        if back:  # items of it its bank returned: what is left is what there is to apply
            found["returned_in_part"] = format_amount(back, currency)
        amount = received - back
        queue.append(
            {
                "exception_id": exc_id,
                "version": version,
                "payment_id": pid,
                "value_date": day.isoformat() if day else "",
                "amount": format_amount(amount, currency),
                "currency": currency,
                "payer_name": payer,
                "remittance_text": text,
                "reason": reason,
                "why": {key: found[key] for key in QUEUE_EVIDENCE if found.get(key)},
                "suggestions": [
                    {
                        "rank": s["rank"],
                        "confidence": round(float(s["confidence"]), 4),
                        "customer": s.get("customer", ""),
                        "still_fits": fits(s["allocations"]),
                        "allocations": [
                            {
                                "invoice_number": a["invoice"],
                                "applied_amount": format_amount(int(a["applied_minor"]), currency),
                                "adjustment_amount": format_amount(
                                    int(a["adjustment_minor"]), currency
                                ),
                                "kind": a["kind"],
                                "reason": a["reason"],
                            }
                            for a in s["allocations"]
                        ],
                    }
                    for s in json.loads(suggestions)
                ],
            }
        )
    return queue

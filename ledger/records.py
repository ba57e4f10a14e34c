"""Immutable domain records of the ledger: customers, open items, payments, advices, applications.

Every amount is :class:`~ledger.money.Money` (integer minor units + currency); dates are
``datetime.date`` in the bank's or ERP's calendar; timestamps are timezone-aware UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ledger.money import Money


class DocType(enum.StrEnum):
    """Kind of open item in the ERP."""

    INVOICE = "invoice"
    CREDIT_MEMO = "credit_memo"


class ApplicationKind(enum.StrEnum):
    """How a slice of a payment settles an open item."""

    FULL = "full"  # pays the open amount exactly
    PARTIAL = "partial"  # pays part, the rest stays open with no dispute
    SHORT_PAY = "short_pay"  # pays less, the difference is a deduction with a reason
    DISCOUNT = "discount"  # early-payment discount taken (earned or unearned)
    OVERPAYMENT = "overpayment"  # more than owed: the excess goes on account
    ON_ACCOUNT = "on_account"  # unallocated cash held against the customer
    WRITE_OFF = "write_off"  # small difference within tolerance, written off to a reason
    CREDIT_MEMO = "credit_memo"  # a credit memo netted against the invoices this payment pays


class ApplicationMethod(enum.StrEnum):
    """Who or what decided an application."""

    RULE = "rule"
    MODEL = "model"
    ANALYST = "analyst"


class ExceptionReason(enum.StrEnum):
    """Why a payment went to the exception queue instead of being applied."""

    UNKNOWN_PAYER = "unknown_payer"
    NO_CANDIDATE = "no_candidate"
    AMBIGUOUS = "ambiguous"
    AMOUNT_MISMATCH = "amount_mismatch"
    LOW_CONFIDENCE = "low_confidence"
    SUSPECTED_DUPLICATE = "suspected_duplicate"
    UNLINKED_RETURN = "unlinked_return"  # a returned receipt: which payment it takes back is unsure
    REVERSED = "reversed"  # its application was taken back by an analyst: an analyst decides it


class ExceptionStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"  # the payment was returned by its bank: nothing left to decide
    REJECTED = "rejected"


class FileStatus(enum.StrEnum):
    INGESTED = "ingested"
    QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer (sold-to / bill-to account) in the ERP.

    customer_id: the ERP's customer number.
    name: the customer's legal or trading name as the ERP holds it.
    aliases: other names it pays under (bank payer names, trading names, former names).
    bank_accounts: IBANs or account numbers it has paid from.
    parent_id: the customer_id of the parent company that may pay on its behalf, if any.
    """

    customer_id: str
    name: str
    aliases: tuple[str, ...] = ()
    bank_accounts: tuple[str, ...] = ()
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class OpenItem:
    """An invoice or credit memo as the ERP exports it.

    amount: original document amount, positive for invoices, negative for credit memos.
    open_amount: what is still unpaid, same sign as ``amount`` and never beyond it.
    terms: payment terms code as the ERP writes it (e.g. 'NET30', '2/10 NET 30', 'EOM').
    """

    invoice_number: str
    customer_id: str
    doc_type: DocType
    issue_date: date
    due_date: date
    amount: Money
    open_amount: Money
    terms: str = ""
    po_number: str = ""


@dataclass(frozen=True, slots=True)
class Payment:
    """Money received on a bank account: one credit transaction on a statement.

    payment_id: arpilot's stable id (derived from the fingerprint and occurrence).
    amount: credited amount (positive) as the bank booked it.
    value_date / booking_date: the bank's value and booking dates.
    payer_name / payer_account: the ordering party as the bank reports it (may be blank).
    bank_reference: the bank's or customer's reference for the transaction.
    end_to_end_id: the originator's end-to-end reference (SEPA/ISO 20022), if any.
    remittance_text: unstructured remittance information, joined.
    fingerprint: hash of the fields that identify the transaction across overlapping files.
    occurrence: 1 for the first transaction with this fingerprint, 2 for a genuine twin, ...
    customer_reference: the payer's own reference (cheque number, customer reference), if any.
    source_line: where the payment stands in its bank file (line, or entry for XML), if known.
    type_code: the bank's transaction code as its file writes it.
    reversal: the bank marks it as undoing an earlier booking (a credit that returns a payment
    of ours is no receipt; a debit that reverses a receipt takes it back).
    returned_receipt: a debit that takes back money a payer sent (see :mod:`ingest.returns`).
    """

    payment_id: str
    amount: Money
    value_date: date
    booking_date: date
    account: str
    payer_name: str = ""
    payer_account: str = ""
    bank_reference: str = ""
    end_to_end_id: str = ""
    remittance_text: str = ""
    fingerprint: str = ""
    occurrence: int = 1
    source_file_id: str = ""
    customer_reference: str = ""
    source_line: int | None = None
    type_code: str = ""
    reversal: bool = False
    returned_receipt: bool = False

    @property
    def status(self) -> str:
        """Where a newly stored bank transaction starts: a receipt waits to be applied, a
        returned receipt to be linked to what it takes back, anything else is kept for the
        record."""
        if self.amount.minor > 0 and not self.reversal:
            return "unapplied"
        if self.returned_receipt:
            return "return"
        return "not_receivable"


@dataclass(frozen=True, slots=True)
class RemittanceLine:
    """One line of a remittance advice: what the customer says it is paying.

    reference: invoice (or PO / credit memo) number as the customer wrote it.
    paid: amount paid against it; gross: the invoice amount they quote, if given.
    discount / deduction: amounts taken off, with ``reason`` (the customer's code or words).
    """

    reference: str
    paid: Money
    gross: Money | None = None
    discount: Money | None = None
    deduction: Money | None = None
    reason: str = ""
    invoice_date: date | None = None
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class RemittanceAdvice:
    """A customer's statement of what a payment pays, from EDI 820, PDF, scan, CSV or e-mail.

    total: the payment total the advice declares; lines: what it pays.
    confidence: 0..1, how sure extraction is of the whole advice (1.0 for structured EDI).
    payer_number: the customer's own id with us, when the advice gives it.
    currency_stated: False when the document names no currency and its amounts' currency was
    assumed (a spreadsheet of lines): the money may be in another.
    unassigned_deduction: what the payer took off the whole remittance, tied to no invoice (an
    EDI 820 adjustment at the remittance's level), with ``unassigned_reason``; the lines pay
    this much more than the total.
    """

    advice_id: str
    payer_name: str
    total: Money | None
    payment_reference: str = ""
    payment_date: date | None = None
    lines: tuple[RemittanceLine, ...] = ()
    source_file_id: str = ""
    confidence: float = 1.0
    payer_number: str = ""
    currency_stated: bool = True
    unassigned_deduction: Money | None = None
    unassigned_reason: str = ""


@dataclass(frozen=True, slots=True)
class Application:
    """One allocation of a payment to an open item (or on account).

    applied: amount of the payment used; adjustment: discount/deduction/write-off amount that
    also reduces the open item without cash.
    confidence: calibrated probability that this allocation is right (1.0 for an analyst).
    model_version: the scorer's registered version when ``method`` is model, else ''.
    evidence: what the decision rested on (reference match, name score, subset-sum, ...).
    """

    application_id: str
    payment_id: str
    invoice_number: str | None
    applied: Money
    kind: ApplicationKind
    method: ApplicationMethod
    confidence: float
    adjustment: Money | None = None
    reason: str = ""
    model_version: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    decided_by: str = ""
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A ranked proposal attached to an exception: the allocations and why."""

    rank: int
    allocations: tuple[tuple[str, Money], ...]
    confidence: float
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExceptionCase:
    """A payment the engine would not apply on its own, waiting for an analyst.

    version: optimistic-lock counter; an update naming an older version is refused.
    """

    exception_id: str
    payment_id: str
    reason: ExceptionReason
    suggestions: tuple[Suggestion, ...] = ()
    status: ExceptionStatus = ExceptionStatus.OPEN
    assignee: str = ""
    version: int = 1


@dataclass(frozen=True, slots=True)
class IngestedFile:
    """A file arpilot has read: by content hash, so the same bytes are never ingested twice.

    status: ingested or quarantined; quarantine_reason says what/where/why when refused.
    """

    file_id: str
    sha256: str
    name: str
    format: str
    status: FileStatus
    received_at: datetime
    quarantine_reason: str = ""
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One link of the append-only audit chain.

    seq: position in the chain from 1; prev_hash: ``hash`` of entry seq-1 ('' for the first);
    hash: SHA-256 over prev_hash and this entry's canonical content.
    """

    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

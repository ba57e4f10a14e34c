"""Bank statements normalised across formats: what every bank-file parser returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ledger.money import Money


@dataclass(frozen=True, slots=True)
class StructuredRemittance:
    """A structured remittance item carried by the bank (camt ``Strd``, BAI2/ACH addenda).

    reference: the document (invoice, credit note) number or creditor reference as sent.
    kind: what the reference is ('invoice', 'credit_note', 'creditor_reference', ...).
    amount: remitted amount; discount / adjustment: taken off, with ``adjustment_reason``.
    """

    reference: str
    kind: str = "invoice"
    amount: Money | None = None
    discount: Money | None = None
    adjustment: Money | None = None
    adjustment_reason: str = ""


@dataclass(frozen=True, slots=True)
class BankTransaction:
    """One booked transaction as a bank file reports it.

    account: our account it was booked on (IBAN or account number).
    amount: signed; positive is a credit (money in), negative a debit.
    payer_name / payer_account: the ordering party (for a debit: the counterparty), if given.
    bank_reference: the bank's reference; customer_reference: the originator's reference
    (ACH trace, cheque number, MT940 reference for the account owner; '' for NONREF).
    end_to_end_id: ISO 20022 end-to-end id ('' when not provided).
    remittance_text: unstructured remittance information, joined with single spaces.
    structured: structured remittance items; creditor_reference: ISO 11649 (RF) reference.
    type_code: the bank's transaction code as the format writes it (BAI2 type code, camt
    domain/family/sub-family, MT940 transaction type).
    reversal: the format marks the booking as the reversal of an earlier one (camt
    ``RvslInd``, MT940 ``RC``/``RD``): a debit undoing a credit, or a credit undoing a debit.
    line: line (or, for XML, entry) number in the file where the transaction starts.
    """

    account: str
    amount: Money
    booking_date: date | None
    value_date: date | None
    payer_name: str = ""
    payer_account: str = ""
    bank_reference: str = ""
    customer_reference: str = ""
    end_to_end_id: str = ""
    remittance_text: str = ""
    structured: tuple[StructuredRemittance, ...] = ()
    creditor_reference: str = ""
    type_code: str = ""
    line: int | None = None
    reversal: bool = False

    @property
    def is_credit(self) -> bool:
        return self.amount.minor > 0

    def fingerprint(self) -> str:
        """What identifies this transaction across overlapping statements of one account.

        Two genuinely identical transactions on one day share a fingerprint; how many copies
        a file adds is told by :func:`ingest.continuity.place`.
        """
        parts = (
            self.account,
            self.amount.currency,
            str(self.amount.minor),
            self.booking_date.isoformat() if self.booking_date else "",
            self.value_date.isoformat() if self.value_date else "",
            self.bank_reference,
            self.customer_reference,
            self.end_to_end_id,
            self.payer_account,
            self.payer_name,
            self.remittance_text,
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def is_own_account(payer_account: str, account: str) -> bool:
    """The payer's account is the statement's own: the same number, or the end of its IBAN or
    of a 'BANK/number' account field. Money does not come from the account it is paid into,
    so such a 'payer account' says nothing about the payer."""
    payer = "".join(c for c in payer_account.upper() if c.isalnum())
    own = "".join(c for c in account.upper() if c.isalnum())
    return len(payer) >= 6 and own.endswith(payer)


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    """One statement (or camt.054 notification / BAI2 account section) of one account.

    opening_balance / closing_balance: booked balances when the format carries them.
    statement_id: the bank's identifier of the statement ('' when the format has none).
    """

    account: str
    currency: str
    statement_id: str
    transactions: tuple[BankTransaction, ...]
    opening_balance: Money | None = None
    closing_balance: Money | None = None
    from_date: date | None = None
    to_date: date | None = None


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """A whole bank file: its format and every statement in it."""

    file_format: str
    statements: tuple[ParsedStatement, ...]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def transactions(self) -> tuple[BankTransaction, ...]:
        return tuple(t for s in self.statements for t in s.transactions)


def difference(statement: ParsedStatement) -> Money | None:
    """closing - (opening + transactions): zero when a statement ties out, None without both
    balances."""
    if statement.opening_balance is None or statement.closing_balance is None:
        return None
    booked = sum(t.amount.minor for t in statement.transactions)
    return Money(
        statement.closing_balance.minor - statement.opening_balance.minor - booked,
        statement.currency,
    )


def untied(statement: ParsedStatement) -> tuple[Money, Money] | None:
    """(booked, difference) of a statement that does not tie out; None when it ties or lacks
    a balance. ``booked`` nets the transactions; the message built from both is the caller's."""
    gap = difference(statement)
    if gap is None or gap.minor == 0:
        return None
    return Money(sum(t.amount.minor for t in statement.transactions), statement.currency), gap


def transaction_json(
    transaction: BankTransaction, statement: ParsedStatement, file_format: str
) -> dict[str, Any]:
    """The JSON-lines form ``arpilot parse`` prints: amounts as decimal strings, never floats."""
    return {
        "format": file_format,
        "statement_id": statement.statement_id,
        "account": transaction.account,
        "currency": transaction.amount.currency,
        "amount": transaction.amount.amount_text(),
        "direction": "credit" if transaction.is_credit else "debit",
        "booking_date": transaction.booking_date.isoformat() if transaction.booking_date else None,
        "value_date": transaction.value_date.isoformat() if transaction.value_date else None,
        "payer_name": transaction.payer_name,
        "payer_account": transaction.payer_account,
        "bank_reference": transaction.bank_reference,
        "customer_reference": transaction.customer_reference,
        "end_to_end_id": transaction.end_to_end_id,
        "remittance_text": transaction.remittance_text,
        "structured": [
            {
                "reference": s.reference,
                "kind": s.kind,
                "amount": s.amount.amount_text() if s.amount else None,
                "discount": s.discount.amount_text() if s.discount else None,
                "adjustment": s.adjustment.amount_text() if s.adjustment else None,
                "adjustment_reason": s.adjustment_reason,
            }
            for s in transaction.structured
        ],
        "creditor_reference": transaction.creditor_reference,
        "type_code": transaction.type_code,
        "reversal": transaction.reversal,
        "line": transaction.line,
        "fingerprint": transaction.fingerprint(),
    }

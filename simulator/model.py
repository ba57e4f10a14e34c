"""The simulator's records: what banks report and what customers send, before any file format.

The world generator fills these; the writers in :mod:`simulator.formats` and
:mod:`simulator.documents` turn them into bytes. Amounts are integer minor units of ``currency``
(signed where a direction matters: + credit to our account, - debit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class BankAccount:
    """One of our receiving accounts and the file format its bank delivers.

    account_id: IBAN for camt/MT940 banks, a domestic account number for BAI2 and CSV banks.
    bank_id: BIC for camt/MT940, ABA routing number for BAI2, a short code for CSV.
    file_format: bai2 | camt053 | camt054 | mt940 | csv.
    """

    bank_name: str
    bank_id: str
    account_id: str
    account_name: str
    currency: str
    file_format: str


@dataclass(frozen=True, slots=True)
class RemittanceRef:
    """A structured remittance item a bank carries (camt ``Strd``/``RfrdDocInf``, EDI-like).

    amount_minor: what this item pays; discount_minor / adjustment_minor: taken off, with
    ``adjustment_reason`` (a short code such as 'DAMAGED' or 'PRICING').
    """

    document_number: str
    amount_minor: int | None = None
    discount_minor: int | None = None
    adjustment_minor: int | None = None
    adjustment_reason: str = ""


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One transaction on a statement, as the bank reports it.

    line_id: unique in the world; for a customer payment it is the ground truth's payment_id.
    amount_minor: signed (+ credit, - debit). payer_*: the ordering party, blank if not given.
    bank_reference: the bank's own reference. customer_reference: originator's reference (ACH
    trace, cheque number, end-to-end id), 'NONREF' style blanks allowed.
    remittance_text: unstructured remittance information ('' when the bank carries none).
    structured: structured remittance items. creditor_reference: ISO 11649 RF reference.
    channel: ach | wire | sepa | check | lockbox | fee | transfer.
    bai_type_code: the BAI2 detail type code (e.g. 165 ACH credit, 195 incoming wire,
    115 lockbox, 301 cheque deposit, 698 fee debit).
    """

    line_id: str
    booking_date: date
    value_date: date
    amount_minor: int
    currency: str
    payer_name: str = ""
    payer_account: str = ""
    bank_reference: str = ""
    customer_reference: str = ""
    end_to_end_id: str = ""
    remittance_text: str = ""
    structured: tuple[RemittanceRef, ...] = ()
    creditor_reference: str = ""
    channel: str = "ach"
    bai_type_code: str = "165"


@dataclass(frozen=True, slots=True)
class Statement:
    """A bank statement (or, for camt.054, a notification) of one account over a period.

    opening_balance_minor: booked balance before the first line; the closing balance is derived.
    """

    account: BankAccount
    statement_id: str
    sequence: int
    created_at: datetime
    from_date: date
    to_date: date
    opening_balance_minor: int
    lines: tuple[StatementLine, ...]

    @property
    def closing_balance_minor(self) -> int:
        return self.opening_balance_minor + sum(line.amount_minor for line in self.lines)

    @property
    def credits_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines if line.amount_minor > 0)

    @property
    def debits_minor(self) -> int:
        return -sum(line.amount_minor for line in self.lines if line.amount_minor < 0)


@dataclass(frozen=True, slots=True)
class AdviceLine:
    """One line of a remittance advice as the customer writes it.

    reference: invoice number as the customer typed it (may carry typos, OCR-confusable
    characters, a PO number instead). gross/discount/deduction/paid in minor units; ``paid`` =
    gross - discount - deduction when all are given. reason: deduction reason in the
    customer's words or code.
    """

    reference: str
    paid_minor: int
    invoice_date: date | None = None
    gross_minor: int | None = None
    discount_minor: int = 0
    deduction_minor: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RemittanceDocument:
    """A remittance advice sent apart from the money: PDF, scan, image, EDI 820, CSV or e-mail.

    kind: pdf_text | pdf_scan | png | edi820 | csv | email.
    dpi: render resolution for scans and images (200 or 300); rotation_deg: skew of a scan;
    noise: 0..1 strength of scan noise. layout: which of the document layouts to use.
    payer_name: the customer as it signs the advice; payer_number: its own id for us, if given.
    payment_reference: cheque number, ACH trace or wire reference the advice names.
    total_minor: the total the advice declares (normally the sum of the lines' paid amounts).
    """

    document_id: str
    payment_id: str
    kind: str
    payer_name: str
    payee_name: str
    payment_reference: str
    payment_date: date
    currency: str
    total_minor: int
    lines: tuple[AdviceLine, ...]
    payer_number: str = ""
    payment_method: str = "ACH"
    dpi: int = 300
    rotation_deg: float = 0.0
    noise: float = 0.0
    layout: int = 0

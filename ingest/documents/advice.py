"""An extracted remittance advice: every field with its confidence and where it was found."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ledger.money import Money

DEFAULT_CURRENCY = "USD"
"""The currency taken for a document that names none."""
CURRENCY_ASSUMED = f"currency not stated; assumed {DEFAULT_CURRENCY}"


@dataclass(frozen=True, slots=True)
class Found:
    """Where a value was read: 1-based page and box in points (x0, top, x1, bottom)."""

    page: int
    box: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class FieldValue:
    """A value with its confidence (0..1) and provenance (None when it was not on a page)."""

    text: str
    confidence: float
    found: Found | None = None


@dataclass(frozen=True, slots=True)
class ExtractedLine:
    """One line of the advice's table. Money fields are exact; each keeps its own confidence."""

    reference: FieldValue
    paid: Money | None
    paid_field: FieldValue | None = None
    invoice_date: date | None = None
    gross: Money | None = None
    discount: Money | None = None
    deduction: Money | None = None
    reason: str = ""
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class ExtractedAdvice:
    """What a document says a payment pays, before it is linked to any payment.

    flags: what a reviewer must look at ('lines do not sum to the total', 'low confidence
    total', ...): a mismatch is reported, never silently corrected.
    """

    payer: FieldValue | None
    payment_reference: FieldValue | None
    payment_date: date | None
    payment_date_field: FieldValue | None
    currency: str
    total: Money | None
    total_field: FieldValue | None
    lines: tuple[ExtractedLine, ...]
    pages: int
    reader: str
    flags: tuple[str, ...] = field(default_factory=tuple)
    confidence: float = 1.0

    @property
    def currency_stated(self) -> bool:
        """Whether the document names its currency (else ``currency`` is an assumption)."""
        return CURRENCY_ASSUMED not in self.flags

"""What the engine reads and what it proposes: plain frozen records, amounts in minor units.

The engine works on these instead of the ledger's ``Money`` records because it holds every open
item of a large ledger at once; every amount here is an ``int`` of minor units beside the
record's ISO 4217 ``currency``, never a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from ledger.records import ApplicationKind, ExceptionReason

_DISCOUNT_TERMS = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:%\s*/?|/)\s*(\d+)\s*(?:,?\s*N(?:ET)?\s*/?\s*\d+)?", re.I
)


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    """An open invoice or credit memo as the engine sees it.

    open_minor: what is still open (negative for a credit memo); amount_minor: original amount.
    rank: position among the customer's open items in due-date order (0 = oldest).
    """

    invoice_number: str
    customer_id: str
    doc_type: str
    issue_date: date
    due_date: date
    currency: str
    amount_minor: int
    open_minor: int
    terms: str = ""
    po_number: str = ""


@dataclass(frozen=True, slots=True)
class AdviceLine:
    """One line of a remittance advice; amounts in minor units of the advice's currency."""

    reference: str
    paid_minor: int
    gross_minor: int | None = None
    discount_minor: int | None = None
    deduction_minor: int | None = None
    reason: str = ""
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class Advice:
    """A remittance advice: from the bank record itself (``payment_id`` set at ingest) or a
    separate document the engine links to its payment.

    total_minor: the total the advice declares, if any; confidence: extraction's 0..1.
    currency_stated: False when the document named no currency and ``currency`` was assumed.
    unassigned_deduction_minor: taken off the whole remittance, tied to no invoice, for
    ``unassigned_reason``: the lines pay this much more than the total.
    """

    advice_id: str
    payer_name: str
    payment_reference: str
    payment_date: date | None
    currency: str | None
    total_minor: int | None
    confidence: float
    payment_id: str | None
    lines: tuple[AdviceLine, ...] = ()
    payer_number: str = ""
    currency_stated: bool = True
    unassigned_deduction_minor: int = 0
    unassigned_reason: str = ""


@dataclass(frozen=True, slots=True)
class IncomingPayment:
    """A credit waiting to be applied; amount_minor > 0 in ``currency``."""

    payment_id: str
    currency: str
    amount_minor: int
    value_date: date
    account: str = ""
    payer_name: str = ""
    payer_account: str = ""
    bank_reference: str = ""
    customer_reference: str = ""
    end_to_end_id: str = ""
    remittance_text: str = ""


@dataclass(frozen=True, slots=True)
class Settled:
    """A payment already applied: to whose items, and which invoices it settled."""

    payment: IncomingPayment
    customer_id: str
    invoices: frozenset[str]


@dataclass(frozen=True, slots=True)
class Allocation:
    """A slice of a payment: ``applied_minor`` of cash to ``invoice_number`` ('' = on account),
    and ``adjustment_minor`` taken off the invoice without cash (discount, deduction, write-off)
    for ``reason``."""

    invoice_number: str
    applied_minor: int
    adjustment_minor: int
    kind: ApplicationKind
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Proposal:
    """One way to apply a payment, with the evidence it rests on.

    customer_id: whose items it settles; strategy: how it was built ('advice', 'references',
    'subset', ...); features: numbers the scorer reads; evidence: what an analyst reads.
    """

    customer_id: str
    allocations: tuple[Allocation, ...]
    strategy: str
    features: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def invoices(self) -> tuple[str, ...]:
        return tuple(a.invoice_number for a in self.allocations if a.invoice_number)

    @property
    def key(self) -> frozenset[tuple[str, int]]:
        """Which invoices get how much cash: two proposals with the same key are the same."""
        return frozenset((a.invoice_number, a.applied_minor) for a in self.allocations)


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's verdict on one payment.

    applied: the proposal applied without a human, or None; reason: why not, when not.
    ranked: every proposal with its probability of being right, best first (the suggestions).
    """

    payment_id: str
    applied: Proposal | None
    confidence: float
    reason: ExceptionReason | None
    ranked: tuple[tuple[Proposal, float], ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DiscountTerms:
    """An early-payment discount: ``percent`` off when paid within ``days`` of the invoice date."""

    percent: Decimal
    days: int

    @staticmethod
    @lru_cache(maxsize=4096)
    def parse(terms: str) -> DiscountTerms | None:
        """'2/10 NET 30', '2% 10 NET 30', '1.5/15 N30' -> terms; anything else -> None."""
        found = _DISCOUNT_TERMS.search(terms)
        if not found:
            return None
        percent, days = Decimal(found.group(1)), int(found.group(2))
        if not (Decimal(0) < percent < Decimal(50)) or days <= 0:
            return None
        return DiscountTerms(percent, days)

    def discount(self, open_minor: int) -> int:
        """The discount on ``open_minor``, rounded half up to the minor unit."""
        value = Decimal(open_minor) * self.percent / Decimal(100)
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def earned(self, issue_date: date, paid_on: date, grace_days: int = 0) -> bool:
        return (paid_on - issue_date).days <= self.days + grace_days

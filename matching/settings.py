"""How the cash-application engine decides: tolerances and the precision it must keep."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MatchSettings(BaseSettings):
    """Tolerances and targets of ``arpilot match`` (``ARPILOT_MATCH_*``).

    target_precision: share of auto-applied payments that must be right; the scorer's threshold
    is chosen on held-out worlds to keep it. bank_fee_limit: the largest shortfall, in major
    units of the payment's currency, written off as a bank charge. fx_tolerance_bp: shortfall in
    basis points of the payment written off as an FX difference (only on a payment in a
    currency other than the one most open items are in: money at home is not converted).
    small_difference_limit: what may be written off without a reason, in major units.
    short_pay_percent: largest deduction, in percent of an invoice, taken as a short-pay rather
    than a mismatch. overpayment_percent: largest excess, in percent of the payment, put on
    account. duplicate_window_days: how close
    two identical payments must be to suspect a duplicate. advice_window_days: how far apart an
    advice's date and its payment's value date may be. subset_max_nodes: branch-and-bound nodes one
    subset-sum search may visit; subset_max_sums: half-subset sums meet-in-the-middle may
    enumerate (small customers are searched exhaustively this way); subset_rival_nodes and
    subset_rival_sums: the smaller budgets to look for a rival set when one open item is the
    amount. Budgets are counted in work,
    not time, so a run decides the same on a busy machine as on an idle one;
    subset_budget_seconds is only a safety net for one payment's searches together.
    unspecified_short_pay: what becomes of a shortfall the payer gave no reason for:
    ``deduct`` books it as a short-pay (reason ``unspecified``) that closes the invoice, for the
    deduction team to research; ``leave_open`` books the cash as a partial payment and leaves
    the shortfall open on the invoice, for collections to chase. unearned_discount: the same
    for a discount taken after its window (``deduct``: a discount with reason ``unearned``).
    """

    model_config = SettingsConfigDict(env_prefix="ARPILOT_MATCH_", extra="ignore")

    target_precision: float = Field(default=0.995, gt=0.5, lt=1.0)
    bank_fee_limit: Decimal = Field(default=Decimal("50"), ge=0)
    fx_tolerance_bp: int = Field(default=50, ge=0, le=500)
    small_difference_limit: Decimal = Field(default=Decimal("5"), ge=0)
    short_pay_percent: int = Field(default=20, ge=0, le=100)
    overpayment_percent: int = Field(default=10, ge=0, le=100)
    duplicate_window_days: int = Field(default=10, ge=0)
    advice_window_days: int = Field(default=45, ge=0)
    subset_max_nodes: int = Field(default=500, ge=1)
    subset_max_sums: int = Field(default=1 << 15, ge=1)
    subset_rival_nodes: int = Field(default=64, ge=1)
    subset_rival_sums: int = Field(default=1 << 12, ge=1)
    subset_budget_seconds: float = Field(default=0.5, gt=0)
    unspecified_short_pay: Literal["deduct", "leave_open"] = "deduct"
    unearned_discount: Literal["deduct", "leave_open"] = "deduct"

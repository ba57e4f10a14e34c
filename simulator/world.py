"""A seeded synthetic AR world: customers who behave, invoices, payments and their ground truth.

The world runs for ``months`` months. Its last ``window_days`` days are the application window:
the payments received then are written to bank files (and their advices to documents) for
arpilot to apply, and the ground truth says exactly how each should be applied. Everything
before the window is history: invoices with their outcomes and past payments with their true
applications, as a ledger of a team that has been doing cash application for a while.

Randomness comes from named streams derived from the seed, so the same seed gives the same
world, and a share of the window's payments is hard in each way by exact quota (see
:mod:`simulator.presets`).
"""

from __future__ import annotations

import calendar
import hashlib
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from schwifty import IBAN

from simulator import names, noise
from simulator.model import AdviceLine, RemittanceDocument, RemittanceRef
from simulator.presets import Preset

ARCHETYPES = {
    # archetype: (weight, invoices per month low, high)
    "punctual": (0.24, 1, 6),
    "late": (0.15, 1, 6),
    "month_end": (0.10, 2, 10),
    "discount_taker": (0.10, 1, 6),
    "short_payer": (0.10, 1, 8),
    "lump_sum": (0.12, 6, 25),
    "subsidiary": (0.09, 1, 5),
    "deteriorating": (0.05, 1, 6),
    "improving": (0.05, 1, 6),
}
DEDUCTION_REASONS = (
    ("PRICING", "pricing difference"),
    ("DAMAGED", "damaged goods"),
    ("PROMO", "promotion allowance"),
    ("FREIGHT", "freight charge"),
    ("SHORTAGE", "short shipment"),
    ("RETURN", "returned goods"),
)
TERMS = {"NET30": 30, "NET45": 45, "NET60": 60, "2/10 NET 30": 30, "EOM": 0}
OUR_NAME = "Arpilot Demo Manufacturing Inc."


@dataclass(slots=True)
class Customer:
    """A simulated customer and the hidden behaviour that drives its payments."""

    customer_id: str
    name: str
    currency: str
    archetype: str
    terms: str
    invoices_per_month: float
    typical_minor: int
    bank_account: str
    bank_id: str
    parent_id: str | None = None
    default_date: date | None = None
    po_style: str = "PO"


@dataclass(slots=True)
class Invoice:
    """An invoice and, once simulated, how it was settled."""

    invoice_number: str
    customer_id: str
    issue_date: date
    due_date: date
    currency: str
    amount_minor: int
    terms: str
    po_number: str
    doc_type: str = "invoice"
    disputed: bool = False
    pay_date: date | None = None
    partial_minor: int | None = None  # a partial payment settles only this much
    written_off: date | None = None
    paid_minor: int = 0
    adjusted_minor: int = 0
    open_before_window: int | None = None  # what the ERP shows when the window's cash arrives
    credits_invoice: str = ""  # for a credit memo: the invoice it credits

    @property
    def open_minor(self) -> int:
        return self.amount_minor - self.paid_minor - self.adjusted_minor


@dataclass(frozen=True, slots=True)
class TrueAllocation:
    """Ground truth: how much of a payment goes where, and why.

    invoice_number '' means on account. applied_minor is cash; adjustment_minor reduces the
    invoice without cash (discount, deduction, bank fee written off).
    """

    payment_id: str
    invoice_number: str
    applied_minor: int
    adjustment_minor: int
    kind: str
    reason: str = ""


@dataclass(slots=True)
class Payment:
    """A payment as it is being built: who, what, how much, and what makes it hard."""

    payment_id: str
    customer_id: str
    payer_id: str
    pay_date: date
    currency: str
    invoices: list[str]
    received_minor: int = 0
    allocations: list[TrueAllocation] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    channel: str = "ach"
    payer_name: str = ""
    payer_account: str = ""
    reference_text: str = ""
    structured: tuple[RemittanceRef, ...] = ()
    document_kind: str = ""
    duplicate_of: str = ""
    check_number: str = ""


@dataclass(slots=True)
class World:
    """Everything the simulator knows, before it is written to files."""

    seed: int
    preset: Preset
    start: date
    end: date
    cutoff: date
    customers: list[Customer]
    invoices: list[Invoice]
    history: list[Payment]
    window: list[Payment]
    documents: list[RemittanceDocument]
    mix: dict[str, float]
    targets: dict[str, float]


def _stream(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}/{name}")


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _business_day(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _month_end(day: date) -> date:
    last = date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
    while last.weekday() >= 5:
        last -= timedelta(days=1)
    return last


def _percent(amount: int, percent_times_100: int) -> int:
    """``amount`` × percent/100 in minor units, half rounded up, without floats."""
    return (amount * percent_times_100 + 5000) // 10000


def _us_account(rng: random.Random) -> tuple[str, str]:
    return str(rng.randint(10**9, 10**10 - 1)), f"0{rng.randint(10**7, 10**8 - 1)}"


def _iban(rng: random.Random, country: str) -> str:
    if country == "GB":
        bank = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
        return str(
            IBAN.generate(
                "GB",
                bank_code=bank + str(rng.randint(100000, 999999)),
                account_code=str(rng.randint(10**7, 10**8 - 1)),
            )
        )
    if country == "NL":
        bank = rng.choice(("ABNA", "INGB", "RABO", "TRIO"))
        return str(
            IBAN.generate("NL", bank_code=bank, account_code=str(rng.randint(10**9, 10**10 - 1)))
        )
    return str(
        IBAN.generate(
            "DE",
            bank_code=str(rng.randint(10**7, 10**8 - 1)),
            account_code=str(rng.randint(10**9, 10**10 - 1)),
        )
    )


def make_customers(seed: int, count: int, start: date, end: date) -> list[Customer]:
    """``count`` customers with archetypes, names, terms, accounts and (some) parents."""
    rng = _stream(seed, "customers")
    kinds = list(ARCHETYPES)
    weights = [ARCHETYPES[k][0] for k in kinds]
    taken: set[str] = set()
    customers: list[Customer] = []
    for i in range(count):
        archetype = rng.choices(kinds, weights)[0]
        currency = rng.choices(("USD", "EUR", "GBP"), (0.78, 0.16, 0.06))[0]
        low, high = ARCHETYPES[archetype][1:]
        terms = (
            "2/10 NET 30"
            if archetype == "discount_taker"
            else rng.choice(("NET30", "NET30", "NET45", "NET60", "EOM", "2/10 NET 30"))
        )
        if currency == "USD":
            account, bank_id = _us_account(rng)
        else:
            account = _iban(rng, "GB" if currency == "GBP" else rng.choice(("DE", "NL")))
            bank_id = ""
        default_date = None
        if archetype == "deteriorating":
            span = (end - start).days
            default_date = start + timedelta(days=int(span * rng.uniform(0.45, 0.9)))
        customers.append(
            Customer(
                customer_id=f"C{10001 + i}",
                name=names.company_name(rng, currency, taken),
                currency=currency,
                archetype=archetype,
                terms=terms,
                invoices_per_month=rng.uniform(low, high),
                typical_minor=int(math.exp(rng.uniform(5.3, 9.6))) * 100,
                bank_account=account,
                bank_id=bank_id,
                default_date=default_date,
                po_style=rng.choice(("PO", "PO-", "4500", "")),
            )
        )
    # Subsidiaries get a parent that pays for them: a non-subsidiary in the same currency.
    parents = [c for c in customers if c.archetype not in ("subsidiary", "deteriorating")]
    for c in customers:
        if c.archetype == "subsidiary":
            same = [p for p in parents if p.currency == c.currency] or parents
            if same:
                c.parent_id = rng.choice(same).customer_id
    return customers


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def make_invoices(seed: int, customers: list[Customer], start: date, end: date) -> list[Invoice]:
    """Invoices of every customer over the whole period, numbered in issue order."""
    rng = _stream(seed, "invoices")
    raw: list[tuple[date, str, int, str, str]] = []
    months = (end.year - start.year) * 12 + end.month - start.month
    for c in customers:
        for m in range(months):
            month_start = _add_months(start, m)
            days = (_add_months(start, m + 1) - month_start).days
            for _ in range(_poisson(rng, c.invoices_per_month)):
                issue = month_start + timedelta(days=rng.randrange(days))
                if issue >= end:
                    continue
                # A random draw; from here on the amount is an exact integer of minor units.
                amount = max(500, int(c.typical_minor * math.exp(rng.gauss(0, 0.6))))
                po = f"{c.po_style}{rng.randint(10000, 99999)}" if rng.random() < 0.7 else ""
                raw.append((issue, c.customer_id, amount, c.terms, po))
    raw.sort()
    by_id = {c.customer_id: c for c in customers}
    invoices = []
    for n, (issue, cid, amount, terms, po) in enumerate(raw):
        net = TERMS[terms]
        due = (
            _month_end(issue) + timedelta(days=30)
            if terms == "EOM"
            else issue + timedelta(days=net)
        )
        invoices.append(
            Invoice(
                invoice_number=f"INV-{100001 + n}",
                customer_id=cid,
                issue_date=issue,
                due_date=due,
                currency=by_id[cid].currency,
                amount_minor=amount,
                terms=terms,
                po_number=po,
                disputed=rng.random() < 0.03,
            )
        )
    # Credit memos: about 3% of invoices are partly credited (returns, price corrections).
    memos: list[Invoice] = []
    for inv in invoices:
        if rng.random() < 0.03:
            issue = inv.issue_date + timedelta(days=rng.randint(3, 40))
            if issue >= end:
                continue
            memos.append(
                Invoice(
                    invoice_number=f"CM-{900001 + len(memos)}",
                    customer_id=inv.customer_id,
                    issue_date=issue,
                    due_date=issue,
                    currency=inv.currency,
                    amount_minor=-max(100, _percent(inv.amount_minor, rng.randint(500, 3000))),
                    terms=inv.terms,
                    po_number=inv.po_number,
                    doc_type="credit_memo",
                    credits_invoice=inv.invoice_number,
                )
            )
    return invoices + memos


def _cycle_date(after: date, anchor: date, period: int) -> date:
    steps = max(0, -(-(after - anchor).days // period))
    return anchor + timedelta(days=steps * period)


def schedule_payments(
    seed: int, customers: list[Customer], invoices: list[Invoice], start: date, end: date
) -> None:
    """Decide each invoice's pay date (or write-off) from its customer's behaviour."""
    rng = _stream(seed, "behaviour")
    by_id = {c.customer_id: c for c in customers}
    span = max((end - start).days, 1)
    by_number = {i.invoice_number: i for i in invoices}
    for inv in invoices:
        if inv.doc_type == "credit_memo":
            continue
        c = by_id[inv.customer_id]
        progress = (inv.issue_date - start).days / span
        delay: float
        if c.archetype == "late":
            delay = rng.gauss(18, 9)
        elif c.archetype == "improving":
            delay = rng.gauss(30 * (1 - progress) + 2, 6)
        elif c.archetype in ("short_payer", "subsidiary"):
            delay = rng.gauss(4, 6)
        elif c.archetype == "deteriorating":
            assert c.default_date is not None
            if inv.issue_date >= c.default_date - timedelta(days=20):
                inv.written_off = inv.due_date + timedelta(days=120)
                continue
            life = max((c.default_date - start).days, 1)
            delay = rng.gauss(5 + 55 * (inv.issue_date - start).days / life, 8)
            if rng.random() < 0.3 * (inv.issue_date - start).days / life:
                inv.partial_minor = inv.amount_minor * rng.randint(30, 70) // 100
        else:
            delay = rng.gauss(-1, 2.5)
        if inv.disputed:
            delay += rng.uniform(30, 90)
        pay = inv.due_date + timedelta(days=round(delay))
        if c.archetype == "discount_taker" and inv.terms == "2/10 NET 30":
            # Most pay inside the discount window; some pay later and take it anyway.
            days = rng.randint(4, 10) if rng.random() < 0.8 else rng.randint(12, 25)
            pay = inv.issue_date + timedelta(days=days)
        elif c.archetype == "month_end":
            pay = _month_end(pay + timedelta(days=3))
        elif c.archetype == "lump_sum":
            anchor = start + timedelta(days=int(c.customer_id[1:]) % 14)
            pay = _cycle_date(inv.due_date + timedelta(days=round(rng.gauss(0, 3))), anchor, 14)
        pay = _business_day(max(pay, inv.issue_date + timedelta(days=1)))
        inv.pay_date = pay
    # Most customers take a credit memo off the payment of the invoice it credits; the rest
    # leave it open on the account.
    for memo in invoices:
        if memo.doc_type != "credit_memo":
            continue
        credited = by_number[memo.credits_invoice]
        if credited.pay_date and credited.pay_date >= memo.issue_date and rng.random() < 0.7:
            memo.pay_date = credited.pay_date


def _fold_groups(
    groups: dict[tuple[str, date], list[Invoice]],
) -> list[tuple[str, date, list[Invoice]]]:
    return [
        (cid, day, invs)
        for (cid, day), invs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def _rebalance_multi(
    rng: random.Random, groups: list[list[Invoice]], target: float
) -> list[list[Invoice]]:
    """Merge or split payments until the share settling more than one invoice meets ``target``.

    Merging two single-invoice payments of one customer adds one multi-invoice payment and
    removes one payment; splitting a multi-invoice payment does the reverse. Each step is O(1),
    so a world with a million invoices rebalances in well under a second.
    """
    total = len(groups)
    multi = sum(len(g) > 1 for g in groups)

    def off_target() -> float:
        return multi - target * total

    removed: set[int] = set()
    if off_target() < -0.5:
        singles: dict[str, list[int]] = defaultdict(list)
        for i, g in enumerate(groups):
            if len(g) == 1:
                singles[g[0].customer_id].append(i)
        eligible = sorted(c for c, ids in singles.items() if len(ids) >= 2)
        while off_target() < -0.5 and eligible:
            slot = rng.randrange(len(eligible))
            ids = singles[eligible[slot]]
            a = ids.pop(rng.randrange(len(ids)))
            b = ids.pop(rng.randrange(len(ids)))
            keep, drop = min(a, b), max(a, b)
            groups[keep] = groups[keep] + groups[drop]
            removed.add(drop)
            multi += 1
            total -= 1
            if len(ids) < 2:
                eligible[slot] = eligible[-1]
                eligible.pop()
    elif off_target() > 0.5:
        multis = [
            i
            for i, g in enumerate(groups)
            if len(g) > 1 and all(inv.doc_type == "invoice" for inv in g)
        ]
        rng.shuffle(multis)
        while off_target() > 0.5 and multis:
            i = multis.pop()
            removed.add(i)
            groups.extend([inv] for inv in groups[i])
            multi -= 1
            total += len(groups[i]) - 1
    return [g for i, g in enumerate(groups) if i not in removed]


def _quota(
    rng: random.Random, candidates: list[Payment], share: float, total: int
) -> list[Payment]:
    wanted = min(len(candidates), round(share * total))
    return rng.sample(candidates, wanted)


def build_payments(
    seed: int,
    preset: Preset,
    customers: list[Customer],
    invoices: list[Invoice],
    cutoff: date,
    end: date,
) -> tuple[list[Payment], list[Payment]]:
    """History payments (before ``cutoff``) and window payments, with their true allocations."""
    rng = _stream(seed, "payments")
    by_id = {c.customer_id: c for c in customers}
    history_groups: dict[tuple[str, date], list[Invoice]] = defaultdict(list)
    window_groups: dict[tuple[str, date], list[Invoice]] = defaultdict(list)
    for inv in invoices:
        if inv.pay_date is None or inv.pay_date > end:
            continue
        c = by_id[inv.customer_id]
        natural = c.archetype in ("lump_sum", "month_end")
        key_day = inv.pay_date
        # Only batch payers combine invoices on their own; others pay one by one.
        # A credit memo travels with the invoice it credits.
        own = inv.credits_invoice or inv.invoice_number
        key = (inv.customer_id, key_day) if natural else (own, key_day)
        (history_groups if inv.pay_date < cutoff else window_groups)[key].append(inv)

    def as_payments(groups: list[list[Invoice]], prefix: str) -> list[Payment]:
        result = []
        for n, group in enumerate(
            sorted(groups, key=lambda g: (max(i.pay_date or end for i in g), g[0].invoice_number))
        ):
            c = by_id[group[0].customer_id]
            payer = c.parent_id if c.parent_id and rng.random() < 0.6 else c.customer_id
            result.append(
                Payment(
                    payment_id=f"{prefix}{n + 1:07d}",
                    customer_id=c.customer_id,
                    payer_id=payer,
                    pay_date=max(i.pay_date or end for i in group),
                    currency=c.currency,
                    invoices=[i.invoice_number for i in group],
                )
            )
        return result

    history = as_payments([g for _, _, g in _fold_groups(history_groups)], "H")
    window_lists = _rebalance_multi(
        rng, [g for _, _, g in _fold_groups(window_groups)], preset.multi_invoice
    )
    window = as_payments(window_lists, "P")
    inv_by_number = {i.invoice_number: i for i in invoices}
    for p in history:
        _settle(
            rng,
            p,
            inv_by_number,
            by_id,
            short=rng.random() < preset.short_pay,
            fee=rng.random() < preset.bank_fee,
            over=rng.random() < preset.overpayment,
        )
    for inv in invoices:
        inv.open_before_window = inv.open_minor
    known = {names.normalised(c.name) for c in customers}
    for p in history:
        _payer_identity(rng, p, by_id, rng.random() < preset.payer_name_differs, known)
        if rng.random() < preset.no_remittance:
            p.tags.add("no_remittance")
        else:
            p.reference_text = " ".join(
                _reference_for(rng, inv_by_number[n], rng.random() < preset.mistyped)[0]
                for n in p.invoices[:8]
            )
    _decorate_window(rng, preset, window, inv_by_number, by_id)
    return history, window


def _shortfall(
    p: Payment,
    allocations: list[TrueAllocation],
    invoices: dict[str, Invoice],
    amount: int,
    reason: str,
) -> bool:
    """Take ``amount`` off the cash of the last invoice that can bear it, written off to
    ``reason`` (a bank charge or an FX difference); False when no invoice can."""
    for i in range(len(allocations) - 1, -1, -1):
        last = allocations[i]
        if last.invoice_number and last.kind != "credit_memo" and last.applied_minor > amount:
            allocations[i] = TrueAllocation(
                p.payment_id,
                last.invoice_number,
                last.applied_minor - amount,
                last.adjustment_minor + amount,
                "write_off" if last.kind == "full" else last.kind,
                reason if last.kind == "full" else f"{last.reason};{reason}",
            )
            invoices[last.invoice_number].paid_minor -= amount
            invoices[last.invoice_number].adjusted_minor += amount
            return True
    return False


def _settle(
    rng: random.Random,
    p: Payment,
    invoices: dict[str, Invoice],
    customers: dict[str, Customer],
    *,
    short: bool,
    fee: bool,
    over: bool,
    fx: bool = False,
) -> None:
    """True allocations of ``p``: credit memos netted, discounts by terms, then a deduction, a
    bank fee, an FX difference or an overpayment."""
    allocations: list[TrueAllocation] = []
    payable = [k for k, n in enumerate(p.invoices) if invoices[n].doc_type == "invoice"]
    deduct_on = rng.choice(payable) if short and payable else -1
    for k, number in enumerate(p.invoices):
        inv = invoices[number]
        owed = inv.open_minor
        if inv.doc_type == "credit_memo":
            allocations.append(
                TrueAllocation(p.payment_id, number, owed, 0, "credit_memo", inv.credits_invoice)
            )
            inv.paid_minor += owed
            p.tags.add("credit_memo")
            continue
        if inv.partial_minor is not None and inv.partial_minor < owed:
            allocations.append(
                TrueAllocation(p.payment_id, number, inv.partial_minor, 0, "partial")
            )
            inv.paid_minor += inv.partial_minor
            continue
        if k == deduct_on:
            code, _ = rng.choice(DEDUCTION_REASONS)
            deduction = max(100, _percent(owed, rng.randint(200, 1500)))
            deduction = min(deduction, owed - 1)
            allocations.append(
                TrueAllocation(p.payment_id, number, owed - deduction, deduction, "short_pay", code)
            )
            inv.paid_minor += owed - deduction
            inv.adjusted_minor += deduction
            p.tags.add("short_pay")
            continue
        if inv.terms == "2/10 NET 30" and customers[inv.customer_id].archetype == "discount_taker":
            discount = _percent(owed, 200)
            earned = (p.pay_date - inv.issue_date).days <= 10
            allocations.append(
                TrueAllocation(
                    p.payment_id,
                    number,
                    owed - discount,
                    discount,
                    "discount",
                    "earned" if earned else "unearned",
                )
            )
            inv.paid_minor += owed - discount
            inv.adjusted_minor += discount
            p.tags.add("discount")
            continue
        allocations.append(TrueAllocation(p.payment_id, number, owed, 0, "full"))
        inv.paid_minor += owed
    sent = sum(a.applied_minor for a in allocations)
    received = sent
    if fee:
        charge = rng.choice((1000, 1500, 2000, 2500, 3500))
        if _shortfall(p, allocations, invoices, charge, "bank_fee"):
            received -= charge
            p.tags.add("bank_fee")
            p.channel = "wire"
    if fx:
        # Converted by the payer's bank at its own rate: 0.05% to 0.5% short.
        difference = max(1, _percent(received, rng.randint(5, 50)))
        if _shortfall(p, allocations, invoices, difference, "fx_difference"):
            received -= difference
            p.tags.add("fx_difference")
    if over:
        extra = max(100, _percent(sent, rng.randint(50, 500)))
        allocations.append(TrueAllocation(p.payment_id, "", extra, 0, "overpayment", "on_account"))
        received += extra
        p.tags.add("overpayment")
    p.allocations = allocations
    p.received_minor = received
    if len(p.invoices) > 1:
        p.tags.add("multi_invoice")


def _decorate_window(
    rng: random.Random,
    preset: Preset,
    window: list[Payment],
    invoices: dict[str, Invoice],
    customers: dict[str, Customer],
) -> None:
    """Give the window's payments their hard parts by exact quota, then their remittance."""
    total_with_dups = (
        round(len(window) / (1 - preset.duplicate)) if preset.duplicate < 1 else len(window)
    )
    duplicates_wanted = total_with_dups - len(window)
    total = len(window) + duplicates_wanted
    short = {p.payment_id for p in _quota(rng, window, preset.short_pay, total)}
    rest = [p for p in window if p.payment_id not in short]
    fee = {p.payment_id for p in _quota(rng, rest, preset.bank_fee, total)}
    rest = [p for p in rest if p.payment_id not in fee]
    over = {p.payment_id for p in _quota(rng, rest, preset.overpayment, total)}
    # Payers abroad convert at their bank's rate: some non-USD payments arrive a little short.
    foreign = [p for p in rest if p.payment_id not in over and p.currency != "USD"]
    fx = {p.payment_id for p in _quota(rng, foreign, 0.05, len(foreign))}
    for p in window:
        _settle(
            rng,
            p,
            invoices,
            customers,
            short=p.payment_id in short,
            fee=p.payment_id in fee,
            over=p.payment_id in over,
            fx=p.payment_id in fx,
        )
    # Channels: cheques through the lockbox for some USD payers; fees imply wires.
    for p in window:
        if p.channel == "wire":
            continue
        if p.currency != "USD":
            p.channel = rng.choices(("sepa", "wire"), (0.85, 0.15))[0]
        else:
            p.channel = rng.choices(("ach", "wire", "lockbox"), (0.66, 0.14, 0.20))[0]
        if p.channel == "lockbox":
            p.check_number = str(rng.randint(100000, 999999))
    # Duplicates: a second submission of an earlier payment, a few days later.
    originals = rng.sample(window, min(duplicates_wanted, len(window)))
    for n, original in enumerate(originals):
        copy = Payment(
            payment_id=f"P9{n + 1:06d}",
            customer_id=original.customer_id,
            payer_id=original.payer_id,
            pay_date=_business_day(original.pay_date + timedelta(days=rng.randint(0, 4))),
            currency=original.currency,
            invoices=list(original.invoices),
            received_minor=original.received_minor,
            channel=original.channel,
            duplicate_of=original.payment_id,
            check_number=original.check_number,
            tags={"duplicate"},
        )
        copy.allocations = [
            TrueAllocation(
                copy.payment_id,
                "",
                copy.received_minor,
                0,
                "on_account",
                f"duplicate of {original.payment_id}",
            )
        ]
        window.append(copy)
    _remittance(rng, preset, window, invoices, customers, total)


def _payer_identity(
    rng: random.Random, p: Payment, customers: dict[str, Customer], differs: bool, known: set[str]
) -> None:
    """The payer name and account the bank shows; ``known`` holds every customer name, folded."""
    payer = customers[p.payer_id]
    if differs:
        kind = rng.choice(("abbreviated", "truncated", "processor"))
        name = (
            rng.choice(names.PROCESSORS)
            if kind == "processor"
            else names.bank_variant(rng, payer.name, kind)
        )
        if names.normalised(name) in known:
            name = rng.choice(names.PROCESSORS)
        p.payer_name = name
    else:
        name = names.bank_variant(
            rng, payer.name, rng.choice(("exact", "upper", "punctuation", "upper"))
        )
        # Only case and punctuation may change here, so the folded names must still agree.
        p.payer_name = (
            name if names.normalised(name) == names.normalised(payer.name) else payer.name.upper()
        )
    p.payer_account = payer.bank_account


def _reference_for(rng: random.Random, inv: Invoice, mistyped: bool) -> tuple[str, str]:
    if mistyped:
        return noise.mistype(rng, inv.invoice_number)
    if inv.po_number and rng.random() < 0.08:
        return inv.po_number, "po_number"
    style = rng.random()
    if style < 0.15:
        return inv.invoice_number.removeprefix("INV-"), "no_prefix"
    return inv.invoice_number, "exact"


def _remittance(
    rng: random.Random,
    preset: Preset,
    window: list[Payment],
    invoices: dict[str, Invoice],
    customers: dict[str, Customer],
    total: int,
) -> None:
    electronic = [p for p in window if p.channel != "lockbox"]
    bare = {p.payment_id for p in _quota(rng, electronic, preset.no_remittance, len(electronic))}
    differs = {p.payment_id for p in _quota(rng, window, preset.payer_name_differs, total)}
    known = {names.normalised(c.name) for c in customers.values()}
    for p in window:
        _payer_identity(rng, p, customers, p.payment_id in differs, known)
        if p.payment_id in differs:
            p.tags.add("payer_name_differs")
        if p.payer_id != p.customer_id:
            p.tags.add("parent_pays")
    # Advice documents: every lockbox cheque has a scanned stub; some bare payments get one.
    for p in window:
        if p.channel == "lockbox":
            p.document_kind = rng.choices(("pdf_scan", "png"), (0.85, 0.15))[0]
        elif p.payment_id in bare and rng.random() < preset.separate_advice:
            p.document_kind = rng.choices(
                ("pdf_text", "pdf_scan", "png", "edi820", "csv", "email"),
                (0.3, 0.15, 0.05, 0.2, 0.1, 0.2),
            )[0]
    carriers = [p for p in window if p.payment_id not in bare or p.document_kind]
    mistyped = {p.payment_id for p in _quota(rng, carriers, preset.mistyped, total)}
    for p in window:
        if p.payment_id in bare:
            p.tags.add("no_remittance")
            c = customers[p.payer_id]
            p.reference_text = rng.choice(
                (
                    "",
                    "PAYMENT",
                    "INVOICE PAYMENT",
                    "ACH CREDIT",
                    f"CUST {c.customer_id}",
                    f"{c.name[:18].upper()} PAYMENT",
                    "AP PAYMENT RUN",
                )
            )
            continue
        is_mistyped = p.payment_id in mistyped
        refs = []
        for k, number in enumerate(p.invoices):
            ref, how = _reference_for(rng, invoices[number], is_mistyped and k == 0)
            refs.append(ref)
            if how in noise.MISTAKES:
                p.tags.add("mistyped")
        if p.channel == "lockbox":
            continue
        shown = refs[: rng.randint(3, 8)] if len(refs) > 8 else refs
        if p.currency != "USD" and rng.random() < 0.5:
            paid = {a.invoice_number: a for a in p.allocations}
            p.structured = tuple(
                RemittanceRef(
                    document_number=ref,
                    # A credit memo is named but carries no remitted amount (never negative).
                    amount_minor=paid[num].applied_minor
                    if num in paid and paid[num].applied_minor > 0
                    else None,
                    discount_minor=paid[num].adjustment_minor
                    if num in paid and paid[num].kind == "discount"
                    else None,
                    adjustment_minor=paid[num].adjustment_minor
                    if num in paid and paid[num].kind == "short_pay"
                    else None,
                    adjustment_reason=paid[num].reason
                    if num in paid and paid[num].kind == "short_pay"
                    else "",
                )
                for ref, num in zip(shown, p.invoices, strict=False)
            )
        lead = rng.choice(("", "INV ", "INVOICES ", "RE: ", "PMT "))
        p.reference_text = (lead + " ".join(shown)).strip()
    for p in window:
        if p.payment_id in mistyped and p.document_kind:
            p.tags.add("mistyped")


def make_documents(
    seed: int, window: list[Payment], invoices: dict[str, Invoice], customers: dict[str, Customer]
) -> list[RemittanceDocument]:
    """The advice documents of the window's payments that have one."""
    rng = _stream(seed, "documents")
    documents = []
    for p in window:
        if not p.document_kind:
            continue
        payer = customers[p.payer_id]
        mistyped = "mistyped" in p.tags
        lines = []
        for k, a in enumerate(a for a in p.allocations if a.invoice_number):
            inv = invoices[a.invoice_number]
            ref, _ = _reference_for(rng, inv, mistyped and k == 0)
            lines.append(
                AdviceLine(
                    reference=ref,
                    paid_minor=a.applied_minor
                    + (a.adjustment_minor if "bank_fee" in a.reason else 0),
                    invoice_date=inv.issue_date,
                    gross_minor=inv.amount_minor,
                    discount_minor=a.adjustment_minor if a.kind == "discount" else 0,
                    deduction_minor=a.adjustment_minor if a.kind == "short_pay" else 0,
                    reason=a.reason if a.kind == "short_pay" else "",
                )
            )
        if not lines:
            continue
        scan = p.document_kind in ("pdf_scan", "png")
        reference = p.check_number or f"{rng.randint(10**9, 10**10 - 1)}"
        documents.append(
            RemittanceDocument(
                document_id=f"RA{hashlib.sha256(f'{seed}/{p.payment_id}'.encode()).hexdigest()[:10].upper()}",
                payment_id=p.payment_id,
                kind=p.document_kind,
                payer_name=payer.name,
                payee_name=OUR_NAME,
                payment_reference=reference,
                payment_date=p.pay_date,
                currency=p.currency,
                total_minor=sum(line.paid_minor for line in lines),
                lines=tuple(lines),
                payer_number=p.payer_id if rng.random() < 0.4 else "",
                payment_method={"lockbox": "CHK", "wire": "FWT"}.get(p.channel, "ACH"),
                dpi=rng.choice((200, 300)) if scan else 300,
                rotation_deg=round(rng.uniform(-5, 5), 1) if scan and rng.random() < 0.5 else 0.0,
                noise=round(rng.uniform(0, 0.6), 2) if scan else 0.0,
                layout=rng.randrange(8),
            )
        )
    return documents


def achieved_mix(window: list[Payment], customers: list[Customer]) -> dict[str, float]:
    """The shares the preset targets, measured on the window's payments as generated."""
    total = max(len(window), 1)
    electronic = [p for p in window if p.channel != "lockbox"]
    known = {names.normalised(c.name) for c in customers}

    def share(tag: str, of: list[Payment]) -> float:
        return sum(tag in p.tags for p in of) / max(len(of), 1)

    return {
        "no_remittance": share("no_remittance", electronic),
        "multi_invoice": share("multi_invoice", window),
        "payer_name_differs": sum(names.normalised(p.payer_name) not in known for p in window)
        / total,
        "mistyped": share("mistyped", window),
        "short_pay": share("short_pay", window),
        "bank_fee": share("bank_fee", window),
        "overpayment": share("overpayment", window),
        "duplicate": share("duplicate", window),
        "separate_advice": sum(
            bool(p.document_kind) for p in electronic if "no_remittance" in p.tags
        )
        / max(sum("no_remittance" in p.tags for p in electronic), 1),
    }


def generate(
    seed: int,
    customers: int,
    months: int,
    preset: Preset,
    *,
    start: date = date(2025, 1, 1),
    window_days: int = 30,
    documents: bool = True,
) -> World:
    """Build a whole world in memory; :mod:`simulator.output` writes it to files."""
    if customers < 1 or months < 1:
        raise ValueError("a world needs at least one customer and one month")
    end = _add_months(start, months)
    cutoff = end - timedelta(days=min(window_days, (end - start).days - 1))
    people = make_customers(seed, customers, start, end)
    invoices = make_invoices(seed, people, start, end)
    schedule_payments(seed, people, invoices, start, end)
    history, window = build_payments(seed, preset, people, invoices, cutoff, end)
    by_number = {i.invoice_number: i for i in invoices}
    by_id = {c.customer_id: c for c in people}
    docs = make_documents(seed, window, by_number, by_id) if documents else []
    if not documents:
        for p in window:
            p.document_kind = ""
    mix, targets = achieved_mix(window, people), preset.shares()
    if not documents:  # without documents there are no separate advices to count
        mix.pop("separate_advice")
        targets.pop("separate_advice")
    return World(
        seed=seed,
        preset=preset,
        start=start,
        end=end,
        cutoff=cutoff,
        customers=people,
        invoices=invoices,
        history=history,
        window=window,
        documents=docs,
        mix=mix,
        targets=targets,
    )


def ground_truth_problems(world: World) -> list[str]:
    """Every way the ground truth contradicts itself; an empty list means it is consistent.

    Each window payment's allocations add up to the amount received; no invoice is applied
    beyond its amount over history and window together, nor beyond what the ERP shows open
    when the window's cash arrives; a duplicate only ever goes on account.
    """
    problems = []
    invoices = {i.invoice_number: i for i in world.invoices}
    settled: dict[str, int] = defaultdict(int)
    in_window: dict[str, int] = defaultdict(int)
    for p in world.history:
        for a in p.allocations:
            if a.invoice_number:
                settled[a.invoice_number] += a.applied_minor + a.adjustment_minor
    for p in world.window:
        applied = sum(a.applied_minor for a in p.allocations)
        if applied != p.received_minor:
            problems.append(f"{p.payment_id}: allocations {applied} != received {p.received_minor}")
        if p.duplicate_of and any(a.invoice_number for a in p.allocations):
            problems.append(f"{p.payment_id}: a duplicate payment is applied to an invoice")
        for a in p.allocations:
            if (a.applied_minor < 0 and a.kind != "credit_memo") or a.adjustment_minor < 0:
                problems.append(f"{p.payment_id}: negative allocation to {a.invoice_number!r}")
            if a.invoice_number:
                settled[a.invoice_number] += a.applied_minor + a.adjustment_minor
                in_window[a.invoice_number] += a.applied_minor + a.adjustment_minor
    for number, amount in settled.items():
        if abs(amount) > abs(invoices[number].amount_minor):
            problems.append(
                f"{number}: settled {amount} > invoice amount {invoices[number].amount_minor}"
            )
    for number, amount in in_window.items():
        if abs(amount) > abs(invoices[number].open_before_window or 0):
            problems.append(
                f"{number}: window settles {amount} > open {invoices[number].open_before_window}"
            )
    return problems

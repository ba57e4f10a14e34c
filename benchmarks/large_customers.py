"""Lump sums from a customer with thousands of open items: does the engine find the set, and does
it know when it cannot?

Each case is one customer with 2,000 open invoices (issued over two years, amounts log-normal
around 800.00) and one payment with no remittance that pays 60 of them, in one of four shapes:

- a run of 60 consecutive invoices in due-date order, paid to the cent;
- the same less a 15.00 charge the bank kept;
- a run of 62 with two invoices inside it held back (disputed, say);
- 60 invoices picked at random: no shape a payer makes, so nothing should be applied.

Beside the engine, greedy oldest-first on the same customer: its oldest open items until the
money runs out. Each case is a new engine on a new book; times are for the decision alone.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

from benchmarks.common import machine
from benchmarks.matching import PRETRAINED
from matching.engine import Engine
from matching.model import IncomingPayment, OpenInvoice
from matching.payers import PayerIndex
from matching.scoring import LightGBMScorer
from matching.settings import MatchSettings

OPEN_ITEMS = 2_000
PAID = 60
CASES = 20
SHAPES = (
    ("run", "run of 60, to the cent"),
    ("run_less_charge", "run of 60 less a 15.00 bank charge"),
    ("run_two_held_back", "run of 62, two held back"),
    ("scattered", "60 scattered items"),
)
CUSTOMER = ("C1", "Acme Holdings Inc", None)


@dataclass(frozen=True, slots=True)
class Case:
    invoices: list[OpenInvoice]
    payment: IncomingPayment
    truth: frozenset[str]


def open_invoices(rng: random.Random, n: int, first_issue: date, days: int) -> list[OpenInvoice]:
    """One customer's ``n`` open invoices, issued evenly over ``days`` from ``first_issue``
    (oldest first), NET30, amounts log-normal around 800.00."""
    invoices = []
    for k in range(n):
        issued = first_issue + timedelta(days=k * days // n)
        amount = max(50_00, int(800_00 * math.exp(rng.gauss(0, 0.8))))
        due = issued + timedelta(days=30)
        invoices.append(
            OpenInvoice(f"INV-{k + 1:06d}", CUSTOMER[0], "invoice", issued, due, "USD", amount, amount, "NET30")
        )  # fmt: skip
    return invoices


def make_case(shape: str, k: int) -> Case:
    rng = random.Random(f"{shape}/{k}")
    invoices = open_invoices(rng, OPEN_ITEMS, date(2024, 1, 1), 730)
    first = rng.randrange(0, OPEN_ITEMS - PAID - 2)
    if shape == "scattered":
        chosen = rng.sample(range(OPEN_ITEMS), PAID)
    elif shape == "run_two_held_back":
        window = list(range(first, first + PAID + 2))
        held = set(rng.sample(window[1:-1], 2))
        chosen = [p for p in window if p not in held]
    else:
        chosen = list(range(first, first + PAID))
    charge = 15_00 if shape == "run_less_charge" else 0
    paid = [invoices[p] for p in chosen]
    payment = IncomingPayment(
        f"PAY-{shape}-{k}",
        "USD",
        sum(i.open_minor for i in paid) - charge,
        max(i.due_date for i in paid) + timedelta(days=3),
        "acct",
        CUSTOMER[1].upper(),
        remittance_text="PAYMENT",
    )
    return Case(invoices, payment, frozenset(i.invoice_number for i in paid))


def greedy_oldest_first(case: Case) -> bool:
    """Right when the oldest open items the money covers are exactly the ones paid."""
    left, taken = case.payment.amount_minor, set()
    for invoice in sorted(case.invoices, key=lambda i: (i.due_date, i.invoice_number)):
        if invoice.issue_date > case.payment.value_date or invoice.open_minor > left:
            break
        left -= invoice.open_minor
        taken.add(invoice.invoice_number)
    return left == 0 and taken == case.truth


def outcome(case: Case, scorer: LightGBMScorer) -> tuple[str, float]:
    engine = Engine(case.invoices, PayerIndex([CUSTOMER]), scorer, MatchSettings())
    started = time.perf_counter()
    decision = engine.run([case.payment])[0]
    seconds = time.perf_counter() - started
    if decision.applied is not None:
        right = set(decision.applied.invoices) == case.truth and not any(
            a.invoice_number == "" for a in decision.applied.allocations
        )
        return ("right" if right else "wrong"), seconds
    suggested = any(set(p.invoices) == case.truth for p, _ in decision.ranked)
    return ("suggested" if suggested else "exception"), seconds


def run() -> str:
    scorer = LightGBMScorer.load(PRETRAINED)
    rows = []
    for shape, label in SHAPES:
        cases = [make_case(shape, k) for k in range(CASES)]
        results = [outcome(case, scorer) for case in cases]
        counts = Counter(kind for kind, _ in results)
        times = sorted(seconds for _, seconds in results)
        greedy = sum(greedy_oldest_first(case) for case in cases)
        rows.append(
            f"| {label} | {counts['right']} | {counts['wrong']} | {counts['suggested']} "
            f"| {counts['exception']} | {median(times) * 1000:.0f} | {times[-1] * 1000:.0f} "
            f"| {greedy} |"
        )
    return "\n".join(
        [
            "## Cash application: a customer with thousands of open items (issue 6)",
            "",
            f"Machine: {machine()}. Command: `make bench` "
            "(or `python -m benchmarks.run large-customers`).",
            "",
            f"{CASES} cases of each shape: one customer with {OPEN_ITEMS:,} open invoices and a "
            f"payment with no remittance for {PAID} of them (see `benchmarks/large_customers.py`); "
            "shipped scorer, new ledger. Applied right / wrong: applied with no human touch, "
            "every invoice as paid (nothing on account); suggested: an exception whose "
            "suggestions hold the set paid; exception: one whose suggestions do not. Times "
            "are for the decision alone: median and slowest of the cases.",
            "",
            "| payment | applied right | applied wrong | exception, set suggested "
            "| exception, not suggested | median ms | slowest ms "
            "| baseline: greedy oldest-first, right |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )

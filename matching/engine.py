"""The cash-application engine: for each payment, who paid, what it pays, how it splits, and
whether that is sure enough to apply without a human.

The engine is pure: it takes open items, customers and payments as records and returns a
``Decision`` per payment; ``matching.store`` reads and writes the ledger. Payments are taken in
value-date order and every application reduces the open amounts the next payment sees, so two
payments never settle the same invoice twice within a run.

For each payment:

1. its advices: the bank record's own, and separate documents linked by reference or amount;
2. payer candidates (``matching.payers``) and the invoices its references name
   (``matching.references``);
3. proposals: the advice's lines, the named invoices, or a subset of the payer's open items
   whose sum is the amount (``matching.subset``), each settled against the amount with
   discounts by terms, deductions, bank charges, FX differences and overpayments;
4. a probability per proposal from the scorer, and a decision against its threshold.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np

from ledger.currencies import exponent
from ledger.money import from_decimal
from ledger.records import ApplicationKind, ApplicationMethod, ExceptionReason
from matching import references as refs
from matching.model import (
    Advice,
    AdviceLine,
    Allocation,
    Decision,
    DiscountTerms,
    IncomingPayment,
    OpenInvoice,
    Proposal,
    Settled,
)
from matching.names import compact
from matching.payers import PayerCandidate, PayerIndex
from matching.settings import MatchSettings
from matching.subset import (
    MAX_GAPPED_ITEMS,
    MITM_MAX_ITEMS,
    TAIL_GAPS,
    WIDE_TAIL_GAPS,
    GappedRun,
    OpenAmount,
    SubsetSearch,
    find_subsets,
    gapped_runs,
)

MAX_SUGGESTIONS = 5
SUGGESTION_ONLY = "suggestion_only"
"""Evidence key of a proposal made only for the analyst, never to be applied (nor learnt from:
the scorer is trained on proposals it may apply)."""
MAX_CHARGE_SHARE = 3  # a bank's charge is at most a third of what the payment settles
IDENTIFIED = 0.98  # a payer candidate's score from which it is known, not guessed
IDENTIFYING_SOURCES = frozenset({"bank_account", "customer_number", "name", "alias"})
CHANCE_FITS = "sets_of_its_size_fitting_by_chance"
"""Evidence of a scattered set found by amount before the search had seen every set: how many
sets of as many of the payer's items fit an amount like the payment's on average."""
CHANCE_FITS_MAX = 1.0
"""A scattered set that as many others of its size are expected to fit by chance is no
evidence: never applied."""
RIVAL_FLOOR = 0.1
"""The best proposal is weighed against its rivals once one of them has this chance. The
shipped threshold was chosen on each payment's best proposal alone: rivals of the scorer's
lowest steps alone would only turn away a best proposal sitting on the threshold."""
AGAIN = "decided_again_at_the_end_of_the_run"
"""Evidence of a payment left to an analyst, then decided again on the open items as the run
left them (see :meth:`Engine._decide_again`)."""
SOURCES = ("bank_account", "customer_number", "name", "alias", "truncated_name", "fuzzy_name", "reference")  # fmt: skip
STRATEGIES = ("advice", "references", "subset", "amount")
TEACHING_STRATEGIES = ("advice", "references")
"""Applications that teach the payer's bank account: the payer named its invoices itself."""
TOLERANCES = ("exact", "discount", "charge", "discount_charge", "overpayment", "short_pay")
WRITE_OFF_REASONS = ("bank_fee", "fx_difference", "small_difference", "unspecified")
OLDEST_RUN_MAX = 30
"""Most oldest invoices of a customer whose sum is kept for payments nobody can name."""
OLDEST_RUN_MEMOS = 3
"""A customer's oldest invoices are also summed less each of its open credit memos when it has
at most this many: with more, sums that add up to a payment by chance become likely."""
HELD_BACK = "oldest_invoices_one_held_back"
OLDEST_HELD_BACK_MAX = 20
"""Most oldest invoices of a customer summed with one of them held back (a disputed invoice the
payer leaves out of its run): about k²/2 sums for the k oldest, so fewer invoices than the runs'
:data:`OLDEST_RUN_MAX`."""

RUN_ANCHOR_DAYS = 45
"""A run found by amount alone among many items is applied when its last invoice fell due at
most this many days before the payment (see :meth:`Engine._unanchored_run`)..."""
RUN_ANCHOR_OLDER_ITEMS = 3
"""... or when at most this many of the payer's invoices older than the run are left open."""
DUE_WINDOW_DAYS = 7
"""A payment run settles what falls due within about a week of it."""
DUE_POOL_MAX = 20
"""At most this many items due by then are searched for the one set that makes up a payment or
completes a list, and a list is completed by the only set of several of the payer's other items
that fits only when it has at most this many: with more, sets that add up to the cent by chance
become likely."""
MAX_OLDER_MEMOS = 6
"""A cut-off list is completed with at most this many of the payer's older credit memos tried."""
MAX_MISREAD_LINES = 3
"""At most this many of an advice's lines are read again as misread to make up its payment."""
MAX_MENDABLE_LINES = 12
"""Only the first this many lines that could have been misread are tried."""
TOLD_TOO_LITTLE = frozenset(
    (ExceptionReason.LOW_CONFIDENCE, ExceptionReason.NO_CANDIDATE, ExceptionReason.UNKNOWN_PAYER)
)
"""Why the first copy of a payment sent twice may wait for an analyst when the second, naming
what it pays, would be applied: it said too little (not: it was in doubt between proposals)."""
ADVICE_PAYER_DAYS = 3
"""An advice whose total the money does not match is linked by its payer only to a payment
dated at most this many days from the date it says it was paid."""
DISCOUNT_GRACE_DAYS = 5
"""A payment sent on the discount period's last day reaches the bank a few days later: a payer
nobody can name is taken to pay net of a discount up to this many days after the period."""


class Scorer(Protocol):
    """Turns proposal features into probabilities of being right."""

    name: str
    version: str
    threshold: float
    method: ApplicationMethod

    def predict(self, rows: Sequence[dict[str, float]]) -> list[float]: ...


@dataclass(slots=True)
class _Listed:
    """An invoice a payment names, with the advice line that names it (if any)."""

    invoice: OpenInvoice
    line: AdviceLine | None
    quality: refs.Quality
    by_amount: bool = False
    """Named by a reference that matches nothing, found by its line's amount instead."""


@dataclass(frozen=True, slots=True)
class _More:
    """Items found to complete a lump sum, with the features and evidence of how."""

    keys: tuple[str, ...]
    features: dict[str, float]
    evidence: dict[str, Any]
    charge: int = 0
    """What the bank kept of the payment: the items add up to the rest plus this."""


@dataclass(slots=True)
class _Context:
    """What is known about one payment while its proposals are built."""

    payment: IncomingPayment
    advices: list[Advice]
    payers: dict[str, PayerCandidate]
    listed: list[_Listed] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    ambiguous: int = 0
    named: set[str] = field(default_factory=set)
    looked_at: set[str] = field(default_factory=set)
    everywhere: bool = False
    """Whether the proposals looked at every customer's open items (nobody known paid)."""
    refitted: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)
    customer_numbers: set[str] = field(default_factory=set)
    """The payer's own customer numbers as written (keys), which are no invoice references."""
    paid_named: list[tuple[str, str]] = field(default_factory=list)
    """Invoices the payment names exactly that are paid already (number, customer)."""
    held_back: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    """A customer's oldest invoices but one that add up to a payment nobody can name, with the
    one held back: only suggested (see :meth:`Engine._only_suggested`)."""


class Engine:
    """Applies payments to open items; see the module docstring for the steps."""

    def __init__(
        self,
        invoices: Iterable[OpenInvoice],
        payers: PayerIndex,
        scorer: Scorer,
        settings: MatchSettings | None = None,
        recent: Iterable[Settled] = (),
        paid: Iterable[tuple[str, str]] = (),
        used_memos: Iterable[str] = (),
    ) -> None:
        """``recent``: payments already applied, so a second copy of one is caught; ``paid``:
        invoices already settled and credit memos used up (number, customer), so a payment
        naming one is caught too; ``used_memos``: which of those are credit memos."""
        self.settings = settings or MatchSettings()
        self.payers = payers
        self.scorer = scorer
        self.invoices: dict[str, OpenInvoice] = {}
        self.open: dict[str, int] = {}
        self.by_customer: dict[str, list[str]] = defaultdict(list)
        # Each customer's issue dates, in the order of its numbers in by_customer.
        self._issued_on: dict[str, list[date]] = defaultdict(list)
        self.by_amount: dict[int, list[str]] = defaultdict(list)
        for invoice in sorted(invoices, key=lambda i: (i.due_date, i.invoice_number)):
            if invoice.open_minor == 0:
                continue
            self.invoices[invoice.invoice_number] = invoice
            self.open[invoice.invoice_number] = invoice.open_minor
            self.by_customer[invoice.customer_id].append(invoice.invoice_number)
            self._issued_on[invoice.customer_id].append(invoice.issue_date)
            self.by_amount[invoice.open_minor].append(invoice.invoice_number)
        self.references = refs.ReferenceIndex(
            (i.invoice_number, i.po_number) for i in self.invoices.values()
        )
        self.credits_for = _credits_by_invoice(self.invoices.values())
        self.memo_of = {memo: n for n, memos in self.credits_for.items() for memo in memos}
        self.home_currency = _home_currency(self.invoices.values())
        self._pair_sums: _PairSums | None = None
        self._oldest_sums: _OldestSums | None = None
        self._by_discounted: dict[int, list[str]] | None = None
        self._number_shapes: set[tuple[str, int]] | None = None
        self._number_keys: set[str] = set()
        self._seen: dict[tuple[str, int, str], list[IncomingPayment]] = defaultdict(list)
        self._settled: dict[tuple[str, int], list[Settled]] = defaultdict(list)
        self._applications = 0  # payments applied so far
        # Payments an advice was linked to by payer, date and an amount only near its total.
        self._loosely_advised: set[str] = set()
        # (kind, reason) of the settlements left open on the invoice rather than deducted
        self._left_open = frozenset(
            key
            for key, leave in (
                ((ApplicationKind.SHORT_PAY, "unspecified"), self.settings.unspecified_short_pay),
                ((ApplicationKind.DISCOUNT, "unearned"), self.settings.unearned_discount),
            )
            if leave == "leave_open"
        )
        self._last_applied: dict[str, int] = {}  # customer -> the application that last took items
        self._learnt_at: dict[str, int] = {}  # bank account -> the application that taught it
        self._paid = {refs.key(number): (number, customer) for number, customer in paid}
        self._used_memos = frozenset(used_memos)  # of the paid: credit memos used up
        for settled in recent:
            self._remember(settled.payment)
            self._settled[(settled.payment.currency, settled.payment.amount_minor)].append(settled)

    # -- the run ---------------------------------------------------------------------------

    def run(
        self,
        payments: Sequence[IncomingPayment],
        advices: Sequence[Advice] = (),
        batch: int = 256,
        last: Collection[str] = (),
    ) -> list[Decision]:
        """Decide every payment, oldest first (a day's payments in the order given); applied
        ones reduce the open amounts. The payments ``last`` names (ones an analyst's queue held
        already) come after all the others, oldest first among them: a payment new to the
        ledger that names an invoice is not to lose it to one that waited for want of a payer.

        Proposals are built and scored ``batch`` payments at a time (one scorer call per batch),
        then decided in order. A payment whose customers an earlier payment of the same batch
        touched (any customer, for a payment nobody known paid), whose duplicate check changed,
        or whose bank account an earlier payment of the batch taught (see :meth:`_learn`), is
        rebuilt alone on the new open amounts, so the result is the one of deciding the
        payments one by one.

        Exact matches come first: a payment that would settle an invoice only with a tolerance
        (a write-off, a deduction, an overpayment) while a payment still to come is exactly
        that invoice's open amount waits until every other payment is decided, and is then
        decided again on what is left. So does a payment that would settle an invoice it does
        not name while a payment still to come names that invoice by its number. Last, the
        payments left to an analyst are decided again (see :meth:`_decide_again`).
        """
        # Stable: within a day, payments keep the order given (the bank's, from load_payments),
        # so of two copies of one payment the first reported is the one applied.
        ordered = sorted(payments, key=lambda p: (p.payment_id in last, p.value_date))
        advices, assumed = self._in_their_invoices_currency(advices)
        linked, link_evidence = link_advices(ordered, advices, self.settings)
        self._unlink_other_payers(ordered, linked, link_evidence)
        self._link_by_payer(ordered, advices, linked, link_evidence)
        self._loosely_advised = {
            payment_id
            for payment_id, evidence in link_evidence.items()
            if str(evidence.get("by", "")).endswith("amount near")
        }
        for evidence in link_evidence.values():
            if currencies := assumed.get(evidence["advice"]):
                evidence["currency_assumed"], evidence["currency_of_its_invoices"] = currencies
        to_come = Counter((p.currency, p.amount_minor) for p in ordered)
        # What each payment names by number, and invoice -> (currency, amount) of each payment
        # still to come that names it.
        names: dict[str, set[str]] = {}
        named_to_come: defaultdict[str, Counter[tuple[str, int]]] = defaultdict(Counter)
        for p in ordered:
            if numbers := self._names_exactly(p, linked.get(p.payment_id, [])):
                names[p.payment_id] = numbers
                for number in numbers:
                    named_to_come[number][(p.currency, p.amount_minor)] += 1
        decisions: dict[str, Decision] = {}
        waiting: list[IncomingPayment] = []
        # payments left to an analyst -> the customers they looked at, and how many payments
        # had been applied when they were decided
        left: dict[str, tuple[set[str], int]] = {}
        for start in range(0, len(ordered), batch):
            chunk = ordered[start : start + batch]
            prepared = [self._prepare(p, linked.get(p.payment_id, [])) for p in chunk]
            rows = [row for _, _, _, batch_rows in prepared for row in batch_rows]
            probabilities = iter(self.scorer.predict(rows) if rows else [])
            scored = [[next(probabilities) for _ in batch_rows] for *_, batch_rows in prepared]
            touched: set[str] = set()
            learnt: set[str] = set()  # bank accounts an earlier payment of the batch taught
            for payment, (context, proposals, duplicate, batch_rows), chances in zip(
                chunk, prepared, scored, strict=True
            ):
                to_come[(payment.currency, payment.amount_minor)] -= 1
                for number in names.get(payment.payment_id, ()):
                    named_to_come[number][(payment.currency, payment.amount_minor)] -= 1
                now_duplicate = self._duplicate_of(context)
                if (
                    (now_duplicate is not None) != duplicate
                    or touched & self._families(context)
                    or (touched and context.everywhere)
                    or (learnt and self.payers.account_key(payment.payer_account) in learnt)
                ):
                    context, ranked, now_duplicate = self._ranking(
                        payment, linked.get(payment.payment_id, [])
                    )
                else:
                    ranked = self._ranked(proposals, batch_rows, chances)
                verdict = self._verdict(context, ranked, now_duplicate)
                if verdict.applied is not None and (
                    self._claims_an_exact_twin(verdict.applied, payment.currency, to_come)
                    or self._claims_what_another_names(verdict.applied, context, named_to_come)
                ):
                    waiting.append(payment)
                    continue
                if now_duplicate is not None:
                    first = self._as_its_copy_names(
                        context, ranked, decisions.get(now_duplicate.payment_id), to_come
                    )
                    if first is not None and first.applied is not None:
                        self._take(now_duplicate, first)
                        decisions[first.payment_id] = first
                        touched |= self.payers.family(first.applied.customer_id)
                decision = self._finish(payment, verdict)
                if decision.applied is not None:
                    touched |= self.payers.family(decision.applied.customer_id)
                if account := self._learn(payment, decision):
                    learnt.add(account)
                decisions[payment.payment_id] = decision
                if decision.applied is None and now_duplicate is None:
                    left[payment.payment_id] = (self._families(context), self._applications)
        for payment in waiting:
            decisions[payment.payment_id] = self.decide(payment, linked.get(payment.payment_id, []))
        self._decide_again(ordered, linked, decisions, left)
        for payment_id, evidence in link_evidence.items():
            if payment_id in decisions:
                decisions[payment_id].evidence["advice_link"] = evidence
        return [decisions[p.payment_id] for p in ordered]

    def _in_their_invoices_currency(
        self, advices: Sequence[Advice]
    ) -> tuple[list[Advice], dict[str, tuple[str, str]]]:
        """``advices``, each one whose document named no currency (a spreadsheet of lines:
        extraction assumed one) in the currency of the open items its lines name by number,
        when they are all in one: it lists those invoices, so the links by amount and by payer
        look for its payment in their currency, not in the assumed one. And for each advice so
        changed, the currency assumed and the one taken."""
        read: list[Advice] = []
        assumed: dict[str, tuple[str, str]] = {}
        for advice in advices:
            currencies = (
                set()
                if advice.currency_stated or advice.payment_id
                else {self.invoices[n].currency for n in self._numbered_in(advice)}
            )
            if len(currencies) == 1 and advice.currency not in currencies:
                taken = currencies.pop()
                assumed[advice.advice_id] = (advice.currency or "", taken)
                advice = replace(advice, currency=taken)
            read.append(advice)
        return read, assumed

    def _link_by_payer(
        self,
        payments: Sequence[IncomingPayment],
        advices: Sequence[Advice],
        linked: dict[str, list[Advice]],
        how: dict[str, dict[str, str]],
    ) -> None:
        """Advices :func:`link_advices` left unlinked because the money is not their total (the
        bank kept a charge, the payer sent more than the advice says) or because several
        payments are: each goes with the one payment from its payer (see
        :meth:`_advice_family`) in its currency, dated within :data:`ADVICE_PAYER_DAYS` of the
        day it says it paid (any day of the run when it says none), with no advice yet, that
        pays what it says (see :meth:`_pays_as_advised`). A payment nobody can name (a payment
        platform's) that is its total, or its total less what a bank keeps, fits as well: it
        is the advice's payment when the payer has no payment of its own around that day. An
        advice that fits several payments, or a payment several advices fit, stays
        unlinked."""
        taken = {a.advice_id for found in linked.values() for a in found}
        loose = [a for a in advices if a.advice_id not in taken and not a.payment_id]
        if not loose:
            return
        theirs_by: dict[str, list[IncomingPayment]] = defaultdict(list)  # customer -> payments
        nobodys: dict[str, list[IncomingPayment]] = defaultdict(list)  # currency -> payments
        payers: dict[str, frozenset[str]] = {}
        for payment in payments:
            payers[payment.payment_id] = self._bank_payers(payment)
            for customer_id in payers[payment.payment_id]:
                theirs_by[customer_id].append(payment)
            if not payers[payment.payment_id]:
                nobodys[payment.currency].append(payment)
        for unnamed in nobodys.values():
            unnamed.sort(key=lambda p: p.amount_minor)
        unnamed_amounts = {c: [p.amount_minor for p in ps] for c, ps in nobodys.items()}
        fits: dict[str, list[IncomingPayment]] = {}
        unheard: set[str] = set()  # advices with no payment of their payer's around at all
        for advice in loose:
            family = self._advice_family(advice)
            total = _declared_total(advice)
            if not family or advice.currency is None or total is None:
                continue
            mine = {p.payment_id: p for c in sorted(family) for p in theirs_by.get(c, ())}
            theirs = [p for p in mine.values() if _around(p, advice)]
            near = sum(self._near(p, total) for p in theirs)
            fits[advice.advice_id] = [
                p
                for p in theirs
                if p.payment_id not in linked and self._pays_as_advised(p, total, near)
            ]
            if not any(_in_days(p, advice) for p in mine.values()):
                unheard.add(advice.advice_id)
            # A payment nobody can name (a payment platform's) that is the total, or the total
            # less a charge, may be the payer's as well.
            unnamed = nobodys.get(advice.currency, [])
            amounts = unnamed_amounts.get(advice.currency, [])
            lowest = total - max(
                self._minor(advice.currency, self.settings.bank_fee_limit),
                self._minor(advice.currency, self.settings.small_difference_limit),
                total * self.settings.fx_tolerance_bp // 10_000,
            )
            fits[advice.advice_id] += [
                p
                for p in unnamed[
                    bisect.bisect_left(amounts, lowest) : bisect.bisect_right(amounts, total)
                ]
                if _around(p, advice) and self._pays_as_advised(p, total, 0)
            ]
        chosen = Counter(ps[0].payment_id for ps in fits.values() if len(ps) == 1)
        for advice in loose:
            found = fits.get(advice.advice_id, [])
            if len(found) != 1 or chosen[found[0].payment_id] != 1:
                continue
            payment_id = found[0].payment_id
            by = "payer, date and amount near"
            if not payers[payment_id]:
                if (
                    advice.advice_id not in unheard
                    or payment_id in linked
                    or not self._platform_paid(found[0], advice)
                ):
                    continue
                by = "date and amount near, the bank naming no payer"
            linked.setdefault(payment_id, []).append(advice)
            how[payment_id] = {"advice": advice.advice_id, "by": by}

    def _platform_paid(self, payment: IncomingPayment, advice: Advice) -> bool:
        """Whether ``payment``, which names no payer, may be the money of ``advice`` sent
        through a payment platform, the payer's advice sent apart (when no payment of the
        payer's own is around): it names no open invoice the advice does not list, and it is
        the advice's total, or the total less a charge the bank kept (a difference in cents
        fits a stranger's payment by chance)."""
        short = (_declared_total(advice) or 0) - payment.amount_minor
        return not self._names_exactly(payment, []) - self._numbered_in(advice) and (
            short == 0 or short in self._kept_charges(payment.currency)
        )

    def _pays_as_advised(self, payment: IncomingPayment, total: int, near: int) -> bool:
        """Whether ``payment`` is an advice's ``total`` less what a bank keeps or a conversion
        loses (see :meth:`_written_off_as`), or more by at most the overpayment limit when it
        is the only one of the payer's payments around the advice's date ``near`` the total
        (see :meth:`_near`): beside another, a payment over the total is as likely to be one
        the payer advised separately."""
        short = total - payment.amount_minor
        if short >= 0:
            return short == 0 or bool(self._written_off_as(payment, short))
        return near == 1 and self._near(payment, total)

    def _near(self, payment: IncomingPayment, total: int) -> bool:
        """Whether ``payment`` is within the overpayment limit of an advice's ``total``, either
        way."""
        limit = payment.amount_minor * self.settings.overpayment_percent // 100
        return abs(total - payment.amount_minor) <= limit

    def _advice_family(self, advice: Advice) -> frozenset[str]:
        """The customers an advice's payer may pay for: its customer number, else its name when
        that names one family only (a near-certain reading: an exact, learnt or cut name), else
        (no letterhead: a spreadsheet of lines) the one family whose open invoices its lines
        name by number."""
        named = self.payers.by_number(advice.payer_number) if advice.payer_number else []
        if not named:
            named = [c for c in self.payers.by_name(advice.payer_name) if c.score >= 0.95]
        if named or advice.payer_name.strip():
            owners = {c.customer_id for c in named}
        else:
            owners = {self.invoices[n].customer_id for n in self._numbered_in(advice)}
        families = {self.payers.family(c) for c in owners}
        return families.pop() if len(families) == 1 else frozenset()

    def _known_families(self, name: str, account: str = "") -> set[str]:
        """The customer families a payer name (or bank account) stands for with certainty."""
        found: set[str] = set()
        for candidate in [*self.payers.by_account(account), *self.payers.by_name(name)]:
            if candidate.score >= IDENTIFIED:
                found |= self.payers.family(candidate.customer_id)
        return found

    def _unlink_other_payers(
        self,
        payments: Sequence[IncomingPayment],
        linked: dict[str, list[Advice]],
        how: dict[str, dict[str, str]],
    ) -> None:
        """An advice linked to a payment by its amount alone is unlinked again when its payer
        (or, with no payer on it, the owners of the invoices it lists) and the payment's are
        both known for certain and are no family of each other: Cobalt's advice for 777.00 does
        not describe Acme's payment of 777.00."""
        by_id = {p.payment_id: p for p in payments}
        for payment_id, link in list(how.items()):
            if not link["by"].startswith("amount"):
                continue
            payment = by_id[payment_id]
            advice = next(a for a in linked[payment_id] if a.advice_id == link["advice"])
            theirs = self._known_families(advice.payer_name) or {
                member
                for number in self._numbered_in(advice)
                for member in self.payers.family(self.invoices[number].customer_id)
            }
            ours = self._known_families(payment.payer_name, payment.payer_account)
            if theirs and ours and not theirs & ours:
                linked[payment_id].remove(advice)
                if not linked[payment_id]:
                    del linked[payment_id]
                del how[payment_id]

    def _numbered_in(self, advice: Advice) -> set[str]:
        """The open items an advice's lines name by their number as written, or but for a
        dropped prefix or leading zeros."""
        return {
            hit.invoice_number
            for line in advice.lines
            for hit in self.references.lookup(line.reference)
            if hit.quality in (refs.Quality.EXACT, refs.Quality.CORE)
        }

    def _named_by_bank(
        self, payment: IncomingPayment, *numbers: str
    ) -> tuple[list[PayerCandidate], list[PayerCandidate]]:
        """The payers the bank record names: by its bank account, a customer number in its
        text (or among ``numbers``, an advice's), its payer name, else a name in its free text;
        and those of them found by customer number."""
        by_number = self.payers.by_number(payment.remittance_text, *numbers)
        found = [
            *self.payers.by_account(payment.payer_account),
            *by_number,
            *self.payers.by_name(payment.payer_name),
        ]
        return found or self.payers.in_text(payment.remittance_text), by_number

    def _bank_payers(self, payment: IncomingPayment) -> frozenset[str]:
        """The customers the bank record itself names as payer, best reading only (see
        :meth:`_named_by_bank`)."""
        found, _ = self._named_by_bank(payment)
        best = max((c.score for c in found), default=0.0)
        return frozenset(c.customer_id for c in found if c.score >= best and best >= 0.95)

    def _claims_an_exact_twin(
        self, proposal: Proposal, currency: str, to_come: Counter[tuple[str, int]]
    ) -> bool:
        """Whether ``proposal`` settles with a tolerance an invoice whose open amount a payment
        still to come is exactly."""
        if _exact(proposal):
            return False
        return any(
            to_come[(currency, self.open[a.invoice_number])] > 0
            for a in proposal.allocations
            if a.invoice_number and self.open[a.invoice_number] > 0
        )

    def _names_exactly(self, payment: IncomingPayment, advices: Sequence[Advice]) -> set[str]:
        """Open invoices ``payment`` names by their own number (prefix or leading zeros aside):
        in its advices' lines when it has any, else in its text."""
        written = [line.reference for advice in advices for line in advice.lines if line.reference]
        if not written:
            written = refs.tokens(payment.remittance_text)
        return {
            hit.invoice_number
            for reference in written
            for hit in self.references.lookup(reference, ())
            if hit.quality <= refs.Quality.CORE
        }

    @staticmethod
    def _claims_what_another_names(
        proposal: Proposal,
        context: _Context,
        named_to_come: dict[str, Counter[tuple[str, int]]],
    ) -> bool:
        """Whether ``proposal`` settles an invoice the payment does not name while a payment
        of another amount still to come names it by its number: that payment has the better
        claim to it. One of the same amount may be this payment sent again, which names what
        the first copy pays."""
        own = (context.payment.currency, context.payment.amount_minor)
        return any(
            count > 0 and key != own
            for a in proposal.allocations
            if a.invoice_number and a.invoice_number not in context.named
            for key, count in named_to_come.get(a.invoice_number, {}).items()
        )

    def _as_its_copy_names(
        self,
        context: _Context,
        ranked: list[tuple[Proposal, float]],
        decided: Decision | None,
        to_come: Counter[tuple[str, int]],
    ) -> Decision | None:
        """A payment sent twice whose first copy (``decided`` so far) waits for an analyst
        because it said too little, while the second (``context``'s, held as its duplicate)
        names what it pays: the first copy's new decision, applied as the second would have
        been. Not when the first copy was in doubt between proposals of its own: the second may
        be another payment then. None when it does not apply."""
        if decided is None or decided.applied is not None or decided.reason not in TOLD_TOO_LITTLE:
            return None
        # Scored again as a payment of its own: as the duplicate, every proposal is unlikely.
        proposals = [proposal for proposal, _ in ranked]
        rows = self._rows(proposals, duplicate=False)
        ranked = self._ranked(proposals, rows, self.scorer.predict(rows))
        verdict = self._verdict(context, ranked, None)
        applied = verdict.applied
        if applied is None or self._claims_an_exact_twin(
            applied, context.payment.currency, to_come
        ):
            return None
        evidence = {**verdict.evidence, "remittance_of_its_copy": context.payment.payment_id}
        return Decision(
            decided.payment_id, applied, verdict.confidence, None, verdict.ranked, evidence
        )

    def _decide_again(
        self,
        ordered: Sequence[IncomingPayment],
        linked: dict[str, list[Advice]],
        decisions: dict[str, Decision],
        left: dict[str, tuple[set[str], int]],
    ) -> None:
        """Once every payment of the run is decided, those left to an analyst (``left``:
        payment -> the customers it looked at, and how many payments had been applied when it
        was decided) whose customers a payment was applied to since, or whose bank account a
        payment taught since, are decided again, oldest first, on the open items as they are
        now, as the next run would: the payments after them have settled their items, and so
        have the ones that waited. A set that had rivals among items another payment has
        settled since may now stand alone; a payment run of the oldest items, two held back, is
        no run while the items of the run before it are still open.

        Only a proposal of the payer's own items that a run, a list or a due date picked is
        applied then: with fewer items left, a set found by amount alone fits by chance more
        often than its rivals show, and so does an invoice of any customer whose open amount is
        the payment's. One that writes something off or leaves something over is applied only
        for a payer known for certain and on items nothing was paid on: a deduction read off
        what an earlier payment left open is how a second instalment looks. Again, while any
        is applied. One still not applied keeps its reason, with suggestions from what is open
        now."""
        pending = [p for p in ordered if p.payment_id in left]
        applied = True
        while applied:
            applied = False
            for payment in pending:
                if not self._changed_since(payment, *left[payment.payment_id]):
                    continue
                context, ranked, duplicate = self._ranking(
                    payment, linked.get(payment.payment_id, [])
                )
                verdict = self._verdict(context, ranked, duplicate)
                first = decisions[payment.payment_id]
                if (
                    verdict.applied is None
                    or verdict.applied.strategy == "amount"
                    or _scattered(verdict.applied)
                    or not (
                        _exact(verdict.applied) or self._may_adjust_again(context, verdict.applied)
                    )
                ):
                    decisions[payment.payment_id] = replace(
                        first, ranked=verdict.ranked, evidence={**first.evidence, AGAIN: True}
                    )
                    left[payment.payment_id] = (self._families(context), self._applications)
                    continue
                verdict.evidence[AGAIN] = True
                decisions[payment.payment_id] = self._finish(payment, verdict)
                self._learn(payment, verdict)
                del left[payment.payment_id]
                applied = True
            pending = [p for p in pending if p.payment_id in left]

    def _may_adjust_again(self, context: _Context, proposal: Proposal) -> bool:
        """Whether ``proposal``, decided again, may write something off or leave something
        over: its customer is known for certain (not guessed from a name: a guessed payer and
        a guessed deduction are two guesses stacked) and nothing was paid yet on any of its
        items."""
        return proposal.customer_id in self._identified_families(context) and all(
            self.open[a.invoice_number] == self.invoices[a.invoice_number].amount_minor
            for a in proposal.allocations
            if a.invoice_number
        )

    def _changed_since(self, payment: IncomingPayment, looked_at: set[str], since: int) -> bool:
        """Whether, of the payments applied after the first ``since``, one took items of a
        customer in ``looked_at`` or taught ``payment``'s bank account."""
        account = self.payers.account_key(payment.payer_account)
        return self._learnt_at.get(account, 0) > since or any(
            self._last_applied.get(c, 0) > since for c in looked_at
        )

    def decide(self, payment: IncomingPayment, advices: Sequence[Advice] = ()) -> Decision:
        """Decide one payment; when it is applied, its allocations come off the open items."""
        context, ranked, duplicate = self._ranking(payment, advices)
        decision = self._finish(payment, self._verdict(context, ranked, duplicate))
        self._learn(payment, decision)
        return decision

    def _ranking(
        self, payment: IncomingPayment, advices: Sequence[Advice]
    ) -> tuple[_Context, list[tuple[Proposal, float]], IncomingPayment | None]:
        """The payment's proposals scored and ranked on the open amounts as they are now."""
        context, proposals, _, rows = self._prepare(payment, list(advices))
        chances = self.scorer.predict(rows) if rows else []
        return context, self._ranked(proposals, rows, chances), self._duplicate_of(context)

    def _prepare(
        self, payment: IncomingPayment, advices: Sequence[Advice]
    ) -> tuple[_Context, list[Proposal], bool, list[dict[str, float]]]:
        """Who paid, what it names, the proposals and their scorer rows."""
        context = self._context(payment, list(advices))
        duplicate = self._duplicate_of(context) is not None
        proposals = self._proposals(context)
        return context, proposals, duplicate, self._rows(proposals, duplicate)

    def _finish(self, payment: IncomingPayment, decision: Decision) -> Decision:
        """Take an applied decision's allocations off the open items; remember the payment."""
        self._take(payment, decision)
        self._remember(payment)
        return decision

    def _learn(self, payment: IncomingPayment, decision: Decision) -> str | None:
        """A payment applied on the invoices its payer named teaches the payer's bank account
        for the rest of the run, as the next day's run would know it from the ledger; the
        account, when that is news."""
        applied = decision.applied
        if applied is None or not self.teaches(payment, applied):
            return None
        if self.payers.learn_account(payment.payer_account, applied.customer_id):
            account = self.payers.account_key(payment.payer_account)
            self._learnt_at[account] = self._applications
            return account
        return None

    def teaches(self, payment: IncomingPayment, applied: Proposal) -> bool:
        """Whether an applied payment teaches its bank account for the customer it was applied
        to: when applied on the invoices its payer named, and its name is no other family's
        (a company paying another's invoice, by mistake or on its behalf, is not that one)."""
        if applied.strategy not in TEACHING_STRATEGIES or not payment.payer_account:
            return False
        family = self.payers.family(applied.customer_id)
        return not any(
            c.score >= IDENTIFIED and c.customer_id not in family
            for c in self.payers.by_name(payment.payer_name)
        )

    def _take(self, payment: IncomingPayment, decision: Decision) -> None:
        """An applied decision's allocations off the open items, the payment settled."""
        if decision.applied is not None:
            self._applications += 1
            for allocation in decision.applied.allocations:
                if allocation.invoice_number:
                    self.open[allocation.invoice_number] -= (
                        allocation.applied_minor + allocation.adjustment_minor
                    )
                    customer_id = self.invoices[allocation.invoice_number].customer_id
                    self._last_applied[customer_id] = self._applications
                    if self._oldest_sums is not None:
                        self._oldest_sums.touch(customer_id)
            self._settled[(payment.currency, payment.amount_minor)].append(
                Settled(payment, decision.applied.customer_id, frozenset(decision.applied.invoices))
            )

    def _payer_families(self, context: _Context) -> set[str]:
        """The candidate payers and the customers they may pay for."""
        found: set[str] = set()
        for customer_id in context.payers:
            found |= self.payers.family(customer_id)
        return found

    def _families(self, context: _Context) -> set[str]:
        """Every customer whose open items this payment's proposals could have looked at."""
        found = self._payer_families(context)
        for customer_id in {x.invoice.customer_id for x in context.listed} | context.looked_at:
            found |= self.payers.family(customer_id)
        return found

    # -- who paid, what it names -------------------------------------------------------------

    def _context(self, payment: IncomingPayment, advices: list[Advice]) -> _Context:
        found: dict[str, PayerCandidate] = {}

        def add(candidates: Iterable[PayerCandidate]) -> None:
            for c in candidates:
                if c.customer_id not in found or found[c.customer_id].score < c.score:
                    found[c.customer_id] = c

        named, by_number = self._named_by_bank(
            payment, *(a.payer_number for a in advices if a.payer_number)
        )
        add(named)
        for advice in advices:
            # An advice's letterhead name is read by OCR: trust it a little less.
            add(replace(c, score=c.score * 0.95) for c in self.payers.by_name(advice.payer_name))
        context = _Context(payment, advices, found)
        context.customer_numbers = {refs.key(c.detail) for c in by_number}
        self._resolve_references(context)
        return context

    def _scope(self, context: _Context) -> list[str] | None:
        """Open items a fuzzy reference may mean: the candidate payers' families' (or all)."""
        if not context.payers:
            return None
        customers = self._payer_families(context)
        return [n for c in sorted(customers) for n in self.by_customer.get(c, ())]

    def _resolve_references(self, context: _Context) -> None:
        written: list[tuple[str, AdviceLine | None]] = []
        for advice in context.advices:
            written.extend((line.reference, line) for line in advice.lines if line.reference)
        if not written:
            # The payer's own customer number ('CUST C10151') is no invoice reference, not even
            # one mistyped.
            written = [
                (t, None)
                for t in refs.tokens(context.payment.remittance_text)
                if refs.key(t) not in context.customer_numbers
            ]
        if not written:
            return
        scope = self._scope(context)
        taken: set[str] = set()
        unmatched: list[tuple[str, AdviceLine]] = []
        for reference, line in written:
            found = self.references.lookup(reference, scope)
            context.named.update(h.invoice_number for h in found)
            hits = [
                h
                for h in found
                if self.open.get(h.invoice_number) and h.invoice_number not in taken
            ]
            if len(hits) > 1:
                hits = self._narrow(context, hits, line)
            if len(hits) == 1 and (line is not None or len(written) == 1):
                hits = self._refit(context, hits[0], line, scope, taken)
            elif len(hits) == 1 and scope:
                others = [r for r, _ in written if r != reference]
                hits = self._own_instead(context, hits[0], others, scope, taken)
            if (paid := self._paid_already(reference, found)) and all(
                h.quality is not refs.Quality.EXACT for h in hits
            ):
                # It names a paid invoice exactly: an open one a digit away is no reading of it.
                context.paid_named.append(paid)
                hits = []
            if len(hits) != 1:
                if hits:
                    context.ambiguous += 1
                elif line is not None and not found:
                    unmatched.append((reference, line))
                elif line is not None or refs.ocr_core(reference):
                    context.unresolved.append(reference)
                continue
            hit = hits[0]
            taken.add(hit.invoice_number)
            invoice = self.invoices[hit.invoice_number]
            context.listed.append(_Listed(invoice, line, hit.quality))
        self._by_line_amount(context, unmatched, scope, taken)
        for listed in context.listed:
            customer_id = listed.invoice.customer_id
            if customer_id not in context.payers:
                score = 0.9 if listed.quality <= refs.Quality.OCR else 0.6
                context.payers[customer_id] = PayerCandidate(
                    customer_id, score, "reference", listed.invoice.invoice_number
                )

    def _paid_already(
        self, reference: str, found: Sequence[refs.ReferenceHit]
    ) -> tuple[str, str] | None:
        """The invoice ``reference`` names exactly when it is paid already (earlier in this
        run, or before it), as (number, customer); None otherwise."""
        for hit in found:
            if hit.quality is refs.Quality.EXACT and not self.open.get(hit.invoice_number):
                return hit.invoice_number, self.invoices[hit.invoice_number].customer_id
        return self._paid.get(refs.key(reference))

    def _by_line_amount(
        self,
        context: _Context,
        unmatched: list[tuple[str, AdviceLine]],
        scope: list[str] | None,
        taken: set[str],
    ) -> None:
        """Advice lines whose reference matches no invoice at all (misread past recognition,
        or an order number the ledger does not hold), each taken as the one open item of the
        payer's that its amounts fit and no other line names or wants: a payer's advice is a
        list of its own open items. Looked at once every line with a reference that matches
        has taken its invoice; one of the payer's items fitting two such lines, or two fitting
        one, leaves the lines unresolved."""
        if not scope:
            context.unresolved.extend(reference for reference, _ in unmatched)
            return
        fits = []
        for _, line in unmatched:
            amounts = _line_amounts(line)
            fits.append(
                [
                    n
                    for n in scope
                    if self.open.get(n, 0) > 0
                    and n not in taken
                    and self.open[n] in amounts
                    and self.invoices[n].currency == context.payment.currency
                    and self.invoices[n].issue_date <= context.payment.value_date
                ]
            )
        wanted = Counter(n for numbers in fits for n in numbers)
        for (reference, line), numbers in zip(unmatched, fits, strict=True):
            if len(numbers) != 1 or wanted[numbers[0]] != 1:
                context.unresolved.append(reference)
                continue
            taken.add(numbers[0])
            context.listed.append(
                _Listed(self.invoices[numbers[0]], line, refs.Quality.ONE_EDIT, by_amount=True)
            )

    def _refit(
        self,
        context: _Context,
        hit: refs.ReferenceHit,
        line: AdviceLine | None,
        scope: list[str] | None,
        taken: set[str],
    ) -> list[refs.ReferenceHit]:
        """An advice line (or a payment naming one reference in its text) whose amounts do not
        fit the invoice its reference names, when exactly one invoice a transposed or mistyped
        digit away fits them exactly: the payer meant that one ('INV-103393' for
        'INV-103339'). Looked for among the payers' items first, then among everyone's (the
        payer may pay for a company not known as its own). A payment naming one reference in
        its text keeps it when it pays that invoice less a bank charge or net of an earned
        discount; one that pays none of them exactly may pay the payer's own neighbour less a
        charge or net of a discount, when exactly one neighbour fits so. Otherwise the hit
        stands."""
        wanted = _line_amounts(line) if line is not None else {context.payment.amount_minor}
        if not wanted or self.open[hit.invoice_number] in wanted:
            return [hit]
        payment = context.payment
        if line is None and self._fits_less_a_tolerance(payment, hit.invoice_number):
            # Named as written, paid net of its earned discount or less a charge: a neighbour
            # that the amount fits exactly does so by chance.
            return [hit]

        def fits(number: str) -> bool:
            return self.open.get(number) in wanted and number not in taken

        nearby = (
            lambda: self.references.neighbours(hit.reference, scope) if scope else [],
            lambda: self.references.neighbours_anywhere(hit.reference, keep=fits),
        )
        for near in nearby:  # everyone's only when the payer's own settle nothing
            fitting = [h for h in near() if fits(h.invoice_number)]
            if len(fitting) == 1:
                context.refitted += 1
                return fitting
            if fitting:
                return [hit]
        # Paid less a bank charge or net of an earned discount: only the payer's own neighbour.
        if line is not None or not scope:
            return [hit]
        fitting = [
            h
            for h in self.references.neighbours(hit.reference, scope)
            if h.invoice_number not in taken
            and self._fits_less_a_tolerance(payment, h.invoice_number)
        ]
        if len(fitting) == 1:
            context.refitted += 1
            return fitting
        return [hit]

    def _fits_less_a_tolerance(self, payment: IncomingPayment, number: str) -> bool:
        """Whether ``payment`` pays invoice ``number`` in full less a charge its bank kept (whole
        units up to the bank-fee limit) or net of the early-payment discount it earned."""
        if self.invoices[number].currency != payment.currency:
            return False
        short = self.open[number] - payment.amount_minor
        return short in self._kept_charges(payment.currency) or self._net_of_earned_discount(
            payment, number
        )

    def _net_of_earned_discount(self, payment: IncomingPayment, number: str) -> bool:
        """Whether ``payment`` is invoice ``number``'s open amount net of its early-payment
        discount, in its currency and earned by the payment's date (give or take the days
        money takes to arrive)."""
        invoice, open_minor = self.invoices[number], self.open[number]
        terms = DiscountTerms.parse(invoice.terms)
        return (
            terms is not None
            and open_minor - terms.discount(open_minor) == payment.amount_minor
            and invoice.currency == payment.currency
            and terms.earned(invoice.issue_date, payment.value_date, DISCOUNT_GRACE_DAYS)
        )

    def _own_instead(
        self,
        context: _Context,
        hit: refs.ReferenceHit,
        others: list[str],
        scope: list[str],
        taken: set[str],
    ) -> list[refs.ReferenceHit]:
        """A reference that names another customer's invoice, in a remittance whose ``others``
        references name some of the payer's own items as written, when exactly one of the
        payer's own open items is a mistyped or transposed digit away: the payer meant its own
        ('INV-105894' for 'INV-105984'). Otherwise the hit stands (a parent may pay for a
        subsidiary the ledger does not know as one)."""
        families = self._payer_families(context)
        if self.invoices[hit.invoice_number].customer_id in families:
            return [hit]
        names_own = any(
            self.invoices[h.invoice_number].customer_id in families
            for other in others
            for h in self.references.lookup(other, ())
        )
        if not names_own:
            return [hit]
        own = [
            h
            for h in self.references.neighbours(hit.reference, scope)
            if self.open.get(h.invoice_number) and h.invoice_number not in taken
        ]
        if len(own) != 1:
            return [hit]
        context.refitted += 1
        return own

    def _narrow(
        self, context: _Context, hits: list[refs.ReferenceHit], line: AdviceLine | None
    ) -> list[refs.ReferenceHit]:
        """Several invoices fit a reference: keep the payer's; of an order number, the invoice
        rather than the credit memos against the same order (a payer quotes the order it pays
        for); then the one the amount fits."""
        families = self._payer_families(context)
        mine = [h for h in hits if self.invoices[h.invoice_number].customer_id in families]
        hits = mine or hits
        if len(hits) > 1 and all(h.quality == refs.Quality.PO for h in hits):
            hits = [h for h in hits if self.open[h.invoice_number] > 0] or hits
        if len(hits) > 1:
            wanted = {context.payment.amount_minor}
            if line is not None:
                wanted |= _line_amounts(line)
            fitting = [h for h in hits if self.open[h.invoice_number] in wanted]
            hits = fitting or hits
        return hits

    # -- proposals ---------------------------------------------------------------------------

    def _proposals(self, context: _Context) -> list[Proposal]:
        proposals: list[Proposal] = []
        if context.listed:
            with_amounts = any(x.line is not None and x.line.paid_minor > 0 for x in context.listed)
            strategy = "advice" if with_amounts else "references"
            proposal = self._settle(context, context.listed, strategy)
            if proposal is not None:
                proposals.append(proposal)
                proposals.extend(self._deductions(context, proposal))
                proposals.extend(self._part_payment(context, proposal))
        if (
            not proposals
            or proposals[0].features.get("mismatch", 0) > 0
            or (
                context.payment.payment_id in self._loosely_advised
                and any(a.kind is ApplicationKind.OVERPAYMENT for a in proposals[0].allocations)
            )
        ):
            # An advice linked by an amount only near, read as paid over: it may be another
            # payment's, and the payer's items that add up to the payment are its rivals.
            proposals.extend(self._subset_proposals(context))
        if not proposals or (not context.listed and not any(map(_exact, proposals))):
            # Nobody known paid, or the payer's own items explain it only with a tolerance or
            # not at all (it may pay for a company the ledger does not know as its subsidiary):
            # open items of exactly the amount, of any customer.
            proposals.extend(self._amount_proposals(context, pairs=not proposals))
        named = {x.invoice.invoice_number for x in context.listed}
        if named and any(p.strategy == "subset" and named <= set(p.invoices) for p in proposals):
            # Sets found by amount that take in every invoice the payer named make those that
            # leave some out implausible.
            proposals = [p for p in proposals if p.strategy != "subset" or named <= set(p.invoices)]
        unique: dict[frozenset[tuple[str, int]], Proposal] = {}
        for proposal in proposals:
            unique.setdefault(proposal.key, proposal)
        return list(unique.values())

    def _settle(
        self, context: _Context, listed: list[_Listed], strategy: str, extra: Sequence[str] = ()
    ) -> Proposal | None:
        """Allocate the amount over ``listed`` invoices (advice amounts where given), then
        explain what is left: discounts, a deduction, a charge, an overpayment or more items."""
        payment = context.payment
        features: dict[str, float] = {}
        evidence: dict[str, Any] = {}
        if strategy == "advice":
            listed = self._misread_lines(payment, listed, evidence)
        allocations: list[Allocation] = []
        for item in listed:
            allocations.append(self._line_allocation(payment, item))
        residual = payment.amount_minor - sum(a.applied_minor for a in allocations)
        if (
            residual < 0
            and strategy == "references"
            and (memo := self._memo_of(payment, listed, -residual))
        ):
            # Paid net of an open credit memo it does not name: the memo is taken, not written
            # off as a deduction beside it (which would credit the customer twice).
            listed = [*listed, memo]
            allocations.append(self._line_allocation(payment, memo))
            residual = 0
            evidence["credit_memo_taken_off"] = memo.invoice.invoice_number
        if residual < 0:
            partial_ok = strategy in ("advice", "references")
            allocations, residual, how = self._shortfall(
                payment, listed, allocations, -residual, partial_ok
            )
            evidence["shortfall"] = how
        if residual > 0 and strategy != "subset":
            more = self._more_items(context, {a.invoice_number for a in allocations}, residual)
            if more is not None:
                allocations.extend(self._added(more))
                residual = 0
                features.update(more.features)
                evidence["added_items"] = more.evidence
        if residual > 0:
            # Cash no item explains pays the small differences first.
            allocations, residual = _cash_before_write_offs(allocations, residual)
        if residual > 0:
            limit = payment.amount_minor * self.settings.overpayment_percent // 100
            # Invoices paid within their discount period keep the discount all the same, and
            # what was paid beyond their net amounts goes on account (as an ERP grants a cash
            # discount paid in time).
            granted, discounts = self._by_terms(payment, listed, allocations, earned_only=True)
            if discounts and residual + discounts <= limit:
                allocations, residual = granted, residual + discounts
            if residual <= limit:
                allocations.append(
                    Allocation("", residual, 0, ApplicationKind.OVERPAYMENT, "on_account")
                )
                residual = 0
        if residual != 0:
            features["mismatch"] = 1.0
            evidence["unexplained_minor"] = residual
            allocations.append(
                Allocation("", residual, 0, ApplicationKind.ON_ACCOUNT, "unexplained")
            )
        customer_id = _main_customer(listed)
        if not customer_id:
            return None
        features.update(self._features(context, listed, allocations, strategy, customer_id))
        evidence["invoices"] = [
            {
                "invoice": x.invoice.invoice_number,
                "match": "line_amount" if x.by_amount else x.quality.name.lower(),
            }
            for x in listed
        ]
        return Proposal(customer_id, tuple(allocations), strategy, features, evidence)

    def _by_terms(
        self,
        payment: IncomingPayment,
        listed: list[_Listed],
        allocations: list[Allocation],
        earned_only: bool = False,
    ) -> tuple[list[Allocation], int]:
        """``allocations`` with each listed invoice paid in full on discount terms paid net of
        its discount, earned or not by the payment's date (``earned_only``: only the earned
        ones), and the discounts' total."""
        discounted = list(allocations)
        total = 0
        by_number = {x.invoice.invoice_number: x.invoice for x in listed}
        for k, allocation in enumerate(allocations):
            invoice = by_number.get(allocation.invoice_number)
            if invoice is None or allocation.kind is not ApplicationKind.FULL:
                continue
            terms = DiscountTerms.parse(invoice.terms)
            if terms is None:
                continue
            earned = terms.earned(invoice.issue_date, payment.value_date)
            if earned_only and not earned:
                continue
            discount = terms.discount(allocation.applied_minor)
            discounted[k] = Allocation(
                allocation.invoice_number,
                allocation.applied_minor - discount,
                discount,
                ApplicationKind.DISCOUNT,
                "earned" if earned else "unearned",
            )
            total += discount
        return discounted, total

    def _misread_lines(
        self, payment: IncomingPayment, listed: list[_Listed], evidence: dict[str, Any]
    ) -> list[_Listed]:
        """Advice lines whose paid amounts were misread, when the lines miss the payment by
        exactly what reading them right makes up. A line may be read right as its gross less its
        discount and deduction when its own figures disagree ('2,712.29' for '2,711.29'), or
        as its invoice's open amount when it pays part of it or all but a small difference
        (OCR lost a digit: '8.19' for '58.19', or the cents: '2,532.00' for '2,532.37'; the
        gross may be the figure misread, so a line can have both readings). Only when one set
        of at most :data:`MAX_MISREAD_LINES` lines, one reading each, makes up the difference.
        Whatever the difference, a line whose gross is its invoice's open amount and whose
        discount is the terms' is read as the one less the other (see :meth:`_read_by_terms`)."""
        listed, certain = self._read_by_terms(listed)
        if certain:
            evidence["misread_lines"] = certain
        allocations = [self._line_allocation(payment, x) for x in listed]
        residual = payment.amount_minor - sum(a.applied_minor for a in allocations)
        if residual == 0:
            return listed
        mends: list[tuple[int, AdviceLine]] = []  # (position, the line read right)
        for k, (x, allocation) in enumerate(zip(listed, allocations, strict=True)):
            line = x.line
            if line is None or line.paid_minor <= 0:
                continue
            open_minor = self.open[x.invoice.invoice_number]
            if line.gross_minor is not None:
                implied = line.gross_minor - (line.discount_minor or 0)
                implied -= line.deduction_minor or 0
                if implied != line.paid_minor and 0 < implied <= open_minor:
                    # The gross may be the misread figure: the other reading stays a candidate.
                    mends.append((k, replace(line, paid_minor=implied)))
            if allocation.kind is ApplicationKind.PARTIAL or (
                allocation.kind is ApplicationKind.WRITE_OFF
                and allocation.reason == "small_difference"
            ):
                mends.append((k, replace(line, paid_minor=open_minor)))
        # A line the cash it applies would not change is no misreading that matters; two
        # readings of a line that agree are one.
        mends = list(
            {
                (k, line.paid_minor): (k, line)
                for k, line in mends
                if line.paid_minor != allocations[k].applied_minor
            }.values()
        )
        fitting = [
            chosen
            for size in range(1, MAX_MISREAD_LINES + 1)
            for chosen in itertools.combinations(mends[:MAX_MENDABLE_LINES], size)
            if len({k for k, _ in chosen}) == size  # one reading of each line
            and sum(line.paid_minor - allocations[k].applied_minor for k, line in chosen)
            == residual
        ]
        if len(fitting) != 1:
            return listed
        mended = list(listed)
        for k, line in fitting[0]:
            mended[k] = replace(mended[k], line=line)
        evidence["misread_lines"] = [
            *certain,
            *(listed[k].invoice.invoice_number for k, _ in fitting[0]),
        ]
        return mended

    def _read_by_terms(self, listed: list[_Listed]) -> tuple[list[_Listed], list[str]]:
        """``listed`` with each line whose gross is its invoice's open amount and whose discount
        is the terms' discount, but whose paid figure is not the one less the other, read as
        paying that (two figures the ledger confirms outvote the one it does not: a scan read
        '159.72' for '159.71'); and the invoices of the lines so read."""
        read = list(listed)
        certain = []
        for k, x in enumerate(listed):
            line, open_minor = x.line, self.open[x.invoice.invoice_number]
            terms = DiscountTerms.parse(x.invoice.terms)
            if (
                line is not None
                and line.paid_minor > 0
                and line.gross_minor == open_minor
                and line.discount_minor
                and line.paid_minor + line.discount_minor != open_minor
                and terms is not None
                and terms.discount(open_minor) == line.discount_minor
            ):
                read[k] = replace(
                    x, line=replace(line, paid_minor=open_minor - line.discount_minor)
                )
                certain.append(x.invoice.invoice_number)
        return read, certain

    def _deductions(self, context: _Context, proposal: Proposal) -> list[Proposal]:
        """The named invoices paid short without a word, when several were named: one proposal
        per invoice that could bear the deduction (at most ``short_pay_percent`` of it). Which
        one did is not in the payment, so they are offered side by side for an analyst (the
        largest invoices first); only when one invoice alone can bear it may the scorer apply
        it."""
        named = self._named_in_full(context, proposal)
        if named is None:
            return []
        paid, short = named
        # Largest invoice first: a deduction is likelier a small share of its invoice.
        bearers = sorted(
            (
                k
                for k, a in enumerate(paid)
                if a.kind is ApplicationKind.FULL and self._can_bear(a.invoice_number, short)
            ),
            key=lambda k: -self.open[paid[k].invoice_number],
        )
        could_bear = [paid[b].invoice_number for b in bearers]
        return [
            self._variant(
                context,
                proposal,
                paid,
                k,
                Allocation(
                    paid[k].invoice_number,
                    paid[k].applied_minor - short,
                    short,
                    ApplicationKind.SHORT_PAY,
                    "unspecified",
                ),
                {
                    "shortfall": {
                        "deduction_on": paid[k].invoice_number,
                        "invoices_that_could_bear_it": could_bear,
                    }
                },
            )
            for k in bearers[:MAX_SUGGESTIONS]
        ]

    def _part_payment(self, context: _Context, proposal: Proposal) -> list[Proposal]:
        """The named invoices paid well short, when several were named: the one invoice large
        enough to have been paid that much short of what is open on it, the others in full.
        Only a suggestion, never applied: the payer may as well have paid part of each. None
        when two invoices could be the one, when one could bear the shortfall as a deduction
        (see :meth:`_deductions`), or when the shortfall is what one of them is open for (that
        one was named, not paid)."""
        named = self._named_in_full(context, proposal)
        if named is None:
            return []
        paid, short = named
        numbers = [a.invoice_number for a in paid]
        if any(self.open[n] == short or self._can_bear(n, short) for n in numbers):
            return []
        # Credit memos are below zero: only invoices in full are larger than the shortfall.
        fits = [k for k, a in enumerate(paid) if a.applied_minor > short]
        if len(fits) != 1:
            return []
        (k,) = fits
        part = Allocation(
            paid[k].invoice_number, paid[k].applied_minor - short, 0, ApplicationKind.PARTIAL
        )
        why = {
            "shortfall": "partial",
            SUGGESTION_ONLY: "one of several named invoices paid in part",
        }
        return [self._variant(context, proposal, paid, k, part, why)]

    def _named_in_full(
        self, context: _Context, proposal: Proposal
    ) -> tuple[list[Allocation], int] | None:
        """The several named invoices each in full, and how far the payment falls short of
        them, when ``proposal`` leaves that unexplained. From the invoices in full: discounts
        by terms that explained only part of the shortfall are not taken either."""
        if proposal.evidence.get("unexplained_minor", 0) >= 0 or len(context.listed) < 2:
            return None
        paid = [self._line_allocation(context.payment, x) for x in context.listed]
        if any(a.kind not in (ApplicationKind.FULL, ApplicationKind.CREDIT_MEMO) for a in paid):
            return None
        short = sum(a.applied_minor for a in paid) - context.payment.amount_minor
        return (paid, short) if short > 0 else None

    def _variant(
        self,
        context: _Context,
        proposal: Proposal,
        paid: list[Allocation],
        k: int,
        allocation: Allocation,
        why: dict[str, Any],
    ) -> Proposal:
        """``proposal`` for the named invoices ``paid`` with the ``k``-th settled as
        ``allocation`` instead, the shortfall so explained."""
        allocations = list(paid)
        allocations[k] = allocation
        features = self._features(
            context, context.listed, allocations, proposal.strategy, proposal.customer_id
        )
        evidence = {
            key: value for key, value in proposal.evidence.items() if key != "unexplained_minor"
        }
        evidence.update(why)
        return Proposal(
            proposal.customer_id, tuple(allocations), proposal.strategy, features, evidence
        )

    def _can_bear(self, number: str, deduction: int) -> bool:
        """Whether a deduction taken without a reason may be on this invoice: at most
        ``short_pay_percent`` of what is open on it."""
        return deduction * 100 <= self.open[number] * self.settings.short_pay_percent

    def _memo_of(
        self, payment: IncomingPayment, listed: list[_Listed], short: int
    ) -> _Listed | None:
        """The one open credit memo of the listed invoices' customer (or its family) of exactly
        the ``short`` the payment falls below them, in the payment's currency, not listed
        itself and issued by the payment; None when none or several."""
        named = {x.invoice.invoice_number for x in listed}
        memos = [
            number
            for c in sorted(self.payers.family(_main_customer(listed)))
            for number in self.by_customer.get(c, ())
            if self.open.get(number) == -short
            and self.invoices[number].currency == payment.currency
            and number not in named
            and self.invoices[number].issue_date <= payment.value_date
        ]
        return (
            _Listed(self.invoices[memos[0]], None, refs.Quality.EXACT) if len(memos) == 1 else None
        )

    def _line_allocation(self, payment: IncomingPayment, item: _Listed) -> Allocation:
        invoice, line = item.invoice, item.line
        open_minor = self.open[invoice.invoice_number]
        number = invoice.invoice_number
        if open_minor < 0:
            return Allocation(number, open_minor, 0, ApplicationKind.CREDIT_MEMO)
        if line is None:
            return Allocation(number, open_minor, 0, ApplicationKind.FULL)
        paid = line.paid_minor
        if paid <= 0:
            # No paid figure (a scan lost it): the invoice less what the line says it took off.
            taken_off = (line.discount_minor or 0) + (line.deduction_minor or 0)
            if not 0 < taken_off < open_minor:
                return Allocation(number, open_minor, 0, ApplicationKind.FULL)
            paid = open_minor - taken_off
        if paid >= open_minor:
            return Allocation(number, open_minor, 0, ApplicationKind.FULL)
        gap = open_minor - paid
        terms = DiscountTerms.parse(invoice.terms)
        if line.discount_minor and line.discount_minor == gap:
            earned = terms is not None and terms.earned(invoice.issue_date, payment.value_date)
            reason = "earned" if earned else "unearned"
            return Allocation(number, paid, gap, ApplicationKind.DISCOUNT, reason)
        if line.deduction_minor and line.deduction_minor == gap:
            return Allocation(
                number, paid, gap, ApplicationKind.SHORT_PAY, line.reason or "unspecified"
            )
        if terms is not None and abs(terms.discount(open_minor) - gap) <= 1:
            earned = terms.earned(invoice.issue_date, payment.value_date)
            reason = "earned" if earned else "unearned"
            return Allocation(number, paid, gap, ApplicationKind.DISCOUNT, reason)
        if gap <= self._minor(payment.currency, self.settings.small_difference_limit):
            return Allocation(number, paid, gap, ApplicationKind.WRITE_OFF, "small_difference")
        if line.reason or self._can_bear(number, gap):
            return Allocation(
                number, paid, gap, ApplicationKind.SHORT_PAY, line.reason or "unspecified"
            )
        return Allocation(number, paid, 0, ApplicationKind.PARTIAL)

    def _shortfall(
        self,
        payment: IncomingPayment,
        listed: list[_Listed],
        allocations: list[Allocation],
        short: int,
        partial_ok: bool = False,
    ) -> tuple[list[Allocation], int, str]:
        """The payment is ``short`` below the listed items: discounts by terms (and a bank
        charge or FX difference beyond them), a bank charge or FX difference on the last
        invoice, a deduction on a single invoice (credit memos beside it or not), or
        (``partial_ok``: the payer named the one invoice) a part payment that leaves the rest
        open."""
        discounted, taken = self._by_terms(payment, listed, allocations)
        # A shortfall of whole units up to the bank-fee limit that the discounts do not make up
        # is the bank's charge, not discounts and a remainder besides: two guesses stacked.
        charge = short in self._kept_charges(payment.currency)
        if taken and (abs(taken - short) <= len(listed) or (0 < taken < short and not charge)):
            rest = short - taken
            if rest == 0:
                return discounted, 0, "discount"
            allocations = discounted
            short = rest
        elif taken > short and all(
            a.reason == "earned" for a in discounted if a.kind is ApplicationKind.DISCOUNT
        ):
            # Paid within the discount period, less than the invoices but more than their net
            # amounts: the discount is the payer's all the same, the excess goes on account.
            return discounted, taken - short, "discount"
        last = max(
            (k for k, a in enumerate(allocations) if a.applied_minor > short and a.invoice_number),
            default=None,
        )
        if last is None:
            return allocations, -short, "unexplained"
        # One invoice among credit memos: only the invoice can carry a deduction.
        debits = sum(1 for x in listed if self.open[x.invoice.invoice_number] > 0)
        reason = self._written_off_as(payment, short)
        kind = ApplicationKind.WRITE_OFF
        if (
            not reason
            and (debits == 1 or any(x.line is not None and x.line.reason for x in listed))
            and self._can_bear(allocations[last].invoice_number, short)
        ):
            kind, reason = ApplicationKind.SHORT_PAY, "unspecified"
        if not reason and partial_ok and len(listed) == 1:
            target = allocations[last]
            allocations = [
                Allocation(
                    target.invoice_number, target.applied_minor - short, 0, ApplicationKind.PARTIAL
                )
            ]
            return allocations, 0, "partial"
        if not reason:
            return allocations, -short, "unexplained"
        target = allocations[last]
        allocations = list(allocations)
        if target.kind is not ApplicationKind.FULL:
            reason = f"{target.reason};{reason}" if target.reason else reason
            kind = target.kind
        allocations[last] = Allocation(
            target.invoice_number,
            target.applied_minor - short,
            target.adjustment_minor + short,
            kind,
            reason,
        )
        return allocations, 0, reason

    def _written_off_as(self, payment: IncomingPayment, short: int) -> str:
        """Why ``payment`` may fall ``short`` of what it settles with no word from the payer:
        a charge its bank kept (whole units up to the bank-fee limit, and no more than a third
        of what it settles: 50.00 off a 120.00 invoice is no charge), an FX difference, a
        small difference; '' when it is none of those."""
        if (
            short <= self._minor(payment.currency, self.settings.bank_fee_limit)
            and short % _unit(payment.currency) == 0
            and MAX_CHARGE_SHARE * short <= payment.amount_minor + short
        ):
            return "bank_fee"
        if short <= self._fx_limit(payment):
            return "fx_difference"
        if short <= self._minor(payment.currency, self.settings.small_difference_limit):
            return "small_difference"
        return ""

    def _more_items(self, context: _Context, named: set[str], residual: int) -> _More | None:
        """A lump sum that names only some invoices (a remittance cut off at the bank's field
        length, or a list that stops short): the rest of the customer's items that make up
        exactly ``residual`` (see :meth:`_continuation`). When nothing fits, once more with each
        open credit memo taken off the invoice it credits (the same order number), as payers
        do: the memos of the named invoices come along too."""
        customer_id = _main_customer(context.listed)
        payment = context.payment
        items = self._open_amounts(customer_id, issued_by=payment.value_date)
        named_due = [self.invoices[n].due_date for n in named if n in self.invoices]
        due_by = max([payment.value_date + timedelta(DUE_WINDOW_DAYS), *named_due])
        charges = self._kept_charges(payment.currency)
        more = self._continuation(items, named, residual, due_by, charges)
        netted = self._netted(items, named) if more is None else None
        if netted is None:
            return more
        folded, credits = netted
        taken = [memo for number in sorted(named) for memo in credits.get(number, ())]
        more = self._continuation(
            folded, named, residual - sum(self.open[m] for m in taken), due_by, charges
        )
        if more is None:
            return None
        keys, memos = _with_memos(more.keys, credits)
        evidence = {**more.evidence, "credit_memos_with_their_invoices": [*taken, *memos]}
        return _More((*keys, *taken), more.features, evidence, more.charge)

    def _added(self, more: _More) -> list[Allocation]:
        """The items that complete a list, in full; a charge the bank kept is written off on
        the last invoice that can carry it."""
        added = [self._full(n) for n in more.keys]
        if more.charge:
            k = max(k for k, a in enumerate(added) if a.applied_minor > more.charge)
            added[k] = Allocation(
                added[k].invoice_number,
                added[k].applied_minor - more.charge,
                more.charge,
                ApplicationKind.WRITE_OFF,
                "bank_fee",
            )
        return added

    def _netted(
        self, items: list[OpenAmount], named: set[str]
    ) -> tuple[list[OpenAmount], dict[str, tuple[str, ...]]] | None:
        """``items`` with each invoice's open credit memos (among ``items``, not named on their
        own) folded into it, and the memos they took; None when no invoice has one."""
        present = {item.key: item for item in items}
        credits: dict[str, tuple[str, ...]] = {}
        for item in items:
            memos = tuple(
                m for m in self.credits_for.get(item.key, ()) if m in present and m not in named
            )
            if memos and item.amount + sum(present[m].amount for m in memos) > 0:
                credits[item.key] = memos
        if not credits:
            return None
        folded = {memo for memos in credits.values() for memo in memos}
        return [
            OpenAmount(
                item.key,
                item.amount + sum(present[m].amount for m in credits.get(item.key, ())),
                item.rank,
            )
            for item in items
            if item.key not in folded
        ], credits

    def _continuation(
        self,
        items: list[OpenAmount],
        named: set[str],
        residual: int,
        due_by: date,
        charges: Sequence[int] = (),
    ) -> _More | None:
        """First the list's continuation: the items after the last named one in due-date
        order, a few of them maybe held back; else the one set of those items due by ``due_by``
        that fits (when there are few enough of them for a set to fit by chance rarely, and no
        set fits with one of the payer's older credit memos taken off); else
        any one set of items, when exactly one set fits and the search proved it (a set of
        several items only among at most :data:`DUE_POOL_MAX`: among more, one fits by chance
        too often)."""
        last = max((i.rank for i in items if i.key in named), default=-1)
        rest = [i for i in items if i.key not in named]
        if not rest:
            return None
        after = [i for i in rest if i.rank > last]
        more = self._run_after(after, rest, last, residual, charges) if last >= 0 else None
        if more is not None:
            return more
        due = self._only_set_due(after, residual, due_by) if last >= 0 else None
        if due is not None and self._fits_with_an_older_memo(
            after, rest, last, residual, due_by, due[0]
        ):
            # The payer may have taken one of its older credit memos, as :meth:`_run_after`
            # allows for (there only memos of no open invoice; here also a memo with the
            # invoice it credits): then another set fits, and this one is not the only one.
            due = None
        if due is not None:
            keys, held_back = due
            return _More(
                keys,
                {"added_by_subset": float(len(keys)), "added_shape": 3.0,
                 "added_gaps": float(len(held_back)), "added_rivals": 0.0},
                {"how": "only_set_due", "due_by": due_by.isoformat(), "held_back": held_back},
            )  # fmt: skip
        search = self._search(rest, residual, residual, 2, time.perf_counter())
        if len(search.solutions) != 1 or not search.complete:
            return None
        keys = search.solutions[0]
        if len(keys) > 1 and len(rest) > DUE_POOL_MAX:
            return None
        return _More(
            keys,
            {"added_by_subset": float(len(keys)), "added_shape": 2.0},
            {"how": "only_fitting_set", "among": len(rest)},
        )

    def _run_after(
        self,
        after: list[OpenAmount],
        rest: list[OpenAmount],
        last: int,
        residual: int,
        charges: Sequence[int],
    ) -> _More | None:
        """The items after the list's last one in due-date order that make up ``residual``, a
        few maybe held back. When none do: the same with one of the payer's older open credit
        memos taken off, or all of them (memos of an open invoice go with it, see
        :meth:`_netted`). A memo is dated when it was issued, so it sorts before the list's
        last invoice and is not in its continuation, yet the payer takes it. When
        none of those do either: runs that make up ``residual`` plus one of ``charges`` (a fee
        the bank kept), none held back. Only a run with fewer items held back than any other
        may complete the list."""
        runs = gapped_runs(after, residual, from_start=True, limit=4)
        variants: list[tuple[tuple[OpenAmount, ...], list[GappedRun]]] = [((), runs)]
        if not runs:
            memos = [i for i in _older_memos(rest, last) if i.key not in self.memo_of][
                :MAX_OLDER_MEMOS
            ]
            choices = [(memo,) for memo in memos] + ([tuple(memos)] if len(memos) > 1 else [])
            variants = [
                (
                    taken,
                    gapped_runs(
                        after, residual - sum(m.amount for m in taken), from_start=True, limit=4
                    ),
                )
                for taken in choices
            ]
        if charges and not any(fits for _, fits in variants):
            # Only an unbroken run (with items held back too, a charge fits by chance), and
            # one with an invoice larger than the charge to carry it; or the one item that
            # comes next, less a charge smaller than what reached it.
            amounts = {i.key: i.amount for i in after}
            runs = [
                run
                for run in gapped_runs(
                    after, residual, max_gaps=0, from_start=True, limit=4, charges=charges
                )
                if any(amounts[key] > run.charge for key in run.keys)
            ]
            if after and (kept := after[0].amount - residual) in charges and residual > kept:
                runs.append(GappedRun((after[0].key,), (), 0, kept))
            variants = [((), runs)]
        found = [(len(run.skipped), taken, run) for taken, fits in variants for run in fits]
        if not found:
            return None
        gaps = min(skipped for skipped, _, _ in found)
        best = [(taken, run) for skipped, taken, run in found if skipped == gaps]
        if len(best) != 1:
            return None
        taken, run = best[0]
        evidence: dict[str, Any] = {"how": "continuation", "held_back": list(run.skipped)}
        if taken:
            evidence["older_credit_memos_taken"] = [m.key for m in taken]
        if run.charge:
            evidence["charge_minor"] = run.charge
        return _More(
            (*run.keys, *(m.key for m in taken)),
            {"added_by_subset": float(len(run.keys) + len(taken)), "added_shape": 1.0,
             "added_gaps": float(gaps), "added_rivals": float(len(found) - 1)},
            evidence,
            run.charge,
        )  # fmt: skip

    def _fits_with_an_older_memo(
        self,
        after: list[OpenAmount],
        rest: list[OpenAmount],
        last: int,
        residual: int,
        due_by: date,
        only: tuple[str, ...],
    ) -> bool:
        """Whether another set of ``after`` due by ``due_by`` than ``only`` makes up
        ``residual`` with one of the payer's older open credit memos taken off (a memo of one
        of those invoices only with its invoice). A set that pays all of ``only`` and more
        items netting to nothing (a memo and the invoice it cancels) is no other set."""
        due = [i for i in after if self.invoices[i.key].due_date <= due_by]
        amounts = {i.key: i.amount for i in due}
        chosen = set(only)
        searches: list[tuple[list[OpenAmount], int, str]] = []
        for memo in _older_memos(rest, last):
            invoice = self.memo_of.get(memo.key)
            if invoice is None:
                searches.append((due, residual - memo.amount, ""))
            elif invoice in amounts and amounts[invoice] + memo.amount != 0:
                among = [i for i in due if i.key != invoice]
                searches.append((among, residual - memo.amount - amounts[invoice], invoice))
        started = time.perf_counter()
        for among, target, invoice in searches[:MAX_OLDER_MEMOS]:
            if target == 0:
                return True  # the memo with its invoice is the payment's rest
            found = self._search(among, target, target, 3, started)
            if any(not chosen <= {*keys, invoice} for keys in found.solutions):
                return True
        return False

    def _only_set_due(
        self, items: list[OpenAmount], target: int, due_by: date
    ) -> tuple[tuple[str, ...], list[str]] | None:
        """The one set of ``items`` falling due by ``due_by`` that adds up to ``target``, and
        the items due it leaves out; None when no set or several do, or too many items are due
        for a set to be telling."""
        due = [i for i in items if self.invoices[i.key].due_date <= due_by]
        if not 2 < len(due) <= DUE_POOL_MAX:
            return None
        search = self._search(due, target, target, 2, time.perf_counter())
        if not search.complete or len(search.solutions) != 1:
            return None
        keys = search.solutions[0]
        chosen = set(keys)
        return keys, [i.key for i in due if i.key not in chosen]

    def _subset_proposals(self, context: _Context) -> list[Proposal]:
        """No usable reference: which of the payer's open items add up to the amount."""
        payment = context.payment
        if not context.payers:
            return []
        best = max(c.score for c in context.payers.values())
        customers = [c for c, p in context.payers.items() if p.score >= best - 0.05][:2]
        proposals: list[Proposal] = []
        fee_limit = self._minor(payment.currency, self.settings.bank_fee_limit)
        amount = payment.amount_minor
        charge = max(fee_limit, self._fx_limit(payment))
        over = amount * self.settings.overpayment_percent // 100
        started = time.perf_counter()
        for customer_id in customers:
            items = self._open_amounts(customer_id, payment.value_date)
            if not items:
                continue
            found = self._search(items, amount, amount, MAX_SUGGESTIONS, started)
            netted = self._netted(items, set())
            folded, credits = netted if netted is not None else (None, {})
            gapped = self._runs(items, netted, found, payment, customer_id)
            # Nothing adds up exactly: widen step by step, discounts taken, then a charge or FX
            # difference kept by the bank, then an overpayment; the settlement names the reason.
            tolerance = "exact"
            discounted = self._discounted(items) if not found.solutions else None
            ladder = [
                ("exact", None if found.complete else folded, amount, amount),
                ("discount", discounted, amount, amount),
                ("charge", items, amount, amount + charge),
                ("discount_charge", discounted, amount, amount + charge),
                ("overpayment", items, amount - over, amount - 1),
            ]
            exact_complete = found.complete
            # A run that adds up to the cent with a few items held back is an exact fit too:
            # widening then only adds rivals that need a tolerance.
            exact_run = any(run.charge == 0 for run, _ in gapped)
            memos: dict[str, tuple[str, ...]] = {}
            width = 1  # how many amounts the search took as a fit
            for step, among, low, high in ladder:
                if found.solutions or exact_run:
                    break
                if among is not None and low <= high:
                    found = self._search(among, low, high, MAX_SUGGESTIONS, started)
                    tolerance = step
                    memos = credits if among is folded else {}
                    width = high - low + 1
            deducted: list[tuple[str, ...]] = []
            overpaid: list[tuple[str, ...]] = []
            if not found.solutions and not exact_run:
                near = self._short_paid(items, amount)
                found = SubsetSearch(
                    tuple((key,) for key in near[:3]), len(near) <= 3, False, 0, "single"
                )
                tolerance = "short_pay"
            elif tolerance in ("charge", "overpayment"):
                # Items that leave a charge or an overpayment, or one paid short: any may be
                # the truth (a charge the bank kept is whole units of a bank's tariff, a
                # deduction any amount).
                deducted = [(k,) for k in self._short_paid(items, amount)]
            if tolerance == "charge":
                overpaid = [(k,) for k in self._overpaid(items, amount)]
            deducted = [s for s in deducted if s not in found.solutions][:2]
            overpaid = overpaid[:2]
            shared = {
                "subset_solutions": float(len(found.solutions)),
                "subset_complete": float(found.complete),
                "subset_tolerance": float(TOLERANCES.index(tolerance)),
                "subset_exact_complete": float(exact_complete),
                "subset_items": float(len(items)),
                "subset_gapped": float(len(gapped)),
            }
            candidates = []
            for rank, (run, run_memos) in enumerate(gapped):
                keys, taken = _with_memos(run.keys, run_memos)
                candidates.append(
                    (
                        keys,
                        {"subset_rank": float(rank), "subset_gaps": float(len(run.skipped))},
                        {
                            "found_by": "run_with_items_held_back" if run.skipped else "run",
                            "held_back": list(run.skipped),
                            "charge_minor": run.charge,
                            "credit_memos_with_their_invoices": taken,
                        },
                    )
                )
            if len(found.solutions) != 1 or not found.complete:
                due_by = payment.value_date + timedelta(DUE_WINDOW_DAYS)
                for among, among_memos in ((items, {}), (folded, credits)):
                    due = self._only_set_due(among, amount, due_by) if among else None
                    if due is not None:
                        keys, taken = _with_memos(due[0], among_memos)
                        candidates.append(
                            (
                                keys,
                                {"subset_rank": 0.0, "subset_run": 2.0,
                                 "subset_gaps": float(len(due[1]))},
                                {"found_by": "only_set_due", "held_back": due[1],
                                 "credit_memos_with_their_invoices": taken},
                            )
                        )  # fmt: skip
                        break
            for rank, solution in enumerate(found.solutions):
                keys, taken = _with_memos(solution, memos)
                in_a_run = _is_run(items, solution)
                how: dict[str, Any] = {
                    "found_by": found.strategy,
                    "credit_memos_with_their_invoices": taken,
                }
                if not (found.complete or in_a_run or len(solution) == 1):
                    # Its rivals are unknown: the search ran out of work before it had seen
                    # every set.
                    how[CHANCE_FITS] = round(_scattered_by_chance(items, len(solution), width), 4)
                candidates.append(
                    (
                        keys,
                        {"subset_rank": float(rank), "subset_run": float(in_a_run)},
                        how,
                    )
                )
            for singles, kind in ((deducted, "short_pay"), (overpaid, "overpayment")):
                for rank, single in enumerate(singles):
                    candidates.append(
                        (
                            single,
                            {"subset_rank": float(rank),
                             "subset_tolerance": float(TOLERANCES.index(kind))},
                            {"found_by": "single", "tolerance": kind,
                             "credit_memos_with_their_invoices": []},
                        )
                    )  # fmt: skip
            for solution, own, how in candidates:
                listed = [_Listed(self.invoices[n], None, refs.Quality.EXACT) for n in solution]
                proposal = self._settle(context, listed, "subset")
                if proposal is None:
                    continue
                features = {**proposal.features, **shared, **own}
                evidence = dict(proposal.evidence)
                evidence["subset"] = {
                    "solutions": len(found.solutions),
                    "complete": found.complete,
                    "tolerance": tolerance,
                    **how,
                }
                proposals.append(replace(proposal, features=features, evidence=evidence))
        return proposals

    def _short_paid(self, items: list[OpenAmount], amount: int) -> list[str]:
        """A deduction taken without a word: the single items ``amount`` falls short of by no
        more than a short-pay may be, nearest first."""
        ceiling = amount * 100 // max(100 - self.settings.short_pay_percent, 1)
        return _nearest_items(items, amount, amount + 1, ceiling)

    def _overpaid(self, items: list[OpenAmount], amount: int) -> list[str]:
        """The single items ``amount`` exceeds by no more than an overpayment may be (the rest
        goes on account), nearest first."""
        floor = amount - amount * self.settings.overpayment_percent // 100
        return _nearest_items(items, amount, floor, amount - 1)

    def _runs(
        self,
        items: list[OpenAmount],
        netted: tuple[list[OpenAmount], dict[str, tuple[str, ...]]] | None,
        found: SubsetSearch,
        payment: IncomingPayment,
        customer_id: str,
    ) -> list[tuple[GappedRun, dict[str, tuple[str, ...]]]]:
        """Accounts-payable runs with a few items held back, each with the credit memos it
        takes along (runs over ``netted`` items, memos folded into the invoices they credit).

        Looked for only when the plain search did not settle it (ran out of work, more than one
        set fits, or the one set that fits is scattered, not a run) and no single open item is
        the amount; when no run adds up to the cent, runs whose sum is the amount plus a charge
        the bank kept (whole units, up to the bank-fee limit). Sets scattered over many small
        items add up to the cent by chance; the oldest items less a wire fee are what a
        payer's payment run and its bank make. Those runs less a charge are looked for too when
        every run that adds up to the cent holds items back, among more items than the search
        sees through (:data:`MITM_MAX_ITEMS`) and it did not: among so many, such runs fit by
        chance, and a whole run less a charge is a rival for the analyst to weigh."""
        amount = payment.amount_minor
        single = bool(found.solutions) and len(found.solutions[0]) == 1
        if found.solutions and (
            single
            or (found.complete and len(found.solutions) == 1 and _is_run(items, found.solutions[0]))
        ):
            return []
        variants = [(items, {}), *([netted] if netted is not None else [])]
        gapped: list[tuple[GappedRun, dict[str, tuple[str, ...]]]] = []
        if found.solutions or not found.complete:
            # A run with nothing held back over the plain items is one the search looks at too.
            # Items the payer passes over are no gaps (see :meth:`_run_variants`); a run found
            # in several lists keeps its fewest items held back. Only when no run of the usual
            # shapes fits, three items held back anywhere among the last ones before its end.
            lists = [*variants, *self._run_variants(items, customer_id)]
            fewest: dict[tuple[str, ...], tuple[GappedRun, dict[str, tuple[str, ...]]]] = {}
            for tail_gaps in (TAIL_GAPS, WIDE_TAIL_GAPS):
                for among, memos in lists:
                    for run in gapped_runs(among, amount, limit=4, tail_gaps=tail_gaps):
                        held = fewest.get(run.keys)
                        if (run.skipped or among is not items) and (
                            held is None or len(run.skipped) < len(held[0].skipped)
                        ):
                            fewest[run.keys] = (run, memos)
                if fewest:
                    break
            gapped = list(fewest.values())
        if any(_is_run(items, solution) for solution in found.solutions):
            return gapped
        by_chance = (
            not found.complete
            and len(items) > MITM_MAX_ITEMS
            and all(run.skipped for run, _ in gapped)
        )
        if gapped and not by_chance:
            return gapped
        charges = (0, *self._kept_charges(payment.currency))
        less_a_charge = [
            (run, memos)
            for among, memos in variants
            for run in gapped_runs(among, amount, limit=4, charges=charges)
        ] + [
            # Whole runs only there: among the latest items, runs with some held back that fit
            # by chance are many (the oldest items are what a payer holds back from).
            (run, {})
            for among in self._falling_due(items, payment)
            for run in gapped_runs(among, amount, max_gaps=0, limit=4, charges=charges)
        ]
        seen = {run.keys for run, _ in gapped}
        for run, memos in less_a_charge:
            if run.keys not in seen:
                seen.add(run.keys)
                gapped.append((run, memos))
        return gapped

    def _falling_due(
        self, items: list[OpenAmount], payment: IncomingPayment
    ) -> list[list[OpenAmount]]:
        """The latest items falling due by the payment (within :data:`DUE_WINDOW_DAYS` of it),
        as many as a run search looks through (:data:`MAX_GAPPED_ITEMS`), when the payer has
        more open items than that: runs are otherwise looked for among its oldest items only,
        and a payment run pays what falls due as often as what is oldest."""
        if len(items) <= MAX_GAPPED_ITEMS:
            return []
        due_by = payment.value_date + timedelta(DUE_WINDOW_DAYS)
        due = [i for i in items if self.invoices[i.key].due_date <= due_by]
        due.sort(key=lambda i: (i.rank, i.key))
        latest = due[-MAX_GAPPED_ITEMS:]
        return [latest] if latest != due[:MAX_GAPPED_ITEMS] else []

    def _run_variants(
        self, items: list[OpenAmount], customer_id: str
    ) -> list[tuple[list[OpenAmount], dict[str, tuple[str, ...]]]]:
        """More lists to look for runs in, each without items a payer passes over rather than
        holds back: the customer's own items, without its parent's or sister companies' (a
        subsidiary's payment run pays its own invoices); the invoices alone, without the
        credit memos (a payer may leave every memo open)."""
        own = [i for i in items if self.invoices[i.key].customer_id == customer_id]
        debits = [i for i in items if i.amount > 0]
        return [(among, {}) for among in (own, debits) if len(among) < len(items)]

    def _fx_limit(self, payment: IncomingPayment) -> int:
        """The largest shortfall read as an FX difference: the configured basis points of the
        payment, and none for a payment in the book's own currency (see
        :func:`_home_currency`)."""
        if payment.currency == self.home_currency:
            return 0
        return payment.amount_minor * self.settings.fx_tolerance_bp // 10_000

    def _kept_charges(self, currency: str) -> range:
        """What a bank may keep of a payment: whole units up to the bank-fee limit."""
        unit = _unit(currency)
        return range(unit, self._minor(currency, self.settings.bank_fee_limit) + 1, unit)

    def _amount_proposals(self, context: _Context, pairs: bool = False) -> list[Proposal]:
        """Nothing is named and no known payer's items fit (a payment platform, an empty record,
        a parent paying for a subsidiary): the open invoices, of any customer, whose open amount
        is exactly the amount; with ``pairs``, when none is, a customer's oldest invoices or two
        of its invoices that add up to it (see :meth:`_oldest_of` and :meth:`_pairs_of`)."""
        payment = context.payment
        context.everywhere = True
        sets: list[tuple[tuple[str, ...], str]] = [
            ((n,), "invoice") for n in self._open_at(payment, payment.amount_minor)
        ]
        if not sets:
            sets = [((n,), "invoice_net_of_discount") for n in self._discounted_to(payment)]
        if not sets and pairs:
            oldest = self._oldest_of(payment)
            context.held_back = [(numbers, held) for numbers, how, held in oldest if held]
            sets = [(numbers, how) for numbers, how, held in oldest if not held]
            runs = {numbers for numbers, _ in sets}
            sets += [
                (pair, "neighbouring_invoices")
                for pair in self._pairs_of(payment)
                if pair not in runs
            ]
        identified = self._identified_families(context)
        whole_hundreds = 100 * 10 ** exponent(payment.currency)
        proposals = []
        for numbers, how in sets[:MAX_SUGGESTIONS]:
            listed = [_Listed(self.invoices[n], None, refs.Quality.EXACT) for n in numbers]
            customer_id = listed[0].invoice.customer_id
            context.looked_at.add(customer_id)
            proposal = self._settle(context, listed, "amount")
            if proposal is not None:
                features = {**proposal.features, "amount_twins": float(len(sets))}
                evidence = {**proposal.evidence, "amount": {"found_by": how, "sets": len(sets)}}
                if identified and customer_id not in identified:
                    # The payer is known for certain and this is not its family's invoice.
                    evidence[SUGGESTION_ONLY] = "another customer's invoice than the payer's"
                elif not context.payers and payment.amount_minor % whole_hundreds == 0:
                    # Instalments, deposits and rents are round sums: one from nobody fits a
                    # stranger's invoice of that sum too easily.
                    evidence[SUGGESTION_ONLY] = "a round sum nobody can be named for"
                proposals.append(replace(proposal, features=features, evidence=evidence))
        return proposals

    def _identified_families(self, context: _Context) -> set[str]:
        """The families of the customers the payment names for certain (a learned bank account,
        its customer number, its exact name or alias), not guessed from a name or a reference."""
        found: set[str] = set()
        for candidate in context.payers.values():
            if candidate.score >= IDENTIFIED and candidate.source in IDENTIFYING_SOURCES:
                found |= self.payers.family(candidate.customer_id)
        return found

    def _only_suggested(self, context: _Context) -> tuple[tuple[Proposal, float], ...]:
        """For a payment with no candidate at all, somewhere for the analyst to start; never
        applied. A customer's oldest invoices with one held back (a disputed invoice left out
        of a payment platform's run) that add up to the amount: among the many such sums of a
        whole ledger, one fits a stranger's payment by chance too often to apply (applied, one
        in five on 21 simulated worlds was another customer's invoices). And the open
        invoices, of any customer, that it pays in full less a charge the bank kept (whole
        units up to the bank-fee limit), as a parent paying for a subsidiary the ledger does
        not know pays them: a stranger's payment explained by a charge is too weak to apply.
        Ranked by the scorer."""
        payment = context.payment
        suggested: list[tuple[list[_Listed], dict[str, Any]]] = [
            (
                [_Listed(self.invoices[number], None, refs.Quality.EXACT) for number in numbers],
                {
                    SUGGESTION_ONLY: "one held back",
                    "amount": {"found_by": HELD_BACK, "held_back": [held]},
                },
            )
            for numbers, held in context.held_back[:MAX_SUGGESTIONS]
        ]
        suggested += [
            (
                [_Listed(self.invoices[number], None, refs.Quality.EXACT)],
                {SUGGESTION_ONLY: "less a charge"},
            )
            for charge in self._kept_charges(payment.currency)
            for number in self._open_at(payment, payment.amount_minor + charge)
        ][: 4 * MAX_SUGGESTIONS]
        proposals = [
            replace(proposal, evidence={**proposal.evidence, **why})
            for items, why in suggested
            if (proposal := self._settle(context, items, "amount")) is not None
        ]
        if not proposals:
            return ()
        rows = self._rows(proposals, False)
        return tuple(self._ranked(proposals, rows, self.scorer.predict(rows))[:MAX_SUGGESTIONS])

    def _open_at(self, payment: IncomingPayment, minor: int) -> list[str]:
        """The open invoices, of any customer, whose open amount is exactly ``minor`` in the
        payment's currency, issued by its date."""
        return [
            number
            for number in self.by_amount.get(minor, ())
            if self.open[number] == minor
            and self.invoices[number].currency == payment.currency
            and self.invoices[number].issue_date <= payment.value_date
        ]

    def _discounted_to(self, payment: IncomingPayment) -> list[str]:
        """The open invoices whose early-payment discount, earned by the payment's date (give or
        take the days money takes to arrive), takes them to exactly the amount: one invoice paid
        net of its discount, by a payer nobody can name (a payment platform). Looked up in net
        amounts built once for the whole ledger."""
        if self._by_discounted is None:
            self._by_discounted = defaultdict(list)
            for number, open_minor in self.open.items():
                terms = DiscountTerms.parse(self.invoices[number].terms)
                if terms is not None and open_minor > 0:
                    self._by_discounted[open_minor - terms.discount(open_minor)].append(number)
        return [
            number
            for number in self._by_discounted.get(payment.amount_minor, ())
            if self.invoices[number].issue_date <= payment.value_date
            and self._net_of_earned_discount(payment, number)
        ]

    def _pairs_of(self, payment: IncomingPayment) -> list[tuple[str, ...]]:
        """Two invoices of one customer, next to each other in due-date order (or one apart),
        that add up to exactly the amount: what a payer nobody can name most often pays when
        no single invoice is the amount. Looked up in sums built once for the whole ledger."""
        if self._pair_sums is None:
            self._pair_sums = _PairSums(self.by_customer, self.open)
        found: list[tuple[str, ...]] = []
        for first, second in self._pair_sums.adding_up_to(payment.amount_minor):
            a, b = self.invoices[first], self.invoices[second]
            if (
                self.open[first] == a.open_minor
                and self.open[second] == b.open_minor
                and a.currency == b.currency == payment.currency
                and max(a.issue_date, b.issue_date) <= payment.value_date
            ):
                found.append((first, second))
        return found

    def _oldest_of(self, payment: IncomingPayment) -> list[tuple[tuple[str, ...], str, str]]:
        """A customer's oldest open invoices, two or more, that add up to exactly the amount,
        or one or more less one of its credit memos, or with one of them held back: what a
        payment platform's run pays for a customer whom nothing in the payment names (its credit
        memos left open, or one taken; a disputed invoice left for later).
        Looked up in sums kept for the whole ledger; each set with how it was found and the
        invoice held back ("" for none)."""
        if self._oldest_sums is None:
            self._oldest_sums = _OldestSums(self.by_customer, self.open)
        return [
            (numbers, how, held)
            for numbers, how, held in self._oldest_sums.adding_up_to(payment.amount_minor)
            if all(
                self.invoices[n].currency == payment.currency
                and self.invoices[n].issue_date <= payment.value_date
                for n in numbers
            )
        ]

    def _search(
        self, items: list[OpenAmount], low: int, high: int, limit: int, started: float
    ) -> SubsetSearch:
        """One subset search within the work budget (and the safety-net clock from ``started``)."""
        left = started + self.settings.subset_budget_seconds - time.perf_counter()
        nodes, sums = self.settings.subset_max_nodes, self.settings.subset_max_sums
        if any(low <= i.amount <= high for i in items):
            # One open item is the amount: the search only looks for a rival set, and the
            # scorer weighs whether it finished (``subset_complete``).
            nodes, sums = self.settings.subset_rival_nodes, self.settings.subset_rival_sums
        return find_subsets(
            items,
            low,
            high,
            limit=limit,
            budget_seconds=max(left, 0.0),
            max_nodes=nodes,
            max_sums=sums,
        )

    def _discounted(self, items: list[OpenAmount]) -> list[OpenAmount] | None:
        changed = False
        out = []
        for item in items:
            terms = DiscountTerms.parse(self.invoices[item.key].terms)
            if terms is not None and item.amount > 0:
                out.append(
                    OpenAmount(item.key, item.amount - terms.discount(item.amount), item.rank)
                )
                changed = True
            else:
                out.append(item)
        return out if changed else None

    def _open_amounts(self, customer_id: str, issued_by: date) -> list[OpenAmount]:
        """The open items of the customer's family in due-date order (the rank), leaving out
        items issued after ``issued_by``: a payment cannot be for an invoice not yet sent."""
        family = self.payers.family(customer_id)
        invoices, open_ = self.invoices, self.open
        by_customer, issued_on = self.by_customer, self._issued_on
        numbers = [
            n
            for c in sorted(family)
            for n, issued in zip(by_customer.get(c, ()), issued_on.get(c, ()), strict=True)
            if issued <= issued_by
        ]
        if len(family) > 1:  # each customer's list is already in due-date order
            numbers.sort(key=lambda n: (invoices[n].due_date, n))
        return [OpenAmount(n, open_[n], rank) for rank, n in enumerate(numbers) if open_[n]]

    def _full(self, number: str) -> Allocation:
        amount = self.open[number]
        kind = ApplicationKind.CREDIT_MEMO if amount < 0 else ApplicationKind.FULL
        return Allocation(number, amount, 0, kind)

    # -- scoring and the verdict -------------------------------------------------------------

    def _features(
        self,
        context: _Context,
        listed: list[_Listed],
        allocations: list[Allocation],
        strategy: str,
        customer_id: str,
    ) -> dict[str, float]:
        payment = context.payment
        family = self.payers.family(customer_id)
        mine = [c for c in context.payers.values() if c.customer_id in family]
        others = [c for c in context.payers.values() if c.customer_id not in family]
        payer = max(mine, key=lambda c: c.score) if mine else None
        kinds = {a.kind for a in allocations}
        adjustments = sum(a.adjustment_minor for a in allocations)
        lines = [x.line for x in listed if x.line is not None]
        qualities = [int(x.quality) for x in listed]
        days_late = [(payment.value_date - x.invoice.due_date).days for x in listed]
        declared = sum(
            1
            for x, a in zip(listed, allocations, strict=False)
            if x.line is not None
            and a.adjustment_minor
            and a.adjustment_minor in (x.line.discount_minor, x.line.deduction_minor)
        )
        # A discount that equals the terms' percentage is arithmetic, not a guess.
        adjusted = sum(
            1
            for a in allocations
            if (a.adjustment_minor and a.kind is not ApplicationKind.DISCOUNT)
            or a.kind is ApplicationKind.PARTIAL
        )
        features = {
            "payer_score": payer.score if payer else 0.0,
            "adjustments_declared": float(declared),
            "adjustments_inferred": float(max(adjusted - declared, 0)),
            "payer_rival_score": max((c.score for c in others), default=0.0),
            "payer_candidates": float(len(context.payers)),
            "strategy": float(STRATEGIES.index(strategy)),
            "invoices": float(len(listed)),
            "ref_worst_quality": float(max(qualities))
            if strategy in ("advice", "references")
            else -1.0,
            "ref_one_edit": float(sum(q == refs.Quality.ONE_EDIT for q in qualities))
            if strategy in ("advice", "references")
            else 0.0,
            "refs_unresolved": float(len(context.unresolved)),
            "refs_refitted": float(context.refitted),
            "lines_unfit": float(
                sum(
                    1
                    for x in listed
                    if x.line is not None
                    and (wanted := _line_amounts(x.line))
                    and self.open[x.invoice.invoice_number] not in wanted
                )
            ),
            "refs_ambiguous": float(context.ambiguous),
            "adjustment_ratio": adjustments / payment.amount_minor,
            "on_account_ratio": sum(a.applied_minor for a in allocations if not a.invoice_number)
            / payment.amount_minor,
            "text_length": float(len(payment.remittance_text)),
            "discount": float(ApplicationKind.DISCOUNT in kinds),
            "short_pay": float(ApplicationKind.SHORT_PAY in kinds),
            "write_off": float(ApplicationKind.WRITE_OFF in kinds),
            "overpayment": float(ApplicationKind.OVERPAYMENT in kinds),
            "partial": float(ApplicationKind.PARTIAL in kinds),
            "credit_memo": float(ApplicationKind.CREDIT_MEMO in kinds),
            "advice_confidence": min((line.confidence for line in lines), default=1.0)
            if lines
            else (min((a.confidence for a in context.advices), default=-1.0)),
            "advices": float(len(context.advices)),
            "days_late_max": float(max(days_late, default=0)),
            "days_late_min": float(min(days_late, default=0)),
            "log_amount": math.log10(max(payment.amount_minor, 1)),
            "has_payer_name": float(bool(compact(payment.payer_name))),
            "has_text": float(bool(payment.remittance_text.strip())),
        }
        for source in SOURCES:
            features[f"payer_by_{source}"] = float(payer is not None and payer.source == source)
        # A bank keeps whole units (15.00); a near miss by chance differs by any cents.
        whole = bool(adjustments) and adjustments % _unit(payment.currency) == 0
        features["adjustment_whole_units"] = float(whole)
        reasons = {part for a in allocations for part in a.reason.split(";")}
        for reason in WRITE_OFF_REASONS:
            features[f"written_off_{reason}"] = float(reason in reasons)
        return features

    @staticmethod
    def _rows(proposals: list[Proposal], duplicate: bool) -> list[dict[str, float]]:
        rows = []
        for proposal in proposals:
            row = dict(proposal.features)
            row.update(proposals=float(len(proposals)), suspected_duplicate=float(duplicate))
            for key in FEATURES:
                row.setdefault(key, 0.0)
            rows.append(row)
        return rows

    @staticmethod
    def _ranked(
        proposals: list[Proposal], rows: list[dict[str, float]], chances: Sequence[float]
    ) -> list[tuple[Proposal, float]]:
        """Every proposal with its chance, most likely first (a decision shows the first
        :data:`MAX_SUGGESTIONS`; all of them weigh in the verdict)."""
        return sorted(
            (
                (replace(p, features=r), prob)
                for p, r, prob in zip(proposals, rows, chances, strict=True)
            ),
            key=lambda pair: -pair[1],
        )

    def _verdict(
        self,
        context: _Context,
        ranked: list[tuple[Proposal, float]],
        duplicate: IncomingPayment | None,
    ) -> Decision:
        """Apply the best proposal or send the payment to an analyst (see :meth:`_judged`),
        its allocations booked as the ledger's settings want them (see :meth:`_as_configured`).

        A proposal putting the payment's cash on an invoice in another currency is neither
        applied nor suggested (no rate converts it here, and 1,000 EUR booked on a USD
        invoice is money applied wrongly); the invoices it named are in the evidence. Only
        suggested: one netting a credit memo of another customer family (see
        :meth:`_memo_of_a_stranger`), one paying a stranger's invoice a digit away from the
        payer's own of its amount (see :meth:`_strangers_invoice`), and every one of a payment
        naming a credit memo used up already."""
        identified = self._identified_families(context)
        used = [
            number
            for number, _ in context.paid_named
            if number in self._used_memos
            or (number in self.invoices and self.invoices[number].doc_type == "credit_memo")
        ]
        ranked = [
            (self._unanchored_run(self._marked(p, identified, used), context.payment), chance)
            for p, chance in ranked
        ]
        currency = context.payment.currency
        foreign = sorted(
            {
                a.invoice_number
                for proposal, _ in ranked
                for a in proposal.allocations
                if a.invoice_number and self.invoices[a.invoice_number].currency != currency
            }
        )
        if foreign:
            ranked = [(p, chance) for p, chance in ranked if not set(p.invoices) & set(foreign)]
        decision = self._judged(context, ranked, duplicate)
        if foreign:
            decision = replace(
                decision,
                evidence={
                    **decision.evidence,
                    "invoices_in_another_currency": [
                        {"invoice": n, "currency": self.invoices[n].currency} for n in foreign
                    ],
                },
            )
        if not self._left_open:
            return decision
        return replace(
            decision,
            applied=None if decision.applied is None else self._as_configured(decision.applied),
            ranked=tuple((self._as_configured(p), chance) for p, chance in decision.ranked),
        )

    def _marked(self, proposal: Proposal, identified: set[str], used: list[str]) -> Proposal:
        """``proposal``, marked suggestion-only when it must not be applied whatever its
        chance (see :meth:`_verdict`): ``identified``, the payer's families known for certain;
        ``used``, credit memos used up already that the payment names."""
        proposal = self._strangers_invoice(self._memo_of_a_stranger(proposal), identified)
        if used:
            # The credit it means to take is gone, and a shortfall beside it is no deduction
            # to book (it would credit the customer twice).
            return _suggestion_only(
                proposal, "names a credit memo used already", credit_memos_used=used
            )
        return proposal

    def _unanchored_run(self, proposal: Proposal, payment: IncomingPayment) -> Proposal:
        """``proposal``, marked suggestion-only when it is a run of invoices found by amount
        alone among more open items than the search sees through (:data:`MITM_MAX_ITEMS`) that
        neither starts at the payer's oldest open invoices (up to
        :data:`RUN_ANCHOR_OLDER_ITEMS` older ones left, disputed, say) nor ends near the
        payment (its last invoice due at most :data:`RUN_ANCHOR_DAYS` before it). Among
        thousands of items some run adds up to the cent by chance (about one payment in fifty
        with 2,000 items of some 800.00), while a payment run pays the oldest items or what
        falls due, not a stretch in the middle left behind for months."""
        if proposal.strategy != "subset" or SUGGESTION_ONLY in proposal.evidence:
            return proposal
        found_by = (proposal.evidence.get("subset") or {}).get("found_by")
        is_run = found_by in ("run", "run_with_items_held_back") or bool(
            proposal.features.get("subset_run")
        )
        if not is_run or proposal.features.get("subset_items", 0.0) <= MITM_MAX_ITEMS:
            return proposal
        paid = [
            self.invoices[a.invoice_number]
            for a in proposal.allocations
            if a.invoice_number and a.applied_minor > 0
        ]
        if not paid:
            return proposal
        first_due = min(i.due_date for i in paid)
        last_due = max(i.due_date for i in paid)
        if last_due >= payment.value_date - timedelta(RUN_ANCHOR_DAYS):
            return proposal
        taken = {i.invoice_number for i in paid}
        older = [
            number
            for customer in sorted(self.payers.family(proposal.customer_id))
            for number in self.by_customer.get(customer, ())
            if number not in taken
            and self.open.get(number, 0) > 0
            and self.invoices[number].doc_type == "invoice"
            and self.invoices[number].due_date < first_due
            and self.invoices[number].issue_date <= payment.value_date
        ]
        if len(older) <= RUN_ANCHOR_OLDER_ITEMS:
            return proposal
        return _suggestion_only(
            proposal,
            "a run in the middle of many open items, long overdue",
            older_open_invoices=len(older),
            last_due_date=last_due.isoformat(),
        )

    def _strangers_invoice(self, proposal: Proposal, identified: set[str]) -> Proposal:
        """``proposal``, marked suggestion-only when the payer is known for certain and it pays
        an invoice of a family not the payer's while the payer's own invoice of that amount is
        a digit away from its number: a typo landing on a stranger's invoice reads the same as
        a payment on a stranger's behalf, and only the payer knows which it was. (Without such
        a rival the number the payer wrote stands: companies pay for related ones the ledger
        does not link, and a shared name is no certain payer.)"""
        if not identified or SUGGESTION_ONLY in proposal.evidence:
            return proposal
        strangers = [
            a
            for a in proposal.allocations
            if a.invoice_number and self.invoices[a.invoice_number].customer_id not in identified
        ]
        if not strangers:
            return proposal
        own = [n for c in sorted(identified) for n in self.by_customer.get(c, ())]
        rivals = {
            a.invoice_number: hit.invoice_number
            for a in strangers
            for hit in self.references.neighbours(a.invoice_number, own)
            # of the cash, or of what it settles (a bank fee or a discount beside it)
            if self.open.get(hit.invoice_number)
            in (a.applied_minor, a.applied_minor + a.adjustment_minor)
        }
        if not rivals:
            return proposal
        return _suggestion_only(
            proposal,
            "another customer's invoice, the payer's own a digit away",
            payers_own_invoice_a_digit_away=rivals,
        )

    def _memo_of_a_stranger(self, proposal: Proposal) -> Proposal:
        """``proposal``, marked suggestion-only when a credit memo it nets belongs to no family
        of the invoices it pays: a customer's credit is not another company's to spend, and a
        remittance quoting one is a mistake for an analyst to see, never to book."""
        memos = [
            a.invoice_number
            for a in proposal.allocations
            if a.invoice_number and self.invoices[a.invoice_number].doc_type == "credit_memo"
        ]
        if not memos or SUGGESTION_ONLY in proposal.evidence:
            return proposal
        paid = {
            self.invoices[a.invoice_number].customer_id
            for a in proposal.allocations
            if a.invoice_number and a.applied_minor > 0
        }
        families = set().union(*(self.payers.family(c) for c in paid))
        strangers = [n for n in memos if self.invoices[n].customer_id not in families]
        if not strangers:
            return proposal
        return _suggestion_only(
            proposal,
            "credit memo of another customer",
            credit_memos_of_another_customer=strangers,
        )

    def _as_configured(self, proposal: Proposal) -> Proposal:
        """``proposal`` with the settlements the settings leave open booked as partial payments:
        a shortfall the payer gave no reason for (``unspecified_short_pay``) and a discount
        taken after its window (``unearned_discount``) stay open on the invoice for collections
        to chase, instead of going to the deduction team as deductions that close it."""
        allocations: list[Allocation] = []
        left: list[str] = []
        for a in proposal.allocations:
            if a.invoice_number and (a.kind, a.reason) in self._left_open:
                left.append(a.invoice_number)
                if a.applied_minor:
                    allocations.append(
                        Allocation(a.invoice_number, a.applied_minor, 0, ApplicationKind.PARTIAL)
                    )
            else:
                allocations.append(a)
        if not left:
            return proposal
        evidence = {**proposal.evidence, "left_open": left}
        return replace(proposal, allocations=tuple(allocations), evidence=evidence)

    def _judged(
        self,
        context: _Context,
        ranked: list[tuple[Proposal, float]],
        duplicate: IncomingPayment | None,
    ) -> Decision:
        payment = context.payment
        evidence: dict[str, Any] = {
            "payers": [
                {
                    "customer": c.customer_id,
                    "score": c.score,
                    "source": c.source,
                    "matched": c.detail,
                }
                for c in sorted(context.payers.values(), key=lambda c: -c.score)[:MAX_SUGGESTIONS]
            ],
            "unresolved_references": context.unresolved[:10],
            "scorer": f"{self.scorer.name}:{self.scorer.version}",
        }
        if shared := self.payers.intermediary(payment.payer_name, payment.payer_account):
            evidence["intermediary"] = shared
        # A payment naming only its payer's own invoices that are paid already is paid twice,
        # most likely, for the analyst to refund or keep on account; never moved by its amount
        # onto invoices it does not name.
        paid = [] if duplicate is not None or context.listed else self._own_paid_named(context)
        if duplicate is not None:
            evidence["duplicate_of"] = duplicate.payment_id
        if paid:
            evidence["names_paid_invoices"] = paid
        if duplicate is not None or paid:
            return Decision(
                payment.payment_id,
                None,
                0.0,
                ExceptionReason.SUSPECTED_DUPLICATE,
                tuple(ranked[:MAX_SUGGESTIONS]),
                evidence,
            )
        if not ranked:
            reason = (
                ExceptionReason.NO_CANDIDATE if context.payers else ExceptionReason.UNKNOWN_PAYER
            )
            # Never applied: only somewhere for the analyst to start.
            return Decision(
                payment.payment_id, None, 0.0, reason, self._only_suggested(context), evidence
            )
        shown = tuple(ranked[:MAX_SUGGESTIONS])
        # What is only suggested neither is applied nor stands in the way of what may be (most
        # often a variant of a proposal that is not, so one of those is left).
        ranked = [(p, chance) for p, chance in ranked if SUGGESTION_ONLY not in p.evidence]
        if not ranked:
            # Only invoices of strangers to a payer known for certain, or of anyone for a round
            # sum from nobody: suggestions, never applied.
            reason = (
                ExceptionReason.LOW_CONFIDENCE if context.payers else ExceptionReason.UNKNOWN_PAYER
            )
            return Decision(payment.payment_id, None, shown[0][1], reason, shown, evidence)
        best, probability = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if deducted := [a for a in context.advices if a.unassigned_deduction_minor]:
            # The payer took something off the whole remittance and tied it to no invoice:
            # which invoice bears it, or whether it is a claim of its own, is the analyst's.
            evidence["deduction_on_no_invoice"] = [
                {
                    "advice": a.advice_id,
                    "amount_minor": a.unassigned_deduction_minor,
                    "reason": a.unassigned_reason,
                }
                for a in deducted
            ]
            reason = ExceptionReason.AMOUNT_MISMATCH
        elif best.features.get("mismatch", 0) > 0:
            reason = ExceptionReason.AMOUNT_MISMATCH
        elif passed_over := self._named_passed_over(context, best):
            # The amount fits a set of the payer's items, but the payer named others of them:
            # the list and the amount disagree, and only the payer knows which is right.
            evidence["named_but_left_out"] = passed_over
            reason = ExceptionReason.AMOUNT_MISMATCH
        elif (chance := best.evidence.get("subset", {}).get(CHANCE_FITS, 0.0)) > CHANCE_FITS_MAX:
            evidence["fits_by_chance"] = chance
            reason = ExceptionReason.AMBIGUOUS
        elif _discount_with_no_charge(best):
            evidence["discount_and_a_difference_no_charge"] = best.evidence.get("shortfall")
            reason = ExceptionReason.LOW_CONFIDENCE
        elif best.strategy in ("subset", "amount") and (
            missing := self._numbers_like_ours(context.unresolved)
        ):
            # The payer names invoices written as this ledger writes its numbers that it does
            # not hold (the ERP's export behind the billing): money found a place by amount
            # among other invoices is for an analyst to confirm.
            evidence["names_invoices_not_in_the_ledger"] = missing
            reason = ExceptionReason.LOW_CONFIDENCE
        elif (
            chosen := _best_of_rivals([p for _, p in ranked])
            if runner_up >= RIVAL_FLOOR
            else probability
        ) >= self.scorer.threshold:
            # Applied when, at most one of the payment's proposals being right, the best is
            # the right one with the threshold's chance: weighed against every rival once one
            # has a chance in ten, not only once one is as likely as not (a deduction nearly
            # as likely as the overpayment it was ranked below).
            if runner_up >= RIVAL_FLOOR:
                evidence["best_among_rivals"] = round(chosen, 4)
            return Decision(payment.payment_id, best, probability, None, shown, evidence)
        else:
            if probability >= self.scorer.threshold:
                # Likely enough alone, but not against its rivals.
                evidence["best_among_rivals"] = round(chosen, 4)
            if not context.payers and best.strategy == "amount":
                reason = ExceptionReason.UNKNOWN_PAYER
            elif len(ranked) > 1 and runner_up >= 0.5 * probability:
                reason = ExceptionReason.AMBIGUOUS
            else:
                reason = ExceptionReason.LOW_CONFIDENCE
        return Decision(payment.payment_id, None, probability, reason, shown, evidence)

    def _numbers_like_ours(self, references: Sequence[str]) -> list[str]:
        """The references written as this ledger writes its invoice numbers (the same letters
        before as many digits, 'INV-300099' beside 'INV-300001') that it holds no invoice of."""
        if self._number_shapes is None:
            shapes = (_number_shape(n) for n, i in self.invoices.items() if i.doc_type == "invoice")
            self._number_shapes = {shape for shape in shapes if shape is not None}
            self._number_keys = {refs.key(n) for n in self.invoices} | set(self._paid)
        return [
            r
            for r in references
            if _number_shape(r) in self._number_shapes and refs.key(r) not in self._number_keys
        ]

    def _own_paid_named(self, context: _Context) -> list[str]:
        """The paid invoices the payment names that are its payer's own, known for certain."""
        identified = self._identified_families(context)
        return [number for number, owner in context.paid_named if owner in identified]

    def _named_passed_over(self, context: _Context, proposal: Proposal) -> list[str]:
        """The open invoices the payer named, of the customer whose items ``proposal`` settles
        found by amount, that it leaves out."""
        if proposal.strategy != "subset":
            return []
        taken = set(proposal.invoices)
        return sorted(
            x.invoice.invoice_number
            for x in context.listed
            if x.invoice.customer_id == proposal.customer_id
            and x.invoice.invoice_number not in taken
            and self.open.get(x.invoice.invoice_number, 0) != 0
        )

    # -- duplicates and helpers --------------------------------------------------------------

    def _payer_key(self, payment: IncomingPayment) -> str:
        return payment.payer_account or compact(payment.payer_name) or payment.customer_reference

    def _remember(self, payment: IncomingPayment) -> None:
        key = (payment.currency, payment.amount_minor, self._payer_key(payment))
        self._seen[key].append(payment)

    def _duplicate_of(self, context: _Context) -> IncomingPayment | None:
        """The same money sent twice: an earlier payment of the same amount a few days before,
        applied to a customer this payer may be whose invoices include everything this payment
        names (or it names none); or from the same payer with the same remittance; or from the
        same payer and still unapplied, whatever its remittance says (a payer who sends a
        payment again often words it differently, and the first copy waits for an analyst:
        the second must not settle what the first may be for)."""
        payment = context.payment
        window = timedelta(days=self.settings.duplicate_window_days)
        families = None
        for settled in self._settled.get((payment.currency, payment.amount_minor), ()):
            earlier = settled.payment
            if earlier.payment_id == payment.payment_id:
                continue
            if abs(payment.value_date - earlier.value_date) > window:
                continue
            if families is None:
                families = self._families(context)
            if settled.customer_id in families and context.named <= settled.invoices:
                return earlier
        if not self._payer_key(payment):
            return None
        for earlier in self._seen.get(
            (payment.currency, payment.amount_minor, self._payer_key(payment)), ()
        ):
            if earlier.payment_id == payment.payment_id:
                continue
            if abs(payment.value_date - earlier.value_date) > window:
                continue
            same_text = compact(earlier.remittance_text) == compact(payment.remittance_text)
            if same_text or not self._applied(earlier):
                return earlier
        return None

    def _applied(self, payment: IncomingPayment) -> bool:
        """Whether ``payment`` was applied (in this run or recently before it)."""
        return any(
            settled.payment.payment_id == payment.payment_id
            for settled in self._settled.get((payment.currency, payment.amount_minor), ())
        )

    def _minor(self, currency: str, major: Any) -> int:
        return from_decimal(major, currency)


class _PairSums:
    """The sums of every two open invoices of a customer that are next to each other in
    due-date order, or one apart, as the open amounts stand when first asked for (the caller
    skips pairs whose items a payment has touched since): sorted arrays, so a look-up is a
    binary search and a million items cost tens of megabytes, not a dictionary."""

    def __init__(self, by_customer: dict[str, list[str]], open_: dict[str, int]) -> None:
        self.numbers: list[str] = []
        firsts: list[int] = []
        seconds: list[int] = []
        for numbers in by_customer.values():
            debits = [n for n in numbers if open_[n] > 0]
            base = len(self.numbers)
            self.numbers.extend(debits)
            for k in range(len(debits)):
                for step in (1, 2):
                    if k + step < len(debits):
                        firsts.append(base + k)
                        seconds.append(base + k + step)
        amounts = np.array([open_[n] for n in self.numbers], dtype=np.int64)
        first = np.array(firsts, dtype=np.int64)
        second = np.array(seconds, dtype=np.int64)
        sums = amounts[first] + amounts[second] if len(first) else np.zeros(0, dtype=np.int64)
        order = np.argsort(sums, kind="stable")
        self.sums, self.first, self.second = sums[order], first[order], second[order]

    def adding_up_to(self, amount: int) -> list[tuple[str, str]]:
        low = int(np.searchsorted(self.sums, amount, side="left"))
        high = int(np.searchsorted(self.sums, amount, side="right"))
        return [
            (self.numbers[int(self.first[k])], self.numbers[int(self.second[k])])
            for k in range(low, high)
        ]


class _OldestSums:
    """For every customer, the sums of its oldest open invoices (the two oldest, the three
    oldest, ... up to :data:`OLDEST_RUN_MAX`), credit memos left out, by sum; the same with one
    of them held back, among the oldest :data:`OLDEST_HELD_BACK_MAX` (never the last: that is a
    shorter run); and, for a customer with at most :data:`OLDEST_RUN_MEMOS` open credit memos,
    the sums of its oldest invoices (the oldest, the two oldest, ...) less each memo. A
    customer's sums are worked out again when asked for after a payment touched its items."""

    def __init__(self, by_customer: dict[str, list[str]], open_: dict[str, int]) -> None:
        self.by_customer, self.open = by_customer, open_
        # (customer, how many oldest, credit memo taken or "", invoice held back or "")
        self.by_sum: dict[int, list[tuple[str, int, str, str]]] = {}
        self.sums: dict[str, set[int]] = {}
        self.stale: set[str] = set(by_customer)

    def touch(self, customer_id: str) -> None:
        self.stale.add(customer_id)

    def adding_up_to(self, amount: int) -> list[tuple[tuple[str, ...], str, str]]:
        """The sets that add up to ``amount``, each with how it was found and the invoice held
        back, if any (for the evidence)."""
        for customer_id in sorted(self.stale):  # the same order of sets whatever the hashing
            self._refresh(customer_id)
        self.stale.clear()
        found: list[tuple[tuple[str, ...], str, str]] = []
        for customer_id, count, memo, held in self.by_sum.get(amount, ()):
            oldest = self._oldest(customer_id, count)
            if memo:
                found.append(((*oldest, memo), "oldest_invoices_less_a_credit_memo", ""))
            elif held:
                found.append((tuple(n for n in oldest if n != held), HELD_BACK, held))
            else:
                found.append((oldest, "oldest_invoices", ""))
        return found

    def _oldest(self, customer_id: str, count: int = OLDEST_RUN_MAX) -> tuple[str, ...]:
        """The customer's ``count`` oldest open invoices (its list is in due-date order)."""
        numbers = (n for n in self.by_customer.get(customer_id, ()) if self.open[n] > 0)
        return tuple(itertools.islice(numbers, count))

    def _refresh(self, customer_id: str) -> None:
        for total in self.sums.pop(customer_id, ()):
            entries = self.by_sum[total]
            entries[:] = [e for e in entries if e[0] != customer_id]
            if not entries:
                del self.by_sum[total]
        memos = [n for n in self.by_customer.get(customer_id, ()) if self.open[n] < 0]
        if len(memos) > OLDEST_RUN_MEMOS:
            memos = []
        totals: set[int] = set()

        def keep(total: int, count: int, memo: str = "", held: str = "") -> None:
            self.by_sum.setdefault(total, []).append((customer_id, count, memo, held))
            totals.add(total)

        total = 0
        oldest = self._oldest(customer_id)
        for count, number in enumerate(oldest, start=1):
            total += self.open[number]
            for memo in memos:
                if total + self.open[memo] > 0:
                    keep(total + self.open[memo], count, memo)
            if count >= 2:
                keep(total, count)
            if 3 <= count <= OLDEST_HELD_BACK_MAX:
                for held in oldest[: count - 1]:
                    keep(total - self.open[held], count, held=held)
        self.sums[customer_id] = totals


def _cash_before_write_offs(
    allocations: list[Allocation], residual: int
) -> tuple[list[Allocation], int]:
    """``allocations`` with the payment's cash left over (``residual``) paying the small
    differences they would write off, each whole while it lasts: a difference is never
    written off beside cash of the same payment put on account."""
    paid = list(allocations)
    for k, allocation in enumerate(allocations):
        gap = allocation.adjustment_minor
        if (
            allocation.kind is ApplicationKind.WRITE_OFF
            and allocation.reason == "small_difference"
            and 0 < gap <= residual
        ):
            paid[k] = Allocation(
                allocation.invoice_number,
                allocation.applied_minor + gap,
                0,
                ApplicationKind.FULL,
            )
            residual -= gap
    return paid, residual


def _nearest_items(items: Sequence[OpenAmount], amount: int, low: int, high: int) -> list[str]:
    """The items of an amount from ``low`` to ``high``, nearest to ``amount`` first."""
    return [
        key
        for _, key in sorted(
            (abs(i.amount - amount), i.key) for i in items if low <= i.amount <= high
        )
    ]


def _best_of_rivals(chances: Sequence[float]) -> float:
    """The chance that the first proposal is the right one, given that at most one of the
    payment's proposals is, from each one's own calibrated chance (taken as independent): its
    odds over one plus everyone's odds. Two proposals both certain make it 0 (nothing to
    choose between them); the only certain one makes it 1. With no rival of any chance it is
    the first's own chance, exactly."""
    if any(chance >= 1.0 for chance in chances[1:]):
        return 0.0
    if chances[0] >= 1.0:
        return 1.0
    rivals = sum(chance / (1.0 - chance) for chance in chances[1:])
    if rivals == 0.0:
        return chances[0]
    odds = chances[0] / (1.0 - chances[0])
    return odds / (1.0 + odds + rivals)


def _suggestion_only(proposal: Proposal, why: str, **found: Any) -> Proposal:
    """``proposal`` marked never to be applied, only suggested, for ``why``, with what was
    found in its evidence."""
    return replace(proposal, evidence={**proposal.evidence, SUGGESTION_ONLY: why, **found})


def _discount_with_no_charge(proposal: Proposal) -> bool:
    """A set found by amount only once discounts and a bank charge were allowed for, whose
    difference beyond the discounts is no charge after all (not whole units, not an FX
    difference): two guesses stacked, never applied."""
    subset = proposal.evidence.get("subset") or {}
    shortfall = proposal.evidence.get("shortfall")
    return (
        subset.get("tolerance") == "discount_charge"
        and isinstance(shortfall, str)
        and shortfall.rsplit(";", 1)[-1] not in ("bank_fee", "fx_difference")
    )


def _exact(proposal: Proposal) -> bool:
    """Whether ``proposal`` settles its items in full with nothing written off or left over."""
    return all(
        a.invoice_number
        and a.adjustment_minor == 0
        and a.kind in (ApplicationKind.FULL, ApplicationKind.CREDIT_MEMO)
        for a in proposal.allocations
    )


def _scattered(proposal: Proposal) -> bool:
    """Whether some of ``proposal``'s items were found by their amount alone, scattered among
    the payer's items: no run, no list, no due date picked them."""
    subset = proposal.evidence.get("subset", {})
    added = proposal.evidence.get("added_items", {})
    return subset.get("found_by") == "search" or added.get("how") == "only_fitting_set"


def _unit(currency: str) -> int:
    """One whole unit of ``currency`` in minor units (100 for USD, 1 for JPY)."""
    return int(10 ** max(exponent(currency), 0))


def _with_memos(
    keys: Sequence[str], memos: dict[str, tuple[str, ...]]
) -> tuple[tuple[str, ...], list[str]]:
    """``keys`` followed by the credit memos folded into them, and those memos alone."""
    taken = [memo for key in keys for memo in memos.get(key, ())]
    return (*keys, *taken), taken


def _declared_total(advice: Advice) -> int | None:
    """What the advice says was paid: its total, else its lines' paid amounts added up."""
    if advice.total_minor is not None:
        return advice.total_minor
    return sum(line.paid_minor for line in advice.lines) or None


def _around(payment: IncomingPayment, advice: Advice) -> bool:
    """Whether ``payment`` is in the advice's currency and within :data:`ADVICE_PAYER_DAYS` of
    the day it says it paid (any day, for an undated advice)."""
    return payment.currency == advice.currency and _in_days(payment, advice)


def _in_days(payment: IncomingPayment, advice: Advice) -> bool:
    """Whether ``payment`` is within :data:`ADVICE_PAYER_DAYS` of the day the advice says it
    paid, in any currency (any day, for an undated advice)."""
    return (
        advice.payment_date is None
        or abs((payment.value_date - advice.payment_date).days) <= ADVICE_PAYER_DAYS
    )


def _nearest(payments: list[IncomingPayment], day: date) -> list[IncomingPayment]:
    """The payments whose value date is nearest ``day`` (all of them on a tie)."""
    nearest = min(abs(p.value_date - day) for p in payments)
    return [p for p in payments if abs(p.value_date - day) == nearest]


def _home_currency(invoices: Iterable[OpenInvoice]) -> str:
    """The currency most open items are in: the seller's own. Money in it was sent in it, with
    no conversion on the way to lose cents; a payment in another currency comes from abroad,
    converted at the payer's bank's rate. On a tie, the first in alphabetical order."""
    counts = Counter(i.currency for i in invoices)
    return min(counts, key=lambda c: (-counts[c], c)) if counts else ""


def _credits_by_invoice(invoices: Iterable[OpenInvoice]) -> dict[str, tuple[str, ...]]:
    """Open credit memos by the one open invoice of their customer that carries the same order
    (PO) number: the invoice they credit, whose payment usually takes them off. A memo whose
    order number several invoices share is left out: which one it credits is not known."""
    by_order: dict[tuple[str, str], list[OpenInvoice]] = defaultdict(list)
    for invoice in invoices:
        if invoice.po_number:
            by_order[(invoice.customer_id, invoice.po_number)].append(invoice)
    credits: dict[str, list[str]] = defaultdict(list)
    for group in by_order.values():
        debits = [i for i in group if i.open_minor > 0]
        if len(debits) == 1:
            credits[debits[0].invoice_number].extend(
                i.invoice_number for i in group if i.open_minor < 0
            )
    return {number: tuple(memos) for number, memos in credits.items() if memos}


def _main_customer(listed: Sequence[_Listed]) -> str:
    """The customer most of the listed invoices belong to ('' when none)."""
    counts: dict[str, int] = defaultdict(int)
    for item in listed:
        counts[item.invoice.customer_id] += 1
    return max(counts, key=lambda c: (counts[c], c)) if counts else ""


def _line_amounts(line: AdviceLine) -> set[int]:
    """The open amounts an advice line can be for: what it paid, before its discount and
    deduction, and its gross."""
    if not line.paid_minor:
        return set()
    wanted = {
        line.paid_minor,
        line.paid_minor + (line.discount_minor or 0) + (line.deduction_minor or 0),
    }
    if line.gross_minor:
        wanted.add(line.gross_minor)
    return wanted


def _scattered_by_chance(items: Sequence[OpenAmount], size: int, width: int) -> float:
    """How many sets of ``size`` of the items fit one amount of the payment's size on average,
    ``width`` amounts counting as a fit: the number of such sets times the chance of one
    landing on a given amount near the peak of their sums (normal, from the items' mean and
    spread). Capped, in log space, at a billion."""
    amounts = [i.amount for i in items]
    n = len(amounts)
    if size > n or n < 2:
        return 0.0
    spread = float(np.std(amounts))
    if spread == 0:  # every set of that size has the same sum
        return float(min(math.comb(n, size), 10**9))
    sets = math.lgamma(n + 1) - math.lgamma(size + 1) - math.lgamma(n - size + 1)
    density = -math.log(spread * math.sqrt(2 * math.pi * size))
    return math.exp(min(sets + density + math.log(width), math.log(1e9)))


def _number_shape(reference: str) -> tuple[str, int] | None:
    """The letters before a number and its count of digits ('INV-300099' -> ('INV', 6));
    None for anything else (a bare number, a word)."""
    found = _NUMBER_SHAPE.fullmatch(refs.key(reference))
    return (found.group(1), len(found.group(2))) if found else None


_NUMBER_SHAPE = re.compile(r"([A-Z]+)([0-9]{4,})")


def _is_run(items: Sequence[OpenAmount], solution: Sequence[str]) -> bool:
    keys = set(solution)
    ranks = sorted(i.rank for i in items if i.key in keys)
    return bool(ranks) and ranks[-1] - ranks[0] + 1 == len(ranks)


def link_advices(
    payments: Sequence[IncomingPayment], advices: Sequence[Advice], settings: MatchSettings
) -> tuple[dict[str, list[Advice]], dict[str, dict[str, str]]]:
    """Each advice with the payment it describes: the one named at ingest, else the payment its
    reference names (cheque number, end-to-end id; of copies of one payment on one day, the
    first in ``payments``), else the one payment of its total and currency within the date
    window. An advice that fits several payments stays unlinked.

    Every link by reference is made before any by amount: an advice that only shares a
    payment's total never takes the payment from the advice that names it. A payment several
    advices fit by amount alone goes with the one dated nearest it, or with none on a tie: of
    two advices of one total and date, which is whose is not known from the money, and each
    is left to be linked by its payer (see :meth:`Engine._link_by_payer`)."""
    linked: dict[str, list[Advice]] = defaultdict(list)
    how: dict[str, dict[str, str]] = {}
    known = {p.payment_id for p in payments}
    by_reference: dict[str, list[IncomingPayment]] = defaultdict(list)
    by_amount: dict[tuple[str, int], list[IncomingPayment]] = defaultdict(list)
    for p in payments:
        for reference in {p.customer_reference, p.end_to_end_id, p.bank_reference}:
            if refs.key(reference):
                by_reference[refs.key(reference)].append(p)
        by_amount[(p.currency, p.amount_minor)].append(p)
    taken: set[str] = set()

    def link(advice: Advice, payment: IncomingPayment, method: str) -> None:
        taken.add(payment.payment_id)
        linked[payment.payment_id].append(advice)
        how[payment.payment_id] = {"advice": advice.advice_id, "by": method}

    waiting = []  # advices to link by their total
    for advice in advices:
        if advice.payment_id:
            if advice.payment_id in known:
                linked[advice.payment_id].append(advice)
            continue
        named = _named_by_reference(advice, by_reference, taken)
        if named is None:
            waiting.append(advice)
        elif len(named[0]) == 1:
            link(advice, named[0][0], named[1])
    window = timedelta(days=settings.advice_window_days)
    payment_of = {p.payment_id: p for p in payments}
    while waiting:
        # payment -> the advices that fit it alone by amount
        claims: dict[str, list[tuple[Advice, str]]] = defaultdict(list)
        for advice in waiting:
            if found := _one_of_its_total(advice, by_amount, taken, window):
                claims[found[0].payment_id].append((advice, found[1]))
        changed: set[tuple[str, int]] = set()  # the totals a payment of was taken in
        placed: set[str] = set()
        for payment_id, claimed in claims.items():
            payment = payment_of[payment_id]
            if len(claimed) > 1:
                # Advices of one total: the one dated nearest the money, if only one is.
                gaps = [
                    abs(payment.value_date - a.payment_date) if a.payment_date else timedelta.max
                    for a, _ in claimed
                ]
                claimed = [c for c, gap in zip(claimed, gaps, strict=True) if gap == min(gaps)]
                if len(claimed) > 1:
                    continue
                claimed = [(claimed[0][0], "amount and date")]
            link(claimed[0][0], payment, claimed[0][1])
            changed.add((payment.currency, payment.amount_minor))
            placed.add(claimed[0][0].advice_id)
        # Advices of a total whose payments were taken may now fit one payment alone.
        waiting = [
            a
            for a in waiting
            if a.advice_id not in placed and (a.currency, _declared_total(a)) in changed
        ]
    return linked, how


def _older_memos(items: list[OpenAmount], last: int) -> list[OpenAmount]:
    """The credit memos among ``items`` ranked before rank ``last`` (a list's last named item):
    dated when issued, they sort before the invoices a payer takes them off."""
    return [i for i in items if i.rank < last and i.amount < 0]


def _one_of_its_total(
    advice: Advice,
    by_amount: dict[tuple[str, int], list[IncomingPayment]],
    taken: set[str],
    window: timedelta,
) -> tuple[IncomingPayment, str] | None:
    """The one free payment of ``advice``'s total and currency within ``window`` of its date
    (the nearest, when several are), and how; None when there is none or several."""
    total = _declared_total(advice)
    if total is None or not advice.currency:
        return None
    candidates = [
        p
        for p in by_amount.get((advice.currency, total), [])
        if p.payment_id not in taken
        and (advice.payment_date is None or abs(p.value_date - advice.payment_date) <= window)
    ]
    method = "amount"
    if len(candidates) > 1 and advice.payment_date is not None:
        candidates = _nearest(candidates, advice.payment_date)
        method = "amount and date"
    return (candidates[0], method) if len(candidates) == 1 else None


def _named_by_reference(
    advice: Advice, by_reference: dict[str, list[IncomingPayment]], taken: set[str]
) -> tuple[list[IncomingPayment], str] | None:
    """The payments ``advice``'s reference names, narrowed as far as its total and date allow,
    and how; None when it names none that is free (it is then linked by its total, if at all)."""
    key = refs.key(advice.payment_reference)
    candidates = [p for p in by_reference.get(key, []) if p.payment_id not in taken] if key else []
    if not candidates:
        return None
    method = "reference"
    total = _declared_total(advice)
    if total is not None and len(candidates) > 1:
        # Of the payments it names, the ones of its total (none, when the payer paid more or
        # less than the advice says: then all of them).
        candidates = [p for p in candidates if p.amount_minor == total] or candidates
    if len(candidates) > 1 and advice.payment_date is not None:
        # The same cheque presented twice: the advice is for the one of its date.
        candidates = _nearest(candidates, advice.payment_date)
        method = "reference and date"
    if len(candidates) > 1 and len({(p.amount_minor, p.value_date) for p in candidates}) == 1:
        # Copies of one payment on one day (the same cheque presented twice): the advice is
        # for the first reported, the later copy is the suspected duplicate.
        candidates = candidates[:1]
        method = "reference, first of its copies"
    return candidates, method


FEATURES = (
    "payer_score",
    "payer_rival_score",
    "payer_candidates",
    "strategy",
    "invoices",
    "ref_worst_quality",
    "ref_one_edit",
    "refs_unresolved",
    "refs_ambiguous",
    "refs_refitted",
    "lines_unfit",
    "adjustment_ratio",
    "on_account_ratio",
    "text_length",
    "adjustments_declared",
    "adjustments_inferred",
    "discount",
    "short_pay",
    "write_off",
    "overpayment",
    "partial",
    "credit_memo",
    "advice_confidence",
    "advices",
    "days_late_max",
    "days_late_min",
    "log_amount",
    "has_payer_name",
    "has_text",
    *(f"payer_by_{s}" for s in SOURCES),
    "adjustment_whole_units",
    *(f"written_off_{r}" for r in WRITE_OFF_REASONS),
    "mismatch",
    "added_by_subset",
    "added_shape",
    "added_gaps",
    "added_rivals",
    "subset_solutions",
    "subset_complete",
    "subset_rank",
    "subset_run",
    "subset_tolerance",
    "subset_items",
    "subset_gapped",
    "subset_gaps",
    "subset_exact_complete",
    "amount_twins",
    "proposals",
    "suspected_duplicate",
)
"""Every feature the scorer reads, in the order a model is trained on."""

"""Simulated worlds as labelled cash-application problems: load one into a ledger, read its
ground truth, label the engine's proposals and score its decisions.

Used to train the shipped match scorer (cold start) and by the matching benchmark. A ledger
payment finds its simulated payment through the bank reference the simulator writes
(the account's last four digits, then the payment number).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from duckdb import DuckDBPyConnection as Connection

from ledger.money import parse_amount
from ledger.settings import LedgerSettings
from matching.model import Proposal

SCENARIOS = (
    "exact_reference",
    "mistyped",
    "no_remittance",
    "lump_sum",
    "short_pay",
    "bank_fee",
    "overpayment",
    "duplicate",
    "unknown_payer",
)


@dataclass(frozen=True, slots=True)
class TruePayment:
    """What a simulated payment really pays.

    allocations: (invoice_number or '' for on account, cash applied in minor units), sorted;
    cleared: the same with what was written off added (what each invoice is cleared by);
    written_off: (reason, minor units) of every write-off, discount or deduction, sorted.
    """

    payment_id: str
    customer_id: str
    amount_minor: int
    tags: frozenset[str]
    allocations: tuple[tuple[str, int], ...]
    duplicate_of: str = ""
    bank_file: str = ""
    value_date: str = ""
    cleared: tuple[tuple[str, int], ...] = ()
    written_off: tuple[tuple[str, int], ...] = ()

    @property
    def invoices(self) -> set[str]:
        return {n for n, _ in self.allocations if n}

    @property
    def scenarios(self) -> list[str]:
        found = []
        if "duplicate" in self.tags:
            return ["duplicate"]
        if "no_remittance" in self.tags:
            found.append("no_remittance")
        elif "mistyped" in self.tags:
            found.append("mistyped")
        else:
            found.append("exact_reference")
        if len(self.invoices) >= 5:
            found.append("lump_sum")
        for tag in ("short_pay", "bank_fee", "overpayment"):
            if tag in self.tags:
                found.append(tag)
        if "payer_name_differs" in self.tags:
            found.append("unknown_payer")
        return found


def load_world(world: Path, home: Path) -> None:
    """Import the world's open items and ingest its bank files and advices into ``home``."""
    from pipelines.erp_import import import_erp_file
    from pipelines.ingest import ingest_paths

    settings = LedgerSettings(home=home)
    import_erp_file(world / "erp" / "open_items.csv", settings)
    ingest_paths([world / "bank", world / "remittances"], settings)


def read_truth(world: Path) -> dict[str, TruePayment]:
    """The window's payments by simulated payment id."""
    allocations: dict[str, list[tuple[str, int]]] = defaultdict(list)
    cleared: dict[str, list[tuple[str, int]]] = defaultdict(list)
    written_off: dict[str, list[tuple[str, int]]] = defaultdict(list)
    with (world / "truth" / "allocations.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            applied = parse_amount(row["applied_amount"], row["currency"])
            adjusted = parse_amount(row["adjustment_amount"], row["currency"])
            allocations[row["payment_id"]].append((row["invoice_number"], applied))
            cleared[row["payment_id"]].append((row["invoice_number"], applied + adjusted))
            if adjusted:
                written_off[row["payment_id"]].append((row["reason"], adjusted))
    truth = {}
    with (world / "truth" / "payments.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            pid = row["payment_id"]
            truth[pid] = TruePayment(
                pid,
                row["customer_id"],
                parse_amount(row["amount"], row["currency"]),
                frozenset(t for t in row["tags"].split(";") if t),
                _canonical(allocations[pid]),
                row["duplicate_of"],
                Path(row["bank_file"]).name,
                row["date"],
                _canonical(cleared[pid]),
                tuple(sorted(written_off[pid])),
            )
    return truth


def ledger_links(con: Connection, truth: dict[str, TruePayment]) -> dict[str, str]:
    """Ledger payment id -> simulated payment id."""
    links = {}
    by_place: dict[tuple[str, str, int], list[str]] = defaultdict(list)
    for true in truth.values():
        by_place[(true.bank_file, true.value_date, true.amount_minor)].append(true.payment_id)
    for payment_id, reference, file_name, day, amount in con.execute(
        "SELECT p.payment_id, p.bank_reference, f.name, CAST(coalesce(p.value_date, p.booking_date) AS VARCHAR), "
        "p.amount_minor FROM payments p LEFT JOIN ingested_files f ON f.file_id = p.source_file_id "
        "WHERE p.amount_minor > 0"
    ).fetchall():
        simulated = f"P{reference[4:]}"
        if simulated in truth:
            links[payment_id] = simulated
            continue
        # Statements without a bank reference (CSV): the file, the day and the amount.
        same = by_place.get((file_name or "", day, amount), [])
        if len(same) == 1:
            links[payment_id] = same[0]
    return links


def _canonical(pairs: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """Invoice allocations summed per invoice, on-account amounts summed into one ''."""
    sums: dict[str, int] = defaultdict(int)
    for invoice, minor in pairs:
        sums[invoice or ""] += minor
    return tuple(sorted((k, v) for k, v in sums.items() if v != 0 or k))


CHARGES = frozenset({"bank_fee", "fx_difference"})
"""Differences the payer's bank takes off the payment as a whole, not off one invoice."""


def proposal_is_right(proposal: Proposal, true: TruePayment) -> bool:
    """Right when it puts the same cash on the same invoices (and on account) as the truth;
    a duplicate payment has no right proposal: it must not be applied.

    A bank charge or FX difference is the payment's: which of the invoices it clears carries
    the write-off is a convention nothing in the payment states. So for a payment with one,
    the same invoices cleared by the same amounts, the same cash on account and the same
    write-offs for the same reasons is the same application, whichever invoice carries them.
    """
    if true.duplicate_of:
        return False
    mine = _canonical((a.invoice_number, a.applied_minor) for a in proposal.allocations)
    if mine == true.allocations:
        return True
    if not true.tags & CHARGES:
        return False
    cleared = _canonical(
        (a.invoice_number, a.applied_minor + a.adjustment_minor) for a in proposal.allocations
    )
    written_off = tuple(
        sorted((a.reason, a.adjustment_minor) for a in proposal.allocations if a.adjustment_minor)
    )
    return cleared == true.cleared and written_off == true.written_off


@dataclass
class Scorecard:
    """Counts behind the matching metrics, overall or for one scenario."""

    payments: int = 0
    amount_minor: int = 0
    applied: int = 0
    applied_right: int = 0
    applied_minor: int = 0
    applied_right_minor: int = 0
    account_right: int = 0
    invoices: int = 0
    invoices_right: int = 0
    exceptions: int = 0
    answerable_exceptions: int = 0
    suggested_right: int = 0
    duplicates: int = 0
    duplicates_held: int = 0

    def add(
        self,
        true: TruePayment,
        applied: Proposal | None,
        suggestions: Sequence[Proposal],
        customer_of: dict[str, str],
    ) -> None:
        self.payments += 1
        self.amount_minor += true.amount_minor
        self.invoices += len(true.invoices)
        if true.duplicate_of:
            self.duplicates += 1
            self.duplicates_held += applied is None
        if applied is None:
            self.exceptions += 1
            # A held duplicate has no right application to suggest: it is right as it stands.
            if not true.duplicate_of:
                self.answerable_exceptions += 1
                self.suggested_right += any(proposal_is_right(p, true) for p in suggestions)
            return
        self.applied += 1
        self.applied_minor += true.amount_minor
        right = proposal_is_right(applied, true)
        if right:
            self.applied_right += 1
            self.applied_right_minor += true.amount_minor
            self.invoices_right += len(true.invoices)
        customers = {customer_of.get(n, "") for n in applied.invoices}
        if (
            not true.duplicate_of
            and customers
            and customers <= {true.customer_id} | {customer_of.get(n, "") for n in true.invoices}
        ):
            self.account_right += 1

    def merge(self, other: Scorecard) -> None:
        """Add ``other``'s counts to these (several worlds pooled)."""
        for count in fields(self):
            setattr(self, count.name, getattr(self, count.name) + getattr(other, count.name))

    def figures(self) -> dict[str, float]:
        def share(a: int, b: int) -> float:
            return a / b if b else float("nan")

        return {
            "payments": self.payments,
            "account_hit_rate": share(self.account_right, self.payments),
            "invoice_hit_rate": share(self.invoices_right, self.invoices),
            "payment_hit_rate": share(self.applied_right, self.payments),
            "precision": share(self.applied_right, self.applied),
            "precision_by_amount": share(self.applied_right_minor, self.applied_minor),
            "exceptions_per_1000": 1000 * share(self.exceptions, self.payments),
            "suggestion_hit_rate": share(self.suggested_right, self.answerable_exceptions),
            "duplicates_held": share(self.duplicates_held, self.duplicates),
        }


@dataclass
class Evaluation:
    """A scorecard overall and per scenario."""

    overall: Scorecard = field(default_factory=Scorecard)
    by_scenario: dict[str, Scorecard] = field(default_factory=lambda: defaultdict(Scorecard))
    unlinked: int = 0

    def figures(self) -> dict[str, Any]:
        return {
            "overall": self.overall.figures(),
            "by_scenario": {
                s: self.by_scenario[s].figures() for s in SCENARIOS if s in self.by_scenario
            },
            "unlinked": self.unlinked,
        }


def truth_in_roles(
    decisions: Iterable[tuple[str, Proposal | None, Sequence[Proposal]]],
    links: dict[str, str],
    truth: dict[str, TruePayment],
) -> dict[str, TruePayment]:
    """The truth with the two copies of a duplicate payment in the roles the engine gave them.

    Whichever copy came first in the bank's order may be the one applied: when the copy was
    applied and the original held, the copy is owed the original's application and the
    original is the duplicate to hold.
    """
    applied = {links[p]: a is not None for p, a, _ in decisions if p in links}
    roles = dict(truth)
    for simulated, true in truth.items():
        original = true.duplicate_of
        if original and applied.get(simulated) and applied.get(original) is False:
            roles[simulated] = replace(truth[original], payment_id=simulated)
            roles[original] = replace(true, payment_id=original)
    return roles


def evaluate(
    decisions: Iterable[tuple[str, Proposal | None, Sequence[Proposal]]],
    links: dict[str, str],
    truth: dict[str, TruePayment],
    customer_of: dict[str, str],
) -> Evaluation:
    """Score (ledger payment id, applied proposal or None, suggestions) against the truth,
    the two copies of a duplicate payment in the roles the engine gave them
    (:func:`truth_in_roles`)."""
    result = Evaluation()
    decisions = list(decisions)
    roles = truth_in_roles(decisions, links, truth)
    for payment_id, applied, suggestions in decisions:
        simulated = links.get(payment_id)
        if simulated is None:
            result.unlinked += 1
            continue
        true = roles[simulated]
        result.overall.add(true, applied, suggestions, customer_of)
        for scenario in true.scenarios:
            result.by_scenario[scenario].add(true, applied, suggestions, customer_of)
    return result

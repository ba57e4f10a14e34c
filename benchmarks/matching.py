"""Cash application on fresh simulated worlds, beside two baselines measured in the same run,
and throughput on 100,000 payments against 1,000,000 open items.

Quality: a `realistic` and a `hard` world (seeds no scorer was trained on) are written to files,
ingested into a real ledger and matched by `arpilot match` itself. The same ledger data is given
to two baselines:

- exact reference: invoice numbers written exactly as the ERP has them, applied oldest first up
  to the amount, the rest on account (what open-source matchers do);
- greedy oldest-first: the customer whose name equals the payer name (case and punctuation
  folded) or whose number is in the text, its oldest open items until the money runs out.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from benchmarks.common import machine, median, run_timed
from ledger.db import open_ledger
from ledger.records import ApplicationKind
from ledger.settings import LedgerSettings
from matching import references as refs
from matching.engine import link_advices
from matching.model import Advice, Allocation, IncomingPayment, OpenInvoice, Proposal
from matching.names import compact
from matching.settings import MatchSettings
from matching.store import load_advices, load_invoices, load_payments, match_ledger
from pipelines.history_import import import_history
from pipelines.match import PRETRAINED, scorer_for
from pipelines.train_matcher import WorldSpec, make_world
from pipelines.worlds import (
    SCENARIOS,
    Evaluation,
    Scorecard,
    TruePayment,
    evaluate,
    ledger_links,
    load_world,
    read_truth,
)

WORLDS = (WorldSpec(9001, "realistic", 300, 6), WorldSpec(9002, "hard", 300, 6))
SPREAD = tuple(
    WorldSpec(seed, preset, 300, 6)
    for preset, first in (("realistic", 9011), ("hard", 9012))
    for seed in range(first, first + 16, 2)
)
"""Eight more fresh worlds of each preset, seeds no scorer was trained on: how much one world's
figures vary from world to world, and what they come to pooled."""
METRICS = (
    ("account_hit_rate", "account-level hit"),
    ("invoice_hit_rate", "invoice-level hit"),
    ("precision", "precision (count)"),
    ("precision_by_amount", "precision (amount)"),
    ("exceptions_per_1000", "exceptions / 1,000"),
    ("suggestion_hit_rate", "right answer among suggestions"),
    ("duplicates_held", "duplicate payments held"),
)


class _Baseline:
    """Shared bookkeeping: open amounts that shrink as the baseline applies cash."""

    def __init__(self, invoices: Sequence[OpenInvoice]) -> None:
        self.invoices = {i.invoice_number: i for i in invoices}
        self.open = {i.invoice_number: i.open_minor for i in invoices}

    def _apply(
        self, payment: IncomingPayment, numbers: Sequence[str], customer: str
    ) -> Proposal | None:
        left = payment.amount_minor
        allocations = []
        for number in sorted(numbers, key=lambda n: (self.invoices[n].due_date, n)):
            if left <= 0 or self.open[number] <= 0:
                continue
            take = min(left, self.open[number])
            kind = ApplicationKind.FULL if take == self.open[number] else ApplicationKind.PARTIAL
            allocations.append(Allocation(number, take, 0, kind))
            self.open[number] -= take
            left -= take
        if not allocations:
            return None
        if left:
            allocations.append(Allocation("", left, 0, ApplicationKind.ON_ACCOUNT))
        return Proposal(customer, tuple(allocations), "baseline")


class ExactReference(_Baseline):
    def decide(self, payment: IncomingPayment, advices: Sequence[Advice]) -> Proposal | None:
        written = [line.reference for a in advices for line in a.lines] or refs.tokens(
            payment.remittance_text
        )
        by_key = {refs.key(n): n for n in self.open}
        numbers = [by_key[refs.key(r)] for r in written if refs.key(r) in by_key]
        customer = self.invoices[numbers[0]].customer_id if numbers else ""
        return self._apply(payment, list(dict.fromkeys(numbers)), customer)


class GreedyOldestFirst(_Baseline):
    def __init__(
        self, invoices: Sequence[OpenInvoice], customers: Sequence[tuple[str, str]]
    ) -> None:
        super().__init__(invoices)
        self.by_name = {compact(name): cid for cid, name in customers}
        self.ids = {cid.upper(): cid for cid, _ in customers}
        self.items: dict[str, list[str]] = {}
        for number, invoice in self.invoices.items():
            self.items.setdefault(invoice.customer_id, []).append(number)

    def decide(self, payment: IncomingPayment, advices: Sequence[Advice]) -> Proposal | None:
        customer = self.by_name.get(compact(payment.payer_name), "")
        if not customer:
            words = [w.upper() for w in payment.remittance_text.split()]
            customer = next((self.ids[w] for w in words if w in self.ids), "")
        if not customer:
            return None
        return self._apply(payment, self.items.get(customer, []), customer)


def _baseline_rows(home: Path, which: str) -> list[tuple[str, Proposal | None, list[Proposal]]]:
    with open_ledger(LedgerSettings(home=home).ledger_path, read_only=True) as con:
        invoices = load_invoices(con)
        payments = load_payments(con)
        advices = load_advices(con)
        customers = con.execute(
            "SELECT customer_id, name FROM customers ORDER BY customer_id"
        ).fetchall()
    linked, _ = link_advices(payments, advices, MatchSettings())
    baseline = (
        ExactReference(invoices) if which == "exact" else GreedyOldestFirst(invoices, customers)
    )
    return [(p.payment_id, baseline.decide(p, linked.get(p.payment_id, [])), []) for p in payments]


def _engine_rows(
    home: Path, scorer_choice: str
) -> tuple[list[tuple[str, Proposal | None, list[Proposal]]], str, float]:
    """Run `match_ledger` on the real ledger and read its decisions back."""
    settings = LedgerSettings(home=home)
    scorer = scorer_for(home, scorer_choice)
    with open_ledger(settings.ledger_path) as con:
        start = time.perf_counter()
        summary = match_ledger(con, scorer, MatchSettings())
        seconds = time.perf_counter() - start
        applied: dict[str, list[Allocation]] = {}
        for payment_id, invoice, applied_minor, adjustment, kind, reason in con.execute(
            "SELECT payment_id, coalesce(invoice_number, ''), applied_minor, adjustment_minor, "
            "kind, coalesce(reason, '') FROM applications WHERE run_id = ?",
            [summary.run_id],
        ).fetchall():
            applied.setdefault(payment_id, []).append(
                Allocation(invoice, applied_minor, adjustment, ApplicationKind(kind), reason)
            )
        suggestions: dict[str, list[Proposal]] = {}
        for payment_id, text in con.execute(
            "SELECT payment_id, suggestions FROM exceptions WHERE run_id = ?", [summary.run_id]
        ).fetchall():
            suggestions[payment_id] = [
                Proposal(
                    s["customer"],
                    tuple(
                        Allocation(
                            a["invoice"],
                            a["applied_minor"],
                            a["adjustment_minor"],
                            ApplicationKind(a["kind"]),
                            a.get("reason", ""),
                        )
                        for a in s["allocations"]
                    ),
                    s["strategy"],
                )
                for s in json.loads(text)
            ]
        ids = sorted(set(applied) | set(suggestions))
    rows = [
        (
            pid,
            Proposal("", tuple(applied[pid]), "engine") if pid in applied else None,
            suggestions.get(pid, []),
        )
        for pid in ids
    ]
    return rows, summary.scorer, seconds


def _fmt(value: float, metric: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "—"
    if metric == "exceptions_per_1000":
        return f"{value:.0f}"
    return f"{100 * value:.1f}%"


def _loaded_world(
    spec: WorldSpec, tmp: Path, home: Path
) -> tuple[Path, dict[str, TruePayment], dict[str, str], dict[str, str]]:
    """The world of ``spec`` written under ``tmp`` and ingested into a new ledger at ``home``:
    its folder, its truth, the links from ledger payments to true ones and each invoice's
    customer."""
    world = make_world(spec, tmp / spec.name / "world")
    load_world(world, home)
    truth = read_truth(world)
    with open_ledger(LedgerSettings(home=home).ledger_path, read_only=True) as con:
        links = ledger_links(con, truth)
        customer_of = dict(
            con.execute("SELECT invoice_number, customer_id FROM invoices").fetchall()
        )
    return world, truth, links, customer_of


def _quality(tmp: Path) -> list[str]:
    lines: list[str] = []
    for spec in WORLDS:
        pristine = tmp / spec.name / "pristine"
        world, truth, links, customer_of = _loaded_world(spec, tmp, pristine)
        results: dict[str, Evaluation] = {}
        notes: dict[str, str] = {}
        for label, choice, history in (
            ("arpilot (shipped scorer, new ledger)", "pretrained", False),
            ("arpilot (shipped scorer, history imported)", "pretrained", True),
            ("arpilot (rules only, new ledger)", "rules", False),
        ):
            if choice == "pretrained" and not (PRETRAINED / "scorer.json").exists():
                continue
            home = tmp / spec.name / f"{choice}-{history}"
            shutil.copytree(pristine, home)
            if history:
                import_history(world / "history" / "payments.csv", LedgerSettings(home=home))
            rows, scorer_name, seconds = _engine_rows(home, choice)
            results[label] = evaluate(rows, links, truth, customer_of)
            notes[label] = f"{scorer_name}, {len(rows)} payments in {seconds:.1f} s"
        for label, which in (
            ("baseline: exact reference", "exact"),
            ("baseline: greedy oldest-first", "greedy"),
        ):
            results[label] = evaluate(_baseline_rows(pristine, which), links, truth, customer_of)
        n = next(iter(results.values())).overall.payments
        lines += [
            f"### `{spec.preset}` world: seed {spec.seed}, {spec.customers} customers × {spec.months} months, {n} payments",
            "",
            "| method | " + " | ".join(name for _, name in METRICS) + " |",
            "|---|" + "---:|" * len(METRICS),
        ]
        for label, result in results.items():
            figures = result.overall.figures()
            lines.append(
                f"| {label} | " + " | ".join(_fmt(figures[m], m) for m, _ in METRICS) + " |"
            )
        lines += ["", *(f"- {label}: {note}" for label, note in notes.items()), ""]
        lines += [
            "Per scenario (a payment counts in every scenario it belongs to; invoice-level hit / precision / right answer among suggestions):",
            "",
            "| scenario | n | " + " | ".join(results) + " |",
            "|---|---:|" + "---|" * len(results),
        ]
        for scenario in SCENARIOS:
            cells = []
            count = 0
            for result in results.values():
                card = result.by_scenario.get(scenario)
                if card is None:
                    cells.append("—")
                    continue
                count = card.payments
                f = card.figures()
                cells.append(
                    f"{_fmt(f['invoice_hit_rate'], 'x')} / {_fmt(f['precision'], 'x')} / {_fmt(f['suggestion_hit_rate'], 'x')}"
                )
            lines.append(f"| {scenario} | {count} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _spread(tmp: Path) -> list[str]:
    """The shipped scorer on a new ledger and the exact-reference baseline on each world of
    :data:`SPREAD`: every world's figures, their median and the worlds pooled."""
    if not (PRETRAINED / "scorer.json").exists():
        return []
    lines = [
        "### How much the figures vary from world to world",
        "",
        "The shipped scorer on a new ledger, on more fresh worlds of each preset "
        f"({SPREAD[0].customers} customers × {SPREAD[0].months} months each, seeds no scorer "
        "was trained on), beside the exact-reference baseline run on the same ledger. 'Pooled' "
        "counts every world's payments and invoices together.",
        "",
    ]
    for preset in dict.fromkeys(s.preset for s in SPREAD):
        lines += [
            f"`{preset}`:",
            "",
            "| world | payments | invoices | invoice-level hit | precision (count) "
            "| precision (amount) | exceptions / 1,000 | baseline: exact reference, invoice-level |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        cards: list[tuple[Scorecard, Scorecard]] = []
        for spec in (s for s in SPREAD if s.preset == preset):
            home = tmp / spec.name / "home"
            _, truth, links, customer_of = _loaded_world(spec, tmp, home)
            baseline = evaluate(_baseline_rows(home, "exact"), links, truth, customer_of)
            rows, _, _ = _engine_rows(home, "pretrained")
            card = evaluate(rows, links, truth, customer_of).overall
            cards.append((card, baseline.overall))
            lines.append(_spread_row(f"seed {spec.seed}", card, baseline.overall))
            shutil.rmtree(tmp / spec.name)
        pooled, pooled_baseline = Scorecard(), Scorecard()
        for card, base in cards:
            pooled.merge(card)
            pooled_baseline.merge(base)
        figures = [(card.figures(), base.figures()) for card, base in cards]
        medians = {
            m: median([f[m] for f, _ in figures])
            for m in ("invoice_hit_rate", "precision", "precision_by_amount", "exceptions_per_1000")
        }
        base_median = median([b["invoice_hit_rate"] for _, b in figures])
        lines += [
            f"| median of {len(cards)} | | | {_fmt(medians['invoice_hit_rate'], 'x')} "
            f"| {_fmt(medians['precision'], 'x')} | {_fmt(medians['precision_by_amount'], 'x')} "
            f"| {_fmt(medians['exceptions_per_1000'], 'exceptions_per_1000')} "
            f"| {_fmt(base_median, 'x')} |",
            _spread_row("pooled", pooled, pooled_baseline),
            "",
        ]
    return lines


def _spread_row(label: str, card: Scorecard, baseline: Scorecard) -> str:
    f = card.figures()
    return (
        f"| {label} | {card.payments:,} | {card.invoices:,} "
        f"| {_fmt(f['invoice_hit_rate'], 'x')} ({card.invoices_right:,}) "
        f"| {_fmt(f['precision'], 'x')} ({card.applied - card.applied_right} wrong of "
        f"{card.applied:,}) | {_fmt(f['precision_by_amount'], 'x')} "
        f"| {_fmt(f['exceptions_per_1000'], 'exceptions_per_1000')} "
        f"| {_fmt(baseline.figures()['invoice_hit_rate'], 'x')} |"
    )


# -- throughput ------------------------------------------------------------------------------


def synthetic_book(
    open_items: int, payments: int, seed: int
) -> tuple[list[OpenInvoice], list[tuple[str, str, None]], list[IncomingPayment]]:
    """A large book: customers with ~50 open items each, and payments of every common shape
    (exact and mistyped references, several invoices, no remittance at all)."""
    rng = random.Random(seed)
    customers = max(1, open_items // 50)
    start = date(2025, 1, 1)
    invoices = []
    names = []
    for c in range(customers):
        names.append((f"C{c:07d}", f"Customer {c} Holdings Inc", None))
    for n in range(open_items):
        c = rng.randrange(customers)
        issued = start + timedelta(days=rng.randrange(180))
        amount = rng.randint(5_000, 5_000_000)
        invoices.append(
            OpenInvoice(
                f"INV-{n + 1:08d}",
                f"C{c:07d}",
                "invoice",
                issued,
                issued + timedelta(days=30),
                "USD",
                amount,
                amount,
                "NET30",
                "",
            )
        )
    by_customer: dict[str, list[OpenInvoice]] = {}
    for inv in invoices:
        by_customer.setdefault(inv.customer_id, []).append(inv)
    pays: list[IncomingPayment] = []
    used: set[str] = set()
    while len(pays) < min(payments, open_items):
        k = len(pays)
        inv = invoices[rng.randrange(open_items)]
        if inv.invoice_number in used:
            continue  # each invoice is paid once
        used.add(inv.invoice_number)
        shape = rng.random()
        name = names[int(inv.customer_id[1:])][1].upper()
        if shape < 0.45:
            text = f"INV {inv.invoice_number}"
        elif shape < 0.55:
            number = inv.invoice_number
            text = number[:-2] + number[-1] + number[-2]
        else:
            text = "PAYMENT"
        pays.append(
            IncomingPayment(
                f"PAY-{k:08d}",
                "USD",
                inv.open_minor,
                inv.due_date,
                "acct",
                name,
                "",
                f"B{k}",
                "",
                "",
                text,
            )
        )
    return invoices, names, pays


def throughput_worker(open_items: int, payments: int, seed: int) -> None:
    from matching.engine import Engine
    from matching.payers import PayerIndex
    from matching.scoring import LightGBMScorer, RuleScorer

    invoices, customers, pays = synthetic_book(open_items, payments, seed)
    scorer = (
        LightGBMScorer.load(PRETRAINED) if (PRETRAINED / "scorer.json").exists() else RuleScorer()
    )
    start = time.perf_counter()
    engine = Engine(invoices, PayerIndex(customers), scorer, MatchSettings())
    built = time.perf_counter() - start
    decisions = engine.run(pays)
    total = time.perf_counter() - start
    applied = sum(d.applied is not None for d in decisions)
    print(
        json.dumps(
            {
                "payments": len(pays),
                "build_s": built,
                "total_s": total,
                "applied": applied,
                "scorer": scorer.name,
            }
        )
    )


def _throughput(
    repeats: int = 3, open_items: int = 1_000_000, payments: int = 100_000
) -> list[str]:
    runs = []
    for k in range(repeats):
        timed = run_timed(
            [
                sys.executable,
                "-c",
                f"from benchmarks.matching import throughput_worker as w; w({open_items}, {payments}, {k})",
            ]
        )
        runs.append((timed, json.loads(timed.stdout)))
    rates = [r["payments"] / (r["total_s"] - r["build_s"]) for _, r in runs]
    builds = [r["build_s"] for _, r in runs]
    peaks = [t.peak_mib for t, _ in runs]
    first = runs[0][1]
    return [
        f"### Throughput: {first['payments']:,} payments against {open_items:,} open items",
        "",
        f"{repeats} runs, each in its own process on a synthetic book (20,000 customers × 50 open items; "
        "45% exact references, 10% transposed digits, 45% no remittance found by amount); "
        f"scorer: {first['scorer']}. Median of the runs.",
        "",
        "| figure | median | runs |",
        "|---|---:|---|",
        f"| payments per second (decisions only) | {median(rates):,.0f} | {', '.join(f'{r:,.0f}' for r in rates)} |",
        f"| index build, s (1M open items) | {median(builds):.1f} | {', '.join(f'{b:.1f}' for b in builds)} |",
        f"| peak memory, MiB | {median(peaks):,.0f} | {', '.join(f'{p:,.0f}' for p in peaks)} |",
        "",
        "Aim: ≥ 2,000 payments/s on this 2-core machine.",
    ]


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="arpilot-bench-match-") as tmp:
        quality = _quality(Path(tmp)) + _spread(Path(tmp))
    return "\n".join(
        [
            "## Cash application (issue 6)",
            "",
            f"Machine: {machine()}. Command: `make bench` (or `python -m benchmarks.run matching`).",
            "",
            "Hit rates count what is applied with no human touch and is right: account level = the "
            "payment went to the right customer; invoice level = share of the world's paid invoices "
            "settled exactly right; precision = share of auto-applied payments whose every allocation "
            "(invoice and cash, on-account included) equals the truth (a bank charge or FX "
            "difference may be written off on another of the invoices the payment clears: which "
            "invoice carries it is a convention nothing in the payment states). A duplicate "
            "payment counts as "
            "right only when it is not applied (held in the exception queue as a suspected "
            "duplicate); right answer among suggestions = share of the other exceptions whose "
            "suggestions include the true application (a held duplicate has none to suggest). "
            "The shipped scorer was trained on other seeds "
            "(`matching/pretrained/training.json`). 'New ledger': open items and bank files only, "
            "as a new user starts (cold start); 'history imported': the world's past payments "
            "loaded first with `arpilot import-history` (bank accounts and payer names learned).",
            "",
            *quality,
            *_throughput(),
        ]
    )

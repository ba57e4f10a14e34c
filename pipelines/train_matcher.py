"""`arpilot train-matcher`: train the match scorer on simulated worlds (the cold-start scorer
shipped with arpilot) — each world is written, ingested into its own ledger and matched, and
every proposal is labelled against the world's ground truth."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ledger.db import open_ledger
from ledger.migrations import LATEST_VERSION
from ledger.settings import LedgerSettings
from matching.engine import SUGGESTION_ONLY
from matching.scoring import LightGBMScorer, RuleScorer
from matching.settings import MatchSettings
from matching.store import build_engine, load_advices, load_payments
from matching.training import LabelledProposal, ThresholdChoice, fit_scorer
from pipelines.history_import import import_history
from pipelines.worlds import (
    TruePayment,
    ledger_links,
    load_world,
    proposal_is_right,
    read_truth,
)


@dataclass(frozen=True, slots=True)
class WorldSpec:
    """A simulated world to learn from: its seed, size and scenario mix."""

    seed: int
    preset: str = "realistic"
    customers: int = 60
    months: int = 6

    @property
    def name(self) -> str:
        return f"{self.preset}-{self.seed}-{self.customers}x{self.months}"


PRESETS_IN_TURN = ("realistic", "hard")


def world_specs(
    worlds: Sequence[int],
    held_out: Sequence[int],
    seeds: Sequence[int],
    customers: Sequence[int],
    months: int,
) -> tuple[list[WorldSpec], list[WorldSpec]]:
    """Training and held-out worlds, one set per size: set ``i`` is ``worlds[i]`` training
    worlds then ``held_out[i]`` held-out ones of ``customers[i]`` customers, seeds counted up
    from ``seeds[i]``, presets in turn. A list of one applies to every set.

    Raises :class:`ValueError` when the lists disagree in length or hold a count below zero.
    """
    sets = max(len(worlds), len(held_out), len(seeds), len(customers))
    lists = {"worlds": worlds, "held-out": held_out, "seed": seeds, "customers": customers}
    for name, values in lists.items():
        if len(values) not in (1, sets):
            raise ValueError(f"--{name} gives {len(values)} values for {sets} world sets")
        if name != "seed" and any(v < 0 for v in values):
            raise ValueError(f"--{name} must not be negative")

    def at(values: Sequence[int], i: int) -> int:
        return values[i] if len(values) > 1 else values[0]

    train: list[WorldSpec] = []
    held: list[WorldSpec] = []
    for i in range(sets):
        n, first, size = at(worlds, i), at(seeds, i), at(customers, i)
        for k in range(n + at(held_out, i)):
            spec = WorldSpec(first + k, PRESETS_IN_TURN[k % 2], size, months)
            (train if k < n else held).append(spec)
    return train, held


def make_world(spec: WorldSpec, out: Path) -> Path:
    from simulator.output import write_world
    from simulator.presets import PRESETS
    from simulator.world import generate

    world = generate(spec.seed, spec.customers, spec.months, PRESETS[spec.preset])
    write_world(world, out)
    return out


def prepared_world(spec: WorldSpec, root: Path) -> tuple[Path, Path, Path]:
    """The world of ``spec`` written and ingested under ``root``/name, or the one already
    there: writing and ingesting (OCR of scanned advices included) is most of the cost of
    training, and a world's files and ledgers do not depend on the engine.

    Returns the world's folder, its ledger as a new user has it (``home``: open items and bank
    files only) and the same ledger once the world's past payments were imported
    (``history``: bank accounts and payer names learned).
    """
    from simulator.output import WORLD_FORMAT

    base = root / spec.name
    world, home, history, ready = base / "world", base / "home", base / "history", base / "loaded"
    written_as = f"world format {WORLD_FORMAT} written"
    marker = f"{written_as} and ingested into a ledger of schema {LATEST_VERSION}\n"
    kept = ready.read_text() if ready.exists() else ""
    if kept != marker:
        # Ingested by an older arpilot: the world's files stand if their format is today's
        # (its ledgers are made again), else the world is written again too.
        written = kept.startswith(f"{written_as} ")
        for stale in (home, history) if written else (world, home, history):
            if stale.exists():
                shutil.rmtree(stale)
        if not written:
            make_world(spec, world)
        load_world(world, home)
        ready.write_text(marker)
    if not (history / "ledger.duckdb").exists():
        shutil.copytree(home, history, dirs_exist_ok=True)
        import_history(world / "history" / "payments.csv", LedgerSettings(home=history))
    return world, home, history


def labelled_proposals(world: Path, home: Path, prefix: str = "") -> list[LabelledProposal]:
    """Match the ledger at ``home`` (``world`` ingested, nothing applied) with the rules and
    label every proposal the engine made against the truth (payments it cannot place are left
    out). The ledger is only read."""
    truth = read_truth(world)
    settings = LedgerSettings(home=home)
    with open_ledger(settings.ledger_path, read_only=True) as con:
        waiting = load_payments(con)
        engine = build_engine(con, RuleScorer(), MatchSettings(), waiting)
        links = ledger_links(con, truth)
        decisions = engine.run(waiting, load_advices(con))
    rows = []
    applied: set[str] = set()
    roles: dict[str, TruePayment] = {}
    for decision in decisions:
        simulated = links.get(decision.payment_id)
        if simulated is None:
            continue
        true = roles.get(simulated, truth[simulated])
        original = truth[simulated].duplicate_of
        if original and original not in applied:
            # The copy came first (or its original was held): paying the original's items is
            # right for it, as the evaluation counts it; if it is applied, the original
            # becomes the copy.
            true = replace(truth[original], payment_id=simulated)
            if decision.applied is not None:
                roles[original] = replace(truth[simulated], payment_id=original)
        if decision.applied is not None:
            applied.add(simulated)
        for proposal, _ in decision.ranked:
            if SUGGESTION_ONLY in proposal.evidence:
                continue
            rows.append(
                LabelledProposal(
                    f"{prefix}{decision.payment_id}",
                    proposal.features,
                    proposal_is_right(proposal, true),
                )
            )
    return rows


def train_on_worlds(
    train: list[WorldSpec],
    held_out: list[WorldSpec],
    out: Path,
    target_precision: float,
    own: list[LabelledProposal] | None = None,
    work: Path | None = None,
) -> tuple[LightGBMScorer, ThresholdChoice, dict[str, int]]:
    """Train on ``train`` worlds (and ``own``: the ledger's analyst decisions), calibrate and
    pick the threshold on ``held_out`` worlds. ``work``: where worlds are kept for the next
    training (default: a temporary folder, removed after)."""
    counts: dict[str, int] = {"analyst decisions": len(own or [])}
    with tempfile.TemporaryDirectory(prefix="arpilot-train-") as tmp:
        root = work or Path(tmp)
        sets: list[list[LabelledProposal]] = [[], []]
        for k, specs in enumerate((train, held_out)):
            for spec in specs:
                # Each world twice: as a new user sees it, and with its history imported.
                world, home, history = prepared_world(spec, root)
                rows = labelled_proposals(world, home, f"{spec.name}/")
                rows += labelled_proposals(world, history, f"{spec.name}+history/")
                counts[spec.name] = len(rows)
                sets[k].extend(rows)
    trained_on = (
        ", ".join(s.name for s in train) + " | held out: " + ", ".join(s.name for s in held_out)
    )
    if own:
        trained_on += f" + {len(own)} labelled suggestions from analysts' decisions"
    scorer, choice = fit_scorer([*sets[0], *(own or [])], sets[1], target_precision, trained_on)
    scorer.save(out)
    (out / "training.json").write_text(
        json.dumps(
            {
                "train": [s.name for s in train],
                "held_out": [s.name for s in held_out],
                "proposals": counts,
                "threshold": choice.threshold,
                "held_out_precision": choice.precision,
                "held_out_precision_lower_bound": choice.precision_lower_bound,
                "held_out_coverage": choice.coverage,
                "held_out_payments": choice.payments,
                "target_precision": target_precision,
            },
            indent=2,
        )
    )
    return scorer, choice, counts

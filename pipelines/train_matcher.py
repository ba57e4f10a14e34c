"""`arpilot train-matcher`: train the match scorer on simulated worlds (the cold-start scorer
shipped with arpilot) — each world is written, ingested into its own ledger and matched, and
every proposal is labelled against the world's ground truth."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ledger.db import open_ledger
from ledger.settings import LedgerSettings
from matching.scoring import LightGBMScorer, RuleScorer
from matching.settings import MatchSettings
from matching.store import build_engine, load_advices, load_payments
from matching.training import LabelledProposal, ThresholdChoice, fit_scorer
from pipelines.worlds import ledger_links, load_world, proposal_is_right, read_truth


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


def make_world(spec: WorldSpec, out: Path) -> Path:
    from simulator.output import write_world
    from simulator.presets import PRESETS
    from simulator.world import generate

    world = generate(spec.seed, spec.customers, spec.months, PRESETS[spec.preset])
    write_world(world, out)
    return out


def labelled_proposals(world: Path, home: Path, prefix: str = "") -> list[LabelledProposal]:
    """Load ``world`` into a fresh ledger at ``home``, match it with the rules and label every
    proposal the engine made against the truth (payments it cannot place are left out)."""
    load_world(world, home)
    truth = read_truth(world)
    settings = LedgerSettings(home=home)
    with open_ledger(settings.ledger_path, read_only=True) as con:
        waiting = load_payments(con)
        engine = build_engine(con, RuleScorer(), MatchSettings(), waiting)
        links = ledger_links(con, truth)
        decisions = engine.run(waiting, load_advices(con))
    rows = []
    for decision in decisions:
        simulated = links.get(decision.payment_id)
        if simulated is None:
            continue
        for proposal, _ in decision.ranked:
            rows.append(
                LabelledProposal(
                    f"{prefix}{decision.payment_id}",
                    proposal.features,
                    proposal_is_right(proposal, truth[simulated]),
                )
            )
    return rows


def train_on_worlds(
    train: list[WorldSpec],
    held_out: list[WorldSpec],
    out: Path,
    target_precision: float,
    own: list[LabelledProposal] | None = None,
) -> tuple[LightGBMScorer, ThresholdChoice, dict[str, int]]:
    """Train on ``train`` worlds (and ``own``: the ledger's analyst decisions), calibrate and
    pick the threshold on ``held_out`` worlds."""
    counts: dict[str, int] = {"analyst decisions": len(own or [])}
    with tempfile.TemporaryDirectory(prefix="arpilot-train-") as tmp:
        sets: list[list[LabelledProposal]] = [[], []]
        for k, specs in enumerate((train, held_out)):
            for spec in specs:
                world = make_world(spec, Path(tmp) / spec.name / "world")
                rows = labelled_proposals(world, Path(tmp) / spec.name / "home", f"{spec.name}/")
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
                "held_out_coverage": choice.coverage,
                "held_out_payments": choice.payments,
                "target_precision": target_precision,
            },
            indent=2,
        )
    )
    return scorer, choice, counts

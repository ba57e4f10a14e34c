"""The match scorer: threshold choice, training, calibration, and the shipped cold-start model."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from matching.scoring import LightGBMScorer, RuleScorer
from matching.training import (
    LabelledProposal,
    choose_threshold,
    fit_scorer,
    precision_lower_bound,
)
from pipelines.match import PRETRAINED, scorer_for


def test_the_threshold_is_the_lowest_that_keeps_the_precision() -> None:
    rows = [LabelledProposal(f"p{k}", {}, right) for k, right in enumerate([True] * 9 + [False])]
    probabilities = [0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90]
    choice = choose_threshold(rows, probabilities, 0.99, z=0.0)
    assert choice.threshold == 0.91 and choice.precision == 1.0 and choice.coverage == 0.9
    # Only the best proposal of a payment counts.
    rows.append(LabelledProposal("p0", {}, False))
    assert choose_threshold(rows, [*probabilities, 0.5], 0.99, z=0.0).threshold == 0.91


def test_the_threshold_keeps_the_precision_with_confidence_not_by_luck() -> None:
    # 600 payments: the best 500 right but one, then a stretch where one in twenty is wrong.
    outcomes = [k != 250 for k in range(500)] + [k % 20 != 0 for k in range(100)]
    rows = [LabelledProposal(f"p{k}", {}, ok) for k, ok in enumerate(outcomes)]
    probabilities = [1.0 - k / 1000 for k in range(600)]
    point = choose_threshold(rows, probabilities, 0.99, z=0.0)
    sure = choose_threshold(rows, probabilities, 0.99)
    assert point.precision >= 0.99 and sure.precision_lower_bound >= 0.99
    assert sure.threshold > point.threshold and sure.coverage < point.coverage
    # The same share is surer on more payments.
    assert precision_lower_bound(499, 500) < precision_lower_bound(4990, 5000) < 499 / 500


def test_the_lower_bound_is_the_wilson_bound() -> None:
    # 95 of 100 right, z = 1.6449: (0.95 + z²/200 - z·sqrt(0.95·0.05/100 + z²/40000))
    # / (1 + z²/100) = (0.96353 - 0.03832) / 1.02706 = 0.9008
    assert abs(precision_lower_bound(95, 100) - 0.9008) < 2e-4
    assert precision_lower_bound(0, 0) == 0.0
    assert precision_lower_bound(10, 10) < 1.0


def _rows(seed: int, n: int) -> list[LabelledProposal]:
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        quality = rng.random()
        right = rng.random() < quality
        rows.append(
            LabelledProposal(
                f"p{k}", {"payer_score": quality, "invoices": float(rng.randint(1, 5))}, right
            )
        )
    return rows


def test_training_learns_calibrates_and_round_trips(tmp_path: Path, seed: int) -> None:
    scorer, choice = fit_scorer(_rows(seed, 3000), _rows(seed + 1, 2000), 0.9, "synthetic")
    low, high = scorer.predict([{"payer_score": 0.05}, {"payer_score": 0.98}])
    assert low < 0.3 < 0.8 < high
    assert 0.5 <= scorer.threshold <= 1.0 and choice.precision >= 0.9
    again = LightGBMScorer.load(scorer.save(tmp_path / "scorer"))
    rows = [{"payer_score": x / 10, "invoices": 2.0} for x in range(11)]
    assert again.predict(rows) == scorer.predict(rows)
    assert again.threshold == scorer.threshold and again.version == scorer.version


def test_a_scorer_trained_on_other_features_is_refused(tmp_path: Path, seed: int) -> None:
    scorer, _ = fit_scorer(_rows(seed, 500), _rows(seed + 1, 500), 0.9, "synthetic")
    folder = scorer.save(tmp_path / "scorer")
    meta = (folder / "scorer.json").read_text().replace('"payer_score"', '"renamed"')
    (folder / "scorer.json").write_text(meta)
    with pytest.raises(ValueError, match="retrain"):
        LightGBMScorer.load(folder)


def test_a_new_ledger_uses_the_shipped_scorer_and_says_so(tmp_path: Path) -> None:
    if not (PRETRAINED / "scorer.json").exists():
        pytest.skip("no shipped scorer in this checkout")
    chosen = scorer_for(tmp_path)
    assert chosen.name == "lightgbm" and chosen.threshold >= 0.5
    assert isinstance(scorer_for(tmp_path, "rules"), RuleScorer)


def test_training_twice_on_the_same_proposals_gives_the_same_scorer(seed: int) -> None:
    train, held_out = _rows(seed, 2000), _rows(seed + 1, 1000)
    first, _ = fit_scorer(train, held_out, 0.9, "synthetic")
    second, _ = fit_scorer(list(train), list(held_out), 0.9, "synthetic")
    assert first.version == second.version and first.threshold == second.threshold

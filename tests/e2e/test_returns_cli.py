"""A returned ACH credit through the real CLI: BAI2 files in, the application undone, the
invoice open again and the reversal in the export."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb

from simulator.formats.bai2 import write_bai2
from simulator.model import BankAccount, Statement, StatementLine

ARPILOT = Path(sys.executable).parent / "arpilot"
ACCOUNT = BankAccount("First Bank", "021000021", "000123456789", "Receipts", "USD", "bai2")


def arpilot(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ARPILOT), "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )


def _bai2(path: Path, day: date, opening: int, *lines: StatementLine) -> Path:
    statement = Statement(
        ACCOUNT,
        f"S{day:%m%d}",
        1,
        datetime(day.year, day.month, day.day, 6),
        day,
        day,
        opening,
        lines,
    )
    path.write_bytes(
        write_bai2(
            [statement],
            sender_id="021000021",
            receiver_id="ARPILOT",
            file_id=f"{day:%m%d}",
            created_at=statement.created_at,
        )
    )
    return path


def test_a_returned_ach_credit_reopens_its_invoice_and_is_exported_as_a_reversal(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    erp = tmp_path / "open_items.csv"
    erp.write_text(
        "invoice_number,customer_id,customer_name,issue_date,due_date,currency,amount,"
        "open_amount,terms,po_number,doc_type\n"
        "INV-100231,C1,Acme Widgets Inc.,2025-05-01,2025-05-31,USD,500.00,500.00,NET30,,invoice\n"
        "INV-100232,C1,Acme Widgets Inc.,2025-05-02,2025-06-01,USD,320.00,320.00,NET30,,invoice\n"
    )
    received = StatementLine(
        "P1",
        date(2025, 6, 2),
        date(2025, 6, 2),
        50_000,
        "USD",
        payer_name="ACME WIDGETS INC",
        customer_reference="091000019876543",
        remittance_text="INV-100231",
        bai_type_code="165",
    )
    returned = StatementLine(
        "R1",
        date(2025, 6, 4),
        date(2025, 6, 4),
        -50_000,
        "USD",
        payer_name="ACME WIDGETS INC",
        customer_reference="091000019876543",
        remittance_text="ACH RETURN R01 INSUFFICIENT FUNDS",
        channel="ach",
        bai_type_code="557",
    )
    steps = [
        ("import-erp", str(erp)),
        ("ingest", str(_bai2(tmp_path / "0602.bai2", date(2025, 6, 2), 0, received))),
        ("match",),
    ]
    for step in steps:
        result = arpilot(home, *step)
        assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1 payment(s): 1 applied")
    # The ERP posts the application: its next full snapshot no longer lists INV-100231.
    posted = tmp_path / "posted.csv"
    posted.write_text("\n".join(erp.read_text().splitlines()[::2]) + "\n")
    result = arpilot(home, "import-erp", str(posted), "--close-missing")
    assert result.returncode == 0 and "0 closed" in result.stdout, result.stdout

    ingest = arpilot(
        home, "ingest", str(_bai2(tmp_path / "0604.bai2", date(2025, 6, 4), 50_000, returned))
    )
    assert ingest.returncode == 0, ingest.stderr
    match = arpilot(home, "match")
    assert match.returncode == 0, match.stderr
    assert (
        "1 returned payment(s) taken back: 1 application(s) reversed, 1 invoice(s) reopened"
        in match.stdout
    )

    def open_amount() -> list[tuple[object, ...]]:
        with duckdb.connect(str(home / "ledger.duckdb"), read_only=True) as con:
            return con.execute(
                "SELECT open_minor FROM invoices WHERE invoice_number = 'INV-100231'"
            ).fetchall()

    assert open_amount() == [(50_000,)]
    # A full snapshot taken before the ERP posts the reversal leaves INV-100231 out still:
    # the bounced cash is not paid again, the invoice stays open.
    again = tmp_path / "again.csv"
    again.write_text(posted.read_text() + "\n")
    result = arpilot(home, "import-erp", str(again), "--close-missing")
    assert result.returncode == 0 and "0 closed" in result.stdout, result.stdout
    assert "1 item(s) do not show arpilot's work yet" in result.stdout
    assert open_amount() == [(50_000,)]
    export = arpilot(home, "export", "applications", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    assert [(r["invoice_number"], r["applied_amount"], r["kind"]) for r in rows] == [
        ("INV-100231", "500.00", "full"),
        ("INV-100231", "-500.00", "reversal"),
    ]
    status = json.loads(arpilot(home, "status", "--json").stdout)
    assert (status["returned_payments"], status["returns_waiting"]) == (1, 0)
    assert arpilot(home, "audit", "verify").returncode == 0

"""`ingest` into a real ledger: idempotent, overlap-safe, twins kept, bad files quarantined whole."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest

from ledger.db import open_ledger
from ledger.settings import LedgerSettings
from matching.store import load_payments
from pipelines.ingest import ingest_paths
from simulator.documents.edi820 import write_edi820
from simulator.formats import US_BANK_CSV, write_csv_statement
from simulator.model import AdviceLine, BankAccount, RemittanceDocument, Statement, StatementLine

ACCOUNT = BankAccount("Prairie National Bank", "PNB", "7781200456", "Ops", "USD", "csv")


def line(n: int, day: int, minor: int, payer: str = "Acme Inc.") -> StatementLine:
    return StatementLine(
        f"P{n}",
        date(2026, 9, day),
        date(2026, 9, day),
        minor,
        "USD",
        payer_name=payer,
        customer_reference=f"TRACE{n}",
        remittance_text=f"INV-{100000 + n}",
    )


def csv_file(folder: Path, name: str, *lines: StatementLine) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mapping.json").write_text(
        json.dumps({**US_BANK_CSV.mapping(), "account": "7781200456"})
    )
    statement = Statement(
        ACCOUNT, name, 1, datetime(2026, 9, 30), date(2026, 9, 1), date(2026, 9, 30), 0, lines
    )
    path = folder / f"{name}.csv"
    path.write_bytes(write_csv_statement(statement, US_BANK_CSV))
    return path


def count(home: Path, sql: str) -> int:
    with open_ledger(home / "ledger.duckdb", read_only=True) as con:
        return int(con.execute(sql).fetchall()[0][0])


def test_ingest_is_idempotent(home: Path, tmp_path: Path) -> None:
    settings = LedgerSettings(home=home)
    path = csv_file(tmp_path / "in", "week1", line(1, 1, 1000), line(2, 2, 2000), line(3, 3, -50))
    first = ingest_paths([path], settings)
    assert [(f.status, f.new) for f in first.files] == [("ingested", 3)]
    again = ingest_paths([path], settings)
    assert [f.status for f in again.files] == ["duplicate"]
    assert count(home, "SELECT count(*) FROM payments") == 3
    assert count(home, "SELECT count(*) FROM payments WHERE status = 'unapplied'") == 2


def test_overlapping_statements_add_only_new_transactions(home: Path, tmp_path: Path) -> None:
    settings = LedgerSettings(home=home)
    week = csv_file(tmp_path / "a", "week", line(1, 1, 1000), line(2, 2, 2000))
    month = csv_file(tmp_path / "b", "month", line(1, 1, 1000), line(2, 2, 2000), line(3, 9, 3000))
    ingest_paths([week], settings)
    result = ingest_paths([month], settings)
    assert [(f.new, f.duplicates) for f in result.files] == [(1, 2)]
    assert count(home, "SELECT count(*) FROM payments") == 3


def test_genuine_twins_are_both_kept_and_not_doubled_later(home: Path, tmp_path: Path) -> None:
    """Two identical payments on one day are two payments; seeing one again adds nothing."""
    settings = LedgerSettings(home=home)
    twins = csv_file(tmp_path / "a", "twins", line(7, 4, 5000), line(7, 4, 5000))
    assert ingest_paths([twins], settings).files[0].new == 2
    overlap = csv_file(tmp_path / "b", "overlap", line(7, 4, 5000), line(8, 5, 10))
    assert [(f.new, f.duplicates) for f in ingest_paths([overlap], settings).files] == [(1, 1)]
    assert count(home, "SELECT count(*) FROM payments WHERE amount_minor = 5000") == 2


def test_waiting_payments_come_back_in_the_order_the_bank_reported_them(
    home: Path, tmp_path: Path
) -> None:
    """Oldest first; within a day, files in the order they were ingested and each file's
    payments in its own order (not in the order of their ids, which are hashes)."""
    settings = LedgerSettings(home=home)
    morning = csv_file(
        tmp_path / "a", "morning", *(line(n, 4, 1000 + n) for n in (5, 3, 9, 1)), line(2, 3, 700)
    )
    later = csv_file(tmp_path / "b", "later", line(4, 4, 900), line(6, 2, 800))
    ingest_paths([morning], settings)
    ingest_paths([later], settings)
    with open_ledger(home / "ledger.duckdb", read_only=True) as con:
        waiting = load_payments(con)
        lines = con.execute(
            "SELECT amount_minor, source_line FROM payments ORDER BY source_line"
        ).fetchall()
    assert [p.amount_minor for p in waiting] == [800, 700, 1005, 1003, 1009, 1001, 900]
    assert sorted(p.payment_id for p in waiting[2:6]) != [p.payment_id for p in waiting[2:6]]
    assert [minor for minor, _ in lines if minor > 1000] == [1005, 1003, 1009, 1001]


def test_bad_file_is_quarantined_and_the_batch_goes_on(home: Path, tmp_path: Path) -> None:
    settings = LedgerSettings(home=home)
    csv_file(tmp_path / "in", "good", line(1, 1, 1000))
    bad = csv_file(tmp_path / "in", "bad", line(2, 2, 2000), line(3, 3, 3000))
    bad.write_text(bad.read_text().replace("30.00", "30.0.0"))
    garbage = tmp_path / "in" / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 4)
    report = ingest_paths([tmp_path / "in"], settings)
    status = {Path(f.path).name: f.status for f in report.files}
    assert status == {"bad.csv": "refused", "garbage.bin": "refused", "good.csv": "ingested"}
    refused = next(f for f in report.files if Path(f.path).name == "bad.csv")
    assert "bad.csv:3" in refused.reason and "not an amount" in refused.reason
    quarantine = home / "quarantine"
    assert not bad.exists() and (quarantine / Path(refused.quarantined_to).name).exists()
    reason = (quarantine / f"{Path(refused.quarantined_to).name}.reason.txt").read_text()
    assert "not an amount" in reason and "sha256" in reason
    # Nothing of the refused files was written; the good one was.
    assert count(home, "SELECT count(*) FROM payments") == 1
    assert count(home, "SELECT count(*) FROM ingested_files WHERE status = 'quarantined'") == 2


def test_edi820_advices_are_stored_once(home: Path, tmp_path: Path) -> None:
    settings = LedgerSettings(home=home)
    doc = RemittanceDocument(
        document_id="RA1",
        payment_id="P1",
        kind="edi820",
        payer_name="Acme Inc.",
        payee_name="Us",
        payment_reference="CHK1001",
        payment_date=date(2026, 9, 3),
        currency="USD",
        total_minor=3000,
        lines=(
            AdviceLine("INV-1", 1000),
            AdviceLine("INV-2", 2000, deduction_minor=100, reason="DAMAGED"),
        ),
    )
    path = tmp_path / "advice.edi"
    path.write_bytes(write_edi820(doc))
    assert ingest_paths([path], settings).files[0].advices == 1
    assert ingest_paths([path], settings).files[0].status == "duplicate"
    assert count(home, "SELECT count(*) FROM remittance_lines") == 2
    assert count(home, "SELECT sum(paid_minor) FROM remittance_lines") == 3000


def test_truncated_edi_is_refused_whole(home: Path, tmp_path: Path) -> None:
    settings = LedgerSettings(home=home)
    doc = RemittanceDocument(
        document_id="RA2",
        payment_id="P2",
        kind="edi820",
        payer_name="Acme Inc.",
        payee_name="Us",
        payment_reference="CHK1002",
        payment_date=date(2026, 9, 3),
        currency="USD",
        total_minor=10,
        lines=(AdviceLine("INV-1", 10),),
    )
    data = write_edi820(doc)
    path = tmp_path / "cut.edi"
    path.write_bytes(data[: data.index(b"IEA")])
    report = ingest_paths([path], settings)
    assert report.files[0].status == "refused" and "truncated" in report.files[0].reason
    assert count(home, "SELECT count(*) FROM remittance_advices") == 0


def test_cli_ingest_exit_codes_and_parse_writes_nothing(home: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    arpilot = str(Path(sys.executable).parent / "arpilot")
    good = csv_file(tmp_path / "in", "good", line(1, 1, 1000))
    parsed = subprocess.run(
        [arpilot, "--home", str(home), "parse", str(good)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert parsed.returncode == 0, parsed.stderr
    rows = [json.loads(r) for r in parsed.stdout.splitlines()]
    assert [(r["amount"], r["currency"], r["direction"]) for r in rows] == [
        ("10.00", "USD", "credit")
    ]
    assert not (home / "ledger.duckdb").exists()
    shutil.copy(good, tmp_path / "in" / "copy_of_good.csv")
    broken = good.read_text().replace("10.00", "ten dollars")
    (tmp_path / "in" / "broken.csv").write_text(broken)
    result = subprocess.run(
        [arpilot, "--home", str(home), "ingest", str(tmp_path / "in")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "broken.csv: refused" in result.stderr
    assert "1 ingested, 1 duplicate, 1 refused, 0 not_remittance, 0 skipped" in result.stdout


@pytest.mark.parametrize("name", ["missing.bai"])
def test_missing_paths_are_reported(home: Path, tmp_path: Path, name: str) -> None:
    report = ingest_paths([tmp_path / name], LedgerSettings(home=home))
    assert [(f.status, f.reason) for f in report.files] == [("refused", "no such file or folder")]


def test_a_camt052_intraday_report_is_refused_for_what_it_is(home: Path, tmp_path: Path) -> None:
    report = tmp_path / "intraday.xml"
    report.write_text(
        '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08">'
        "<BkToCstmrAcctRpt><GrpHdr><MsgId>R1</MsgId></GrpHdr></BkToCstmrAcctRpt></Document>"
    )
    (result,) = ingest_paths([report], LedgerSettings(home=home)).files
    assert result.status == "refused"
    assert "camt.052 intraday account report" in result.reason
    assert result.quarantined_to

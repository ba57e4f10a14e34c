"""The arpilot CLI as outside tools drive it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARPILOT = Path(sys.executable).parent / "arpilot"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ARPILOT), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_init_import_status(home: Path, sample_open_items: Path) -> None:
    assert run("--home", str(home), "init").returncode == 0
    imported = run("--home", str(home), "import-erp", str(sample_open_items), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["new_invoices"] == 50
    again = run("--home", str(home), "import-erp", str(sample_open_items))
    assert again.returncode == 0 and "already imported" in again.stdout
    state = run("--home", str(home), "status", "--json")
    assert state.returncode == 0
    counts = json.loads(state.stdout)
    assert (counts["customers"], counts["invoices"], counts["credit_memos"]) == (8, 48, 2)
    assert counts["schema_version"] >= 1
    human = run("--home", str(home), "status")
    assert "open items" in human.stdout and "schema v" in human.stdout
    verified = run("--home", str(home), "audit", "verify")
    assert verified.returncode == 0 and "verified" in verified.stdout


def test_home_from_environment(home: Path, sample_open_items: Path) -> None:
    result = run("import-erp", str(sample_open_items), env={"ARPILOT_HOME": str(home)})
    assert result.returncode == 0
    assert (home / "ledger.duckdb").exists()


def test_bad_file_exits_2_naming_rows(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "invoice_number,customer_id,customer_name,issue_date,due_date,currency,amount,"
        "open_amount,terms,po_number,doc_type\n"
        "I1,C1,Acme,2026-01-01,2026-01-31,USD,10.00,-1.00,,,invoice\n"
    )
    result = run("--home", str(home), "import-erp", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    first, *rest = result.stderr.splitlines()
    assert first.startswith("error:") and "bad.csv" in first
    assert rest == ["  row 2, column open_amount: negative open amount on an invoice"]


def test_missing_file_and_missing_ledger_exit_2(home: Path) -> None:
    missing = run("--home", str(home), "import-erp", str(home / "nope.csv"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    no_ledger = run("--home", str(home / "empty"), "status")
    assert no_ledger.returncode == 2 and "arpilot init" in no_ledger.stderr
    assert len(no_ledger.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2() -> None:
    assert run("no-such-command").returncode == 2
    assert run("import-erp").returncode == 2


def test_broken_audit_chain_exits_1(home: Path, sample_open_items: Path) -> None:
    import duckdb

    run("--home", str(home), "import-erp", str(sample_open_items))
    con = duckdb.connect(str(home / "ledger.duckdb"))
    con.execute("UPDATE audit_log SET actor = 'mallory'")
    con.close()
    result = run("--home", str(home), "audit", "verify")
    assert result.returncode == 1
    assert "altered" in result.stderr


def test_debug_shows_traceback(home: Path) -> None:
    result = run("--home", str(home / "empty"), "--debug", "status")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_a_snapshot_older_than_one_imported_is_refused(home: Path, tmp_path: Path) -> None:
    """With --as-of, a snapshot taken before one imported already is refused and changes
    nothing: read as the ERP's latest word, it would reopen what was posted since."""
    header = (
        "invoice_number,customer_id,customer_name,issue_date,due_date,currency,amount,"
        "open_amount,doc_type\n"
    )
    newer, older = tmp_path / "newer.csv", tmp_path / "older.csv"
    newer.write_text(header + "INV-1,C1,Acme,2026-11-01,2026-12-01,USD,100.00,0.00,invoice\n")
    older.write_text(header + "INV-1,C1,Acme,2026-11-01,2026-12-01,USD,100.00,100.00,invoice\n")
    first = run("--home", str(home), "import-erp", str(newer), "--as-of", "2026-11-20T18:00")
    assert first.returncode == 0, first.stderr
    refused = run("--home", str(home), "import-erp", str(older), "--as-of", "2026-11-19")
    assert refused.returncode == 2
    assert "older.csv was taken at 2026-11-19 00:00, before newer.csv" in refused.stderr
    state = json.loads(run("--home", str(home), "status", "--json").stdout)
    assert state["open_items"] == 0
    for bad in ("yesterday", "2999-01-01"):
        wrong = run("--home", str(home), "import-erp", str(older), "--as-of", bad)
        assert wrong.returncode == 2 and "--as-of" in wrong.stderr
    # A time with an offset is read in UTC: 09:00+01:00 on the 21st is after the first.
    later = run("--home", str(home), "import-erp", str(older), "--as-of", "2026-11-21T09:00+01:00")
    assert later.returncode == 0, later.stderr

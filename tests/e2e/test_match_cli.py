"""`arpilot match` and `arpilot export` on a simulated world, through the real CLI and ledger."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ledger.records import ApplicationKind
from matching.model import Allocation, Proposal
from pipelines.worlds import ledger_links, proposal_is_right, read_truth

ARPILOT = Path(sys.executable).parent / "arpilot"


def arpilot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ARPILOT), *args], capture_output=True, text=True, timeout=900, env=os.environ.copy()
    )


@pytest.fixture(scope="module")
def matched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("match")
    world, home = root / "world", root / "home"
    steps = [
        (
            "simulate",
            "--out",
            str(world),
            "--customers",
            "40",
            "--months",
            "4",
            "--seed",
            "21",
            "--no-documents",
        ),
        ("--home", str(home), "import-erp", str(world / "erp" / "open_items.csv")),
        ("--home", str(home), "ingest", str(world / "bank")),
    ]
    for step in steps:
        result = arpilot(*step)
        assert result.returncode == 0, result.stderr
    first = arpilot("--home", str(home), "match")
    assert first.returncode == 0, first.stderr
    return world, home, first.stdout


def test_match_reports_what_it_did_and_which_scorer(matched: tuple[Path, Path, str]) -> None:
    _, _, out = matched
    assert "applied" in out and "to exceptions" in out and "scorer" in out


def test_a_second_run_changes_nothing(matched: tuple[Path, Path, str]) -> None:
    _, home, _ = matched
    con = duckdb.connect(str(home / "ledger.duckdb"), read_only=True)
    before = (
        con.execute("SELECT count(*), sum(open_minor) FROM invoices").fetchall()
        + con.execute("SELECT count(*) FROM applications").fetchall()
    )
    con.close()
    again = arpilot("--home", str(home), "match")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("0 payment(s)")
    con = duckdb.connect(str(home / "ledger.duckdb"), read_only=True)
    after = (
        con.execute("SELECT count(*), sum(open_minor) FROM invoices").fetchall()
        + con.execute("SELECT count(*) FROM applications").fetchall()
    )
    con.close()
    assert before == after


def test_money_is_conserved_and_no_invoice_goes_below_zero(matched: tuple[Path, Path, str]) -> None:
    _, home, _ = matched
    con = duckdb.connect(str(home / "ledger.duckdb"), read_only=True)
    unbalanced = con.execute(
        """
        SELECT p.payment_id FROM payments p JOIN applications a USING (payment_id)
        GROUP BY p.payment_id, p.amount_minor HAVING sum(a.applied_minor) <> p.amount_minor
        """
    ).fetchall()
    negative = con.execute(
        "SELECT invoice_number FROM invoices WHERE doc_type = 'invoice' AND open_minor < 0"
    ).fetchall()
    con.close()
    assert unbalanced == [] and negative == []


def test_auto_applications_are_right_and_duplicates_are_held(
    matched: tuple[Path, Path, str],
) -> None:
    world, home, _ = matched
    truth = read_truth(world)
    con = duckdb.connect(str(home / "ledger.duckdb"), read_only=True)
    links = ledger_links(con, truth)
    applied: dict[str, list[Allocation]] = {}
    for pid, invoice, minor, kind in con.execute(
        "SELECT payment_id, coalesce(invoice_number, ''), applied_minor, kind FROM applications"
    ).fetchall():
        applied.setdefault(pid, []).append(Allocation(invoice, minor, 0, ApplicationKind(kind)))
    con.close()
    judged = [
        proposal_is_right(Proposal("", tuple(a), "x"), truth[links[p]])
        for p, a in applied.items()
        if p in links
    ]
    assert len(judged) >= 20
    assert sum(judged) / len(judged) >= 0.98, f"{judged.count(False)} wrong of {len(judged)}"
    duplicates = {pid for pid, sim in links.items() if truth[sim].duplicate_of}
    assert not duplicates & set(applied)


def test_export_follows_the_contract_and_the_audit_chain_holds(
    matched: tuple[Path, Path, str],
) -> None:
    _, home, _ = matched
    result = arpilot("--home", str(home), "export", "applications", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and list(rows[0]) == [
        "payment_id",
        "bank_reference",
        "invoice_number",
        "applied_amount",
        "kind",
        "reason",
        "method",
        "confidence",
    ]
    exceptions = arpilot("--home", str(home), "export", "exceptions")
    assert exceptions.returncode == 0, exceptions.stderr
    verify = arpilot("--home", str(home), "audit", "verify")
    assert verify.returncode == 0, verify.stderr


def test_an_unknown_export_is_a_clear_usage_error(matched: tuple[Path, Path, str]) -> None:
    _, home, _ = matched
    result = arpilot("--home", str(home), "export", "invoices")
    assert result.returncode == 2
    assert "choose applications or exceptions" in result.stderr

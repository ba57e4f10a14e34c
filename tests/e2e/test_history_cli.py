"""`arpilot import-history`: past payments teach bank accounts and payer names, all or nothing."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ARPILOT = Path(sys.executable).parent / "arpilot"


def arpilot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ARPILOT), *args], capture_output=True, text=True, timeout=600, env=os.environ.copy()
    )


def _new_ledger(root: Path, customers: int, months: int, seed: int) -> tuple[Path, Path]:
    """A simulated world and a ledger holding its open items (no payments yet)."""
    world, home = root / "world", root / "home"
    for step in (
        ("simulate", "--out", str(world), "--customers", str(customers), "--months", str(months),
         "--seed", str(seed), "--no-documents"),
        ("--home", str(home), "import-erp", str(world / "erp" / "open_items.csv")),
    ):  # fmt: skip
        result = arpilot(*step)
        assert result.returncode == 0, result.stderr
    return world, home


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _new_ledger(tmp_path_factory.mktemp("history"), 30, 3, 5)


def _learned(home: Path) -> tuple[set[tuple[str, str]], set[tuple[str, str]], int]:
    with duckdb.connect(str(home / "ledger.duckdb"), read_only=True) as con:
        accounts = set(
            con.execute(
                "SELECT account, customer_id FROM customer_bank_accounts WHERE source = 'history'"
            ).fetchall()
        )
        aliases = set(
            con.execute(
                "SELECT customer_id, alias FROM customer_aliases WHERE source = 'history'"
            ).fetchall()
        )
        entries = con.execute("SELECT count(*) FROM audit_log").fetchall()[0][0]
    return accounts, aliases, entries


def test_past_payments_teach_accounts_and_names_once(ledger: tuple[Path, Path]) -> None:
    world, home = ledger
    history = world / "history" / "payments.csv"
    first = arpilot("--home", str(home), "import-history", str(history))
    assert first.returncode == 0, first.stderr
    accounts, aliases, entries = _learned(home)
    with history.open(newline="") as f:
        rows = list(csv.DictReader(f))
    with duckdb.connect(str(home / "ledger.duckdb"), read_only=True) as con:
        known = {c for (c,) in con.execute("SELECT customer_id FROM customers").fetchall()}
    expected = {(r["payer_account"], r["customer_id"]) for r in rows if r["payer_account"]}
    assert accounts == {(a, c) for a, c in expected if c in known}
    assert accounts and all(c in known for c, _ in aliases)
    again = arpilot("--home", str(home), "import-history", str(history))
    assert again.returncode == 0, again.stderr
    assert "learned 0 bank account(s) and 0 payer name(s)" in again.stdout
    assert _learned(home)[:2] == (accounts, aliases)
    assert _learned(home)[2] == entries + 1  # the re-import is audited, and changes nothing else


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("payment_id,customer_id,payer_name\nH1,C1,ACME\n", "payer_account"),
        ("payment_id,customer_id,payer_name,payer_account\nH1,,ACME,123\n", "row 2, column customer_id: empty"),
        ("payment_id,customer_id,payer_name,payer_account\nH1,C1,A,1\nH1,C1,A,1\n", "appears twice"),
        ("payment_id,customer_id,payer_name,payer_account\nH1,C1,\xff\xfe,1\n", ""),
    ],
)  # fmt: skip
def test_a_bad_history_file_is_refused_whole(
    ledger: tuple[Path, Path], tmp_path: Path, content: str, reason: str
) -> None:
    _, home = ledger
    before = _learned(home)
    bad = tmp_path / "history.csv"
    bad.write_bytes(content.encode("latin-1"))
    result = arpilot("--home", str(home), "import-history", str(bad))
    assert result.returncode == 2, result.stdout
    assert reason in result.stderr and "history.csv" in result.stderr
    assert _learned(home) == before


def test_a_platform_name_learnt_for_unrelated_customers_is_reported_as_identifying_no_one(
    tmp_path: Path,
) -> None:
    _, home = _new_ledger(tmp_path, 12, 2, 9)
    with duckdb.connect(str(home / "ledger.duckdb"), read_only=True) as con:
        first, second = (
            c
            for (c,) in con.execute(
                "SELECT customer_id FROM customers WHERE parent_id IS NULL AND customer_id NOT IN "
                "(SELECT parent_id FROM customers WHERE parent_id IS NOT NULL) ORDER BY 1 LIMIT 2"
            ).fetchall()
        )
    history = tmp_path / "history.csv"
    history.write_text(
        "payment_id,customer_id,payer_name,payer_account\n"
        f"H1,{first},PAYMODE-X,\nH2,{first},Northwind Treasury,\n"
    )
    one = arpilot("--home", str(home), "import-history", str(history))
    assert one.returncode == 0, one.stderr
    assert "identify no one" not in one.stdout
    history.write_text(f"payment_id,customer_id,payer_name,payer_account\nH3,{second},Paymode-X,\n")
    both = arpilot("--home", str(home), "import-history", str(history))
    assert both.returncode == 0, both.stderr
    assert "1 payer name(s) and 0 bank account(s) stand for customers of more than one family" in (
        both.stdout
    )

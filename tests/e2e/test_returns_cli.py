"""`arpilot link-return` through the real CLI: a bounced cheque of a lockbox deposit is linked
by the analyst naming the invoice it paid, and only that invoice reopens."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from ledger.db import open_ledger
from matching.scoring import RuleScorer
from matching.settings import MatchSettings
from matching.store import match_ledger
from tests.e2e.test_match_cli import arpilot
from tests.unit.test_match_store import _payment, _seed
from tests.unit.test_returns import _return


def test_an_analyst_links_the_return_of_one_cheque_of_a_deposit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert arpilot("--home", str(home), "init").returncode == 0
    with open_ledger(home / "ledger.duckdb") as con:
        _seed(con)
        _payment(con, "PAY-D", 210_000, "ACME", "", "INV-1001 INV-1002 INV-2001", date(2025, 6, 2))
        match_ledger(con, RuleScorer(), MatchSettings())
        _return(con, "PAY-R", -50_000, "DEPOSITED ITEM RETURNED", date(2025, 6, 5))
    assert arpilot("--home", str(home), "match").returncode == 0

    whole = arpilot("--home", str(home), "link-return", "PAY-R", "PAY-D", "--analyst", "ana")
    assert whole.returncode != 0 and "names the invoices that item paid" in whole.stderr
    assert "Traceback" not in whole.stderr
    linked = arpilot(
        "--home", str(home), "link-return", "PAY-R", "PAY-D",
        "--analyst", "ana", "--invoice", "INV-1001",
    )  # fmt: skip
    assert linked.returncode == 0, linked.stderr
    assert "1 application(s) reversed, 1 invoice(s) reopened" in linked.stdout
    with open_ledger(home / "ledger.duckdb", read_only=True) as con:
        opened = dict(con.execute("SELECT invoice_number, open_minor FROM invoices").fetchall())
        (deposit,) = con.execute(
            "SELECT status FROM payments WHERE payment_id = 'PAY-D'"
        ).fetchone()
    assert (opened["INV-1001"], opened["INV-1002"], opened["INV-2001"], deposit) == (
        50_000,
        0,
        0,
        "applied",
    )

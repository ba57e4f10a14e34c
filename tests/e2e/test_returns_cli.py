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


def test_an_erp_that_posted_an_application_but_not_its_unapply_keeps_the_invoice_open(
    tmp_path: Path,
) -> None:
    """The ERP had not posted the application when it exported next; the analyst unapplied
    it; the export after shows the application posted and not its reversal: the invoice is
    open here all the same, until the ERP shows the reversal."""
    home = tmp_path / "home"
    header = (
        "invoice_number,customer_id,customer_name,issue_date,due_date,currency,amount,"
        "open_amount,doc_type\n"
    )

    def snapshot(name: str, open_amount: str) -> None:
        path = tmp_path / name
        # Another item, paid down in the ERP day by day, makes each export a file of its own.
        other = (
            f"INV-9,C9,Other Co,2025-05-01,2025-05-31,USD,100.00,{100 - int(name[3])}.00,invoice\n"
        )
        path.write_text(
            header + f"INV-1001,C1,Acme Widgets Inc.,2025-05-01,2025-05-31,USD,500.00,"
            f"{open_amount},invoice\n" + other
        )
        result = arpilot("--home", str(home), "import-erp", str(path))
        assert result.returncode == 0, result.stderr

    snapshot("erp1.csv", "500.00")
    with open_ledger(home / "ledger.duckdb") as con:
        _payment(con, "PAY-A", 50_000, "ACME WIDGETS", "", "INV-1001", date(2025, 6, 2))
    assert arpilot("--home", str(home), "match").returncode == 0
    snapshot("erp2.csv", "500.00")  # not posted yet
    undone = arpilot(
        "--home", str(home), "unapply", "PAY-A", "--analyst", "jo", "--reason", "query",
    )  # fmt: skip
    assert undone.returncode == 0, undone.stderr
    snapshot("erp3.csv", "0.00")  # the application posted, its reversal not

    def open_now() -> int:
        with open_ledger(home / "ledger.duckdb", read_only=True) as con:
            row = con.execute(
                "SELECT open_minor FROM invoices WHERE invoice_number = 'INV-1001'"
            ).fetchone()
        assert row is not None
        return int(row[0])

    assert open_now() == 50_000
    snapshot("erp4.csv", "500.00")  # the reversal posted
    assert open_now() == 50_000
    snapshot("erp5.csv", "0.00")  # the ERP settles it on its own
    assert open_now() == 0


def test_a_link_history_confirms_stands_when_the_application_that_taught_it_is_undone(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    assert arpilot("--home", str(home), "init").returncode == 0
    account = "DE44500105175407324931"
    with open_ledger(home / "ledger.duckdb") as con:
        _seed(con)
        _payment(con, "PAY-A", 50_000, "ACME WIDGETS", account, "INV-1001", date(2025, 6, 2))
        match_ledger(con, RuleScorer(), MatchSettings())
        taught = con.execute("SELECT source FROM customer_bank_accounts").fetchall()
    assert taught == [("applied",)]
    history = tmp_path / "history.csv"
    history.write_text(
        f"payment_id,customer_id,payer_name,payer_account\nOLD-1,C1,ACME WIDGETS,{account}\n"
    )
    imported = arpilot("--home", str(home), "import-history", str(history))
    assert imported.returncode == 0, imported.stderr
    undone = arpilot(
        "--home", str(home), "unapply", "PAY-A", "--analyst", "jo", "--reason", "query",
    )  # fmt: skip
    assert undone.returncode == 0, undone.stderr
    assert f"still linked: bank account {account!r} -> C1 (imported history's)" in undone.stdout
    assert "500.00 USD open again" in undone.stdout

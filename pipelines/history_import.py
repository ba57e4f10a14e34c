"""`arpilot import-history`: what a team's past cash applications teach about who pays.

An ERP's cleared-payments report lists, per past payment, the customer whose items it cleared,
and the payer's name and bank account as the bank reported them. Each says "this account pays
for this customer" and "this name stands for this customer": the same mappings an analyst's
decision teaches (``matching.store.resolve_exception``), learned in bulk when a team moves its
history in. Only customers the ledger knows are learned; the rest are counted.

Columns (CSV or Parquet, extra columns ignored): ``payment_id, customer_id, payer_name,
payer_account``. The file is validated whole and learned all or nothing, with one audit entry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ingest.files import read_source, read_table
from ledger import audit
from ledger.db import open_ledger, transaction, utcnow
from ledger.errors import RowProblem, ValidationFailed
from ledger.settings import LedgerSettings
from matching.names import compact
from matching.store import load_payers

COLUMNS = ("payment_id", "customer_id", "payer_name", "payer_account")


@dataclass(frozen=True, slots=True)
class HistorySummary:
    """rows: payments read; accounts/aliases: mappings new to the ledger; unknown_customers:
    payments of customers the ledger does not hold (nothing learned from them);
    shared_names/shared_accounts: learnt names and accounts that, after this import, stand for
    customers of more than one family (payment platforms and the like: they identify no one)."""

    rows: int
    accounts: int
    aliases: int
    unknown_customers: int
    shared_names: int = 0
    shared_accounts: int = 0


def import_history(path: Path, settings: LedgerSettings) -> HistorySummary:
    """Learn bank accounts and payer names from a past-payments file; all or nothing.

    Raises :class:`ValidationFailed` naming every missing column or bad row.
    """
    source = read_source(path)
    frame, first_row = read_table(source)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        problem = RowProblem(None, ", ".join(missing), "missing column(s)")
        raise ValidationFailed(str(path), [problem])
    problems = []
    rows = []
    seen: set[str] = set()
    for number, (payment_id, customer_id, name, account) in enumerate(
        frame.select(COLUMNS).iter_rows(), start=first_row
    ):
        payment_id, customer_id = (payment_id or "").strip(), (customer_id or "").strip()
        if not payment_id:
            problems.append(RowProblem(number, "payment_id", "empty"))
        elif payment_id in seen:
            problems.append(RowProblem(number, "payment_id", f"{payment_id!r} appears twice"))
        if not customer_id:
            problems.append(RowProblem(number, "customer_id", "empty"))
        seen.add(payment_id)
        rows.append((customer_id, (name or "").strip(), (account or "").strip()))
    if problems:
        raise ValidationFailed(str(path), problems)
    with open_ledger(settings.ledger_path, lock_wait_seconds=settings.lock_wait_seconds) as con:
        names = dict(con.execute("SELECT customer_id, name FROM customers").fetchall())
        accounts = set(
            con.execute("SELECT account, customer_id FROM customer_bank_accounts").fetchall()
        )
        aliases = set(con.execute("SELECT customer_id, alias FROM customer_aliases").fetchall())
        new_accounts: set[tuple[str, str]] = set()
        new_aliases: set[tuple[str, str]] = set()
        confirmed: list[tuple[str, str, str]] = []  # (table, key, customer) history backs
        unknown = 0
        for customer_id, name, account in rows:
            if customer_id not in names:
                unknown += 1
                continue
            if account and (account, customer_id) not in accounts:
                new_accounts.add((account, customer_id))
            elif account:
                confirmed.append(("customer_bank_accounts", account, customer_id))
            learnt = name and compact(name) != compact(names[customer_id])
            if learnt and (customer_id, name) not in aliases:
                new_aliases.add((customer_id, name))
            elif learnt:
                confirmed.append(("customer_aliases", name, customer_id))
        now = utcnow()
        with transaction(con):
            if new_accounts:  # DuckDB refuses an empty executemany
                con.executemany(
                    "INSERT INTO customer_bank_accounts VALUES (?, ?, 'history', ?)",
                    [(a, c, now) for a, c in sorted(new_accounts)],
                )
            if new_aliases:
                con.executemany(
                    "INSERT INTO customer_aliases VALUES (?, ?, 'history', ?)",
                    [(c, n, now) for c, n in sorted(new_aliases)],
                )
            # A link an application taught that history confirms is history's now: taking
            # that application back leaves it standing.
            for table, column in (
                ("customer_bank_accounts", "account"),
                ("customer_aliases", "alias"),
            ):
                backed = sorted({(key, c) for t, key, c in confirmed if t == table})
                if backed:  # DuckDB refuses an empty executemany
                    con.executemany(
                        f"UPDATE {table} SET source = 'history' WHERE {column} = ? "
                        "AND customer_id = ? AND source IN ('analyst', 'applied')",
                        backed,
                    )
            shared_names, shared_accounts = load_payers(con).intermediaries()
            summary = HistorySummary(
                len(rows),
                len(new_accounts),
                len(new_aliases),
                unknown,
                len(shared_names),
                len(shared_accounts),
            )
            audit.append(
                con,
                [
                    audit.NewEntry(
                        "arpilot",
                        "import_history",
                        "file",
                        source.sha256,
                        {"name": source.name, **asdict(summary)},
                    )
                ],
            )
    return summary

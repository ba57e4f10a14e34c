"""Repository functions: the ledger's reads and writes, each change recorded in the audit chain."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl

from ledger import audit
from ledger.db import Connection, transaction, utcnow
from ledger.errors import InputError, RowProblem, ValidationFailed
from ledger.migrations import LATEST_VERSION
from ledger.money import Money, format_amount
from ledger.records import Payment, RemittanceAdvice

_ITEM_FIELDS = ("issue_date", "due_date", "amount_minor", "open_minor", "terms", "po_number")
_IDENTITY_FIELDS = ("customer_id", "currency", "doc_type")


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an open-items import did. ``already_imported`` means the same bytes came before."""

    file_id: str
    rows: int
    new_invoices: int = 0
    updated_invoices: int = 0
    unchanged_invoices: int = 0
    closed_invoices: int = 0
    new_customers: int = 0
    renamed_customers: int = 0
    reparented_customers: int = 0  # given a parent: new customers with one, or a changed one
    not_yet_posted: int = 0
    """Items the snapshot shows (or, closing what it leaves out, does not show) without some of
    arpilot's applications or reversals: their open amounts stay as arpilot left them."""
    unexplained: tuple[str, ...] = ()
    """Items the ERP changed in a way arpilot's unposted work does not explain: never opened
    more than arpilot shows, and the audit entry says why, for an analyst to check."""
    already_imported: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _file_known(con: Connection, sha256: str) -> str | None:
    rows = con.execute("SELECT file_id FROM ingested_files WHERE sha256 = ?", [sha256]).fetchall()
    return str(rows[0][0]) if rows else None


def _last_open_items_file(con: Connection) -> str | None:
    """The file of the newest open-items import."""
    rows = con.execute(
        "SELECT entity_id FROM audit_log WHERE action = 'import_open_items' "
        "ORDER BY seq DESC LIMIT 1"
    ).fetchall()
    return str(rows[0][0]) if rows else None


def _conflicts(con: Connection) -> list[RowProblem]:
    """Rows that would change who owes an existing item, its currency or its kind."""
    checks = " OR ".join(f"l.{f} <> i.{f}" for f in _IDENTITY_FIELDS)
    rows = con.execute(
        f"""
        SELECT i.row, i.invoice_number, l.customer_id, i.customer_id, l.currency, i.currency,
               l.doc_type, i.doc_type
        FROM incoming i JOIN invoices l USING (invoice_number)
        WHERE {checks}
        ORDER BY i.row
        """
    ).fetchall()
    problems = []
    for row, number, old_cust, new_cust, old_cur, new_cur, old_doc, new_doc in rows:
        for column, old, new in (
            ("customer_id", old_cust, new_cust),
            ("currency", old_cur, new_cur),
            ("doc_type", old_doc, new_doc),
        ):
            if old != new:
                problems.append(
                    RowProblem(
                        row,
                        column,
                        f"invoice {number} is {old!r} in the ledger, the file says {new!r}; "
                        "correct the export or reverse the item in the ERP",
                    )
                )
    return problems


POSTED = "posted"
POSTED_IN_PART = "posted in part"
NOT_YET_POSTED = "not yet posted"
UNEXPLAINED = "unexplained"
_MAX_PIECES = 12  # settlements of one item searched for the part an ERP posted (3**12 steps)


@dataclass(frozen=True, slots=True)
class Reconciled:
    """An item's open amount after a snapshot, and how the snapshot stood to arpilot's work."""

    open_minor: int
    state: str  # "" when arpilot had nothing unposted on the item, else one of the four above
    unposted_minor: int = 0


def reconcile_open(
    *,
    erp_now: int,
    erp_before: int,
    ledger_open: int,
    amount: int,
    settlements: Sequence[int] = (),
) -> Reconciled:
    """The open amount of an item whose ERP snapshot says ``erp_now`` is open.

    arpilot's applications (and reversals) move the ledger's open amount away from what the
    ERP last showed (``erp_before``) until the ERP posts them, so ``erp_before - ledger_open``
    is what arpilot has settled that no snapshot has shown yet. A snapshot showing the item as
    before has posted none of it, and the ledger keeps arpilot's amount: else an ERP a day
    behind would reopen paid invoices to be paid again. One showing exactly that much less has
    posted it all. One showing less by part of it has posted that part, when arpilot's
    ``settlements`` on the item since the last snapshot (each application's amount, each
    reversal's negated) can be split so: some of them make up what is unposted, and some of
    those the part posted (an application posted and its reversal not: nothing unposted in
    sum, yet the item stays open). Then the ledger's amount stands again. Any other change
    (the ERP settled something else too, or reversed something) cannot be told apart: the
    lowest of the readings that can be (nothing open below zero nor above the amount) and
    the ledger's own amount is kept, so an unexplained snapshot never opens more than arpilot
    shows. Money left unapplied goes to an analyst; money applied twice goes to the customer.
    """
    low, high = min(0, amount), max(0, amount)

    def bounded(value: int) -> int:
        return max(low, min(high, value))

    unposted = erp_before - ledger_open
    if erp_now == erp_before:
        return Reconciled(bounded(ledger_open), NOT_YET_POSTED if unposted else "", unposted)
    if unposted and erp_now == erp_before - unposted:
        return Reconciled(erp_now, POSTED, unposted)
    if _posted_in_part(settlements, unposted, erp_before - erp_now):
        return Reconciled(bounded(ledger_open), POSTED_IN_PART, unposted)
    if unposted == 0:
        return Reconciled(erp_now, "")
    readings = [r for r in (erp_now, erp_now - unposted) if low <= r <= high]
    lowest = min([*readings, bounded(ledger_open)], key=abs)
    return Reconciled(lowest, UNEXPLAINED, unposted)


def _posted_in_part(pieces: Sequence[int], unposted: int, posted: int) -> bool:
    """Whether some of ``pieces`` add up to ``unposted`` and some of those, not none nor all,
    to ``posted``; False beyond a handful of pieces."""
    n = len(pieces)
    if not n or n > _MAX_PIECES or posted in (0, unposted):
        return False
    sums = [0] * (1 << n)
    for mask in range(1, 1 << n):
        low = mask & -mask
        sums[mask] = sums[mask ^ low] + pieces[low.bit_length() - 1]
    for mask in range(1, 1 << n):
        if sums[mask] != unposted:
            continue
        part = (mask - 1) & mask
        while part:
            if sums[part] == posted:
                return True
            part = (part - 1) & mask
    return False


def _reconciliation_payload(
    row: dict[str, Any], outcome: Reconciled, currency: str
) -> dict[str, Any]:
    """What the audit entry of an item with arpilot's work unposted says besides its changes."""
    if not outcome.state:
        return {}
    return {
        "erp_open_amount": [
            format_amount(row["old_open_minor"], currency),
            format_amount(row["open_minor"], currency),
        ],
        "arpilot_unposted": format_amount(outcome.unposted_minor, currency),
        "reconciliation": outcome.state,
    }


def _last_import(con: Connection) -> datetime:
    """When the last open-items snapshot was imported (the epoch before the first)."""
    (since,) = con.execute(
        "SELECT coalesce(max(recorded_at), TIMESTAMP '1970-01-01') FROM audit_log "
        "WHERE action = 'import_open_items'"
    ).fetchone() or (datetime(1970, 1, 1),)
    return since


def _settlements(con: Connection, numbers: list[str]) -> dict[str, list[int]]:
    """arpilot's settlements of each item of ``numbers`` a snapshot may not show yet: since
    the last open-items import, or since the one before which the ERP last showed all of
    arpilot's work on the item (``erp_pending``): every application's amount (cash and
    adjustment), and each reversal's, negated."""
    found: defaultdict[str, list[int]] = defaultdict(list)
    if not numbers:
        return found
    since = _last_import(con)
    for number, settled, applied_since, reversed_since in con.execute(
        """
        SELECT a.invoice_number, a.applied_minor + a.adjustment_minor,
               a.decided_at > coalesce(p.since, ?),
               coalesce(a.reversed_at > coalesce(p.since, ?), false)
        FROM applications a LEFT JOIN erp_pending p USING (invoice_number)
        WHERE a.invoice_number IN (SELECT unnest(?))
        ORDER BY a.decided_at, a.application_id
        """,
        [since, since, numbers],
    ).fetchall():
        if applied_since:
            found[number].append(settled)
        if reversed_since:
            found[number].append(-settled)
    return found


def _changes_payload(row: dict[str, Any], currency: str, open_now: int) -> dict[str, list[str]]:
    """Old and new values of what changed; the open amount is the ledger's (``open_now`` is its
    new value), which the ERP's moves only as :func:`reconcile_open` decides."""
    changes: dict[str, list[str]] = {}
    for name in _ITEM_FIELDS:
        old, new = row[f"old_{name}"], row[name]
        if name == "open_minor":
            old, new = row["ledger_open"], open_now
        if old == new:
            continue
        label = name.removesuffix("_minor").replace("open", "open_amount")
        if name.endswith("_minor"):
            changes[label] = [format_amount(old, currency), format_amount(new, currency)]
        else:
            changes[label] = [str(old), str(new)]
    return changes


def import_open_items(
    con: Connection,
    items: pl.DataFrame,
    *,
    sha256: str,
    name: str,
    file_format: str,
    actor: str = "erp-import",
    close_missing: bool = False,
    as_of: datetime | None = None,
) -> ImportSummary:
    """Store validated open items all-or-nothing; the same file as the last one imported is a
    no-op (an earlier file imported again, after others, is a snapshot of its own: the ERP may
    have gone back to what it showed then). ``as_of``: when the ERP took the snapshot; one
    taken before a snapshot imported already is refused (read as the ERP's latest word, it
    would reopen what the ERP has posted since).

    New items are inserted; items whose amounts, dates, terms or PO changed are updated with one
    audit entry each (old and new values); with ``close_missing`` items absent from the file are
    closed (open amount 0), also audited. New customers are created and a changed customer name
    keeps the old one as an alias. Raises :class:`ValidationFailed` on conflicting identities.
    """
    file_id = sha256[:16]
    known = _file_known(con, sha256)
    if known is not None and known == _last_open_items_file(con):
        return ImportSummary(file_id=known, rows=items.height, already_imported=True)
    if as_of is not None:
        _check_taken_after(con, name, as_of)
    now = utcnow()
    con.register("incoming", items)
    try:
        problems = _conflicts(con)
        if problems:
            raise ValidationFailed(name, problems)
        with transaction(con):
            summary = _write_open_items(con, file_id, items.height, now, actor, close_missing)
            con.execute(
                "INSERT INTO ingested_files VALUES (?, ?, ?, ?, 'ingested', '', ?, ?) "
                "ON CONFLICT (file_id) DO UPDATE SET counts = excluded.counts, "
                "received_at = excluded.received_at",
                [file_id, sha256, name, file_format, json.dumps(summary.as_dict()), now],
            )
            audit.append(
                con,
                [
                    audit.NewEntry(
                        actor,
                        "import_open_items",
                        "file",
                        file_id,
                        {"name": name, "sha256": sha256, **summary.as_dict()}
                        | ({"as_of": as_of.isoformat()} if as_of is not None else {}),
                    )
                ],
                at=now,
            )
        return summary
    finally:
        con.unregister("incoming")


def _check_taken_after(con: Connection, name: str, as_of: datetime) -> None:
    """Refuse a snapshot taken before the newest one imported with its time."""
    newest = con.execute(
        "SELECT json_extract_string(payload, '$.as_of') AS taken, "
        "json_extract_string(payload, '$.name') FROM audit_log "
        "WHERE action = 'import_open_items' AND taken IS NOT NULL "
        "ORDER BY CAST(taken AS TIMESTAMP) DESC LIMIT 1"
    ).fetchall()
    if newest and as_of < datetime.fromisoformat(newest[0][0]):
        raise InputError(
            f"{name} was taken at {as_of:%Y-%m-%d %H:%M}, before {newest[0][1]} (taken at "
            f"{datetime.fromisoformat(newest[0][0]):%Y-%m-%d %H:%M}), imported already: read "
            "now, it would reopen what the ERP has posted since. Import snapshots in the order "
            "they were taken"
        )


def _track_pending(con: Connection, previous: datetime, absent: list[str]) -> None:
    """After a snapshot: an item it shows in step with the ledger has nothing of arpilot's
    pending; one out of step keeps what was pending before, or, newly so, what arpilot did
    since the import before this one (``previous``)."""
    con.execute(
        """
        DELETE FROM erp_pending WHERE invoice_number IN (
            SELECT l.invoice_number FROM invoices l
            WHERE l.erp_open_minor IS NOT DISTINCT FROM l.open_minor
              AND (l.invoice_number IN (SELECT invoice_number FROM incoming)
                   OR l.invoice_number IN (SELECT unnest(?))))
        """,
        [absent],
    )
    con.execute(
        "INSERT INTO erp_pending SELECT invoice_number, ? FROM invoices "
        "WHERE erp_open_minor IS DISTINCT FROM open_minor ON CONFLICT DO NOTHING",
        [previous],
    )


def _write_open_items(
    con: Connection, file_id: str, rows: int, now: Any, actor: str, close_missing: bool
) -> ImportSummary:
    previous = _last_import(con)
    # Customers first: new ones, then renames (the old name stays as an alias), then parents
    # (a blank parent leaves the ledger's as it is: an export without them clears nothing).
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE incoming_customers AS
        SELECT customer_id, first(customer_name ORDER BY row) AS name,
               max(nullif(parent_id, '')) AS parent_id
        FROM incoming GROUP BY customer_id
        """
    )
    new_parents = [
        parent
        for (parent,) in con.execute(
            """
            INSERT INTO customers
            SELECT c.customer_id, c.name, c.parent_id, ?, ?
            FROM incoming_customers c ANTI JOIN customers USING (customer_id)
            RETURNING parent_id
            """,
            [now, now],
        ).fetchall()
    ]
    renamed = con.execute(
        """
        SELECT l.customer_id, l.name, c.name
        FROM incoming_customers c JOIN customers l USING (customer_id)
        WHERE l.name <> c.name ORDER BY l.customer_id
        """
    ).fetchall()
    for customer_id, old_name, new_name in renamed:
        con.execute(
            "UPDATE customers SET name = ?, updated_at = ? WHERE customer_id = ?",
            [new_name, now, customer_id],
        )
        con.execute(
            "INSERT INTO customer_aliases VALUES (?, ?, 'erp', ?) ON CONFLICT DO NOTHING",
            [customer_id, old_name, now],
        )
    audit.append(
        con,
        [
            audit.NewEntry(
                actor, "rename_customer", "customer", cid, {"old_name": old, "new_name": new}
            )
            for cid, old, new in renamed
        ],
        at=now,
    )

    reparented = con.execute(
        """
        SELECT l.customer_id, l.parent_id, c.parent_id
        FROM incoming_customers c JOIN customers l USING (customer_id)
        WHERE c.parent_id IS NOT NULL AND c.parent_id IS DISTINCT FROM l.parent_id
        ORDER BY l.customer_id
        """
    ).fetchall()
    con.execute(
        """
        UPDATE customers SET parent_id = c.parent_id, updated_at = ?
        FROM incoming_customers c
        WHERE customers.customer_id = c.customer_id
          AND c.parent_id IS NOT NULL AND c.parent_id IS DISTINCT FROM customers.parent_id
        """,
        [now],
    )
    audit.append(
        con,
        [
            audit.NewEntry(
                actor,
                "change_customer_parent",
                "customer",
                cid,
                {"old_parent": old, "new_parent": new},
            )
            for cid, old, new in reparented
        ],
        at=now,
    )

    # The ERP's open amount is compared with what its last snapshot said (erp_open_minor), not
    # with the ledger's, which arpilot's own applications have moved since.
    stored = {f: "erp_open_minor" if f == "open_minor" else f for f in _ITEM_FIELDS}
    changed = con.sql(
        f"""
        SELECT i.invoice_number, i.currency, l.open_minor AS ledger_open,
               {", ".join(f"i.{f}, l.{stored[f]} AS old_{f}" for f in _ITEM_FIELDS)}
        FROM incoming i JOIN invoices l USING (invoice_number)
        WHERE {" OR ".join(f"i.{f} IS DISTINCT FROM l.{stored[f]}" for f in _ITEM_FIELDS)}
        ORDER BY i.row
        """
    ).pl()
    settlements = _settlements(con, changed["invoice_number"].to_list())
    reconciled = [
        reconcile_open(
            erp_now=row["open_minor"],
            erp_before=row["old_open_minor"],
            ledger_open=row["ledger_open"],
            amount=row["amount_minor"],
            settlements=settlements.get(row["invoice_number"], ()),
        )
        for row in changed.iter_rows(named=True)
    ]
    if changed.height:
        changed = changed.with_columns(
            pl.Series("reconciled_open", [r.open_minor for r in reconciled], dtype=pl.Int64)
        )
        con.register("changed", changed)
        con.execute(
            f"""
            UPDATE invoices SET {", ".join(f"{f} = c.{f}" for f in _ITEM_FIELDS if f != "open_minor")},
                   open_minor = c.reconciled_open, erp_open_minor = c.open_minor,
                   source_file_id = ?, updated_at = ?
            FROM changed c WHERE invoices.invoice_number = c.invoice_number
            """,
            [file_id, now],
        )
        con.unregister("changed")
        audit.append(
            con,
            [
                audit.NewEntry(
                    actor,
                    "update_open_item",
                    "invoice",
                    row["invoice_number"],
                    {
                        "file_id": file_id,
                        "changes": _changes_payload(row, row["currency"], outcome.open_minor),
                        **_reconciliation_payload(row, outcome, row["currency"]),
                    },
                )
                for row, outcome in zip(changed.iter_rows(named=True), reconciled, strict=True)
            ],
            at=now,
        )

    new_invoices = con.execute(
        """
        INSERT INTO invoices
        SELECT i.invoice_number, i.customer_id, i.doc_type, i.issue_date, i.due_date, i.currency,
               i.amount_minor, i.open_minor, i.terms, i.po_number, ?, ?, i.open_minor
        FROM incoming i ANTI JOIN invoices USING (invoice_number)
        """,
        [file_id, now],
    ).fetchall()[0][0]

    absent = _close_absent(con, file_id, now, actor) if close_missing else []
    closed = [a for a in absent if a.open_before != 0 and a.outcome.open_minor == 0]
    _track_pending(con, previous, [a.number for a in absent])

    unexplained = tuple(
        number
        for number, r in zip(changed["invoice_number"], reconciled, strict=True)
        if r.state == UNEXPLAINED
    ) + tuple(a.number for a in absent if a.outcome.state == UNEXPLAINED)
    unposted = {
        number
        for (number,) in con.execute(
            "SELECT invoice_number FROM incoming JOIN invoices l USING (invoice_number) "
            "WHERE l.erp_open_minor <> l.open_minor"
        ).fetchall()
    } | {a.number for a in absent if a.outcome.open_minor != 0}
    return ImportSummary(
        file_id=file_id,
        rows=rows,
        new_invoices=int(new_invoices),
        updated_invoices=changed.height,
        unchanged_invoices=rows - int(new_invoices) - changed.height,
        closed_invoices=len(closed),
        new_customers=len(new_parents),
        renamed_customers=len(renamed),
        reparented_customers=sum(p is not None for p in new_parents) + len(reparented),
        not_yet_posted=len(unposted - set(unexplained)),
        unexplained=unexplained,
    )


@dataclass(frozen=True, slots=True)
class _Absent:
    """An item a full snapshot leaves out, and what became of it."""

    number: str
    currency: str
    open_before: int
    erp_before: int
    outcome: Reconciled


def _close_absent(con: Connection, file_id: str, now: Any, actor: str) -> list[_Absent]:
    """Items a full snapshot leaves out are settled in the ERP: open 0 there, reconciled with
    arpilot's unposted work like any listed item (so a reversal of arpilot's the ERP has not
    posted keeps its invoice open). Each change is audited."""
    rows = con.execute(
        """
        SELECT l.invoice_number, l.currency, l.open_minor, l.erp_open_minor, l.amount_minor
        FROM invoices l ANTI JOIN incoming USING (invoice_number)
        WHERE l.open_minor <> 0 OR l.erp_open_minor <> 0 ORDER BY l.invoice_number
        """
    ).fetchall()
    pieces = _settlements(con, [number for number, *_ in rows])
    absent = [
        _Absent(
            number,
            currency,
            open_,
            erp,
            reconcile_open(
                erp_now=0,
                erp_before=erp,
                ledger_open=open_,
                amount=amount,
                settlements=pieces.get(number, ()),
            ),
        )
        for number, currency, open_, erp, amount in rows
    ]
    if not absent:
        return []
    frame = pl.DataFrame(
        {
            "invoice_number": [a.number for a in absent],
            "open_minor": [a.outcome.open_minor for a in absent],
        },
        schema={"invoice_number": pl.String, "open_minor": pl.Int64},
    )
    con.register("absent", frame)
    try:
        con.execute(
            """
            UPDATE invoices SET open_minor = a.open_minor, erp_open_minor = 0,
                   source_file_id = ?, updated_at = ?
            FROM absent a WHERE invoices.invoice_number = a.invoice_number
            """,
            [file_id, now],
        )
    finally:
        con.unregister("absent")
    entries = []
    for a in absent:
        after = a.outcome.open_minor
        if after == a.open_before and not a.outcome.state:
            continue
        payload: dict[str, Any] = {"file_id": file_id, "reason": "absent from open-items snapshot"}
        if after != a.open_before:
            payload["changes"] = {
                "open_amount": [
                    format_amount(a.open_before, a.currency),
                    format_amount(after, a.currency),
                ]
            }
        payload |= _reconciliation_payload(
            {"old_open_minor": a.erp_before, "open_minor": 0}, a.outcome, a.currency
        )
        action = "close_open_item" if after == 0 and a.open_before != 0 else "update_open_item"
        entries.append(audit.NewEntry(actor, action, "invoice", a.number, payload))
    audit.append(con, entries, at=now)
    return absent


@dataclass(frozen=True, slots=True)
class LedgerStatus:
    """Counts an operator checks first. ``open_by_currency`` maps currency to open minor units."""

    schema_version: int
    customers: int
    open_items: int
    invoices: int
    credit_memos: int
    open_by_currency: dict[str, int] = field(default_factory=dict)
    payments: int = 0
    unapplied_payments: int = 0
    returned_payments: int = 0  # receipts their bank took back, applications reversed
    returns_waiting: int = 0  # returned receipts not yet linked to what they take back
    applications: int = 0
    open_exceptions: int = 0
    ingested_files: int = 0
    quarantined_files: int = 0
    audit_entries: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ledger_status(con: Connection) -> LedgerStatus:
    """One read of the counts that say where the ledger stands."""

    def scalar(sql: str) -> int:
        return int(con.execute(sql).fetchall()[0][0] or 0)

    open_by_currency = {
        str(cur): int(amount)
        for cur, amount in con.execute(
            "SELECT currency, sum(open_minor) FROM invoices WHERE open_minor <> 0 "
            "GROUP BY currency ORDER BY currency"
        ).fetchall()
    }
    return LedgerStatus(
        schema_version=LATEST_VERSION,
        customers=scalar("SELECT count(*) FROM customers"),
        open_items=scalar("SELECT count(*) FROM invoices WHERE open_minor <> 0"),
        invoices=scalar("SELECT count(*) FROM invoices WHERE doc_type = 'invoice'"),
        credit_memos=scalar("SELECT count(*) FROM invoices WHERE doc_type = 'credit_memo'"),
        open_by_currency=open_by_currency,
        payments=scalar("SELECT count(*) FROM payments"),
        unapplied_payments=scalar("SELECT count(*) FROM payments WHERE status = 'unapplied'"),
        returned_payments=scalar("SELECT count(*) FROM payments WHERE status = 'returned'"),
        returns_waiting=scalar("SELECT count(*) FROM payments WHERE status = 'return'"),
        applications=scalar("SELECT count(*) FROM applications WHERE reversed_at IS NULL"),
        open_exceptions=scalar("SELECT count(*) FROM exceptions WHERE status = 'open'"),
        ingested_files=scalar("SELECT count(*) FROM ingested_files WHERE status = 'ingested'"),
        quarantined_files=scalar(
            "SELECT count(*) FROM ingested_files WHERE status = 'quarantined'"
        ),
        audit_entries=scalar("SELECT count(*) FROM audit_log"),
    )


def open_items_frame(con: Connection) -> pl.DataFrame:
    """Every invoice and credit memo with an open amount, as a polars frame (minor units)."""
    return con.sql(
        "SELECT * EXCLUDE (source_file_id, updated_at, erp_open_minor) FROM invoices "
        "WHERE open_minor <> 0 "
        "ORDER BY customer_id, due_date, invoice_number"
    ).pl()


def known_file(con: Connection, sha256: str) -> tuple[str, str] | None:
    """(file_id, status) of a file already seen with these bytes, or None."""
    rows = con.execute(
        "SELECT file_id, status FROM ingested_files WHERE sha256 = ?", [sha256]
    ).fetchall()
    return (str(rows[0][0]), str(rows[0][1])) if rows else None


def record_file(
    con: Connection,
    *,
    file_id: str,
    sha256: str,
    name: str,
    file_format: str,
    status: str,
    reason: str = "",
    counts: dict[str, int] | None = None,
) -> None:
    """Remember a file by content hash: ingested, or quarantined with what/where/why."""
    con.execute(
        "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (file_id) DO UPDATE "
        "SET status = excluded.status, quarantine_reason = excluded.quarantine_reason, "
        "counts = excluded.counts, received_at = excluded.received_at",
        [file_id, sha256, name, file_format, status, reason, json.dumps(counts or {}), utcnow()],
    )


def insert_payments(con: Connection, payments: list[Payment]) -> tuple[list[str], int]:
    """Store bank transactions not seen before, by (fingerprint, occurrence).

    Returns the ids of the new ones and the number already in the ledger (from an overlapping
    statement or an earlier file). Credits wait to be applied; debits are kept for the record.
    """
    if not payments:
        return [], 0
    now = utcnow()
    frame = pl.DataFrame(
        {
            "payment_id": [p.payment_id for p in payments],
            "account": [p.account for p in payments],
            "currency": [p.amount.currency for p in payments],
            "amount_minor": [p.amount.minor for p in payments],
            "value_date": [p.value_date for p in payments],
            "booking_date": [p.booking_date for p in payments],
            "payer_name": [p.payer_name for p in payments],
            "payer_account": [p.payer_account for p in payments],
            "bank_reference": [p.bank_reference for p in payments],
            "end_to_end_id": [p.end_to_end_id for p in payments],
            "remittance_text": [p.remittance_text for p in payments],
            "fingerprint": [p.fingerprint for p in payments],
            "occurrence": [p.occurrence for p in payments],
            "source_file_id": [p.source_file_id for p in payments],
            "status": [p.status for p in payments],
            "created_at": [now] * len(payments),
            "customer_reference": [p.customer_reference for p in payments],
            "source_line": [p.source_line for p in payments],
            "type_code": [p.type_code for p in payments],
        },
        schema_overrides={
            "amount_minor": pl.Int64,
            "occurrence": pl.Int32,
            "source_line": pl.Int32,
        },
    )
    con.register("incoming_payments", frame)
    try:
        new_ids = [
            str(r[0])
            for r in con.execute(
                """
                INSERT INTO payments BY NAME
                SELECT i.* FROM incoming_payments i
                ANTI JOIN payments p USING (fingerprint, occurrence)
                RETURNING payment_id
                """
            ).fetchall()
        ]
    finally:
        con.unregister("incoming_payments")
    return new_ids, len(payments) - len(new_ids)


def stored_copies(con: Connection, fingerprints: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    """By fingerprint, the stored payments that have it: (payment id, occurrence), in order."""
    if not fingerprints:
        return {}
    copies: dict[str, list[tuple[str, int]]] = defaultdict(list)
    con.register("wanted_fingerprints", pl.DataFrame({"fingerprint": list(set(fingerprints))}))
    try:
        rows = con.execute(
            "SELECT p.fingerprint, p.payment_id, p.occurrence FROM payments p "
            "SEMI JOIN wanted_fingerprints w USING (fingerprint) "
            "ORDER BY p.fingerprint, p.occurrence"
        ).fetchall()
    finally:
        con.unregister("wanted_fingerprints")
    for fingerprint, payment_id, occurrence in rows:
        copies[str(fingerprint)].append((str(payment_id), int(occurrence)))
    return dict(copies)


def payment_copies(con: Connection, payment_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    """:func:`stored_copies` of the fingerprints these payments have."""
    if not payment_ids:
        return {}
    marks = ", ".join("?" for _ in payment_ids)
    rows = con.execute(
        f"SELECT DISTINCT fingerprint FROM payments WHERE payment_id IN ({marks})",
        list(payment_ids),
    ).fetchall()
    return stored_copies(con, [str(r[0]) for r in rows])


@dataclass(frozen=True, slots=True)
class StoredStatement:
    """A bank statement with both balances, as ``bank_statements`` keeps it."""

    statement_key: str
    account: str
    currency: str
    statement_id: str
    from_date: date | None
    to_date: date | None
    opening_minor: int
    closing_minor: int


def stored_statements(con: Connection, accounts: Sequence[str]) -> list[StoredStatement]:
    """The stored statements of these accounts, and by statement the payments it holds."""
    if not accounts:
        return []
    marks = ", ".join("?" for _ in set(accounts))
    rows = con.execute(
        "SELECT statement_key, account, currency, statement_id, from_date, to_date, "
        f"opening_minor, closing_minor FROM bank_statements WHERE account IN ({marks}) "
        "ORDER BY created_at, statement_key",
        list(set(accounts)),
    ).fetchall()
    return [StoredStatement(*row) for row in rows]


def statement_payments(con: Connection, keys: Sequence[str]) -> dict[str, set[str]]:
    """By statement key, the payments its transactions are."""
    if not keys:
        return {}
    held: dict[str, set[str]] = defaultdict(set)
    con.register("wanted_statements", pl.DataFrame({"statement_key": list(set(keys))}))
    try:
        rows = con.execute(
            "SELECT e.statement_key, e.payment_id FROM statement_entries e "
            "SEMI JOIN wanted_statements w USING (statement_key)"
        ).fetchall()
    finally:
        con.unregister("wanted_statements")
    for key, payment_id in rows:
        held[str(key)].add(str(payment_id))
    return dict(held)


def separate_payment(
    con: Connection, statement_key: str, payment_id: str, instead: str, occurrence: int
) -> None:
    """A stored statement's transaction, taken for a copy of ``payment_id`` when it was read,
    is ``instead``: a stored payment, or (``occurrence`` > 0) a new one, stored as a copy of
    ``payment_id``'s row and bank advice under that occurrence of its fingerprint, waiting to
    be applied, from the statement's file."""
    if occurrence:
        now = utcnow()
        con.execute(
            """
            INSERT INTO payments
            SELECT * REPLACE (
                ? AS payment_id,
                ? AS occurrence,
                (SELECT source_file_id FROM bank_statements WHERE statement_key = ?)
                    AS source_file_id,
                CASE WHEN status = 'not_receivable' THEN status
                     WHEN status IN ('return', 'return_linked') THEN 'return'
                     ELSE 'unapplied' END AS status,
                ? AS created_at,
                NULL AS returns_payment_id
            )
            FROM payments WHERE payment_id = ?
            """,
            [instead, occurrence, statement_key, now, payment_id],
        )
        advice = f"BNK-{payment_id.removeprefix('PAY-')}"
        copy = f"BNK-{instead.removeprefix('PAY-')}"
        con.execute(
            "INSERT INTO remittance_advices SELECT * REPLACE (? AS advice_id, ? AS payment_id, "
            "? AS created_at) FROM remittance_advices WHERE advice_id = ?",
            [copy, instead, now, advice],
        )
        con.execute(
            "INSERT INTO remittance_lines SELECT * REPLACE (? AS advice_id) "
            "FROM remittance_lines WHERE advice_id = ?",
            [copy, advice],
        )
    con.execute(
        "DELETE FROM statement_entries WHERE statement_key = ? AND payment_id = ?",
        [statement_key, payment_id],
    )
    con.execute(
        "INSERT INTO statement_entries VALUES (?, ?) ON CONFLICT DO NOTHING",
        [statement_key, instead],
    )


def record_statements(
    con: Connection,
    statements: Sequence[StoredStatement],
    entries: Sequence[tuple[str, str]],
    file_id: str,
) -> None:
    """Keep statements with both balances and (statement key, payment id) of their
    transactions; a statement stored before is left as it is."""
    now = utcnow()
    for s in statements:
        con.execute(
            "INSERT INTO bank_statements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (statement_key) DO NOTHING",
            [
                s.statement_key,
                s.account,
                s.currency,
                s.statement_id,
                s.from_date,
                s.to_date,
                s.opening_minor,
                s.closing_minor,
                file_id,
                now,
            ],
        )
    if not entries:
        return
    frame = pl.DataFrame(
        {"statement_key": [k for k, _ in entries], "payment_id": [p for _, p in entries]}
    ).unique()
    con.register("incoming_entries", frame)
    try:
        con.execute(
            "INSERT INTO statement_entries SELECT i.* FROM incoming_entries i "
            "ANTI JOIN statement_entries e USING (statement_key, payment_id)"
        )
    finally:
        con.unregister("incoming_entries")


def insert_advices(
    con: Connection, advices: list[RemittanceAdvice], payment_of: dict[str, str] | None = None
) -> int:
    """Store remittance advices and their lines (skipping ids already stored); return new count.

    ``payment_of`` links an advice to the payment it describes when that is known at ingest
    (structured remittance inside a bank record); separate advices are linked by matching.
    Rows go in as two frames, so a statement with a hundred thousand advices stores in seconds.
    """
    if not advices:
        return 0
    links = payment_of or {}
    now = utcnow()

    def minor(value: Money | None) -> int | None:
        return value.minor if value is not None else None

    heads = pl.DataFrame(
        {
            "advice_id": [a.advice_id for a in advices],
            "payer_name": [a.payer_name for a in advices],
            "payment_reference": [a.payment_reference for a in advices],
            "payment_date": [a.payment_date for a in advices],
            "currency": [
                a.total.currency if a.total else (a.lines[0].paid.currency if a.lines else None)
                for a in advices
            ],
            "total_minor": [minor(a.total) for a in advices],
            "confidence": [float(a.confidence) for a in advices],
            "source_file_id": [a.source_file_id for a in advices],
            "payment_id": [links.get(a.advice_id) for a in advices],
            "details": [
                json.dumps(
                    {
                        "payer_number": a.payer_number,
                        "currency_stated": a.currency_stated,
                        "unassigned_deduction_minor": minor(a.unassigned_deduction) or 0,
                        "unassigned_reason": a.unassigned_reason,
                    }
                )
                for a in advices
            ],
            "created_at": [now] * len(advices),
            "linked_by": ["bank record" if a.advice_id in links else "" for a in advices],
        },
        schema_overrides={
            "payment_date": pl.Date,
            "total_minor": pl.Int64,
            "currency": pl.String,
            "payment_id": pl.String,
        },
    )
    lines = [(a.advice_id, n, line) for a in advices for n, line in enumerate(a.lines, start=1)]
    body = pl.DataFrame(
        {
            "advice_id": [a for a, _, _ in lines],
            "line_no": [n for _, n, _ in lines],
            "reference": [line.reference for _, _, line in lines],
            "currency": [line.paid.currency for _, _, line in lines],
            "paid_minor": [line.paid.minor for _, _, line in lines],
            "gross_minor": [minor(line.gross) for _, _, line in lines],
            "discount_minor": [minor(line.discount) for _, _, line in lines],
            "deduction_minor": [minor(line.deduction) for _, _, line in lines],
            "reason": [line.reason for _, _, line in lines],
            "invoice_date": [line.invoice_date for _, _, line in lines],
            "confidence": [float(line.confidence) for _, _, line in lines],
        },
        schema_overrides={
            "line_no": pl.Int32,
            "paid_minor": pl.Int64,
            "gross_minor": pl.Int64,
            "discount_minor": pl.Int64,
            "deduction_minor": pl.Int64,
            "invoice_date": pl.Date,
        },
    )
    con.register("incoming_advices", heads)
    con.register("incoming_lines", body)
    try:
        new_ids = con.execute(
            """
            INSERT INTO remittance_advices
            SELECT i.* FROM incoming_advices i ANTI JOIN remittance_advices r USING (advice_id)
            RETURNING advice_id
            """
        ).fetchall()
        if new_ids and body.height:
            con.execute(
                """
                INSERT INTO remittance_lines
                SELECT l.* FROM incoming_lines l
                SEMI JOIN (SELECT unnest(?) AS advice_id) n USING (advice_id)
                """,
                [[str(r[0]) for r in new_ids]],
            )
    finally:
        con.unregister("incoming_advices")
        con.unregister("incoming_lines")
    return len(new_ids)

"""Writing a simulated world to a folder: ERP exports, bank files, advices and ground truth.

Layout of the folder::

    erp/open_items.csv            open items when the window's cash arrives (DESIGN columns and
                                  the customer's parent, as an ERP's customer hierarchy has it)
    erp/invoice_history.csv       invoices issued before the window, outcomes known then
    history/payments.csv          past payments as the ledger holds them
    history/allocations.csv       their true applications (a team's past decisions)
    bank/<account>/...            statements of the window: BAI2, camt.053/054, MT940, CSV
    bank/<account>/mapping.json   the column mapping of a CSV bank
    remittances/<document>.<ext>  advices sent apart from the money
    truth/payments.csv            every window payment: where it is, who paid, what makes it hard
    truth/allocations.csv         how each window payment should be applied
    truth/invoices.csv            every invoice's final outcome (pay date or write-off)
    truth/customers.csv           behaviour and default events
    truth/documents.csv           every advice document and how it was rendered
    manifest.json                 parameters, counts, target and achieved mix, file hashes
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from ledger.money import format_amount
from simulator import documents as document_writers
from simulator import formats
from simulator.model import BankAccount, Statement, StatementLine
from simulator.world import OUR_NAME, Payment, World

ACCOUNTS = (
    BankAccount("First Continental Bank", "021000089", "4400012345", "Operating", "USD", "bai2"),
    BankAccount("First Continental Bank", "021000089", "4400067890", "Lockbox", "USD", "bai2"),
    BankAccount("Prairie National Bank", "PNB", "7781200456", "Collections", "USD", "csv"),
    BankAccount(
        "Rheinland Handelsbank AG",
        "RHHBDEFFXXX",
        "DE44500105175407324931",
        "EUR Operating",
        "EUR",
        "camt053",
    ),
    BankAccount(
        "Noord Commerciele Bank NV",
        "NCBKNL2AXXX",
        "NL91ABNA0417164300",
        "EUR Receipts",
        "EUR",
        "camt054",
    ),
    BankAccount(
        "Hanse Sparkasse",
        "HASPDEHHXXX",
        "DE89370400440532013000",
        "EUR Collections",
        "EUR",
        "mt940",
    ),
    BankAccount(
        "Thames Commercial Bank",
        "TCBKGB2LXXX",
        "GB29NWBK60161331926819",
        "GBP Receipts",
        "GBP",
        "mt940",
    ),
)
BAI_TYPE = {"ach": "142", "wire": "195", "lockbox": "115", "sepa": "142"}


WORLD_FORMAT = 2
"""Version of the folder layout and columns a world is written in: 2 added the customer's
parent to the open items. A world kept from an older version must be written again."""


def _account_for(rng: random.Random, p: Payment) -> BankAccount:
    if p.currency == "GBP":
        return ACCOUNTS[6]
    if p.currency == "EUR":
        return rng.choices(ACCOUNTS[3:6], (0.4, 0.2, 0.4))[0]
    if p.channel == "lockbox":
        return ACCOUNTS[1]
    return rng.choices((ACCOUNTS[0], ACCOUNTS[2]), (0.7, 0.3))[0]


def _lines_for(rng: random.Random, world: World) -> dict[BankAccount, list[StatementLine]]:
    lines: dict[BankAccount, list[StatementLine]] = defaultdict(list)
    for p in world.window:
        account = _account_for(rng, p)
        reference = p.check_number or (
            f"{rng.randint(10**14, 10**15 - 1)}"
            if p.channel == "ach"
            else f"E2E{rng.randint(10**9, 10**10 - 1)}"
            if p.channel in ("sepa", "wire")
            else ""
        )
        lines[account].append(
            StatementLine(
                line_id=p.payment_id,
                booking_date=p.pay_date,
                value_date=p.pay_date,
                amount_minor=p.received_minor,
                currency=p.currency,
                payer_name=p.payer_name if p.channel != "lockbox" else "",
                payer_account=p.payer_account,
                bank_reference=f"{account.account_id[-4:]}{p.payment_id[1:]}",
                customer_reference=reference,
                end_to_end_id=reference
                if p.channel in ("sepa", "wire") and rng.random() < 0.8
                else "",
                remittance_text=p.reference_text,
                structured=p.structured,
                channel=p.channel,
                bai_type_code=BAI_TYPE.get(p.channel, "142"),
            )
        )
    return lines


def _statements(rng: random.Random, world: World) -> list[Statement]:
    """Weekly statements per account (daily notifications for camt.054), with fees and a
    balance carried from one statement to the next."""
    statements = []
    for account, lines in sorted(_lines_for(rng, world).items(), key=lambda kv: kv[0].account_id):
        # BAI2 prior-day reports and camt.054 notifications come daily; the others weekly.
        daily = account.file_format in ("bai2", "camt054")
        periods: dict[date, list[StatementLine]] = defaultdict(list)
        for line in lines:
            day = line.booking_date
            key = day if daily else day - timedelta(days=day.weekday())
            periods[key].append(line)
        balance = rng.randint(10**8, 5 * 10**8)
        for seq, (first, period_lines) in enumerate(sorted(periods.items()), start=1):
            last = first if daily else first + timedelta(days=6)
            ordered = sorted(period_lines, key=lambda item: (item.booking_date, item.line_id))
            if not daily:
                fee_day = max(line.booking_date for line in ordered)
                ordered.append(
                    StatementLine(
                        line_id=f"D{account.account_id[-4:]}{seq:04d}",
                        booking_date=fee_day,
                        value_date=fee_day,
                        amount_minor=-rng.choice((2500, 4000, 7500)),
                        currency=account.currency,
                        bank_reference=f"FEE{seq:06d}",
                        remittance_text="ACCOUNT MAINTENANCE FEE",
                        channel="fee",
                        bai_type_code="698",
                    )
                )
            statement = Statement(
                account=account,
                statement_id=f"{account.account_id[-6:]}-{first:%Y%m%d}",
                sequence=seq,
                created_at=datetime.combine(last + timedelta(days=1), time(6, 0)),
                from_date=first,
                to_date=last,
                opening_balance_minor=balance,
                lines=tuple(ordered),
            )
            balance = statement.closing_balance_minor
            statements.append(statement)
    return statements


def _write_bank_files(root: Path, world: World, rng: random.Random) -> dict[str, str]:
    """Write every statement; return payment_id -> file (relative to ``root``)."""
    where: dict[str, str] = {}
    by_format: dict[str, list[Statement]] = defaultdict(list)
    for statement in _statements(rng, world):
        by_format[statement.account.file_format].append(statement)

    def record(path: Path, data: bytes, statements: Iterable[Statement]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        for s in statements:
            for line in s.lines:
                where[line.line_id] = str(path.relative_to(root))

    bai_weeks: dict[date, list[Statement]] = defaultdict(list)
    for s in by_format["bai2"]:
        bai_weeks[s.from_date].append(s)
    for week, group in sorted(bai_weeks.items()):
        data = formats.write_bai2(
            group,
            sender_id="021000089",
            receiver_id="ARPILOTDEMO",
            file_id=f"{week:%y%m%d}",
            created_at=group[0].created_at,
        )
        record(root / "bank" / "first-continental" / f"bai2_{week:%Y%m%d}.bai", data, group)
    for s in by_format["camt053"]:
        data = formats.write_camt053(s, version="001.02", message_id=f"RHHB{s.statement_id}")
        record(root / "bank" / "rheinland" / f"camt053_{s.from_date:%Y%m%d}.xml", data, [s])
    for s in by_format["camt054"]:
        data = formats.write_camt054(s, version="001.08", message_id=f"NCBK{s.statement_id}")
        record(root / "bank" / "noord" / f"camt054_{s.from_date:%Y%m%d}.xml", data, [s])
    for s in by_format["mt940"]:
        dialect = "german" if s.account.currency == "EUR" else "swift"
        folder = "hanse" if dialect == "german" else "thames"
        data = formats.write_mt940([s], dialect=dialect)
        record(root / "bank" / folder / f"mt940_{s.from_date:%Y%m%d}.sta", data, [s])
    csv_dialect = formats.US_BANK_CSV
    for s in by_format["csv"]:
        data = formats.write_csv_statement(s, csv_dialect)
        record(root / "bank" / "prairie" / f"statement_{s.from_date:%Y%m%d}.csv", data, [s])
    if by_format["csv"]:
        mapping = root / "bank" / "prairie" / "mapping.json"
        mapping.write_text(json.dumps(csv_dialect.mapping(), indent=2, sort_keys=True) + "\n")
    return where


def _csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue())


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def _allocation_rows(payments: list[Payment]) -> Iterable[tuple[str, ...]]:
    """Ground-truth allocations as CSV rows, amounts as exact decimal strings."""
    for p in payments:
        for a in p.allocations:
            yield (
                a.payment_id,
                a.invoice_number,
                p.currency,
                format_amount(a.applied_minor, p.currency),
                format_amount(a.adjustment_minor, p.currency),
                a.kind,
                a.reason,
            )


def write_world(world: World, out: Path) -> dict[str, Any]:
    """Write ``world`` under ``out`` (which must be empty or absent); return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: choose a new folder for the world")
    rng = random.Random(f"{world.seed}/files")
    customers = {c.customer_id: c for c in world.customers}
    invoices = {i.invoice_number: i for i in world.invoices}

    open_rows = [
        (
            i.invoice_number,
            i.customer_id,
            customers[i.customer_id].name,
            i.issue_date,
            i.due_date,
            i.currency,
            format_amount(i.amount_minor, i.currency),
            format_amount(i.open_before_window or 0, i.currency),
            i.terms,
            i.po_number,
            i.doc_type,
            customers[i.customer_id].parent_id or "",
        )
        for i in world.invoices
        if i.issue_date < world.end
        and (i.open_before_window or 0) != 0
        and not (i.written_off and i.written_off < world.cutoff)
    ]
    _csv(
        out / "erp" / "open_items.csv",
        (
            "invoice_number",
            "customer_id",
            "customer_name",
            "issue_date",
            "due_date",
            "currency",
            "amount",
            "open_amount",
            "terms",
            "po_number",
            "doc_type",
            "parent_id",
        ),
        open_rows,
    )
    # History as of the cut-off: an outcome after it is not known yet (no leakage).
    _csv(
        out / "erp" / "invoice_history.csv",
        (
            "invoice_number",
            "customer_id",
            "issue_date",
            "due_date",
            "currency",
            "amount",
            "terms",
            "po_number",
            "paid_date",
            "written_off_date",
        ),
        (
            (
                i.invoice_number,
                i.customer_id,
                i.issue_date,
                i.due_date,
                i.currency,
                format_amount(i.amount_minor, i.currency),
                i.terms,
                i.po_number,
                _iso(i.pay_date) if i.pay_date and i.pay_date < world.cutoff else "",
                _iso(i.written_off) if i.written_off and i.written_off < world.cutoff else "",
            )
            for i in world.invoices
            if i.issue_date < world.cutoff
        ),
    )
    _csv(
        out / "history" / "payments.csv",
        (
            "payment_id",
            "customer_id",
            "payer_customer_id",
            "date",
            "currency",
            "amount",
            "payer_name",
            "payer_account",
            "remittance_text",
        ),
        (
            (
                p.payment_id,
                p.customer_id,
                p.payer_id,
                p.pay_date,
                p.currency,
                format_amount(p.received_minor, p.currency),
                p.payer_name,
                p.payer_account,
                p.reference_text,
            )
            for p in world.history
        ),
    )
    allocation_header = (
        "payment_id",
        "invoice_number",
        "currency",
        "applied_amount",
        "adjustment_amount",
        "kind",
        "reason",
    )
    _csv(
        out / "history" / "allocations.csv",
        allocation_header,
        _allocation_rows(world.history),
    )

    bank_file = _write_bank_files(out, world, rng)
    document_file: dict[str, str] = {}
    document_rows = []
    # Scans dominate the time: render them on every core; map keeps the order, so bytes agree.
    workers = min(os.cpu_count() or 1, 8)
    if workers > 1 and len(world.documents) > 8:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rendered = list(pool.map(document_writers.write_document, world.documents, chunksize=4))
    else:
        rendered = [document_writers.write_document(doc) for doc in world.documents]
    for doc, (extension, data) in zip(world.documents, rendered, strict=True):
        path = out / "remittances" / f"{doc.document_id}.{extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        document_file[doc.payment_id] = str(path.relative_to(out))
        document_rows.append(
            (
                doc.document_id,
                doc.payment_id,
                doc.kind,
                document_file[doc.payment_id],
                doc.dpi,
                doc.rotation_deg,
                doc.noise,
                doc.layout,
                len(doc.lines),
                doc.currency,
                format_amount(doc.total_minor, doc.currency),
            )
        )
    _csv(
        out / "truth" / "documents.csv",
        (
            "document_id",
            "payment_id",
            "kind",
            "file",
            "dpi",
            "rotation_deg",
            "noise",
            "layout",
            "lines",
            "currency",
            "total",
        ),
        document_rows,
    )
    _csv(
        out / "truth" / "payments.csv",
        (
            "payment_id",
            "bank_file",
            "date",
            "currency",
            "amount",
            "customer_id",
            "payer_customer_id",
            "payer_name",
            "channel",
            "tags",
            "duplicate_of",
            "document",
        ),
        (
            (
                p.payment_id,
                bank_file.get(p.payment_id, ""),
                p.pay_date,
                p.currency,
                format_amount(p.received_minor, p.currency),
                p.customer_id,
                p.payer_id,
                p.payer_name,
                p.channel,
                ";".join(sorted(p.tags)),
                p.duplicate_of,
                document_file.get(p.payment_id, ""),
            )
            for p in world.window
        ),
    )
    _csv(
        out / "truth" / "allocations.csv",
        allocation_header,
        _allocation_rows(world.window),
    )
    _csv(
        out / "truth" / "invoices.csv",
        (
            "invoice_number",
            "customer_id",
            "issue_date",
            "due_date",
            "currency",
            "amount",
            "terms",
            "disputed",
            "pay_date",
            "days_to_pay",
            "written_off_date",
            "paid_amount",
            "adjusted_amount",
            "status",
        ),
        (
            (
                i.invoice_number,
                i.customer_id,
                i.issue_date,
                i.due_date,
                i.currency,
                format_amount(i.amount_minor, i.currency),
                i.terms,
                int(i.disputed),
                _iso(i.pay_date) if i.pay_date and i.pay_date <= world.end else "",
                (i.pay_date - i.issue_date).days if i.pay_date and i.pay_date <= world.end else "",
                _iso(i.written_off) if i.written_off and i.written_off <= world.end else "",
                format_amount(i.paid_minor, i.currency),
                format_amount(i.adjusted_minor, i.currency),
                "written_off"
                if i.written_off and i.written_off <= world.end
                else "paid"
                if i.open_minor == 0
                else "open",
            )
            for i in world.invoices
        ),
    )
    _csv(
        out / "truth" / "customers.csv",
        (
            "customer_id",
            "name",
            "archetype",
            "parent_id",
            "currency",
            "terms",
            "bank_account",
            "default_date",
        ),
        (
            (
                c.customer_id,
                c.name,
                c.archetype,
                c.parent_id or "",
                c.currency,
                c.terms,
                c.bank_account,
                _iso(c.default_date),
            )
            for c in world.customers
        ),
    )
    del invoices

    files = sorted(p for p in out.rglob("*") if p.is_file())
    manifest: dict[str, Any] = {
        "generator": "arpilot simulate",
        "format": WORLD_FORMAT,
        "seed": world.seed,
        "preset": world.preset.name,
        "customers": len(world.customers),
        "start": world.start.isoformat(),
        "cutoff": world.cutoff.isoformat(),
        "end": world.end.isoformat(),
        "payee": OUR_NAME,
        "counts": {
            "invoices": len(world.invoices),
            "open_items": len(open_rows),
            "history_payments": len(world.history),
            "window_payments": len(world.window),
            "documents": len(world.documents),
            "bank_files": len({f for f in bank_file.values()}),
        },
        "target_mix": world.targets,
        "achieved_mix": {k: round(v, 4) for k, v in world.mix.items()},
        "files": {
            str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest

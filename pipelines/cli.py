"""The ``arpilot`` command line: a thin layer over the pipelines, with stable exit codes.

Exit codes: 0 success, 2 bad input (one line on stderr saying what, where and why), 1 internal
failure. ``--debug`` shows the traceback instead of the one-line reason.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.errors import ArpilotError, ValidationFailed
from ledger.settings import LedgerSettings

app = typer.Typer(
    name="arpilot",
    help="Cash application and payment prediction for accounts receivable.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
audit_app = typer.Typer(help="Inspect and verify the audit chain.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _settings(ctx: typer.Context) -> LedgerSettings:
    settings: LedgerSettings = ctx.obj["settings"]
    return settings


@app.callback()
def _global(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar="ARPILOT_HOME",
            help="Folder of the ledger, MLflow store and inbox [default: ./data].",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    overrides: dict[str, Any] = {"home": home} if home is not None else {}
    ctx.obj = {"settings": LedgerSettings(**overrides), "debug": debug}


@app.command()
def init(ctx: typer.Context) -> None:
    """Create (or migrate) the ledger under --home and print its schema version."""
    from ledger.db import open_ledger, schema_version

    settings = _settings(ctx)
    with open_ledger(settings.ledger_path, lock_wait_seconds=settings.lock_wait_seconds) as con:
        version = schema_version(con)
    typer.echo(f"ledger ready: {settings.ledger_path} (schema v{version})")


def _snapshot_time(text: str) -> datetime | None:
    """--as-of as a naive UTC time; blank when not given."""
    from ledger.errors import InputError

    if not text.strip():
        return None
    try:
        taken = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"--as-of {text!r}: write when the ERP took the snapshot, e.g. 2026-12-01 or "
            "2026-12-01T18:00"
        ) from None
    if taken.tzinfo is not None:
        taken = taken.astimezone(UTC).replace(tzinfo=None)
    if taken > datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1):
        raise InputError(f"--as-of {text!r} is in the future: when did the ERP take it?")
    return taken


@app.command("import-erp")
def import_erp(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Open-items export, CSV or Parquet.")],
    close_missing: Annotated[
        bool,
        typer.Option(
            "--close-missing",
            help="Treat the file as a full snapshot: close open items it does not list.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    as_of: Annotated[
        str,
        typer.Option(
            help="When the ERP took the snapshot (2026-12-01 or 2026-12-01T18:00, UTC unless "
            "an offset is given); one taken before a snapshot imported already is refused."
        ),
    ] = "",
) -> None:
    """Import ERP open items all-or-nothing; a bad file names every bad row and changes nothing."""
    from pipelines.erp_import import import_erp_file

    summary = import_erp_file(
        file, _settings(ctx), close_missing=close_missing, as_of=_snapshot_time(as_of)
    )
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    elif summary.already_imported:
        typer.echo(f"{file.name}: already imported (file {summary.file_id}); nothing changed")
    else:
        typer.echo(
            f"{file.name}: {summary.rows} rows: {summary.new_invoices} new, "
            f"{summary.updated_invoices} updated, {summary.unchanged_invoices} unchanged, "
            f"{summary.closed_invoices} closed; customers: {summary.new_customers} new, "
            f"{summary.renamed_customers} renamed, "
            f"{summary.reparented_customers} with a new parent"
        )
        if summary.not_yet_posted:
            typer.echo(
                f"{summary.not_yet_posted} item(s) do not show arpilot's work yet "
                "(applications, reversals): their open amounts stay as arpilot left them"
            )
        if summary.unexplained:
            named = ", ".join(summary.unexplained[:10])
            if len(summary.unexplained) > 10:
                named += f" and {len(summary.unexplained) - 10} more"
            typer.echo(
                f"{len(summary.unexplained)} item(s) changed in the ERP in a way arpilot's "
                f"unposted applications do not explain ({named}): the lower open amount is "
                "kept; check them (audit action update_open_item)"
            )


@app.command("import-history")
def import_history_cmd(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="Past payments, CSV or Parquet: payment_id, customer_id, payer_name, payer_account."
        ),
    ],
) -> None:
    """Learn from past cash applications which bank accounts and payer names stand for which
    customers; all or nothing, one audit entry."""
    from pipelines.history_import import import_history

    summary = import_history(file, _settings(ctx))
    typer.echo(
        f"{file.name}: {summary.rows:,} past payments: learned {summary.accounts:,} bank "
        f"account(s) and {summary.aliases:,} payer name(s); {summary.unknown_customers:,} of "
        "customers the ledger does not hold"
    )
    if summary.shared_names or summary.shared_accounts:
        typer.echo(
            f"{summary.shared_names:,} payer name(s) and {summary.shared_accounts:,} bank "
            "account(s) stand for customers of more than one family (payment platforms and the "
            "like): they identify no one"
        )


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Counts of customers, open items, payments and exceptions, and the schema version."""
    from ledger.db import open_ledger
    from ledger.money import format_amount
    from ledger.repository import ledger_status

    settings = _settings(ctx)
    with open_ledger(
        settings.ledger_path, read_only=True, lock_wait_seconds=settings.lock_wait_seconds
    ) as con:
        state = ledger_status(con)
    if as_json:
        typer.echo(json.dumps(state.as_dict()))
        return
    open_text = ", ".join(
        f"{format_amount(minor, cur, grouping=True)} {cur}"
        for cur, minor in state.open_by_currency.items()
    )
    lines = [
        ("ledger", f"{settings.ledger_path} (schema v{state.schema_version})"),
        ("customers", f"{state.customers:,}"),
        (
            "open items",
            f"{state.open_items:,} open of {state.invoices:,} invoices and "
            f"{state.credit_memos:,} credit memos" + (f"; open {open_text}" if open_text else ""),
        ),
        (
            "payments",
            f"{state.payments:,} ({state.unapplied_payments:,} unapplied, "
            f"{state.returned_payments:,} returned, {state.returns_waiting:,} returns to link)",
        ),
        ("applications", f"{state.applications:,}"),
        ("exceptions", f"{state.open_exceptions:,} open"),
        ("files", f"{state.ingested_files:,} ingested, {state.quarantined_files:,} quarantined"),
        ("audit", f"{state.audit_entries:,} entries"),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        typer.echo(f"{key:<{width}}  {value}")


FORMATS = ("auto", "bai2", "camt053", "camt054", "mt940", "csv", "edi820")


def _check_format(file_format: str) -> None:
    from ledger.errors import InputError

    if file_format not in FORMATS:
        raise InputError(f"unknown format {file_format!r}: choose one of {', '.join(FORMATS)}")


@app.command()
def parse(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A bank file or EDI 820.")],
    file_format: Annotated[str, typer.Option("--format", help=" | ".join(FORMATS))] = "auto",
    profile: Annotated[
        Path | None, typer.Option(help="CSV bank profile (JSON); default: mapping.json beside it.")
    ] = None,
) -> None:
    """Print the normalised transactions (or EDI 820 advices) as JSON lines; writes nothing."""
    from ingest.files import read_source
    from ingest.statements import ParsedFile, transaction_json
    from pipelines.ingest import load_profiles, parse_any

    _check_format(file_format)
    source = read_source(file)
    profiles = load_profiles(_settings(ctx).home, file, profile)
    parsed = parse_any(source.content, source=file.name, file_format=file_format, profiles=profiles)
    if isinstance(parsed, ParsedFile):
        for statement in parsed.statements:
            for item in statement.transactions:
                typer.echo(json.dumps(transaction_json(item, statement, parsed.file_format)))
        return
    from pipelines.ingest import advice_json

    for advice in parsed:
        typer.echo(json.dumps(advice_json(advice)))


@app.command()
def extract(
    file: Annotated[
        Path, typer.Argument(help="PDF (text or scanned), image, e-mail, CSV or EDI 820.")
    ],
) -> None:
    """Print the extracted remittance advice as JSON, with confidences and boxes; writes nothing."""
    from ingest.files import read_source
    from pipelines.extract import extract_document, extraction_json

    source = read_source(file)
    typer.echo(
        json.dumps(extraction_json(extract_document(source.content, source=file.name)), indent=2)
    )


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (walked).")],
    file_format: Annotated[str, typer.Option("--format", help=" | ".join(FORMATS))] = "auto",
    profile: Annotated[Path | None, typer.Option(help="CSV bank profile (JSON).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Store bank files and EDI 820 advices; idempotent. A bad file is quarantined, the rest go on."""
    from ledger.errors import InputError
    from pipelines.ingest import ingest_paths, report_json

    _check_format(file_format)
    report = ingest_paths(paths, _settings(ctx), file_format=file_format, profile=profile)
    if as_json:
        typer.echo(report_json(report))
    else:
        for f in report.files:
            name = Path(f.path).name
            if f.status == "ingested" and f.file_format.startswith("document"):
                typer.echo(f"{name}: {f.file_format}: {f.advices} advice(s) stored")
            elif f.status == "ingested" and f.file_format == "edi820":
                typer.echo(f"{name}: edi820: {f.advices} advice(s) stored, {f.duplicates} known")
            elif f.status == "ingested":
                typer.echo(
                    f"{name}: {f.file_format}: {f.new} new, {f.duplicates} already known"
                    + (f", {f.advices} structured advice(s)" if f.advices else "")
                    + (
                        f", {f.separated} more of statements read before (one between them "
                        "was missing)"
                        if f.separated
                        else ""
                    )
                )
            elif f.status == "refused":
                where = f" (quarantined: {f.quarantined_to})" if f.quarantined_to else ""
                typer.echo(f"{name}: refused: {f.reason}{where}", err=True)
            else:
                typer.echo(f"{name}: {f.status}: {f.reason}")
        totals = report.as_dict()["totals"]
        typer.echo(", ".join(f"{n} {s}" for s, n in totals.items()))
    if report.refused:
        raise InputError(
            f"{report.refused} file(s) refused and quarantined; the others were ingested"
        )


@app.command()
def simulate(
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write the world to (new or empty).")
    ],
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 200,
    months: Annotated[int, typer.Option(min=1, max=120, help="Months simulated.")] = 12,
    preset: Annotated[str, typer.Option(help="easy | realistic | hard.")] = "realistic",
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 1,
    window_days: Annotated[
        int, typer.Option(min=1, help="Days at the end whose payments go into bank files.")
    ] = 30,
    documents: Annotated[
        bool, typer.Option("--documents/--no-documents", help="Render remittance documents.")
    ] = True,
) -> None:
    """Write a seeded synthetic AR world with ground truth in the real file formats."""
    from ledger.errors import InputError
    from simulator.output import write_world
    from simulator.presets import PRESETS
    from simulator.world import generate

    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not an empty folder; choose a new --out")
    world = generate(
        seed, customers, months, PRESETS[preset], window_days=window_days, documents=documents
    )
    manifest = write_world(world, out)
    counts = manifest["counts"]
    typer.echo(
        f"world written to {out}: {counts['invoices']:,} invoices ({counts['open_items']:,} open), "
        f"{counts['history_payments']:,} past payments, {counts['window_payments']:,} payments "
        f"in {counts['bank_files']} bank files, {counts['documents']:,} remittance documents"
    )
    typer.echo(f"mix of the window's payments ({preset}):   achieved   target")
    for key, target in manifest["target_mix"].items():
        achieved = manifest["achieved_mix"][key]
        typer.echo(f"  {key:<22} {achieved:>9.1%} {target:>8.1%}")


@app.command()
def match(
    ctx: typer.Context,
    scorer: Annotated[
        str, typer.Option(help="auto (own, else shipped, else rules) | home | pretrained | rules")
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Apply every unapplied payment; what is not sure enough goes to the exception queue."""
    from dataclasses import asdict

    from ledger.db import open_ledger
    from ledger.money import format_amount
    from matching.settings import MatchSettings
    from matching.store import match_ledger
    from pipelines.match import scorer_for

    settings = _settings(ctx)
    chosen = scorer_for(settings.home, scorer)
    with open_ledger(settings.ledger_path, lock_wait_seconds=settings.lock_wait_seconds) as con:
        summary = match_ledger(con, chosen, MatchSettings())
    if as_json:
        typer.echo(json.dumps(asdict(summary)))
        return
    typer.echo(
        f"{summary.payments:,} payment(s): {summary.applied:,} applied, "
        f"{summary.exceptions:,} to exceptions; scorer {summary.scorer} "
        f"(threshold {summary.threshold:.4f}); run {summary.run_id}"
    )
    for currency, minor in sorted(summary.applied_minor_by_currency.items()):
        typer.echo(f"  applied {format_amount(minor, currency, grouping=True)} {currency}")
    for reason, count in summary.exceptions_by_reason.items():
        typer.echo(f"  exceptions: {reason} {count:,}")
    if summary.advices_linked:
        typer.echo(f"  {summary.advices_linked:,} separate advice(s) linked to their payments")
    if summary.reconsidered:
        typer.echo(
            f"  {summary.reconsidered:,} queued payment(s) decided again, their payer learnt "
            f"since: {summary.from_queue:,} applied, the rest still wait"
        )
    returns = summary.returns
    if returns.linked:
        typer.echo(
            f"  {returns.linked:,} returned payment(s) taken back: "
            f"{returns.reversed_applications:,} application(s) reversed, "
            f"{returns.reopened_invoices:,} invoice(s) reopened"
        )
    if returns.unlinked:
        typer.echo(
            f"  {returns.unlinked:,} returned payment(s) not linked to what they take back: "
            "see the exceptions (unlinked_return)"
        )


@app.command()
def export(
    ctx: typer.Context,
    what: Annotated[str, typer.Argument(help="applications | exceptions")],
    out_format: Annotated[str, typer.Option("--format", help="jsonl | csv")] = "jsonl",
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
    for_posting: Annotated[
        bool,
        typer.Option(
            help="Add what an ERP needs to post each row: adjustment_amount (what the "
            "allocation settles beyond the cash: deduction, discount, write-off) and "
            "customer_id (whose account it is on)."
        ),
    ] = False,
) -> None:
    """One row per allocation (applications) or per suggested allocation (open exceptions)."""
    from ledger.db import open_ledger
    from pipelines.match import export_rows, write_export

    settings = _settings(ctx)
    with open_ledger(
        settings.ledger_path, read_only=True, lock_wait_seconds=settings.lock_wait_seconds
    ) as con:
        text = write_export(export_rows(con, what, for_posting), out_format, for_posting)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text)
    except OSError as exc:  # no such folder, no permission: the path given is wrong
        raise typer.BadParameter(
            f"cannot write {out}: {exc.strerror}", param_hint="--out"
        ) from None


@app.command()
def exceptions(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """The exception queue: each open exception with the id and version `arpilot resolve`
    asks for, why it waits and its ranked suggestions (cash and adjustment of each)."""
    from decimal import Decimal

    from ledger.db import open_ledger
    from pipelines.match import exception_queue

    settings = _settings(ctx)
    with open_ledger(
        settings.ledger_path, read_only=True, lock_wait_seconds=settings.lock_wait_seconds
    ) as con:
        queue = exception_queue(con)
    if as_json:
        typer.echo(json.dumps(queue, indent=2))
        return
    for item in queue:
        typer.echo(
            f"{item['exception_id']} (version {item['version']}) {item['payment_id']} "
            f"{item['value_date']} {item['amount']} {item['currency']} "
            f"{item['payer_name'] or '(no payer name)'}: {item['reason']}"
        )
        for key, value in item["why"].items():
            if key == "reversed":
                typer.echo(f"  {_reversal_line(value)}")
                continue
            listed = value if isinstance(value, list) else [value]
            shown = ", ".join(v if isinstance(v, str) else json.dumps(v) for v in listed)
            typer.echo(f"  {key.replace('_', ' ')}: {shown}")
        for suggestion in item["suggestions"]:
            parts = [
                f"{a['invoice_number'] or 'on account'} {a['applied_amount']}"
                + (
                    f" + {a['adjustment_amount']} {a['reason']}"
                    if Decimal(a["adjustment_amount"]) else ""
                )
                + f" ({a['kind']})"
                for a in suggestion["allocations"]
            ]  # fmt: skip
            stale = "" if suggestion["still_fits"] else " (no longer fits: its invoices changed)"
            typer.echo(
                f"  {suggestion['rank']}. {suggestion['confidence']:.4f} "
                f"{suggestion['customer']}: {'; '.join(parts)}{stale}"
            )
    typer.echo(f"{len(queue)} open exception(s)")


Analyst = Annotated[str, typer.Option(help="Who decides (recorded in the audit chain).")]
"""The analyst option of every command that decides: resolve, unapply, link-return."""


@app.command()
def resolve(
    ctx: typer.Context,
    exception_id: Annotated[
        str, typer.Argument(help="The exception (EXC-...), or the payment it holds (PAY-...).")
    ],
    analyst: Analyst,
    version: Annotated[int, typer.Option(help="The exception's version as you read it.")],
    suggestion: Annotated[int | None, typer.Option(help="Apply this ranked suggestion.")] = None,
    allocate: Annotated[
        list[str] | None,
        typer.Option(help="INVOICE=AMOUNT (repeatable; an empty INVOICE puts cash on account)."),
    ] = None,
    adjust: Annotated[
        list[str] | None,
        typer.Option(
            help="INVOICE=AMOUNT:REASON settled beyond the cash (repeatable): a deduction "
            "(DAMAGED, PRICING, ...), a discount (earned, unearned) or a write-off "
            "(bank_fee, fx_difference, small_difference)."
        ),
    ] = None,
    customer: Annotated[
        str,
        typer.Option(
            help="Whose account cash put on account goes on (needed when no invoice is allocated)."
        ),
    ] = "",
) -> None:
    """Decide an exception: apply a suggestion or your own allocations; arpilot learns from it."""
    from ledger.db import open_ledger
    from ledger.errors import InputError
    from ledger.money import format_amount, parse_amount
    from matching.settings import MatchSettings
    from matching.store import exception_of, resolve_exception

    def amount_of(option: str, item: str, text: str, currency: str) -> int:
        try:
            return parse_amount(text.strip(), currency)
        except InputError as exc:
            raise InputError(f"{option} {item!r}: {exc}") from None

    settings = _settings(ctx)
    with open_ledger(settings.ledger_path, lock_wait_seconds=settings.lock_wait_seconds) as con:
        pairs = None
        adjustments = []
        if allocate or adjust:
            rows = con.execute(
                "SELECT p.currency FROM exceptions e JOIN payments p USING (payment_id) "
                "WHERE e.exception_id = ?",
                [exception_of(con, exception_id)],
            ).fetchall()
            if not rows:
                raise InputError(f"no exception {exception_id}")
            currency = rows[0][0]
            pairs = []
            for item in allocate or []:
                number, sep, amount = item.partition("=")
                if not sep:
                    raise InputError(f"--allocate {item!r}: write INVOICE=AMOUNT")
                pairs.append((number.strip(), amount_of("--allocate", item, amount, currency)))
            for item in adjust or []:
                number, sep, rest = item.partition("=")
                amount, colon, reason = rest.partition(":")
                if not (sep and colon):
                    raise InputError(f"--adjust {item!r}: write INVOICE=AMOUNT:REASON")
                adjustments.append(
                    (number.strip(), amount_of("--adjust", item, amount, currency), reason.strip())
                )
        done = resolve_exception(
            con,
            exception_id,
            analyst=analyst,
            expected_version=version,
            suggestion=suggestion,
            allocations=pairs,
            adjustments=adjustments,
            limits=MatchSettings(),
            customer=customer,
        )
    typer.echo(
        f"{done.exception_id}: payment {done.payment_id} applied to "
        f"{len(done.allocations)} allocation(s) by {done.analyst}"
        + (f" for {done.customer_id}" if done.customer_id else "")
    )
    for number, minor, reason in done.adjustments:
        typer.echo(f"  {number}: {format_amount(minor, done.currency)} settled as {reason}")
    for lesson in done.learned:
        typer.echo(f"  learned {lesson}")


def _reversal_line(reversal: dict[str, Any]) -> str:
    """'unapplied by ANALYST at T (REASON): INV-1 100.00 full, ...' for the queue."""
    allocations = ", ".join(
        f"{invoice or 'on account'} {cash}"
        + (f" + {adjustment}" if adjustment.strip("0.,-") else "")
        + f" ({kind})"
        for invoice, cash, adjustment, kind in reversal.get("allocations", [])
    )
    line = (
        f"unapplied by {reversal.get('by', '')} at {reversal.get('at', '')} UTC "
        f"({reversal.get('reason', '')}): {allocations}"
    )
    if reversal.get("applied_since"):
        line += "; applied since from the same account or name: " + ", ".join(
            reversal["applied_since"]
        )
    return line


@app.command()
def unapply(
    ctx: typer.Context,
    payment_id: Annotated[
        str, typer.Argument(help="The payment applied wrongly (PAY-...), or its exception.")
    ],
    analyst: Analyst,
    reason: Annotated[
        str, typer.Option(help="Why (a customer's query, a review's finding): goes to the ERP.")
    ],
) -> None:
    """Take back a payment's applications (the engine's or an analyst's): its invoices are
    reopened, what it taught is forgotten, and it waits in the queue for an analyst."""
    from ledger.db import open_ledger
    from ledger.money import format_amount
    from matching.reversals import unapply_payment
    from matching.settings import MatchSettings
    from pipelines.match import scorer_for

    settings = _settings(ctx)
    with open_ledger(settings.ledger_path, lock_wait_seconds=settings.lock_wait_seconds) as con:
        done = unapply_payment(
            con,
            payment_id,
            analyst=analyst,
            reason=reason,
            scorer=scorer_for(settings.home),
            settings=MatchSettings(),
        )
    typer.echo(
        f"{done.payment_id}: {len(done.reversed)} application(s) reversed by {done.analyst}, "
        f"{len(done.reopened)} item(s) reopened; it waits as {done.exception_id}"
    )
    for invoice, minor in done.reopened:
        typer.echo(f"  {invoice}: {format_amount(minor, done.currency)} {done.currency} open again")
    if on_account := sum(cash for invoice, cash, _, _ in done.reversed if not invoice):
        typer.echo(
            f"  {format_amount(on_account, done.currency)} {done.currency} taken off account"
        )
    for link in done.forgotten:
        typer.echo(f"  forgot {link}")
    for link in done.still_linked:
        typer.echo(f"  still linked: {link}")
    if done.applied_since:
        typer.echo(
            "  check: applied since from the same account or name to the same customer: "
            + ", ".join(done.applied_since)
        )


@app.command("link-return")
def link_return_cmd(
    ctx: typer.Context,
    return_id: Annotated[str, typer.Argument(help="The returned receipt (a debit), PAY-...")],
    payment_id: Annotated[str, typer.Argument(help="The payment it takes back, PAY-...")],
    analyst: Analyst,
    invoice: Annotated[
        list[str] | None,
        typer.Option(
            help="For a return of one item of the payment (a cheque of a lockbox deposit): an "
            "invoice that item paid (repeatable); only those applications are reversed."
        ),
    ] = None,
) -> None:
    """Link a returned receipt (bounced cheque, returned transfer) to the payment it takes
    back: that payment's applications are reversed and its invoices reopened (only the
    invoices named, for a return of one item of it)."""
    from ledger.db import open_ledger, transaction, utcnow
    from ledger.errors import InputError
    from matching.returns import link_by_analyst

    if not analyst.strip():
        raise InputError("linking a return needs the analyst's name")
    settings = _settings(ctx)
    with (
        open_ledger(settings.ledger_path, lock_wait_seconds=settings.lock_wait_seconds) as con,
        transaction(con),
    ):
        reversed_, reopened = link_by_analyst(
            con, return_id, payment_id, analyst, utcnow(), invoice or ()
        )
    typer.echo(
        f"{return_id} takes back {payment_id}: {reversed_} application(s) reversed, "
        f"{reopened} invoice(s) reopened"
    )


@app.command("train-matcher")
def train_matcher(
    ctx: typer.Context,
    worlds: Annotated[
        str, typer.Option(help="Simulated worlds to train on (a comma list: one per size).")
    ] = "4",
    held_out: Annotated[
        str, typer.Option(help="Worlds for calibration and threshold (per size).")
    ] = "2",
    seed: Annotated[str, typer.Option(help="First world's seed (per size).")] = "101",
    out: Annotated[Path | None, typer.Option(help="Default: HOME/models/match_scorer.")] = None,
    with_ledger: Annotated[
        bool, typer.Option(help="Also learn from this ledger's resolved exceptions.")
    ] = True,
    customers: Annotated[
        str, typer.Option(help="Customers per world; '150,300' trains on two sizes.")
    ] = "60",
    months: Annotated[int, typer.Option(help="Months per world.")] = 6,
    work: Annotated[
        Path | None,
        typer.Option(help="Keep the written and ingested worlds here and reuse them next time."),
    ] = None,
) -> None:
    """Train the match scorer on simulated worlds and the ledger's analyst decisions;
    calibrate and set its threshold on held-out worlds.

    Several world sizes: comma lists, one value per size (`--worlds 50,8 --held-out 14,4
    --seed 101,201 --customers 150,300`)."""
    from ledger.db import open_ledger
    from matching.settings import MatchSettings
    from matching.store import ledger_labels
    from pipelines.train_matcher import train_on_worlds, world_specs

    try:
        train_specs, held_specs = world_specs(
            _ints(worlds, "worlds"),
            _ints(held_out, "held-out"),
            _ints(seed, "seed"),
            _ints(customers, "customers"),
            months,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None

    settings = _settings(ctx)
    own = []
    if with_ledger and settings.ledger_path.exists():
        with open_ledger(settings.ledger_path, read_only=True) as con:
            own = ledger_labels(con)
    target = out or settings.home / "models" / "match_scorer"
    scorer, choice, counts = train_on_worlds(
        train_specs, held_specs, target, MatchSettings().target_precision, own, work
    )
    typer.echo(
        f"scorer {scorer.version}: {sum(counts.values()):,} labelled proposals; threshold "
        f"{scorer.threshold:.4f} keeps {choice.precision:.2%} precision on held-out worlds "
        f"(at least {choice.precision_lower_bound:.2%} with 95% confidence) "
        f"({choice.coverage:.1%} of {choice.payments} payments auto-applied); saved to {target}"
    )


def _ints(text: str, option: str) -> list[int]:
    """'50,8' -> [50, 8]; a clear error for anything else."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise typer.BadParameter(
            f"--{option} takes whole numbers separated by commas, got {text!r}"
        ) from None


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Recompute the audit chain; exit 1 and list each break if any entry was altered."""
    from ledger.audit import verify
    from ledger.db import open_ledger
    from ledger.errors import AuditChainBroken

    settings = _settings(ctx)
    with open_ledger(
        settings.ledger_path, read_only=True, lock_wait_seconds=settings.lock_wait_seconds
    ) as con:
        report = verify(con)
    if not report.ok:
        for problem in report.problems:
            typer.echo(str(problem), err=True)
        raise AuditChainBroken(f"audit chain broken in {len(report.problems)} place(s)")
    typer.echo(
        f"audit chain verified: {report.entries} entries; head {report.head_seq} {report.head_hash}"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn errors into exit codes and one-line messages."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = app(args=args, standalone_mode=False, prog_name="arpilot")
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    except typer.TyperException as exc:  # the command line itself was wrong
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc}", err=True)
        return 2
    except ArpilotError as exc:
        if debug:
            raise
        if isinstance(exc, ValidationFailed):
            typer.echo(f"error: {exc.source}: {len(exc.problems)} bad row(s)", err=True)
            for problem in exc.problems:
                typer.echo(f"  {problem}", err=True)
        else:
            typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:
        if debug:
            raise
        typer.echo(
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True
        )
        return 1
    return result if isinstance(result, int) else 0


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()

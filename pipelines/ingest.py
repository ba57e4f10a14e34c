"""Ingest bank files and structured remittances: parse, store what is new, quarantine the bad.

Each file is handled on its own: a file that fails is moved to the quarantine folder under
``--home`` with a reason file beside it and recorded as quarantined, and the other files of the
batch go on. A file is stored in one transaction, so nothing of a refused file is ever written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.bank import parse_bank_file
from ingest.bank.csv_statement import CsvProfile, read_header
from ingest.continuity import Placed, Placement, place
from ingest.detect import detect_format
from ingest.returns import is_returned_receipt
from ingest.statements import BankTransaction, ParsedFile
from ledger import audit
from ledger.db import Connection, open_ledger, transaction, utcnow
from ledger.errors import InputError, ParseError
from ledger.money import Money
from ledger.records import Payment, RemittanceAdvice, RemittanceLine
from ledger.repository import (
    insert_advices,
    insert_payments,
    known_file,
    payment_copies,
    record_file,
    record_statements,
    separate_payment,
    statement_payments,
    stored_copies,
    stored_statements,
)
from ledger.settings import LedgerSettings

PROFILE_NAMES = ("mapping.json",)
"""Files beside CSV statements that declare their columns; never ingested themselves."""
DOCUMENT_FORMATS = ("pdf", "image")


@dataclass(slots=True)
class FileResult:
    """What happened to one file: status ingested | duplicate | refused | skipped.

    new / duplicates: its transactions stored, and those already in the ledger. separated:
    payments of statements read before that the file shows were taken for copies (a
    statement between was missing), stored now.
    """

    path: str
    status: str
    file_format: str = ""
    new: int = 0
    duplicates: int = 0
    separated: int = 0
    advices: int = 0
    reason: str = ""
    quarantined_to: str = ""


@dataclass(slots=True)
class IngestReport:
    """Per-file results of one ``arpilot ingest`` run."""

    files: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    @property
    def refused(self) -> int:
        return self.count("refused")

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": [asdict(f) for f in self.files],
            "totals": {
                s: self.count(s)
                for s in ("ingested", "duplicate", "refused", "not_remittance", "skipped")
            },
        }


def walk(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named, and every file below folders named, in a stable order; profiles excluded."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.name not in PROFILE_NAMES and not child.name.startswith("."):
                    yield child
        else:
            yield path


def load_profiles(home: Path, beside: Path, explicit: Path | None) -> list[CsvProfile]:
    """CSV bank profiles: the one given, the mapping.json beside the file, those under --home."""
    candidates = [explicit] if explicit else []
    candidates += [beside.parent / name for name in PROFILE_NAMES]
    candidates += (
        sorted((home / "bank_profiles").glob("*.json")) if (home / "bank_profiles").is_dir() else []
    )
    profiles = []
    for path in candidates:
        if path is None or not path.is_file():
            continue
        try:
            mapping = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable bank profile ({exc})") from None
        profiles.append(CsvProfile.from_mapping(mapping, source=str(path)))
    return profiles


def parse_any(
    data: bytes, *, source: str, file_format: str = "auto", profiles: list[CsvProfile] | None = None
) -> ParsedFile | list[RemittanceAdvice]:
    """Parse a bank file or an EDI 820; the format comes from the content unless given."""
    fmt = detect_format(data) if file_format == "auto" else file_format
    if fmt is None:
        fitting = [p for p in profiles or [] if p.fits(read_header(data, p))]
        if not fitting:
            lacking = "; ".join(
                f"profile {p.name!r} lacks {', '.join(map(repr, p.lacks(read_header(data, p))))}"
                for p in (profiles or [])[:3]
            )
            raise ParseError(
                "unrecognised format: not BAI2, camt.053/054, MT940, EDI 820, nor a "
                "CSV whose header fits a bank profile" + (f" ({lacking})" if lacking else ""),
                source=source,
            )
        return parse_bank_file(data, "csv", source=source, profile=fitting[0])
    if fmt == "camt052":
        raise ParseError(
            "a camt.052 intraday account report: not read; the day's camt.053 statement "
            "(or camt.054 notifications) brings the same entries",
            source=source,
        )
    if fmt == "edi820":
        from ingest.edi820 import parse_edi820

        return parse_edi820(data, source=source)
    if fmt == "csv":
        # None fitting, the first profile given says what the header lacks.
        fitting = [p for p in profiles or [] if p.fits(read_header(data, p))] or profiles or []
        return parse_bank_file(data, "csv", source=source, profile=fitting[0] if fitting else None)
    return parse_bank_file(data, fmt, source=source)


def _payment(placed: Placed, file_id: str) -> Payment:
    t = placed.transaction
    return Payment(
        payment_id=placed.payment_id,
        amount=t.amount,
        value_date=t.value_date or t.booking_date,  # type: ignore[arg-type]
        booking_date=t.booking_date or t.value_date,  # type: ignore[arg-type]
        account=t.account,
        payer_name=t.payer_name,
        payer_account=t.payer_account,
        bank_reference=t.bank_reference or t.customer_reference,
        end_to_end_id=t.end_to_end_id,
        remittance_text=t.remittance_text,
        fingerprint=placed.fingerprint,
        occurrence=placed.occurrence,
        source_file_id=file_id,
        customer_reference=t.customer_reference,
        source_line=t.line,
        type_code=t.type_code,
        reversal=t.reversal,
        returned_receipt=is_returned_receipt(t),
    )


def _bank_advice(payment: Payment, t: BankTransaction) -> RemittanceAdvice | None:
    """Structured remittance carried in the bank record, kept as an advice of that payment."""
    items = [s for s in t.structured if s.kind != "creditor_reference" or s.reference]
    if not items:
        return None
    currency = payment.amount.currency
    return RemittanceAdvice(
        advice_id=f"BNK-{payment.payment_id.removeprefix('PAY-')}",
        payer_name=payment.payer_name,
        total=payment.amount,
        payment_reference=payment.end_to_end_id or payment.bank_reference,
        payment_date=payment.value_date,
        lines=tuple(
            RemittanceLine(
                reference=s.reference,
                paid=s.amount or Money.zero(currency),
                discount=s.discount,
                deduction=s.adjustment,
                reason=s.adjustment_reason,
            )
            for s in items
        ),
        source_file_id=payment.source_file_id,
    )


def _placed(con: Connection, parsed: ParsedFile) -> Placement:
    """The file's transactions sorted out against the ledger: copies of stored ones, or new."""
    fingerprints = [t.fingerprint() for t in parsed.transactions]
    copies = stored_copies(con, fingerprints)
    known = stored_statements(con, [s.account for s in parsed.statements])
    return place(
        parsed,
        fingerprints,
        copies,
        known,
        lambda keys: statement_payments(con, keys),
        lambda payment_ids: payment_copies(con, payment_ids),
    )


def _store(
    con: Connection, parsed: ParsedFile | list[RemittanceAdvice], file_id: str, result: FileResult
) -> None:
    if isinstance(parsed, ParsedFile):
        result.file_format = parsed.file_format
        placement = _placed(con, parsed)
        placed = placement.placed
        payments, advices, links = [], [], {}
        for p in placed:
            if not p.is_new:
                continue
            payment = _payment(p, file_id)
            payments.append(payment)
            advice = _bank_advice(payment, p.transaction)
            if advice is not None:
                advices.append(advice)
                links[advice.advice_id] = payment.payment_id
        new_ids, _ = insert_payments(con, payments)
        result.duplicates = len(placed) - len(new_ids)
        for own in placement.separated:
            separate_payment(con, own.statement_key, own.payment_id, own.instead, own.occurrence)
        result.new = len(new_ids)
        result.separated = sum(1 for own in placement.separated if own.occurrence)
        entries = [(p.statement_key, p.payment_id) for p in placed if p.statement_key]
        record_statements(con, placement.statements, entries, file_id)
        fresh = set(new_ids)
        result.advices = insert_advices(
            con, [a for a in advices if links[a.advice_id] in fresh], links
        )
    else:
        result.file_format = "edi820"
        stored = [
            RemittanceAdvice(**{**asdict_shallow(a), "source_file_id": file_id}) for a in parsed
        ]
        result.advices = insert_advices(con, stored)
        result.duplicates = len(stored) - result.advices


def asdict_shallow(record: Any) -> dict[str, Any]:
    """A frozen dataclass's fields as a dict without deep-copying nested records."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def _quarantine(home: Path, path: Path, sha256: str, reason: str) -> str:
    folder = home / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sha256[:12]}_{path.name}"
    try:
        shutil.move(str(path), target)
        how = "moved"
    except OSError:
        shutil.copy2(path, target)  # a read-only source stays where it is; we keep a copy
        how = "copied (the source could not be moved)"
    (folder / f"{target.name}.reason.txt").write_text(
        f"file: {path}\nsha256: {sha256}\nwhen: {utcnow().isoformat()}Z\nhow: {how}\n"
        f"reason: {reason}\n"
    )
    return str(target)


def ingest_paths(
    paths: list[Path],
    settings: LedgerSettings,
    *,
    file_format: str = "auto",
    profile: Path | None = None,
    actor: str = "ingest",
) -> IngestReport:
    """Ingest every file named or found below the folders named; one bad file stops nothing."""
    report = IngestReport()
    files = list(walk(paths))
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        report.files.append(FileResult(str(path), "refused", reason="no such file or folder"))
    extracted = _extract_documents(files, settings, profile) if file_format == "auto" else {}
    with open_ledger(settings.ledger_path, lock_wait_seconds=settings.lock_wait_seconds) as con:
        for path in files:
            if not path.exists():
                continue
            if path in extracted:
                report.files.append(_store_document(con, path, settings, extracted[path], actor))
            else:
                report.files.append(_ingest_one(con, path, settings, file_format, profile, actor))
    return report


def _is_document(path: Path, data: bytes, settings: LedgerSettings, profile: Path | None) -> bool:
    """PDFs and images, and text that is neither a bank format nor a CSV fitting a profile."""
    detected = detect_format(data)
    if detected in DOCUMENT_FORMATS:
        return True
    if detected is not None or not _is_text(data):
        return False
    try:
        profiles = load_profiles(settings.home, path, profile)
    except InputError:
        return False
    return not any(p.fits(read_header(data, p)) for p in profiles)


def _extract_one(path: Path) -> tuple[str, Any]:
    """Run in a worker process: ('ok', Extraction) or (error kind, message)."""
    from ingest.documents.extract import NothingRemittanceLike
    from pipelines.extract import extract_document

    try:
        return "ok", extract_document(path.read_bytes(), source=path.name)
    except NothingRemittanceLike as exc:
        return "not_remittance", str(exc)
    except InputError as exc:
        return "refused", str(exc)


def _extract_documents(
    files: list[Path], settings: LedgerSettings, profile: Path | None
) -> dict[Path, tuple[str, Any]]:
    """Extract every document among ``files`` on all cores (OCR is the slow part of ingest)."""
    documents = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if _is_document(path, data, settings, profile):
            documents.append(path)
    if len(documents) <= 1:
        return {path: _extract_one(path) for path in documents}
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return dict(zip(documents, pool.map(_extract_one, documents), strict=True))


def _record_ingested(
    con: Connection, result: FileResult, sha256: str, name: str, counts: dict[str, int], actor: str
) -> None:
    """Inside the caller's transaction: the file as ingested, and its audit entry."""
    file_id = sha256[:16]
    record_file(
        con,
        file_id=file_id,
        sha256=sha256,
        name=name,
        file_format=result.file_format,
        status="ingested",
        counts=counts,
    )
    audit.append(
        con,
        [
            audit.NewEntry(
                actor,
                "ingest_file",
                "file",
                file_id,
                {"name": name, "sha256": sha256, "format": result.file_format, **counts},
            )
        ],
    )


def _refuse(
    con: Connection,
    result: FileResult,
    path: Path,
    sha256: str,
    file_format: str,
    reason: str,
    settings: LedgerSettings,
    actor: str,
) -> None:
    """Quarantine a refused file, record it with its reason and audit it; nothing else is kept."""
    file_id = sha256[:16]
    result.status, result.reason = "refused", reason
    result.quarantined_to = _quarantine(settings.home, path, sha256, reason)
    with transaction(con):
        record_file(
            con,
            file_id=file_id,
            sha256=sha256,
            name=path.name,
            file_format=file_format,
            status="quarantined",
            reason=reason,
        )
        audit.append(
            con,
            [
                audit.NewEntry(
                    actor, "quarantine_file", "file", file_id, {"name": path.name, "reason": reason}
                )
            ],
        )


def _store_document(
    con: Connection, path: Path, settings: LedgerSettings, outcome: tuple[str, Any], actor: str
) -> FileResult:
    from pipelines.extract import to_remittance_advices

    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    file_id = sha256[:16]
    result = FileResult(str(path), "ingested", file_format="document")
    seen = known_file(con, sha256)
    if seen is not None and seen[1] in ("ingested", "not_remittance"):
        result.status, result.reason = "duplicate", f"already ingested as file {seen[0]}"
        return result
    kind, value = outcome
    if kind == "refused":
        _refuse(con, result, path, sha256, "document", value, settings, actor)
        return result
    if kind == "not_remittance":
        result.status, result.reason = "not_remittance", value
        with transaction(con):
            record_file(
                con,
                file_id=file_id,
                sha256=sha256,
                name=path.name,
                file_format="document",
                status="not_remittance",
                reason=value,
            )
        return result
    result.file_format = f"document/{value.reader}"
    advices = to_remittance_advices(value, source=path.name, file_id=file_id)
    with transaction(con):
        result.advices = insert_advices(con, advices)
        _record_ingested(con, result, sha256, path.name, {"advices": result.advices}, actor)
    return result


def _ingest_one(
    con: Connection,
    path: Path,
    settings: LedgerSettings,
    file_format: str,
    profile: Path | None,
    actor: str,
) -> FileResult:
    result = FileResult(str(path), "ingested")
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.status, result.reason = "refused", f"cannot read ({exc.strerror})"
        return result
    sha256 = hashlib.sha256(data).hexdigest()
    file_id = sha256[:16]
    seen = known_file(con, sha256)
    if seen is not None and seen[1] == "ingested":
        result.status, result.reason = "duplicate", f"already ingested as file {seen[0]}"
        return result
    detected = detect_format(data) if file_format == "auto" else file_format
    try:
        profiles = load_profiles(settings.home, path, profile)
        parsed = parse_any(data, source=path.name, file_format=file_format, profiles=profiles)
        with transaction(con):
            _store(con, parsed, file_id, result)
            counts = {"new": result.new, "duplicates": result.duplicates, "advices": result.advices}
            _record_ingested(con, result, sha256, path.name, counts, actor)
    except InputError as exc:
        fmt = result.file_format or str(detected or "unknown")
        _refuse(con, result, path, sha256, fmt, str(exc), settings, actor)
    except Exception as exc:  # one file's fault never stops the batch
        # A file that trips a fault of ours is kept in quarantine, written nowhere else, and
        # says so; the rest of the batch goes on.
        fmt = result.file_format or str(detected or "unknown")
        reason = f"{path.name}: could not be read (internal error {type(exc).__name__}: {exc})"
        _refuse(con, result, path, sha256, fmt, reason, settings, actor)
    return result


def _is_text(data: bytes) -> bool:
    if b"\x00" in data[:65536]:
        return False
    try:
        data[:65536].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > 65530  # a character cut at the sample's edge is still text
    return True


def report_json(report: IngestReport) -> str:
    return json.dumps(report.as_dict())


def advice_json(advice: RemittanceAdvice) -> dict[str, Any]:
    """A remittance advice as JSON: amounts as decimal strings, dates ISO."""

    def money(value: Money | None) -> str | None:
        return value.amount_text() if value else None

    return {
        "advice_id": advice.advice_id,
        "payer_name": advice.payer_name,
        "payer_number": advice.payer_number,
        "payment_reference": advice.payment_reference,
        "payment_date": advice.payment_date.isoformat() if advice.payment_date else None,
        "currency": advice.total.currency if advice.total else None,
        "total": money(advice.total),
        "confidence": advice.confidence,
        "lines": [
            {
                "reference": line.reference,
                "paid": money(line.paid),
                "gross": money(line.gross),
                "discount": money(line.discount),
                "deduction": money(line.deduction),
                "reason": line.reason,
                "invoice_date": line.invoice_date.isoformat() if line.invoice_date else None,
                "confidence": line.confidence,
            }
            for line in advice.lines
        ],
    }

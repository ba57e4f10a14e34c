"""Extract a remittance advice from any document: PDF (text or scanned), image, e-mail, CSV, 820.

The reader is chosen by content: a PDF's text layer when it has one, OCR when it has none, the
EDI 820 parser for X12, and the e-mail or CSV readers for text.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingest.detect import detect_format
from ingest.documents.advice import ExtractedAdvice, FieldValue
from ingest.documents.words import Page
from ledger.errors import ParseError
from ledger.money import Money
from ledger.records import RemittanceAdvice, RemittanceLine


@dataclass(frozen=True, slots=True)
class Extraction:
    """An advice as extracted, with the reader used (text, ocr, edi820, email, csv)."""

    advice: ExtractedAdvice | None
    edi: tuple[RemittanceAdvice, ...] = ()
    reader: str = ""


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text.splitlines()[:5] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
    except csv.Error:
        return False
    widths = {len(row) for row in csv.reader(io.StringIO("\n".join(lines)), dialect)}
    return len(widths) == 1 and widths.pop() >= 3


def extract_document(data: bytes, *, source: str = "", ocr_dpi: int = 300) -> Extraction:
    """Read ``data`` into an advice; :class:`ParseError` when it is no readable document."""
    if not data.strip():
        raise ParseError("file is empty", source=source)
    fmt = detect_format(data)
    if fmt == "edi820":
        from ingest.edi820 import parse_edi820

        return Extraction(None, tuple(parse_edi820(data, source=source)), "edi820")
    if fmt == "pdf":
        from ingest.documents.extract import extract_advice
        from ingest.documents.text_layer import read_text_pdf

        pages = read_text_pdf(data, source=source)
        if any(page.words for page in pages):
            return Extraction(extract_advice(pages, source=source), reader="text")
        from ingest.documents.ocr import read_scanned_pdf

        return _turned(
            lambda turn: read_scanned_pdf(data, source=source, dpi=ocr_dpi, turn=turn), source
        )
    if fmt == "image":
        from ingest.documents.ocr import read_image

        return _turned(lambda turn: read_image(data, source=source, turn=turn), source)
    if fmt is not None:
        raise ParseError(f"a {fmt} bank file is not a remittance document", source=source)
    from ingest.documents.extract import NothingRemittanceLike
    from ingest.documents.text_advice import decoded_text, read_csv_advice, read_email

    text = decoded_text(data, source=source)
    tabular = _looks_like_csv(text)
    if tabular or _has_delimited_lines(text):
        try:
            return Extraction(read_csv_advice(data, source=source), reader="csv")
        except NothingRemittanceLike:
            if tabular:
                raise
    return Extraction(read_email(text, source=source), reader="email")


def _has_delimited_lines(text: str) -> bool:
    """Whether a few of the first lines are cells split by one delimiter (a CSV with a
    preamble, or of two columns)."""
    lines = [line for line in text.splitlines()[:12] if line.strip()]
    return any(sum(line.count(d) >= 1 for line in lines) >= 3 for d in ";\t|,")


TURNS = (0, 180, 90, 270)
"""How a scan is tried, counter-clockwise degrees: as it is, then upside down (fed into the
scanner the wrong way), then on either side (a photo whose camera did not say)."""


def _turned(read: Callable[[int], tuple[list[Page], list[ParseError]]], source: str) -> Extraction:
    """The advice of a scan as it is; when nothing remittance-like is found, of the scan turned
    round (each turn is a full OCR, so only a scan that failed pays for it)."""
    from ingest.documents.extract import NothingRemittanceLike

    first: NothingRemittanceLike | None = None
    for turn in TURNS:
        pages, unread = read(turn)
        try:
            return _scanned(pages, unread, source=source)
        except NothingRemittanceLike as error:
            first = first or error
            if not any(page.words for page in pages):
                break  # a blank page reads blank whichever way up
    assert first is not None
    raise first


def _scanned(pages: list[Page], unread: list[ParseError], *, source: str) -> Extraction:
    """The advice of the pages OCR could read; the pages it could not are flagged in it.
    With no page read there is nothing to extract, and the first page's error is raised."""
    from ingest.documents.extract import extract_advice

    if not pages:
        raise unread[0] if unread else ParseError("no page to read", source=source)
    return Extraction(extract_advice(pages, source=source, unread=unread), reader="ocr")


def _field(value: FieldValue | None) -> dict[str, Any] | None:
    if value is None:
        return None
    found = value.found
    return {
        "value": value.text,
        "confidence": round(value.confidence, 4),
        "page": found.page if found else None,
        "box": [round(v, 1) for v in found.box] if found else None,
    }


def _money(value: Money | None) -> str | None:
    return value.amount_text() if value is not None else None


def extraction_json(extraction: Extraction) -> dict[str, Any]:
    """The JSON `arpilot extract` prints: every field with its confidence, page and box."""
    if extraction.advice is None:
        from pipelines.ingest import advice_json

        return {"reader": extraction.reader, "advices": [advice_json(a) for a in extraction.edi]}
    a = extraction.advice
    return {
        "reader": extraction.reader,
        "pages": a.pages,
        "payer": _field(a.payer),
        "payment_reference": _field(a.payment_reference),
        "payment_date": a.payment_date.isoformat() if a.payment_date else None,
        "payment_date_field": _field(a.payment_date_field),
        "currency": a.currency,
        "total": _money(a.total),
        "total_field": _field(a.total_field),
        "confidence": round(a.confidence, 4),
        "flags": list(a.flags),
        "lines": [
            {
                "reference": _field(line.reference),
                "paid": _money(line.paid),
                "paid_field": _field(line.paid_field),
                "invoice_date": line.invoice_date.isoformat() if line.invoice_date else None,
                "gross": _money(line.gross),
                "discount": _money(line.discount),
                "deduction": _money(line.deduction),
                "reason": line.reason,
                "confidence": round(line.confidence, 4),
            }
            for line in a.lines
        ],
    }


def to_remittance_advices(
    extraction: Extraction, *, source: str, file_id: str
) -> list[RemittanceAdvice]:
    """Ledger records of an extraction: EDI advices as they are, documents with confidences."""
    if extraction.advice is None:
        return [
            RemittanceAdvice(
                **{**{n: getattr(a, n) for n in a.__dataclass_fields__}, "source_file_id": file_id}
            )
            for a in extraction.edi
        ]
    a = extraction.advice
    currency = a.currency
    lines = tuple(
        RemittanceLine(
            reference=line.reference.text,
            paid=line.paid if line.paid is not None else Money.zero(currency),
            gross=line.gross,
            discount=line.discount,
            deduction=line.deduction,
            reason=line.reason,
            invoice_date=line.invoice_date,
            confidence=line.confidence,
        )
        for line in a.lines
    )
    digest = hashlib.sha256(f"{file_id}|{source}".encode()).hexdigest()[:12].upper()
    return [
        RemittanceAdvice(
            advice_id=f"DOC{digest}",
            payer_name=a.payer.text if a.payer else "",
            total=a.total,
            payment_reference=a.payment_reference.text if a.payment_reference else "",
            payment_date=a.payment_date,
            lines=lines,
            source_file_id=file_id,
            confidence=a.confidence,
            currency_stated=a.currency_stated,
        )
    ]

"""Writers that turn a :class:`~simulator.model.RemittanceDocument` into the bytes of a real remittance advice."""

from __future__ import annotations

import hashlib

from ledger.errors import InputError
from ledger.money import format_amount
from simulator.model import RemittanceDocument

KINDS: dict[str, str] = {
    "pdf_text": "pdf",
    "pdf_scan": "pdf",
    "png": "png",
    "edi820": "edi",
    "csv": "csv",
    "email": "txt",
}
"""Document kind -> file extension (without the dot) of the bytes :func:`write_document` returns."""

NEGATIVE_STYLES = ("minus", "parentheses", "trailing")
# 1,234.56 -> 1.234,56: swap the grouping and decimal marks in one pass.
_SWAP_MARKS = str.maketrans(",.", ".,")


class UnknownDocumentKind(InputError):
    """A remittance document whose ``kind`` has no writer."""


def amount_text(
    minor: int, currency: str, *, decimal_comma: bool = False, negative: str = "minus"
) -> str:
    """An amount as a payer prints it, with thousands separators, from integer minor units.

    decimal_comma: continental style 1.234,56 instead of 1,234.56. negative: 'minus' (-12.00),
    'parentheses' ((12.00)) or 'trailing' (12.00-), the three ways ERP print-outs sign credits.
    """
    if negative not in NEGATIVE_STYLES:
        raise ValueError(f"negative style must be one of {NEGATIVE_STYLES}, got {negative!r}")
    text = format_amount(abs(minor), currency, grouping=True)
    if decimal_comma:
        text = text.translate(_SWAP_MARKS)
    if minor >= 0:
        return text
    if negative == "parentheses":
        return f"({text})"
    if negative == "trailing":
        return f"{text}-"
    return f"-{text}"


def stable_seed(document_id: str, purpose: str = "") -> int:
    """A 64-bit seed from a document id that is the same in every process (unlike ``hash()``)."""
    digest = hashlib.sha256(f"{purpose}:{document_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def write_document(doc: RemittanceDocument) -> tuple[str, bytes]:
    """The document's file extension (no dot) and its bytes, written in the format of ``doc.kind``.

    Writers are imported on demand so that making a CSV or e-mail does not load reportlab,
    pypdfium2 and numpy. Raises :class:`UnknownDocumentKind` for a kind with no writer.
    """
    if doc.kind not in KINDS:
        raise UnknownDocumentKind(
            f"remittance document {doc.document_id}: unknown kind {doc.kind!r}; "
            f"expected one of {', '.join(KINDS)}"
        )
    extension = KINDS[doc.kind]
    if doc.kind == "pdf_text":
        from simulator.documents.pdf import write_text_pdf

        return extension, write_text_pdf(doc)
    if doc.kind == "pdf_scan":
        from simulator.documents.scan import write_scanned_pdf

        return extension, write_scanned_pdf(doc)
    if doc.kind == "png":
        from simulator.documents.scan import write_png

        return extension, write_png(doc)
    if doc.kind == "edi820":
        from simulator.documents.edi820 import write_edi820

        return extension, write_edi820(doc)
    if doc.kind == "csv":
        from simulator.documents.csv_advice import write_csv

        return extension, write_csv(doc)
    from simulator.documents.email import write_email

    return extension, write_email(doc)

"""Words and their boxes from a PDF's text layer, as :class:`Page` records for the extractor."""

from __future__ import annotations

import io
import logging

import pdfplumber
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfparser import PDFSyntaxError
from pdfminer.psexceptions import PSException
from pdfplumber.utils.exceptions import PdfminerException

from ingest.documents.words import Page, Word
from ledger.errors import ParseError

# pdfminer logs every odd object it tolerates; the caller only needs our ParseError.
logging.getLogger("pdfminer").setLevel(logging.ERROR)

# Glyphs closer than this (points) are one word; wider gaps split, so table cells stay apart.
_X_TOLERANCE = 1.5


def read_text_pdf(data: bytes, *, source: str = "") -> list[Page]:
    """Every page of a PDF with the words of its text layer (confidence 1.0, reader 'text').

    A page without a text layer (a scan) comes back with no words, so the caller can OCR it.
    Raises :class:`ParseError` for empty, corrupt or password-protected files.
    """
    if not data or not data.strip():
        raise ParseError("empty file: not a PDF", source=source)
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise ParseError("not a PDF (no %PDF header); send the original PDF", source=source)
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            pages = [_read_page(page, number) for number, page in enumerate(pdf.pages, start=1)]
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        raise ParseError(
            "PDF is password-protected; ask the payer for an unprotected copy", source=source
        ) from exc
    except PdfminerException as exc:
        cause = exc.args[0] if exc.args else exc
        if isinstance(cause, PDFPasswordIncorrect | PDFEncryptionError):
            raise ParseError(
                "PDF is password-protected; ask the payer for an unprotected copy", source=source
            ) from exc
        raise ParseError(f"corrupt PDF: {cause}", source=source) from exc
    except (PDFSyntaxError, PSException, ValueError, KeyError, TypeError, AssertionError) as exc:
        # pdfminer signals structural damage with a spread of exception types.
        raise ParseError(f"corrupt PDF: {exc}", source=source) from exc
    if not pages:
        raise ParseError("PDF has no pages", source=source)
    return pages


def _read_page(page: pdfplumber.page.Page, number: int) -> Page:
    words = tuple(
        Word(
            text=str(raw["text"]),
            page=number,
            x0=float(raw["x0"]),
            top=float(raw["top"]),
            x1=float(raw["x1"]),
            bottom=float(raw["bottom"]),
            confidence=1.0,
        )
        for raw in page.extract_words(x_tolerance=_X_TOLERANCE, keep_blank_chars=False)
        if str(raw["text"]).strip()
    )
    return Page(
        number=number,
        width=float(page.width),
        height=float(page.height),
        words=words,
        reader="text",
    )

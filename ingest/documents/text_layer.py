"""Words and their boxes from a PDF's text layer, as :class:`Page` records for the extractor."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pdfplumber
from pdfminer.layout import LTChar, LTContainer, LTPage
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
    return Page(
        number=number,
        width=float(page.width),
        height=float(page.height),
        words=tuple(
            Word(text, number, x0, top, x1, bottom, 1.0)
            for text, x0, top, x1, bottom in layout_words(page.layout)
        ),
        reader="text",
    )


# pdfplumber's word extractor spells these out too.
_LIGATURES = {"ﬀ": "ff", "ﬃ": "ffi", "ﬄ": "ffl", "ﬁ": "fi", "ﬂ": "fl", "ﬆ": "st", "ﬅ": "st"}
# Glyphs whose tops differ by no more than this (points) are on one line, as in pdfplumber.
_Y_TOLERANCE = 3.0


def layout_words(layout: LTPage) -> list[tuple[str, float, float, float, float]]:
    """The words of a page as (text, x0, top, x1, bottom), in points from the top-left corner.

    The same words as pdfplumber's ``extract_words(x_tolerance=1.5)`` for upright text, built
    straight from pdfminer's characters: pdfplumber first turns every object on the page
    (each glyph, rule and shaded box) into a dictionary of a dozen attributes, which costs
    more than reading the page. The slow twin in the tests holds the two equal.
    """
    left, page_top = layout.x0, layout.y1
    chars = sorted(
        (page_top - char.y1, char.x0 - left, char.x1 - left, page_top - char.y0, char.get_text())
        for char in _characters(layout)
        if char.upright
    )
    lines: list[list[tuple[float, float, float, float, str]]] = []
    for char in chars:
        if lines and char[0] - lines[-1][-1][0] <= _Y_TOLERANCE:
            lines[-1].append(char)
        else:
            lines.append([char])
    words = []
    for line in lines:
        line.sort(key=lambda char: char[1])
        word: list[tuple[float, float, float, float, str]] = []
        for char in [*line, (0.0, 0.0, 0.0, 0.0, " ")]:
            if char[4].isspace() or (word and char[1] > word[-1][2] + _X_TOLERANCE):
                if word:
                    words.append(
                        (
                            "".join(_LIGATURES.get(c[4], c[4]) for c in word),
                            min(c[1] for c in word),
                            min(c[0] for c in word),
                            max(c[2] for c in word),
                            max(c[3] for c in word),
                        )
                    )
                word = []
            if not char[4].isspace():
                word.append(char)
    return words


def _characters(container: LTContainer) -> Iterator[LTChar]:
    for item in container:
        if isinstance(item, LTChar):
            yield item
        elif isinstance(item, LTContainer):
            yield from _characters(item)

"""Remittance extraction from text PDFs, OCR-like words, e-mails and CSV advices.

Documents are made by the simulator from hand-built RemittanceDocuments, so every reference,
amount, date and total is known exactly and the assertions are exact.
"""

from __future__ import annotations

import contextlib
import io
import random
from dataclasses import replace
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.pdfgen.canvas import Canvas

from ingest.documents.advice import CURRENCY_ASSUMED, ExtractedAdvice
from ingest.documents.extract import (
    NothingRemittanceLike,
    amount_text,
    date_of,
    decimal_mark_of,
    extract_advice,
    money_of,
)
from ingest.documents.text_advice import read_csv_advice, read_email
from ingest.documents.text_layer import read_text_pdf
from ingest.documents.words import Page, Word
from ledger.errors import ParseError
from ledger.money import Money
from simulator.documents.csv_advice import dialect_of, has_total_row, write_csv
from simulator.documents.email import write_email
from simulator.documents.pdf import write_text_pdf
from simulator.model import AdviceLine, RemittanceDocument

PAYMENT_DATE = date(2026, 3, 16)
PAYERS = {"USD": "Northwind Traders Inc.", "EUR": "Rheinmetall Handel GmbH"}


def advice_lines(count: int) -> tuple[AdviceLine, ...]:
    """A plain invoice, a discount, a deduction with its reason, a credit memo, then fillers."""
    lines = [
        AdviceLine("INV-104417", 1_234_56, date(2026, 2, 2), 1_234_56),
        AdviceLine("INV-104418", 9_800_00, date(2026, 2, 3), 10_000_00, discount_minor=200_00),
        AdviceLine(
            "INV-104421",
            123_406_78,
            date(2026, 2, 5),
            123_456_78,
            deduction_minor=50_00,
            reason="Damaged goods",
        ),
        AdviceLine("CM-7703", -12_00, date(2026, 2, 6), -12_00),
    ]
    for number in range(len(lines), count):
        paid = 45_000 + number * 1_111
        lines.append(
            AdviceLine(f"90{51230 + number}", paid, date(2026, 1, 1) + timedelta(days=number), paid)
        )
    return tuple(lines[:count])


def make_doc(
    kind: str, *, layout: int = 0, currency: str = "USD", count: int = 6
) -> RemittanceDocument:
    lines = advice_lines(count)
    return RemittanceDocument(
        document_id=f"EXT-{kind}-{layout}-{currency}-{count}",
        payment_id="PAY-1",
        kind=kind,
        payer_name=PAYERS[currency],
        payee_name="Contoso Supply LLC",
        payment_reference="0045123",
        payment_date=PAYMENT_DATE,
        currency=currency,
        total_minor=sum(line.paid_minor for line in lines),
        lines=lines,
        payer_number="V-88213",
        layout=layout,
    )


@cache
def pdf_pages(layout: int, currency: str, count: int) -> tuple[Page, ...]:
    return tuple(
        read_text_pdf(
            write_text_pdf(make_doc("pdf_text", layout=layout, currency=currency, count=count))
        )
    )


def line_pairs(advice: ExtractedAdvice) -> list[tuple[str, int | None]]:
    return [(line.reference.text, line.paid.minor if line.paid else None) for line in advice.lines]


def expected_pairs(doc: RemittanceDocument) -> list[tuple[str, int]]:
    return [(line.reference, line.paid_minor) for line in doc.lines]


def assert_exact(advice: ExtractedAdvice, doc: RemittanceDocument) -> None:
    assert line_pairs(advice) == expected_pairs(doc)
    assert advice.total == Money(doc.total_minor, doc.currency)
    assert advice.currency == doc.currency
    assert advice.payer is not None and advice.payer.text == doc.payer_name
    assert advice.payment_reference is not None
    assert advice.payment_reference.text == doc.payment_reference
    assert advice.payment_date == doc.payment_date
    assert not any("do not sum" in flag for flag in advice.flags)


# --- text PDFs ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [6, 40])
@pytest.mark.parametrize("currency", ["USD", "EUR"])
@pytest.mark.parametrize("layout", range(5))
def test_text_pdf_extracts_every_field_exactly(layout: int, currency: str, count: int) -> None:
    doc = make_doc("pdf_text", layout=layout, currency=currency, count=count)
    pages = list(pdf_pages(layout, currency, count))
    advice = extract_advice(pages, source="advice.pdf")
    assert_exact(advice, doc)
    assert advice.flags == ()
    assert advice.confidence == 1.0
    assert advice.reader == "text"
    assert advice.pages == len(pages)
    if count == 40:
        assert len(pages) > 1, "the 40-line advice must span pages"


@pytest.mark.parametrize("layout", range(5))
def test_text_pdf_line_details_and_provenance(layout: int) -> None:
    doc = make_doc("pdf_text", layout=layout)
    advice = extract_advice(list(pdf_pages(layout, "USD", 6)))
    by_reference = {line.reference.text: line for line in advice.lines}
    credit = by_reference["CM-7703"]
    assert credit.paid == Money(-12_00, "USD")
    assert credit.invoice_date == date(2026, 2, 6)
    assert by_reference["INV-104418"].gross == Money(10_000_00, "USD")
    columns = {column.field for column in _layout_columns(layout)}
    if "discount" in columns:
        assert by_reference["INV-104418"].discount == Money(200_00, "USD")
    if "deduction" in columns:
        assert by_reference["INV-104421"].deduction == Money(50_00, "USD")
    if "reason" in columns:
        assert by_reference["INV-104421"].reason == "Damaged goods"
    assert advice.total_field is not None and advice.total_field.found is not None
    assert advice.total_field.found.page == 1
    reference = advice.lines[0].reference
    assert reference.found is not None and reference.confidence == 1.0
    x0, top, x1, bottom = reference.found.box
    assert x0 < x1 and top < bottom
    assert doc.lines[0].reference == reference.text


def _layout_columns(layout: int) -> tuple[object, ...]:
    from simulator.documents.pdf import LAYOUTS

    return LAYOUTS[layout].columns


def ocr_like(pages: tuple[Page, ...], seed: int, *, jitter: float = 0.8) -> list[Page]:
    """The same words as an OCR engine would give them: shifted a little, confidence 0.6."""
    rng = random.Random(seed)
    result = []
    for page in pages:
        words = []
        for word in page.words:
            dx, dy = rng.uniform(-jitter, jitter), rng.uniform(-jitter, jitter)
            words.append(
                replace(
                    word,
                    x0=word.x0 + dx,
                    x1=word.x1 + dx + rng.uniform(-0.3, 0.3),
                    top=word.top + dy,
                    bottom=word.bottom + dy + rng.uniform(-0.3, 0.3),
                    confidence=0.6,
                )
            )
        rng.shuffle(words)
        result.append(replace(page, words=tuple(words), reader="ocr"))
    return result


@pytest.mark.parametrize("currency", ["USD", "EUR"])
@pytest.mark.parametrize("layout", range(5))
def test_ocr_like_words_still_extract(layout: int, currency: str, seed: int) -> None:
    doc = make_doc("pdf_text", layout=layout, currency=currency, count=40)
    advice = extract_advice(ocr_like(pdf_pages(layout, currency, 40), seed))
    assert_exact(advice, doc)
    assert advice.reader == "ocr"
    assert advice.confidence <= 0.6
    assert all(line.confidence == 0.6 for line in advice.lines)


def test_ocr_confused_digits_are_read_but_trusted_less() -> None:
    confused = {
        "9,800.00": "9,8OO.00",
        "INV-104417": "INV-1O4417",
        "10,000.00": "1O,OOO.00",
        "494.44": "494,44",  # a misread decimal mark: two decimals cannot be a thousands group
    }
    pages = [
        replace(
            page,
            reader="ocr",
            words=tuple(
                replace(w, text=confused.get(w.text, w.text), confidence=0.9) for w in page.words
            ),
        )
        for page in pdf_pages(0, "USD", 6)
    ]
    advice = extract_advice(pages)
    by_reference = {line.reference.text: line for line in advice.lines}
    discounted = by_reference["INV-104418"]
    assert discounted.paid == Money(9_800_00, "USD")
    assert discounted.gross == Money(10_000_00, "USD")
    assert discounted.paid_field is not None and discounted.paid_field.confidence < 0.9
    # A reference is kept as read (the matcher judges it), but trusted less.
    assert by_reference["INV-1O4417"].reference.confidence < 0.9
    assert by_reference["INV-104421"].confidence == 0.9
    misread = by_reference["9051234"]
    assert misread.paid == Money(494_44, "USD") and misread.confidence < 0.9
    assert advice.total == Money(135_429_33, "USD")
    assert date_of("2O26-03-16") == date(2026, 3, 16)


def test_mismatched_total_is_flagged_not_corrected() -> None:
    doc = replace(make_doc("pdf_text", layout=3), total_minor=135_429_33 + 1_00)
    advice = extract_advice(read_text_pdf(write_text_pdf(doc)))
    assert advice.total == Money(doc.total_minor, "USD")
    assert line_pairs(advice) == expected_pairs(doc)
    assert any("do not sum" in flag for flag in advice.flags)
    assert advice.confidence < 1.0


# --- not an advice, and files that are not PDFs --------------------------------------------


def _pdf(draw: str, **canvas_options: object) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, invariant=1, **canvas_options)  # type: ignore[arg-type]
    y = 720.0
    for line in draw.splitlines():
        canvas.drawString(72, y, line)
        y -= 14
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


LETTER_TEXT = """Contoso Supply LLC
Dear Sir or Madam,
Date: March 16, 2026
Thank you for your order of 12 February. Our warehouse will ship the goods
within 10 days. Please let us know if you have questions about reference 88213.
Yours faithfully,
Jane Doe"""


def test_a_letter_is_not_remittance_like() -> None:
    pages = read_text_pdf(_pdf(LETTER_TEXT), source="letter.pdf")
    with pytest.raises(NothingRemittanceLike, match=r"letter\.pdf"):
        extract_advice(pages, source="letter.pdf")


def test_a_pdf_without_text_layer_gives_pages_without_words() -> None:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, invariant=1)
    canvas.rect(100, 100, 200, 200, fill=1)
    canvas.showPage()
    canvas.save()
    pages = read_text_pdf(buffer.getvalue())
    assert len(pages) == 1 and pages[0].words == ()
    with pytest.raises(NothingRemittanceLike):
        extract_advice(pages)


def test_encrypted_pdf_is_a_parse_error() -> None:
    # reportlab (a project dependency) encrypts with a user password; pypdf is not installed.
    data = _pdf("Remittance Advice", encrypt="secret")
    with pytest.raises(ParseError, match="password"):
        read_text_pdf(data, source="locked.pdf")


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n", b"%PDF-1.4\n%garbage that is no pdf\n", b"hello, not a pdf at all"],
    ids=["empty", "blank", "corrupt", "not-pdf"],
)
def test_empty_or_corrupt_pdf_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError, match=r"bad\.pdf"):
        read_text_pdf(data, source="bad.pdf")


def test_truncated_pdf_is_a_parse_error() -> None:
    data = write_text_pdf(make_doc("pdf_text"))
    with pytest.raises(ParseError):
        read_text_pdf(data[: len(data) // 3], source="cut.pdf")


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_read_or_raise_parse_error(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        read_text_pdf(b"%PDF-1.4\n" + data)


# --- e-mails and CSV ------------------------------------------------------------------------


@pytest.mark.parametrize("count", [6, 40])
@pytest.mark.parametrize("currency", ["USD", "EUR"])
@pytest.mark.parametrize("layout", range(3))
def test_email_extracts_every_field_exactly(layout: int, currency: str, count: int) -> None:
    doc = make_doc("email", layout=layout, currency=currency, count=count)
    advice = read_email(write_email(doc).decode("utf-8"), source="mail.txt")
    assert_exact(advice, doc)
    deducted = next(line for line in advice.lines if line.reference.text == "INV-104421")
    assert deducted.deduction == Money(50_00, currency)
    assert advice.reader == "email"


@pytest.mark.parametrize("count", [6, 40])
@pytest.mark.parametrize("currency", ["USD", "EUR"])
@pytest.mark.parametrize("layout", range(4))
def test_csv_extracts_what_the_file_states(layout: int, currency: str, count: int) -> None:
    doc = make_doc("csv", layout=layout, currency=currency, count=count)
    advice = read_csv_advice(write_csv(doc), source="advice.csv")
    assert line_pairs(advice) == expected_pairs(doc)
    deducted = next(line for line in advice.lines if line.reference.text == "INV-104421")
    assert deducted.deduction is not None and deducted.deduction.minor == 50_00
    assert deducted.reason == "Damaged goods"
    # The payer is never in a CSV export; the US dialect names no currency, reference or date.
    assert advice.payer is None
    if has_total_row(doc):
        assert advice.total is not None and advice.total.minor == doc.total_minor
    else:
        assert advice.total is None and "no total found" in advice.flags
    if dialect_of(doc) == "eu":
        assert advice.currency == currency
        assert advice.payment_reference is not None
        assert advice.payment_reference.text == doc.payment_reference
        assert advice.payment_date == doc.payment_date
    else:
        assert advice.payment_reference is None and advice.payment_date is None
        assert "currency not stated; assumed USD" in advice.flags


def test_csv_without_advice_columns_is_not_remittance_like() -> None:
    with pytest.raises(NothingRemittanceLike):
        read_csv_advice(b"name,city\nAcme,Boston\n")
    with pytest.raises(ParseError):
        read_csv_advice(b"")


def test_email_without_items_is_not_remittance_like() -> None:
    with pytest.raises(NothingRemittanceLike):
        read_email("From: a@b.com\nSubject: lunch\n\nSee you at noon.\n")


def test_email_mismatch_is_flagged() -> None:
    doc = replace(make_doc("email", layout=1), total_minor=1_00)
    advice = read_email(write_email(doc).decode("utf-8"))
    assert advice.total == Money(1_00, "USD")
    assert any("do not sum" in flag for flag in advice.flags)


# --- numbers and dates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mark", "minor"),
    [
        ("1,234.56", ".", 123456),
        ("1.234,56", ",", 123456),
        ("(12.00)", ".", -1200),
        ("12,00-", ",", -1200),
        ("-1.234.567,89", ",", -123456789),
        ("$1,234.56", ".", 123456),
        ("USD 135,429.33", ".", 13542933),
        ("€ 9,50", ",", 950),
        ("1O,OOO.00", ".", 1000000),
        ("1234,56", ",", 123456),
        ("16,899.46.", ".", 1689946),
        ("2,742.97°", ".", 274297),
    ],
)
def test_amounts(text: str, mark: str, minor: int) -> None:
    parsed = amount_text(text)
    assert parsed is not None
    assert money_of(parsed, "USD", mark) == Money(minor, "USD")


@pytest.mark.parametrize("text", ["INV-104417", "Damaged", "", "12/03/2026 x"])
def test_not_amounts(text: str) -> None:
    assert amount_text(text) is None


def test_decimal_mark_is_decided_per_document() -> None:
    assert decimal_mark_of(["1.234,56", "12,00", "16.03.2026"]) == ","
    assert decimal_mark_of(["1,234.56", "(12.00)"]) == "."
    assert decimal_mark_of(["1,234", "5,000"]) == "."


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-15",
        "03/15/2026",
        "15/03/2026",
        "15.03.2026",
        "15 Mar 2026",
        "Mar 15, 2026",
        "15-Mar-2026",
        "March 15 2026",
    ],
)
def test_dates(text: str) -> None:
    assert date_of(text) == date(2026, 3, 15)


def test_words_are_grouped_into_lines_whatever_their_order() -> None:
    words = [
        Word("Total", 1, 40, 100.4, 60, 109.6, 0.6),
        Word("Invoice", 1, 40, 80, 70, 89),
        Word("1,000.00", 1, 200, 99.6, 240, 108.8, 0.6),
        Word("Paid", 1, 200, 80.5, 220, 89.5),
        Word("A-1", 1, 40, 90.5, 60, 99),
        Word("1,000.00", 1, 200, 90, 240, 99.2),
    ]
    advice = extract_advice([Page(1, 600, 800, tuple(words), reader="ocr")])
    assert line_pairs(advice) == [("A-1", 1_000_00)]
    assert advice.total == Money(1_000_00, "USD")
    assert "currency not stated; assumed USD" in advice.flags


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        ([".PO-98346"], "PO-98346"),
        (["INV-103756", "°°"], "INV-103756"),
        (["-.", "INV-104769"], "INV-104769"),
        (["INV-104769"], "INV-104769"),
        (["INV.-102073"], "INV-102073"),
        (["CM-,900082"], "CM-900082"),
        (["CM-", "900082"], "CM-900082"),
        (["A.1-2"], "A.1-2"),
    ],
)
def test_ocr_specks_are_cleaned_from_references(tokens: list[str], expected: str) -> None:
    from ingest.documents.extract import clean_reference
    from ingest.documents.words import Word

    words = [Word(t, 1, 10.0 * i, 0.0, 10.0 * i + 8, 8.0, 0.9) for i, t in enumerate(tokens)]
    text, cleaned = clean_reference(words)
    assert text == expected
    assert cleaned == (tokens != [expected])


def test_ocr_mangled_date_separators() -> None:
    from ingest.documents.extract import date_of

    assert date_of("10:Mar-2025") == date(2025, 3, 10)
    assert date_of("10.Mar.2025") == date(2025, 3, 10)
    assert date_of("31:Feb-2025") is None


def _row(*cells: tuple[str, float, float], top: float = 100.0, conf: float = 0.9) -> list[Word]:
    """Words of one printed line: (text, x0, x1) each, 8 points high."""
    return [Word(text, 1, x0, top, x1, top + 8.0, conf) for text, x0, x1 in cells]


def _page(*rows: list[Word]) -> Page:
    return Page(1, 612.0, 792.0, tuple(w for row in rows for w in row), reader="ocr")


def test_a_header_with_one_stray_ocr_colon_is_still_the_table_header() -> None:
    header = _row(
        ("Invoice", 40, 70), ("#", 73, 78), ("Date", 150, 170), ("Gross", 250, 275),
        ("Ded.:", 320, 340), ("Paid", 450, 470), top=200,
    )  # fmt: skip
    row = _row(("INV-104417", 40, 90), ("2026-02-02", 150, 195), ("1,234.56", 240, 275),
               ("1,234.56", 435, 470), top=215)  # fmt: skip
    total = _row(("TOTAL", 40, 70), ("1,234.56", 435, 470), top=230)
    advice = extract_advice([_page(header, row, total)])
    assert [(line.reference.text, line.paid) for line in advice.lines] == [
        ("INV-104417", Money(1_234_56, "USD"))
    ]


def test_a_number_ocr_cut_in_two_is_joined_and_doubted() -> None:
    header = _row(("Invoice", 40, 70), ("No.", 73, 85), ("Amount", 400, 430),
                  ("Paid", 433, 450), top=200)  # fmt: skip
    row = _row(("INV-104417", 40, 90), ("17,", 400, 412), ("371.10", 416, 450), top=215)
    advice = extract_advice([_page(header, row)])
    line = advice.lines[0]
    assert line.paid == Money(17_371_10, "USD")
    assert line.confidence < 0.8


def test_the_letterhead_payer_leaves_out_a_title_on_its_line() -> None:
    name = [Word(t, 1, x0, 40, x1, 52, 0.95) for t, x0, x1 in
            (("Sterling", 42, 100), ("Logistics", 108, 180), ("Inc.", 188, 215),
             ("PAYMENT", 240, 320), ("NOTIFICATION", 328, 450))]  # fmt: skip
    header = _row(("Invoice", 40, 70), ("No.", 73, 85), ("Amount", 400, 430),
                  ("Paid", 433, 450), top=200)  # fmt: skip
    row = _row(("INV-104417", 40, 90), ("1,234.56", 410, 450), top=215)
    advice = extract_advice([_page(name, header, row)])
    assert advice.payer is not None
    assert advice.payer.text == "Sterling Logistics Inc."


def _rounded(text: str, *box: float) -> tuple[str, float, float, float, float]:
    x0, top, x1, bottom = (round(v, 3) for v in box)
    return (text, x0, top, x1, bottom)


def _pdfplumber_words(data: bytes) -> list[list[tuple[str, float, float, float, float]]]:
    """The slow twin: pdfplumber's own word extractor, as the text layer used to call it."""
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [
            sorted(
                _rounded(w["text"], w["x0"], w["top"], w["x1"], w["bottom"])
                for w in page.extract_words(x_tolerance=1.5, keep_blank_chars=False)
            )
            for page in pdf.pages
        ]


@pytest.mark.parametrize("layout", range(5))
@pytest.mark.parametrize("currency", ["USD", "EUR"])
def test_text_layer_words_equal_pdfplumbers(layout: int, currency: str) -> None:
    samples = Path(__file__).parents[2] / "data" / "samples" / "remittances"
    documents = [write_text_pdf(make_doc("pdf_text", layout=layout, currency=currency, count=40))]
    documents += [path.read_bytes() for path in sorted(samples.glob("*.pdf"))]
    for data in documents:
        fast = [
            sorted(_rounded(w.text, w.x0, w.top, w.x1, w.bottom) for w in page.words)
            for page in read_text_pdf(data)
        ]
        assert fast == _pdfplumber_words(data)


# -- OCR pages built word by word: what a scan's reading looks like ----------------------------


def _ocr_page(rows: list[tuple[float, float, list[tuple[float, str]]]]) -> Page:
    """A letter-size OCR page from rows of (top, word height, [(left, text), ...])."""
    words = [
        Word(text, 1, left, top, left + 5.5 * len(text), top + height, 0.95)
        for top, height, cells in rows
        for left, text in cells
    ]
    return Page(1, 612, 792, tuple(words), reader="ocr")


_TABLE: list[tuple[float, float, list[tuple[float, str]]]] = [
    (208, 6.8, [(47, "Your"), (72, "Ref"), (150, "Doc"), (172, "Date"), (420, "Net"), (440, "Paid")]),
    (234, 6.8, [(47, "INV-101462"), (150, "22-Jan-2025"), (430, "624.07")]),
    (246, 6.8, [(47, "INV-101463"), (150, "23-Jan-2025"), (430, "CLE"), (455, "(35,32")]),
    (258, 6.8, [(47, "INV-101464"), (150, "24-Jan-2025"), (430, "100.00")]),
    (280, 12.2, [(47, "Total"), (430, "1,077.39")]),  # a rule under 'Total' makes its box tall
]  # fmt: skip


def test_the_letterhead_above_the_table_is_the_payer_not_a_labelled_name_or_a_tall_total() -> None:
    page = _ocr_page(
        [
            (42.8, 11.0, [(200, "Borealis"), (250, "Dental"), (290, "Group"), (325, "S.r.1.")]),
            (74.5, 5.4, [(230, "Kaiserstrasse"), (300, "12")]),
            (107.3, 9.0, [(250, "Payment"), (300, "Advice")]),
            (130.0, 11.5, [(47, "Beneficiary:"), (150, "Arpilot"), (195, "Demo"), (225, "Inc.")]),
            (180.0, 6.8, [(47, "Payment"), (95, "Amount:"), (150, "USD"), (175, "1,077.39")]),
            *_TABLE,
        ]
    )
    advice = extract_advice([page])
    assert advice.payer is not None and advice.payer.text == "Borealis Dental Group S.r.1."


def test_a_row_whose_amounts_ocr_garbled_is_kept_unread_and_flagged() -> None:
    advice = extract_advice([_ocr_page([(180.0, 6.8, [(47, "USD")]), *_TABLE])])
    assert [line.reference.text for line in advice.lines] == [
        "INV-101462",
        "INV-101463",
        "INV-101464",
    ]
    garbled = advice.lines[1]
    assert garbled.paid is None and garbled.confidence < 0.5
    assert any("line 2 (INV-101463): paid amount unreadable" in flag for flag in advice.flags)


# --- layouts real payers print ----------------------------------------------------------------


def _printed(*lines: tuple[tuple[float, str], ...]) -> ExtractedAdvice:
    """A text PDF with each line's strings drawn at their x positions, 16 points apart."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, invariant=1)
    canvas.setFont("Helvetica", 9)
    for k, line in enumerate(lines):
        for x, text in line:
            canvas.drawString(x, 740 - 16 * k, text)
    canvas.showPage()
    canvas.save()
    return extract_advice(read_text_pdf(buffer.getvalue(), source="advice.pdf"))


_HEAD = ((42, "Stark Industries Inc"),)
_CHECK = ((42, "Check No.: 70001"), (300, "Check Date: 06/30/2025"))


def _paid(advice: ExtractedAdvice) -> list[tuple[str, str]]:
    return [
        (line.reference.text, str(line.paid.to_decimal() if line.paid else None))
        for line in advice.lines
    ]


def test_columns_no_line_field_takes_keep_their_values_to_themselves() -> None:
    # PO number, description and balance due are printed beside the invoice: before, their
    # values were glued to the reference or read as the paid amount (the balance, 400.00).
    advice = _printed(
        _HEAD,
        _CHECK,
        ((42, "Vendor Invoice #"), (130, "PO #"), (200, "Description"), (300, "Invoice Amount"),
         (390, "Amount Paid"), (470, "Balance Due")),
        ((42, "INV-1001"), (130, "PO-58924"), (200, "Freight June"), (300, "1,000.00"),
         (390, "600.00"), (470, "400.00")),
        ((42, "INV-1002"), (130, "PO-58925"), (200, "Widgets"), (300, "2,000.00"),
         (390, "2,000.00"), (470, "0.00")),
        ((200, "Total"), (390, "2,600.00")),
    )  # fmt: skip
    assert _paid(advice) == [("INV-1001", "600.00"), ("INV-1002", "2000.00")]
    assert [str(line.gross.to_decimal()) for line in advice.lines if line.gross] == [
        "1000.00",
        "2000.00",
    ]
    assert advice.total is not None and str(advice.total.to_decimal()) == "2600.00"
    assert not [f for f in advice.flags if "do not sum" in f]


@pytest.mark.parametrize(
    "header",
    [
        ((42, "Invoice No."), (300, "Amount")),
        ((42, "Inv#"), (150, "Inv Date"), (300, "Amount Paid")),
        (
            (42, "Invoice No."),
            (150, "Gross"),
            (220, "Discount"),
            (300, "Net"),
            (380, "Amount Paid"),
        ),
    ],
)
def test_a_table_of_invoices_and_amounts_is_read_whatever_else_its_header_says(
    header: tuple[tuple[float, str], ...],
) -> None:
    last = header[-1][0]
    advice = _printed(
        _HEAD, _CHECK, header,
        ((42, "INV-1001"), (last, "1,000.00")), ((42, "INV-1002"), (last, "2,000.00")),
        ((42, "Total"), (last, "3,000.00")),
    )  # fmt: skip
    assert _paid(advice) == [("INV-1001", "1000.00"), ("INV-1002", "2000.00")]


def test_a_line_of_labels_and_values_is_not_a_table_header() -> None:
    from ingest.documents.extract import group_lines, header_columns

    pages = read_text_pdf(
        _pdf("Payment Reference 12345      Date 2025-06-30      Amount 1,000.00"), source="x"
    )
    (line,) = group_lines(pages[0].words)
    assert header_columns(line) is None


@pytest.mark.parametrize(
    "total_row",
    [
        ((42, "2 invoices"), (200, "Total"), (390, "3,000.00")),
        ((42, "Check 70001 Total"), (390, "3,000.00")),
        ((42, "Check Amount"), (390, "3,000.00")),
    ],
)
def test_a_totals_row_is_the_total_not_a_line(total_row: tuple[tuple[float, str], ...]) -> None:
    advice = _printed(
        _HEAD, _CHECK, ((42, "Invoice Number"), (200, "Invoice Date"), (390, "Amount Paid")),
        ((42, "INV-1001"), (200, "05/15/2025"), (390, "1,000.00")),
        ((42, "INV-1002"), (200, "05/20/2025"), (390, "2,000.00")),
        total_row,
    )  # fmt: skip
    assert _paid(advice) == [("INV-1001", "1000.00"), ("INV-1002", "2000.00")]
    assert advice.total is not None and str(advice.total.to_decimal()) == "3000.00"


def test_a_page_total_does_not_end_the_table() -> None:
    advice = _printed(
        _HEAD, _CHECK, ((42, "Invoice Number"), (390, "Amount Paid")),
        ((42, "INV-1001"), (390, "1,000.00")),
        ((42, "Page Total"), (390, "1,000.00")),
        ((42, "INV-1002"), (390, "2,000.00")),
        ((42, "Total"), (390, "3,000.00")),
    )  # fmt: skip
    assert _paid(advice) == [("INV-1001", "1000.00"), ("INV-1002", "2000.00")]
    assert advice.total is not None and str(advice.total.to_decimal()) == "3000.00"


def test_a_discount_or_deduction_printed_negative_is_still_taken_off() -> None:
    advice = _printed(
        _HEAD, _CHECK,
        ((42, "Invoice"), (150, "Gross"), (230, "Discount"), (310, "Deduction"), (400, "Net Paid")),
        ((42, "INV-1002"), (150, "2,000.00"), (230, "-40.00"), (310, "(100.00)"),
         (400, "1,860.00")),
    )  # fmt: skip
    (line,) = advice.lines
    assert (str(line.discount), str(line.deduction)) == ("40.00 USD", "100.00 USD")


def test_the_payment_date_comes_from_its_most_specific_label() -> None:
    advice = _printed(
        _HEAD,
        ((42, "Print Date: 07/02/2025"), (300, "Our Reference: 4500123")),
        ((42, "Check No.: 70001"), (300, "Check Date: 06/30/2025")),
        ((42, "Invoice Number"), (390, "Amount Paid")),
        ((42, "INV-1001"), (390, "1,000.00")),
    )
    assert advice.payment_date == date(2025, 6, 30)
    assert advice.payment_reference is not None and advice.payment_reference.text == "70001"


@pytest.mark.parametrize(
    ("invoice_dates", "paid_on"),
    [
        (("28/04/2025", "12/05/2025"), date(2025, 6, 5)),
        (("04/28/2025", "12/05/2025"), date(2025, 5, 6)),
        (("12/05/2025",), date(2025, 5, 6)),  # nothing tells: month first
    ],
)
def test_slashed_dates_are_read_in_the_order_the_document_shows(
    invoice_dates: tuple[str, ...], paid_on: date
) -> None:
    advice = _printed(
        _HEAD,
        ((42, "Payment Date: 05/06/2025"), (300, "Currency: GBP")),
        ((42, "Invoice Number"), (200, "Invoice Date"), (390, "Amount Paid")),
        *(((42, f"INV-100{k}"), (200, d), (390, "1,000.00")) for k, d in enumerate(invoice_dates)),
    )
    assert advice.payment_date == paid_on


def test_an_invoice_number_with_a_date_in_it_is_a_reference() -> None:
    advice = _printed(
        _HEAD, _CHECK, ((42, "Invoice Number"), (390, "Amount Paid")),
        ((42, "FV/12/06/2025"), (390, "1,000.00")), ((42, "15-Mar-2025"), (390, "5.00")),
    )  # fmt: skip
    assert _paid(advice) == [("FV/12/06/2025", "1000.00")]


@pytest.mark.parametrize(
    ("csv_text", "total"),
    [
        ("Payment Date,Invoice Number,Amount Paid\n2025-06-30,INV-1001,1000.00\n"
         "2025-06-30,INV-1002,2000.00\n2025-06-30,Total,3000.00\n", "3000.00"),
        ("Invoice Number,Amount\nINV-1001,1000.00\nINV-1002,2000.00\nTotal Payment,3000.00\n",
         "3000.00"),
        ("Inv#,Amount Paid (USD)\nINV-1001,1000.00\nINV-1002,2000.00\n", None),
    ],
)  # fmt: skip
def test_a_csv_advice_is_read_whatever_its_headers_and_total_row_look_like(
    csv_text: str, total: str | None
) -> None:
    from pipelines.extract import extract_document

    advice = extract_document(csv_text.encode(), source="advice.csv").advice
    assert advice is not None
    assert _paid(advice) == [("INV-1001", "1000.00"), ("INV-1002", "2000.00")]
    assert (str(advice.total.to_decimal()) if advice.total else None) == total


def test_a_csv_saved_by_a_windows_spreadsheet_or_with_a_preamble_is_read() -> None:
    from pipelines.extract import extract_document

    text = (
        "Payer,Müller GmbH\nPayment Reference,PAY-7788\n\n"
        "Invoice Number,Invoice Date,Amount Paid\nINV-1001,2025-05-15,1000.00\n"
        "INV-1002,2025-05-20,2000.00\n"
    )
    for data in (text.encode("cp1252"), text.encode("utf-16")):
        advice = extract_document(data, source="advice.csv").advice
        assert advice is not None and _paid(advice) == [
            ("INV-1001", "1000.00"),
            ("INV-1002", "2000.00"),
        ]


@pytest.mark.parametrize(
    "body",
    [
        "ACH payment ref 55001 sent 06/30/2025, amount USD 3,000.00.",
        "Total: USD 3,000.00 paid today for our open invoices.",
    ],
)
def test_an_email_total_is_its_amount_not_a_date(body: str) -> None:
    advice = read_email(body, source="mail.txt")
    assert advice.total is not None and str(advice.total.to_decimal()) == "3000.00"
    assert "no paid items found, only the total" in advice.flags


@pytest.mark.parametrize(
    "body",
    [
        "We have sent a wire today, totalling USD 3,000.00. It covers:\n\n"
        "- INV-1001  $1,000.00\n- INV-1002  $2,000.00\n",
        "ACH payment ref 55001 sent 06/30/2025, amount USD 3,000.00:\n"
        "INV-1001: 1,000.00\nINV-1002: 2,000.00\n",
        "Payment reference PAY-778812:\nInvoice INV-1001: USD 1,000.00\n"
        "Invoice INV-1002 - USD 2,000.00\nTotal: USD 3,000.00\n",
    ],
)
def test_an_email_listing_invoices_one_a_line_is_read(body: str) -> None:
    advice = read_email(body, source="mail.txt")
    assert _paid(advice) == [("INV-1001", "1000.00"), ("INV-1002", "2000.00")]
    assert advice.total is not None and str(advice.total.to_decimal()) == "3000.00"
    assert not [f for f in advice.flags if "do not sum" in f]


@pytest.mark.parametrize(
    ("header", "amount", "currency"),
    [
        ((42, "Amount Paid (EUR)"), "1.234,56", "EUR"),
        ((42, "Amount Paid"), "1 234,56 €", "EUR"),
        ((42, "Amount Paid"), "CAD $1,234.56", "CAD"),
    ],
)
def test_the_currency_is_taken_from_a_heading_a_symbol_apart_or_a_code_before_a_dollar(
    header: tuple[float, str], amount: str, currency: str
) -> None:
    x = 300
    advice = _printed(
        _HEAD, _CHECK, ((42, "Invoice Number"), (x, header[1])), ((42, "INV-1001"), (x, amount))
    )
    assert advice.currency == currency
    assert CURRENCY_ASSUMED not in advice.flags


def test_a_header_printed_over_two_lines_is_read_as_one() -> None:
    # 'Invoice / Number', 'Gross / Amount', 'Amount / Paid': read line by line, the first line
    # alone took the gross for the paid amount and lost the invoice dates.
    header = (
        ((42, "Invoice"), (130, "Invoice"), (220, "Gross"), (300, "Discount"), (390, "Amount")),
        ((42, "Number"), (130, "Date"), (220, "Amount"), (300, "Taken"), (390, "Paid")),
    )
    rows = (
        ((42, "INV-1001"), (130, "06/01/2025"), (220, "1,000.00"), (300, "20.00"),
         (390, "980.00")),
        ((42, "INV-1002"), (130, "06/02/2025"), (220, "2,000.00"), (300, "0.00"),
         (390, "2,000.00")),
    )  # fmt: skip
    advice = _printed(_HEAD, _CHECK, *header, *rows, ((42, "Total"), (390, "2,980.00")))
    assert _paid(advice) == [("INV-1001", "980.00"), ("INV-1002", "2000.00")]
    assert [line.invoice_date for line in advice.lines] == [date(2025, 6, 1), date(2025, 6, 2)]
    discount = advice.lines[0].discount
    assert discount is not None and str(discount.to_decimal()) == "20.00"
    assert not [f for f in advice.flags if "do not sum" in f]
    # The header's second line is no header field: 'Date' there is not the payment date.
    assert advice.payment_date == date(2025, 6, 30)


def test_a_line_of_words_under_a_header_is_not_its_second_line() -> None:
    # A description with no digit under the header names no column: the header stands alone.
    advice = _printed(
        _HEAD, _CHECK, ((42, "Invoice Number"), (200, "Description"), (390, "Amount Paid")),
        ((200, "Freight and handling"),),
        ((42, "INV-1001"), (200, "Widgets"), (390, "1,000.00")),
    )  # fmt: skip
    assert _paid(advice) == [("INV-1001", "1000.00")]


def test_eight_digit_dates_are_read_where_a_date_is_labelled() -> None:
    advice = _printed(
        _HEAD, ((42, "Check No.: 70001"), (300, "Check Date: 20250630")),
        ((42, "Invoice No."), (150, "Inv Date"), (300, "Amount Paid")),
        ((42, "INV-1001"), (150, "20250601"), (300, "1,000.00")),
        ((42, "20250115"), (150, "20250115"), (300, "2,000.00")),
    )  # fmt: skip
    assert advice.payment_date == date(2025, 6, 30)
    assert [line.invoice_date for line in advice.lines] == [date(2025, 6, 1), date(2025, 1, 15)]
    # Eight digits under the invoice number's label are an invoice number.
    assert _paid(advice) == [("INV-1001", "1000.00"), ("20250115", "2000.00")]
    assert date_of("20250630") is None and date_of("20251330", compact=True) is None
    mail = read_email("Payment date: 20250630\nInvoice INV-1001: USD 1,000.00\n", source="mail.txt")
    assert mail.payment_date == date(2025, 6, 30)

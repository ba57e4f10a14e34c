"""Remittance-document writers: every reference, amount and total survives into the bytes."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from datetime import date, timedelta

import pdfplumber
import pytest
from PIL import Image

from ledger.money import parse_amount
from simulator.documents import UnknownDocumentKind, amount_text, write_document
from simulator.documents.csv_advice import dialect_of, has_total_row
from simulator.documents.edi820 import reason_code
from simulator.documents.email import wording_of
from simulator.documents.pdf import LAYOUTS, layout_for
from simulator.model import AdviceLine, RemittanceDocument

# Tesseract spawns one OpenMP thread per core unless told otherwise; one is 3-4x faster here.
os.environ["OMP_THREAD_LIMIT"] = "1"

PAYMENT_DATE = date(2026, 3, 16)


def advice_lines(count: int) -> tuple[AdviceLine, ...]:
    """Lines with a plain invoice, a discount, a deduction with reason and a credit memo."""
    lines = [
        AdviceLine("INV-104417", 1_234_56, date(2026, 2, 2), 1_234_56),
        AdviceLine("INV-104418", 9_800_00, date(2026, 2, 3), 10_000_00, discount_minor=200_00),
        AdviceLine(
            "INV-104421",
            123_406_78,
            date(2026, 2, 5),
            123_456_78,
            deduction_minor=50_00,
            reason="Damaged goods on delivery",
        ),
        AdviceLine("CM-7703", -12_00, date(2026, 2, 6), -12_00),
    ]
    for number in range(len(lines), count):
        paid = 45_000 + number * 1_111
        lines.append(
            AdviceLine(
                f"INV-{104430 + number}", paid, date(2026, 1, 1) + timedelta(days=number), paid
            )
        )
    return tuple(lines[:count])


def make_doc(
    kind: str,
    *,
    count: int = 6,
    currency: str = "USD",
    layout: int = 0,
    **options: object,
) -> RemittanceDocument:
    lines = advice_lines(count)
    return RemittanceDocument(
        document_id=f"DOC-{kind}-{count}-{currency}-{layout}",
        payment_id="PAY-000981",
        kind=kind,
        payer_name="Northwind Traders Inc." if currency == "USD" else "Rheinmetall Handel GmbH",
        payee_name="Contoso Supply LLC",
        payment_reference="0045123",
        payment_date=PAYMENT_DATE,
        currency=currency,
        total_minor=sum(line.paid_minor for line in lines),
        lines=lines,
        payer_number="V-88213",
        layout=layout,
        **options,  # type: ignore[arg-type]
    )


def pdf_pages_text(data: bytes) -> list[str]:
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


# --- amounts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "options", "expected"),
    [
        (123456, "USD", {}, "1,234.56"),
        (123456, "EUR", {"decimal_comma": True}, "1.234,56"),
        (-1200, "USD", {"negative": "parentheses"}, "(12.00)"),
        (-1200, "USD", {"negative": "trailing"}, "12.00-"),
        (-123456789, "EUR", {"decimal_comma": True, "negative": "minus"}, "-1.234.567,89"),
        (1234567, "JPY", {}, "1,234,567"),
        (5, "USD", {}, "0.05"),
    ],
)
def test_amount_text_styles(
    minor: int, currency: str, options: dict[str, object], expected: str
) -> None:
    assert amount_text(minor, currency, **options) == expected  # type: ignore[arg-type]


# --- dispatch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "extension"), [("edi820", "edi"), ("csv", "csv"), ("email", "txt")]
)
def test_write_document_names_the_extension(kind: str, extension: str) -> None:
    assert write_document(make_doc(kind))[0] == extension


def test_unknown_kind_is_refused_with_the_document_named() -> None:
    with pytest.raises(UnknownDocumentKind, match="DOC-fax"):
        write_document(make_doc("fax"))


# --- text PDF ------------------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["USD", "EUR"])
@pytest.mark.parametrize("layout", range(len(LAYOUTS)))
def test_text_pdf_shows_every_reference_paid_amount_and_total(layout: int, currency: str) -> None:
    doc = make_doc("pdf_text", layout=layout, currency=currency)
    extension, data = write_document(doc)
    assert extension == "pdf"
    text = "\n".join(pdf_pages_text(data))
    style = layout_for(doc).negative
    comma = currency == "EUR"
    for line in doc.lines:
        assert line.reference in text
        assert amount_text(line.paid_minor, currency, decimal_comma=comma, negative=style) in text
    assert amount_text(doc.total_minor, currency, decimal_comma=comma) in text
    assert layout_for(doc).title in text


def test_text_pdf_eur_uses_decimal_comma_and_each_layout_its_credit_style() -> None:
    texts = {
        layout: "\n".join(pdf_pages_text(write_document(make_doc("pdf_text", layout=layout))[1]))
        for layout in range(len(LAYOUTS))
    }
    assert "-12.00" in texts[0]
    assert "(12.00)" in texts[1]
    assert "12.00-" in texts[2]
    eur = "\n".join(pdf_pages_text(write_document(make_doc("pdf_text", currency="EUR"))[1]))
    assert "123.406,78" in eur
    assert "123,406.78" not in eur
    # Different payers really print differently: no two layouts share their header wording.
    assert len({LAYOUTS[i].title + LAYOUTS[i].reference_label for i in texts}) == len(LAYOUTS)


@pytest.mark.parametrize("layout", [0, 2])
def test_long_text_pdf_continues_on_further_pages(layout: int) -> None:
    doc = make_doc("pdf_text", count=40, layout=layout)
    pages = pdf_pages_text(write_document(doc)[1])
    assert len(pages) >= 2
    assert "Continued on next page" in pages[0]
    first_label = LAYOUTS[layout].columns[0].label
    assert all(first_label in page for page in pages), "column headers repeat on every page"
    assert "(continued)" in pages[1]
    text = "\n".join(pages)
    for line in doc.lines:
        assert line.reference in text
    assert amount_text(doc.total_minor, "USD") in pages[-1]
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]


def test_text_pdf_bytes_are_deterministic() -> None:
    doc = make_doc("pdf_text", count=40, layout=3)
    assert write_document(doc)[1] == write_document(doc)[1]


# --- scans ---------------------------------------------------------------------------------


def test_scanned_pdf_has_images_but_no_text_layer() -> None:
    doc = make_doc("pdf_scan", count=40, dpi=200, rotation_deg=1.0, noise=0.3)
    extension, data = write_document(doc)
    assert extension == "pdf"
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        assert len(pdf.pages) == 2
        for page in pdf.pages:
            assert page.chars == []
            assert len(page.images) >= 1
            # The page is the image at its dpi: US Letter, 8.5 x 11 inches.
            assert page.width == pytest.approx(612, abs=1)
            assert page.height == pytest.approx(792, abs=1)
    assert write_document(doc)[1] == data


def test_png_is_the_page_at_its_dpi_and_deterministic() -> None:
    doc = make_doc("png", dpi=200, rotation_deg=-1.5, noise=0.2)
    extension, data = write_document(doc)
    assert extension == "png"
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (1700, 2200)
        assert image.mode == "L"
        assert image.info["dpi"] == pytest.approx((200, 200), abs=0.01)
    assert write_document(doc)[1] == data


def test_multi_page_png_stacks_the_pages() -> None:
    doc = make_doc("png", count=40, dpi=200)
    with Image.open(io.BytesIO(write_document(doc)[1])) as image:
        assert image.size == (1700, 2 * 2200)


def test_noise_changes_the_pixels_but_not_the_size() -> None:
    clean = Image.open(io.BytesIO(write_document(make_doc("png", count=3, dpi=200))[1]))
    noisy = Image.open(io.BytesIO(write_document(make_doc("png", count=3, dpi=200, noise=0.8))[1]))
    assert clean.size == noisy.size
    assert clean.tobytes() != noisy.tobytes()


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
@pytest.mark.parametrize(("layout", "currency"), [(0, "USD"), (1, "EUR")])
def test_tesseract_reads_every_reference_of_a_clean_scan(layout: int, currency: str) -> None:
    pytesseract = pytest.importorskip("pytesseract")
    doc = make_doc("png", count=5, dpi=300, layout=layout, currency=currency)
    image = Image.open(io.BytesIO(write_document(doc)[1]))
    text = pytesseract.image_to_string(image, timeout=30)
    for line in doc.lines:
        assert line.reference in text
    assert doc.payment_reference in text


# --- EDI 820 -------------------------------------------------------------------------------


def edi_segments(data: bytes) -> list[list[str]]:
    """A deliberately minimal X12 reader: split on '~', then on '*'."""
    return [raw.strip().split("*") for raw in data.decode("ascii").split("~") if raw.strip()]


@pytest.mark.parametrize(("currency", "layout"), [("USD", 0), ("EUR", 1), ("USD", 3)])
def test_edi820_envelope_counts_and_amounts_tie(currency: str, layout: int) -> None:
    doc = make_doc("edi820", count=12, currency=currency, layout=layout)
    extension, data = write_document(doc)
    assert extension == "edi"
    text = data.decode("ascii")
    assert len(text.split("~", 1)[0]) + 1 == 106, "ISA is fixed width, 106 with its terminator"
    segments = edi_segments(data)
    by_id: dict[str, list[list[str]]] = {}
    for seg in segments:
        by_id.setdefault(seg[0], []).append(seg)
    isa, iea = by_id["ISA"][0], by_id["IEA"][0]
    gs, ge = by_id["GS"][0], by_id["GE"][0]
    st, se = by_id["ST"][0], by_id["SE"][0]
    assert isa[12] == "00401" and isa[13] == iea[2] and iea[1] == "1"
    assert gs[1] == "RA" and gs[8] == "004010" and gs[6] == ge[2] and ge[1] == "1"
    assert st[1] == "820" and st[2] == se[2]
    ids = [seg[0] for seg in segments]
    assert int(se[1]) == ids.index("SE") - ids.index("ST") + 1

    bpr = by_id["BPR"][0]
    assert bpr[1] in ("C", "I") and bpr[3] == "C" and bpr[4] in ("ACH", "CHK", "FWT")
    assert bpr[-1] == "20260316"
    rmr = by_id["RMR"]
    paid = [parse_amount(seg[4], currency) for seg in rmr]
    assert parse_amount(bpr[2], currency) == sum(paid) == doc.total_minor
    assert [seg[2] for seg in rmr] == [line.reference for line in doc.lines]
    assert [seg[1] for seg in rmr].count("CM") == 1
    assert by_id["TRN"][0][2] == doc.payment_reference
    assert ("CUR" in by_id) == (currency != "USD")
    assert [seg[2] for seg in by_id["N1"]] == [doc.payer_name.upper(), doc.payee_name.upper()]
    assert len([seg for seg in by_id["DTM"] if seg[1] == "003"]) == len(doc.lines)
    assert by_id["ADX"] == [["ADX", "-50.00", "04"]]


def test_edi820_passes_pyx12_envelope_checks() -> None:
    from pyx12.x12file import X12Reader

    doc = make_doc("edi820", count=40, currency="EUR")
    data = write_document(doc)[1]
    reader = X12Reader(io.StringIO(data.decode("ascii")))
    seen = [seg.get_seg_id() for seg in reader]
    reader.cleanup()
    assert reader.pop_errors() == []
    assert seen == [seg[0] for seg in edi_segments(data)]
    assert write_document(doc)[1] == data

    # The same check catches a wrong segment count, so a clean pass above means something.
    broken = re.sub(r"SE\*(\d+)\*", lambda m: f"SE*{int(m.group(1)) + 1}*", data.decode("ascii"))
    bad_reader = X12Reader(io.StringIO(broken))
    list(bad_reader)
    assert any("SE count" in error[2] for error in bad_reader.pop_errors())


@pytest.mark.parametrize(
    ("reason", "code"),
    [("Damaged goods on delivery", "04"), ("PRICING", "01"), ("55", "55"), ("goodwill", "16")],
)
def test_deduction_reasons_map_to_x12_adjustment_codes(reason: str, code: str) -> None:
    assert reason_code(reason) == code


# --- CSV -----------------------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["USD", "EUR"])
@pytest.mark.parametrize("layout", range(4))
def test_csv_rows_give_back_every_reference_and_paid_amount(layout: int, currency: str) -> None:
    doc = make_doc("csv", count=8, currency=currency, layout=layout)
    extension, data = write_document(doc)
    assert extension == "csv"
    if dialect_of(doc) == "us":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
        ref_column, paid_column, mark = "Invoice Number", "Amount Paid", "."
    else:
        assert data.startswith(b"\xef\xbb\xbf"), "Excel's CSV UTF-8 starts with a BOM"
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
        ref_column, paid_column = "Document No.", "Net Amount"
        mark = "," if currency == "EUR" else "."
    recovered = {
        row[ref_column]: parse_amount(row[paid_column], currency, decimal_mark=mark, grouping=True)
        for row in rows
    }
    expected = {line.reference: line.paid_minor for line in doc.lines}
    if has_total_row(doc):
        expected[rows[-1][ref_column]] = doc.total_minor
    assert recovered == expected
    assert write_document(doc)[1] == data


# --- e-mail --------------------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["USD", "EUR"])
@pytest.mark.parametrize("layout", range(3))
def test_email_names_every_reference_amount_and_total(layout: int, currency: str) -> None:
    doc = make_doc("email", count=7, currency=currency, layout=layout)
    extension, data = write_document(doc)
    assert extension == "txt"
    text = data.decode("utf-8")
    head = text.split("\n\n", 1)[0]
    assert re.search(r"^From: .+@", head, re.MULTILINE)
    assert re.search(r"^To: .+@", head, re.MULTILINE)
    assert re.search(r"^Subject: .+", head, re.MULTILINE)
    assert re.search(r"^Date: \w{3}, \d{2} \w{3} 2026", head, re.MULTILINE)
    flat = " ".join(text.split())
    comma = currency == "EUR"
    for line in doc.lines:
        assert line.reference in flat
        assert amount_text(line.paid_minor, currency, decimal_comma=comma) in flat
    assert f"{amount_text(doc.total_minor, currency, decimal_comma=comma)}" in flat
    assert "Damaged goods on delivery" in flat or wording_of(doc) == "table"
    assert "1,234.56" in flat or "1.234,56" in flat, "thousands are grouped"


def test_email_list_and_table_pair_each_reference_with_its_amount() -> None:
    for layout in (1, 2):
        doc = make_doc("email", count=7, layout=layout)
        text = write_document(doc)[1].decode("utf-8")
        for line in doc.lines:
            row = next(row for row in text.splitlines() if re.search(rf"\b{line.reference}\b", row))
            if wording_of(doc) == "table":
                paid = row.split()[-1]
            else:
                paid = re.search(rf"{re.escape(line.reference)}: (\S+)", row).group(1)  # type: ignore[union-attr]
            assert parse_amount(paid, "USD", grouping=True) == line.paid_minor

"""OCR of scanned remittance advices: real Tesseract on pages the simulator scans.

Recall = the share of the advice's invoice references and paid amounts that come back as OCR
tokens exactly as printed. It is printed per condition (``pytest -s``) so a drop is visible.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
from datetime import date, timedelta
from typing import Any

import numpy as np
import pdfplumber
import pytesseract
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from ingest.documents import ocr
from ingest.documents.extract import extract_advice
from ingest.documents.ocr import (
    estimate_skew,
    median3,
    noise_sigma,
    ocr_page,
    read_image,
    read_scanned_pdf,
)
from ingest.documents.words import Page
from ledger.errors import ArpilotError, ParseError
from simulator.documents import amount_text
from simulator.documents.pdf import write_text_pdf
from simulator.documents.scan import render_pages, write_png, write_scanned_pdf
from simulator.model import AdviceLine, RemittanceDocument

os.environ["OMP_THREAD_LIMIT"] = "1"

LINES = (
    AdviceLine("INV-104233", 1_234_56, date(2026, 2, 2), 1_234_56),
    AdviceLine("INV-104241", 9_800_00, date(2026, 2, 3), 10_000_00, discount_minor=200_00),
    AdviceLine(
        "INV-104258",
        23_406_78,
        date(2026, 2, 5),
        23_456_78,
        deduction_minor=50_00,
        reason="Damaged goods",
    ),
    AdviceLine("INV-104262", 587_10, date(2026, 2, 9), 587_10),
    AdviceLine("INV-104277", 45_019_95, date(2026, 2, 11), 45_019_95),
    AdviceLine("CM-7703", -12_00, date(2026, 2, 6), -12_00),
)


def make_doc(
    *,
    dpi: int = 300,
    rotation_deg: float = 0.0,
    noise: float = 0.0,
    lines: tuple[AdviceLine, ...] = LINES,
    kind: str = "pdf_scan",
) -> RemittanceDocument:
    return RemittanceDocument(
        document_id=f"OCR-{kind}-{dpi}-{rotation_deg}-{noise}-{len(lines)}",
        payment_id="PAY-000981",
        kind=kind,
        payer_name="Northwind Traders Inc.",
        payee_name="Contoso Supply LLC",
        payment_reference="0045123",
        payment_date=date(2026, 3, 16),
        currency="USD",
        total_minor=sum(line.paid_minor for line in lines),
        lines=lines,
        payer_number="V-88213",
        dpi=dpi,
        rotation_deg=rotation_deg,
        noise=noise,
    )


def expected_tokens(doc: RemittanceDocument) -> list[str]:
    """Every invoice reference and paid amount as layout 0 prints them (one token each)."""
    references = [line.reference for line in doc.lines]
    amounts = [amount_text(line.paid_minor, doc.currency) for line in doc.lines]
    return references + amounts


def recall(pages: list[Page], doc: RemittanceDocument) -> tuple[float, list[str]]:
    tokens = {word.text for page in pages for word in page.words}
    missed = [token for token in expected_tokens(doc) if token not in tokens]
    return 1 - len(missed) / len(expected_tokens(doc)), missed


@functools.cache
def scanned(dpi: int, rotation_deg: float, noise: float) -> list[Page]:
    """OCR of one scanned advice, shared by the recall, deskew and coordinate tests."""
    doc = make_doc(dpi=dpi, rotation_deg=rotation_deg, noise=noise)
    pages, errors = read_scanned_pdf(
        write_scanned_pdf(doc), source="advice.pdf", dpi=dpi, workers=1
    )
    assert errors == []
    return pages


# (dpi, rotation, noise, the recall asserted). The noisy rotated 200 dpi pages are the hard
# case; 100% is required where the page is clean. Cells that add little beyond their
# neighbours are marked slow (about 1.5 s of OCR each) so `-m "not slow"` stays quick.
_SLOW = pytest.mark.slow
CONDITIONS = [
    (300, 0.0, 0.0, 1.0),
    (300, 4.5, 0.0, 1.0),
    (300, -4.5, 0.0, 1.0),
    pytest.param(200, 0.0, 0.0, 1.0, marks=_SLOW),
    (200, 4.5, 0.0, 1.0),
    pytest.param(200, -4.5, 0.0, 1.0, marks=_SLOW),
    pytest.param(300, 0.0, 0.4, 0.9, marks=_SLOW),
    (300, 4.5, 0.4, 0.9),
    pytest.param(300, -4.5, 0.4, 0.9, marks=_SLOW),
    pytest.param(200, 0.0, 0.4, 0.9, marks=_SLOW),
    (200, 4.5, 0.4, 0.9),
    (200, -4.5, 0.4, 0.9),
]


@pytest.mark.parametrize(("dpi", "rotation", "noise", "required"), CONDITIONS)
def test_ocr_reads_every_reference_and_paid_amount(
    dpi: int, rotation: float, noise: float, required: float
) -> None:
    doc = make_doc(dpi=dpi, rotation_deg=rotation, noise=noise)
    pages = scanned(dpi, rotation, noise)
    share, missed = recall(pages, doc)
    print(f"recall {dpi} dpi, rotation {rotation:+.1f}, noise {noise}: {share:.0%} missed {missed}")
    assert share >= required, missed


@pytest.mark.parametrize(("dpi", "rotation", "noise", "required"), CONDITIONS)
def test_deskew_undoes_the_scanner_rotation(
    dpi: int, rotation: float, noise: float, required: float
) -> None:
    page = scanned(dpi, rotation, noise)[0]
    assert page.reader == "ocr"
    assert page.skew_deg == pytest.approx(-rotation, abs=0.5)


def reference_box(doc: RemittanceDocument, text: str) -> tuple[float, float, float, float]:
    with pdfplumber.open(io.BytesIO(write_text_pdf(doc))) as pdf:
        words = pdf.pages[0].extract_words()
    (word,) = [word for word in words if word["text"] == text]
    return (word["x0"], word["top"], word["x1"], word["bottom"])


@pytest.mark.parametrize(("dpi", "rotation", "noise"), [(300, 0.0, 0.0), (300, 4.5, 0.0)])
@pytest.mark.parametrize("text", ["INV-104233", "23,406.78"])
def test_word_boxes_are_where_the_text_pdf_has_them(
    dpi: int, rotation: float, noise: float, text: str
) -> None:
    page = scanned(dpi, rotation, noise)[0]
    (word,) = [word for word in page.words if word.text == text]
    x0, top, x1, bottom = reference_box(make_doc(dpi=dpi), text)
    # Tesseract boxes hug the ink; the PDF's box spans the font's ascent and descent.
    assert word.x0 == pytest.approx(x0, abs=2)
    assert word.x1 == pytest.approx(x1, abs=2)
    assert word.middle == pytest.approx((top + bottom) / 2, abs=3)
    assert 0.5 < word.confidence <= 1.0
    assert page.width == pytest.approx(612, abs=0.5)
    assert page.height == pytest.approx(792, abs=0.5)


def test_words_keep_reading_order() -> None:
    words = scanned(300, 0.0, 0.0)[0].words
    texts = [word.text for word in words]
    positions = [texts.index(line.reference) for line in LINES]
    assert positions == sorted(positions)
    # Each reference is followed by the rest of its table row before the next one starts.
    first = texts.index("INV-104233")
    assert texts.index("1,234.56", first) < texts.index("INV-104241")


def test_png_takes_its_dpi_from_the_file() -> None:
    doc = make_doc(dpi=200, rotation_deg=-2.0, noise=0.2, kind="png")
    pages, _ = read_image(write_png(doc), source="advice.png")
    share, missed = recall(pages, doc)
    print(f"recall png 200 dpi, rotation -2.0, noise 0.2: {share:.0%} missed {missed}")
    assert share >= 0.9, missed
    # 200 dpi read from the PNG's metadata: a letter page is 612 points wide.
    assert pages[0].width == pytest.approx(612, abs=0.5)


def test_multi_frame_tiff_is_one_page_per_frame() -> None:
    doc = make_doc(lines=LINES[:2])
    frame = render_pages(doc)[0]
    buffer = io.BytesIO()
    frame.save(buffer, "TIFF", save_all=True, append_images=[frame.copy()], dpi=(300, 300))
    pages, _ = read_image(buffer.getvalue(), workers=2)
    assert [page.number for page in pages] == [1, 2]
    for page in pages:
        assert {"INV-104233", "INV-104241"} <= {word.text for word in page.words}
        assert all(word.page == page.number for word in page.words)


def test_multi_page_pdf_pages_run_in_parallel_and_stay_in_order() -> None:
    lines = tuple(
        AdviceLine(f"INV-{105000 + n}", 10_000 + n * 1_111, date(2026, 1, 1) + timedelta(n))
        for n in range(40)
    )
    doc = make_doc(dpi=200, lines=lines)
    pages, _ = read_scanned_pdf(write_scanned_pdf(doc), dpi=200, workers=2)
    assert [page.number for page in pages] == [1, 2]
    share, missed = recall(pages, doc)
    assert share == 1.0, missed
    # Every page's words say which page they are on; page 2 holds the last lines.
    assert all(word.page == page.number for page in pages for word in page.words)
    assert f"INV-{105039}" in {word.text for word in pages[1].words}


# --- the pieces, against slow twins ---------------------------------------------------------


@pytest.fixture(scope="module")
def clean_page() -> Image.Image:
    return render_pages(make_doc(dpi=200))[0]


@pytest.mark.parametrize("angle", [-5.0, -3.3, -0.7, 0.0, 1.2, 2.9, 4.9])
def test_estimate_skew_finds_the_rotation_that_levels_the_lines(
    clean_page: Image.Image, angle: float
) -> None:
    skewed = clean_page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    assert estimate_skew(skewed, dpi=200) == pytest.approx(-angle, abs=0.15)


def test_estimate_skew_of_a_blank_page_is_zero() -> None:
    assert estimate_skew(Image.new("L", (1700, 2200), 255), dpi=200) == 0.0


def test_a_blank_page_has_no_words() -> None:
    page = ocr_page(Image.new("L", (1700, 2200), 255), page=1, dpi=200, timeout_s=30)
    assert page.words == ()
    assert page.skew_deg == 0.0
    assert (page.width, page.height) == (612, 792)


def test_median3_equals_pillows_median_filter(seed: int = 20260316) -> None:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, size=(57, 83), dtype=np.uint8))
    fast = np.asarray(median3(image))
    slow = np.asarray(image.filter(ImageFilter.MedianFilter(3)))
    # Pillow handles the one-pixel border its own way; the interior must agree exactly.
    assert np.array_equal(fast[1:-1, 1:-1], slow[1:-1, 1:-1])


def test_noise_sigma_is_zero_on_a_clean_render_and_tracks_added_grain(
    clean_page: Image.Image, seed: int = 7
) -> None:
    assert noise_sigma(clean_page) < ocr.NOISE_SIGMA_MEDIAN
    rng = np.random.default_rng(seed)
    pixels = np.asarray(clean_page, dtype=np.float32) * 0.9
    grainy = pixels + rng.standard_normal(pixels.shape, dtype=np.float32) * 10
    image = Image.fromarray(np.clip(grainy, 0, 255).astype(np.uint8))
    assert noise_sigma(image) == pytest.approx(10, rel=0.2)


# --- bad input -------------------------------------------------------------------------------


def _pdf(objects: list[str]) -> bytes:
    """A minimal PDF with the given objects, numbered from 1, and a correct cross-reference."""
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


def _encrypted_pdf() -> bytes:
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, encrypt=StandardEncryption("secret"), invariant=1)
    canvas.drawString(72, 720, "INV-104233")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a readable PDF"),
        (b"%PDF-1.4\n garbage", "not a readable PDF"),
        (write_text_pdf(make_doc())[:400], "not a readable PDF"),
        (
            _pdf(["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"]),
            "not a readable PDF",
        ),
        (_encrypted_pdf(), "encrypted"),
    ],
    ids=["empty", "garbage", "truncated", "no-pages", "encrypted"],
)
def test_unreadable_pdf_is_a_parse_error(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as raised:
        read_scanned_pdf(data, source="advice.pdf")
    assert raised.value.source == "advice.pdf"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (40, 30), 255).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [b"", b"just some text, not an image", _png()[:60], write_text_pdf(make_doc())],
    ids=["empty", "text", "truncated-png", "pdf"],
)
def test_unreadable_image_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError) as raised:
        read_image(data, source="advice.png")
    assert raised.value.source == "advice.png"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_either_read_or_raise_parse_error(data: bytes) -> None:
    for reader in (read_scanned_pdf, read_image):
        try:
            pages, errors = reader(data)
        except ParseError:
            continue
        assert all(isinstance(page, Page) for page in pages)
        assert all(isinstance(error, ParseError) for error in errors)


def test_a_tesseract_timeout_is_a_parse_error_naming_the_page(clean_page: Image.Image) -> None:
    with pytest.raises(ParseError, match=r"page 3: OCR took longer than 0\.01 s"):
        ocr_page(clean_page, page=3, dpi=200, timeout_s=0.01)


def test_a_page_that_times_out_is_an_error_naming_the_file_and_the_page() -> None:
    data = write_scanned_pdf(make_doc(dpi=200, lines=LINES[:2]))
    pages, errors = read_scanned_pdf(data, source="advice.pdf", dpi=200, timeout_s=0.01)
    assert pages == []
    assert [str(error) for error in errors] == [
        "advice.pdf: page 1: OCR took longer than 0.01 s and was stopped"
    ]
    assert errors[0].source == "advice.pdf"


def test_a_timeout_in_a_worker_process_names_the_file_and_the_page(
    clean_page: Image.Image,
) -> None:
    buffer = io.BytesIO()
    clean_page.save(buffer, "TIFF", save_all=True, append_images=[clean_page], dpi=(200, 200))
    pages, errors = read_image(buffer.getvalue(), source="advice.tif", timeout_s=0.01, workers=2)
    assert pages == []
    assert [str(error) for error in errors] == [
        f"advice.tif: page {n}: OCR took longer than 0.01 s and was stopped" for n in (1, 2)
    ]
    assert {error.source for error in errors} == {"advice.tif"}


def test_a_page_that_fails_loses_only_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """One unreadable page is reported with its number; the other pages are kept in order."""
    lines = tuple(
        AdviceLine(f"INV-{105000 + n}", 10_000 + n * 1_111, date(2026, 1, 1) + timedelta(n))
        for n in range(40)
    )
    data = write_scanned_pdf(make_doc(dpi=200, lines=lines))
    real = ocr._tesseract

    def failing_on_page_one(grey: Image.Image, *, page: int, timeout_s: float) -> Any:
        if page == 1:
            raise ParseError("page 1: Tesseract failed: simulated crash")
        return real(grey, page=page, timeout_s=timeout_s)

    monkeypatch.setattr(ocr, "_tesseract", failing_on_page_one)
    pages, errors = read_scanned_pdf(data, source="advice.pdf", workers=1)
    assert [page.number for page in pages] == [2]
    assert [str(error) for error in errors] == [
        "advice.pdf: page 1: Tesseract failed: simulated crash"
    ]
    advice = extract_advice(pages, source="advice.pdf", unread=errors)
    assert advice.pages == 2
    assert "page 1: Tesseract failed: simulated crash; its lines are missing" in advice.flags
    assert {line.reference.text for line in advice.lines} >= {"INV-105039"}


def test_missing_tesseract_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, clean_page: Image.Image
) -> None:
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "no-such-tesseract-binary")
    with pytest.raises(ArpilotError, match="apt-get install -y tesseract-ocr") as raised:
        ocr_page(clean_page, page=1, dpi=200, timeout_s=5)
    assert not isinstance(raised.value, ParseError)


# --- specks, scan resolution and the second reading -----------------------------------------


@pytest.mark.parametrize(
    ("text", "confidence", "speck"),
    [
        (":", 0.9, True),
        ("—", 0.5, True),
        ("#", 0.4, False),
        ("LJ", 0.47, True),
        ("No", 0.9, False),
        ("12", 0.3, True),
        ("1,291.13", 0.2, False),
    ],
)
def test_specks_are_short_doubtful_or_letterless_words(
    text: str, confidence: float, speck: bool
) -> None:
    assert ocr.is_speck(text, confidence) is speck


@pytest.mark.parametrize("dpi", [200, 300])
def test_a_scanned_pdf_is_read_at_its_own_resolution(dpi: int) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(write_scanned_pdf(make_doc(dpi=dpi, lines=LINES[:2])))
    try:
        assert ocr.scan_dpi(pdf[0]) == pytest.approx(dpi, abs=0.5)
    finally:
        pdf.close()
    text_pdf = pdfium.PdfDocument(write_text_pdf(make_doc(dpi=dpi, lines=LINES[:2])))
    try:
        assert ocr.scan_dpi(text_pdf[0]) is None
    finally:
        text_pdf.close()


@pytest.mark.parametrize("dpi", [200, 300])
def test_a_whole_page_scan_is_decoded_as_stored_not_rendered(dpi: int) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(write_scanned_pdf(make_doc(dpi=dpi, lines=LINES[:2])))
    try:
        scan = ocr.whole_page_scan(pdf[0])
        assert scan is not None
        image, found = scan
        rendered = pdf[0].render(scale=found / 72, grayscale=True).to_pil()
    finally:
        pdf.close()
    assert found == pytest.approx(dpi, abs=0.5)
    width, height = min(image.width, rendered.width), min(image.height, rendered.height)
    assert abs(image.width - rendered.width) <= 1 and abs(image.height - rendered.height) <= 1
    stored = np.asarray(image.convert("L"), dtype=np.int16)[:height, :width]
    drawn = np.asarray(rendered, dtype=np.int16)[:height, :width]
    assert np.abs(stored - drawn).mean() < 2.0  # the same pixels, without the rendering
    text_pdf = pdfium.PdfDocument(write_text_pdf(make_doc(dpi=dpi, lines=LINES[:2])))
    try:
        assert ocr.whole_page_scan(text_pdf[0]) is None
    finally:
        text_pdf.close()


def test_a_page_finer_than_the_ocr_resolution_is_read_at_it(
    clean_page: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_sizes = []
    tesseract = ocr._tesseract

    def spy(grey: Image.Image, **options: Any) -> dict[str, list[Any]]:
        read_sizes.append(grey.size)
        return tesseract(grey, **options)

    monkeypatch.setattr(ocr, "_tesseract", spy)
    fine = clean_page.resize((clean_page.width * 3 // 2, clean_page.height * 3 // 2))
    page = ocr_page(fine, page=1, dpi=300, timeout_s=30)
    assert read_sizes[0] == pytest.approx(clean_page.size, abs=1)  # 300 dpi read at 200
    assert (page.width, page.height) == pytest.approx((612, 792), abs=1)  # boxes in points
    assert recall([page], make_doc(dpi=200)) == (1.0, [])


def _read(text: str, left: int, right: int, confidence: float, line: int = 1) -> ocr.Read:
    return ocr.Read(text, left, 100 * line, right, 100 * line + 20, confidence, (1, 1, line))


def test_a_doubtful_number_is_reread_with_the_words_that_touch_it() -> None:
    reads = [
        _read("INV-100025", 100, 300, 0.9),
        _read("de", 900, 930, 0.24),
        _read("291.13", 940, 1050, 0.24),
        _read("Damaged", 1300, 1450, 0.5),  # a doubtful word without a digit is left alone
        _read("2025-01-01", 100, 300, 0.95, line=2),
    ]
    regions = ocr.doubtful_regions(reads)
    assert [(r.members, r.left, r.right) for r in regions] == [((1, 2), 900, 1050)]
    assert (regions[0].reach_left, regions[0].reach_right) == (300, 1300)


def test_a_garbled_word_is_reread_only_on_a_line_with_numbers() -> None:
    reads = [
        _read("INV-100025", 100, 300, 0.9),
        _read("ald", 900, 960, 0.17),  # where '559.51' is printed
        _read("Keystone", 100, 300, 0.9, line=2),
        _read("mee", 320, 400, 0.2, line=2),  # a letterhead's 'Services': left alone
    ]
    assert [r.members for r in ocr.doubtful_regions(reads)] == [(1,)]


def test_the_second_reading_mends_a_thin_font_number(clean_page: Image.Image) -> None:
    """A clean number whose first reading was cut and doubted reads whole the second time."""
    reads = ocr._reads(ocr._tesseract(clean_page, page=1, timeout_s=30))
    target = next(i for i, r in enumerate(reads) if r.text == "INV-104233")
    reads[target] = dataclasses.replace(reads[target], text="1NV-1O4", confidence=0.2)
    mended = ocr.reread_doubtful(clean_page, reads, page=1, timeout_s=30)
    assert "INV-104233" in {r.text for r in mended}
    assert "1NV-1O4" not in {r.text for r in mended}


def test_a_neighbours_glyph_at_the_edge_of_a_cut_is_not_a_word(
    clean_page: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cut around a doubted word may hold the last glyph of the cell before it; Tesseract
    reads it as a word ('9' of 'INV-104429'), which must not join the second reading."""
    reads = ocr._reads(ocr._tesseract(clean_page, page=1, timeout_s=30))
    target = next(i for i, r in enumerate(reads) if r.text == "23,406.78")
    reads[target] = dataclasses.replace(reads[target], confidence=0.2)
    tesseract = ocr._tesseract

    def with_fragments(grey: Image.Image, **options: Any) -> dict[str, list[Any]]:
        data = tesseract(grey, **options)
        firsts = [i for i, n in enumerate(data["word_num"]) if n == 1 and str(data["text"][i])]
        for i in firsts:  # a '9' at the left edge of every line read
            for key in data:
                data[key].append(data[key][i])
            data["text"][-1], data["word_num"][-1] = "9", 0
            data["left"][-1], data["width"][-1] = 1, 4
        return data

    monkeypatch.setattr(ocr, "_tesseract", with_fragments)
    mended = ocr.reread_doubtful(clean_page, reads, page=1, timeout_s=30)
    on_line = [r.text for r in mended if r.line == reads[target].line]
    assert "23,406.78" in on_line and "9" not in on_line


@pytest.mark.parametrize("how", ["upside_down", "exif_sideways", "fax_rows"])
def test_a_scan_turned_round_or_of_oblong_pixels_is_read_upright(how: str) -> None:
    # A page fed into the scanner upside down; a phone photo stored sideways with the camera's
    # orientation tag saying so; a standard-resolution fax (204 x 98 dpi, each row two).
    from pipelines.extract import extract_document

    doc = make_doc(lines=LINES[:2], kind="png")
    image = Image.open(io.BytesIO(write_png(doc)))
    out = io.BytesIO()
    if how == "upside_down":
        image.rotate(180, expand=True).save(out, format="PNG", dpi=(300, 300))
    elif how == "exif_sideways":
        exif = Image.Exif()
        exif[0x0112] = 6  # the viewer turns it 90 degrees clockwise
        image.convert("RGB").rotate(90, expand=True).save(
            out, format="JPEG", quality=95, dpi=(300, 300), exif=exif
        )
    else:
        fax = image.resize((image.width * 204 // 300, image.height * 98 // 300))
        fax.convert("1").save(out, format="TIFF", compression="group4", dpi=(204, 98))
    advice = extract_document(out.getvalue(), source=f"{how}.img").advice
    assert advice is not None
    assert [line.reference.text for line in advice.lines] == ["INV-104233", "INV-104241"]

"""Text PDFs of remittance advices in several payers' layouts, drawn with reportlab.

The layouts differ the way different companies' ERP print-outs do (labels, column sets and
order, date and number styles, fonts, page size, rules and shading) so that an extraction
engine cannot lean on one template. Output is byte-for-byte deterministic: reportlab runs in
invariant mode, which fixes the creation date and document id.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from reportlab.lib.pagesizes import A4, LETTER
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from simulator.documents import amount_text, stable_seed
from simulator.model import AdviceLine, RemittanceDocument

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MARGIN = 42.0
_CELL_PAD = 5.0


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: ``field`` names the AdviceLine value shown, ``label`` its header text."""

    field: str
    label: str

    @property
    def numeric(self) -> bool:
        return self.field in ("gross", "discount", "deduction", "paid")


@dataclass(frozen=True, slots=True)
class Layout:
    """How one (imaginary) payer's ERP prints a remittance advice.

    size: body font size in points; date_style: 'us' (03/15/2026), 'iso', 'dmy_text'
    (15-Mar-2026) or 'dotted' (15.03.2026); negative: sign style of credits (see amount_text);
    header: 'left', 'center' or 'band' letterhead; zebra: shade every other table row.
    """

    title: str
    page: tuple[float, float]
    font: str
    bold: str
    size: float
    reference_label: str
    date_label: str
    payee_label: str
    vendor_label: str
    date_style: str
    negative: str
    total_label: str
    header: str
    columns: tuple[Column, ...]
    zebra: bool = False
    dashed: bool = False


LAYOUTS: tuple[Layout, ...] = (
    Layout(
        title="REMITTANCE ADVICE",
        page=LETTER,
        font="Helvetica",
        bold="Helvetica-Bold",
        size=9.0,
        reference_label="Check No.",
        date_label="Payment Date",
        payee_label="Pay to",
        vendor_label="Vendor No.",
        date_style="us",
        negative="minus",
        total_label="TOTAL",
        header="left",
        columns=(
            Column("reference", "Invoice No."),
            Column("invoice_date", "Invoice Date"),
            Column("gross", "Gross Amount"),
            Column("discount", "Discount"),
            Column("paid", "Amount Paid"),
        ),
    ),
    Layout(
        title="Payment Advice",
        page=A4,
        font="Times-Roman",
        bold="Times-Bold",
        size=9.5,
        reference_label="EFT Trace",
        date_label="Value date",
        payee_label="Beneficiary",
        vendor_label="Supplier ID",
        date_style="dmy_text",
        negative="parentheses",
        total_label="Total",
        header="center",
        columns=(
            Column("reference", "Your Ref"),
            Column("invoice_date", "Doc Date"),
            Column("gross", "Invoice Amount"),
            Column("deduction", "Deduction"),
            Column("reason", "Reason"),
            Column("paid", "Net Paid"),
        ),
    ),
    Layout(
        title="PAYMENT NOTIFICATION",
        page=LETTER,
        font="Courier",
        bold="Courier-Bold",
        size=8.0,
        reference_label="Payment Ref",
        date_label="Date Paid",
        payee_label="Payee",
        vendor_label="Vendor #",
        date_style="iso",
        negative="trailing",
        total_label="TOTAL PAYMENT",
        header="left",
        dashed=True,
        columns=(
            Column("reference", "Invoice #"),
            Column("invoice_date", "Date"),
            Column("gross", "Gross"),
            Column("discount", "Disc."),
            Column("deduction", "Ded."),
            Column("reason", "Reason"),
            Column("paid", "Paid"),
        ),
    ),
    Layout(
        title="Remittance Advice",
        page=LETTER,
        font="Helvetica",
        bold="Helvetica-Bold",
        size=8.5,
        reference_label="Check No.",
        date_label="Check Date",
        payee_label="Vendor",
        vendor_label="Vendor ID",
        date_style="us",
        negative="parentheses",
        total_label="Check Total",
        header="band",
        zebra=True,
        columns=(
            Column("reference", "Document"),
            Column("invoice_date", "Date"),
            Column("gross", "Invoice Amount"),
            Column("discount", "Discount Taken"),
            Column("deduction", "Deductions"),
            Column("paid", "Amount Paid"),
            Column("reason", "Remarks"),
        ),
    ),
    Layout(
        title="Payment Notification",
        page=A4,
        font="Helvetica",
        bold="Helvetica-Bold",
        size=9.0,
        reference_label="Payment Ref",
        date_label="Date Paid",
        payee_label="To",
        vendor_label="Supplier No.",
        date_style="dotted",
        negative="minus",
        total_label="Total paid",
        header="center",
        columns=(
            Column("reference", "Invoice #"),
            Column("paid", "Amount Paid"),
            Column("discount", "Discount"),
            Column("gross", "Invoice Amount"),
            Column("invoice_date", "Invoice Date"),
        ),
    ),
)

# Letterhead addresses of the imaginary payers; picked by a stable hash of the payer's name so a
# payer keeps its address across documents.
_US_ADDRESSES = (
    ("Accounts Payable Department", "1200 Commerce Drive", "Columbus, OH 43215"),
    ("Attn: Accounts Payable", "45 Harbor Street, Suite 300", "Boston, MA 02110"),
    ("AP Shared Services", "8800 Industrial Parkway", "Dallas, TX 75247"),
    ("Finance - Payables", "P.O. Box 4410", "Minneapolis, MN 55440"),
)
_EU_ADDRESSES = (
    ("Accounts Payable", "Kaiserstrasse 12", "60311 Frankfurt am Main, Germany"),
    ("Finance Department", "Keizersgracht 210", "1016 DZ Amsterdam, Netherlands"),
    ("Payables Team", "Rue de la Loi 42", "1040 Brussels, Belgium"),
)


def date_text(value: date | None, style: str) -> str:
    """A date in one of the layouts' styles; month names are spelled here, not by the locale."""
    if value is None:
        return ""
    if style == "us":
        return f"{value.month:02d}/{value.day:02d}/{value.year}"
    if style == "dmy_text":
        return f"{value.day:02d}-{_MONTHS[value.month - 1]}-{value.year}"
    if style == "dotted":
        return f"{value.day:02d}.{value.month:02d}.{value.year}"
    return value.isoformat()


def layout_for(doc: RemittanceDocument) -> Layout:
    """The layout a document uses: its ``layout`` number modulo the number of layouts."""
    return LAYOUTS[doc.layout % len(LAYOUTS)]


def cell_text(line: AdviceLine, column: Column, doc: RemittanceDocument, layout: Layout) -> str:
    """What one table cell shows; blank for a zero discount or deduction, as payers print them."""
    decimal_comma = doc.currency == "EUR"
    if column.field == "reference":
        return line.reference
    if column.field == "invoice_date":
        return date_text(line.invoice_date, layout.date_style)
    if column.field == "reason":
        return line.reason
    value = {
        "gross": line.gross_minor,
        "discount": line.discount_minor or None,
        "deduction": line.deduction_minor or None,
        "paid": line.paid_minor,
    }[column.field]
    if value is None:
        return ""
    return amount_text(value, doc.currency, decimal_comma=decimal_comma, negative=layout.negative)


def totals_row(doc: RemittanceDocument, layout: Layout) -> dict[str, str]:
    """The totals row: sums of the amount columns, and the total the advice declares as paid."""
    sums = {
        "gross": sum(line.gross_minor or 0 for line in doc.lines),
        "discount": sum(line.discount_minor for line in doc.lines),
        "deduction": sum(line.deduction_minor for line in doc.lines),
        "paid": doc.total_minor,
    }
    decimal_comma = doc.currency == "EUR"
    return {
        field: amount_text(
            minor, doc.currency, decimal_comma=decimal_comma, negative=layout.negative
        )
        for field, minor in sums.items()
    }


def _fit(text: str, font: str, size: float, width: float) -> str:
    """``text`` cut with '...' so it fits ``width``; only free-text reasons are ever cut."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "...", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "..."


def _column_widths(
    layout: Layout, rows: Sequence[Sequence[str]], footer: Sequence[str], usable: float
) -> list[float]:
    """Each column as wide as its widest cell; spare room goes to (or is taken from) reasons.

    References and amounts are never cut, so the reason column absorbs the difference.
    """
    widths = []
    for index, column in enumerate(layout.columns):
        cell_widths = [stringWidth(column.label, layout.bold, layout.size)]
        cell_widths += [stringWidth(row[index], layout.font, layout.size) for row in rows]
        cell_widths.append(stringWidth(footer[index], layout.bold, layout.size))
        widths.append(max(cell_widths) + 2 * _CELL_PAD)
    fields = [column.field for column in layout.columns]
    if "reason" in fields:
        flexible = fields.index("reason")
        # A reason column shorter than its label is pointless; one wider than the room is cut.
        minimum = stringWidth(layout.columns[flexible].label, layout.bold, layout.size)
        widths[flexible] = max(minimum + 2 * _CELL_PAD, usable - (sum(widths) - widths[flexible]))
    else:
        # Without free text to absorb it, spare room is spread evenly, as ERP grids do.
        spare = max(0.0, usable - sum(widths)) / len(widths)
        widths = [width + spare for width in widths]
    return widths


class _Page:
    """Drawing state of one PDF: the canvas, the layout and the payer's letterhead."""

    def __init__(self, canvas: Canvas, doc: RemittanceDocument, layout: Layout) -> None:
        self.canvas = canvas
        self.doc = doc
        self.layout = layout
        self.width, self.height = layout.page
        self.row_height = layout.size * 1.7

    def text(self, x: float, y: float, value: str, *, bold: bool = False, size: float = 0) -> None:
        self.canvas.setFont(
            self.layout.bold if bold else self.layout.font, size or self.layout.size
        )
        self.canvas.drawString(x, y, value)

    def right(self, x: float, y: float, value: str, *, bold: bool = False, size: float = 0) -> None:
        self.canvas.setFont(
            self.layout.bold if bold else self.layout.font, size or self.layout.size
        )
        self.canvas.drawRightString(x, y, value)

    def centre(self, y: float, value: str, *, bold: bool = False, size: float = 0) -> None:
        self.canvas.setFont(
            self.layout.bold if bold else self.layout.font, size or self.layout.size
        )
        self.canvas.drawCentredString(self.width / 2, y, value)

    def rule(self, y: float, weight: float = 0.6) -> None:
        self.canvas.setLineWidth(weight)
        if self.layout.dashed:
            self.canvas.setDash(3, 2)
        self.canvas.line(_MARGIN, y, self.width - _MARGIN, y)
        self.canvas.setDash()

    def letterhead(self) -> float:
        """Draw the payer's letterhead and the title; returns the y below them."""
        doc, layout = self.doc, self.layout
        addresses = _EU_ADDRESSES if doc.currency == "EUR" else _US_ADDRESSES
        address = addresses[stable_seed(doc.payer_name, "address") % len(addresses)]
        top = self.height - _MARGIN
        if layout.header == "band":
            self.canvas.setFillGray(0.85)
            self.canvas.rect(_MARGIN, top - 30, self.width - 2 * _MARGIN, 34, stroke=0, fill=1)
            self.canvas.setFillGray(0)
            self.text(_MARGIN + 8, top - 18, doc.payer_name, bold=True, size=15)
            self.right(self.width - _MARGIN - 8, top - 18, layout.title, bold=True, size=13)
            y = top - 44
            self.text(_MARGIN + 8, y, "  |  ".join(address), size=7.5)
            return y - 22
        if layout.header == "center":
            self.centre(top - 12, doc.payer_name, bold=True, size=16)
            for offset, part in enumerate(address):
                self.centre(top - 28 - 10 * offset, part, size=8)
            y = top - 28 - 10 * len(address) - 16
            self.centre(y, layout.title, bold=True, size=13)
            return y - 22
        self.text(_MARGIN, top - 12, doc.payer_name, bold=True, size=16)
        for offset, part in enumerate(address):
            self.text(_MARGIN, top - 28 - 10 * offset, part, size=8)
        self.right(self.width - _MARGIN, top - 12, layout.title, bold=True, size=14)
        return top - 28 - 10 * len(address) - 18

    def payment_block(self, y: float) -> float:
        """Draw who pays whom, the payment reference, date and amount; returns the y below."""
        doc, layout = self.doc, self.layout
        total = amount_text(
            doc.total_minor,
            doc.currency,
            decimal_comma=doc.currency == "EUR",
            negative=layout.negative,
        )
        left = [(layout.payee_label, doc.payee_name)]
        if doc.payer_number:
            left.append((layout.vendor_label, doc.payer_number))
        left.append(("Payment Method", doc.payment_method))
        right = [
            (layout.reference_label, doc.payment_reference),
            (layout.date_label, date_text(doc.payment_date, layout.date_style)),
            ("Currency", doc.currency),
            ("Payment Amount", f"{doc.currency} {total}"),
        ]
        label_width = max(stringWidth(label + ":", layout.bold, layout.size) for label, _ in left)
        for row, (label, value) in enumerate(left):
            self.text(_MARGIN, y - row * self.row_height, f"{label}:", bold=True)
            self.text(_MARGIN + label_width + 6, y - row * self.row_height, value)
        column_x = self.width / 2 + 30
        label_width = max(stringWidth(label + ":", layout.bold, layout.size) for label, _ in right)
        for row, (label, value) in enumerate(right):
            self.text(column_x, y - row * self.row_height, f"{label}:", bold=True)
            self.text(column_x + label_width + 6, y - row * self.row_height, value)
        return y - max(len(left), len(right)) * self.row_height - 12

    def continuation_header(self, page_number: int) -> float:
        """The short header of a follow-on page; returns the y below it."""
        top = self.height - _MARGIN
        self.text(_MARGIN, top - 12, self.doc.payer_name, bold=True, size=11)
        self.right(
            self.width - _MARGIN,
            top - 12,
            f"{self.layout.title} (continued) - page {page_number}",
            bold=True,
            size=10,
        )
        self.text(
            _MARGIN,
            top - 28,
            f"{self.layout.reference_label}: {self.doc.payment_reference}    "
            f"{self.layout.date_label}: {date_text(self.doc.payment_date, self.layout.date_style)}",
        )
        return top - 48

    def table_row(
        self, y: float, cells: Sequence[str], widths: Sequence[float], *, bold: bool = False
    ) -> None:
        x = _MARGIN
        font = self.layout.bold if bold else self.layout.font
        for column, value, width in zip(self.layout.columns, cells, widths, strict=True):
            # Only free-text reasons are cut to fit; references and amounts never are.
            shown = value
            if column.field == "reason":
                shown = _fit(value, font, self.layout.size, width - 2 * _CELL_PAD)
            if column.numeric:
                self.right(x + width - _CELL_PAD, y, shown, bold=bold)
            else:
                self.text(x + _CELL_PAD, y, shown, bold=bold)
            x += width

    def footer(self, page_number: int, page_count: int) -> None:
        bottom = _MARGIN - 10
        if page_number < page_count:
            self.text(_MARGIN, bottom + 14, "Continued on next page", bold=True)
        self.right(self.width - _MARGIN, bottom, f"Page {page_number} of {page_count}", size=7.5)


def _paginate(count: int, first: int, others: int) -> list[range]:
    """Split ``count`` table rows into pages holding ``first`` then ``others`` rows each."""
    pages = [range(0, min(count, first))]
    start = first
    while start < count:
        pages.append(range(start, min(count, start + others)))
        start += others
    return pages


def write_text_pdf(doc: RemittanceDocument) -> bytes:
    """The remittance advice as a text PDF in the document's layout, one or more pages."""
    layout = layout_for(doc)
    width = layout.page[0]
    rows = [
        [cell_text(line, column, doc, layout) for column in layout.columns] for line in doc.lines
    ]
    totals = totals_row(doc, layout)
    footer_cells = [
        layout.total_label if index == 0 else totals.get(column.field, "")
        for index, column in enumerate(layout.columns)
    ]
    widths = _column_widths(layout, rows, footer_cells, width - 2 * _MARGIN)

    # Headers are drawn once on a scratch canvas to measure where the table starts, so page
    # capacity is exact; two rows stay free on every page for the totals row and the
    # "continued" note.
    scratch = _Page(Canvas(io.BytesIO(), pagesize=layout.page, invariant=1), doc, layout)
    first_top = scratch.payment_block(scratch.letterhead())
    other_top = scratch.continuation_header(2)
    floor = _MARGIN + 24
    header_rows = 1.6
    first = max(1, int((first_top - floor) / scratch.row_height - header_rows) - 2)
    others = max(1, int((other_top - floor) / scratch.row_height - header_rows) - 2)
    pages = _paginate(len(rows), first, others)

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=layout.page, invariant=1)
    canvas.setTitle(f"{layout.title.title()} {doc.payment_reference}")
    canvas.setAuthor(doc.payer_name)
    page = _Page(canvas, doc, layout)
    for number, indices in enumerate(pages, start=1):
        y = (
            page.payment_block(page.letterhead())
            if number == 1
            else page.continuation_header(number)
        )
        page.table_row(y, [column.label for column in layout.columns], widths, bold=True)
        page.rule(y - 5, 0.9)
        y -= header_rows * page.row_height
        for offset, index in enumerate(indices):
            if layout.zebra and offset % 2 == 1:
                canvas.setFillGray(0.93)
                canvas.rect(
                    _MARGIN, y - 4, page.width - 2 * _MARGIN, page.row_height, stroke=0, fill=1
                )
                canvas.setFillGray(0)
            page.table_row(y, rows[index], widths)
            y -= page.row_height
        if number == len(pages):
            page.rule(y + page.row_height - 5)
            page.table_row(y - 4, footer_cells, widths, bold=True)
        page.footer(number, len(pages))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()

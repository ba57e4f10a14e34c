"""CSV remittance files as payers export them from their ERP or bank portal, in two dialects.

``us`` (even layouts): comma-separated, UTF-8, US dates, amounts formatted for display with
thousands separators (so quoted, as spreadsheet exports do), one row per invoice with its
deduction and reason. ``eu`` (odd layouts): semicolon-separated, UTF-8 with a byte-order mark
(Excel's "CSV UTF-8"), payment reference and date repeated on each row, dotted dates, no
thousands separators, a decimal comma for EUR, and deductions explained in a remarks column.
Every other pair of layouts ends with a total row.
"""

from __future__ import annotations

import csv
import io

from simulator.documents import amount_text
from simulator.model import AdviceLine, RemittanceDocument

US_HEADER = (
    "Invoice Number",
    "Invoice Date",
    "Invoice Amount",
    "Discount",
    "Deduction",
    "Deduction Reason",
    "Amount Paid",
)
EU_HEADER = (
    "Payment Reference",
    "Payment Date",
    "Document No.",
    "Document Date",
    "Currency",
    "Gross",
    "Discount",
    "Net Amount",
    "Remarks",
)


def dialect_of(doc: RemittanceDocument) -> str:
    """'us' or 'eu': which column dialect a document is written in."""
    return "us" if doc.layout % 2 == 0 else "eu"


def has_total_row(doc: RemittanceDocument) -> bool:
    return (doc.layout // 2) % 2 == 0


def _plain(minor: int, currency: str) -> str:
    """An amount without grouping; decimal comma for EUR, as continental spreadsheets show it."""
    text = amount_text(minor, currency, decimal_comma=currency == "EUR")
    return text.replace("." if currency == "EUR" else ",", "")


def _us_row(line: AdviceLine, currency: str) -> list[str]:
    return [
        line.reference,
        line.invoice_date.strftime("%m/%d/%Y") if line.invoice_date else "",
        "" if line.gross_minor is None else amount_text(line.gross_minor, currency),
        amount_text(line.discount_minor, currency) if line.discount_minor else "",
        amount_text(line.deduction_minor, currency) if line.deduction_minor else "",
        line.reason if line.deduction_minor else "",
        amount_text(line.paid_minor, currency),
    ]


def _eu_row(line: AdviceLine, doc: RemittanceDocument) -> list[str]:
    remarks = ""
    if line.deduction_minor:
        remarks = f"Deduction {_plain(line.deduction_minor, doc.currency)}"
        remarks += f" - {line.reason}" if line.reason else ""
    elif line.paid_minor < 0:
        remarks = "Credit note"
    return [
        doc.payment_reference,
        doc.payment_date.strftime("%d.%m.%Y"),
        line.reference,
        line.invoice_date.strftime("%d.%m.%Y") if line.invoice_date else "",
        doc.currency,
        "" if line.gross_minor is None else _plain(line.gross_minor, doc.currency),
        _plain(line.discount_minor, doc.currency) if line.discount_minor else "",
        _plain(line.paid_minor, doc.currency),
        remarks,
    ]


def write_csv(doc: RemittanceDocument) -> bytes:
    """The remittance document as a CSV file in the document's dialect."""
    buffer = io.StringIO()
    if dialect_of(doc) == "us":
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(US_HEADER)
        writer.writerows(_us_row(line, doc.currency) for line in doc.lines)
        if has_total_row(doc):
            writer.writerow(
                ["TOTAL", "", "", "", "", "", amount_text(doc.total_minor, doc.currency)]
            )
        return buffer.getvalue().encode("utf-8")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(EU_HEADER)
    writer.writerows(_eu_row(line, doc) for line in doc.lines)
    if has_total_row(doc):
        writer.writerow(
            ["Total", "", "", "", doc.currency, "", "", _plain(doc.total_minor, doc.currency), ""]
        )
    return buffer.getvalue().encode("utf-8-sig")

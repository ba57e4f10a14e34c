"""Plain-text remittance e-mails from a payer's accounts-payable clerk, in three wordings.

``sentence`` (layout % 3 == 0): a short paragraph naming each invoice and its amount.
``table`` (1): a fixed-width table pasted from the clerk's ERP screen, with a total line.
``list`` (2): a bulleted list, deductions and credits explained with their reasons.
The message starts with From/To/Subject/Date headers as a mail client prints them. Amounts
carry thousands separators (a decimal comma for EUR), so a careful reader recovers every
reference, every amount and the total.
"""

from __future__ import annotations

import re
import textwrap
from datetime import datetime, time, timedelta, timezone
from email.utils import format_datetime

from simulator.documents import amount_text, stable_seed
from simulator.model import AdviceLine, RemittanceDocument

_GREETINGS = ("Hello,", "Dear Accounts Receivable team,", "Hi,")
_SIGN_OFFS = ("Kind regards,", "Thank you,", "Best regards,")


def wording_of(doc: RemittanceDocument) -> str:
    """'sentence', 'table' or 'list': which wording a document's e-mail uses."""
    return ("sentence", "table", "list")[doc.layout % 3]


def _money(minor: int, doc: RemittanceDocument) -> str:
    return amount_text(minor, doc.currency, decimal_comma=doc.currency == "EUR")


def _domain(name: str) -> str:
    """A plausible mail domain from a company name: 'Acme Tools, Inc.' -> 'acmetools.com'."""
    words = re.sub(r"[^a-z0-9 ]", "", name.lower()).split()
    legal = {"inc", "llc", "ltd", "corp", "co", "gmbh", "ag", "bv", "sa", "plc", "the"}
    kept = [word for word in words if word not in legal] or ["example"]
    return "".join(kept[:2]) + ".com"


def _headers(doc: RemittanceDocument) -> list[str]:
    seed = stable_seed(doc.document_id, "email")
    # Sent on the payment date during office hours; the exact minute only has to be stable.
    sent = datetime.combine(doc.payment_date, time(8), tzinfo=timezone(timedelta(hours=-5)))
    sent += timedelta(minutes=seed % 540)
    subjects = (
        f"Remittance advice - payment {doc.payment_reference}",
        f"Payment notification {doc.payment_reference}",
        f"RE: Open invoices - payment sent ({doc.payment_reference})",
    )
    return [
        f"From: Accounts Payable <ap@{_domain(doc.payer_name)}>",
        f"To: Accounts Receivable <ar@{_domain(doc.payee_name)}>",
        f"Subject: {subjects[seed % len(subjects)]}",
        # RFC 5322 date, spelled in English whatever the process locale.
        f"Date: {format_datetime(sent)}",
    ]


def _describe(line: AdviceLine, doc: RemittanceDocument) -> str:
    """One line in words for the sentence wording, e.g. 'invoice 12345 (1,234.00)'."""
    kind = "credit memo" if line.paid_minor < 0 else "invoice"
    return f"{kind} {line.reference} ({_money(line.paid_minor, doc)})"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _sentence_body(doc: RemittanceDocument) -> list[str]:
    total = f"{doc.currency} {_money(doc.total_minor, doc)}"
    text = (
        f"Please apply the attached payment of {total} (ref. {doc.payment_reference}, "
        f"{doc.payment_method}) to {_join([_describe(line, doc) for line in doc.lines])}."
    )
    paragraphs = [text]
    deductions = [line for line in doc.lines if line.deduction_minor]
    if deductions:
        notes = [
            f"{_money(line.deduction_minor, doc)} on {line.reference}"
            + (f" ({line.reason})" if line.reason else "")
            for line in deductions
        ]
        paragraphs.append(f"We have deducted {_join(notes)}.")
    # textwrap breaks only at spaces, so no reference or amount is ever split across lines.
    return [wrapped for paragraph in paragraphs for wrapped in [*textwrap.wrap(paragraph, 76), ""]]


def _table_body(doc: RemittanceDocument) -> list[str]:
    header = ("Invoice", "Inv. Date", "Gross", "Discount", "Deduction", "Paid")
    rows = [
        (
            line.reference,
            line.invoice_date.strftime("%m/%d/%Y") if line.invoice_date else "",
            "" if line.gross_minor is None else _money(line.gross_minor, doc),
            _money(line.discount_minor, doc) if line.discount_minor else "",
            _money(line.deduction_minor, doc) if line.deduction_minor else "",
            _money(line.paid_minor, doc),
        )
        for line in doc.lines
    ]
    total = ("TOTAL", "", "", "", "", _money(doc.total_minor, doc))
    widths = [max(len(row[i]) for row in [header, *rows, total]) for i in range(len(header))]

    def fmt(row: tuple[str, ...]) -> str:
        # Text columns left-aligned, amount columns right-aligned, as ERP screens show them.
        cells = [
            value.ljust(width) if index < 2 else value.rjust(width)
            for index, (value, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    intro = (
        f"Please find below the details of our payment {doc.payment_reference} of "
        f"{doc.payment_date.strftime('%m/%d/%Y')} ({doc.currency}):"
    )
    return [intro, "", fmt(header), rule, *(fmt(row) for row in rows), rule, fmt(total), ""]


def _list_body(doc: RemittanceDocument) -> list[str]:
    lines = [
        f"We have sent {doc.currency} {_money(doc.total_minor, doc)} by {doc.payment_method} "
        f"today, reference {doc.payment_reference}. It covers:",
        "",
    ]
    for line in doc.lines:
        entry = f"  - Invoice {line.reference}: {_money(line.paid_minor, doc)}"
        if line.paid_minor < 0:
            entry = f"  - Credit memo {line.reference}: {_money(line.paid_minor, doc)}"
        notes = []
        if line.discount_minor:
            notes.append(f"less {_money(line.discount_minor, doc)} early-payment discount")
        if line.deduction_minor:
            reason = f" - {line.reason}" if line.reason else ""
            notes.append(f"short paid {_money(line.deduction_minor, doc)}{reason}")
        lines.append(entry + (f" ({'; '.join(notes)})" if notes else ""))
    lines += ["", f"Total: {doc.currency} {_money(doc.total_minor, doc)}", ""]
    return lines


def write_email(doc: RemittanceDocument) -> bytes:
    """The remittance document as the plain text of an e-mail, headers included, UTF-8."""
    seed = stable_seed(doc.document_id, "email")
    wording = wording_of(doc)
    if wording == "sentence":
        body = _sentence_body(doc)
    elif wording == "table":
        body = _table_body(doc)
    else:
        body = _list_body(doc)
    greeting = _GREETINGS[seed % len(_GREETINGS)]
    sign_off = _SIGN_OFFS[(seed // 7) % len(_SIGN_OFFS)]
    text = [*_headers(doc), "", greeting, "", *body, sign_off, "Accounts Payable", doc.payer_name]
    return ("\n".join(text) + "\n").encode("utf-8")

"""ANSI X12 820 (version 004010) payment order / remittance advice for one remittance document.

One interchange (ISA/IEA) holding one functional group (GS/GE, functional id RA) holding one
transaction set (ST/SE). Segments end with '~' followed by a newline, elements are separated by
'*', components by '>'. Control numbers derive from a SHA-256 of the document id, so the bytes
are the same in every run. Amounts are written with a decimal point and no grouping, negatives
with a leading minus, as the X12 'R' data type requires.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from ledger.money import format_amount
from simulator.documents import stable_seed
from simulator.model import AdviceLine, RemittanceDocument

ELEMENT = "*"
SEGMENT = "~"
COMPONENT = ">"

# BPR04 payment method codes by the simulator's payment method names.
_METHODS = {
    "ACH": "ACH",
    "CCD": "ACH",
    "CTX": "ACH",
    "CHECK": "CHK",
    "CHEQUE": "CHK",
    "CHK": "CHK",
    "LOCKBOX": "CHK",
    "WIRE": "FWT",
    "FWT": "FWT",
    "SEPA": "FWT",
}

# Deduction reasons in a customer's words -> X12 element 426 adjustment reason codes.
# Checked in order; the first keyword found in the lower-cased reason wins.
_REASON_CODES = (
    ("pric", "01"),
    ("allowance", "02"),
    ("damag", "04"),
    ("quality", "05"),
    ("short", "06"),
    ("quantit", "06"),
    ("wrong", "07"),
    ("incorrect product", "07"),
    ("return", "11"),
    ("duplicate", "19"),
    ("discount", "24"),
    ("cancel", "26"),
    ("freight", "54"),
    ("shipping", "54"),
    ("tax", "55"),
    ("advertis", "56"),
    ("promo", "56"),
    ("volume", "57"),
    ("rebate", "57"),
    ("not received", "59"),
    ("missing", "59"),
)
# Element 426 code 16: "Non-Invoice Related Allowance/Charge", the catch-all payers use when
# their own reason has no better code.
_FALLBACK_REASON = "16"


def reason_code(reason: str) -> str:
    """The X12 426 adjustment reason code for a deduction reason (a code passes through)."""
    text = reason.strip()
    if re.fullmatch(r"[0-9A-Z]{2}", text):
        return text
    lowered = text.lower()
    for keyword, code in _REASON_CODES:
        if keyword in lowered:
            return code
    return _FALLBACK_REASON


def x12_amount(minor: int, currency: str) -> str:
    """An amount as X12's 'R' type: decimal point, no grouping, leading minus."""
    return format_amount(minor, currency)


def x12_text(value: str, limit: int, *, upper: bool = True) -> str:
    """Free text made safe for X12: ASCII without delimiters, at most ``limit`` characters.

    Names are upper-cased as most payers' translators do; references keep the customer's case
    (``upper=False``) because the way a customer typed them is part of the test data.
    """
    cleaned = value.encode("ascii", "replace").decode()
    cleaned = cleaned.upper() if upper else cleaned
    cleaned = re.sub(r"[*~>^\r\n]", " ", cleaned)
    return re.sub(r" +", " ", cleaned).strip()[:limit]


def segment(*elements: str) -> str:
    """One segment; trailing empty elements are dropped because X12 forbids them."""
    values = list(elements)
    while values and values[-1] == "":
        values.pop()
    return ELEMENT.join(values)


def _interchange_id(name: str) -> str:
    """A 15-character ISA sender/receiver id derived from a company name."""
    cleaned = re.sub(r"[^A-Z0-9]", "", name.upper())
    return (cleaned or "UNKNOWN")[:15].ljust(15)


def _ccyymmdd(value: date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def control_numbers(doc: RemittanceDocument) -> tuple[int, int, str]:
    """(interchange, group, transaction set) control numbers, stable for a document id."""
    interchange = stable_seed(doc.document_id, "isa") % 999_999_999 + 1
    group = stable_seed(doc.document_id, "gs") % 999_999_999 + 1
    transaction = f"{stable_seed(doc.document_id, 'st') % 9999 + 1:04d}"
    return interchange, group, transaction


def _line_segments(line: AdviceLine, doc: RemittanceDocument) -> list[str]:
    """RMR, DTM and ADX segments of one remittance line."""
    # Credit memos travel as their own RMR with qualifier CM and a negative paid amount.
    qualifier = "CM" if line.paid_minor < 0 else "IV"
    segments = [
        segment(
            "RMR",
            qualifier,
            x12_text(line.reference, 30, upper=False),
            "",
            x12_amount(line.paid_minor, doc.currency),
            "" if line.gross_minor is None else x12_amount(line.gross_minor, doc.currency),
            x12_amount(line.discount_minor, doc.currency) if line.discount_minor else "",
        )
    ]
    if line.invoice_date is not None:
        segments.append(segment("DTM", "003", _ccyymmdd(line.invoice_date)))
    if line.deduction_minor:
        segments.append(
            segment(
                "ADX",
                x12_amount(-line.deduction_minor, doc.currency),
                reason_code(line.reason),
            )
        )
    return segments


def transaction_set(doc: RemittanceDocument, control: str) -> list[str]:
    """The ST..SE segments of the 820, SE counting every segment from ST to SE inclusive."""
    method = _METHODS.get(doc.payment_method.upper(), "ZZZ")
    # Handling code C: payment and remittance travel together (ACH CTX); I: advice only, the
    # money goes separately (cheques, wires). Which one a payer uses varies by its bank.
    handling = "C" if method == "ACH" and doc.layout % 2 == 0 else "I"
    payment_format = "CTX" if method == "ACH" else ""
    body = [
        segment("ST", "820", control),
        segment(
            "BPR",
            handling,
            x12_amount(doc.total_minor, doc.currency),
            "C",
            method,
            payment_format,
            *([""] * 10),
            _ccyymmdd(doc.payment_date),
        ),
        segment("TRN", "1", x12_text(doc.payment_reference, 30, upper=False)),
    ]
    if doc.currency != "USD":
        body.append(segment("CUR", "PR", doc.currency))
    if method == "CHK":
        body.append(segment("REF", "CK", x12_text(doc.payment_reference, 30, upper=False)))
    if doc.payer_number:
        # REF IA: the vendor number the payer has given the payee in its own books.
        body.append(segment("REF", "IA", x12_text(doc.payer_number, 30)))
    body.append(segment("DTM", "097", _ccyymmdd(doc.payment_date)))
    body.append(segment("N1", "PR", x12_text(doc.payer_name, 60)))
    body.append(segment("N1", "PE", x12_text(doc.payee_name, 60)))
    # Some payers open one ENT loop per invoice, others one loop for the whole payment.
    one_loop_per_line = doc.layout % 3 != 0
    for number, line in enumerate(doc.lines, start=1):
        if one_loop_per_line or number == 1:
            body.append(segment("ENT", str(number)))
        body.extend(_line_segments(line, doc))
    body.append(segment("SE", str(len(body) + 1), control))
    return body


def _isa(doc: RemittanceDocument, interchange: int) -> str:
    """The fixed-width ISA segment: 105 characters before its terminator."""
    stamp = doc.payment_date
    hour = 6 + stable_seed(doc.document_id, "hour") % 12
    fields = (
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        _interchange_id(doc.payer_name),
        "ZZ",
        _interchange_id(doc.payee_name),
        f"{stamp.year % 100:02d}{stamp.month:02d}{stamp.day:02d}",
        f"{hour:02d}00",
        "U",
        "00401",
        f"{interchange:09d}",
        "0",
        "P",
        COMPONENT,
    )
    text = ELEMENT.join(fields)
    assert len(text) == 105, "ISA must be fixed width"
    return text


def write_edi820(doc: RemittanceDocument) -> bytes:
    """The remittance document as an X12 820 004010 interchange, ASCII bytes."""
    interchange, group, control = control_numbers(doc)
    stamp = _ccyymmdd(doc.payment_date)
    hour = 6 + stable_seed(doc.document_id, "hour") % 12
    segments: Sequence[str] = [
        _isa(doc, interchange),
        segment(
            "GS",
            "RA",
            _interchange_id(doc.payer_name).strip(),
            _interchange_id(doc.payee_name).strip(),
            stamp,
            f"{hour:02d}00",
            str(group),
            "X",
            "004010",
        ),
        *transaction_set(doc, control),
        segment("GE", "1", str(group)),
        segment("IEA", "1", f"{interchange:09d}"),
    ]
    return "".join(f"{text}{SEGMENT}\n" for text in segments).encode("ascii")

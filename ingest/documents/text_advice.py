"""Remittance advices that arrive as text: e-mail bodies and CSV exports, into ExtractedAdvice.

E-mails are read by wording, not by sender: a pasted fixed-width table goes through the same
table finder as a PDF (its characters become positioned words), sentences and bullet lists are
read as 'invoice <ref> (<amount>)' / 'Invoice <ref>: <amount>' items. CSV advices are read by
their header labels, in either delimiter and decimal style.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from email.utils import parseaddr, parsedate_to_datetime

from ingest.documents.advice import (
    CURRENCY_ASSUMED,
    DEFAULT_CURRENCY,
    ExtractedAdvice,
    ExtractedLine,
    FieldValue,
)
from ingest.documents.extract import (
    COLUMN_LABELS,
    NUMERIC_COLUMNS,
    NothingRemittanceLike,
    advice_confidence,
    amount_text,
    check_total,
    date_of,
    decimal_mark_of,
    find_table,
    group_lines,
    lines_from_table,
    money_of,
)
from ingest.documents.words import Word
from ledger.currencies import is_known
from ledger.errors import ParseError
from ledger.money import Money

# Character cell of the synthetic page an e-mail's text is laid on, in points.
_CHAR_WIDTH = 6.0
_LINE_HEIGHT = 12.0
_AMOUNT = r"[-(]?[$€£]?\d[\d.,']*\d\)?-?|[-(]?[$€£]?\d\)?-?"
_REF = r"[A-Za-z0-9][A-Za-z0-9/_.-]*[A-Za-z0-9]"
_ITEM = re.compile(
    rf"\b(?:invoice|inv\.?|credit\s+memo|credit\s+note|cm|document|doc\.?)\s+"
    rf"(?:no\.?\s*|number\s+|#\s*)?(?P<ref>{_REF})\s*"
    rf"(?:(?::|\s[-–])\s*(?:[A-Z]{{3}}\s*)?(?P<a1>{_AMOUNT})|\(\s*(?P<a2>{_AMOUNT})\s*\))",
    re.IGNORECASE,
)
# One item a line, as a list: '- INV-1001  $1,234.56', 'INV-1001: 1,000.00', 'RE-17 EUR 5,00'.
_LISTED = re.compile(
    rf"^\s*(?:[-*•·]\s*)?(?P<ref>{_REF})\s*(?::|\s[-–])?\s+(?:[A-Z]{{3}}\s*)?"
    rf"(?P<amount>{_AMOUNT})\s*$"
)
_DISCOUNT_NOTE = re.compile(rf"\bless\s+(?P<amount>{_AMOUNT})\s+[\w-]*\s*discount", re.I)
_DEDUCTION_NOTE = re.compile(
    rf"\bshort[- ]paid\s+(?P<amount>{_AMOUNT})(?:\s*-\s*(?P<reason>[^);]+))?", re.I
)
_DEDUCTED = re.compile(
    rf"(?P<amount>{_AMOUNT})\s+on\s+(?P<ref>{_REF})(?:\s+\((?P<reason>[^)]*)\))?", re.I
)
# An amount is not the start of a date ('sent 06/30/2025' sends no 6.00).
_TOTAL_AMOUNT = rf"(?P<amount>{_AMOUNT})(?![/\d])"
_TOTALS = (
    re.compile(
        rf"\btotal(?:l?ing)?\b[^:\d\n]{{0,20}}:?\s*(?P<cur>[A-Z]{{3}})?\s*{_TOTAL_AMOUNT}", re.I
    ),
    re.compile(
        rf"\b(?:payment|amount|sum|transfer)\s+of\s+(?P<cur>[A-Z]{{3}})?\s*{_TOTAL_AMOUNT}", re.I
    ),
    re.compile(rf"\bamount\s*:?\s*(?P<cur>[A-Z]{{3}})\s*{_TOTAL_AMOUNT}", re.I),
    re.compile(rf"\b(?:sent|remitted|paid)\s+(?P<cur>[A-Z]{{3}})?\s*{_TOTAL_AMOUNT}", re.I),
)
_PAYMENT_REFERENCE = re.compile(
    r"\b(?:ref(?:erence)?|payment|check|cheque|trace)\.?\s*(?:no\.?|number|#)?\s*:?\s*"
    r"(?P<ref>[A-Z0-9][A-Z0-9-]*\d[A-Z0-9-]*)\b",
    re.I,
)
_SIGN_OFF = re.compile(
    r"^(?:kind|best|warm)?\s*regards|^thanks?\b|^thank you|^sincerely|^cheers", re.I
)
_DEPARTMENT = re.compile(
    r"accounts payable|payables|\bap\b|finance|treasury|accounting|team|department", re.I
)
_DATE_WORDS = re.compile(r"\b(?:payment|paid|value date|date)\b", re.I)
_COMPACT_DATE = re.compile(r"\b(?:date|paid on)\s*:?\s*(\d{8})\b", re.I)  # 'Date: 20250630'


def _date_in(line: str) -> date | None:
    """A date on a line that names one; eight digits only right after a date's label."""
    if found := date_of(line):
        return found
    m = _COMPACT_DATE.search(line)
    return date_of(m[1], compact=True) if m else None


def _clean_amount(text: str) -> str:
    return text.strip().rstrip(".,;")


def _money(text: str, currency: str, mark: str) -> Money | None:
    parsed = amount_text(_clean_amount(text))
    return money_of(parsed, currency, mark) if parsed else None


def _value(text: str, confidence: float = 1.0) -> FieldValue:
    return FieldValue(text, confidence, None)


def _email_parts(text: str) -> tuple[dict[str, str], list[str]]:
    """Mail headers (lower-case names) and body lines; a body without headers is all body."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    headers: dict[str, str] = {}
    index = 0
    while index < len(lines) and (m := re.match(r"^([A-Za-z-]+):\s*(.*)$", lines[index])):
        headers.setdefault(m[1].lower(), m[2].strip())
        index += 1
    if not headers.keys() & {"from", "to", "subject", "date"} or (
        index < len(lines) and lines[index].strip()
    ):
        return {}, lines  # 'Total: USD 3,000.00' on the first line is no mail header
    return headers, lines[index + 1 :]


def _email_words(body: list[str]) -> list[Word]:
    """An e-mail body as words on a monospaced page, so a pasted table keeps its columns."""
    words = []
    for row, line in enumerate(body):
        for match in re.finditer(r"\S+", line):
            top = row * _LINE_HEIGHT
            words.append(
                Word(
                    match.group(),
                    1,
                    match.start() * _CHAR_WIDTH,
                    top,
                    match.end() * _CHAR_WIDTH,
                    top + _LINE_HEIGHT - 2,
                )
            )
    return words


def _payer_of(headers: dict[str, str], body: list[str]) -> FieldValue | None:
    """The company that signs the e-mail; else the From display name or its mail domain."""
    sign_offs = [i for i, line in enumerate(body) if _SIGN_OFF.match(line.strip())]
    if sign_offs:
        signature = [line.strip() for line in body[sign_offs[-1] + 1 :] if line.strip()]
        names = [line for line in signature if not _DEPARTMENT.search(line) and "@" not in line]
        if names:
            return _value(names[-1])
    name, address = parseaddr(headers.get("from", ""))
    if name and not _DEPARTMENT.search(name):
        return _value(name, 0.7)
    if "@" in address:
        return _value(address.split("@", 1)[1], 0.4)
    return None


def read_email(text: str, *, source: str = "") -> ExtractedAdvice:
    """The remittance advice an e-mail's text states (headers optional).

    Raises :class:`NothingRemittanceLike` when it names neither paid items nor a total.
    """
    headers, body = _email_parts(text)
    joined = " ".join(line.strip() for line in body)
    flags: list[str] = []

    codes = [
        m[1] for m in re.finditer(rf"\b([A-Z]{{3}})\)?:?\s*(?:{_AMOUNT})", joined) if is_known(m[1])
    ]
    codes += [m[1] for m in re.finditer(r"\(([A-Z]{3})\)", joined) if is_known(m[1])]
    currency = max(set(codes), key=codes.count) if codes else ""
    if not currency:
        currency = DEFAULT_CURRENCY
        flags.append(CURRENCY_ASSUMED)
    mark = decimal_mark_of(token.strip(",;:") for token in joined.split())

    table = find_table([group_lines(_email_words(body))])
    lines: list[ExtractedLine]
    total: Money | None = None
    if table.rows:
        # Positions on the synthetic page are not provenance anyone can open.
        lines = [
            replace(
                line,
                reference=replace(line.reference, found=None),
                paid_field=replace(line.paid_field, found=None) if line.paid_field else None,
            )
            for line in lines_from_table(table.rows, currency, mark, flags)
        ]
        if table.total_words:
            total = _money(table.total_words[-1].text, currency, mark)
    else:
        lines = _item_lines(joined, currency, mark, flags) or _listed_lines(
            body, currency, mark, flags
        )
    if total is None:
        for pattern in _TOTALS:
            if m := pattern.search(joined):
                total = _money(m["amount"], currency, mark)
                if total is not None:
                    break
    if not lines and total is None:
        raise NothingRemittanceLike(
            "the e-mail names no invoices with amounts and no payment total", source=source
        )
    check_total(lines, total, currency, flags)
    if total is not None and not lines:
        flags.append("no paid items found, only the total")

    reference = None
    for haystack in (joined, headers.get("subject", "")):
        if m := _PAYMENT_REFERENCE.search(haystack):
            reference = _value(m["ref"])
            break
    payment_date = None
    date_field = None
    for line in body:
        if not _DATE_WORDS.search(line):
            continue
        if found := _date_in(line):
            payment_date, date_field = found, _value(found.isoformat())
            break
    if payment_date is None and headers.get("date"):
        try:
            payment_date = parsedate_to_datetime(headers["date"]).date()
        except (TypeError, ValueError):
            payment_date = None
        if payment_date is not None:
            date_field = _value(headers["date"], 0.6)
            flags.append("payment date taken from the e-mail's Date header")
    payer = _payer_of(headers, body)
    for name, value in (("payer", payer), ("payment reference", reference)):
        if value is None:
            flags.append(f"no {name} found")
    if payment_date is None:
        flags.append("no payment date found")
    total_field = _value(total.amount_text()) if total is not None else None
    return ExtractedAdvice(
        payer=payer,
        payment_reference=reference,
        payment_date=payment_date,
        payment_date_field=date_field,
        currency=currency,
        total=total,
        total_field=total_field,
        lines=tuple(lines),
        pages=1,
        reader="email",
        flags=tuple(flags),
        confidence=advice_confidence([payer, reference, date_field, total_field], lines, flags),
    )


def _item_lines(text: str, currency: str, mark: str, flags: list[str]) -> list[ExtractedLine]:
    """Items written in words: 'invoice 123 (1,234.56)' or 'Invoice 123: 1,234.56 (notes)'."""
    matches = [m for m in _ITEM.finditer(text) if any(c.isdigit() for c in m["ref"])]
    deducted: dict[str, tuple[Money | None, str]] = {}
    if m := re.search(r"\bdeducted\s+(.*?)(?:\.\s|\.$|$)", text, re.I):
        for note in _DEDUCTED.finditer(m[1]):
            deducted[note["ref"]] = (_money(note["amount"], currency, mark), note["reason"] or "")
    lines = []
    for index, match in enumerate(matches):
        reference = match["ref"]
        paid_text = _clean_amount(match["a1"] or match["a2"])
        paid = _money(paid_text, currency, mark)
        if paid is None:
            flags.append(f"line {index + 1} ({reference}): paid amount unreadable")
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        notes = text[match.end() : end]
        discount = deduction = None
        reason = ""
        if discount_note := _DISCOUNT_NOTE.search(notes):
            discount = _money(discount_note["amount"], currency, mark)
        if deduction_note := _DEDUCTION_NOTE.search(notes):
            deduction = _money(deduction_note["amount"], currency, mark)
            reason = (deduction_note["reason"] or "").strip()
        if reference in deducted:
            deduction, reason = deducted[reference]
        confidence = 1.0 if paid is not None else 0.0
        lines.append(
            ExtractedLine(
                reference=_value(reference),
                paid=paid,
                paid_field=_value(paid_text, confidence),
                discount=discount,
                deduction=deduction,
                reason=reason,
                confidence=confidence,
            )
        )
    return lines


def _listed_lines(
    body: list[str], currency: str, mark: str, flags: list[str]
) -> list[ExtractedLine]:
    """Items listed one a line with no word before them ('- INV-1001  $1,234.56'): a
    reference with a digit that is no amount or date, then its amount at the line's end."""
    lines: list[ExtractedLine] = []
    for text in body:
        m = _LISTED.match(text)
        if m is None or not any(c.isdigit() for c in m["ref"]):
            continue
        if amount_text(m["ref"]) or date_of(m["ref"]):
            continue
        paid_text = _clean_amount(m["amount"])
        paid = _money(paid_text, currency, mark)
        if paid is None:
            flags.append(f"line {len(lines) + 1} ({m['ref']}): paid amount unreadable")
        confidence = 1.0 if paid is not None else 0.0
        lines.append(
            ExtractedLine(
                reference=_value(m["ref"]),
                paid=paid,
                paid_field=_value(paid_text, confidence),
                confidence=confidence,
            )
        )
    return lines


# --- CSV ------------------------------------------------------------------------------------

# Payment-level columns of a CSV advice; single words like 'Date' or 'Reference' are left to
# the line columns, where they mean the invoice's.
_CSV_FIELDS = {
    "payment_reference": (
        "payment reference",
        "payment ref",
        "check no",
        "check number",
        "cheque no",
        "cheque number",
        "eft trace",
        "trace no",
        "payment no",
        "payment number",
    ),
    "payment_date": ("payment date", "date paid", "check date", "value date", "cheque date"),
    "currency": ("currency", "ccy", "currency code"),
    "payer": ("payer", "payer name", "customer", "customer name", "remitter", "from"),
}
_TOTAL_CELLS = frozenset(
    {"total", "totals", "grand total", "total paid", "total payment", "payment total",
     "check total", "total amount"}
)  # fmt: skip
_REMARK_DEDUCTION = re.compile(
    rf"^(?:deduction|short[- ]paid|ded\.?)\s+(?P<amount>{_AMOUNT})(?:\s*-\s*(?P<reason>.*))?$",
    re.I,
)


def _header_key(cell: str) -> str:
    """A header cell as its letters and digits, a parenthesised note left out: 'Amount Paid
    (USD)', 'amount paid:' -> 'amountpaid'; 'Inv#', 'Inv #' -> 'inv'."""
    return re.sub(r"[^a-z0-9]", "", re.sub(r"\(.*?\)", "", cell.lower()))


_CSV_KEYS = {
    **{_header_key(k): n for n, keys in _CSV_FIELDS.items() for k in keys},
    **{
        _header_key(" ".join(label)): n
        for n, labels in reversed(COLUMN_LABELS.items())
        for label in labels
    },
}


def _csv_columns(header: list[str]) -> dict[str, int]:
    """Field name -> column index for a CSV header, by the same label synonyms as PDFs; a
    lone amount column ('Invoice Number,Amount') is what is paid."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        name = _CSV_KEYS.get(_header_key(cell), "")
        if name and name not in columns:
            columns[name] = index
    if "paid" not in columns and "gross" in columns:
        columns["paid"] = columns.pop("gross")
    return columns


def decoded_text(data: bytes, *, source: str = "") -> str:
    """Text as spreadsheets and mail clients save it: UTF-8, UTF-16 with its byte-order mark,
    else Windows-1252 (Excel's CSV on Windows); :class:`ParseError` for anything else."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ParseError("UTF-16 text that does not decode", source=source) from None
    if b"\x00" in data[:4096]:
        raise ParseError("binary file that is no PDF, image or EDI 820", source=source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise ParseError("text that is neither UTF-8 nor Windows-1252", source=source) from None


def read_csv_advice(data: bytes, *, source: str = "") -> ExtractedAdvice:
    """The remittance advice a CSV export states, one row per invoice and an optional total row.

    Raises :class:`ParseError` for an empty or undecodable file and :class:`NothingRemittanceLike`
    when no header names a reference and a paid column.
    """
    if not data.strip():
        raise ParseError("empty CSV file", source=source)
    text = decoded_text(data, source=source)
    first = text.lstrip().split("\n", 1)[0]
    delimiter = max(";,\t|", key=first.count)
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if any(row)]
    header_at = next(
        (i for i, row in enumerate(rows[:10]) if {"reference", "paid"} <= set(_csv_columns(row))),
        None,
    )
    if header_at is None:
        raise NothingRemittanceLike(
            "no header row naming an invoice reference and a paid amount column", source=source
        )
    columns = _csv_columns(rows[header_at])
    body = rows[header_at + 1 :]

    def cell(row: list[str], name: str) -> str:
        index = columns.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    flags: list[str] = []
    currencies = {cell(row, "currency").upper() for row in body} - {""}
    currency = next(iter(currencies)) if len(currencies) == 1 else ""
    if len(currencies) > 1:
        flags.append(f"several currencies in one advice: {', '.join(sorted(currencies))}")
    if not is_known(currency):
        currency = DEFAULT_CURRENCY
        flags.append(CURRENCY_ASSUMED)
    mark = decimal_mark_of(cell(row, name) for row in body for name in NUMERIC_COLUMNS)

    lines: list[ExtractedLine] = []
    item_rows: list[list[str]] = []
    total: Money | None = None
    total_text = ""
    for number, row in enumerate(body, start=header_at + 2):
        reference = cell(row, "reference")
        # A totals row says so in any cell before its amount ('Total', '2025-06-30,Total,...').
        if any(c.strip().lower().rstrip(":") in _TOTAL_CELLS for c in row):
            total_text = cell(row, "paid")
            total = _money(total_text, currency, mark)
            continue
        if not reference:
            continue
        item_rows.append(row)
        paid_text = cell(row, "paid")
        paid = _money(paid_text, currency, mark)
        if paid is None:
            flags.append(f"row {number} ({reference}): paid amount {paid_text!r} unreadable")
        remarks = cell(row, "reason")
        deduction = (
            _money(cell(row, "deduction"), currency, mark) if cell(row, "deduction") else None
        )
        if deduction is None and (m := _REMARK_DEDUCTION.match(remarks)):
            deduction = _money(m["amount"], currency, mark)
            remarks = (m["reason"] or "").strip()
        confidence = 1.0 if paid is not None else 0.0
        lines.append(
            ExtractedLine(
                reference=_value(reference),
                paid=paid,
                paid_field=_value(paid_text, confidence),
                invoice_date=date_of(cell(row, "invoice_date"), compact=True) or None,
                gross=_money(cell(row, "gross"), currency, mark) if cell(row, "gross") else None,
                discount=(
                    _money(cell(row, "discount"), currency, mark) if cell(row, "discount") else None
                ),
                deduction=deduction,
                reason=remarks,
                confidence=confidence,
            )
        )
    if not lines and total is None:
        raise NothingRemittanceLike("the CSV has a header but no invoice rows", source=source)
    # A CSV without a total row declares no total; the lines' sum is not passed off as one.
    total_field = _value(total_text) if total is not None else None
    check_total(lines, total, currency, flags)

    reference_field = _single(item_rows, cell, "payment_reference", flags)
    date_text = _single(item_rows, cell, "payment_date", flags)
    payment_date: date | None = date_of(date_text.text, compact=True) if date_text else None
    payer = _single(item_rows, cell, "payer", flags)
    for name, value in (
        ("payer", payer),
        ("payment reference", reference_field),
        ("payment date", date_text),
    ):
        if value is None:
            flags.append(f"no {name} found")
    return ExtractedAdvice(
        payer=payer,
        payment_reference=reference_field,
        payment_date=payment_date,
        payment_date_field=date_text,
        currency=currency,
        total=total,
        total_field=total_field,
        lines=tuple(lines),
        pages=1,
        reader="csv",
        flags=tuple(flags),
        confidence=advice_confidence(
            [payer, reference_field, date_text, total_field], lines, flags
        ),
    )


def _single(
    body: list[list[str]], cell: Callable[[list[str], str], str], name: str, flags: list[str]
) -> FieldValue | None:
    """A payment-level value repeated on every row; differing values are flagged."""
    values = [cell(row, name) for row in body]
    distinct = sorted({v for v in values if v})
    if not distinct:
        return None
    if len(distinct) > 1:
        flags.append(f"rows disagree on {name.replace('_', ' ')}: {', '.join(distinct[:3])}")
        return _value(distinct[0], 0.5)
    return _value(distinct[0])

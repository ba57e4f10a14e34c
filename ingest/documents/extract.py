"""Layout-free extraction of a remittance advice from positioned words (text layer or OCR).

No per-payer templates: words are grouped into lines by vertical overlap, header fields are found
by their labels in common wordings, and the line table by its column labels, whose x-ranges
then place every cell. Amounts go through :func:`ledger.money.parse_amount` only; a total that
the lines do not add up to is flagged, never corrected.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from rapidfuzz.distance import Levenshtein

from ingest.documents.advice import (
    CURRENCY_ASSUMED,
    DEFAULT_CURRENCY,
    ExtractedAdvice,
    ExtractedLine,
    FieldValue,
    Found,
)
from ingest.documents.words import Page, Word
from ledger.currencies import exponent, is_known
from ledger.errors import MoneyError, ParseError
from ledger.money import Money, parse_amount


class NothingRemittanceLike(ParseError):
    """A document with neither a table of paid items nor a payment total: not an advice."""


# Field confidence multipliers: why a value is less trustworthy than the words it came from.
OCR_CONFUSED = 0.7  # a letter read where a digit belongs ('O' in '1O4.00') was mapped back
INVALID = 0.4  # the value did not validate (no digit in a reference, unparseable date)
PER_FLAG = 0.85  # each flag a reviewer must look at lowers the advice's confidence

# --- words and lines ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """Words that share a baseline, left to right. height: the median word height in points."""

    page: int
    words: tuple[Word, ...]

    @property
    def top(self) -> float:
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> float:
        return max(w.bottom for w in self.words)

    @property
    def height(self) -> float:
        heights = sorted(w.bottom - w.top for w in self.words)
        return max(heights[len(heights) // 2], 1.0)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def group_lines(words: Iterable[Word]) -> list[Line]:
    """Words into lines: a word joins a line when it overlaps the line's band by half its height."""
    lines: list[list[Word]] = []
    bands: list[tuple[float, float]] = []
    for word in sorted(words, key=lambda w: (w.page, w.middle, w.x0)):
        height = max(word.bottom - word.top, 0.1)
        placed = False
        for index in range(len(lines) - 1, max(-1, len(lines) - 4), -1):
            top, bottom = bands[index]
            if lines[index][0].page != word.page:
                break
            overlap = min(bottom, word.bottom) - max(top, word.top)
            if overlap >= 0.5 * min(height, bottom - top):
                lines[index].append(word)
                # The band keeps its core: a tall letterhead word does not swallow the next line.
                bands[index] = (min(top, word.top), max(bottom, word.bottom))
                placed = True
                break
        if not placed:
            lines.append([word])
            bands.append((word.top, word.bottom))
    result = [Line(ws[0].page, tuple(sorted(ws, key=lambda w: w.x0))) for ws in lines]
    return sorted(result, key=lambda line: (line.page, line.top))


def split_cells(words: Sequence[Word], height: float, factor: float = 0.75) -> list[list[Word]]:
    """Runs of words separated by gaps wider than ``factor`` times the text height."""
    cells: list[list[Word]] = []
    for word in words:
        if cells and word.x0 - cells[-1][-1].x1 <= factor * height:
            cells[-1].append(word)
        else:
            cells.append([word])
    return cells


@functools.cache
def _norm(text: str) -> str:
    """A label token compared without case, colons, dots or stray rules: 'No.:' -> 'no'."""
    return text.lower().strip(":.|,;_ ")


# Real words one edit away from a label that mean something else ('Payee' is not 'Payer').
_DISTINCT_WORDS = {"payee", "payer", "dated", "debit", "credit", "totals"}


@functools.lru_cache(maxsize=65536)
def _same(token: str, target: str) -> bool:
    # One edit is forgiven on longer words, so an OCR'd 'Arnount' still reads 'amount'.
    if token == target:
        return True
    if token in _DISTINCT_WORDS:
        return False
    return (
        len(target) >= 5
        and abs(len(token) - len(target)) <= 1
        and (Levenshtein.distance(token, target, score_cutoff=1) <= 1)
    )


def _confidence(words: Iterable[Word]) -> float:
    return min((w.confidence for w in words), default=0.0)


def _found(words: Sequence[Word]) -> Found:
    return Found(
        page=words[0].page,
        box=(
            min(w.x0 for w in words),
            min(w.top for w in words),
            max(w.x1 for w in words),
            max(w.bottom for w in words),
        ),
    )


# --- amounts, dates, currencies -------------------------------------------------------------

_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
# Letters OCR reads where digits belong, mapped back only inside otherwise numeric tokens.
_CONFUSABLE = str.maketrans({"O": "0", "o": "0", "D": "0", "l": "1", "I": "1", "|": "1", "S": "5"})
# Marks OCR reads from dust at the edge of a word.
_SPECKS = ".,:;'`\"°*~_"
_NUMERIC = re.compile(r"\d[\d.,'\u00a0\u202f ]*")
_AMOUNT_SHAPE = re.compile(r"\d{1,3}(?:[.,' ]\d{3})*(?:[.,]\d{1,4})?|\d+(?:[.,]\d{1,4})?")


@dataclass(frozen=True, slots=True)
class AmountText:
    """An amount as written: unsigned digits and marks, its sign, and whether OCR letters were mapped."""

    digits: str
    negative: bool
    confused: bool
    currency: str = ""


def amount_text(text: str) -> AmountText | None:
    """The amount a token (or a short run like 'USD 1,234.56') writes, or None when it is not one.

    Negatives in parentheses, with a leading or a trailing minus, or 'CR' are recognised.
    """
    raw = text.strip().replace("\u2212", "-")
    currency = ""
    match = re.fullmatch(r"([A-Z]{3})\s*(.+)|(.+?)\s*([A-Z]{3})", raw)
    if match:
        code = match.group(1) or match.group(4)
        if is_known(code):
            currency = code
            raw = (match.group(2) or match.group(3)).strip()
    negative = False
    if raw.startswith("(") and raw.endswith(")"):
        negative, raw = True, raw[1:-1].strip()
    if raw.upper().endswith("CR"):
        negative, raw = True, raw[:-2].strip()
    if raw.endswith("-"):
        negative, raw = True, raw[:-1].strip()
    if raw.startswith("-"):
        negative, raw = not negative, raw[1:].strip()
    raw = raw.lstrip("+")
    for symbol, code in _SYMBOLS.items():
        if raw.startswith(symbol) or raw.endswith(symbol):
            currency = currency or code
            raw = raw.strip(symbol).strip()
    if raw.startswith("(") and raw.endswith(")"):  # -$(12.00) and friends
        negative, raw = True, raw[1:-1].strip()
    confused = False
    if not _AMOUNT_SHAPE.fullmatch(raw) and _AMOUNT_SHAPE.fullmatch(trimmed := raw.strip(_SPECKS)):
        # OCR dust on the edge of a number ('16,899.46.', '2,742.97°'): kept, but doubted.
        raw, confused = trimmed, True
    if not _AMOUNT_SHAPE.fullmatch(raw):
        mapped = raw.translate(_CONFUSABLE)
        digits = sum(c.isdigit() for c in raw)
        letters = sum(c.isalpha() for c in raw)
        # A word with a mark and a digit ('1O,OOO.00') or mostly digits ('1O4') is a number.
        plausible = digits >= 1 and (digits >= letters or re.search(r"[.,]\d", mapped))
        if plausible and _AMOUNT_SHAPE.fullmatch(mapped):
            raw, confused = mapped, True
        else:
            return None
    return AmountText(raw, negative, confused, currency)


def decimal_mark_of(texts: Iterable[str]) -> str:
    """'.' or ',': the decimal mark a document uses, by a vote over all its amount-like tokens.

    '1.234,56' and '12,50' vote for a comma, '1,234.56' and '12.50' for a point; '1,234' alone
    is a thousands separator, so it weakly votes for a point. Ties go to the point.
    """
    votes: Counter[str] = Counter()
    for text in texts:
        parsed = amount_text(text)
        if parsed is None or re.search(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}", text):
            continue
        digits = parsed.digits
        last_dot, last_comma = digits.rfind("."), digits.rfind(",")
        if last_dot >= 0 and last_comma >= 0:
            votes["." if last_dot > last_comma else ","] += 2
            continue
        mark = "." if last_dot >= 0 else "," if last_comma >= 0 else ""
        if not mark:
            continue
        decimals = len(digits) - digits.rfind(mark) - 1
        if digits.count(mark) == 1 and decimals in (1, 2):
            votes[mark] += 2
        elif decimals == 3:
            votes["," if mark == "." else "."] += 1
    return "," if votes[","] > votes["."] else "."


def misread_mark(parsed: AmountText, currency: str, decimal_mark: str) -> AmountText | None:
    """'494,44' in a document of '1,234.56': one mark of the other kind before exactly the
    currency's decimals cannot be grouping, so OCR misread the decimal mark."""
    other = "," if decimal_mark == "." else "."
    digits = parsed.digits
    if digits.count(other) != 1 or decimal_mark in digits:
        return None
    if len(digits) - digits.index(other) - 1 != exponent(currency):
        return None
    return replace(parsed, digits=digits.replace(other, decimal_mark), confused=True)


def money_of(parsed: AmountText, currency: str, decimal_mark: str) -> Money | None:
    """Exact money from a recognised amount, via the one text->money helper; None if it fails."""
    try:
        minor = parse_amount(parsed.digits, currency, decimal_mark=decimal_mark, grouping=True)
    except MoneyError:
        return None
    return Money(-minor if parsed.negative else minor, currency)


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}


def _safe_date(year: int, month: int, day: int) -> date | None:
    if year < 100:
        year += 2000
    try:
        return date(year, month, day)
    except ValueError:
        return None


_SLASHED = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b")


def day_first(texts: Iterable[str]) -> bool:
    """Whether a document's slashed dates are day first: when one of them can only be read so
    (15/03/2026) and none only month first (03/15/2026). Otherwise month first: neither the
    currency nor the number format tells, since payers print both orders in every currency."""
    firsts = {
        int(m[1]) > 12
        for text in texts
        for m in _SLASHED.finditer(text)
        if (int(m[1]) > 12) != (int(m[2]) > 12)
    }
    return firsts == {True}


def date_of(text: str, day_first: bool = False, *, compact: bool = False) -> date | None:
    """A date in ISO (also with slashes), slashed or dashed (03/15/2026, 03-15-2026; day
    first with ``day_first``), dotted (15.03.2026) or month-name forms; None otherwise.

    A slashed or dashed date is read in the order asked unless its numbers allow only the
    other. With ``compact``, for a value known to be a date (under a date's label), eight
    digits alone are one year first (20260315), as ERPs and bank files print them.
    """
    raw = text.strip().strip(",;()")
    fixed = re.sub(r"(?<=\d)[Oo](?=\d|\b)|(?<=\b)[Oo](?=\d)", "0", raw)
    if m := re.search(r"\b(\d{4})[-/](\d{1,2})[-/](\d{1,2})\b", fixed):
        return _safe_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _SLASHED.search(fixed) or re.search(r"\b(\d{1,2})-(\d{1,2})-(\d{4})\b", fixed):
        first, second = int(m[1]), int(m[2])
        if first > 12 or (day_first and second <= 12):
            return _safe_date(int(m[3]), second, first)
        return _safe_date(int(m[3]), first, second)
    if m := re.search(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})\b", fixed):
        return _safe_date(int(m[3]), int(m[2]), int(m[1]))
    # OCR turns separators into ':' or '.' ("10:Mar-2025"); a month name still anchors it.
    if m := re.search(r"\b(\d{1,2})[-\s:.]+([A-Za-z]{3,9})\.?[-\s,:.]+(\d{4})\b", fixed):
        month = _MONTHS.get(m[2].lower())
        return _safe_date(int(m[3]), month, int(m[1])) if month else None
    if m := re.search(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})\b", fixed):
        month = _MONTHS.get(m[1].lower())
        return _safe_date(int(m[3]), month, int(m[2])) if month else None
    if compact and (m := re.fullmatch(r"((?:19|20)\d\d)(\d\d)(\d\d)", fixed)):
        return _safe_date(int(m[1]), int(m[2]), int(m[3]))
    return None


def clean_reference(words: Sequence[Word]) -> tuple[str, bool]:
    """A reference cell's text without OCR specks: tokens with no letter or digit are dropped,
    punctuation is stripped from the ends and from beside a hyphen, and a hyphen keeps no blank
    after it ('.PO-98346', 'INV-103756 °°', 'INV.-102073', 'CM- 900082' -> the reference).
    Returns the text and whether anything was removed."""
    raw = " ".join(w.text for w in words)
    kept = [w.text for w in words if any(c.isalnum() for c in w.text)]
    text = " ".join(kept)
    text = re.sub(r"^[^0-9A-Za-z]+|[^0-9A-Za-z]+$", "", text)
    text = re.sub(r"[.,:;'`]+(?=-)|(?<=-)[.,:;'`]+|(?<=-) +", "", text)
    return text, text != raw


def looks_ocr_confused(text: str) -> bool:
    """A letter OCR often reads for a digit, sitting between digits ('1O4417', '2O26')."""
    return re.search(r"(?<=\d)[OoIlSB|](?=\d)", text) is not None


# --- labels ---------------------------------------------------------------------------------


def _labels(*phrases: str) -> tuple[tuple[str, ...], ...]:
    result = [tuple(_norm(t) for t in phrase.split()) for phrase in phrases]
    return tuple(sorted(result, key=len, reverse=True))


COLUMN_LABELS: dict[str, tuple[tuple[str, ...], ...]] = {
    "reference": _labels(
        "Invoice No.",
        "Invoice #",
        "Invoice Number",
        "Invoice",
        "Inv No.",
        "Inv #",
        "Inv#",
        "Inv. No.",
        "Invoice Ref",
        "Vendor Invoice",
        "Supplier Invoice",
        "Bill No.",
        "Bill Number",
        "Your Ref",
        "Your Reference",
        "Document",
        "Document No.",
        "Document Number",
        "Doc No.",
        "Doc #",
        "Reference",
        "Ref",
    ),
    "invoice_date": _labels(
        "Invoice Date", "Inv. Date", "Date", "Doc Date", "Document Date", "Doc. Date"
    ),
    "gross": _labels(
        "Gross",
        "Gross Amount",
        "Gross Amt",
        "Invoice Amount",
        "Invoice Amt",
        "Inv. Amount",
        "Inv. Amt",
        "Invoice Total",
        "Amount",
        "Original Amount",
    ),
    "discount": _labels(
        "Discount",
        "Disc.",
        "Discount Taken",
        "Cash Discount",
        "Disc Taken",
        "Discount Amount",
        "Disc. Amt",
    ),
    "deduction": _labels(
        "Deduction",
        "Deductions",
        "Ded.",
        "Adjustment",
        "Adjustments",
        "Adj.",
        "Short Paid",
        "Deduction Amount",
    ),
    "reason": _labels(
        "Reason", "Reason Code", "Deduction Reason", "Remarks", "Remark", "Comment", "Comments"
    ),
    "paid": _labels(
        "Amount Paid",
        "Net Paid",
        "Paid",
        "Net",
        "Payment",
        "Net Amount",
        "Paid Amount",
        "Payment Amount",
        "Amount Remitted",
        "Net Amt",
        "Paid Amt",
        "Payment Amt",
    ),
}
OTHER = "other"
"""A column no line field takes (PO number, description, balance due): its cells are read so
that they land nowhere else."""
NUMERIC_COLUMNS = ("gross", "discount", "deduction", "paid")

FIELD_LABELS: dict[str, tuple[tuple[str, ...], ...]] = {
    "payment_reference": _labels(
        "Check No.",
        "Check Number",
        "Check #",
        "Cheque No.",
        "Cheque Number",
        "Payment Ref",
        "Payment Reference",
        "Payment No.",
        "Payment Number",
        "EFT Trace",
        "Trace No.",
        "Trace Number",
        "Trace",
        "Reference",
        "Remittance No.",
    ),
    "payment_date": _labels(
        "Payment Date",
        "Date Paid",
        "Check Date",
        "Cheque Date",
        "Value Date",
        "Paid On",
        "Date",
    ),
    "total": _labels(
        "Total",
        "Total Paid",
        "Check Total",
        "Total Payment",
        "Total Amount",
        "Amount Paid",
        "Payment Amount",
        "Check Amount",
        "Amount Remitted",
    ),
    "payer": _labels("From", "Payer", "Remitter", "Customer", "Paid By", "Ordering Party"),
    "currency": _labels("Currency"),
}
_ANY_FIELD_LABEL = tuple(label for labels in FIELD_LABELS.values() for label in labels)
# Words of a document title, not of a company name.
_TITLE_WORDS = {
    "remittance",
    "advice",
    "payment",
    "notification",
    "notice",
    "details",
    "statement",
    "continued",
    "page",
    "of",
    "-",
}
_TOTAL_WORDS = {"total", "totals", "grand", "sum"}
_SUBTOTAL_WORDS = {"subtotal", "carried", "brought", "forward"}
_NOISE = re.compile(r"\bcontinued\b|\bpage\s+\d+\s+of\s+\d+\b", re.IGNORECASE)


def _match_at(
    words: Sequence[Word], start: int, labels: Iterable[tuple[str, ...]], max_gap: float
) -> int:
    """How many words from ``start`` spell one of ``labels`` (longest first); 0 when none.

    A label's words sit one space apart: a gap wider than ``max_gap`` points means the next
    column has begun ('Deduction | Reason' are two column labels, not 'Deduction Reason').
    """
    for label in labels:
        end = start + len(label)
        if end > len(words):
            continue
        if any(words[i + 1].x0 - words[i].x1 > max_gap for i in range(start, end - 1)):
            continue
        if all(_same(_norm(words[start + i].text), part) for i, part in enumerate(label)):
            return len(label)
    return 0


# --- the line table -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: which AdviceLine field it holds and its header's x-range in points."""

    field: str
    x0: float
    x1: float


def header_columns(line: Line) -> list[Column] | None:
    """The columns a line names when it is a table header, else None.

    A header names a reference column and an amount column, at least three columns in all
    (two when they are reference and paid); its cells (runs of words a column apart) are
    column labels, a label with a word beside it ('Vendor Invoice #', 'Amount Paid (USD)'),
    or the label of a column no line field takes ('PO #', 'Description', 'Balance Due'),
    which becomes an :data:`OTHER` column so that its values land nowhere else. A line with
    a number or more unknown cells than labelled ones is not a header.
    """
    words = line.words
    spans: dict[str, range] = {}  # each field's label words; the longer of two labels wins
    index = 0
    while index < len(words):
        best_field, best_length = "", 0
        for name, labels in COLUMN_LABELS.items():
            # Table cells are padded apart, so one text height separates header labels.
            length = _match_at(words, index, labels, line.height)
            if length > best_length:
                best_field, best_length = name, length
        if best_length > len(spans.get(best_field, ())):
            # 'Net | Amount Paid': the cash is under the more specific label.
            spans[best_field] = range(index, index + best_length)
        index += best_length or 1
    labelled = {k: name for name, span in spans.items() for k in span}
    columns = [
        Column(name, words[span[0]].x0, words[span[-1]].x1)
        for name, span in sorted(spans.items(), key=lambda item: item[1].start)
    ]
    fields = {c.field for c in columns}
    if "paid" not in fields:
        # A table with one amount column ('Invoice | Amount') states what is paid there.
        columns = [Column("paid", c.x0, c.x1) if c.field == "gross" else c for c in columns]
        fields = {c.field for c in columns}
    if "reference" not in fields or "paid" not in fields:
        return None
    if len(columns) < 3 and fields != {"reference", "paid"}:
        return None
    # 'Invoice: ... Amount Paid:' labels values; OCR may add one stray colon to a real header.
    if 2 * sum(w.text.endswith(":") for w in words) >= len(columns):
        return None
    position = {id(w): k for k, w in enumerate(words)}
    others: list[Column] = []
    for cell in split_cells(words, line.height, factor=1.0):
        known = {labelled[position[id(w)]] for w in cell if position[id(w)] in labelled}
        unknown = [w for w in cell if position[id(w)] not in labelled]
        # OCR reads a table rule or a speck as '7', '|' or '_': no column's label.
        if all(len(w.text) <= 2 and not any(c.isalpha() for c in w.text) for w in unknown):
            unknown = []
            if not known:
                continue
        if any(c.isdigit() for w in unknown for c in w.text) or len(unknown) > 3:
            return None
        if not known:
            others.append(Column(OTHER, cell[0].x0, cell[-1].x1))
        elif unknown and len(known) == 1:
            # The label's column spans its whole cell: values sit under all of it.
            (label,) = known
            name = label if label in fields else "paid"  # a lone amount column is paid
            columns = [
                Column(c.field, min(c.x0, cell[0].x0), max(c.x1, cell[-1].x1))
                if c.field == name
                else c
                for c in columns
            ]
    if len(others) > len(columns):
        return None
    return columns + others


def _column_of(x0: float, x1: float, columns: Sequence[Column]) -> Column:
    def overlap(column: Column) -> float:
        return min(x1, column.x1) - max(x0, column.x0)

    best = max(columns, key=overlap)
    if overlap(best) > 0:
        return best
    return min(columns, key=lambda c: max(c.x0 - x1, x0 - c.x1))


def row_cells(line: Line, columns: Sequence[Column]) -> dict[str, list[Word]]:
    """A line's words by column: cells split at wide gaps, each placed by overlap with a header."""
    cells: dict[str, list[Word]] = {}
    for cell in split_cells(line.words, line.height):
        pieces = [cell]
        if len(cell) > 1 and all(amount_text(w.text) for w in cell):
            pieces = [[w] for w in cell]  # two amounts in adjacent columns, close together
        for piece in pieces:
            column = _column_of(piece[0].x0, piece[-1].x1, columns)
            cells.setdefault(column.field, []).extend(piece)
    return cells


@dataclass(slots=True)
class TableRow:
    """Words of one table row by column field."""

    cells: dict[str, list[Word]]


@dataclass(slots=True)
class Table:
    """The rows found, the totals row's paid cell, and every line the table used."""

    rows: list[TableRow] = field(default_factory=list)
    total_words: list[Word] = field(default_factory=list)
    used: set[int] = field(default_factory=set)


def _is_reference(words: Sequence[Word]) -> bool:
    """Whether a reference cell names a document: it has a digit and is not only a date (an
    invoice number with a date in it, 'FV/12/06/2025', is a reference)."""
    text = " ".join(w.text for w in words)
    return any(c.isdigit() for c in text) and not _only_a_date(text)


def _only_a_date(text: str) -> bool:
    letters = re.findall(r"[A-Za-z]+", text)
    return date_of(text) is not None and all(w.lower() in _MONTHS for w in letters)


def _totals_words(line: Line) -> bool:
    """A totals row: a 'total' word before its last amount ('Total 3,000.00', '2 invoices
    Total 3,000.00', 'Check 70001 Total 3,000.00') or a total's label and its amount ('Check
    Amount 3,000.00'); a page's total is a subtotal."""
    words = [_norm(w.text) for w in line.words]
    last_amount = max((k for k, w in enumerate(line.words) if amount_text(w.text)), default=-1)
    if "page" in words or last_amount < 1:
        return False
    labelled = _match_at(line.words, 0, FIELD_LABELS["total"], 1.5 * line.height)
    return labelled == last_amount or any(w in _TOTAL_WORDS for w in words[:last_amount])


def _stacked(upper: Line, lower: Line) -> Line | None:
    """A header printed over two lines ('Invoice / Number', 'Amount / Paid') as one line: each
    cell of the lower line joins the upper cell it sits under, its words after the upper's,
    spread over both cells' width; None when the lower line is not such a second line (a
    digit in it, another page, more than a line's height below, or a cell under no label)."""
    height = max(upper.height, lower.height)
    if (
        lower.page != upper.page
        or lower.top - upper.bottom > height
        or any(c.isdigit() for c in lower.text)
    ):
        return None
    uppers = split_cells(upper.words, upper.height, factor=1.0)
    lowers = split_cells(lower.words, lower.height, factor=1.0)
    partner: dict[int, list[Word]] = {}
    for cell in lowers:
        under = [
            k
            for k, top in enumerate(uppers)
            if min(cell[-1].x1, top[-1].x1) - max(cell[0].x0, top[0].x0) > 0
        ]
        if len(under) != 1 or under[0] in partner:
            return None
        partner[under[0]] = cell
    words: list[Word] = []
    for k, top in enumerate(uppers):
        joined = top + partner.get(k, [])
        x0 = min(w.x0 for w in joined)
        width = (max(w.x1 for w in joined) - x0) / len(joined)
        words.extend(
            replace(
                w, x0=x0 + i * width, x1=x0 + (i + 1) * width, top=upper.top, bottom=upper.bottom
            )
            for i, w in enumerate(joined)
        )
    return Line(upper.page, tuple(words))


def _known(columns: Sequence[Column]) -> int:
    return sum(c.field != OTHER for c in columns)


def _headers(lines: Sequence[Line]) -> tuple[list[list[Column] | None], set[int]]:
    """Each line's header columns, and the lines that are a header's second line: a header
    over two lines is read on its first line when together they label more columns."""
    header_of = [header_columns(line) for line in lines]
    seconds: set[int] = set()
    for k in range(len(lines) - 1):
        if k in seconds or header_of[k + 1]:
            continue
        merged = _stacked(lines[k], lines[k + 1])
        columns = header_columns(merged) if merged else None
        single = header_of[k]
        if columns and (single is None or _known(columns) > _known(single)):
            header_of[k] = columns
            seconds.add(k + 1)
    return header_of, seconds


def find_table(lines_by_page: Sequence[Sequence[Line]]) -> Table:
    """The advice's line table across pages: header rows by their labels, rows below them.

    A page that repeats the header continues the table; a page without one continues it under
    the last columns seen. A totals row ends the table and is not a line.
    """
    table = Table()
    columns: list[Column] | None = None
    closed = False
    for lines in lines_by_page:
        header_of, seconds = _headers(lines)
        table.used.update(id(lines[k]) for k in seconds)
        headers = [(i, cols) for i, cols in enumerate(header_of) if cols]
        start = 0
        if headers:
            start, columns = headers[0]
            table.used.add(id(lines[start]))
            start += 1 + (start + 1 in seconds)
            closed = False
        if columns is None or closed:
            continue
        for k, (line, header) in enumerate(zip(lines[start:], header_of[start:], strict=True)):
            if start + k in seconds:
                continue
            if header:
                table.used.add(id(line))
                closed = False
                continue
            if closed or _NOISE.search(line.text):
                continue
            words = [w for w in line.words]
            normed = {_norm(w.text) for w in words}
            if normed & _SUBTOTAL_WORDS or ("page" in normed and normed & _TOTAL_WORDS):
                table.used.add(id(line))
                continue
            cells = row_cells(line, columns)
            if _totals_words(line):
                table.used.add(id(line))
                paid = cells.get("paid") or [w for w in words if amount_text(w.text)][-1:]
                table.total_words = paid
                closed = True
                continue
            reference = cells.get("reference", [])
            # A row whose amounts OCR garbled ('CLE (35,32') is kept, its paid amount unread
            # and flagged, rather than lost: a missing line is found by nobody.
            amounts = [w for name in NUMERIC_COLUMNS for w in cells.get(name, [])]
            if reference and _is_reference(reference) and amounts:
                table.rows.append(TableRow(cells))
                table.used.add(id(line))
    return table


# --- header fields --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Labelled:
    """A header field's value words, found after one of its labels (of ``label_words``
    words: 'Payment Date' says more than 'Date')."""

    field: str
    words: tuple[Word, ...]
    label_words: int = 1


def labelled_fields(line: Line) -> list[Labelled]:
    """Every 'Label: value' on a line; a value runs until a wide gap or the next label."""
    words = line.words
    found: list[Labelled] = []
    index = 0
    while index < len(words):
        hit_field, length = "", 0
        for name, labels in FIELD_LABELS.items():
            # Field labels sit further from anything else; OCR boxes hug glyphs (smaller
            # heights than a font size), so 'Date Paid:' may need more than one height.
            n = _match_at(words, index, labels, 1.5 * line.height)
            if n > length:
                hit_field, length = name, n
        label_end = index + length
        # A label without a colon is only a label when a value of its kind follows.
        if not length or (
            not words[label_end - 1].text.endswith(":")
            and hit_field in ("payer", "currency", "total")
        ):
            index += 1
            continue
        value: list[Word] = []
        cursor = label_end
        while cursor < len(words):
            word = words[cursor]
            gap = word.x0 - (value[-1].x1 if value else words[label_end - 1].x1)
            if value and gap > 2.5 * line.height:
                break
            if not value and gap > 12 * line.height:
                break
            if (
                value
                and _match_at(words, cursor, _ANY_FIELD_LABEL, 1.5 * line.height)
                and any(
                    words[cursor + k].text.endswith(":") for k in range(min(3, len(words) - cursor))
                )
            ):
                break
            value.append(word)
            cursor += 1
        if value and not value[0].text.endswith(":"):  # a label is not another's value
            found.append(Labelled(hit_field, tuple(value), length))
        index = max(cursor, index + 1)
    return found


def _letterhead(lines: Sequence[Line], page: Page, table: Table) -> tuple[Word, ...]:
    """The payer's name as its letterhead prints it: the largest text at the top, above the
    line table, that is not the document's title, an address or a label. (OCR boxes of a
    table's words may be taller than the letterhead's: a rule under 'Total' makes it so.)"""
    best: tuple[Word, ...] = ()
    best_height = 0.0
    for line in lines:
        if line.top > page.height * 0.3 or id(line) in table.used:
            break
        labelled = False  # the cell after a label is its value ('Beneficiary: <us>'), not a name
        for cell in split_cells(line.words, line.height, factor=2.0):
            after_label, labelled = labelled, cell[-1].text.endswith(":")
            name = _without_title(cell)
            if not name or after_label or any(w.text.endswith(":") for w in name):
                continue
            if any(_mostly_digits(w.text) for w in name):  # an address, a number, a date
                continue
            height = sorted(w.bottom - w.top for w in name)[len(name) // 2]
            if height > best_height + 0.5:
                best, best_height = tuple(name), height
    return best


def _mostly_digits(text: str) -> bool:
    """Whether at least half of a word's letters and digits are digits ('4410', 'C10192'; not
    'S.r.1.', a legal form OCR gave a digit)."""
    characters = [c for c in text if c.isalnum()]
    return 2 * sum(c.isdigit() for c in characters) >= len(characters) > 0


def _without_title(cell: Sequence[Word]) -> list[Word]:
    """A letterhead cell without the document title printed on the same line.

    Only a run of two or more title words is cut from either end ('Acme Inc. PAYMENT ADVICE'),
    so a name that merely contains one ('Payment Systems Ltd') keeps it.
    """
    words = list(cell)
    titles = [_norm(w.text) in _TITLE_WORDS for w in words]
    if all(titles):
        return []
    end = len(words)
    while titles[end - 1]:
        end -= 1
    start = 0
    while titles[start]:
        start += 1
    return words[start if start >= 2 else 0 : end if len(words) - end >= 2 else len(words)]


# --- assembling the advice ------------------------------------------------------------------


def _field(words: Sequence[Word], text: str | None = None, *, valid: bool = True) -> FieldValue:
    shown = text if text is not None else " ".join(w.text for w in words)
    confidence = _confidence(words)
    if looks_ocr_confused(shown):
        confidence *= OCR_CONFUSED
    if not valid:
        confidence *= INVALID
    return FieldValue(shown, round(confidence, 4), _found(words))


def _currency_of(lines: Sequence[Line], labelled: Sequence[Labelled]) -> str:
    """The ISO code the document states: a 'Currency:' field, else the codes beside its
    amounts, else the symbols in them."""
    for item in labelled:
        if item.field == "currency":
            code = item.words[0].text.strip(":.").upper()
            if is_known(code):
                return code
    votes: Counter[str] = Counter()  # ISO codes beside amounts, or in brackets in a heading
    symbols: Counter[str] = Counter()  # '$' is also the Canadian's, the Australian's, ...
    for line in lines:
        words = line.words
        for i, word in enumerate(words):
            text = word.text.strip("():")
            neighbours = [words[j].text for j in (i - 1, i + 1) if 0 <= j < len(words)]
            beside_amount = any(amount_text(n) for n in neighbours)
            bracketed = word.text.startswith("(") and word.text.rstrip(":").endswith(")")
            if (
                len(text) == 3
                and text.isupper()
                and is_known(text)
                and (beside_amount or bracketed)  # '1,234.56 EUR', 'Amount Paid (EUR)'
            ):
                votes[text] += 1
            parsed = amount_text(word.text)
            if parsed and parsed.currency:
                symbols[parsed.currency] += 1
            elif word.text in _SYMBOLS and beside_amount:  # '1 234,56 €'
                symbols[_SYMBOLS[word.text]] += 1
    best = votes or symbols
    return best.most_common(1)[0][0] if best else ""


def _money_field(
    words: Sequence[Word], currency: str, mark: str
) -> tuple[Money | None, FieldValue | None]:
    if not words:
        return None, None
    text = " ".join(w.text for w in words)
    parsed = amount_text(text)
    if parsed is None and len(words) > 1:
        # OCR cut one number in two ('17, 371.10') or a word crept into the cell: the joined
        # digits first, then the last amount alone; either way the value is in doubt.
        parsed = amount_text("".join(w.text for w in words)) or next(
            (p for w in reversed(words) if (p := amount_text(w.text))), None
        )
        parsed = replace(parsed, confused=True) if parsed else None
    money = money_of(parsed, currency, mark) if parsed else None
    if parsed and money is None and (fixed := misread_mark(parsed, currency, mark)):
        parsed, money = fixed, money_of(fixed, currency, mark)
    value = _field(words, valid=money is not None)
    if parsed and parsed.confused:
        value = FieldValue(value.text, round(value.confidence * OCR_CONFUSED, 4), value.found)
    return money, value


def _optional_money(words: Sequence[Word] | None, currency: str, mark: str) -> Money | None:
    return _money_field(words, currency, mark)[0] if words else None


def _taken_off(money: Money | None) -> Money | None:
    return Money(abs(money.minor), money.currency) if money is not None else None


def lines_from_table(
    rows: Sequence[TableRow], currency: str, mark: str, flags: list[str], days_first: bool = False
) -> list[ExtractedLine]:
    """Extracted lines from table rows; an unreadable paid amount is kept as None and flagged."""
    lines: list[ExtractedLine] = []
    for number, row in enumerate(rows, start=1):
        reference_words = row.cells["reference"]
        text, cleaned = clean_reference(reference_words)
        reference = _field(reference_words, text, valid=_is_reference(reference_words))
        if cleaned:  # OCR specks around the reference: keep it, but say it was noisy
            reference = FieldValue(
                reference.text, round(reference.confidence * OCR_CONFUSED, 4), reference.found
            )
        paid, paid_field = _money_field(row.cells.get("paid", []), currency, mark)
        if paid is None:
            flags.append(f"line {number} ({reference.text}): paid amount unreadable")
        date_words = row.cells.get("invoice_date")
        confidence = min(reference.confidence, paid_field.confidence if paid_field else 0.0)
        gross = _optional_money(row.cells.get("gross"), currency, mark)
        # A discount or deduction printed as negative ('-20.00', '(20.00)') is still taken off.
        discount = _taken_off(_optional_money(row.cells.get("discount"), currency, mark))
        deduction = _taken_off(_optional_money(row.cells.get("deduction"), currency, mark))
        lines.append(
            ExtractedLine(
                reference=reference,
                paid=paid,
                paid_field=paid_field,
                invoice_date=(
                    date_of(" ".join(w.text for w in date_words), days_first, compact=True)
                    if date_words
                    else None
                ),
                gross=gross,
                discount=discount,
                deduction=deduction,
                reason=" ".join(w.text for w in row.cells.get("reason", [])),
                confidence=round(confidence, 4),
            )
        )
    return lines


def check_total(
    lines: Sequence[ExtractedLine], total: Money | None, currency: str, flags: list[str]
) -> None:
    """Flag a missing total, or lines whose paid amounts do not add up to it (one minor unit
    of rounding per line is allowed). Nothing is corrected."""
    if total is None:
        flags.append("no total found")
        return
    paid = [line.paid.minor for line in lines if line.paid is not None]
    if paid and abs(sum(paid) - total.minor) > len(paid):
        flags.append(
            f"lines do not sum to the total: lines {Money(sum(paid), currency)}, total {total}"
        )


def advice_confidence(
    fields: Sequence[FieldValue | None], lines: Sequence[ExtractedLine], flags: Sequence[str]
) -> float:
    """The least confident key field or line, lowered once for every flag.

    A missing field counts through its flag ('no payer found'), not as zero: a CSV export never
    names its payer, yet its lines can be exact.
    """
    confidences = [f.confidence for f in fields if f is not None]
    confidences += [line.confidence for line in lines]
    return round(min(confidences, default=0.0) * PER_FLAG ** len(flags), 4)


def extract_advice(
    pages: list[Page], *, source: str = "", unread: Sequence[ParseError] = ()
) -> ExtractedAdvice:
    """The remittance advice the pages show: payer, payment reference and date, lines and total.

    unread: why each page that could not be read was lost; each is flagged, since its lines
    are missing, and counted in the advice's pages.
    Raises :class:`NothingRemittanceLike` when the pages hold neither a line table nor a total.
    """
    lines_by_page = [group_lines(page.words) for page in pages]
    all_lines = [line for lines in lines_by_page for line in lines]
    if not all_lines:
        read = "OCR found" if any(page.reader == "ocr" for page in pages) else "a scan needs OCR:"
        raise NothingRemittanceLike(f"{read} no words on any page", source=source)
    table = find_table(lines_by_page)
    labelled = [
        item for line in all_lines if id(line) not in table.used for item in labelled_fields(line)
    ]
    flags = [f"{error.reason}; its lines are missing" for error in unread]
    currency = _currency_of(all_lines, labelled)
    if not currency:
        currency = DEFAULT_CURRENCY
        flags.append(CURRENCY_ASSUMED)
    mark = decimal_mark_of(w.text for line in all_lines for w in line.words)

    days_first = day_first(line.text for line in all_lines)
    lines = lines_from_table(table.rows, currency, mark, flags, days_first)

    # Each field from its most specific label ('Check Date' over a 'Print Date' or 'Date'
    # above it), the first of those.
    first: dict[str, Labelled] = {}
    for item in labelled:
        if item.label_words > first.get(item.field, Labelled("", (), 0)).label_words:
            first[item.field] = item

    total, total_field = _money_field(table.total_words, currency, mark)
    declared = first.get("total")
    if declared is not None:
        stated, stated_field = _money_field(declared.words, currency, mark)
        if total is None:
            total, total_field = stated, stated_field
        elif stated is not None and stated != total:
            flags.append(f"totals disagree: table says {total}, header says {stated}")
    if not lines and total is None:
        raise NothingRemittanceLike(
            "no table of paid items and no payment total found; is this a remittance advice?",
            source=source,
        )
    check_total(lines, total, currency, flags)
    if total is not None and not lines:
        flags.append("no paid items found, only the total")

    reference_field = None
    if reference_item := first.get("payment_reference"):
        text = " ".join(w.text for w in reference_item.words).strip(" .,;")
        reference_field = _field(reference_item.words, text, valid=any(c.isdigit() for c in text))
    payment_date = None
    date_field = None
    if date_item := first.get("payment_date"):
        payment_date = date_of(" ".join(w.text for w in date_item.words), days_first, compact=True)
        date_field = _field(date_item.words, valid=payment_date is not None)
    payer_field = None
    if payer_item := first.get("payer"):
        payer_field = _field(payer_item.words)
    elif letterhead := _letterhead(lines_by_page[0], pages[0], table):
        payer_field = _field(letterhead)
    for name, value in (
        ("payer", payer_field),
        ("payment reference", reference_field),
        ("payment date", date_field),
    ):
        if value is None:
            flags.append(f"no {name} found")

    confidence = advice_confidence(
        [payer_field, reference_field, date_field, total_field], lines, flags
    )
    readers = {page.reader for page in pages}
    return ExtractedAdvice(
        payer=payer_field,
        payment_reference=reference_field,
        payment_date=payment_date,
        payment_date_field=date_field,
        currency=currency,
        total=total,
        total_field=total_field,
        lines=tuple(lines),
        pages=len(pages) + len(unread),
        reader=readers.pop() if len(readers) == 1 else "mixed",
        flags=tuple(flags),
        confidence=confidence,
    )

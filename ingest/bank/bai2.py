"""BAI2 (version 2) balance and transaction reports into normalised statements, one per account.

BTRS files (ANSI X9.121, version 3 in the file header) keep BAI2's records and are read alike.

The ``bai2`` package is the reference reader: it reads the record structure and checks the
49/98/99 control totals and record counts. Its generic record models cost more than the rest of
the parse, so a plain file (known codes, whole-number fields, no distributed availability) is
first read by a lean twin that makes the same checks; anything else, and every refusal, goes
through the package so that messages and lines stay its own. A report whose ledger balances are
both given must also satisfy opening (010) + credits - debits == closing (015). BAI2 writes amounts as whole minor units of the currency (the
decimals are implied), so they are integers from the start. A detail record carries no payer
field: its free text (remittance and often the originator's name) is ``remittance_text``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, NamedTuple, TypeVar

from bai2.constants import (
    FundsType,
    RecordCode,
    TypeCode,
    TypeCodeLevel,
    TypeCodes,
    TypeCodeTransaction,
)
from bai2.exceptions import IntegrityException
from bai2.helpers import IteratorHelper
from bai2.models import Bai2File, Record, TransactionDetail
from bai2.parsers import Bai2FileParser
from bai2.utils import parse_date, parse_time

from ingest.statements import BankTransaction, ParsedFile, ParsedStatement, untied
from ingest.statements import difference as difference  # re-exported: callers read gaps here
from ledger.currencies import is_known
from ledger.errors import ParseError, UnbalancedStatement
from ledger.money import Money

DEFAULT_CURRENCY = "USD"
"""What BAI2 assumes when neither the group (02) nor the account (03) names a currency."""

DEFAULT_RECORD_LENGTH = 80
"""Physical record length when the file header (01) leaves it blank."""

_OPENING_LEDGER = "010"
_CLOSING_LEDGER = "015"
_RECORD_CODES = {code.value for code in RecordCode}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UNSIGNED = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"[+-]?[0-9]+")
# Fields of a summary (03) or detail (16) that follow its funds type, by funds type.
_AVAILABILITY_FIELDS = {"S": 3, "V": 2}
_TRAILER_OF = {"Account": "49", "Group": "98", "Bai2File": "99"}


def _register_bank_defined_codes() -> None:
    """BAI2 leaves type codes 900-999 to each bank: 900-919 account status, 920-959 credits,
    960-999 debits. Those the standard list does not name are taken by their range, so a
    bank's own code books its money the right way instead of refusing the file."""
    for number in range(900, 1000):
        code = str(number)
        if code in TypeCodes:
            continue
        if number < 920:
            TypeCodes[code] = TypeCode(code, None, TypeCodeLevel.status, "Bank-defined status")
        else:
            credit = number < 960
            TypeCodes[code] = TypeCode(
                code,
                TypeCodeTransaction.credit if credit else TypeCodeTransaction.debit,
                TypeCodeLevel.detail,
                f"Bank-defined {'credit' if credit else 'debit'}",
            )


_register_bank_defined_codes()


class _Truncated(Exception):
    """The records ran out inside a section: the bai2 reader would otherwise spin forever."""


class _RecordingHelper(IteratorHelper):
    """The bai2 record iterator, keeping every record it hands out (for lines and raw fields).

    The reader swallows the end of input and asks again, which loops for ever on a file cut
    inside an account; a second request past the end is therefore an error.
    """

    def __init__(self, lines: list[str]) -> None:
        self.records: list[Record] = []
        self.sizes: list[int] = []
        self.exhausted = False
        super().__init__(lines)

    def advance(self) -> None:
        if self.exhausted:
            raise _Truncated
        try:
            super().advance()
        except StopIteration:
            self.exhausted = True
            raise
        record = self.current_record
        if record.code == RecordCode.account_identifier:
            if len(record.rows) > 1:
                # The reader glues a type code ending a row to the amount continuing it.
                record.fields = _account_fields([text for _, text in record.rows])
            _zero_blank_summaries(record.fields)
        elif record.code == RecordCode.transaction_detail:
            _zero_blank_availability(record.fields, 2)
        elif record.code == RecordCode.file_header and record.fields[7:8] == ["3"]:
            record.fields[7] = "2"  # BTRS keeps BAI2's records; the reader knows version 2 only
        self.records.append(record)
        # Counted now: the reader's section models later extend their header's row list.
        self.sizes.append(len(self.current_record.rows))


@dataclass(frozen=True, slots=True)
class _Read:
    statement: ParsedStatement
    line: int


def parse_bai2(data: bytes, *, source: str = "") -> ParsedFile:
    """Every account section of a BAI2 file, control totals and ledger balances tied out.

    Raises :class:`ParseError` (with the line) for input that is not well-formed BAI2 and
    :class:`UnbalancedStatement` when a control total, a record count or the ledger balances do
    not tie.
    """
    read, details = _read(data, source)
    for item in read:
        _tie_out(item, source)
    return ParsedFile("bai2", tuple(r.statement for r in read), details)


def read_bai2(data: bytes, *, source: str = "") -> ParsedFile:
    """The accounts as the bank reported them, control totals checked but balances not tied.

    For looking into a file that :func:`parse_bai2` refused; ingestion uses :func:`parse_bai2`.
    """
    read, details = _read(data, source)
    return ParsedFile("bai2", tuple(r.statement for r in read), details)


def _tie_out(item: _Read, source: str) -> None:
    statement = item.statement
    found = untied(statement)
    if found is None:
        return
    booked, gap = found
    assert statement.opening_balance is not None and statement.closing_balance is not None
    raise UnbalancedStatement(
        f"account {statement.account!r} as of {statement.to_date}: opening ledger (010) "
        f"{statement.opening_balance} + {len(statement.transactions)} detail(s) netting {booked} "
        f"= {statement.opening_balance + booked}, but the closing ledger (015) is "
        f"{statement.closing_balance} (difference {gap}); details are missing or altered, ask "
        "the bank for a complete report",
        source=source,
        line=item.line,
    )


# -- reading -----------------------------------------------------------------------------------


def _lines(data: bytes, source: str) -> tuple[list[str], list[int]]:
    """Non-blank physical lines (stripped, as the bai2 reader takes them) and their numbers."""
    if not isinstance(data, bytes | bytearray):
        raise ParseError(f"expected bytes, got {type(data).__name__}", source=source)
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        # BAI2 is ASCII; a stray byte from another code page should not lose the whole file.
        text = bytes(data).decode("latin-1")
    text = text.removeprefix("\ufeff")
    lines: list[str] = []
    numbers: list[int] = []
    # One scan of the whole text spares the per-line search in the usual clean file.
    may_have_control = _CONTROL.search(text) is not None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        control = _CONTROL.search(line) if may_have_control else None
        if control:
            raise ParseError(
                f"control character 0x{ord(control.group()):02x}: this is not BAI2 text (binary "
                "data, or another encoding such as UTF-16)",
                source=source,
                line=number,
            )
        if line[:2] not in _RECORD_CODES or line[2:3] not in (",", ""):
            raise ParseError(
                f"{line[:20]!r} does not start with a BAI2 record code (01, 02, 03, 16, 49, 88, "
                "98, 99) and a comma",
                source=source,
                line=number,
            )
        lines.append(line)
        numbers.append(number)
    if not lines:
        raise ParseError("the file is empty", source=source)
    if not lines[0].startswith("01,"):
        raise ParseError(
            "a BAI2 file starts with a file header (01)", source=source, line=numbers[0]
        )
    return lines, numbers


def _record_lines(sizes: list[int], numbers: list[int]) -> list[int]:
    """The physical line each record starts on, from the number of rows of each."""
    starts = []
    position = 0
    for size in sizes:
        starts.append(numbers[position] if position < len(numbers) else numbers[-1])
        position += size
    return starts


def _read(data: bytes, source: str) -> tuple[list[_Read], dict[str, Any]]:
    lines, numbers = _lines(data, source)
    try:
        return _read_plain(lines, numbers, source)
    except _Unusual:
        return _read_with_library(lines, numbers, source)


def _read_with_library(
    lines: list[str], numbers: list[int], source: str
) -> tuple[list[_Read], dict[str, Any]]:
    helper: _RecordingHelper | None = None
    try:
        # bai2.parse_from_string, but with an iterator that knows lines and cannot spin forever.
        helper = _RecordingHelper(lines)
        parsed: Bai2File = Bai2FileParser(helper, check_integrity=True).parse()
    except IntegrityException as exc:
        assert helper is not None
        raise _integrity_error(exc, helper, numbers, source) from None
    except _Truncated:
        raise ParseError(
            "the file ends inside a group or account: trailer records (49/98/99) are missing; "
            "the file may be truncated",
            source=source,
            line=numbers[-1],
        ) from None
    except Exception as exc:  # the bai2 reader raises ValueError, KeyError, RuntimeError...
        line = numbers[0]
        if helper is not None and helper.records:
            line = _record_lines(helper.sizes, numbers)[-1]
        raise ParseError(
            f"not a valid BAI2 file ({type(exc).__name__}: {exc})", source=source, line=line
        ) from None
    records = helper.records
    starts = _record_lines(helper.sizes, numbers)
    if records[-1].code != RecordCode.file_trailer:
        trailer = next(i for i, r in enumerate(records) if r.code == RecordCode.file_trailer)
        raise ParseError(
            "data after the file trailer (99)", source=source, line=starts[trailer + 1]
        )
    line_of = {
        id(record.rows): (record, line) for record, line in zip(records, starts, strict=True)
    }
    header = parsed.header
    length = _record_length(header.physical_record_length)
    informational: list[dict[str, Any]] = []
    read: list[_Read] = []
    for group in parsed.children:
        as_of: date | None = group.header.as_of_date
        group_currency = group.header.currency or DEFAULT_CURRENCY
        for account in group.children:
            identifier = account.header
            record, line = line_of[id(identifier.rows)]
            head = _account_head(
                identifier.customer_account_number or "",
                identifier.currency or group_currency,
                line,
                record.fields,
                source,
            )
            transactions: list[BankTransaction] = []
            for detail in account.children:
                _book(
                    _transaction(
                        _library_detail(detail, as_of, length, line_of, source), head, as_of, source
                    ),
                    transactions,
                    informational,
                )
            read.append(_account_statement(head, transactions, as_of))
    created = header.creation_date
    details = _file_details(
        header.sender_id, header.receiver_id, header.file_id, created, header.creation_time
    )
    if informational:
        details["informational"] = informational
    return read, details


def _library_detail(
    detail: TransactionDetail,
    as_of: date | None,
    length: int,
    line_of: dict[int, tuple[Record, int]],
    source: str,
) -> _Detail:
    _, line = line_of[id(detail.rows)]
    if detail.type_code is None:
        raise ParseError("transaction detail (16) without a type code", source=source, line=line)
    fields = _joined([rest for _, rest in detail.rows], length).split(",")
    funds = fields[2] if len(fields) > 2 else ""
    head = 3
    if funds == "D":
        head += 1 + 2 * len(detail.availability or {})
    else:
        head += _AVAILABILITY_FIELDS.get(funds, 0)
    value_date = as_of
    if detail.funds_type == FundsType.value_dated and detail.availability:
        value_date = detail.availability.get("date") or as_of
    return _Detail(fields, detail.type_code.code, head, value_date, line)


def _record_length(declared: int | None) -> int:
    length = declared or DEFAULT_RECORD_LENGTH
    return DEFAULT_RECORD_LENGTH if length <= 3 else length


def _file_details(
    sender_id: str | None,
    receiver_id: str | None,
    file_id: str | None,
    created: date | None,
    created_time: time | None,
) -> dict[str, Any]:
    return {
        "sender_id": sender_id or "",
        "receiver_id": receiver_id or "",
        "file_id": file_id or "",
        "created": (
            datetime.combine(created, created_time).isoformat()
            if created and created_time
            else (created.isoformat() if created else "")
        ),
    }


def _integrity_error(
    exc: IntegrityException, helper: _RecordingHelper, numbers: list[int], source: str
) -> UnbalancedStatement:
    records = helper.records
    message = str(exc)
    kind = next((k for k in _TRAILER_OF if f"for {k}." in message), "Bai2File")
    trailer_code = _TRAILER_OF[kind]
    starts = _record_lines(helper.sizes, numbers)
    index = next(
        (i for i in range(len(records) - 1, -1, -1) if records[i].code.value == trailer_code),
        len(records) - 1,
    )
    where = {"Account": "account", "Group": "group", "Bai2File": "file"}[kind]
    if kind == "Account":
        identifier = next(
            (r for r in reversed(records[:index]) if r.code == RecordCode.account_identifier),
            None,
        )
        if identifier is not None and identifier.fields:
            where = f"account {identifier.fields[0]!r}"
    numbers_found = re.findall(r"expected (-?\d+), found (-?\d+)", message)
    gap = ""
    if numbers_found:
        expected, found = (int(n) for n in numbers_found[0])
        gap = (
            f" (the trailer says {expected}, the records add up to {found}: difference "
            f"{expected - found})"
        )
    return UnbalancedStatement(
        f"{where}: {message.split(' for ')[0].lower()}{gap}; the file is incomplete or altered",
        source=source,
        line=starts[index] if starts else None,
    )


def _amount_text(value: str, pattern: re.Pattern[str], what: str, line: int, source: str) -> int:
    if not pattern.fullmatch(value):
        raise ParseError(
            f"{what} {value!r} is not a whole number of minor units", source=source, line=line
        )
    return int(value)


def _summary_amounts(record_fields: list[str], line: int, source: str) -> dict[str, int]:
    """Raw, checked amounts of an account record's summaries, by type code."""
    fields = record_fields[2:]
    amounts: dict[str, int] = {}
    index = 0
    while index + 1 < len(fields):
        code, amount = fields[index], fields[index + 1]
        funds = fields[index + 3] if index + 3 < len(fields) else ""
        if amount:
            amounts.setdefault(code, _amount_text(amount, _SIGNED, f"{code} amount", line, source))
        index += 4
        if funds == "D":
            count = fields[index] if index < len(fields) else "0"
            index += 1 + 2 * (int(count) if count.isdigit() else 0)
        else:
            index += _AVAILABILITY_FIELDS.get(funds, 0)
    return amounts


class _Detail(NamedTuple):
    """A transaction detail (16) as read: its fields with continuations joined back, its type
    code, where its references start (after the funds type and availability), its value date.
    (A named tuple: a file has one per transaction, and it is made ten times faster.)"""

    fields: list[str]
    code: str
    head: int
    value_date: date | None
    line: int


class _AccountHead(NamedTuple):
    """An account record (03): number, currency, ledger balances (minor units), line."""

    number: str
    currency: str
    opening: int | None
    closing: int | None
    line: int


def _account_head(
    account_number: str, currency_code: str, line: int, record_fields: list[str], source: str
) -> _AccountHead:
    number = account_number.strip()
    if not number:
        raise ParseError("account record (03) without an account number", source=source, line=line)
    currency = currency_code.strip().upper()
    if not is_known(currency):
        raise ParseError(f"unknown currency {currency!r}", source=source, line=line)
    amounts = _summary_amounts(record_fields, line, source)
    return _AccountHead(
        number, currency, amounts.get(_OPENING_LEDGER), amounts.get(_CLOSING_LEDGER), line
    )


def _account_statement(
    head: _AccountHead, transactions: list[BankTransaction], as_of: date | None
) -> _Read:
    currency = head.currency
    statement = ParsedStatement(
        account=head.number,
        currency=currency,
        statement_id="",
        transactions=tuple(transactions),
        opening_balance=Money(head.opening, currency) if head.opening is not None else None,
        closing_balance=Money(head.closing, currency) if head.closing is not None else None,
        from_date=as_of,
        to_date=as_of,
    )
    return _Read(statement, head.line)


def _book(
    item: BankTransaction | dict[str, Any],
    transactions: list[BankTransaction],
    informational: list[dict[str, Any]],
) -> None:
    if isinstance(item, BankTransaction):
        transactions.append(item)
    else:
        informational.append(item)


def _joined(rows: list[str], length: int) -> str:
    """A record's rows (each without its record code) joined back into one logical record.

    A row ending in '/' ends a field. A text row runs on into its continuation (88): directly
    when the physical line was full (the bank cut a word, as 'CLIE'/'NT' in real files), with a
    space otherwise. The bai2 reader always puts a space, which splits words.
    """
    out = ""
    last = len(rows) - 1
    for index, rest in enumerate(rows):
        if rest.endswith("/"):
            out += rest[:-1] + ("" if index == last else ",")
        else:
            full = 3 + len(rest) >= length  # 'NN,' and the rest
            out += rest + ("" if index == last or full else " ")
    return out


def _transaction(
    detail: _Detail, head: _AccountHead, as_of: date | None, source: str
) -> BankTransaction | dict[str, Any]:
    """The booked transaction a detail reports, or what a status-only detail says."""
    fields, code, at, line = detail.fields, detail.code, detail.head, detail.line
    amount = _amount_text(fields[1] if len(fields) > 1 else "", _UNSIGNED, "amount", line, source)
    bank_reference = fields[at].strip() if len(fields) > at else ""
    customer_reference = fields[at + 1].strip() if len(fields) > at + 1 else ""
    text = " ".join(",".join(fields[at + 2 :]).split())
    direction = TypeCodes[code].transaction
    if direction not in (TypeCodeTransaction.credit, TypeCodeTransaction.debit):
        # Status and non-monetary codes (890, float 906/907) report, they do not book money.
        return {
            "line": line,
            "account": head.number,
            "type_code": code,
            "amount": amount,
            "text": text,
        }
    sign = 1 if direction == TypeCodeTransaction.credit else -1
    return BankTransaction(
        account=head.number,
        amount=Money(sign * amount, head.currency),
        booking_date=as_of,
        value_date=detail.value_date,
        bank_reference=bank_reference,
        customer_reference=customer_reference,
        remittance_text=text,
        type_code=code,
        line=line,
    )


# -- the plain path: a lean twin of the bai2 reader ----------------------------------------------


class _Unusual(Exception):
    """The file holds something the plain path leaves to the bai2 reader (or is refused)."""


_T = TypeVar("_T")
_PLAIN_FUNDS = {"", "Z", "0", "1", "2"}
_GROUP_CODES = {"", "1", "2", "3", "4"}  # group status and as-of-date modifier


def _plain_value(read: Callable[[str], _T], value: str) -> _T:
    try:
        return read(value)
    except ValueError:
        raise _Unusual from None


@functools.lru_cache(maxsize=1024)
def _plain_date(value: str) -> date:
    """The bai2 reader's date (YYMMDD); a file repeats a few dates on every line."""
    return _plain_value(parse_date, value)


@functools.lru_cache(maxsize=1024)
def _plain_time(value: str) -> time:
    return _plain_value(parse_time, value)


def _whole(value: str) -> int:
    """A count or total as the reader reads it, for the plain digits it reads the same way."""
    if not _SIGNED.fullmatch(value):
        raise _Unusual
    return int(value)


def _total(value: str) -> int:
    """A trailer control total: the reader counts a blank one as zero."""
    return _whole(value) if value else 0


def _generic_fields(rows: list[str]) -> list[str]:
    """The bai2 reader's fields of a record: a row not ending a field runs on after a space."""
    if len(rows) == 1:
        row = rows[0]
        return (row[:-1] if row.endswith("/") else row).split(",")
    out = ""
    for row in rows:
        if row:
            out += row[:-1] + "," if row[-1] == "/" else row + " "
    return out[:-1].split(",")


def _account_fields(rows: list[str]) -> list[str]:
    """The fields of an account record (03) and its continuations (88).

    A row that ends in '/' ends its last field, so the next row starts a new one (the
    specification's own example continues right after a type code: '...,190/' then
    '88,500000,...'). A row that ends a summary with its comma before the '/' ('...,,,/')
    already ended it; its summaries come in fours, and some banks write that comma, others
    do not. A row cut with no '/' runs on into the next.
    """
    out = ""
    for index, row in enumerate(rows):
        commas = row.count(",") - (2 if index == 0 else 0)
        if row:
            if row[-1] == "/":
                body = row[:-1]
                out += body + ("," if commas % 4 or not body.endswith(",") else "")
            else:
                out += row
    return out.split(",")


def _availability(fields: list[str], at: int) -> tuple[int, date | None]:
    """Fields taken by the availability after a funds type at ``at``, and a value date."""
    funds = fields[at] if at < len(fields) else ""
    if funds in _PLAIN_FUNDS:
        return 0, None
    if funds == "S":
        if len(fields) < at + 4:
            raise _Unusual
        for value in fields[at + 1 : at + 4]:
            _whole(value)
        return 3, None
    if funds == "V":
        if len(fields) < at + 3:
            raise _Unusual
        on, clock = fields[at + 1], fields[at + 2]
        if clock:
            _plain_time(clock)
        return 2, _plain_date(on) if on else None
    raise _Unusual  # distributed availability (D) and anything unknown


def _zero_blank_availability(fields: list[str], at: int) -> int:
    """Writes '0' for a blank availability amount after the funds type at ``at`` (the
    specification's own example leaves immediate availability blank: 'S,,200000,300000'), which
    the reader cannot turn into a number; returns the fields the availability takes."""
    funds = fields[at] if at < len(fields) else ""
    if funds == "S":
        amounts = range(at + 1, min(at + 4, len(fields)))
    elif funds == "D":
        if at + 1 < len(fields) and not fields[at + 1]:
            fields[at + 1] = "0"
        count = int(fields[at + 1]) if at + 1 < len(fields) and fields[at + 1].isdigit() else 0
        amounts = range(at + 3, min(at + 2 + 2 * count, len(fields)), 2)
    else:
        return _AVAILABILITY_FIELDS.get(funds, 0)
    for index in amounts:
        if not fields[index]:
            fields[index] = "0"
    return _AVAILABILITY_FIELDS["S"] if funds == "S" else 1 + 2 * count


def _zero_blank_summaries(fields: list[str]) -> None:
    """:func:`_zero_blank_availability` for each summary of an account record (03): type
    code, amount, item count, funds type and the availability that follows it."""
    index = 2
    while index + 3 < len(fields):
        index += 4 + _zero_blank_availability(fields, index + 3)


def _summaries_total(fields: list[str]) -> int:
    """The control-total share of an account record's summaries, read as the reader reads them."""
    if len(fields) < 2:
        raise _Unusual
    total = 0
    index, end = 2, len(fields)
    while index < end:
        if index == end - 1 and not fields[index]:
            break  # the empty last field some exports add
        if end - index < 4:
            raise _Unusual
        code, amount, count = fields[index], fields[index + 1], fields[index + 2]
        if code and code not in TypeCodes:
            raise _Unusual
        if count:
            _whole(count)
        total += _total(amount)
        taken, _ = _availability(fields, index + 3)
        index += 4 + taken
    return total


def _plain_detail(rows: list[str], line: int, length: int, as_of: date | None) -> _Detail:
    generic = _generic_fields(rows)
    ended_early = rows[-1].rstrip().endswith("/")
    if len(generic) == 2 and ended_early and len(rows) == 1:
        generic = [*generic, ""]  # '16,165,50000/': no funds type either
    if len(generic) < 3:
        raise _Unusual
    code, amount = generic[0], generic[1]
    if code not in TypeCodes or not _UNSIGNED.fullmatch(amount):
        raise _Unusual
    taken, value_date = _availability(generic, 2)
    head = 3 + taken
    fields = generic if len(rows) == 1 else _joined(rows, length).split(",")
    if len(generic) < head + 2:
        if not ended_early or len(fields) > len(generic):
            raise _Unusual
        # '16,165,50000,Z/': the '/' ends the record early; the references and text it leaves
        # out are blank.
        generic = fields = generic + [""] * (head + 2 - len(generic))
    if fields[:head] != generic[:head]:
        raise _Unusual  # a continuation cut inside the amount or availability
    return _Detail(fields, code, head, value_date or as_of, line)


def _plain_records(lines: list[str], numbers: list[int]) -> Iterator[tuple[str, list[str], int]]:
    """Logical records: code, rows (a record's row and its continuations, without the code),
    first line."""
    code, rows, start = "", list[str](), 0
    for text, number in zip(lines, numbers, strict=True):
        if text[:2] == "88":
            if not rows:
                raise _Unusual
            rows.append(text[3:])
            continue
        if rows:
            yield code, rows, start
        code, rows, start = text[:2], [text[3:]], number
    if rows:
        yield code, rows, start


_END: tuple[str, list[str], int] = ("", [], 0)


@dataclass(slots=True)
class _Section:
    """Running counts of a group or the file, as its trailer must state them: physical records,
    control total, and the accounts or groups in it."""

    rows: int
    total: int = 0
    sections: int = 0

    def add(self, rows: int, total: int) -> None:
        self.rows += rows
        self.total += total
        self.sections += 1


def _trailer(
    code: str, rows: list[str], expected: str, total: int, records: int, sections: int | None = None
) -> None:
    """A trailer (49, 98 or 99) that agrees with its section: control total, the number of
    groups or accounts it holds (none for an account) and of physical records."""
    fields = _generic_fields(rows) if code == expected else []
    counts = [records] if sections is None else [sections, records]
    if sections == 0 or len(fields) < 1 + len(counts) or _total(fields[0]) != total:
        raise _Unusual
    if [_whole(value) for value in fields[1 : 1 + len(counts)]] != counts:
        raise _Unusual


def _read_plain(
    lines: list[str], numbers: list[int], source: str
) -> tuple[list[_Read], dict[str, Any]]:
    """The file as the bai2 reader reads it, with its record counts and control totals checked
    the same way, in one pass; raises :class:`_Unusual` for anything it leaves to the reader,
    including every refusal, so that the reader's checks come first as they always did."""
    records = _plain_records(lines, numbers)
    _, rows, _ = next(records)  # the file header (01), as _lines made sure
    header = _generic_fields(rows)
    if len(header) < 8 or header[7] not in ("2", "3"):  # BTRS (version 3) keeps the layout
        raise _Unusual
    created = _plain_date(header[2]) if header[2] else None
    created_time = _plain_time(header[3]) if header[3] else None
    length = _record_length(_whole(header[5]) if header[5] else None)
    if header[6]:
        _whole(header[6])
    whole_file = _Section(len(rows))
    read: list[_Read] = []
    informational: list[dict[str, Any]] = []
    code, rows, line = next(records, _END)
    while code == "02":
        fields = _generic_fields(rows)
        if len(fields) < 7 or fields[2] not in _GROUP_CODES or fields[6] not in _GROUP_CODES:
            raise _Unusual
        if fields[4]:
            _plain_time(fields[4])
        as_of = _plain_date(fields[3]) if fields[3] else None
        group_currency = fields[5] or DEFAULT_CURRENCY
        group = _Section(len(rows))
        code, rows, line = next(records, _END)
        while code == "03":
            fields = _account_fields(rows)
            account_total = _summaries_total(fields)
            account_rows = len(rows)
            try:
                head = _account_head(fields[0], fields[1] or group_currency, line, fields, source)
            except ParseError:
                raise _Unusual from None
            transactions: list[BankTransaction] = []
            code, rows, line = next(records, _END)
            while code == "16":
                detail = _plain_detail(rows, line, length, as_of)
                account_total += int(detail.fields[1])
                account_rows += len(rows)
                _book(_transaction(detail, head, as_of, source), transactions, informational)
                code, rows, line = next(records, _END)
            account_rows += len(rows)
            _trailer(code, rows, "49", account_total, account_rows)
            read.append(_account_statement(head, transactions, as_of))
            group.add(account_rows, account_total)
            code, rows, line = next(records, _END)
        group.rows += len(rows)
        _trailer(code, rows, "98", group.total, group.rows, group.sections)
        whole_file.add(group.rows, group.total)
        code, rows, line = next(records, _END)
    whole_file.rows += len(rows)
    _trailer(code, rows, "99", whole_file.total, whole_file.rows, whole_file.sections)
    if next(records, None) is not None:
        raise _Unusual  # data after the file trailer
    about = _file_details(header[0], header[1], header[4], created, created_time)
    if informational:
        about["informational"] = informational
    return read, about

"""BAI2 (version 2) balance and transaction reports into normalised statements, one per account.

The ``bai2`` package reads the record structure and checks the 49/98/99 control totals and
record counts; a report whose ledger balances are both given must also satisfy opening (010) +
credits - debits == closing (015). BAI2 writes amounts as whole minor units of the currency (the
decimals are implied), so they are integers from the start. A detail record carries no payer
field: its free text (remittance and often the originator's name) is ``remittance_text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bai2.constants import FundsType, RecordCode, TypeCodeTransaction
from bai2.exceptions import IntegrityException
from bai2.helpers import IteratorHelper
from bai2.models import Account, Bai2File, Record, TransactionDetail
from bai2.parsers import Bai2FileParser

from ingest.statements import BankTransaction, ParsedFile, ParsedStatement, difference
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
        self.records.append(self.current_record)
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
    gap = difference(statement)
    if gap is None or gap.minor == 0:
        return
    assert statement.opening_balance is not None and statement.closing_balance is not None
    booked = Money(sum(t.amount.minor for t in statement.transactions), statement.currency)
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
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        control = _CONTROL.search(line)
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
    length = header.physical_record_length or DEFAULT_RECORD_LENGTH
    if length <= 3:
        length = DEFAULT_RECORD_LENGTH
    informational: list[dict[str, Any]] = []
    read: list[_Read] = []
    for group in parsed.children:
        as_of: date | None = group.header.as_of_date
        group_currency = group.header.currency or DEFAULT_CURRENCY
        for account in group.children:
            read.append(
                _account(account, as_of, group_currency, length, line_of, informational, source)
            )
    created = header.creation_date
    details: dict[str, Any] = {
        "sender_id": header.sender_id or "",
        "receiver_id": header.receiver_id or "",
        "file_id": header.file_id or "",
        "created": (
            datetime.combine(created, header.creation_time).isoformat()
            if created and header.creation_time
            else (created.isoformat() if created else "")
        ),
    }
    if informational:
        details["informational"] = informational
    return read, details


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


def _summary_amounts(record: Record, line: int, source: str) -> dict[str, int]:
    """Raw, checked amounts of an account record's summaries, by type code."""
    fields = record.fields[2:]
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


def _account(
    account: Account,
    as_of: date | None,
    group_currency: str,
    length: int,
    line_of: dict[int, tuple[Record, int]],
    informational: list[dict[str, Any]],
    source: str,
) -> _Read:
    header = account.header
    record, line = line_of[id(header.rows)]
    number = (header.customer_account_number or "").strip()
    if not number:
        raise ParseError("account record (03) without an account number", source=source, line=line)
    currency = (header.currency or group_currency).strip().upper()
    if not is_known(currency):
        raise ParseError(f"unknown currency {currency!r}", source=source, line=line)
    amounts = _summary_amounts(record, line, source)
    opening = amounts.get(_OPENING_LEDGER)
    closing = amounts.get(_CLOSING_LEDGER)
    transactions = []
    for detail in account.children:
        transaction = _detail(detail, number, currency, as_of, length, line_of, source)
        if isinstance(transaction, BankTransaction):
            transactions.append(transaction)
        else:
            informational.append(transaction)
    statement = ParsedStatement(
        account=number,
        currency=currency,
        statement_id="",
        transactions=tuple(transactions),
        opening_balance=Money(opening, currency) if opening is not None else None,
        closing_balance=Money(closing, currency) if closing is not None else None,
        from_date=as_of,
        to_date=as_of,
    )
    return _Read(statement, line)


def _joined(rows: list[tuple[Any, str]], length: int) -> str:
    """A record's rows joined back into one logical record.

    A row ending in '/' ends a field. A text row runs on into its continuation (88): directly
    when the physical line was full (the bank cut a word, as 'CLIE'/'NT' in real files), with a
    space otherwise. The bai2 reader always puts a space, which splits words.
    """
    out = ""
    for index, (code, rest) in enumerate(rows):
        last = index == len(rows) - 1
        if rest.endswith("/"):
            out += rest[:-1] + ("" if last else ",")
        else:
            full = len(code.value) + 1 + len(rest) >= length
            out += rest + ("" if last or full else " ")
    return out


def _detail(
    detail: TransactionDetail,
    account: str,
    currency: str,
    as_of: date | None,
    length: int,
    line_of: dict[int, tuple[Record, int]],
    source: str,
) -> BankTransaction | dict[str, Any]:
    _, line = line_of[id(detail.rows)]
    fields = _joined(detail.rows, length).split(",")
    code = detail.type_code.code
    amount = _amount_text(fields[1] if len(fields) > 1 else "", _UNSIGNED, "amount", line, source)
    funds = fields[2] if len(fields) > 2 else ""
    head = 3
    if funds == "D":
        head += 1 + 2 * len(detail.availability or {})
    else:
        head += _AVAILABILITY_FIELDS.get(funds, 0)
    bank_reference = fields[head].strip() if len(fields) > head else ""
    customer_reference = fields[head + 1].strip() if len(fields) > head + 1 else ""
    text = " ".join(",".join(fields[head + 2 :]).split())
    direction = detail.type_code.transaction
    if direction not in (TypeCodeTransaction.credit, TypeCodeTransaction.debit):
        # Status and non-monetary codes (890, float 906/907) report, they do not book money.
        return {"line": line, "account": account, "type_code": code, "amount": amount, "text": text}
    value_date = as_of
    if detail.funds_type == FundsType.value_dated and detail.availability:
        value_date = detail.availability.get("date") or as_of
    sign = 1 if direction == TypeCodeTransaction.credit else -1
    return BankTransaction(
        account=account,
        amount=Money(sign * amount, currency),
        booking_date=as_of,
        value_date=value_date,
        bank_reference=bank_reference,
        customer_reference=customer_reference,
        remittance_text=text,
        type_code=code,
        line=line,
    )

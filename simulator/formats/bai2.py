"""Writes simulator statements as a BAI2 (version 2) previous-day file, as US banks deliver them."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import date, datetime

from ledger.errors import InputError
from simulator.model import Statement, StatementLine

PHYSICAL_RECORD_LENGTH = 80
"""No physical line is longer than this; longer records continue on 88 records."""

_TEXT_ROOM_MIN = 12
"""Start a 16 record's text on its first line only if at least this much of it fits there."""

# Letters NFKD would only strip of their marks, where a spelled-out form is the convention.
_SPELLED_OUT = {
    "ä": "ae",
    "ö": "oe",
    "ü": "ue",
    "Ä": "Ae",
    "Ö": "Oe",
    "Ü": "Ue",
    "ß": "ss",
    "Æ": "AE",
    "æ": "ae",
    "Œ": "OE",
    "œ": "oe",
    "Ø": "O",
    "ø": "o",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
}
_TOTAL_CREDITS = "100"
_TOTAL_DEBITS = "400"
_OPENING_LEDGER = "010"
_CLOSING_LEDGER = "015"


def to_ascii(text: str) -> str:
    """Printable ASCII: Müller -> Mueller, José -> Jose, whitespace -> space, the rest dropped."""
    out: list[str] = []
    for char in text:
        if " " <= char <= "~":
            out.append(char)
        elif char in _SPELLED_OUT:
            out.append(_SPELLED_OUT[char])
        elif char.isspace():
            out.append(" ")
        else:
            decomposed = unicodedata.normalize("NFKD", char)
            out.append("".join(c for c in decomposed if " " <= c <= "~"))
    return "".join(out)


def write_bai2(
    statements: Sequence[Statement],
    *,
    sender_id: str,
    receiver_id: str,
    file_id: str,
    created_at: datetime,
) -> bytes:
    """One BAI2 file holding ``statements``, one group per (bank, as-of date).

    Amounts are unsigned minor units in detail and total records (the type code carries the
    direction); ledger balances are signed. Raises :class:`InputError` when a line's currency or
    type code does not fit its statement.
    """
    if not statements:
        raise InputError("a BAI2 file needs at least one statement")
    for statement in statements:
        _check(statement)

    groups: dict[tuple[str, date], list[Statement]] = {}
    for statement in statements:
        groups.setdefault((statement.account.bank_id, statement.to_date), []).append(statement)

    lines = [
        "01,"
        + ",".join(
            [
                _field(sender_id, "sender_id"),
                _field(receiver_id, "receiver_id"),
                created_at.strftime("%y%m%d"),
                created_at.strftime("%H%M"),
                _field(file_id, "file_id"),
                str(PHYSICAL_RECORD_LENGTH),
                "",
                "2",
            ]
        )
        + "/"
    ]
    file_total = 0
    for (bank_id, as_of), members in groups.items():
        group_lines, group_total = _group(members, bank_id, as_of, receiver_id)
        lines.extend(group_lines)
        file_total += group_total
    lines.append(f"99,{file_total},{len(groups)},{len(lines) + 1}/")
    return "".join(line + "\n" for line in lines).encode("ascii")


def _check(statement: Statement) -> None:
    for line in statement.lines:
        if line.currency != statement.account.currency:
            raise InputError(
                f"statement {statement.statement_id}: line {line.line_id} is in {line.currency}, "
                f"the account in {statement.account.currency}"
            )
        code = line.bai_type_code
        if not (len(code) == 3 and code.isdigit()):
            raise InputError(f"line {line.line_id}: BAI2 type code {code!r} is not three digits")
        # BAI2 reserves 100-399 for credits and 400-699 for debits; a mismatch would flip the sign.
        if line.amount_minor > 0 and not "100" <= code <= "399":
            raise InputError(f"line {line.line_id}: credit with debit type code {code}")
        if line.amount_minor < 0 and not "400" <= code <= "699":
            raise InputError(f"line {line.line_id}: debit with credit type code {code}")


def _group(
    statements: Sequence[Statement], bank_id: str, as_of: date, receiver_id: str
) -> tuple[list[str], int]:
    currencies = {statement.account.currency for statement in statements}
    # A group currency is only a default; with mixed accounts each 03 record names its own.
    group_currency = currencies.pop() if len(currencies) == 1 else ""
    lines = [
        f"02,{_field(receiver_id, 'receiver_id')},{_field(bank_id, 'bank_id')},1,"
        f"{as_of:%y%m%d},,{group_currency},2/"
    ]
    group_total = 0
    for statement in statements:
        account_lines, account_total = _account(statement)
        lines.extend(account_lines)
        group_total += account_total
    lines.append(f"98,{group_total},{len(statements)},{len(lines) + 1}/")
    return lines, group_total


def _account(statement: Statement) -> tuple[list[str], int]:
    credits = [line for line in statement.lines if line.amount_minor > 0]
    debits = [line for line in statement.lines if line.amount_minor < 0]
    summaries = [
        (_OPENING_LEDGER, statement.opening_balance_minor, ""),
        (_CLOSING_LEDGER, statement.closing_balance_minor, ""),
        (_TOTAL_CREDITS, statement.credits_minor, str(len(credits))),
        (_TOTAL_DEBITS, statement.debits_minor, str(len(debits))),
    ]
    # Each summary is type code, amount, item count and an empty funds type; a physical line
    # only ever ends after a whole summary, which is where the bai2 reader expects a break.
    pieces = [f"{code},{amount},{count}," for code, amount, count in summaries]
    account_id = _field(statement.account.account_id, "account_id")
    lines: list[str] = []
    current = f"03,{account_id},{statement.account.currency}"
    for index, piece in enumerate(pieces):
        if index and len(current) + 1 + len(piece) + 1 > PHYSICAL_RECORD_LENGTH:
            lines.append(current + "/")
            current = "88," + piece
        else:
            current += "," + piece
    lines.append(current + "/")

    control_total = sum(amount for _, amount, _ in summaries)
    for line in statement.lines:
        lines.extend(_detail(line))
        control_total += abs(line.amount_minor)
    lines.append(f"49,{control_total},{len(lines) + 1}/")
    return lines, control_total


def _detail(line: StatementLine) -> list[str]:
    head = [
        line.bai_type_code,
        str(abs(line.amount_minor)),
        "Z",
        _reference(line.bank_reference),
        _reference(line.customer_reference),
    ]
    lines: list[str] = []
    current = "16"
    for field in head:
        # Keep one character for the '/' that tells the reader a field ends at the line break.
        if len(current) + 1 + len(field) + 1 > PHYSICAL_RECORD_LENGTH:
            lines.append(current + "/")
            current = "88"
        current += "," + field

    text = _text(line)
    if not text:
        if len(current) + 2 > PHYSICAL_RECORD_LENGTH:
            lines.append(current + "/")
            current = "88"
        lines.append(current + ",/")
        return lines

    room = PHYSICAL_RECORD_LENGTH - len(current) - 1
    if room >= _TEXT_ROOM_MIN:
        current += ","
    else:
        lines.append(current + "/")
        current = "88,"
        room = PHYSICAL_RECORD_LENGTH - len(current)
    first, *rest = _wrap(text, room, PHYSICAL_RECORD_LENGTH - 3)
    lines.append(current + first)
    lines.extend("88," + chunk for chunk in rest)
    return lines


def _text(line: StatementLine) -> str:
    """The free text of a 16 record: remittance text (or RF reference), then the payer's name."""
    remittance = line.remittance_text or line.creditor_reference
    words = to_ascii(" ".join(part for part in (remittance, line.payer_name) if part)).split()
    # A physical line ending in '/' reads as a field end, so the text never ends with one.
    return " ".join(words).rstrip("/ ")


def _wrap(text: str, first_width: int, width: int) -> list[str]:
    """Break ``text`` into chunks, at spaces where possible (the space is dropped).

    A reader joins chunks with a space unless a line is filled to the record length, which
    means a word was cut there and runs on.

    No chunk ends with '/', which a reader would take for the end of the record.
    """
    chunks: list[str] = []
    rest = text
    limit = first_width
    while rest:
        separator = ""
        if len(rest) <= limit:
            chunk, rest = rest, ""
        else:
            # Break before the last column: a line filled to the record length tells the reader
            # that a word runs on into the next record, so a break at a space must stay shorter.
            cut = rest.rfind(" ", 1, limit)
            if cut > 0:
                chunk, rest, separator = rest[:cut], rest[cut + 1 :], " "
            else:
                chunk, rest = rest[:limit], rest[limit:]
        stripped = chunk.rstrip("/")
        if stripped != chunk and stripped:
            rest = chunk[len(stripped) :] + separator + rest
            chunk = stripped
        elif not stripped:
            # A run of slashes longer than a line: keep it, but end the line on a safe character.
            chunk, rest = chunk[:-1] + "-", rest
        chunks.append(chunk)
        limit = width
    return chunks


def _field(value: str, name: str) -> str:
    if not value or "," in value or "/" in value or len(value) > 40 or to_ascii(value) != value:
        raise InputError(f"BAI2 {name} {value!r} must be 1-40 ASCII characters without ',' or '/'")
    return value


def _reference(value: str) -> str:
    """A bank or customer reference with the BAI2 delimiters ',' and '/' replaced by '-'."""
    return to_ascii(value).replace(",", "-").replace("/", "-").strip()[:30]

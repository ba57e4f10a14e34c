"""Writes simulator statements as SWIFT MT940 text, with Dutch-style or German-style :86: details."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from ledger.errors import InputError
from ledger.money import format_amount

# BAI2 and MT940 both need the same ASCII folding of names; it lives with the BAI2 writer.
from simulator.formats.bai2 import to_ascii
from simulator.model import Statement, StatementLine

DIALECTS = ("swift", "german")
"""How the :86: information to the account owner is structured."""

LINE_WIDTH = 65
"""SWIFT caps each line of a field at 65 characters."""

DETAIL_LINES = 6
"""...and :86: at six such lines."""

_X_CHARSET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ ")
_GERMAN_SUBFIELD = 27
_SEPA_REFERENCE = 35  # end-to-end and customer references are Max35Text in SEPA
_GERMAN_PURPOSE_SUBFIELDS = 10  # ?20 .. ?29
# A line of a field that starts with one of these would read as a new tag or the block end.
_UNSAFE_LINE_START = (":", "-")


def to_swift_x(text: str) -> str:
    """``text`` in the SWIFT X character set: Müller & Söhne -> Mueller + Soehne.

    Letters are folded as by :func:`to_ascii`, '&' becomes '+', anything else outside X is dropped.
    """
    return "".join(char for char in to_ascii(text.replace("&", "+")) if char in _X_CHARSET)


def write_mt940(statements: Sequence[Statement], *, dialect: str = "swift") -> bytes:
    """MT940 text for ``statements``, one block per statement, CRLF line ends, X charset.

    ``dialect`` chooses the :86: layout: "swift" (``/EREF/.../ORDP//NAME/.../IBAN/.../REMI/USTD//...``)
    or "german" (``166?00GUTSCHRIFT?20EREF+...?21SVWZ+...?32name``). Text that does not fit
    six lines of :86: is cut at the end of the remittance text.
    """
    if dialect not in DIALECTS:
        raise InputError(f"unknown MT940 dialect {dialect!r}: expected one of {DIALECTS}")
    if not statements:
        raise InputError("an MT940 file needs at least one statement")
    lines: list[str] = []
    for statement in statements:
        lines.extend(_statement(statement, dialect))
    return "".join(line + "\r\n" for line in lines).encode("ascii")


def _statement(statement: Statement, dialect: str) -> list[str]:
    account = statement.account
    currency = account.currency
    if not 0 <= statement.sequence <= 99999:
        raise InputError(
            f"statement {statement.statement_id}: sequence {statement.sequence} "
            "does not fit :28C: (5 digits)"
        )
    lines = [
        f":20:{_reference(statement.statement_id, 16) or 'NONREF'}",
        f":25:{to_swift_x(account.account_id).replace(' ', '')[:35]}",
        f":28C:{statement.sequence:05d}/001",
        f":60F:{_balance(statement.opening_balance_minor, statement.from_date, currency)}",
    ]
    for line in statement.lines:
        if line.currency != currency:
            raise InputError(
                f"statement {statement.statement_id}: line {line.line_id} is in "
                f"{line.currency}, the account in {currency}"
            )
        lines.append(":61:" + _statement_line(line))
        details = _german_details(line) if dialect == "german" else _swift_details(line)
        if details:
            first, *rest = details
            lines.append(":86:" + first)
            lines.extend(rest)
    closing = _balance(statement.closing_balance_minor, statement.to_date, currency)
    lines.append(f":62F:{closing}")
    # A simulated bank has no holds or float, so available equals booked.
    lines.append(f":64:{closing}")
    lines.append("-")
    return lines


def _amount(minor: int, currency: str) -> str:
    """Unsigned amount with the decimal comma SWIFT requires, also for JPY ('1234,')."""
    whole, _, fraction = format_amount(abs(minor), currency).partition(".")
    text = f"{whole},{fraction}"
    if len(text) > 15:
        raise InputError(f"amount {minor} {currency} does not fit the 15 characters MT940 allows")
    return text


def _balance(minor: int, on: date, currency: str) -> str:
    mark = "D" if minor < 0 else "C"
    return f"{mark}{on:%y%m%d}{currency}{_amount(minor, currency)}"


def _transaction_type(line: StatementLine) -> str:
    if line.channel == "fee":
        return "NCHG"
    if line.channel in ("check", "lockbox"):
        return "NCHK"
    if line.channel in ("ach", "wire", "sepa", "transfer"):
        return "NTRF"
    return "NMSC"


def _statement_line(line: StatementLine) -> str:
    mark = "D" if line.amount_minor < 0 else "C"
    customer = _reference(line.customer_reference, 16) or "NONREF"
    bank = _reference(line.bank_reference, 16)
    return (
        f"{line.value_date:%y%m%d}{line.booking_date:%m%d}{mark}"
        f"{_amount(line.amount_minor, line.currency)}{_transaction_type(line)}{customer}"
        + (f"//{bank}" if bank else "")
    )


def _reference(value: str, width: int) -> str:
    """A reference field: X charset, no spaces or '/' (a '//' would end it), at most ``width``."""
    return to_swift_x(value).replace(" ", "").replace("/", "-").strip("-")[:width]


def _remittance(line: StatementLine) -> str:
    return " ".join(to_swift_x(line.remittance_text or line.creditor_reference).split())


def _swift_details(line: StatementLine) -> list[str]:
    def value(text: str) -> str:
        # '/' separates the keywords, so it cannot appear inside a value.
        return " ".join(to_swift_x(text).replace("/", "-").split())

    def build(remittance_room: int) -> str:
        parts = [f"/EREF/{value(line.end_to_end_id)[:_SEPA_REFERENCE] or 'NOTPROVIDED'}"]
        if line.payer_name or line.payer_account:
            parts.append(f"/ORDP//NAME/{value(line.payer_name)}")
            if line.payer_account:
                parts.append(f"/IBAN/{value(line.payer_account).replace(' ', '')}")
        cut = remittance[:remittance_room].rstrip()
        if cut:
            parts.append(f"/REMI/USTD//{cut}")
        return "".join(parts) + "/"

    remittance = value(_remittance(line))
    return _fit(build, remittance)


def _german_details(line: StatementLine) -> list[str]:
    if line.amount_minor >= 0:
        code, posting = (
            ("070", "SCHECKEINREICHUNG") if line.channel == "check" else ("166", "GUTSCHRIFT")
        )
    elif line.channel == "fee":
        code, posting = "808", "GEBUEHREN"
    else:
        code, posting = "177", "UEBERWEISUNG"

    def value(text: str) -> str:
        # '?' opens the next subfield, so it cannot appear inside a value.
        return " ".join(to_swift_x(text).replace("?", "").split())

    def build(remittance_room: int) -> str:
        items = [f"EREF+{value(line.end_to_end_id)[:_SEPA_REFERENCE] or 'NOTPROVIDED'}"]
        # KREF repeats the :61: customer reference; it adds nothing when it is the EREF again.
        if line.customer_reference and line.customer_reference != line.end_to_end_id:
            items.append(f"KREF+{value(line.customer_reference)[:_SEPA_REFERENCE]}")
        cut = remittance[:remittance_room].rstrip()
        if cut:
            items.append(f"SVWZ+{cut}")
        purpose: list[str] = []
        for item in items:
            # Each keyword starts its own subfield; a long value runs on into the next ones.
            purpose.extend(
                item[start : start + _GERMAN_SUBFIELD]
                for start in range(0, len(item), _GERMAN_SUBFIELD)
            )
        parts = [f"{code}?00{posting}"]
        parts.extend(
            f"?{20 + index}{chunk}"
            for index, chunk in enumerate(purpose[:_GERMAN_PURPOSE_SUBFIELDS])
        )
        account = value(line.payer_account).replace(" ", "")
        if account:
            parts.append(f"?31{account[:34]}")
        name = value(line.payer_name)
        if name:
            parts.append(f"?32{name[:_GERMAN_SUBFIELD]}")
            if len(name) > _GERMAN_SUBFIELD:
                parts.append(f"?33{name[_GERMAN_SUBFIELD : 2 * _GERMAN_SUBFIELD]}")
        return "".join(parts)

    remittance = value(_remittance(line))
    return _fit(build, remittance)


def _fit(build: Callable[[int], str], remittance: str) -> list[str]:
    """Lines of ``build(room)`` with the most remittance text (``room`` characters) that fits."""
    room = len(remittance)
    while True:
        lines = _split_lines(build(room))
        if len(lines) <= DETAIL_LINES or room == 0:
            # The fixed parts are capped well below six lines, so nothing else is ever cut.
            return lines[:DETAIL_LINES]
        overflow = sum(len(text) for text in lines[DETAIL_LINES:])
        room = max(0, room - max(1, overflow))


def _split_lines(text: str) -> list[str]:
    """Lines of at most ``LINE_WIDTH`` characters, broken where no reader loses anything.

    A line never starts with ':' or '-' (it would read as a tag or the end of the block) and
    never ends with a space (readers strip trailing blanks, and the German layout joins lines
    without a separator). A German ``?NN`` subfield mark stays on one line.
    """
    lines: list[str] = []
    rest = text
    while rest:
        cut = min(LINE_WIDTH, len(rest))
        while 1 < cut < len(rest) and (
            rest[cut].startswith(_UNSAFE_LINE_START)
            or rest[cut - 1] == " "
            or "?" in rest[cut - 2 : cut]
        ):
            cut -= 1
        lines.append(rest[:cut])
        rest = rest[cut:]
    return lines

"""CSV bank statements read through a declared column mapping (a small profile per bank).

CSV exports differ per bank in delimiter, decimal mark, date format, and whether amounts are
signed or split into debit and credit columns. Nothing is guessed: a :class:`CsvProfile` says
which column is which, and a file whose header does not fit its profile is refused.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ingest.statements import BankTransaction, ParsedFile, ParsedStatement
from ledger.currencies import is_known
from ledger.errors import MoneyError, ParseError
from ledger.money import Money, parse_amount


@dataclass(frozen=True, slots=True)
class CsvProfile:
    """How one bank writes its CSV statements.

    Column entries name the header of that column ('' when the bank has none). Either
    ``amount`` (signed, credits positive) or both ``debit`` and ``credit`` (unsigned) must be
    given; or ``amount`` unsigned with a ``direction`` column whose values are listed in
    ``debit_marks`` and ``credit_marks`` (comma-separated: ING's 'Af'/'Bij', Knab's 'D'/'C').
    ``account`` and ``currency`` are used when the file carries no such column.
    ``skip_lines``: lines before the header (a bank's title line).
    """

    name: str
    date: str
    amount: str = ""
    debit: str = ""
    credit: str = ""
    value_date: str = ""
    currency: str = ""
    payer_name: str = ""
    payer_account: str = ""
    reference: str = ""
    remittance: str = ""
    delimiter: str = ","
    decimal_mark: str = "."
    date_format: str = "%Y-%m-%d"
    encoding: str = "utf-8"
    account: str = ""
    default_currency: str = ""
    direction: str = ""
    debit_marks: str = ""
    credit_marks: str = ""
    skip_lines: int = 0

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any], *, source: str = "profile") -> CsvProfile:
        """A profile from its plain-data form (JSON); unknown keys and bad values are errors."""
        known = set(cls.__dataclass_fields__)
        ignored = {"header", "signed_amount"}  # implied by the columns that are named
        unknown = set(mapping) - known - ignored
        if unknown:
            raise ParseError(f"unknown profile keys: {', '.join(sorted(unknown))}", source=source)
        values: dict[str, Any] = {
            k: ",".join(map(str, v)) if isinstance(v, list) else str(v)
            for k, v in mapping.items()
            if k in known and v is not None
        }
        if "name" not in values or "date" not in values:
            raise ParseError("a CSV profile needs 'name' and 'date'", source=source)
        skip = values.get("skip_lines", "0")
        if not (skip.isascii() and skip.isdigit()):
            raise ParseError(f"skip_lines must be a whole number, not {skip!r}", source=source)
        values["skip_lines"] = int(skip)
        profile = cls(**values)
        if profile.direction and not (
            profile.amount and profile.debit_marks.strip() and profile.credit_marks.strip()
        ):
            raise ParseError(
                "a 'direction' column needs 'amount' and the values that mark a debit and a "
                "credit ('debit_marks', 'credit_marks')",
                source=source,
            )
        if both := _marks(profile.debit_marks) & _marks(profile.credit_marks):
            raise ParseError(
                f"{', '.join(sorted(both))} marks both a debit and a credit", source=source
            )
        if not profile.amount and not (profile.debit and profile.credit):
            raise ParseError(
                "a CSV profile needs 'amount' or both 'debit' and 'credit'", source=source
            )
        if profile.decimal_mark not in (".", ","):
            raise ParseError(
                f"decimal_mark must be '.' or ',', not {profile.decimal_mark!r}", source=source
            )
        if len(profile.delimiter) != 1:
            raise ParseError(
                f"delimiter must be one character, not {profile.delimiter!r}", source=source
            )
        if not profile.currency and not is_known(profile.default_currency):
            raise ParseError(
                "a CSV profile needs a 'currency' column or a known 'default_currency'",
                source=source,
            )
        return profile

    @property
    def required_columns(self) -> tuple[str, ...]:
        named = (
            self.date,
            self.amount,
            self.debit,
            self.credit,
            self.value_date,
            self.currency,
            self.payer_name,
            self.payer_account,
            self.reference,
            self.remittance,
            self.direction,
        )
        return tuple(c for c in named if c)

    def marks(self) -> dict[str, int]:
        """Each value of the ``direction`` column (case aside) and the sign it gives."""
        return {
            mark: sign
            for marks, sign in ((self.debit_marks, -1), (self.credit_marks, 1))
            for mark in _marks(marks)
        }

    def fits(self, header: list[str]) -> bool:
        """True when every column this profile names is in ``header``."""
        return not self.lacks(header)

    def lacks(self, header: list[str]) -> list[str]:
        """The columns this profile names that ``header`` does not have."""
        present = {h.strip() for h in header}
        return [c for c in self.required_columns if c not in present]


def _marks(listed: str) -> set[str]:
    """The values a comma-separated list of marks names, case aside."""
    return {mark.strip().casefold() for mark in listed.split(",") if mark.strip()}


def read_header(data: bytes, profile: CsvProfile) -> list[str]:
    try:
        first = data.decode(profile.encoding).lstrip("\ufeff").splitlines()[profile.skip_lines]
    except (UnicodeDecodeError, IndexError, LookupError):
        return []
    return next(csv.reader([first], delimiter=profile.delimiter), [])


def _date(
    text: str, fmt: str, line: int, column: str, source: str, seen: dict[str, date] | None = None
) -> date:
    """``text`` as a date in ``fmt``; ``seen`` remembers this file's dates already read.

    strptime costs microseconds a call, and a statement repeats the same few dates in every row.
    """
    stripped = text.strip()
    if seen is not None:
        known = seen.get(stripped)
        if known is not None:
            return known
    try:
        parsed = datetime.strptime(stripped, fmt).date()
    except ValueError:
        raise ParseError(
            f"column {column!r}: {text!r} is not a date in the form {fmt}", source=source, line=line
        ) from None
    if seen is not None:
        seen[stripped] = parsed
    return parsed


def _directed(
    minor: int, mark: str, marks: dict[str, int], profile: CsvProfile, line: int, source: str
) -> int:
    """An unsigned amount signed by its row's debit/credit mark."""
    if minor < 0:
        raise ParseError(
            f"column {profile.amount!r} holds unsigned amounts beside {profile.direction!r}",
            source=source,
            line=line,
        )
    sign = marks.get(mark.casefold())
    if sign is None:
        raise ParseError(
            f"column {profile.direction!r}: {mark!r} is neither a debit "
            f"({profile.debit_marks}) nor a credit ({profile.credit_marks})",
            source=source,
            line=line,
        )
    return sign * minor


def parse_csv_statement(data: bytes, profile: CsvProfile, *, source: str = "") -> ParsedFile:
    """Every row of a CSV statement as a transaction; any bad row refuses the whole file."""
    try:
        text = data.decode(profile.encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParseError(
            f"not {profile.encoding} text (byte 0x{data[exc.start]:02x})", source=source, line=line
        ) from None
    text = text.lstrip("\ufeff")
    skipped = profile.skip_lines
    if skipped:
        text = "".join(text.splitlines(keepends=True)[skipped:])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=profile.delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ParseError("file is empty", source=source) from None
    except csv.Error as exc:
        raise ParseError(f"malformed CSV header ({exc})", source=source, line=skipped + 1) from None
    missing = [c for c in profile.required_columns if c not in header]
    if missing:
        raise ParseError(
            f"header lacks the column(s) {', '.join(map(repr, missing))} that profile "
            f"{profile.name!r} expects",
            source=source,
            line=skipped + 1,
        )
    marks = profile.marks()
    index = {name: i for i, name in enumerate(header)}
    # Each named column's position, looked up once rather than per cell (None: not in the profile).
    (
        at_currency,
        at_amount,
        at_debit,
        at_credit,
        at_date,
        at_value_date,
        at_payer_name,
        at_payer_account,
        at_reference,
        at_remittance,
    ) = (
        index[column] if column else None
        for column in (
            profile.currency,
            profile.amount,
            profile.debit,
            profile.credit,
            profile.date,
            profile.value_date,
            profile.payer_name,
            profile.payer_account,
            profile.reference,
            profile.remittance,
        )
    )
    at_direction = index[profile.direction] if profile.direction else None
    account = profile.account or profile.name
    width = len(header)
    dates: dict[str, date] = {}
    transactions = []
    currencies = set()
    try:
        for row in reader:
            line = reader.line_num + skipped
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != width:
                raise ParseError(
                    f"{len(row)} fields where the header has {width}",
                    source=source,
                    line=line,
                )

            def cell(at: int | None, row: list[str] = row) -> str:
                return row[at].strip() if at is not None else ""

            currency = cell(at_currency) or profile.default_currency
            if not is_known(currency):
                raise ParseError(f"unknown currency {currency!r}", source=source, line=line)
            currencies.add(currency)
            try:
                if at_amount is not None:
                    minor = parse_amount(
                        cell(at_amount),
                        currency,
                        decimal_mark=profile.decimal_mark,
                        grouping=True,
                    )
                    if at_direction is not None:
                        minor = _directed(minor, cell(at_direction), marks, profile, line, source)
                else:
                    debit, credit = cell(at_debit), cell(at_credit)
                    if bool(debit) == bool(credit):
                        raise ParseError(
                            "exactly one of the debit and credit columns must hold an amount",
                            source=source,
                            line=line,
                        )
                    unsigned = parse_amount(
                        debit or credit, currency, decimal_mark=profile.decimal_mark, grouping=True
                    )
                    if unsigned < 0:
                        raise ParseError(
                            "debit and credit columns hold unsigned amounts",
                            source=source,
                            line=line,
                        )
                    minor = -unsigned if debit else unsigned
            except MoneyError as exc:
                raise ParseError(str(exc), source=source, line=line) from None
            booked = _date(cell(at_date), profile.date_format, line, profile.date, source, dates)
            value_text = cell(at_value_date)
            valued = (
                _date(value_text, profile.date_format, line, profile.value_date, source, dates)
                if value_text
                else booked
            )
            transactions.append(
                BankTransaction(
                    account=account,
                    amount=Money(minor, currency),
                    booking_date=booked,
                    value_date=valued,
                    payer_name=cell(at_payer_name),
                    payer_account=cell(at_payer_account),
                    customer_reference=cell(at_reference),
                    remittance_text=" ".join(cell(at_remittance).split()),
                    type_code="",
                    line=line,
                )
            )
    except csv.Error as exc:
        raise ParseError(
            f"malformed CSV ({exc})", source=source, line=reader.line_num + skipped
        ) from None
    if len(currencies) > 1:
        raise ParseError(
            f"one statement holds several currencies ({', '.join(sorted(currencies))})",
            source=source,
        )
    currency = currencies.pop() if currencies else profile.default_currency
    booking_dates = [t.booking_date for t in transactions if t.booking_date]
    statement = ParsedStatement(
        account=profile.account or profile.name,
        currency=currency,
        statement_id="",
        transactions=tuple(transactions),
        from_date=min(booking_dates) if booking_dates else None,
        to_date=max(booking_dates) if booking_dates else None,
    )
    return ParsedFile("csv", (statement,), {"profile": profile.name})

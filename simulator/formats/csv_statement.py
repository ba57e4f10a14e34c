"""Writes simulator statements as bank CSV exports whose layout a declared ``CsvDialect`` describes."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from ledger.errors import InputError
from ledger.money import format_amount
from simulator.model import Statement, StatementLine


@dataclass(frozen=True, slots=True)
class CsvDialect:
    """How one bank lays out its CSV export; :meth:`mapping` is what an import config holds.

    name: the preset's name. delimiter: field separator. decimal_mark: '.' or ','.
    date_format: ``strftime`` pattern of both date columns. encoding: file encoding.
    signed_amount: one signed amount column (``amount_column``, '-' for debits) when True,
    otherwise unsigned amounts in ``debit_column`` or ``credit_column``, the other left blank.
    *_column: header names; an empty name leaves that column out. header: write a header row.
    """

    name: str
    delimiter: str
    decimal_mark: str
    date_format: str
    encoding: str
    signed_amount: bool
    date_column: str
    value_date_column: str = ""
    amount_column: str = ""
    debit_column: str = ""
    credit_column: str = ""
    currency_column: str = ""
    payer_name_column: str = ""
    payer_account_column: str = ""
    reference_column: str = ""
    remittance_column: str = ""
    header: bool = True

    def __post_init__(self) -> None:
        if self.decimal_mark not in (".", ","):
            raise InputError(f"dialect {self.name}: decimal mark must be '.' or ','")
        if self.decimal_mark == self.delimiter:
            raise InputError(
                f"dialect {self.name}: decimal mark and delimiter are both '{self.delimiter}'"
            )
        if self.signed_amount and not self.amount_column:
            raise InputError(f"dialect {self.name}: a signed amount needs amount_column")
        if not self.signed_amount and not (self.debit_column and self.credit_column):
            raise InputError(f"dialect {self.name}: unsigned amounts need debit and credit columns")
        if not self.date_column:
            raise InputError(f"dialect {self.name}: date_column is required")
        names = self.columns()
        if len(set(names)) != len(names):
            raise InputError(f"dialect {self.name}: column names must be unique, got {names}")

    def columns(self) -> list[str]:
        """The header names in file order."""
        amounts = (
            [self.amount_column] if self.signed_amount else [self.debit_column, self.credit_column]
        )
        names = [
            self.date_column,
            self.value_date_column,
            *amounts,
            self.currency_column,
            self.payer_name_column,
            self.payer_account_column,
            self.reference_column,
            self.remittance_column,
        ]
        return [name for name in names if name]

    def mapping(self) -> dict[str, str | bool]:
        """The layout as plain data, enough for an importer to read the file without guessing."""
        return {
            "name": self.name,
            "delimiter": self.delimiter,
            "decimal_mark": self.decimal_mark,
            "date_format": self.date_format,
            "encoding": self.encoding,
            "signed_amount": self.signed_amount,
            "header": self.header,
            "date": self.date_column,
            "value_date": self.value_date_column,
            "amount": self.amount_column,
            "debit": self.debit_column,
            "credit": self.credit_column,
            "currency": self.currency_column,
            "payer_name": self.payer_name_column,
            "payer_account": self.payer_account_column,
            "reference": self.reference_column,
            "remittance": self.remittance_column,
        }


US_BANK_CSV = CsvDialect(
    name="us_bank",
    delimiter=",",
    decimal_mark=".",
    date_format="%m/%d/%Y",
    encoding="utf-8",
    signed_amount=True,
    date_column="Posting Date",
    value_date_column="Effective Date",
    amount_column="Amount",
    currency_column="Currency",
    payer_name_column="Originator Name",
    payer_account_column="Originator Account",
    reference_column="Reference",
    remittance_column="Description",
)
"""A US bank's export: comma-separated, signed amounts with a decimal point, MM/DD/YYYY."""

EU_BANK_CSV = CsvDialect(
    name="eu_bank",
    delimiter=";",
    decimal_mark=",",
    date_format="%d.%m.%Y",
    encoding="utf-8",
    signed_amount=False,
    date_column="Buchungstag",
    value_date_column="Valuta",
    debit_column="Soll",
    credit_column="Haben",
    currency_column="Währung",
    payer_name_column="Auftraggeber/Empfänger",
    payer_account_column="IBAN",
    reference_column="Referenz",
    remittance_column="Verwendungszweck",
)
"""A German-style export: ';'-separated, decimal comma, Soll/Haben columns, DD.MM.YYYY."""

PRESETS = {dialect.name: dialect for dialect in (US_BANK_CSV, EU_BANK_CSV)}


def write_csv_statement(statement: Statement, dialect: CsvDialect) -> bytes:
    """``statement`` as one CSV file in ``dialect``: a header row, then a row per line."""
    buffer = io.StringIO()
    # CRLF as spreadsheet exports have it; the csv module quotes fields holding the delimiter.
    writer = csv.writer(buffer, delimiter=dialect.delimiter, lineterminator="\r\n")
    if dialect.header:
        writer.writerow(dialect.columns())
    for line in statement.lines:
        if line.currency != statement.account.currency:
            raise InputError(
                f"statement {statement.statement_id}: line {line.line_id} is in "
                f"{line.currency}, the account in {statement.account.currency}"
            )
        writer.writerow(_row(line, dialect))
    try:
        return buffer.getvalue().encode(dialect.encoding)
    except UnicodeEncodeError as exc:
        raise InputError(
            f"statement {statement.statement_id} has text that {dialect.encoding} cannot hold: {exc}"
        ) from exc


def _row(line: StatementLine, dialect: CsvDialect) -> list[str]:
    def amount(minor: int) -> str:
        text = format_amount(minor, line.currency)
        return text.replace(".", dialect.decimal_mark)

    if dialect.signed_amount:
        amounts = [amount(line.amount_minor)]
    elif line.amount_minor < 0:
        amounts = [amount(-line.amount_minor), ""]
    else:
        amounts = ["", amount(line.amount_minor)]
    values = {
        dialect.date_column: line.booking_date.strftime(dialect.date_format),
        dialect.value_date_column: line.value_date.strftime(dialect.date_format),
        dialect.currency_column: line.currency,
        dialect.payer_name_column: line.payer_name,
        dialect.payer_account_column: line.payer_account,
        dialect.reference_column: line.customer_reference or line.end_to_end_id,
        dialect.remittance_column: " ".join(
            (line.remittance_text or line.creditor_reference).split()
        ),
    }
    amount_columns = (
        [dialect.amount_column]
        if dialect.signed_amount
        else [dialect.debit_column, dialect.credit_column]
    )
    values.update(zip(amount_columns, amounts, strict=True))
    return [values[name] for name in dialect.columns()]

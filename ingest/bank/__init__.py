"""Bank-statement parsers: BAI2, camt.053/054, MT940 and CSV, into normalised statements."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from ingest.bank.csv_statement import CsvProfile
from ingest.statements import ParsedFile
from ledger.errors import ParseError


def parse_bank_file(
    data: bytes, file_format: str, *, source: str = "", profile: CsvProfile | None = None
) -> ParsedFile:
    """Parse ``data`` as ``file_format``; every failure is a :class:`ParseError`."""
    with _cycle_collector_paused():
        parsed = _parse(data, file_format, source=source, profile=profile)
    _check_storable(parsed, source)
    return parsed


LARGEST_MINOR = 2**63 - 1
"""The ledger keeps amounts as 64-bit integers of minor units."""


def _check_storable(parsed: ParsedFile, source: str) -> None:
    """Refuse a file with a transaction the ledger cannot keep or match: one with no date at
    all (its statement's date missing too), or an amount beyond what the ledger stores."""
    for transaction in parsed.transactions:
        where = f"transaction of {transaction.amount} on account {transaction.account}"
        if transaction.booking_date is None and transaction.value_date is None:
            raise ParseError(f"{where} has no date", source=source, line=transaction.line)
        if abs(transaction.amount.minor) > LARGEST_MINOR:
            raise ParseError(
                f"{where} is beyond the largest amount the ledger stores",
                source=source,
                line=transaction.line,
            )


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Python's cycle collector held off for one parse, then restored as it was.

    A parse keeps every transaction it reads until the file is done (hundreds of thousands of
    objects, none in a reference cycle), and each full collection meanwhile walks all of them
    again: about a sixth of the time of a 100,000-transaction camt file. Nothing is lost by
    waiting: whatever cycles arise meanwhile are collected at the next collection after it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse(data: bytes, file_format: str, *, source: str, profile: CsvProfile | None) -> ParsedFile:
    if file_format == "bai2":
        from ingest.bank.bai2 import parse_bai2

        return parse_bai2(data, source=source)
    if file_format in ("camt053", "camt054"):
        from ingest.bank.camt import parse_camt

        return parse_camt(data, source=source)
    if file_format == "mt940":
        from ingest.bank.mt940 import parse_mt940

        return parse_mt940(data, source=source)
    if file_format == "csv":
        from ingest.bank.csv_statement import parse_csv_statement

        if profile is None:
            raise ParseError(
                "a CSV statement needs a bank profile (--profile FILE, or mapping.json beside it)",
                source=source,
            )
        return parse_csv_statement(data, profile, source=source)
    raise ParseError(f"{file_format!r} is not a bank-statement format", source=source)

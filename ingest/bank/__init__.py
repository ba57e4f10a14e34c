"""Bank-statement parsers: BAI2, camt.053/054, MT940 and CSV, into normalised statements."""

from __future__ import annotations

from ingest.bank.csv_statement import CsvProfile
from ingest.statements import ParsedFile
from ledger.errors import ParseError


def parse_bank_file(
    data: bytes, file_format: str, *, source: str = "", profile: CsvProfile | None = None
) -> ParsedFile:
    """Parse ``data`` as ``file_format``; every failure is a :class:`ParseError`."""
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

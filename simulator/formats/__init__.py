"""Bank-statement writers that turn simulator statements into BAI2, camt, MT940 and CSV bytes."""

from simulator.formats.bai2 import write_bai2
from simulator.formats.camt import write_camt053, write_camt054
from simulator.formats.csv_statement import (
    EU_BANK_CSV,
    US_BANK_CSV,
    CsvDialect,
    write_csv_statement,
)
from simulator.formats.mt940 import write_mt940

__all__ = [
    "EU_BANK_CSV",
    "US_BANK_CSV",
    "CsvDialect",
    "write_bai2",
    "write_camt053",
    "write_camt054",
    "write_csv_statement",
    "write_mt940",
]

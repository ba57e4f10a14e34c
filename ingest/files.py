"""Reading input files into bytes and all-text frames: the I/O edge of the ingest package."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ledger.errors import InputError, ParseError

_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file's name, bytes and content hash, read once."""

    path: Path
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def name(self) -> str:
        return self.path.name


def read_source(path: Path) -> SourceFile:
    """Read ``path`` whole; a missing or unreadable file is bad input, not a crash."""
    try:
        return SourceFile(path, path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, expected a file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _check_text_columns(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """Parquet columns as text; floating-point money is refused rather than guessed at."""
    casts = []
    for name, dtype in frame.schema.items():
        if dtype.is_float():
            raise ParseError(
                f"column {name!r} is floating point ({dtype}); export amounts as decimal or "
                "text so no cent is lost",
                source=source,
            )
        if dtype == pl.String:
            casts.append(pl.col(name))
        elif dtype == pl.Date:
            casts.append(pl.col(name).dt.strftime("%Y-%m-%d"))
        else:
            casts.append(pl.col(name).cast(pl.String))
    return frame.select(casts)


def read_table(source: SourceFile) -> tuple[pl.DataFrame, int]:
    """An all-text frame of a CSV or Parquet file, and the number of its first data row.

    CSV must be UTF-8 (a BOM is allowed) with a header line; Parquet is recognised by content.
    """
    if source.content.startswith(_PARQUET_MAGIC):
        try:
            frame = pl.read_parquet(io.BytesIO(source.content))
        except Exception as exc:  # polars raises several types for damaged Parquet
            raise ParseError(f"not a readable Parquet file ({exc})", source=source.name) from None
        return _check_text_columns(frame, source.name), 1
    content = source.content.removeprefix(b"\xef\xbb\xbf")
    if not content.strip():
        raise ParseError("file is empty", source=source.name)
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise ParseError(
            f"not UTF-8 text (byte 0x{content[exc.start]:02x}); re-export as UTF-8",
            source=source.name,
            line=line,
        ) from None
    try:
        frame = pl.read_csv(io.BytesIO(content), infer_schema=False)
    except Exception as exc:  # polars raises ComputeError/NoDataError/ShapeError for bad CSV
        raise ParseError(f"not a readable CSV file ({exc})", source=source.name) from None
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    return frame, 2

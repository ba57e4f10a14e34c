"""The one exception hierarchy of arpilot: a class per failure a user must tell apart."""

from __future__ import annotations


class ArpilotError(Exception):
    """Root of every error arpilot raises on purpose.

    ``exit_code`` is what the CLI returns: 2 for bad input the user can fix, 1 for
    internal failures.
    """

    exit_code = 1


class InputError(ArpilotError):
    """Input was wrong: a file, a row, an argument. The message says what, where and why."""

    exit_code = 2


class MoneyError(InputError):
    """An amount or currency that cannot be represented exactly."""


class UnknownCurrency(MoneyError):
    """A currency code that is not an active ISO 4217 code."""


class CurrencyMismatch(MoneyError):
    """Arithmetic or comparison between amounts in different currencies."""


class ValidationFailed(InputError):
    """A batch failed validation; ``problems`` lists every bad row, column and reason."""

    def __init__(self, source: str, problems: list[RowProblem]) -> None:
        self.source = source
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{source}: {len(problems)} bad row(s): {shown}{more}")


class RowProblem:
    """One thing wrong with one input row: ``row`` is 1-based and counts the header as row 1."""

    __slots__ = ("column", "reason", "row")

    def __init__(self, row: int | None, column: str | None, reason: str) -> None:
        self.row = row
        self.column = column
        self.reason = reason

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason

    def __repr__(self) -> str:
        return f"RowProblem({self.row!r}, {self.column!r}, {self.reason!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RowProblem):
            return NotImplemented
        return (self.row, self.column, self.reason) == (other.row, other.column, other.reason)

    def __hash__(self) -> int:
        return hash((self.row, self.column, self.reason))


class ParseError(InputError):
    """A file could not be read as the format it claims to be."""

    def __init__(self, reason: str, *, source: str = "", line: int | None = None) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        where = source
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        super().__init__(f"{where}: {reason}" if where else reason)


class UnbalancedStatement(ParseError):
    """A statement whose transactions do not tie to its control totals or balances."""


class DuplicateFile(InputError):
    """A file that was already ingested (same content hash)."""


class LedgerMissing(InputError):
    """No ledger at the given home yet."""


class LedgerError(ArpilotError):
    """The ledger file is unusable: newer schema, corrupt, or locked too long."""


class StaleVersion(InputError):
    """An update was based on a version of a record that has since changed."""


class AuditChainBroken(ArpilotError):
    """The audit log no longer verifies: an entry was edited, deleted or reordered."""

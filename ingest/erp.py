"""ERP open-items export -> validated frame of invoices and credit memos, or every bad row.

Validation is vectorised with polars so a million-row export checks in seconds. The frame
arrives with every column as text (see :mod:`ingest.files`); amounts become ``Int64`` minor
units here, exactly, through string arithmetic (never a float).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ledger.currencies import EXPONENTS
from ledger.errors import RowProblem

COLUMNS = (
    "invoice_number",
    "customer_id",
    "customer_name",
    "issue_date",
    "due_date",
    "currency",
    "amount",
    "open_amount",
    "terms",
    "po_number",
    "doc_type",
    "parent_id",
)
REQUIRED = (*COLUMNS[:8], "doc_type")
OPTIONAL = ("terms", "po_number", "parent_id")
"""``parent_id``: the customer id of the company that may pay on the customer's behalf (its
parent, head office or payer account in the ERP), blank when none."""
DOC_TYPES = ("invoice", "credit_memo")
_MAX_WHOLE_DIGITS = 15  # keeps every amount far inside Int64 after scaling by 10**4
_AMOUNT = r"^([+-]?)([0-9]+)(?:\.([0-9]+))?$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

VALIDATED_SCHEMA = {
    "row": pl.Int64,
    "invoice_number": pl.String,
    "customer_id": pl.String,
    "customer_name": pl.String,
    "issue_date": pl.Date,
    "due_date": pl.Date,
    "currency": pl.String,
    "amount_minor": pl.Int64,
    "open_minor": pl.Int64,
    "terms": pl.String,
    "po_number": pl.String,
    "doc_type": pl.String,
    "parent_id": pl.String,
}


@dataclass(frozen=True, slots=True)
class ValidatedOpenItems:
    """The outcome of validation: ``items`` holds only good rows, ``problems`` every bad one."""

    items: pl.DataFrame
    problems: list[RowProblem]


def minor_units_expr(amount: str, currency: str) -> tuple[pl.Expr, pl.Expr]:
    """Expressions giving (minor units, error text) for a text amount column in its currency.

    The minor units are null where the error is not (and where the currency is unknown, which
    the currency check reports). Only integer and string arithmetic is used. A slow twin,
    :func:`ledger.money.parse_amount`, is the reference the tests compare this against.
    """
    text = pl.col(amount).str.strip_chars()
    parts = text.str.extract_groups(_AMOUNT)
    sign, whole, fraction = (parts.struct.field(f) for f in ("1", "2", "3"))
    fraction = fraction.fill_null("")
    exp = pl.col(currency).replace_strict(dict(EXPONENTS), default=None, return_dtype=pl.Int64)
    kept = fraction.str.slice(0, exp)
    dropped = fraction.str.slice(exp)
    kept_value = pl.when(kept == "").then(0).otherwise(kept.cast(pl.Int64, strict=False))
    # "5" kept of two decimals is 50 cents: scale by the digits the text left out.
    kept_scaled = kept_value * pl.lit(10, dtype=pl.Int64).pow(exp - kept.str.len_chars())
    magnitude = (
        whole.cast(pl.Int64, strict=False) * pl.lit(10, dtype=pl.Int64).pow(exp) + kept_scaled
    )
    signed = pl.when(sign == "-").then(-magnitude).otherwise(magnitude)
    too_precise = dropped.str.contains("[1-9]")
    too_large = whole.str.len_chars() > _MAX_WHOLE_DIGITS
    value = (
        pl.when(whole.is_null() | too_large | exp.is_null() | too_precise)
        .then(None)
        .otherwise(signed)
    )
    error = (
        pl.when(text.is_null() | (text == ""))
        .then(pl.lit("missing amount"))
        .when(whole.is_null())
        .then(pl.format("not a decimal amount: '{}'", text))
        .when(too_large)
        .then(pl.format("amount too large: '{}'", text))
        .when(exp.is_null())
        .then(pl.lit(None, dtype=pl.String))  # the currency check reports this row
        .when(too_precise)
        .then(pl.format("'{}' has more decimals than {} allows", text, pl.col(currency)))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return value, error


def _date_expr(column: str) -> tuple[pl.Expr, pl.Expr]:
    text = pl.col(column).str.strip_chars()
    parsed = pl.when(text.str.contains(_DATE)).then(text.str.to_date("%Y-%m-%d", strict=False))
    error = (
        pl.when(text.is_null() | (text == ""))
        .then(pl.lit(f"missing {column}"))
        .when(parsed.is_null())
        .then(pl.format("not an ISO date (YYYY-MM-DD): '{}'", text))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return parsed, error


def _blank(column: str) -> pl.Expr:
    return pl.col(column).is_null() | (pl.col(column).str.strip_chars() == "")


def _sign_error() -> pl.Expr:
    doc, amount = pl.col("doc_type"), pl.col("amount_minor")
    return (
        pl.when((doc == "invoice") & (amount <= 0))
        .then(pl.lit("invoice amount must be positive"))
        .when((doc == "credit_memo") & (amount == 0))
        .then(pl.lit("credit memo amount must not be zero"))
    )


def _open_error() -> pl.Expr:
    doc, amount, open_ = pl.col("doc_type"), pl.col("amount_minor"), pl.col("open_minor")
    return (
        pl.when((doc == "invoice") & (open_ < 0))
        .then(pl.lit("negative open amount on an invoice"))
        .when((doc == "invoice") & (open_ > amount))
        .then(pl.lit("open amount exceeds the invoice amount"))
        .when((doc == "credit_memo") & (open_ != 0) & ((open_ > 0) != (amount > 0)))
        .then(pl.lit("credit memo amount and open amount have opposite signs"))
        .when((doc == "credit_memo") & (open_.abs() > amount.abs()))
        .then(pl.lit("open amount exceeds the credit memo amount"))
    )


def validate_open_items(frame: pl.DataFrame, *, first_row: int = 2) -> ValidatedOpenItems:
    """Check every row of an all-text open-items frame; return good rows and all problems.

    ``first_row`` is the number reported for the first data row (2 for a CSV with a header
    line, 1 for Parquet records). Rules: required columns present and non-blank, ISO dates with
    due on or after issue, a known ISO 4217 currency, exact amounts within its precision,
    ``doc_type`` invoice or credit_memo, invoices positive with 0 <= open <= amount, credit
    memos with amount and open of one sign (stored negative), each invoice number once, and
    (optional ``parent_id``) a customer is not its own parent and has one parent in the file.
    Blank lines are skipped. Values and pass/fail flags are computed over every row; the
    messages only for the rows that fail, so a clean million-row file validates quickly.
    """
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        absent = [RowProblem(None, c, "column is missing from the file") for c in missing]
        return ValidatedOpenItems(pl.DataFrame(schema=VALIDATED_SCHEMA), absent)
    for column in OPTIONAL:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit("", dtype=pl.String).alias(column))
    text_columns = frame.columns

    amount, amount_error = minor_units_expr("amount", "currency")
    open_amount, open_error = minor_units_expr("open_amount", "currency")
    issue, issue_error = _date_expr("issue_date")
    due, due_error = _date_expr("due_date")

    prepared = (
        frame.lazy()
        .with_row_index("row", offset=first_row)
        .with_columns(pl.col("row").cast(pl.Int64))
        # A blank line carries no data; skipping it keeps the numbers of the rows after it.
        .filter(~pl.all_horizontal([_blank(c) for c in text_columns]))
        .with_columns(
            pl.col(c).str.strip_chars()
            for c in ("invoice_number", "customer_id", "customer_name", "currency", "doc_type")
        )
        .with_columns(
            pl.col("terms").fill_null("").str.strip_chars(),
            pl.col("po_number").fill_null("").str.strip_chars(),
            pl.col("parent_id").fill_null("").str.strip_chars(),
            amount.alias("amount_minor"),
            open_amount.alias("open_minor"),
            issue.alias("issue_date_parsed"),
            due.alias("due_date_parsed"),
        )
        .with_columns(
            pl.any_horizontal(
                _blank("invoice_number"),
                _blank("customer_id"),
                _blank("customer_name"),
                ~pl.col("currency").is_in(list(EXPONENTS)).fill_null(False),
                ~pl.col("doc_type").is_in(list(DOC_TYPES)).fill_null(False),
                pl.col("amount_minor").is_null(),
                pl.col("open_minor").is_null(),
                pl.col("issue_date_parsed").is_null(),
                pl.col("due_date_parsed").is_null(),
                _sign_error().is_not_null(),
                _open_error().is_not_null(),
                (pl.col("due_date_parsed") < pl.col("issue_date_parsed")).fill_null(False),
                pl.col("invoice_number").is_duplicated(),
                _own_parent(),
                _parents_disagree(),
            ).alias("bad")
        )
        .collect()
    )
    bad = prepared.filter(pl.col("bad"))
    problems = _explain(bad, prepared, amount_error, open_error, issue_error, due_error)

    # Credit memos are stored negative, whichever sign the ERP exported them with.
    is_credit = pl.col("doc_type") == "credit_memo"
    items = (
        prepared.filter(~pl.col("bad"))
        .with_columns(
            pl.when(is_credit)
            .then(-pl.col("amount_minor").abs())
            .otherwise(pl.col("amount_minor")),
            pl.when(is_credit).then(-pl.col("open_minor").abs()).otherwise(pl.col("open_minor")),
        )
        .select(
            "row",
            "invoice_number",
            "customer_id",
            "customer_name",
            pl.col("issue_date_parsed").alias("issue_date"),
            pl.col("due_date_parsed").alias("due_date"),
            "currency",
            "amount_minor",
            "open_minor",
            "terms",
            "po_number",
            "doc_type",
            "parent_id",
        )
    )
    return ValidatedOpenItems(items, problems)


def _own_parent() -> pl.Expr:
    return (pl.col("parent_id") != "") & (pl.col("parent_id") == pl.col("customer_id"))


def _parents_disagree() -> pl.Expr:
    """Rows of a customer given two different parents in the file (a blank names none)."""
    given = pl.when(pl.col("parent_id") != "").then(pl.col("parent_id"))
    return (pl.col("parent_id") != "") & (given.drop_nulls().n_unique().over("customer_id") > 1)


def _explain(
    bad: pl.DataFrame,
    prepared: pl.DataFrame,
    amount_error: pl.Expr,
    open_error: pl.Expr,
    issue_error: pl.Expr,
    due_error: pl.Expr,
) -> list[RowProblem]:
    """Every reason each failing row fails, in row order, as (row, column, reason)."""
    if not bad.height:
        return []
    duplicates = (
        prepared.filter(pl.col("invoice_number").is_duplicated() & ~_blank("invoice_number"))
        .group_by("invoice_number")
        .agg(pl.col("row").sort().cast(pl.String).str.join(", ").alias("dup_rows"))
    )
    checks = {
        "e_invoice_number": (
            "invoice_number",
            pl.when(_blank("invoice_number")).then(pl.lit("missing invoice number")),
        ),
        "e_duplicate": (
            "invoice_number",
            pl.when(pl.col("dup_rows").is_not_null()).then(
                pl.format(
                    "invoice number '{}' appears more than once (rows {})",
                    pl.col("invoice_number"),
                    pl.col("dup_rows"),
                )
            ),
        ),
        "e_customer_id": (
            "customer_id",
            pl.when(_blank("customer_id")).then(pl.lit("missing customer id")),
        ),
        "e_customer_name": (
            "customer_name",
            pl.when(_blank("customer_name")).then(pl.lit("missing customer name")),
        ),
        "e_own_parent": (
            "parent_id",
            pl.when(_own_parent()).then(pl.lit("a customer cannot be its own parent")),
        ),
        "e_parents": (
            "parent_id",
            pl.when(_parents_disagree()).then(
                pl.format(
                    "customer '{}' is given more than one parent in this file ({})",
                    pl.col("customer_id"),
                    pl.col("parents"),
                )
            ),
        ),
        "e_issue_date": ("issue_date", issue_error),
        "e_due_date": ("due_date", due_error),
        "e_due_order": (
            "due_date",
            pl.when(pl.col("due_date_parsed") < pl.col("issue_date_parsed")).then(
                pl.lit("due date is before the issue date")
            ),
        ),
        "e_currency": (
            "currency",
            pl.when(~pl.col("currency").is_in(list(EXPONENTS)).fill_null(False)).then(
                pl.format(
                    "unknown currency '{}': use an ISO 4217 code", pl.col("currency").fill_null("")
                )
            ),
        ),
        "e_amount": ("amount", amount_error),
        "e_amount_sign": ("amount", _sign_error()),
        "e_open_amount": ("open_amount", open_error),
        "e_open_sign": ("open_amount", _open_error()),
        "e_doc_type": (
            "doc_type",
            pl.when(~pl.col("doc_type").is_in(list(DOC_TYPES)).fill_null(False)).then(
                pl.format(
                    "doc_type '{}' is not invoice or credit_memo", pl.col("doc_type").fill_null("")
                )
            ),
        ),
    }
    parents = (
        prepared.filter(pl.col("parent_id") != "")
        .group_by("customer_id")
        .agg(pl.col("parent_id").unique().sort().str.join(", ").alias("parents"))
    )
    order = {name: i for i, name in enumerate(checks)}
    long = (
        bad.join(duplicates, on="invoice_number", how="left")
        .join(parents, on="customer_id", how="left")
        .select("row", *(expr.cast(pl.String).alias(name) for name, (_, expr) in checks.items()))
        .unpivot(index="row", variable_name="check", value_name="reason")
        .drop_nulls("reason")
        .with_columns(
            pl.col("check").replace_strict({n: c for n, (c, _) in checks.items()}).alias("column"),
            pl.col("check").replace_strict(order, return_dtype=pl.Int64).alias("order"),
        )
        .sort(["row", "order"])
    )
    return [
        RowProblem(r, c, reason)
        for r, c, reason in long.select("row", "column", "reason").iter_rows()
    ]

"""ERP open-items import into a real ledger file: all-or-nothing, idempotent, audited."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from ledger import audit
from ledger.db import open_ledger
from ledger.errors import ParseError, ValidationFailed
from ledger.repository import reconcile_open
from ledger.settings import LedgerSettings
from pipelines.erp_import import import_erp_file

HEADER = (
    "invoice_number,customer_id,customer_name,issue_date,due_date,currency,amount,"
    "open_amount,terms,po_number,doc_type"
)


def write_csv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def table(home: Path, sql: str) -> list[tuple[object, ...]]:
    with open_ledger(home / "ledger.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def test_sample_imports_and_reimport_changes_nothing(home: Path, sample_open_items: Path) -> None:
    settings = LedgerSettings(home=home)
    first = import_erp_file(sample_open_items, settings)
    assert first.new_invoices == 50 and first.new_customers == 8
    before = table(home, "SELECT * FROM invoices ORDER BY invoice_number")
    audit_before = table(home, "SELECT count(*) FROM audit_log")
    again = import_erp_file(sample_open_items, settings)
    assert again.already_imported
    assert table(home, "SELECT * FROM invoices ORDER BY invoice_number") == before
    assert table(home, "SELECT count(*) FROM audit_log") == audit_before


def test_same_rows_in_other_bytes_change_nothing(
    home: Path, sample_open_items: Path, tmp_path: Path
) -> None:
    settings = LedgerSettings(home=home)
    import_erp_file(sample_open_items, settings)
    lines = sample_open_items.read_text().splitlines()
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    summary = import_erp_file(shuffled, settings)
    assert (summary.new_invoices, summary.updated_invoices, summary.unchanged_invoices) == (
        0,
        0,
        50,
    )


def test_newer_snapshot_updates_open_amounts_with_audit(home: Path, tmp_path: Path) -> None:
    settings = LedgerSettings(home=home)
    import_erp_file(
        write_csv(
            tmp_path / "a.csv",
            "I1,C1,Acme,2026-01-01,2026-01-31,USD,100.00,100.00,NET30,,invoice",
            "I2,C1,Acme,2026-01-02,2026-02-01,USD,50.00,50.00,NET30,,invoice",
        ),
        settings,
    )
    summary = import_erp_file(
        write_csv(
            tmp_path / "b.csv",
            "I1,C1,Acme,2026-01-01,2026-01-31,USD,100.00,40.00,NET30,,invoice",
            "I2,C1,Acme,2026-01-02,2026-02-01,USD,50.00,50.00,NET30,,invoice",
            "I3,C2,Borealis,2026-01-03,2026-02-02,EUR,7.10,7.10,NET30,,invoice",
        ),
        settings,
    )
    assert (summary.new_invoices, summary.updated_invoices, summary.unchanged_invoices) == (1, 1, 1)
    assert table(home, "SELECT open_minor FROM invoices WHERE invoice_number = 'I1'") == [(4000,)]
    changes = table(
        home, "SELECT entity_id, payload FROM audit_log WHERE action = 'update_open_item'"
    )
    assert len(changes) == 1 and changes[0][0] == "I1"
    assert json.loads(str(changes[0][1]))["changes"] == {"open_amount": ["100.00", "40.00"]}
    with open_ledger(home / "ledger.duckdb", read_only=True) as con:
        assert audit.verify(con).ok


def test_close_missing_closes_absent_items(home: Path, tmp_path: Path) -> None:
    settings = LedgerSettings(home=home)
    import_erp_file(
        write_csv(
            tmp_path / "a.csv",
            "I1,C1,Acme,2026-01-01,2026-01-31,USD,100.00,100.00,NET30,,invoice",
            "I2,C1,Acme,2026-01-02,2026-02-01,USD,50.00,50.00,NET30,,invoice",
        ),
        settings,
    )
    only_i2 = write_csv(
        tmp_path / "b.csv", "I2,C1,Acme,2026-01-02,2026-02-01,USD,50.00,50.00,NET30,,invoice"
    )
    assert import_erp_file(only_i2, settings).closed_invoices == 0  # partial file: no closing
    write_csv(only_i2, "I2,C1,Acme,2026-01-02,2026-02-01,USD,50.00,50.00,NET30,,invoice", "")
    summary = import_erp_file(only_i2, settings, close_missing=True)
    assert summary.closed_invoices == 1
    assert table(home, "SELECT open_minor FROM invoices WHERE invoice_number = 'I1'") == [(0,)]


def test_customer_rename_keeps_old_name_as_alias(home: Path, tmp_path: Path) -> None:
    settings = LedgerSettings(home=home)
    import_erp_file(
        write_csv(
            tmp_path / "a.csv", "I1,C1,Acme Inc,2026-01-01,2026-01-31,USD,1.00,1.00,,,invoice"
        ),
        settings,
    )
    summary = import_erp_file(
        write_csv(
            tmp_path / "b.csv",
            "I1,C1,Acme Holdings Inc,2026-01-01,2026-01-31,USD,1.00,1.00,,,invoice",
        ),
        settings,
    )
    assert summary.renamed_customers == 1
    assert table(home, "SELECT name FROM customers") == [("Acme Holdings Inc",)]
    assert table(home, "SELECT alias FROM customer_aliases") == [("Acme Inc",)]


def test_bad_file_writes_nothing(home: Path, sample_open_items: Path, tmp_path: Path) -> None:
    settings = LedgerSettings(home=home)
    import_erp_file(sample_open_items, settings)
    before = table(home, "SELECT count(*), sum(open_minor) FROM invoices")
    bad = write_csv(
        tmp_path / "bad.csv",
        "N1,C9,New Co,2026-01-01,2026-01-31,USD,10.00,10.00,,,invoice",
        "N2,C9,New Co,2026-01-01,2026-01-31,USD,10.00,11.00,,,invoice",
    )
    with pytest.raises(ValidationFailed) as caught:
        import_erp_file(bad, settings)
    assert [(p.row, p.column) for p in caught.value.problems] == [(3, "open_amount")]
    assert table(home, "SELECT count(*), sum(open_minor) FROM invoices") == before
    assert table(home, "SELECT count(*) FROM customers WHERE customer_id = 'C9'") == [(0,)]


def test_conflicting_identity_is_refused_whole(home: Path, tmp_path: Path) -> None:
    settings = LedgerSettings(home=home)
    import_erp_file(
        write_csv(
            tmp_path / "a.csv", "I1,C1,Acme,2026-01-01,2026-01-31,USD,100.00,100.00,,,invoice"
        ),
        settings,
    )
    conflict = write_csv(
        tmp_path / "b.csv",
        "I0,C1,Acme,2026-01-01,2026-01-31,USD,5.00,5.00,,,invoice",
        "I1,C2,Other,2026-01-01,2026-01-31,EUR,100.00,100.00,,,invoice",
    )
    with pytest.raises(ValidationFailed) as caught:
        import_erp_file(conflict, settings)
    assert {(p.row, p.column) for p in caught.value.problems} == {
        (3, "customer_id"),
        (3, "currency"),
    }
    assert table(home, "SELECT invoice_number FROM invoices") == [("I1",)]


def test_parquet_input_and_float_money_refused(
    home: Path, sample_open_items: Path, tmp_path: Path
) -> None:
    settings = LedgerSettings(home=home)
    frame = pl.read_csv(sample_open_items, infer_schema=False)
    frame.write_parquet(tmp_path / "items.parquet")
    assert import_erp_file(tmp_path / "items.parquet", settings).new_invoices == 50
    floats = frame.with_columns(pl.col("amount").cast(pl.Float64))
    floats.write_parquet(tmp_path / "floats.parquet")
    with pytest.raises(ParseError, match="floating point"):
        import_erp_file(tmp_path / "floats.parquet", settings)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (
            HEADER.encode() + b"\nI1,C1,M\xfcller,2026-01-01,2026-01-31,EUR,1.00,1.00,,,invoice\n",
            "not UTF-8",
        ),
        (b"PAR1garbage", "Parquet"),
    ],
)
def test_unreadable_files(home: Path, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(ParseError, match=message):
        import_erp_file(path, LedgerSettings(home=home))


def test_utf8_bom_and_non_ascii_names(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    body = HEADER + "\nI1,C1,Müller & Søn A/S,2026-01-01,2026-01-31,DKK,1.234,1.234,,,invoice\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    with pytest.raises(ValidationFailed, match="more decimals"):
        import_erp_file(path, LedgerSettings(home=home))
    path.write_bytes(b"\xef\xbb\xbf" + body.replace("1.234", "1234.50").encode())
    assert import_erp_file(path, LedgerSettings(home=home)).new_invoices == 1
    assert table(home, "SELECT name FROM customers") == [("Müller & Søn A/S",)]


def test_large_generated_file_round_trips_totals(home: Path, tmp_path: Path, seed: int) -> None:
    import random

    rng = random.Random(seed)
    rows, total = [], 0
    for i in range(20_000):
        cents = rng.randint(1, 10**9)
        total += cents
        rows.append(
            f"I{i},C{i % 997},Customer {i % 997},2026-01-01,2026-02-01,USD,"
            f"{cents // 100}.{cents % 100:02d},{cents // 100}.{cents % 100:02d},,,invoice"
        )
    path = tmp_path / "big.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    summary = import_erp_file(path, LedgerSettings(home=home))
    assert summary.new_invoices == 20_000 and summary.new_customers == 997
    assert table(home, "SELECT sum(amount_minor)::BIGINT FROM invoices") == [(total,)]


def test_parents_are_stored_changed_with_audit_and_never_cleared_by_a_blank(
    home: Path, tmp_path: Path
) -> None:
    settings = LedgerSettings(home=home)
    header = HEADER + ",parent_id"

    def export(name: str, *rows: str) -> Path:
        path = tmp_path / name
        path.write_text("\n".join([header, *rows]) + "\n")
        return path

    summary = import_erp_file(
        export(
            "a.csv",
            "I1,C1,Summit Construction,2026-01-01,2026-01-31,USD,10.00,10.00,,,invoice,P1",
            "I2,C1,Summit Construction,2026-01-01,2026-01-31,USD,20.00,20.00,,,invoice,",
            "I3,P1,Titan Textiles Group,2026-01-01,2026-01-31,USD,30.00,30.00,,,invoice,",
        ),
        settings,
    )
    assert summary.new_customers == 2 and summary.reparented_customers == 1
    parents = "SELECT customer_id, parent_id FROM customers ORDER BY customer_id"
    assert table(home, parents) == [("C1", "P1"), ("P1", None)]

    # An export without the column (or with it blank) leaves the hierarchy as it is.
    import_erp_file(
        write_csv(
            tmp_path / "b.csv",
            "I1,C1,Summit Construction,2026-01-01,2026-01-31,USD,10.00,5.00,,,invoice",
        ),
        settings,
    )
    assert table(home, parents) == [("C1", "P1"), ("P1", None)]

    moved = import_erp_file(
        export(
            "c.csv", "I1,C1,Summit Construction,2026-01-01,2026-01-31,USD,10.00,5.00,,,invoice,P2"
        ),
        settings,
    )
    assert moved.reparented_customers == 1
    assert table(home, parents) == [("C1", "P2"), ("P1", None)]
    entries = table(home, "SELECT payload FROM audit_log WHERE action = 'change_customer_parent'")
    assert [json.loads(str(p)) for (p,) in entries] == [{"old_parent": "P1", "new_parent": "P2"}]


def test_a_customer_with_two_parents_or_its_own_is_refused_with_rows(
    home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "parents.csv"
    path.write_text(
        "\n".join(
            [
                HEADER + ",parent_id",
                "I1,C1,Summit,2026-01-01,2026-01-31,USD,10.00,10.00,,,invoice,P1",
                "I2,C1,Summit,2026-01-01,2026-01-31,USD,10.00,10.00,,,invoice,P2",
                "I3,C2,Cobalt,2026-01-01,2026-01-31,USD,10.00,10.00,,,invoice,C2",
                "I4,C3,Atlas,2026-01-01,2026-01-31,USD,10.00,10.00,,,invoice,",
            ]
        )
        + "\n"
    )
    with pytest.raises(ValidationFailed) as caught:
        import_erp_file(path, LedgerSettings(home=home))
    assert [(p.row, p.column, p.reason) for p in caught.value.problems] == [
        (2, "parent_id", "customer 'C1' is given more than one parent in this file (P1, P2)"),
        (3, "parent_id", "customer 'C1' is given more than one parent in this file (P1, P2)"),
        (4, "parent_id", "a customer cannot be its own parent"),
    ]
    assert not (home / "ledger.duckdb").exists()  # refused before anything is written


@pytest.mark.parametrize(
    ("erp_now", "erp_before", "ledger_open", "amount", "expected"),
    [
        # nothing of arpilot's unposted: the ERP is the truth, up or down
        (4_000, 10_000, 10_000, 10_000, (4_000, "")),
        (10_000, 4_000, 4_000, 10_000, (10_000, "")),
        # arpilot applied 60.00; the ERP shows it posted, or not yet
        (4_000, 10_000, 4_000, 10_000, (4_000, "posted")),
        (10_000, 10_000, 4_000, 10_000, (4_000, "not yet posted")),
        # the ERP settled 10.00 more: it must have posted arpilot's (else less than nothing
        # would be open), and the 10.00 is its own
        (3_000, 10_000, 4_000, 10_000, (3_000, "unexplained")),
        # 10.00 less: posted or not cannot be told, the lower stands
        (9_000, 10_000, 4_000, 10_000, (3_000, "unexplained")),
        # the ERP raised the item: not arpilot's doing; it never opens more than arpilot shows
        (12_000, 10_000, 4_000, 12_000, (4_000, "unexplained")),
        # a reversal arpilot made (60.00 reopened), posted or not
        (10_000, 4_000, 10_000, 10_000, (10_000, "posted")),
        (4_000, 4_000, 10_000, 10_000, (10_000, "not yet posted")),
        (3_000, 4_000, 10_000, 10_000, (3_000, "unexplained")),
        # a credit memo arpilot used: negative amounts, clipped at zero
        (-5_000, -5_000, 0, -5_000, (0, "not yet posted")),
        (0, -5_000, 0, -5_000, (0, "posted")),
        (-2_000, -5_000, 0, -5_000, (0, "unexplained")),
    ],
)
def test_an_open_amount_keeps_what_arpilot_applied_until_the_erp_shows_it(
    erp_now: int, erp_before: int, ledger_open: int, amount: int, expected: tuple[int, str]
) -> None:
    outcome = reconcile_open(
        erp_now=erp_now, erp_before=erp_before, ledger_open=ledger_open, amount=amount
    )
    assert (outcome.open_minor, outcome.state) == expected


def test_an_erp_that_posted_one_of_two_applications_leaves_the_other_unposted() -> None:
    # arpilot applied 40.00 and then 30.00 to a 100.00 invoice; the ERP shows the 40.00
    one = reconcile_open(
        erp_now=6_000,
        erp_before=10_000,
        ledger_open=3_000,
        amount=10_000,
        settlements=[4_000, 3_000],
    )
    assert (one.open_minor, one.state) == (3_000, "posted in part")
    # 20.00 was posted long ago; the ERP's 20.00 drop now is its own, not arpilot's
    other = reconcile_open(
        erp_now=8_000,
        erp_before=10_000,
        ledger_open=3_000,
        amount=12_000,
        settlements=[2_000, 4_000, 3_000],
    )
    assert (other.open_minor, other.state) == (1_000, "unexplained")
    # applied, then returned, both unposted (nothing in sum); the ERP posts the application
    # only: the bounced invoice stays open
    bounced = reconcile_open(
        erp_now=0,
        erp_before=10_000,
        ledger_open=10_000,
        amount=10_000,
        settlements=[10_000, -10_000],
    )
    assert (bounced.open_minor, bounced.state) == (10_000, "posted in part")
    # the amount lowered while a reversal is unposted: never more open than the amount
    lowered = reconcile_open(erp_now=3_000, erp_before=3_000, ledger_open=5_000, amount=3_000)
    assert lowered.open_minor == 3_000


def test_an_earlier_snapshot_imported_again_after_another_is_read_again(
    home: Path, tmp_path: Path
) -> None:
    settings = LedgerSettings(home=home)
    row = "I1,C1,Acme,2026-01-01,2026-01-31,USD,100.00,{},NET30,,invoice"
    open_ = write_csv(tmp_path / "open.csv", row.format("100.00"))
    paid = write_csv(tmp_path / "paid.csv", row.format("0.00"))
    import_erp_file(open_, settings)
    assert import_erp_file(open_, settings).already_imported  # the last one: nothing to do
    import_erp_file(paid, settings)
    # the ERP reopened the invoice (a payment reversed there): the same bytes as the first file
    again = import_erp_file(open_, settings)
    assert not again.already_imported and again.updated_invoices == 1
    assert table(home, "SELECT open_minor FROM invoices") == [(10_000,)]
    with open_ledger(home / "ledger.duckdb", read_only=True) as con:
        assert audit.verify(con).ok

"""Identical payments in consecutive statements are two; overlapping statements add no copy.

A payment with no bank reference is known by its fingerprint (day, amount, payer, text), so two
customers' identical payments on one day look alike. Statements that open where a stored one
closed repeat none of its transactions; anything else may overlap and is compared as before.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.db import open_ledger
from ledger.settings import LedgerSettings
from pipelines.ingest import ingest_paths
from simulator.formats import write_camt053, write_camt054, write_mt940
from simulator.model import BankAccount, Statement, StatementLine

IBAN = "DE44500105175407324931"
ACCOUNT = BankAccount("Hanse Bank", "HANSDEFFXXX", IBAN, "Collections", "EUR", "mt940")
DAY = date(2026, 9, 4)


def payment(n: int, minor: int = 5000, text: str = "INV-1001") -> StatementLine:
    """A credit with no bank or customer reference: only its content identifies it."""
    return StatementLine(
        f"L{n}", DAY, DAY, minor, "EUR", payer_name="Acme GmbH", remittance_text=text
    )


def statement(name: str, sequence: int, opening: int, *lines: StatementLine) -> Statement:
    return Statement(
        ACCOUNT, name, sequence, datetime(2026, 9, 4, 18), DAY, DAY, opening, tuple(lines)
    )


def mt940(folder: Path, name: str, *statements: Statement) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.sta"
    path.write_bytes(write_mt940(list(statements)))
    return path


def ingest(home: Path, path: Path) -> tuple[int, int]:
    (result,) = ingest_paths([path], LedgerSettings(home=home)).files
    assert result.status == "ingested", result.reason
    return result.new, result.duplicates


def credits(home: Path) -> int:
    with open_ledger(home / "ledger.duckdb", read_only=True) as con:
        return int(
            con.execute("SELECT count(*) FROM payments WHERE amount_minor > 0").fetchone()[0]
        )  # type: ignore[index]


MORNING = statement("ST-0904-1", 1, 100_000, payment(1))
AFTERNOON = statement("ST-0904-2", 2, 105_000, payment(2), payment(3, 700, "INV-1002"))
WHOLE_DAY = statement("ST-0904", 3, 100_000, payment(1), payment(2), payment(3, 700, "INV-1002"))


def test_identical_payments_in_consecutive_statements_are_both_kept(
    home: Path, tmp_path: Path
) -> None:
    assert ingest(home, mt940(tmp_path / "a", "morning", MORNING)) == (1, 0)
    assert ingest(home, mt940(tmp_path / "b", "afternoon", AFTERNOON)) == (2, 0)
    assert credits(home) == 3


def test_consecutive_statements_read_in_either_order(home: Path, tmp_path: Path) -> None:
    assert ingest(home, mt940(tmp_path / "b", "afternoon", AFTERNOON)) == (2, 0)
    assert ingest(home, mt940(tmp_path / "a", "morning", MORNING)) == (1, 0)
    assert credits(home) == 3


def test_statements_delivered_again_add_nothing(home: Path, tmp_path: Path) -> None:
    """Again in one file with both, and as a statement of the whole day that overlaps both."""
    ingest(home, mt940(tmp_path / "a", "morning", MORNING))
    ingest(home, mt940(tmp_path / "b", "afternoon", AFTERNOON))
    assert ingest(home, mt940(tmp_path / "c", "both", MORNING, AFTERNOON)) == (0, 3)
    assert ingest(home, mt940(tmp_path / "d", "day", WHOLE_DAY)) == (0, 3)
    assert credits(home) == 3


def test_a_first_delivery_of_both_in_one_file_keeps_both(home: Path, tmp_path: Path) -> None:
    assert ingest(home, mt940(tmp_path / "c", "both", MORNING, AFTERNOON)) == (3, 0)
    assert ingest(home, mt940(tmp_path / "b", "afternoon", AFTERNOON)) == (0, 2)
    assert ingest(home, mt940(tmp_path / "a", "morning", MORNING)) == (0, 1)
    assert credits(home) == 3


def test_the_days_statement_after_its_notifications_adds_only_what_they_missed(
    home: Path, tmp_path: Path
) -> None:
    """A camt.054 has no balances: it may overlap anything, so its payment is the statement's
    first copy; the second identical payment of the day is new."""
    camt_account = BankAccount("Hanse Bank", "HANSDEFFXXX", IBAN, "Collections", "EUR", "camt053")
    notified = Statement(
        camt_account, "NTF-1", 1, datetime(2026, 9, 4, 11), DAY, DAY, 0, (payment(1),)
    )
    day = Statement(
        camt_account, "STM-0904", 2, datetime(2026, 9, 4, 18), DAY, DAY, 100_000,
        (payment(1), payment(2)),
    )  # fmt: skip
    folder = tmp_path / "camt"
    folder.mkdir()
    (folder / "n.xml").write_bytes(write_camt054(notified, message_id="N1"))
    (folder / "s.xml").write_bytes(write_camt053(day, message_id="S1"))
    assert ingest(home, folder / "n.xml") == (1, 0)
    assert ingest(home, folder / "s.xml") == (1, 1)
    assert credits(home) == 2


def test_when_two_statements_close_where_one_opens_nothing_is_assumed(
    home: Path, tmp_path: Path
) -> None:
    """A statement re-issued under another id closes where the original does: which one the
    next follows is unknown, so its payment identical to theirs is taken for a copy, as when
    no balances tie them (a payment counted twice is worse than one held back)."""
    reissued = statement("ST-0904-1-COPY", 1, 100_000, payment(1))
    ingest(home, mt940(tmp_path / "a", "morning", MORNING))
    ingest(home, mt940(tmp_path / "r", "reissued", reissued))
    assert ingest(home, mt940(tmp_path / "b", "afternoon", AFTERNOON)) == (1, 1)
    assert credits(home) == 2


TEMPLATES = ((5000, "INV-1001"), (5000, "INV-1001"), (700, "INV-1002"))
"""Payments drawn from few shapes, so identical ones fall in one statement and across several."""


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Statement], list[list[Statement]]]:
    """A day's consecutive statements, then the files they come in: runs of consecutive
    statements, repeated and in any order (gaps filled later included), sometimes a whole-day
    statement overlapping all."""
    count = draw(st.integers(2, 4))
    statements, opening, n = [], 100_000, 0
    for sequence in range(1, count + 1):
        shapes = draw(st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=3))
        lines = []
        for minor, text in shapes:
            n += 1
            lines.append(payment(n, minor, text))
        statements.append(statement(f"ST-{sequence}", sequence, opening, *lines))
        opening += sum(minor for minor, _ in shapes)
    runs = st.tuples(st.integers(0, count - 1), st.integers(1, count)).map(
        lambda r: statements[r[0] : r[0] + r[1]]
    )
    files = draw(st.lists(runs, min_size=1, max_size=6))
    files += [[s] for s in statements if not any(s in f for f in files)]
    files = draw(st.permutations(files))
    if draw(st.booleans()):
        whole = statement("ST-DAY", 99, 100_000, *(line for s in statements for line in s.lines))
        files.insert(draw(st.integers(0, len(files))), [whole])
    return statements, files


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_every_payment_is_stored_once_however_its_statements_arrive(
    case: tuple[list[Statement], list[list[Statement]]],
) -> None:
    statements, files = case
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        for i, delivered in enumerate(files):
            path = mt940(Path(folder) / f"in{i}", f"file{i}", *delivered)
            (result,) = ingest_paths([path], LedgerSettings(home=home)).files
            assert result.status in ("ingested", "duplicate"), result.reason
        assert credits(home) == sum(len(s.lines) for s in statements)


def sweep(n: int, minor: int) -> StatementLine:
    """The bank's end-of-day sweep of a zero-balance account (a debit)."""
    return StatementLine(f"S{n}", DAY, DAY, -minor, "EUR", remittance_text="ZBA SWEEP")


def test_balances_that_come_back_place_nothing(home: Path, tmp_path: Path) -> None:
    """A day that ends where it began (a swept zero-balance account, debits undoing credits)
    says nothing about which statement follows which: its payments are compared as copies."""
    morning = statement("ST-0904-1", 1, 0, payment(1))
    day = statement("ST-0904", 2, 0, payment(1), sweep(1, 5000))
    assert ingest(home, mt940(tmp_path / "a", "morning", morning)) == (1, 0)
    assert ingest(home, mt940(tmp_path / "b", "day", day)) == (1, 1)  # the sweep is new
    assert credits(home) == 1


def test_a_statement_of_the_whole_day_does_not_follow_the_day_come_back(
    home: Path, tmp_path: Path
) -> None:
    """Morning +P, noon -D back to the opening, evening +P again: the day's statement starts
    where the morning and the evening did, so no chain runs through it."""
    morning = statement("ST-1", 1, 100_000, payment(1))
    noon = statement("ST-2", 2, 105_000, sweep(2, 5000))
    evening = statement("ST-3", 3, 100_000, payment(3))
    day = statement("ST-DAY", 9, 100_000, payment(1), sweep(2, 5000), payment(3))
    for name, read in (("m", morning), ("n", noon), ("e", evening), ("d", day)):
        ingest(home, mt940(tmp_path / name, name, read))
    with open_ledger(home / "ledger.duckdb", read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM payments").fetchone()
    assert credits(home) == 2
    assert rows == (3,)


def test_a_statement_read_across_a_gap_is_put_right_when_the_gap_is_filled(
    home: Path, tmp_path: Path
) -> None:
    """The morning, then the evening (the afternoon missing: its payment looks like the
    morning's), then the afternoon: it joins the three, so the evening's is a payment too."""
    morning = statement("ST-1", 1, 100_000, payment(1))
    afternoon = statement("ST-2", 2, 105_000, payment(2))
    evening = statement("ST-3", 3, 110_000, payment(3))
    assert ingest(home, mt940(tmp_path / "m", "m", morning)) == (1, 0)
    assert ingest(home, mt940(tmp_path / "e", "e", evening)) == (0, 1)
    (result,) = ingest_paths(
        [mt940(tmp_path / "a", "a", afternoon)], LedgerSettings(home=home)
    ).files
    assert (result.new, result.duplicates, result.separated) == (1, 0, 1)
    assert credits(home) == 3
    assert ingest(home, mt940(tmp_path / "all", "all", morning, afternoon, evening)) == (0, 3)
    assert credits(home) == 3


def test_a_statement_put_right_takes_a_copy_an_overlapping_statement_brought(
    home: Path, tmp_path: Path
) -> None:
    """Morning, the whole day (three payments), evening, afternoon: the evening was taken for
    the morning's; put right, it is one of the whole day's, not a fourth payment."""
    morning = statement("ST-1", 1, 100_000, payment(1))
    afternoon = statement("ST-2", 2, 105_000, payment(2))
    evening = statement("ST-3", 3, 110_000, payment(3))
    day = statement("ST-DAY", 9, 100_000, payment(1), payment(2), payment(3))
    for name, read in (("m", morning), ("d", day), ("e", evening), ("a", afternoon)):
        ingest(home, mt940(tmp_path / name, name, read))
    assert credits(home) == 3

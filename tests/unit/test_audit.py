"""The audit chain detects an edited, deleted or reordered entry, and a cut tail."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import audit
from ledger.db import transaction


def _write(con: Any, n: int) -> None:
    with transaction(con):
        audit.append(
            con,
            [
                audit.NewEntry("tester", "apply", "payment", f"P{i}", {"amount": f"{i}.00", "i": i})
                for i in range(1, n + 1)
            ],
        )


def test_a_clean_chain_verifies(ledger_con: Any) -> None:
    _write(ledger_con, 5)
    report = audit.verify(ledger_con)
    assert report.ok and report.entries == 5 and report.head_seq == 5
    assert len(report.head_hash) == 64


def test_appends_continue_the_chain(ledger_con: Any) -> None:
    _write(ledger_con, 2)
    _write(ledger_con, 3)
    report = audit.verify(ledger_con)
    assert report.ok and report.entries == 5


def test_edited_payload_is_detected(ledger_con: Any) -> None:
    _write(ledger_con, 5)
    ledger_con.execute('UPDATE audit_log SET payload = \'{"amount":"999.00","i":3}\' WHERE seq = 3')
    problems = audit.verify(ledger_con).problems
    assert [(p.seq, "altered" in p.reason) for p in problems] == [(3, True)]


@pytest.mark.parametrize("column", ["actor", "action", "entity_id"])
def test_edited_field_is_detected(ledger_con: Any, column: str) -> None:
    _write(ledger_con, 4)
    ledger_con.execute(f"UPDATE audit_log SET {column} = 'mallory' WHERE seq = 2")
    assert [p.seq for p in audit.verify(ledger_con).problems] == [2]


def test_edited_timestamp_is_detected(ledger_con: Any) -> None:
    _write(ledger_con, 3)
    ledger_con.execute(
        "UPDATE audit_log SET recorded_at = recorded_at - INTERVAL 1 DAY WHERE seq = 1"
    )
    assert not audit.verify(ledger_con).ok


def test_deleted_entry_is_detected(ledger_con: Any) -> None:
    _write(ledger_con, 5)
    ledger_con.execute("DELETE FROM audit_log WHERE seq = 3")
    problems = audit.verify(ledger_con).problems
    assert problems and problems[0].seq == 4


def test_reordered_entries_are_detected(ledger_con: Any) -> None:
    _write(ledger_con, 5)
    # Swap the positions of entries 2 and 4, keeping each entry's own hash.
    ledger_con.execute("UPDATE audit_log SET seq = -2 WHERE seq = 2")
    ledger_con.execute("UPDATE audit_log SET seq = 2 WHERE seq = 4")
    ledger_con.execute("UPDATE audit_log SET seq = 4 WHERE seq = -2")
    problems = audit.verify(ledger_con).problems
    assert {p.seq for p in problems} >= {2, 4}


def test_cut_tail_is_detected(ledger_con: Any) -> None:
    _write(ledger_con, 5)
    ledger_con.execute("DELETE FROM audit_log WHERE seq = 5")
    problems = audit.verify(ledger_con).problems
    assert len(problems) == 1 and "removed from the end" in problems[0].reason


def test_rewritten_chain_without_the_head_is_detected(ledger_con: Any) -> None:
    """Recomputing every hash after an edit still leaves the recorded head behind."""
    _write(ledger_con, 3)
    entries = audit.load_entries(ledger_con)
    ledger_con.execute("DELETE FROM audit_log")
    prev = audit.GENESIS
    for e in entries:
        payload = dict(e.payload, amount="0.01") if e.seq == 2 else e.payload
        digest = audit.entry_hash(
            prev,
            e.seq,
            e.at,
            e.actor,
            e.action,
            e.entity,
            e.entity_id,
            audit.canonical_json(payload),
        )
        ledger_con.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                e.seq,
                e.at,
                e.actor,
                e.action,
                e.entity,
                e.entity_id,
                audit.canonical_json(payload),
                prev,
                digest,
            ],
        )
        prev = digest
    assert not audit.verify(ledger_con).ok


def test_an_aborted_transaction_leaves_no_entry(ledger_con: Any) -> None:
    _write(ledger_con, 1)
    with pytest.raises(RuntimeError), transaction(ledger_con):
        audit.append(ledger_con, [audit.NewEntry("t", "x", "y", "z", {})])
        raise RuntimeError("boom")
    report = audit.verify(ledger_con)
    assert report.ok and report.entries == 1

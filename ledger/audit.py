"""The append-only audit chain: each entry hashes its predecessor, so any later edit shows.

The pure part (canonical JSON, hashing, verification of a sequence of entries) is separate from
the two functions that read and write the ``audit_log`` table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.db import Connection, utcnow
from ledger.records import AuditEntry

GENESIS = ""
"""``prev_hash`` of the first entry."""


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same data always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    payload_json: str,
) -> str:
    """SHA-256 over the previous hash and this entry's content (``payload_json`` is canonical)."""
    body = canonical_json([seq, at.isoformat(), actor, action, entity, entity_id, payload_json])
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """Where the chain breaks: ``seq`` of the entry and what is wrong with it."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"audit entry {self.seq}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of a verification: entries checked, the head hash to keep, and every problem."""

    entries: int
    head_seq: int
    head_hash: str
    problems: tuple[ChainProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_entries(
    entries: Sequence[AuditEntry], head: tuple[int, str] | None = None
) -> ChainReport:
    """Check a chain ordered by ``seq``: contiguous from 1, linked, every hash recomputes.

    ``head`` is the recorded newest (seq, hash); a mismatch means the tail was cut or replaced.
    """
    problems: list[ChainProblem] = []
    prev_hash = GENESIS
    expected_seq = 1
    for entry in entries:
        if entry.seq != expected_seq:
            problems.append(
                ChainProblem(
                    entry.seq,
                    f"expected entry {expected_seq} here: entries are missing or reordered",
                )
            )
        if entry.prev_hash != prev_hash:
            problems.append(ChainProblem(entry.seq, "does not link to the entry before it"))
        recomputed = entry_hash(
            entry.prev_hash,
            entry.seq,
            entry.at,
            entry.actor,
            entry.action,
            entry.entity,
            entry.entity_id,
            canonical_json(entry.payload),
        )
        if recomputed != entry.hash:
            problems.append(ChainProblem(entry.seq, "content was altered after it was written"))
        prev_hash = entry.hash
        expected_seq = entry.seq + 1
    last_seq = entries[-1].seq if entries else 0
    if head is not None and head != (last_seq, prev_hash):
        problems.append(
            ChainProblem(
                last_seq,
                f"chain ends at entry {last_seq} but the recorded head is entry {head[0]}: "
                "entries were removed from the end or the head was altered",
            )
        )
    return ChainReport(len(entries), last_seq, prev_hash, tuple(problems))


@dataclass(frozen=True, slots=True)
class NewEntry:
    """What a caller records; seq, time and hashes are added by :func:`append`."""

    actor: str
    action: str
    entity: str
    entity_id: str
    payload: dict[str, Any]


def _head(con: Connection) -> tuple[int, str]:
    rows = con.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchall()
    return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS)


def append(con: Connection, entries: Iterable[NewEntry], at: datetime | None = None) -> int:
    """Append ``entries`` to the chain inside the caller's transaction; return the new head seq.

    Callers wrap this with the change it records in one transaction, so the audit entry and the
    change are written together or not at all.
    """
    seq, prev_hash = _head(con)
    when = at or utcnow()
    rows = []
    for entry in entries:
        seq += 1
        payload_json = canonical_json(entry.payload)
        digest = entry_hash(
            prev_hash,
            seq,
            when,
            entry.actor,
            entry.action,
            entry.entity,
            entry.entity_id,
            payload_json,
        )
        rows.append(
            (
                seq,
                when,
                entry.actor,
                entry.action,
                entry.entity,
                entry.entity_id,
                payload_json,
                prev_hash,
                digest,
            )
        )
        prev_hash = digest
    if not rows:
        return seq
    con.executemany("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(
        "INSERT INTO audit_head VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        [seq, prev_hash],
    )
    return seq


def load_entries(con: Connection) -> list[AuditEntry]:
    """Every audit entry, ordered by ``seq``."""
    rows = con.execute(
        "SELECT seq, recorded_at, actor, action, entity, entity_id, payload, prev_hash, hash "
        "FROM audit_log ORDER BY seq"
    ).fetchall()
    return [
        AuditEntry(
            seq=int(r[0]),
            at=r[1],
            actor=r[2],
            action=r[3],
            entity=r[4],
            entity_id=r[5],
            payload=json.loads(r[6]),
            prev_hash=r[7],
            hash=r[8],
        )
        for r in rows
    ]


def verify(con: Connection) -> ChainReport:
    """Verify the ledger's whole audit chain against its recorded head."""
    return verify_entries(load_entries(con), _head(con))

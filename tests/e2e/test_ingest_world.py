"""A whole simulated world's bank files and EDI 820s, read by arpilot, equal the ground truth."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ingest.edi820 import parse_edi820
from ledger.money import parse_amount
from pipelines.ingest import load_profiles, parse_any

ARPILOT = Path(sys.executable).parent / "arpilot"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    result = subprocess.run(
        [
            str(ARPILOT),
            "simulate",
            "--out",
            str(out),
            "--customers",
            "90",
            "--months",
            "3",
            "--preset",
            "hard",
            "--seed",
            "8",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    return out


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_bank_file_parses_to_its_ground_truth(world: Path) -> None:
    truth = rows(world / "truth" / "payments.csv")
    by_file: dict[str, list[dict[str, str]]] = {}
    for p in truth:
        by_file.setdefault(p["bank_file"], []).append(p)
    formats_seen = set()
    for name, expected in sorted(by_file.items()):
        path = world / name
        parsed = parse_any(
            path.read_bytes(), source=path.name, profiles=load_profiles(world, path, None)
        )
        assert not isinstance(parsed, list)
        formats_seen.add(parsed.file_format)
        credits = [t for t in parsed.transactions if t.amount.minor > 0]
        got = Counter(
            (
                t.amount.minor,
                t.amount.currency,
                t.booking_date.isoformat() if t.booking_date else "",
            )
            for t in credits
        )
        want = Counter(
            (parse_amount(p["amount"], p["currency"]), p["currency"], p["date"]) for p in expected
        )
        assert got == want, name
        # Payer names survive where the format carries them (BAI2/MT940 fold to ASCII upper/lower).
        named = {t.payer_name.casefold() for t in credits if t.payer_name}
        expected_names = {p["payer_name"].casefold() for p in expected if p["channel"] != "lockbox"}
        if parsed.file_format in ("camt053", "camt054", "csv"):
            assert named == expected_names, name
    assert formats_seen == {"bai2", "camt053", "camt054", "mt940", "csv"}


def test_structured_remittance_reaches_the_transactions(world: Path) -> None:
    allocations = rows(world / "truth" / "allocations.csv")
    invoices_paid = {a["invoice_number"] for a in allocations if a["invoice_number"]}
    structured = []
    for path in sorted(world.glob("bank/**/*.xml")):
        parsed = parse_any(path.read_bytes(), source=path.name)
        assert not isinstance(parsed, list)
        structured += [s.reference for t in parsed.transactions for s in t.structured]
    assert structured, "the hard world carries structured camt remittance"
    exact = [r for r in structured if r in invoices_paid]
    assert len(exact) >= len(structured) // 2  # the rest are mistyped or prefix-less on purpose


def test_every_edi820_parses_to_its_document(world: Path) -> None:
    documents = [d for d in rows(world / "truth" / "documents.csv") if d["kind"] == "edi820"]
    assert documents
    for d in documents:
        [advice] = parse_edi820((world / d["file"]).read_bytes(), source=d["file"])
        assert advice.total is not None
        assert advice.total.minor == parse_amount(d["total"], d["currency"])
        assert len(advice.lines) == int(d["lines"])


def test_ingest_the_world_twice(world: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = subprocess.run(
        [str(ARPILOT), "--home", str(home), "ingest", str(world / "bank"), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["totals"]["refused"] == 0
    credits = sum(1 for _ in rows(world / "truth" / "payments.csv"))
    state = json.loads(
        subprocess.run(
            [str(ARPILOT), "--home", str(home), "status", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )
    assert state["unapplied_payments"] == credits
    again = subprocess.run(
        [str(ARPILOT), "--home", str(home), "ingest", str(world / "bank"), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert json.loads(again.stdout)["totals"]["ingested"] == 0
    state_again = json.loads(
        subprocess.run(
            [str(ARPILOT), "--home", str(home), "status", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )
    assert state_again["payments"] == state["payments"]

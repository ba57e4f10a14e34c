"""`arpilot simulate` end to end: files other software reads, ground truth that adds up."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.money import parse_amount

ARPILOT = Path(sys.executable).parent / "arpilot"


def simulate(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(ARPILOT),
            "simulate",
            "--out",
            str(out),
            "--customers",
            "60",
            "--months",
            "4",
            "--seed",
            "3",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ.copy(),
    )


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    result = simulate(out, "--preset", "hard")
    assert result.returncode == 0, result.stderr
    assert "achieved" in result.stdout and "no_remittance" in result.stdout
    return out


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def truth_amounts_by_file(world: Path) -> dict[str, list[int]]:
    by_file: dict[str, list[int]] = defaultdict(list)
    for p in rows(world / "truth" / "payments.csv"):
        by_file[p["bank_file"]].append(parse_amount(p["amount"], p["currency"]))
    return by_file


def test_same_seed_same_bytes(world_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert simulate(again, "--preset", "hard").returncode == 0
    first = json.loads((world_dir / "manifest.json").read_text())["files"]
    second = json.loads((again / "manifest.json").read_text())["files"]
    assert first == second
    assert all((again / name).read_bytes() == (world_dir / name).read_bytes() for name in second)


def test_refuses_bad_arguments(world_dir: Path, tmp_path: Path) -> None:
    assert simulate(world_dir).returncode == 2  # not empty
    bad = simulate(tmp_path / "x", "--preset", "impossible")
    assert bad.returncode == 2 and "unknown preset" in bad.stderr


def test_bai2_files_parse_and_tie_to_truth(world_dir: Path) -> None:
    from bai2 import bai2  # independent reader

    expected = truth_amounts_by_file(world_dir)
    files = sorted(world_dir.glob("bank/**/*.bai"))
    assert files
    for path in files:
        parsed = bai2.parse_from_string(path.read_text(), check_integrity=True)
        credits = [
            t.amount
            for g in parsed.children
            for a in g.children
            for t in a.children
            if t.type_code.transaction.name == "credit"
        ]
        assert sorted(credits) == sorted(expected[str(path.relative_to(world_dir))])


def test_mt940_files_parse_and_tie_to_truth(world_dir: Path) -> None:
    import mt940  # independent reader

    expected = truth_amounts_by_file(world_dir)
    files = sorted(world_dir.glob("bank/**/*.sta"))
    assert files
    for path in files:
        statement = mt940.parse(path.read_bytes())
        amounts = [t.data["amount"].amount for t in statement.transactions]
        currency = statement.data["final_opening_balance"].amount.currency
        credits = [parse_amount(str(a), currency) for a in amounts if a > 0]
        assert sorted(credits) == sorted(expected[str(path.relative_to(world_dir))])
        opening = statement.data["final_opening_balance"].amount.amount
        closing = statement.data["final_closing_balance"].amount.amount
        assert opening + sum(amounts, Decimal(0)) == closing


def test_camt_files_are_schema_valid_and_tie_to_truth(world_dir: Path, camt_xsd_dir: Path) -> None:
    from lxml import etree

    expected = truth_amounts_by_file(world_dir)
    files = sorted(world_dir.glob("bank/**/*.xml"))
    assert files
    schemas: dict[str, etree.XMLSchema] = {}
    for path in files:
        doc = etree.parse(str(path))
        namespace = etree.QName(doc.getroot()).namespace
        version = namespace.rsplit(":", 1)[-1]
        if version not in schemas:
            schemas[version] = etree.XMLSchema(etree.parse(str(camt_xsd_dir / f"{version}.xsd")))
        assert schemas[version].validate(doc), (path.name, schemas[version].error_log)
        ns = {"c": namespace}
        credits = []
        for entry in doc.iterfind(".//c:Ntry", ns):
            if entry.findtext("c:CdtDbtInd", namespaces=ns) == "CRDT":
                amount = entry.find("c:Amt", ns)
                assert amount is not None and amount.text is not None
                credits.append(parse_amount(amount.text, amount.get("Ccy", "")))
        assert sorted(credits) == sorted(expected[str(path.relative_to(world_dir))])


def test_csv_statements_read_with_their_mapping(world_dir: Path) -> None:
    expected = truth_amounts_by_file(world_dir)
    for folder in {p.parent for p in world_dir.glob("bank/**/*.csv")}:
        mapping = json.loads((folder / "mapping.json").read_text())
        assert mapping
        for path in sorted(folder.glob("*.csv")):
            text = path.read_bytes().decode(str(mapping.get("encoding", "utf-8")))
            reader = csv.DictReader(text.splitlines(), delimiter=str(mapping["delimiter"]))
            credits = []
            for row in reader:
                column = str(mapping["amount"])
                amount = parse_amount(row[column], "USD", decimal_mark=str(mapping["decimal_mark"]))
                if amount > 0:
                    credits.append(amount)
            assert sorted(credits) == sorted(expected[str(path.relative_to(world_dir))])


def test_every_window_payment_is_in_exactly_one_bank_file(world_dir: Path) -> None:
    payments = rows(world_dir / "truth" / "payments.csv")
    assert payments and all(p["bank_file"] for p in payments)
    assert len({p["payment_id"] for p in payments}) == len(payments)


def test_scans_have_no_text_layer_and_text_pdfs_do(world_dir: Path) -> None:
    import pdfplumber

    documents = rows(world_dir / "truth" / "documents.csv")
    kinds = {d["kind"] for d in documents}
    assert {"pdf_scan", "pdf_text"} <= kinds
    for d in documents:
        if not d["file"].endswith(".pdf"):
            continue
        with pdfplumber.open(world_dir / d["file"]) as pdf:
            chars = sum(len(page.chars) for page in pdf.pages)
            images = sum(len(page.images) for page in pdf.pages)
        if d["kind"] == "pdf_scan":
            assert chars == 0 and images >= 1, d["file"]
        else:
            assert chars > 0, d["file"]


def test_ground_truth_adds_up_from_the_files(world_dir: Path) -> None:
    payments = {p["payment_id"]: p for p in rows(world_dir / "truth" / "payments.csv")}
    open_items = {r["invoice_number"]: r for r in rows(world_dir / "erp" / "open_items.csv")}
    applied: dict[str, int] = defaultdict(int)
    per_invoice: dict[str, int] = defaultdict(int)
    for a in rows(world_dir / "truth" / "allocations.csv"):
        cash = parse_amount(a["applied_amount"], a["currency"])
        applied[a["payment_id"]] += cash
        if a["invoice_number"]:
            per_invoice[a["invoice_number"]] += cash + parse_amount(
                a["adjustment_amount"], a["currency"]
            )
    for pid, p in payments.items():
        assert applied[pid] == parse_amount(p["amount"], p["currency"]), pid
    for number, amount in per_invoice.items():
        item = open_items[number]
        assert amount <= parse_amount(item["open_amount"], item["currency"]), number


def test_erp_export_imports_into_a_ledger(world_dir: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(ARPILOT),
            "--home",
            str(tmp_path),
            "import-erp",
            str(world_dir / "erp" / "open_items.csv"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    expected = len(rows(world_dir / "erp" / "open_items.csv"))
    assert json.loads(result.stdout)["new_invoices"] == expected

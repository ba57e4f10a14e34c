"""Committed sample remittance documents (written by this project) against golden outputs.

The samples are rendered by the project's simulator from the records below, and the goldens
are what `arpilot extract` printed for them when they were last reviewed. Both are rewritten
only on purpose: `pytest tests/data/test_document_goldens.py --regenerate-golden`.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pipelines.extract import extract_document, extraction_json
from simulator.documents import write_document
from simulator.model import AdviceLine, RemittanceDocument

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples" / "remittances"
GOLDEN = REPO / "tests" / "golden"


def _doc(name: str, kind: str, layout: int, currency: str, **extra: Any) -> RemittanceDocument:
    lines = (
        AdviceLine("INV-104233", 1_164_800, date(2026, 8, 3), 1_188_571, discount_minor=23_771),
        AdviceLine(
            "INV-104290",
            425_010,
            date(2026, 8, 9),
            450_000,
            deduction_minor=24_990,
            reason="DAMAGED",
        ),
        AdviceLine("CM-900017", -35_000, date(2026, 8, 12), -35_000),
        AdviceLine("INV-104377", 9_875_000, date(2026, 8, 20), 9_875_000),
    )
    return RemittanceDocument(
        document_id=name,
        payment_id="P0000001",
        kind=kind,
        payer_name="Borealis Foods GmbH" if currency == "EUR" else "Granite Construction Co.",
        payee_name="Arpilot Demo Manufacturing Inc.",
        payment_reference="0004471128",
        payment_date=date(2026, 9, 4),
        currency=currency,
        total_minor=sum(line.paid_minor for line in lines),
        lines=lines,
        payer_number="C10042",
        layout=layout,
        **extra,
    )


SAMPLE_DOCUMENTS = {
    "advice_layout0_usd": _doc("advice_layout0_usd", "pdf_text", 0, "USD"),
    "advice_layout1_eur": _doc("advice_layout1_eur", "pdf_text", 1, "EUR"),
    "advice_layout3_usd": _doc("advice_layout3_usd", "pdf_text", 3, "USD"),
    "advice_email_list": _doc("advice_email_list", "email", 2, "USD"),
    "advice_email_table_eur": _doc("advice_email_table_eur", "email", 1, "EUR"),
    "advice_csv_eu": _doc("advice_csv_eu", "csv", 1, "EUR"),
    "advice_scan_200dpi": _doc("advice_scan_200dpi", "png", 4, "USD", dpi=200, rotation_deg=2.5),
    "advice_edi820": _doc("advice_edi820", "edi820", 0, "USD"),
}


def _comparable(extracted: dict[str, Any], reader: str) -> dict[str, Any]:
    """OCR confidences and boxes depend on the Tesseract build; values must not."""
    if reader != "ocr":
        return extracted

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("confidence", "box", "page")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return dict(strip(extracted), flags=sorted(extracted.get("flags", [])))


@pytest.mark.parametrize("name", sorted(SAMPLE_DOCUMENTS))
def test_sample_matches_its_golden(name: str, request: pytest.FixtureRequest) -> None:
    doc = SAMPLE_DOCUMENTS[name]
    extension, data = write_document(doc)
    sample = SAMPLES / f"{name}.{extension}"
    golden = GOLDEN / f"{name}.json"
    if request.config.getoption("--regenerate-golden"):
        SAMPLES.mkdir(parents=True, exist_ok=True)
        GOLDEN.mkdir(parents=True, exist_ok=True)
        sample.write_bytes(data)
        extracted = extraction_json(extract_document(data, source=sample.name))
        golden.write_text(json.dumps(extracted, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"regenerated {sample.name} and {golden.name}: review the diff")
    assert sample.read_bytes() == data, f"{sample.name} no longer matches what the simulator writes"
    extracted = extraction_json(extract_document(sample.read_bytes(), source=sample.name))
    expected = json.loads(golden.read_text())
    reader = str(expected.get("reader", ""))
    assert _comparable(extracted, reader) == _comparable(expected, reader)


@pytest.mark.parametrize("name", sorted(SAMPLE_DOCUMENTS))
def test_golden_holds_the_truth(name: str) -> None:
    """The reviewed goldens themselves say what the documents say (so a wrong golden fails)."""
    doc = SAMPLE_DOCUMENTS[name]
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    if golden["reader"] == "edi820":
        [advice] = golden["advices"]
        lines = [(line["reference"], line["paid"]) for line in advice["lines"]]
    else:
        lines = [(line["reference"]["value"], line["paid"]) for line in golden["lines"]]
    from ledger.money import format_amount

    assert lines == [
        (line.reference, format_amount(line.paid_minor, doc.currency)) for line in doc.lines
    ]

"""EDI X12 820 remittance advices: exact against what the simulator wrote, strict on envelopes."""

from __future__ import annotations

import contextlib
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.edi820 import parse_edi820
from ledger.errors import ParseError, UnbalancedStatement
from simulator.documents.edi820 import write_edi820
from simulator.model import AdviceLine, RemittanceDocument


def document(currency: str = "USD", layout: int = 0) -> RemittanceDocument:
    lines = (
        AdviceLine("INV-100231", 98_000, date(2026, 9, 1), 100_000, discount_minor=2_000),
        AdviceLine(
            "INV-100232", 45_050, date(2026, 9, 3), 50_000, deduction_minor=4_950, reason="DAMAGED"
        ),
        AdviceLine("CM-900001", -12_500, date(2026, 9, 4), -12_500),
        AdviceLine("INV-100240", 1_234_567, date(2026, 9, 9), 1_234_567),
    )
    return RemittanceDocument(
        document_id="RATEST0001",
        payment_id="P0000001",
        kind="edi820",
        payer_name="Borealis Foods & Co GmbH",
        payee_name="Arpilot Demo Manufacturing Inc.",
        payment_reference="0004412345",
        payment_date=date(2026, 9, 30),
        currency=currency,
        total_minor=sum(line.paid_minor for line in lines),
        lines=lines,
        payer_number="C10042",
        layout=layout,
    )


@pytest.mark.parametrize("currency", ["USD", "EUR"])
@pytest.mark.parametrize("layout", [0, 1])
def test_round_trip_equals_the_document(currency: str, layout: int) -> None:
    doc = document(currency, layout)
    [advice] = parse_edi820(write_edi820(doc), source="x.edi")
    assert advice.payer_name.casefold() == doc.payer_name.casefold()
    assert advice.payment_reference == doc.payment_reference
    assert advice.payment_date == doc.payment_date
    assert advice.total is not None
    assert (advice.total.minor, advice.total.currency) == (doc.total_minor, currency)
    assert [line.reference for line in advice.lines] == [line.reference for line in doc.lines]
    assert [line.paid.minor for line in advice.lines] == [line.paid_minor for line in doc.lines]
    assert [line.gross.minor if line.gross else None for line in advice.lines] == [
        line.gross_minor for line in doc.lines
    ]
    assert [line.invoice_date for line in advice.lines] == [line.invoice_date for line in doc.lines]
    discount = advice.lines[0].discount
    deduction = advice.lines[1].deduction
    assert discount is not None and discount.minor == 2_000
    assert deduction is not None and deduction.minor == 4_950
    assert advice.lines[1].reason == "damaged goods"


def test_every_simulated_edi_document_parses_to_its_ground_truth(seed: int) -> None:
    from simulator.presets import PRESETS
    from simulator.world import generate

    world = generate(seed, 120, 4, PRESETS["hard"])
    docs = [d for d in world.documents if d.kind == "edi820"]
    assert docs
    for doc in docs:
        [advice] = parse_edi820(write_edi820(doc), source=doc.document_id)
        assert advice.total is not None and advice.total.minor == doc.total_minor
        assert [(line.reference, line.paid.minor) for line in advice.lines] == [
            (line.reference, line.paid_minor) for line in doc.lines
        ]


def test_unbalanced_advice_is_refused() -> None:
    text = write_edi820(document()).decode()
    bpr = next(seg for seg in text.split("~") if seg.strip().startswith("BPR"))
    parts = bpr.split("*")
    parts[2] = "1.00"
    with pytest.raises(UnbalancedStatement, match="BPR says"):
        parse_edi820(text.replace(bpr, "*".join(parts)).encode())


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: t[: t.index("IEA")], "no IEA"),
        (lambda t: t.replace("SE*", "SE*99", 1), "segments"),
        (lambda t: "GARBAGE" + t, "ISA"),
        (lambda t: t.replace("ST*820", "ST*810"), "not an 820"),
    ],
)
def test_broken_envelopes_are_refused(mangle: object, message: str) -> None:
    text = write_edi820(document()).decode()
    with pytest.raises(ParseError, match=message):
        parse_edi820(mangle(text).encode())  # type: ignore[operator]


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_mutation_parses_or_raises_parse_error(data: st.DataObject) -> None:
    original = bytearray(write_edi820(document()))
    kind = data.draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
    at = data.draw(st.integers(0, len(original) - 1))
    if kind == "truncate":
        mutated = bytes(original[:at])
    elif kind == "flip":
        original[at] = data.draw(st.integers(0, 255))
        mutated = bytes(original)
    elif kind == "insert":
        mutated = bytes(
            original[:at] + data.draw(st.binary(min_size=1, max_size=8)) + original[at:]
        )
    else:
        mutated = bytes(original[:at] + original[at + data.draw(st.integers(1, 20)) :])
    with contextlib.suppress(ParseError):
        parse_edi820(mutated, source="fuzz.edi")


def _with_remittance_adjustment(adjustment: str, total: str) -> bytes:
    """An 820 of two invoices paid in full less a freight deduction on the whole remittance
    (ADX after ENT, before the first RMR), and a second remittance (ENT) after it."""
    segments = [
        "ST*820*0001",
        f"BPR*C*{total}*C*ACH*CTX*01*011000015*DA*123456*1234567890**01*021000021*DA*987654"
        "*20240301",
        "TRN*1*TRACE0001*1234567890",
        "N1*PR*ACME CORP*91*CUST001",
        "ENT*1",
        f"ADX*{adjustment}*54",
        "RMR*IV*INV-1001**200.00*200.00",
        "DTM*003*20240201",
        "RMR*IV*INV-1002**150.00*150.00",
        "ADX*-10.00*04",
        "ENT*2",
        "RMR*IV*INV-1003**100.00*100.00",
    ]
    segments.append(f"SE*{len(segments) + 1}*0001")
    return (
        "ISA*00*          *00*          *ZZ*PAYERID        *ZZ*PAYEEID        *240301*1200*U"
        "*00401*000000001*0*P*>~GS*RA*PAYER*PAYEE*20240301*1200*1*X*004010~"
        + "~".join(segments)
        + "~GE*1*1~IEA*1*000000001~"
    ).encode()


def test_an_adjustment_on_the_whole_remittance_is_kept_apart_from_the_invoices() -> None:
    # Lines pay 450.00, the payer took 25.00 freight off the whole remittance: 425.00 sent.
    (advice,) = parse_edi820(_with_remittance_adjustment("-25.00", "425.00"))
    assert advice.total is not None and advice.total.minor == 42_500
    assert advice.unassigned_deduction is not None and advice.unassigned_deduction.minor == 2_500
    assert advice.unassigned_reason == "freight deduction"
    # The invoice-level adjustment stays on its invoice, and dates on theirs.
    assert [(line.reference, line.paid.minor) for line in advice.lines] == [
        ("INV-1001", 20_000),
        ("INV-1002", 15_000),
        ("INV-1003", 10_000),
    ]
    deductions = [line.deduction.minor if line.deduction else None for line in advice.lines]
    assert deductions == [None, 1_000, None]
    assert [line.invoice_date for line in advice.lines] == [date(2024, 2, 1), None, None]
    # Lines and adjustment must still tie to the payment.
    with pytest.raises(UnbalancedStatement, match=r"adjustments of -25\.00 USD but BPR says"):
        parse_edi820(_with_remittance_adjustment("-25.00", "430.00"))


def test_a_discount_written_negative_is_the_discount_the_payer_took() -> None:
    # RMR06 carries the discount; some payers write it with the sign of its effect.
    data = (
        _with_remittance_adjustment("-25.00", "425.00")
        .replace(b"RMR*IV*INV-1001**200.00*200.00", b"RMR*IV*INV-1001**196.00*200.00*-4.00")
        .replace(b"BPR*C*425.00", b"BPR*C*421.00")
    )
    (advice,) = parse_edi820(data)
    first = advice.lines[0]
    assert (first.paid.minor, first.gross.minor, first.discount.minor) == (19_600, 20_000, 400)  # type: ignore[union-attr]

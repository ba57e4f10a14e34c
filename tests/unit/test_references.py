"""The reference matcher against a slow, obviously-correct twin, and its trust order."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from matching import references as refs
from matching.references import Quality, ReferenceIndex


def _slow_one_edit(observed: str, numbers: list[str]) -> set[str]:
    """Every invoice whose trailing number is one edit (OSA) from ``observed``, the long way."""
    if len(observed) < refs.MIN_CORE + 1:
        return set()
    found = set()
    for number in numbers:
        theirs = refs.core(number)
        if len(theirs) < refs.MIN_CORE + 1:
            continue
        if OSA.distance(observed, theirs) <= 1:
            found.add(number)
    return found


def _slow_near(written: str, numbers: list[str]) -> set[str]:
    """One edit from the number read (OCR confusions read back, leading zeros dropped) or, when
    the number as written starts with a zero, from it as written: a dropped first digit."""
    digits = "".join(itertools.takewhile(str.isdigit, reversed(refs.key(written))))[::-1]
    as_written = digits if digits.startswith("0") else ""
    read = refs.ocr_core(written) or refs.core(written)
    return _slow_one_edit(read, numbers) | _slow_one_edit(as_written, numbers)


def _book(rng: random.Random, n: int) -> list[str]:
    numbers = {f"INV-{rng.randint(100000, 100000 + 3 * n):06d}" for _ in range(n)}
    return sorted(numbers)


def _mangle(rng: random.Random, number: str) -> str:
    digits = number[4:]
    i = rng.randrange(len(digits))
    choice = rng.choice(("transpose", "drop", "extra", "swap", "ocr", "prefix", "same"))
    if choice == "transpose" and i + 1 < len(digits):
        digits = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
    elif choice == "drop":
        digits = digits[:i] + digits[i + 1 :]
    elif choice == "extra":
        digits = digits[: i + 1] + digits[i] + digits[i + 1 :]
    elif choice == "swap":
        digits = digits[:i] + rng.choice("0123456789") + digits[i + 1 :]
    elif choice == "ocr":
        digits = digits.replace("0", "O", 1)
    elif choice == "prefix":
        return digits
    return "INV-" + digits


@pytest.mark.parametrize("n", [5, 40, 300])
def test_lookup_agrees_with_the_slow_twin(seed: int, n: int) -> None:
    rng = random.Random(seed * 1000 + n)
    numbers = _book(rng, n)
    index = ReferenceIndex((number, "") for number in numbers)
    for _ in range(300):
        written = _mangle(rng, rng.choice(numbers))
        hits = index.lookup(written, numbers)
        found = {h.invoice_number for h in hits}
        qualities = {h.quality for h in hits}
        assert len(qualities) <= 1, "one lookup answers at one level of trust"
        exact = {n for n in numbers if refs.key(n) == refs.key(written)}
        if exact:
            assert found == exact and qualities == {Quality.EXACT}
            continue
        same_number = {n for n in numbers if refs.core(n) == refs.core(written)}
        if len(refs.core(written)) >= refs.MIN_CORE and same_number:
            assert found == same_number and qualities <= {Quality.CORE}
            continue
        read = refs.ocr_core(written)
        same_read = {n for n in numbers if refs.core(n) == read}
        if len(read) >= refs.MIN_CORE and same_read:
            assert found == same_read and qualities <= {Quality.OCR, Quality.CORE}
            continue
        assert found == _slow_near(written, numbers)


def test_the_global_scan_equals_the_scoped_one_over_everything(seed: int) -> None:
    rng = random.Random(seed)
    numbers = _book(rng, 200)
    index = ReferenceIndex((number, "") for number in numbers)
    for _ in range(100):
        written = _mangle(rng, rng.choice(numbers))
        assert index.lookup(written, None) == index.lookup(written, numbers)


@pytest.mark.parametrize("n", [40, 300])
def test_neighbours_anywhere_agrees_with_the_slow_twin(seed: int, n: int) -> None:
    rng = random.Random(seed * 7 + n)
    numbers = _book(rng, n)
    index = ReferenceIndex((number, "") for number in numbers)
    for written in (_mangle(rng, rng.choice(numbers)) for _ in range(200)):
        found = {h.invoice_number for h in index.neighbours_anywhere(written)}
        twin = _slow_near(written, numbers) - {
            n for n in numbers if refs.core(n) == refs.core(written)
        }
        assert found == twin, written
        assert found == {h.invoice_number for h in index.neighbours(written, numbers)}
        # The caller's filter only narrows the answer: nothing else changes.
        even = [h for h in index.neighbours_anywhere(written) if int(h.invoice_number[-1]) % 2 == 0]
        assert index.neighbours_anywhere(written, keep=lambda n: int(n[-1]) % 2 == 0) == even


def test_trust_order_exact_core_ocr_po_one_edit() -> None:
    index = ReferenceIndex([("INV-100711", "PO-4500123"), ("INV-000523", "")])
    assert index.lookup("inv 100711")[0].quality is Quality.EXACT
    assert index.lookup("100711")[0].quality is Quality.CORE
    assert index.lookup("INV-523")[0].quality is Quality.CORE
    assert index.lookup("INV-1OO7I1")[0].quality is Quality.OCR
    assert index.lookup("PO4500123")[0].quality is Quality.PO
    assert index.lookup("107011", ["INV-100711"])[0].quality is Quality.ONE_EDIT
    assert index.lookup("107011") == [], "no one-edit guess without a scope"


def test_a_po_number_misread_by_a_scan_is_read_back() -> None:
    index = ReferenceIndex([("INV-128299", "PO58924"), ("INV-128300", "PO-62433")])
    assert [(h.invoice_number, h.quality) for h in index.lookup("POS8924")] == [
        ("INV-128299", Quality.PO)
    ]
    assert index.lookup("P06 2433")[0].invoice_number == "INV-128300"  # O read as a zero
    # Only characters a scan confuses with digits are read back: another digit is no PO.
    assert index.lookup("PO58925") == []
    assert refs.folded("POS8924") == refs.folded("PO58924") == "P058924"


def test_a_number_whose_first_digit_was_dropped_is_one_edit_from_it() -> None:
    # 'INV-04769' for INV-104769: without the zero, 4769 is two edits away, and too short.
    index = ReferenceIndex([("INV-104769", ""), ("INV-204769", ""), ("INV-000523", "")])
    hits = index.lookup("INV-04769", ["INV-104769", "INV-000523"])
    assert [(h.invoice_number, h.quality) for h in hits] == [("INV-104769", Quality.ONE_EDIT)]
    assert {h.invoice_number for h in index.neighbours_anywhere("INV-04769")} == {
        "INV-104769",
        "INV-204769",
    }
    assert index.lookup("INV-0523")[0].quality is Quality.CORE, "zero padding is no typo"


def test_short_numbers_words_amounts_and_dates_are_not_references() -> None:
    assert refs.tokens("ACH CREDIT 1,234.56 2025-06-02 re 12 INV-100711") == ["INV-100711"]
    assert refs.ocr_core("DISCOUNT") == ""
    index = ReferenceIndex([("INV-000012", "")])
    assert index.lookup("12", None) == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_gives_tokens_and_lookups_without_error(text: str) -> None:
    index = ReferenceIndex([("INV-100711", "PO1"), ("CM-900001", "")])
    for token in refs.tokens(text):
        for hit in index.lookup(token, None):
            assert hit.invoice_number in {"INV-100711", "CM-900001"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INV2201/2204", ["INV2201", "INV2204"]),
        ("PMT INV-1001/02/03", ["INV-1001", "INV-1002", "INV-1003"]),
        ("100231/100232", ["100231", "100232"]),
        # Slashes that are the number's own, or a year and a serial, stay whole.
        ("INV/2019/0001", ["INV/2019/0001"]),
        ("FV/12/2025", ["FV/12/2025"]),
        ("2025/001234", ["2025/001234"]),
        ("INV1001/12345", ["INV1001/12345"]),
    ],
)
def test_a_slashed_list_of_invoice_numbers_names_each(text: str, expected: list[str]) -> None:
    assert refs.tokens(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Payment for Invoice 102 and inv. no. 87", ["INVOICE 102", "INV 87"]),
        ("INVOICE NUMBER: 45", ["INVOICE 45"]),
        ("Rechnung Nr. 311", ["RECHNUNG 311"]),
        ("INV-102", ["INV-102"]),  # written together: one token already, not two
        ("Invoice 12.50", []),  # an amount after the word is no invoice number
        ("order 102 re 12", []),  # no word for an invoice: too short to mean one
        ("INV 12/05/2025", []),  # a date
        ("BILL 3 OF 12", []),  # an instalment
        ("INV 7/8 INV 4-6", []),
    ],
)
def test_a_short_number_after_the_word_for_an_invoice_is_a_reference(
    text: str, expected: list[str]
) -> None:
    assert refs.tokens(text) == expected


def test_a_short_invoice_number_is_found_only_among_the_payers_own_and_after_the_word() -> None:
    index = ReferenceIndex([("102", ""), ("INV-87", ""), ("INV-1020", ""), ("12", "")])
    payers = ["102", "INV-87", "INV-1020"]  # '12' is another customer's
    assert [(h.invoice_number, h.quality) for h in index.lookup("INVOICE 102", payers)] == [
        ("102", Quality.CORE)
    ]
    assert [h.invoice_number for h in index.lookup("INV-102", payers)] == ["102"]
    assert [h.invoice_number for h in index.lookup("INV 87", ())] == ["INV-87"]  # exact
    assert [h.invoice_number for h in index.lookup("INV 1020", ())] == ["INV-1020"]
    assert index.lookup("ORDER 102", payers) == [] and index.lookup("INV 10", payers) == []
    assert index.lookup("INVOICE 12", payers) == []  # a stranger's: too short to cross over
    assert index.lookup("INVOICE 102", None) == []  # nobody known: too short to say who

"""Invoice references as customers write them, matched to the open invoices they mean.

A reference is compared on two keys:

- ``key``: upper-case letters and digits only ('inv-100711' -> 'INV100711');
- ``core``: the trailing number with leading zeros dropped ('INV-000711' -> '711'), read through
  the usual OCR confusions ('1OO711' -> '100711') on the observed side.

A lookup tries, in order of trust: the exact key, the invoice's own number behind a dropped
prefix or leading zeros (``core``), the OCR reading, the PO number (as written, or read through
the same confusions: 'POS8924' for 'PO58924'), and finally one edit away on the core (a
transposed, missing, extra or wrong digit) within the open items the caller names. Every hit
says how it was found, because the scorer weighs 'exact' and 'one edit away' very differently.
"""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")
_TRAILING_DIGITS = re.compile(r"[0-9]+$")
_LEADING_ZEROS = re.compile(r"(?<![0-9])0+(?=[0-9])")
# Letters OCR and typists put where a digit belongs.
_OCR_DIGITS = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "S": "5", "B": "8", "Z": "2", "G": "6"})  # fmt: skip
_CONFUSABLE_TAIL = re.compile(r"[0-9OQDILSBZG]+$")
# Candidate references in free text: a run of letters, digits and separators holding a digit.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-/#.]*[A-Za-z0-9]|[0-9]")
_AMOUNT_OR_DATE = re.compile(r"^\d{1,3}(?:[.,]\d{3})*[.,]\d{2}$|^\d{2,4}[-/.]\d{1,2}[-/.]\d{1,4}$")
MIN_CORE = 4
"""Shorter numbers ('12', '2025') say too little to name an invoice on their own."""
# A short number says enough after the word for an invoice ('Invoice 102', 'INV #87',
# 'Rechnung Nr. 311', 'Facture 45'): the word and the number are read as one reference.
_INVOICE_WORDS = r"INV|INVC|INVOICE|BILL|RECHNUNG|RG|FACT|FACTURE|FACTURA|FAKTURA|FV"
_WORD_AND_SHORT_NUMBER = re.compile(
    rf"\b(?P<word>{_INVOICE_WORDS})(?P<gap>\.?\s*(?:(?:NO|NR)\.?|NUMBER)?\s*[#:]?\s*)"
    # not an amount (12.50), a date or fraction (12/05/2025, 7/8), a range or an instalment
    r"(?P<number>[0-9]{1,3})\b(?![.,][0-9])(?!\s*(?:[/-]\s*[0-9]|OF\b))",
    re.IGNORECASE,
)
_SHORT_KEY = re.compile(rf"(?:{_INVOICE_WORDS})(?:NO|NR|NUMBER)?(?P<number>[0-9]{{1,3}})")


class Quality(enum.IntEnum):
    """How a reference was matched, most trusted first (lower is better)."""

    EXACT = 0  # the invoice number as the ERP writes it
    CORE = 1  # same number, prefix or leading zeros dropped
    OCR = 2  # same number once OCR/typing letter-for-digit confusions are read back
    PO = 3  # the purchase order the invoice was raised against
    ONE_EDIT = 4  # one digit transposed, dropped, added or wrong


@dataclass(frozen=True, slots=True)
class ReferenceHit:
    """An open invoice a written reference may mean.

    reference: the text as written; invoice_number: the ledger's number; quality: how found.
    """

    reference: str
    invoice_number: str
    quality: Quality


def key(reference: str) -> str:
    """Upper-case letters and digits only."""
    return _NOT_ALNUM.sub("", reference.upper())


def unpadded(reference: str) -> str:
    """The key with leading zeros of every number dropped ('INV-000523' -> 'INV523')."""
    return _LEADING_ZEROS.sub("", key(reference))


def core(reference: str) -> str:
    """The trailing number without leading zeros ('' when the reference ends in a letter)."""
    found = _TRAILING_DIGITS.search(key(reference))
    return found.group().lstrip("0") if found else ""


def ocr_core(reference: str) -> str:
    """The trailing number read through letter-for-digit confusions ('INV-1OO7I1' -> '100711').

    The tail is taken as far back as characters could be digits; letters are only read as
    digits when there are at least as many digits there, so 'DISCOUNT' stays a word.
    """
    found = _CONFUSABLE_TAIL.search(key(reference))
    if not found:
        return ""
    tail = found.group()
    digits = sum(c.isdigit() for c in tail)
    while tail and digits < len(tail) - digits:
        tail = tail[1:]
        digits = sum(c.isdigit() for c in tail)
    return tail.translate(_OCR_DIGITS).lstrip("0")


def folded(reference: str) -> str:
    """The key with every character OCR confuses with a digit written as that digit, wherever
    it stands ('POS8924' and 'PO58924' -> 'P058924'): two references that fold alike differ
    only where a scan could have misread one as the other."""
    return key(reference).translate(_OCR_DIGITS)


_SLASHED_LIST = re.compile(r"(?P<head>.*?)(?P<digits>[0-9]+)(?P<rest>(?:/[0-9]+)+)")


def _slashed_list(token: str) -> list[str]:
    """The invoices a slashed list names, each number after a slash in the first one's place
    ('INV2201/2204' -> INV2201, INV2204; 'INV-1001/02' -> INV-1001, INV-1002); the token
    itself when it is no such list. Without a prefix the numbers must be as long as the first
    and five digits at least ('100231/100232'), so a year and a serial ('2025/001234') or an
    invoice number with slashes of its own ('FV/12/2025', 'INV/2019/0001') stays whole."""
    m = _SLASHED_LIST.fullmatch(token)
    if m is None:
        return [token]
    head, digits = m["head"], m["digits"]
    later = m["rest"].split("/")[1:]
    if "/" in head:  # 'INV/2019/0001': the slashes are the number's own
        return [token]
    if any(c.isalpha() for c in head):
        fits = all(len(part) <= len(digits) for part in later)
    else:
        fits = not head and len(digits) > MIN_CORE and all(len(p) == len(digits) for p in later)
    if not fits:
        return [token]
    return [head + digits] + [head + digits[: len(digits) - len(part)] + part for part in later]


def tokens(text: str) -> list[str]:
    """Candidate references in free text, in order, without amounts and dates; a slashed
    list of invoice numbers gives each of them, and a number of one to three digits after the
    word for an invoice gives the two as one ('Invoice 102' -> 'INVOICE 102')."""
    # Word and number written apart; written together ('INV-102') they are one token below.
    found = [
        f"{m['word'].upper()} {m['number']}"
        for m in _WORD_AND_SHORT_NUMBER.finditer(text)
        if re.search(r"[\s:]", m["gap"])
    ]
    for whole in _TOKEN.findall(text):
        whole = whole.strip(".-/#")
        if _AMOUNT_OR_DATE.match(whole):
            continue
        for token in _slashed_list(whole):
            if len(key(token)) < MIN_CORE or not any(c.isdigit() for c in token):
                continue
            found.append(token)
    return found


class ReferenceIndex:
    """Open invoices by key, core and PO number, for references written by customers.

    ``lookup`` returns every open invoice a reference may mean, best quality only: a reference
    that matches one invoice exactly is not also reported as one edit away from another.
    """

    def __init__(self, invoices: Iterable[tuple[str, str]]) -> None:
        """``invoices``: (invoice_number, po_number) of every open item."""
        self._by_key: dict[str, list[str]] = defaultdict(list)
        self._by_core: dict[str, list[str]] = defaultdict(list)
        self._by_unpadded: dict[str, list[str]] = defaultdict(list)
        self._by_po: dict[str, list[str]] = defaultdict(list)
        self._by_folded_po: dict[str, list[str]] = defaultdict(list)
        self._by_short_core: dict[str, list[str]] = defaultdict(list)
        self._core_of: dict[str, str] = {}
        self._everything: list[str] | None = None
        for number, po in invoices:
            self._by_key[key(number)].append(number)
            self._by_unpadded[unpadded(number)].append(number)
            number_core = core(number)
            self._core_of[number] = number_core
            if len(number_core) >= MIN_CORE:
                self._by_core[number_core].append(number)
            elif number_core:
                self._by_short_core[number_core].append(number)
            if po and len(key(po)) >= MIN_CORE:
                self._by_po[key(po)].append(number)
                self._by_folded_po[folded(po)].append(number)

    def lookup(self, reference: str, within: Sequence[str] | None = ()) -> list[ReferenceHit]:
        """Open invoices ``reference`` may mean; one-edit matches, and a short number after
        the word for an invoice, only among ``within`` (``None``: one-edit matches among every
        open invoice, for a payer nobody recognised)."""
        # 'INV-3' is the ledger's INV-3 when the payer owns it; so short a number names no
        # stranger's invoice, nor says who a payer nobody knows is (an advice line, looked up
        # with ``within`` empty, is the payer's own table and is taken as written).
        plain = core(reference)
        mine = set(within or ()) if len(plain) < MIN_CORE and within != () else None

        def kept(numbers: list[str]) -> list[str]:
            return numbers if mine is None else [n for n in numbers if n in mine]

        if exact := kept(self._by_key.get(key(reference), [])):
            return self._hits(reference, exact, Quality.EXACT)
        unpadded_hits = kept(self._by_unpadded.get(unpadded(reference), []))
        if unpadded_hits and len(key(reference)) >= MIN_CORE:
            return self._hits(reference, unpadded_hits, Quality.CORE)
        if len(plain) >= MIN_CORE and (found := self._by_core.get(plain)):
            return self._hits(reference, found, Quality.CORE)
        short = _SHORT_KEY.fullmatch(key(reference))
        if short and within:
            # 'Invoice 102' for the ledger's 102 or INV-102: the word says it is an invoice,
            # but so short a number is only the payer's own (``within``), never a stranger's.
            own = set(within)
            number = short["number"].lstrip("0")
            if short_hits := [n for n in self._by_short_core.get(number, ()) if n in own]:
                return self._hits(reference, short_hits, Quality.CORE)
        read = ocr_core(reference)
        if len(read) >= MIN_CORE and read != plain and (found := self._by_core.get(read)):
            return self._hits(reference, found, Quality.OCR)
        found = self._by_po.get(key(reference)) or self._by_folded_po.get(folded(reference))
        if found:
            return self._hits(reference, found, Quality.PO)
        return self._one_edit(reference, within)

    def neighbours(self, reference: str, within: Sequence[str]) -> list[ReferenceHit]:
        """Open invoices among ``within`` one edit away from ``reference`` (itself excluded):
        the other numbers a mistyped reference may have meant."""
        return self._others(reference, self._one_edit(reference, within))

    def neighbours_anywhere(
        self, reference: str, keep: Callable[[str], bool] | None = None
    ) -> list[ReferenceHit]:
        """Open invoices of any customer whose core is one digit edit away from the reference's
        core or from its number as written (see :func:`_observed`; itself excluded): each of
        the few hundred numbers one edit makes is looked up, rather than comparing the
        reference with every open invoice. In number order, whatever the string hashing of the
        run. ``keep``: only the numbers it accepts (in a dense book most of those few hundred
        numbers are open, and the caller wants the one or two that fit an amount)."""
        numbers = (
            n
            for observed in _observed(reference)
            if observed.isdigit()
            for variant in sorted(_one_digit_edits(observed))
            for n in self._by_core.get(variant, ())
            if keep is None or keep(n)
        )
        return self._others(reference, self._hits(reference, numbers, Quality.ONE_EDIT))

    def _others(self, reference: str, hits: list[ReferenceHit]) -> list[ReferenceHit]:
        """``hits`` but the invoices the reference itself names."""
        plain = core(reference)
        return [h for h in hits if self._core_of.get(h.invoice_number) != plain]

    def _one_edit(self, reference: str, within: Sequence[str] | None) -> list[ReferenceHit]:
        observed = _observed(reference)
        if not observed or within == ():
            return []
        if within is None:
            if self._everything is None:
                self._everything = list(self._core_of)
            within = self._everything
        cores = [self._core_of.get(number, "") for number in within]
        near = sorted(
            (distance, at)
            for written in observed
            for _, distance, at in process.extract(
                written, cores, scorer=OSA.distance, score_cutoff=1, limit=None
            )
            if distance <= 1 and len(cores[at]) >= MIN_CORE + 1
        )
        return self._hits(reference, (within[at] for _, at in near), Quality.ONE_EDIT)

    @staticmethod
    def _hits(reference: str, numbers: Iterable[str], quality: Quality) -> list[ReferenceHit]:
        return [ReferenceHit(reference, n, quality) for n in dict.fromkeys(numbers)]


def _observed(reference: str) -> tuple[str, ...]:
    """The numbers one edit is measured from: the core (read through OCR confusions when that
    reads more), and the number with its leading zeros when it has any (see
    :func:`_dropped_first_digit`). Below five digits one edit reaches too many numbers to mean
    anything."""
    numbers = (ocr_core(reference) or core(reference), _dropped_first_digit(reference))
    return tuple(n for n in dict.fromkeys(numbers) if len(n) >= MIN_CORE + 1)


def _dropped_first_digit(reference: str) -> str:
    """The trailing number as written, leading zeros kept, when it starts with one: a number
    whose first digit was dropped ('INV-04769' for 'INV-104769'); else ''. Dropping the zeros,
    as :func:`core` does, would take it two edits away from the number it means."""
    found = _TRAILING_DIGITS.search(key(reference))
    written = found.group() if found else ""
    return written if written.startswith("0") and written.lstrip("0") else ""


def _one_digit_edits(number: str) -> set[str]:
    """``number`` and every number one digit transposed, dropped, added or changed away from
    it (without leading zeros, at least ``MIN_CORE + 1`` digits)."""
    digits = "0123456789"
    n = len(number)
    variants = {number[:k] + number[k + 1 :] for k in range(n)}
    variants |= {number[:k] + number[k + 1] + number[k] + number[k + 2 :] for k in range(n - 1)}
    variants |= {number[:k] + d + number[k + 1 :] for k in range(n) for d in digits}
    variants |= {number[:k] + d + number[k:] for k in range(n + 1) for d in digits}
    return {v for v in variants if len(v) >= MIN_CORE + 1 and not v.startswith("0")}

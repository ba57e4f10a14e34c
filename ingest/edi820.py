"""ANSI X12 820 remittance advices into :class:`~ledger.records.RemittanceAdvice` records.

Written by hand: the maintained X12 libraries on the package index validate healthcare 820s
only or are GPL-licensed, and the corporate 820 loop structure needed here is small.
Separators are read from the ISA segment, so any element, component and segment separators work.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

from ledger.currencies import is_known
from ledger.errors import MoneyError, ParseError, UnbalancedStatement
from ledger.money import Money, parse_amount
from ledger.records import RemittanceAdvice, RemittanceLine

_ISA_LENGTH = 106
_DEFAULT_CURRENCY = "USD"  # X12 amounts are in the payment's currency; CUR says when it is not USD
# ADX reason codes (X12 element 426) most seen on trade remittances, in analysts' words.
ADJUSTMENT_REASONS = {
    "01": "pricing error",
    "04": "damaged goods",
    "06": "short shipment",
    "11": "returned goods",
    "16": "other",
    "54": "freight deduction",
    "56": "promotional allowance",
}


@dataclass(frozen=True, slots=True)
class _Segment:
    tag: str
    elements: tuple[str, ...]
    line: int

    def get(self, position: int) -> str:
        """Element ``position`` (1-based as in the X12 guides), '' when absent."""
        return self.elements[position - 1].strip() if position <= len(self.elements) else ""


def looks_like_x12(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"ISA")


def _segments(data: bytes, source: str) -> list[_Segment]:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"X12 must be ASCII (byte 0x{data[exc.start]:02x})",
            source=source,
            line=data[: exc.start].count(b"\n") + 1,
        ) from None
    text = text.lstrip("\ufeff \r\n\t")
    if not text.startswith("ISA") or len(text) < _ISA_LENGTH:
        raise ParseError(
            "not an X12 interchange: it must start with a 106-character ISA segment",
            source=source,
            line=1,
        )
    element, terminator = text[3], text[105]
    if element.isalnum() or terminator.isalnum() or element == terminator:
        raise ParseError("ISA segment has invalid separators", source=source, line=1)
    segments = []
    line = 1
    for raw in text.split(terminator):
        stripped = raw.strip("\r\n")
        line += raw.count("\n") - stripped.count("\n")
        if stripped.strip():
            parts = stripped.split(element)
            segments.append(_Segment(parts[0].strip(), tuple(parts[1:]), line))
        line += stripped.count("\n")
    return segments


def _amount(text: str, currency: str, segment: _Segment, what: str, source: str) -> Money:
    try:
        return Money(parse_amount(text, currency), currency)
    except MoneyError as exc:
        raise ParseError(f"{segment.tag} {what}: {exc}", source=source, line=segment.line) from None


def _date(text: str, segment: _Segment, source: str) -> date:
    for fmt in ("%Y%m%d", "%y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ParseError(
        f"{segment.tag}: {text!r} is not a date (CCYYMMDD)", source=source, line=segment.line
    )


@dataclass
class _Line:
    reference: str
    qualifier: str
    paid: Money
    gross: Money | None
    discount: Money | None
    deduction: Money | None = None
    reason: str = ""
    invoice_date: date | None = None


def _advice(transaction: list[_Segment], control: str, source: str) -> RemittanceAdvice:
    bpr = next((s for s in transaction if s.tag == "BPR"), None)
    if bpr is None:
        raise ParseError(
            "820 transaction without a BPR (payment) segment",
            source=source,
            line=transaction[0].line,
        )
    currency = _DEFAULT_CURRENCY
    for s in transaction:
        if s.tag == "CUR" and s.get(2):
            currency = s.get(2).upper()
            if not is_known(currency):
                raise ParseError(f"CUR: unknown currency {currency!r}", source=source, line=s.line)
    total = _amount(bpr.get(2), currency, bpr, "payment amount", source)
    if bpr.get(3) == "D":
        total = -total
    payment_date = _date(bpr.get(16), bpr, source) if bpr.get(16) else None
    reference = next((s.get(2) for s in transaction if s.tag == "TRN"), "")
    payer = next((s.get(2) for s in transaction if s.tag == "N1" and s.get(1) == "PR"), "")
    payer_number = next((s.get(4) for s in transaction if s.tag == "N1" and s.get(1) == "PR"), "")
    lines: list[_Line] = []
    # The RMR an ADX or DTM belongs to; None at the level of the whole remittance (after ENT,
    # before its first RMR), where an adjustment is tied to no invoice.
    current: _Line | None = None
    unassigned = Money.zero(currency)
    unassigned_reasons: list[str] = []
    for s in transaction:
        if s.tag == "ENT":
            current = None
        elif s.tag == "RMR":
            paid = _amount(s.get(4), currency, s, "amount paid", source)
            gross = _amount(s.get(5), currency, s, "invoice amount", source) if s.get(5) else None
            discount = _amount(s.get(6), currency, s, "discount", source) if s.get(6) else None
            if (
                discount is not None
                and discount.minor < 0
                and gross is not None
                and gross.minor + discount.minor == paid.minor
            ):
                discount = -discount  # written with the sign of its effect on the invoice
            if not s.get(2):
                raise ParseError("RMR without a reference number", source=source, line=s.line)
            current = _Line(s.get(2), s.get(1), paid, gross, discount)
            lines.append(current)
        elif s.tag == "ADX":
            adjustment = _amount(s.get(1), currency, s, "adjustment", source)
            code = s.get(2)
            reason = ADJUSTMENT_REASONS.get(code, code) if code else ""
            if current is None:
                unassigned = unassigned + adjustment
                unassigned_reasons.append(reason)
            else:
                current.deduction = (current.deduction or Money.zero(currency)) - adjustment
                current.reason = reason or current.reason
        elif s.tag == "DTM" and current is not None and s.get(1) == "003" and s.get(2):
            current.invoice_date = _date(s.get(2), s, source)
    paid_sum = sum((line.paid.minor for line in lines), 0)
    if lines and paid_sum + unassigned.minor != total.minor:
        adjusted = f" and adjustments of {unassigned}" if unassigned.minor else ""
        raise UnbalancedStatement(
            f"820 {control}: remittance lines pay {Money(paid_sum, currency)}{adjusted}"
            f" but BPR says {total}",
            source=source,
            line=bpr.line,
        )
    # Who paid, which transaction set and trace, how much and when: the same 820 delivered
    # again under another file name (networks stamp the time in it) is the same advice.
    identity = f"{payer}|{payer_number}|{control}|{reference}|{total}|{payment_date}"
    advice_id = "EDI" + hashlib.sha256(identity.encode()).hexdigest()[:12].upper()
    return RemittanceAdvice(
        advice_id=advice_id,
        payer_name=payer,
        total=total,
        payment_reference=reference,
        payment_date=payment_date,
        lines=tuple(
            RemittanceLine(
                reference=line.reference,
                paid=line.paid,
                gross=line.gross,
                discount=line.discount,
                deduction=line.deduction,
                reason=line.reason,
                invoice_date=line.invoice_date,
                confidence=1.0,
            )
            for line in lines
        ),
        payer_number=payer_number,
        confidence=1.0,
        unassigned_deduction=-unassigned if unassigned.minor else None,
        unassigned_reason=", ".join(dict.fromkeys(r for r in unassigned_reasons if r)),
    )


def parse_edi820(data: bytes, *, source: str = "") -> list[RemittanceAdvice]:
    """Every 820 transaction set of an interchange as a remittance advice.

    The envelope must close: every ST has its SE with the right segment count and control
    number, GS/GE and ISA/IEA control numbers and counts agree. Lines must sum to the payment.
    """
    segments = _segments(data, source)
    isa, last = segments[0], segments[-1]
    if last.tag != "IEA":
        raise ParseError(
            "interchange is truncated: no IEA segment at the end", source=source, line=last.line
        )
    if last.get(2).lstrip("0") != isa.get(13).lstrip("0"):
        raise ParseError(
            f"IEA control number {last.get(2)!r} does not match ISA {isa.get(13)!r}",
            source=source,
            line=last.line,
        )
    advices: list[RemittanceAdvice] = []
    groups = 0
    transaction: list[_Segment] | None = None
    group_sets = 0
    group_control = ""
    for s in segments[1:-1]:
        if s.tag == "GS":
            groups += 1
            group_sets = 0
            group_control = s.get(6)
        elif s.tag == "GE":
            if s.get(2).lstrip("0") != group_control.lstrip("0") or s.get(1) != str(group_sets):
                raise ParseError(
                    "GE does not close its GS (control number or transaction count)",
                    source=source,
                    line=s.line,
                )
        elif s.tag == "ST":
            if transaction is not None:
                raise ParseError(
                    "ST inside an open transaction set (missing SE)", source=source, line=s.line
                )
            if s.get(1) != "820":
                raise ParseError(
                    f"transaction set {s.get(1)!r} is not an 820", source=source, line=s.line
                )
            transaction = [s]
        elif s.tag == "SE":
            if transaction is None:
                raise ParseError("SE without ST", source=source, line=s.line)
            transaction.append(s)
            control = transaction[0].get(2)
            if s.get(2) != control:
                raise ParseError(
                    f"SE control number {s.get(2)!r} does not match ST {control!r}",
                    source=source,
                    line=s.line,
                )
            if s.get(1) != str(len(transaction)):
                raise ParseError(
                    f"SE says {s.get(1)} segments, the set has {len(transaction)}",
                    source=source,
                    line=s.line,
                )
            advices.append(_advice(transaction, control, source))
            group_sets += 1
            transaction = None
        elif transaction is not None:
            transaction.append(s)
    if transaction is not None:
        raise ParseError(
            "transaction set is truncated: no SE", source=source, line=transaction[-1].line
        )
    if last.get(1) != str(groups):
        raise ParseError(
            f"IEA says {last.get(1)} group(s), the interchange has {groups}",
            source=source,
            line=last.line,
        )
    if not advices:
        raise ParseError("interchange holds no 820 transaction set", source=source)
    return advices

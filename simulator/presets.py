"""The scenario mixes of the simulator's presets: shares of payments that are hard in each way."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Preset:
    """Target shares of the application window's payments (0..1).

    no_remittance: of electronic payments (ACH, wire, SEPA), those whose bank record carries no
    usable invoice or PO reference. multi_invoice: payments that settle more than one invoice.
    payer_name_differs: payments whose payer name, case and punctuation folded, equals no
    customer's name. mistyped: payments with at least one mangled reference (bank record or
    advice). short_pay: payments with a deduction. bank_fee: payments reduced by a bank charge.
    overpayment: payments of more than was owed. duplicate: payments sent twice (the second
    copy counts). separate_advice: of electronic payments without usable remittance, those whose
    customer sends an advice document apart from the money.
    """

    name: str
    no_remittance: float
    multi_invoice: float
    payer_name_differs: float
    mistyped: float
    short_pay: float
    bank_fee: float
    overpayment: float
    duplicate: float
    separate_advice: float = 0.5

    def shares(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}


_REALISTIC = Preset(
    name="realistic",
    no_remittance=0.50,
    multi_invoice=0.20,
    payer_name_differs=0.10,
    mistyped=0.05,
    short_pay=0.05,
    bank_fee=0.03,
    overpayment=0.02,
    duplicate=0.01,
)


def _scaled(name: str, no_remittance: float, factor: float) -> Preset:
    base = _REALISTIC.shares()
    scaled = {
        k: v * factor for k, v in base.items() if k not in ("no_remittance", "separate_advice")
    }
    return Preset(
        name=name, no_remittance=no_remittance, separate_advice=_REALISTIC.separate_advice, **scaled
    )


PRESETS: dict[str, Preset] = {
    "easy": _scaled("easy", 0.25, 0.5),
    "realistic": _REALISTIC,
    "hard": _scaled("hard", 0.70, 2.0),
}

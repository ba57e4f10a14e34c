"""How invoice references get mangled between the customer's keyboard and our bank file."""

from __future__ import annotations

import random

OCR_CONFUSIONS = {"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G"}

MISTAKES = ("transpose", "drop_digit", "drop_prefix", "ocr", "extra_digit", "strip_zeros")


def mistype(rng: random.Random, reference: str, mistake: str | None = None) -> tuple[str, str]:
    """A corrupted copy of ``reference`` and the name of the mistake made.

    Always returns something different from the input (a mistake that cannot apply to this
    reference falls back to a digit transposition or, failing that, a dropped digit).
    """
    kind = mistake or rng.choice(MISTAKES)
    digits = [i for i, c in enumerate(reference) if c.isdigit()]
    result = reference
    if kind == "drop_prefix":
        cut = len(reference) - len(reference.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ-/# "))
        result = reference[cut:] if 0 < cut < len(reference) else reference
    elif kind == "strip_zeros":
        head = reference[: digits[0]] if digits else ""
        result = head + reference[len(head) :].lstrip("0") if digits else reference
    elif kind == "ocr":
        candidates = [i for i in digits if reference[i] in OCR_CONFUSIONS]
        if candidates:
            i = rng.choice(candidates)
            result = reference[:i] + OCR_CONFUSIONS[reference[i]] + reference[i + 1 :]
    elif kind == "extra_digit" and digits:
        i = rng.choice(digits)
        result = reference[: i + 1] + reference[i] + reference[i + 1 :]
    elif kind == "drop_digit" and len(digits) > 1:
        i = rng.choice(digits)
        result = reference[:i] + reference[i + 1 :]
    if kind == "transpose" or result == reference:
        pairs = [i for i in digits if i + 1 in digits and reference[i] != reference[i + 1]]
        if pairs:
            i = rng.choice(pairs)
            result = reference[:i] + reference[i + 1] + reference[i] + reference[i + 2 :]
            kind = "transpose"
        elif len(digits) > 1:
            i = digits[-1]
            result = reference[:i] + reference[i + 1 :]
            kind = "drop_digit"
    return result, kind

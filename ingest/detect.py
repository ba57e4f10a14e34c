"""Which format a file is in, judged from its content, never from its name."""

from __future__ import annotations

import re

BANK_FORMATS = ("bai2", "camt053", "camt054", "mt940", "csv")
REMITTANCE_FORMATS = ("edi820", "pdf", "image", "text")

_CAMT = re.compile(rb"(?:urn:iso:std:iso:20022:tech:xsd:|\"ISO:)camt\.05([234])\.")
_MT940_TAGS = (b":20:", b":25:", b":60F:", b":60M:", b":61:", b":62F:", b":62M:")


_CAMT_FORMATS = {b"2": "camt052", b"3": "camt053", b"4": "camt054"}


def detect_format(data: bytes) -> str | None:
    """The format of ``data``: bai2, camt053, camt054, mt940, edi820, pdf, image, or None.

    camt052 (an intraday report) is recognised so that it can be refused for what it is.

    CSV and plain text are not recognised here: a CSV needs a bank profile that fits its
    header, and plain text is what is left when nothing else fits.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # An XML statement saved as UTF-16 (its byte-order mark says so): camt by its namespace.
        text = data[:8192].decode("utf-16", errors="ignore").lstrip("\ufeff \t\r\n")
        match = _CAMT.search(text.encode("utf-8", errors="ignore"))
        if text.startswith("<") and match:
            return _CAMT_FORMATS[match.group(1)]
        return None
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")):
        return "image"
    if head.startswith(b"ISA") and len(head) > 106:
        element = head[3:4]
        if b"ST" + element + b"820" in data[:200_000]:
            return "edi820"
    if (head.startswith(b"01,") and b"\n02," in data[:4096]) or (
        head.startswith(b"01,") and b"/\n" in head
    ):
        return "bai2"
    if head.startswith((b"<?xml", b"<Document", b"<")):
        match = _CAMT.search(data[:4096])
        if match:
            return _CAMT_FORMATS[match.group(1)]
    tags = sum(tag in data[:20_000] for tag in _MT940_TAGS)
    if tags >= 3 and b":20:" in data[:20_000]:
        return "mt940"
    return None

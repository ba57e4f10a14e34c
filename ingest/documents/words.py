"""Words with their place on the page: what text-layer and OCR readers both produce.

Coordinates are in PDF points (1/72 inch) from the page's top-left corner, whatever the source,
so layout rules work the same on a generated PDF and on a 200 dpi scan.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    """One word as read from a page.

    page: 1-based page number. x0/top/x1/bottom: its box in points from the top-left corner.
    confidence: 0..1, how sure the reader is of the characters (1.0 for a PDF text layer).
    """

    text: str
    page: int
    x0: float
    top: float
    x1: float
    bottom: float
    confidence: float = 1.0

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x0, self.top, self.x1, self.bottom)

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass(frozen=True, slots=True)
class Page:
    """A page's words in reading order. reader: 'text' (PDF text layer) or 'ocr'.

    skew_deg: the rotation that was corrected before reading (0 for a text layer).
    """

    number: int
    width: float
    height: float
    words: tuple[Word, ...]
    reader: str = "text"
    skew_deg: float = 0.0

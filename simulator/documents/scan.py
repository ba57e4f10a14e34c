"""Scanned remittance advices: the text PDF rasterised, skewed and soiled like a paper scan.

Pages are rendered with pypdfium2 at the document's dpi in grayscale, rotated by
``rotation_deg`` inside the fixed page (the paper is skewed on the glass; the scan keeps the
page size), then blurred, grained and speckled in proportion to ``noise``. Randomness comes from
a numpy Generator seeded from a SHA-256 of the document id, so the same document gives the same
bytes in every process.

A scanned PDF has one image per page and no text layer. A PNG holds all pages stacked top to
bottom in one tall image, so that no advice line is lost from a multi-page advice.
"""

from __future__ import annotations

import io

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageFilter

from simulator.documents import stable_seed
from simulator.documents.pdf import write_text_pdf
from simulator.model import RemittanceDocument

# JPEG quality of the page images inside a scanned PDF: office scanners default to 75-85.
_JPEG_QUALITY = 80


def render_pages(doc: RemittanceDocument) -> list[Image.Image]:
    """The advice's pages as grayscale images at ``doc.dpi``, before any scan damage."""
    pdf = pdfium.PdfDocument(write_text_pdf(doc))
    try:
        pages = []
        for index in range(len(pdf)):
            bitmap = pdf[index].render(scale=doc.dpi / 72, grayscale=True)
            pages.append(bitmap.to_pil().convert("L"))
        return pages
    finally:
        pdf.close()


def degrade(image: Image.Image, doc: RemittanceDocument, rng: np.random.Generator) -> Image.Image:
    """One page as a scanner would deliver it: skewed, then blurred, grained and speckled.

    The order follows the physics: the paper lies skewed, the optics blur, the sensor adds
    grain, dust adds specks. With ``noise == 0`` only the skew is applied.
    """
    if doc.rotation_deg:
        image = image.rotate(
            doc.rotation_deg, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255
        )
    noise = min(max(doc.noise, 0.0), 1.0)
    if noise == 0:
        return image
    # Blur radius in pixels grows with the resolution so a page looks equally soft at any dpi.
    image = image.filter(ImageFilter.GaussianBlur(radius=(0.3 + 0.9 * noise) * doc.dpi / 300))
    pixels = np.asarray(image, dtype=np.float32)
    # Scanned paper is never pure white: dim the background a little before the grain.
    pixels = pixels * (1 - 0.06 * noise)
    pixels += rng.standard_normal(pixels.shape, dtype=np.float32) * (30.0 * noise)
    height, width = pixels.shape
    specks = int(noise * height * width * 0.0003)
    rows = rng.integers(0, height - 1, size=specks)
    cols = rng.integers(0, width - 1, size=specks)
    shades = rng.integers(0, 90, size=specks).astype(np.float32)
    # Dust specks are 2x2 pixels: single pixels vanish in the blur of any OCR pre-processing.
    for d_row in (0, 1):
        for d_col in (0, 1):
            pixels[rows + d_row, cols + d_col] = shades
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")


def scanned_pages(doc: RemittanceDocument) -> list[Image.Image]:
    """Every page of the advice as a scanned grayscale image."""
    rng = np.random.default_rng(stable_seed(doc.document_id, "scan"))
    return [degrade(page, doc, rng) for page in render_pages(doc)]


def write_scanned_pdf(doc: RemittanceDocument) -> bytes:
    """An image-only PDF: one JPEG page image per page, page size = image size at its dpi.

    Pillow's PDF writer stamps the current time unless the dates are given as None.
    """
    pages = scanned_pages(doc)
    buffer = io.BytesIO()
    pages[0].save(
        buffer,
        "PDF",
        save_all=True,
        append_images=pages[1:],
        resolution=float(doc.dpi),
        quality=_JPEG_QUALITY,
        title=None,
        creationDate=None,
        modDate=None,
    )
    return buffer.getvalue()


def write_png(doc: RemittanceDocument) -> bytes:
    """A PNG of the scanned advice; several pages are stacked top to bottom in one image."""
    pages = scanned_pages(doc)
    if len(pages) == 1:
        image = pages[0]
    else:
        image = Image.new(
            "L", (max(page.width for page in pages), sum(page.height for page in pages)), 255
        )
        top = 0
        for page in pages:
            image.paste(page, (0, top))
            top += page.height
    buffer = io.BytesIO()
    image.save(buffer, "PNG", dpi=(doc.dpi, doc.dpi))
    return buffer.getvalue()

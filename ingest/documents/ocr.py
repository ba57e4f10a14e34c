"""OCR of scanned remittance advices: PDF pages and images into words with boxes in points.

Each page is made grey, straightened (a projection-profile search for the skew), cleaned only
when it is noisy, then read by one Tesseract call. Pages run in parallel, one process per
core and one Tesseract thread per process: on small machines Tesseract's own OpenMP threads
are 3-4x slower than a single thread.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytesseract
from PIL import Image, ImageOps, ImageSequence

from ingest.documents.words import Page, Word
from ledger.errors import ArpilotError, ParseError

# Page-segmentation mode 6 ("one uniform block of text") reads a table row by row across its
# columns, so a reference and its amount stay on one line; see the measurements in the tests.
TESSERACT_CONFIG = "--psm 6"
DEFAULT_DPI = 300.0
# Skews beyond this are not scanner skew (a page fed sideways needs orientation detection).
MAX_SKEW_DEG = 6.0
# Below this the bicubic resampling of a rotation costs more sharpness than the skew does.
MIN_SKEW_DEG = 0.1
# Resolution of the binarised copy the skew search runs on: cheap, and still 1 px per 0.1°
# over a text line of half a page width.
SKEW_SEARCH_DPI = 100.0
# Estimated pixel-noise sigma (grey levels) above which a 3x3 median filter precedes
# Tesseract, and above which it is applied twice. Measured on the simulator's scans: any grain
# at all (sigma 1, noise 0.15) already costs words that a median recovers, while a median on a
# clean render costs about one word in 120; heavy grain (sigma 15-22) needs two passes, and
# unfiltered it can keep Tesseract busy for 50 s.
NOISE_SIGMA_MEDIAN = 0.5
NOISE_SIGMA_TWO_MEDIANS = 12.0
# A page bigger than this (in pixels) is refused rather than allowed to exhaust memory:
# A3 at 300 dpi is 17.4 million.
MAX_PAGE_PIXELS = 80_000_000
_INSTALL_HINT = "Tesseract OCR is not installed: apt-get install -y tesseract-ocr"


def read_scanned_pdf(
    data: bytes,
    *,
    source: str = "",
    dpi: int = 300,
    workers: int | None = None,
    timeout_s: float = 60,
) -> list[Page]:
    """OCR every page of a PDF (normally image-only) rendered at ``dpi``; pages in order.

    Raises ParseError for a corrupt, encrypted or empty PDF and for a page Tesseract cannot
    read within ``timeout_s``; ArpilotError when Tesseract is not installed.
    """
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    count = _pdf_page_count(data, source)
    jobs = [
        (_ocr_pdf_page, {"data": data, "index": index, "dpi": dpi, "timeout_s": timeout_s})
        for index in range(count)
    ]
    return _run(jobs, workers, source)


def read_image(
    data: bytes, *, source: str = "", timeout_s: float = 60, workers: int | None = None
) -> list[Page]:
    """OCR a PNG, JPEG or TIFF; each frame of a multi-frame TIFF is a page.

    The resolution comes from the image's metadata (300 dpi when it has none). Raises
    ParseError for bytes that are not a readable image.
    """
    frames = _decode_image(data, source)
    jobs = [
        (ocr_page, {"image": image, "page": number, "dpi": dpi, "timeout_s": timeout_s})
        for number, (image, dpi) in enumerate(frames, start=1)
    ]
    return _run(jobs, workers, source)


def ocr_page(image: Image.Image, *, page: int, dpi: float, timeout_s: float) -> Page:
    """Read one page image: grey, deskewed, de-noised when noisy, then one Tesseract call.

    Boxes are in points in the deskewed page's frame, which is the frame of the document
    before it was skewed on the scanner glass. Raises ParseError naming the page when
    Tesseract fails or times out.
    """
    grey = _grey(image)
    # Measured before the rotation, whose interpolation smooths the grain a little.
    sigma = noise_sigma(grey)
    angle = estimate_skew(grey, dpi=dpi)
    if abs(angle) >= MIN_SKEW_DEG:
        grey = grey.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    else:
        angle = 0.0
    if sigma > NOISE_SIGMA_MEDIAN:
        grey = median3(grey)
    if sigma > NOISE_SIGMA_TWO_MEDIANS:
        grey = median3(grey)
    data = _tesseract(grey, page=page, timeout_s=timeout_s)
    scale = 72.0 / dpi
    words = []
    for i in _reading_order(data):
        text = data["text"][i].strip()
        confidence = float(data["conf"][i])
        if confidence < 0 or not text:
            continue
        left, top = data["left"][i], data["top"][i]
        words.append(
            Word(
                text=text,
                page=page,
                x0=left * scale,
                top=top * scale,
                x1=(left + data["width"][i]) * scale,
                bottom=(top + data["height"][i]) * scale,
                confidence=min(confidence / 100.0, 1.0),
            )
        )
    return Page(
        number=page,
        width=grey.width * scale,
        height=grey.height * scale,
        words=tuple(words),
        reader="ocr",
        skew_deg=round(angle, 2),
    )


def estimate_skew(grey: Image.Image, *, dpi: float) -> float:
    """The rotation (degrees, PIL's counter-clockwise sense) that makes the text lines level.

    Projection profile: on a small binarised copy, the dark pixels' row histogram is sharpest
    (largest sum of squares) when lines are level. A coarse search over ±MAX_SKEW_DEG is
    refined around its best angle. Returns 0.0 for a blank page.
    """
    factor = max(1, round(dpi / SKEW_SEARCH_DPI))
    small = np.asarray(grey.reduce(factor) if factor > 1 else grey, dtype=np.float32)
    threshold = _otsu(small)
    rows, cols = np.nonzero(small < threshold)
    if rows.size < 50:
        return 0.0
    y = rows - small.shape[0] / 2
    x = cols - small.shape[1] / 2

    def sharpness(angle: float) -> float:
        theta = math.radians(angle)
        # Row of each dark pixel after PIL's rotate(angle) about the centre (y points down).
        projected = y * math.cos(theta) - x * math.sin(theta)
        counts = np.bincount(np.round(projected - projected.min()).astype(np.int64))
        return float(np.dot(counts, counts))

    best = _best_angle(sharpness, -MAX_SKEW_DEG, MAX_SKEW_DEG, 0.5)
    best = _best_angle(sharpness, best - 0.5, best + 0.5, 0.1)
    return _best_angle(sharpness, best - 0.1, best + 0.1, 0.02)


def noise_sigma(grey: Image.Image) -> float:
    """A robust estimate of the pixel-noise sigma in grey levels (0 for a clean render).

    Differences of horizontal neighbours are zero on clean paper and twice the noise variance
    on grainy paper; the median ignores the few pixels on text edges. Every fourth row suffices.
    """
    pixels = np.asarray(grey, dtype=np.int16)[::4]
    differences = np.abs(np.diff(pixels, axis=1))
    # 1.4826 turns a median absolute deviation into a Gaussian sigma; sqrt(2) undoes the
    # difference of two noisy pixels.
    return float(np.median(differences)) * 1.4826 / math.sqrt(2)


# Compare-exchange pairs of a 3x3 median network (Paeth; Devillard's opt_med9): after them
# the fifth of the nine neighbours holds the median. 19 vectorised min/max pairs on the whole
# page are ~8x faster than Pillow's MedianFilter(3), which sorts every window.
_MEDIAN9_NETWORK = (
    (1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2),
)  # fmt: skip


def median3(grey: Image.Image) -> Image.Image:
    """A 3x3 median filter of a grey image (edges repeat the border pixels)."""
    pixels = np.asarray(grey)
    padded = np.pad(pixels, 1, mode="edge")
    height, width = pixels.shape
    window = [padded[row : row + height, col : col + width] for row in range(3) for col in range(3)]
    for low, high in _MEDIAN9_NETWORK:
        window[low], window[high] = (
            np.minimum(window[low], window[high]),
            np.maximum(window[low], window[high]),
        )
    return Image.fromarray(window[4])


def _best_angle(score: Callable[[float], float], low: float, high: float, step: float) -> float:
    steps = round((high - low) / step)
    angles = [low + step * i for i in range(steps + 1)]
    return max(angles, key=score)


def _otsu(pixels: np.ndarray) -> float:
    """Otsu's threshold of a grey image: the level that best splits ink from paper."""
    histogram = np.bincount(np.clip(pixels, 0, 255).astype(np.uint8).ravel(), minlength=256)
    levels = np.arange(256, dtype=np.float64)
    weight = np.cumsum(histogram).astype(np.float64)
    mass = np.cumsum(histogram * levels)
    total, total_mass = weight[-1], mass[-1]
    background = total - weight
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * weight - total * mass) ** 2 / (weight * background)
    between = np.nan_to_num(between, nan=0.0, posinf=0.0)
    return float(np.argmax(between)) + 0.5


def _grey(image: Image.Image) -> Image.Image:
    """The image as 8-bit grey; transparency becomes white paper, not black."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    if image.mode == "L":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit scans: keep the top 8 bits of the range actually used.
        return ImageOps.autocontrast(image.convert("I").point(lambda v: v / 256).convert("L"))
    return image.convert("L")


def _tesseract(grey: Image.Image, *, page: int, timeout_s: float) -> dict[str, list[Any]]:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    # pytesseract hands Tesseract a temporary file in the image's format (PNG by default);
    # compressing a noisy page as PNG costs up to 0.8 s, writing it as BMP almost nothing.
    image = grey.copy()
    image.format = "BMP"
    try:
        data: dict[str, list[Any]] = pytesseract.image_to_data(
            image,
            config=TESSERACT_CONFIG,
            output_type=pytesseract.Output.DICT,
            timeout=timeout_s,
        )
    except pytesseract.TesseractNotFoundError as error:
        raise ArpilotError(_INSTALL_HINT) from error
    except RuntimeError as error:
        # pytesseract raises a bare RuntimeError on timeout and TesseractError (a subclass)
        # when Tesseract exits with an error.
        if "timeout" in str(error).lower():
            reason = f"page {page}: OCR took longer than {timeout_s:g} s and was stopped"
        else:
            reason = f"page {page}: Tesseract failed: {error}"
        raise ParseError(reason) from error
    return data


def _reading_order(data: dict[str, list[Any]]) -> list[int]:
    keys = ("block_num", "par_num", "line_num", "word_num")
    # Tesseract already writes words in this order; sorting states it rather than trusts it.
    return sorted(
        range(len(data.get("text", []))), key=lambda i: tuple(int(data[k][i]) for k in keys)
    )


def _pdf_page_count(data: bytes, source: str) -> int:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        # PDFium also says "password" for some page-less files, so the trailer must agree.
        if error.err_code == pdfium.raw.FPDF_ERR_PASSWORD and b"/Encrypt" in data:
            raise ParseError(
                "the PDF is encrypted; ask the sender for an unprotected copy", source=source
            ) from error
        raise ParseError(
            f"not a readable PDF (damaged, truncated or without pages): {error}", source=source
        ) from error
    try:
        count = len(pdf)
    finally:
        pdf.close()
    if count == 0:
        raise ParseError("the PDF has no pages", source=source)
    return count


def _ocr_pdf_page(*, data: bytes, index: int, dpi: float, timeout_s: float) -> Page:
    """Render page ``index`` (0-based) and OCR it; runs inside a worker process."""
    page_number = index + 1
    try:
        pdf = pdfium.PdfDocument(data)
        try:
            pdf_page = pdf[index]
            width, height = pdf_page.get_size()
            if width * height * (dpi / 72) ** 2 > MAX_PAGE_PIXELS:
                raise ParseError(
                    f"page {page_number}: {width:.0f} x {height:.0f} pt is too large to OCR "
                    f"at {dpi:g} dpi; use a lower dpi"
                )
            image = pdf_page.render(scale=dpi / 72, grayscale=True).to_pil()
        finally:
            pdf.close()
    except pdfium.PdfiumError as error:
        raise ParseError(f"page {page_number}: cannot be rendered: {error}") from error
    return ocr_page(image, page=page_number, dpi=dpi, timeout_s=timeout_s)


def _decode_image(data: bytes, source: str) -> list[tuple[Image.Image, float]]:
    """Every frame of an image with its dpi, fully decoded; ParseError for unreadable bytes."""
    if not data:
        raise ParseError("empty file, not an image", source=source)
    try:
        with Image.open(io.BytesIO(data)) as image:
            dpi = _image_dpi(image)
            frames = []
            for frame in ImageSequence.Iterator(image):
                if frame.width * frame.height > MAX_PAGE_PIXELS:
                    raise ParseError(
                        f"image of {frame.width} x {frame.height} pixels is too large to OCR",
                        source=source,
                    )
                frames.append((_grey(frame.copy()), dpi))
    except ParseError:
        raise
    # Pillow signals corrupt or truncated files with many exception types (OSError,
    # SyntaxError, ValueError, struct.error, DecompressionBombError, ...).
    except Exception as error:
        raise ParseError(f"not a readable image: {error}", source=source) from error
    if not frames:
        raise ParseError("the image has no frames", source=source)
    return frames


def _image_dpi(image: Image.Image) -> float:
    """Horizontal dpi from the metadata; PNG stores dots per metre, so 300 reads as 299.9994."""
    value = image.info.get("dpi")
    try:
        dpi = float(value[0]) if value else 0.0
    except (TypeError, ValueError, IndexError):
        dpi = 0.0
    # 0 or 1 means "no unit" in JFIF; anything under 50 dpi is not a document scan.
    if not math.isfinite(dpi) or dpi < 50:
        return DEFAULT_DPI
    return round(dpi, 1)


def _available_cores() -> int:
    """Cores this process may use (fewer than os.cpu_count() under a CPU affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _init_worker() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


def _run(
    jobs: list[tuple[Callable[..., Page], dict[str, Any]]], workers: int | None, source: str
) -> list[Page]:
    """Run the page jobs, in parallel when there are several; pages come back in order."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    count = min(workers or _available_cores(), len(jobs))
    try:
        if count <= 1:
            return [function(**arguments) for function, arguments in jobs]
        with ProcessPoolExecutor(max_workers=count, initializer=_init_worker) as pool:
            futures = [pool.submit(function, **arguments) for function, arguments in jobs]
            try:
                return [future.result() for future in futures]
            except BaseException:
                # Pages not started yet are dropped; running ones end within their timeout.
                for future in futures:
                    future.cancel()
                raise
    except ParseError as error:
        # Workers know the page, not the file; errors crossing a process boundary also lose
        # their keyword attributes, so the source is attached here.
        raise ParseError(error.reason, source=source) from error
    except BrokenProcessPool as error:
        raise ArpilotError(
            f"{source or 'document'}: an OCR worker process died (out of memory?): {error}"
        ) from error

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
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytesseract
from PIL import Image, ImageFilter, ImageOps, ImageSequence

from ingest.documents.words import Page, Word
from ledger.errors import ArpilotError, ParseError

# Page-segmentation mode 6 ("one uniform block of text") reads a table row by row across its
# columns, so a reference and its amount stay on one line; see the measurements in the tests.
TESSERACT_CONFIG = "--psm 6"
DEFAULT_DPI = 300.0
# Pages scanned finer than this are averaged down to it before anything else: Tesseract reads
# the simulator's 300 dpi scans at least as well at 200 dpi, in well under half the time (see
# the measurements in BENCHMARKS.md); averaging pixels also halves the grain of a noisy scan.
OCR_DPI = 200.0
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
# Tesseract reads dust, JPEG ringing and the wide gaps of monospaced fonts as short words of low
# confidence ('LJ', ':', 's' between the words of a Courier letterhead). A word of one or two
# characters below this confidence is such a speck; so is any word without a letter or digit,
# except the symbols that mean something on their own ('Invoice #', '$ 12.00', 'Smith & Co').
SPECK_CONFIDENCE = 0.6
_MEANINGFUL_SYMBOLS = frozenset({"#", "&", "$", "€", "£", "%"})
# Words Tesseract is less sure of than this are read a second time, cut out of the page.
REREAD_CONFIDENCE = 0.8
# Below this a word is read again whatever it holds: 'ald pea' where '559.51' is printed.
REREAD_GARBLED = 0.4
# At most this many regions are re-read per page (the least confident first), so a page of
# noise cannot make the second pass longer than the first.
MAX_REREAD_REGIONS = 120
_INSTALL_HINT = "Tesseract OCR is not installed: apt-get install -y tesseract-ocr"


def read_scanned_pdf(
    data: bytes,
    *,
    source: str = "",
    dpi: int = 300,
    workers: int | None = None,
    timeout_s: float = 60,
    turn: int = 0,
) -> tuple[list[Page], list[ParseError]]:
    """OCR every page of a PDF (normally image-only); pages in order, each turned ``turn``
    degrees counter-clockwise first (a page fed into the scanner upside down).

    A page that is one scanned image is read from the image as stored. Other pages are
    rendered at ``dpi``, or at the resolution of their largest image when that is lower:
    resampling a 200 dpi scan up to 300 blurs its strokes and JPEG edges into misread
    characters. Pages finer than OCR_DPI are averaged down to it.

    Returns the pages read and a ParseError for each page that could not be (Tesseract failed
    or took longer than ``timeout_s``): one bad page does not lose the others. Raises
    ParseError for a corrupt, encrypted or empty PDF; ArpilotError when Tesseract is not
    installed.
    """
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    count = _pdf_page_count(data, source)
    jobs = [
        (
            _ocr_pdf_page,
            {"data": data, "index": index, "dpi": dpi, "timeout_s": timeout_s, "turn": turn},
        )
        for index in range(count)
    ]
    return _run(jobs, workers, source)


def read_image(
    data: bytes,
    *,
    source: str = "",
    timeout_s: float = 60,
    workers: int | None = None,
    turn: int = 0,
) -> tuple[list[Page], list[ParseError]]:
    """OCR a PNG, JPEG or TIFF; each frame of a multi-frame TIFF is a page, turned ``turn``
    degrees counter-clockwise first.

    The resolution comes from the image's metadata (300 dpi when it has none). Returns the
    pages read and a ParseError for each frame that could not be; raises ParseError for bytes
    that are not a readable image.
    """
    frames = _decode_image(data, source)
    jobs = [
        (
            ocr_page,
            {
                "image": image.rotate(turn, expand=True) if turn else image,
                "page": number,
                "dpi": dpi,
                "timeout_s": timeout_s,
            },
        )
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
    if dpi > OCR_DPI * 1.05:
        size = (round(grey.width * OCR_DPI / dpi), round(grey.height * OCR_DPI / dpi))
        grey, dpi = grey.resize(size, Image.Resampling.BOX), OCR_DPI
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
    reads = _reads(_tesseract(grey, page=page, timeout_s=timeout_s))
    reads = reread_doubtful(grey, reads, page=page, timeout_s=timeout_s)
    scale = 72.0 / dpi
    words = [
        Word(
            text=read.text,
            page=page,
            x0=read.left * scale,
            top=read.top * scale,
            x1=read.right * scale,
            bottom=read.bottom * scale,
            confidence=read.confidence,
        )
        for read in reads
        if not is_speck(read.text, read.confidence)
    ]
    return Page(
        number=page,
        width=grey.width * scale,
        height=grey.height * scale,
        words=tuple(words),
        reader="ocr",
        skew_deg=round(angle, 2),
    )


@dataclass(frozen=True, slots=True)
class Read:
    """A word as Tesseract reports it: box in pixels of the image read, confidence 0..1, and
    the (block, paragraph, line) it put the word in."""

    text: str
    left: int
    top: int
    right: int
    bottom: int
    confidence: float
    line: tuple[int, int, int] = (0, 0, 0)

    @property
    def height(self) -> int:
        return self.bottom - self.top


def _reads(data: dict[str, list[Any]], dx: int = 0, dy: int = 0) -> list[Read]:
    """Tesseract's words in reading order, moved by (dx, dy) pixels; empty boxes dropped."""
    reads = []
    for i in _reading_order(data):
        text = str(data["text"][i]).strip()
        confidence = float(data["conf"][i])
        if confidence < 0 or not text:
            continue
        left, top = int(data["left"][i]) + dx, int(data["top"][i]) + dy
        reads.append(
            Read(
                text=text,
                left=left,
                top=top,
                right=left + int(data["width"][i]),
                bottom=top + int(data["height"][i]),
                confidence=min(confidence / 100.0, 1.0),
                line=(int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i])),
            )
        )
    return reads


@dataclass(frozen=True, slots=True)
class Region:
    """Words of one line to read again: their joint box in pixels, the indices of the reads
    inside, and how far left and right the cut may reach before it meets other words."""

    left: int
    top: int
    right: int
    bottom: int
    members: tuple[int, ...]
    reach_left: int
    reach_right: int


def doubtful_regions(reads: Sequence[Read]) -> list[Region]:
    """The parts of lines worth reading again, least confident first.

    A region is a word below REREAD_CONFIDENCE with the words that touch it on its line (closer
    than one text height), widened by one neighbour each side: Tesseract often cuts one number
    in two ('de 291.13' for '1,291.13'), and only the whole cell reads right. Words with a
    digit are doubted: amounts, references and dates are what an advice is for, and a second
    guess at a name is as likely to spoil it as to mend it; other words only when they are
    garbled beyond that (below REREAD_GARBLED) on a line with numbers, such as a table row
    whose amount OCR could not read at all.
    """
    by_line: dict[tuple[int, int, int], list[int]] = {}
    for index, read in enumerate(reads):
        by_line.setdefault(read.line, []).append(index)
    regions: list[Region] = []
    for indices in by_line.values():
        indices.sort(key=lambda i: reads[i].left)
        garbled = REREAD_GARBLED if any(_has_digit(reads[i].text) for i in indices) else 0.0
        runs: list[list[int]] = []
        for index in indices:
            if runs:
                previous = reads[runs[-1][-1]]
                if reads[index].left - previous.right <= max(previous.height, reads[index].height):
                    runs[-1].append(index)
                    continue
            runs.append([index])
        for number, run in enumerate(runs):
            doubtful = [
                position
                for position, index in enumerate(run)
                if reads[index].confidence < garbled
                or (reads[index].confidence < REREAD_CONFIDENCE and _has_digit(reads[index].text))
            ]
            if not doubtful:
                continue
            members = run[max(doubtful[0] - 1, 0) : doubtful[-1] + 2]
            regions.append(
                Region(
                    left=min(reads[i].left for i in members),
                    top=min(reads[i].top for i in members),
                    right=max(reads[i].right for i in members),
                    bottom=max(reads[i].bottom for i in members),
                    members=tuple(members),
                    reach_left=reads[runs[number - 1][-1]].right if number else -(10**9),
                    reach_right=reads[runs[number + 1][0]].left
                    if number + 1 < len(runs)
                    else 10**9,
                )
            )
    return sorted(regions, key=lambda r: min(reads[i].confidence for i in r.members))


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def _renditions(strip: Image.Image, threshold: float) -> list[Image.Image]:
    """A strip as scanned, binarised at the page's ink threshold, and with strokes thickened:
    thin fonts (8 pt Courier) that Tesseract garbles in grey read right in the other two."""
    binary = strip.point(lambda v: 0 if v < threshold else 255)
    return [strip, binary, strip.filter(ImageFilter.MinFilter(3))]


def reread_doubtful(
    grey: Image.Image, reads: list[Read], *, page: int, timeout_s: float
) -> list[Read]:
    """Read the doubtful regions of a page again, cut out, in three renditions, all stacked in
    one image for one Tesseract call; a region takes its most confident new reading when that
    beats the first.

    On a whole page Tesseract's line finder is misled by wide table gaps, dust and thin fonts;
    the same words alone on a white strip mostly read right. A new reading that no other
    reading of the region agrees with stays below REREAD_CONFIDENCE: picking the best of
    several guesses must not pass for certainty.
    """
    regions = doubtful_regions(reads)[:MAX_REREAD_REGIONS]
    if not regions:
        return reads
    heights = sorted(r.height for r in reads)
    gap = 2 * max(heights[len(heights) // 2], 8)
    threshold = _otsu(np.asarray(grey.reduce(4) if grey.width > 800 else grey, dtype=np.float32))
    strips: list[tuple[Image.Image, tuple[int, int, int, int], int]] = []
    for number, region in enumerate(regions):
        # Little room above and below (a table rule in the strip derails the line finder),
        # and sideways only half way to the next words.
        pad = (region.bottom - region.top) // 4
        box = (
            max(region.left - gap, (region.left + region.reach_left) // 2, 0),
            max(region.top - pad, 0),
            min(region.right + gap, (region.right + region.reach_right) // 2, grey.width),
            min(region.bottom + pad, grey.height),
        )
        strips += [(image, box, number) for image in _renditions(grey.crop(box), threshold)]
    width = max(image.width for image, _, _ in strips) + 2 * gap
    sheet = Image.new("L", (width, sum(image.height + gap for image, _, _ in strips) + gap), 255)
    placed = []
    y = gap
    for image, box, number in strips:
        sheet.paste(image, (gap, y))
        placed.append((y, y + image.height, box, number))
        y += image.height + gap
    second = _reads(_tesseract(sheet, page=page, timeout_s=timeout_s))
    readings: dict[int, list[list[Read]]] = {}
    for y0, y1, box, number in placed:
        region = regions[number]
        line = reads[region.members[0]].line
        moved = [
            replace(
                read,
                left=read.left - gap + box[0],
                right=read.right - gap + box[0],
                top=read.top - y0 + box[1],
                bottom=read.bottom - y0 + box[1],
                line=line,
            )
            for read in second
            if y0 <= (read.top + read.bottom) / 2 < y1 and any(c.isalnum() for c in read.text)
        ]
        # The margin of a cut may hold the edge of a neighbour's last glyph, which reads as a
        # word of its own ('9' of 'INV-104429'); only words centred on the region count.
        slack = (region.bottom - region.top) / 2
        found = [
            read
            for read in moved
            if region.left - slack <= (read.left + read.right) / 2 <= region.right + slack
        ]
        if found:
            readings.setdefault(number, []).append(found)
    replaced: dict[int, list[Read]] = {}
    for number, candidates in readings.items():
        members = regions[number].members
        best = max(candidates, key=lambda words: min(w.confidence for w in words))
        texts = [" ".join(w.text for w in words) for words in candidates]
        texts.append(" ".join(reads[i].text for i in members))
        confidence = min(w.confidence for w in best)
        if texts.count(" ".join(w.text for w in best)) < 2:
            confidence = min(confidence, REREAD_CONFIDENCE - 0.01)
        if confidence > min(reads[i].confidence for i in members):
            for index in members:
                replaced[index] = []
            replaced[members[0]] = [
                replace(w, confidence=min(w.confidence, confidence)) for w in best
            ]
    result: list[Read] = []
    for index, read in enumerate(reads):
        result.extend(replaced.get(index, [read]))
    return result


def is_speck(text: str, confidence: float) -> bool:
    """Whether an OCR word (confidence 0..1) is noise rather than print: see SPECK_CONFIDENCE."""
    if not any(c.isalnum() for c in text):
        return text not in _MEANINGFUL_SYMBOLS
    return len(text) <= 2 and confidence < SPECK_CONFIDENCE


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


def _ocr_pdf_page(*, data: bytes, index: int, dpi: float, timeout_s: float, turn: int = 0) -> Page:
    """Render page ``index`` (0-based), or take its scan as it is, and OCR it; runs inside a
    worker process."""
    page_number = index + 1
    try:
        pdf = pdfium.PdfDocument(data)
        try:
            pdf_page = pdf[index]
            width, height = pdf_page.get_size()
            dpi = min(dpi, scan_dpi(pdf_page) or dpi)
            if width * height * (dpi / 72) ** 2 > MAX_PAGE_PIXELS:
                raise ParseError(
                    f"page {page_number}: {width:.0f} x {height:.0f} pt is too large to OCR "
                    f"at {dpi:g} dpi; use a lower dpi"
                )
            scan = whole_page_scan(pdf_page)
            if scan is not None:
                image, dpi = scan
            else:
                image = pdf_page.render(scale=dpi / 72, grayscale=True).to_pil()
        finally:
            pdf.close()
    except pdfium.PdfiumError as error:
        raise ParseError(f"page {page_number}: cannot be rendered: {error}") from error
    if turn:
        image = image.rotate(turn, expand=True)
    return ocr_page(image, page=page_number, dpi=dpi, timeout_s=timeout_s)


def whole_page_scan(pdf_page: pdfium.PdfPage) -> tuple[Image.Image, float] | None:
    """The page's scan decoded as it is stored, with its dpi, when the page is nothing but one
    upright 8-bit grey or colour image covering it; None otherwise (the page is rendered).

    Decoding the image skips rendering the page (a tenth of a second per page at 300 dpi) and
    any resampling on the way.
    """
    objects = list(pdf_page.get_objects(max_depth=1))
    if len(objects) != 1 or objects[0].type != pdfium.raw.FPDF_PAGEOBJ_IMAGE:
        return None
    image = objects[0]
    a, b, c, d, e, f = image.get_matrix().get()
    width, height = pdf_page.get_size()
    upright = b == 0 and c == 0 and abs(e) < 1 and abs(f) < 1
    if not (upright and abs(a - width) < 1 and abs(d - height) < 1):
        return None
    metadata = image.get_metadata()
    grey_or_colour = (metadata.colorspace, metadata.bits_per_pixel) in (
        (pdfium.raw.FPDF_COLORSPACE_DEVICEGRAY, 8),
        (pdfium.raw.FPDF_COLORSPACE_DEVICERGB, 24),
    )
    if not grey_or_colour or not 0 < metadata.width * metadata.height <= MAX_PAGE_PIXELS:
        return None
    return image.get_bitmap(render=False).to_pil(), metadata.width * 72.0 / a


def scan_dpi(pdf_page: pdfium.PdfPage) -> float | None:
    """The resolution (pixels per inch on the page) of the largest image on a PDF page, the
    scan itself on a scanned page; None when the page holds no image."""
    best: tuple[float, float] | None = None
    for image in pdf_page.get_objects(filter=[pdfium.raw.FPDF_PAGEOBJ_IMAGE], max_depth=1):
        left, bottom, right, top = image.get_bounds()
        pixels_wide = image.get_px_size()[0]
        area = (right - left) * (top - bottom)
        if right - left < 1 or pixels_wide < 1 or (best is not None and area <= best[0]):
            continue
        best = (area, pixels_wide * 72.0 / (right - left))
    return round(best[1], 1) if best else None


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
                frames.append((_grey(_upright(frame.copy(), image.info.get("dpi"))), dpi))
    except ParseError:
        raise
    # Pillow signals corrupt or truncated files with many exception types (OSError,
    # SyntaxError, ValueError, struct.error, DecompressionBombError, ...).
    except Exception as error:
        raise ParseError(f"not a readable image: {error}", source=source) from error
    if not frames:
        raise ParseError("the image has no frames", source=source)
    return frames


def _upright(frame: Image.Image, dpi: object) -> Image.Image:
    """A frame as a reader sees it: turned as the camera's orientation tag says (a phone photo
    is stored sideways), and with square pixels (a standard-resolution fax is 204 x 98 dpi,
    each row standing for two)."""
    frame = ImageOps.exif_transpose(frame) or frame
    try:
        wide, tall = (float(v) for v in dpi)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return frame
    if math.isfinite(wide) and math.isfinite(tall) and 50 <= tall < 0.8 * wide:
        height = min(round(frame.height * wide / tall), MAX_PAGE_PIXELS // max(frame.width, 1))
        frame = frame.resize((frame.width, height))
    return frame


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
) -> tuple[list[Page], list[ParseError]]:
    """Run the page jobs, in parallel when there are several: the pages read, in order, and a
    ParseError naming each page that could not be."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    count = min(workers or _available_cores(), len(jobs))
    pages: list[Page] = []
    errors: list[ParseError] = []

    def collect(read: Callable[..., Page], **arguments: Any) -> None:
        try:
            pages.append(read(**arguments))
        except ParseError as error:
            # Workers know the page, not the file; errors crossing a process boundary also
            # lose their keyword attributes, so the source is attached here.
            errors.append(ParseError(error.reason, source=source))

    if count <= 1:
        for function, arguments in jobs:
            collect(function, **arguments)
        return pages, errors
    try:
        with ProcessPoolExecutor(max_workers=count, initializer=_init_worker) as pool:
            futures = [pool.submit(function, **arguments) for function, arguments in jobs]
            try:
                for future in futures:
                    collect(future.result)
            except BaseException:
                # Pages not started yet are dropped; running ones end within their timeout.
                for future in futures:
                    future.cancel()
                raise
    except BrokenProcessPool as error:
        raise ArpilotError(
            f"{source or 'document'}: an OCR worker process died (out of memory?): {error}"
        ) from error
    return pages, errors

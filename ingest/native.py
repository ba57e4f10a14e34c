"""What ties an optional C accelerator to the source it was built from.

``scripts/build_native.py`` compiles each accelerator with the digest of its source and of the
installed lxml; the Python module it speeds up loads it only when that is still the digest, so
an edited source or an upgraded lxml never runs with a stale build: the pure-Python path runs
until ``make`` rebuilds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def native_digest(source: Path) -> str:
    """The first 16 hex digits of the SHA-256 of ``source`` and of the lxml release whose C
    headers it is compiled against; '' when the source is missing."""
    from lxml import etree

    try:
        text = source.read_bytes()
    except OSError:
        return ""
    return hashlib.sha256(text + etree.__version__.encode()).hexdigest()[:16]

"""Shared benchmark plumbing: machine facts, timed subprocess runs, medians, report sections."""

from __future__ import annotations

import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "BENCHMARKS.md"
ARPILOT = str(Path(sys.executable).parent / "arpilot")


@dataclass(frozen=True, slots=True)
class Timed:
    """One run: wall seconds, the child's peak resident memory in MiB, and what it printed."""

    seconds: float
    peak_mib: float
    stdout: str = ""


def machine() -> str:
    """One line on the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def run_timed(args: list[str], env: dict[str, str] | None = None) -> Timed:
    """Run a command to completion in a child process; fail loudly if it fails.

    The child's own peak memory comes from ``wait4`` (the children's rusage would be a
    high-water mark over every child so far). stderr goes to a file so no pipe can fill.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen(
            args,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert proc.stdout is not None
        stdout = proc.stdout.read()
        _, status, rusage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            errors.seek(0)
            raise RuntimeError(
                f"{' '.join(args)} failed ({proc.returncode}): {errors.read()[-2000:]}"
            )
    return Timed(seconds, rusage.ru_maxrss / 1024, stdout)


def self_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values)


def write_section(name: str, body: str) -> None:
    """Replace (or add) the section ``name`` of BENCHMARKS.md, leaving the others as they are."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{block}\n"
    )
    REPORT.write_text(text)

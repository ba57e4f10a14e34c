"""World generation speed through the real CLI: a 500-customer, 24-month realistic world with
documents, and a world of about a million invoices without documents."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.common import ARPILOT, Timed, machine, median, run_timed

CASES = (
    # (label, customers, months, documents)
    ("500 customers × 24 months, realistic, with documents", 500, 24, True),
    ("8,000 customers × 24 months, realistic, no documents", 8_000, 24, False),
)


def _one(tmp: Path, run: int, customers: int, months: int, documents: bool) -> tuple[Timed, dict]:
    out = tmp / f"world-{customers}-{run}"
    args = [
        ARPILOT,
        "simulate",
        "--out",
        str(out),
        "--customers",
        str(customers),
        "--months",
        str(months),
        "--preset",
        "realistic",
        "--seed",
        "42",
    ]
    if not documents:
        args.append("--no-documents")
    timed = run_timed(args)
    manifest = json.loads((out / "manifest.json").read_text())
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    manifest["bytes"] = size
    return timed, manifest


def run(repeats: int = 3) -> str:
    rows = []
    with tempfile.TemporaryDirectory(prefix="arpilot-bench-sim-") as tmp_name:
        tmp = Path(tmp_name)
        for label, customers, months, documents in CASES:
            results = [_one(tmp, r, customers, months, documents) for r in range(repeats)]
            seconds = median([t.seconds for t, _ in results])
            peak = max(t.peak_mib for t, _ in results)
            manifest = results[0][1]
            same = len({json.dumps(m["files"], sort_keys=True) for _, m in results}) == 1
            counts = manifest["counts"]
            rows.append(
                f"| {label} | {seconds:.1f} | {counts['invoices']:,} | "
                f"{counts['invoices'] / seconds:,.0f} | {counts['window_payments']:,} | "
                f"{counts['bank_files']} | {counts['documents']:,} | "
                f"{manifest['bytes'] / 2**20:,.0f} | {peak:,.0f} | {'yes' if same else 'NO'} |"
            )
    return "\n".join(
        [
            "## Simulator: world generation (issue 3)",
            "",
            f"Machine: {machine()}.  ",
            "Command: `arpilot simulate --out DIR --customers N --months 24 --preset realistic "
            f"--seed 42 [--no-documents]`, {repeats} runs each, median wall time. Every run writes "
            "the whole world: ERP exports, history, bank files, documents and ground truth. "
            "'identical' says whether all runs produced byte-identical files (same seed, same bytes).",
            "",
            "| world | median s | invoices | invoices/s | window payments | bank files | documents "
            "| MiB written | peak RSS MiB | identical |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *rows,
        ]
    )

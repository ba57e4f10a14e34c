"""Bank-file parsing speed per format, beside the bare reader each parser builds on.

Each figure is a child process that parses one large simulator-written file; its wall time is
measured inside the child (imports excluded) and its peak memory from the child's rusage.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from benchmarks.common import ARPILOT, machine, median, run_timed
from simulator.model import BankAccount, RemittanceRef, Statement, StatementLine

TRANSACTIONS = 100_000
FORMATS = ("bai2", "camt053", "camt054", "mt940", "csv")


def big_statement(file_format: str, n: int, seed: int = 11) -> Statement:
    """One statement with ``n`` credits of varied content (names, references, structure)."""
    rng = random.Random(seed)
    currency = "USD" if file_format in ("bai2", "csv") else "EUR"
    lines = []
    start = date(2026, 1, 5)
    for i in range(n):
        day = start + timedelta(days=i * 20 // n)
        refs = [f"INV-{100000 + rng.randrange(900000)}" for _ in range(rng.choice((1, 1, 2, 3)))]
        lines.append(
            StatementLine(
                line_id=f"P{i}",
                booking_date=day,
                value_date=day,
                amount_minor=rng.randint(100, 5_000_000),
                currency=currency,
                payer_name=f"CUSTOMER {rng.randrange(5000)} TRADING LTD",
                payer_account=f"DE{rng.randint(10**19, 10**20 - 1)}"
                if currency == "EUR"
                else str(rng.randint(10**9, 10**10 - 1)),
                bank_reference=f"BR{i:09d}",
                customer_reference=f"{rng.randint(10**14, 10**15 - 1)}",
                end_to_end_id=f"E2E{i:010d}" if currency == "EUR" else "",
                remittance_text=" ".join(refs),
                structured=tuple(RemittanceRef(r) for r in refs)
                if file_format.startswith("camt")
                else (),
                channel="sepa" if currency == "EUR" else "ach",
                bai_type_code="142",
            )
        )
    account = BankAccount(
        "Bench Bank",
        "BENCHDEFFXXX" if currency == "EUR" else "021000089",
        "DE44500105175407324931" if currency == "EUR" else "4400012345",
        "Bench",
        currency,
        file_format,
    )
    return Statement(
        account,
        "BENCH-1",
        1,
        datetime(2026, 2, 1, 6),
        start,
        start + timedelta(days=20),
        10**9,
        tuple(lines),
    )


def write(file_format: str, statement: Statement, folder: Path) -> Path:
    from simulator import formats

    if file_format == "bai2":
        data = formats.write_bai2(
            [statement],
            sender_id="021000089",
            receiver_id="BENCH",
            file_id="1",
            created_at=statement.created_at,
        )
    elif file_format == "camt053":
        data = formats.write_camt053(statement, version="001.02", message_id="BENCH053")
    elif file_format == "camt054":
        data = formats.write_camt054(statement, version="001.08", message_id="BENCH054")
    elif file_format == "mt940":
        data = formats.write_mt940([statement], dialect="german")
    else:
        data = formats.write_csv_statement(statement, formats.US_BANK_CSV)
        (folder / "mapping.json").write_text(json.dumps(formats.US_BANK_CSV.mapping()))
    path = folder / f"bench.{file_format}"
    path.write_bytes(data)
    return path


PURE_PYTHON = {"ARPILOT_NATIVE": "0"}


def _camt_reader() -> str:
    """Which element tree the camt rows above were read with."""
    from ingest.bank import camt

    if camt._native is None:
        return "the pure-Python element tree (the C tree builder is not built here)"
    return "lxml's parser with the element tree built in C (`ingest/bank/_camt_tree.c`)"


def write_file(file_format: str, n: int, folder: str) -> None:
    """Child process: write the benchmark file, so the measuring parent stays small (a forked
    child's peak memory would otherwise include the parent's)."""
    write(file_format, big_statement(file_format, n), Path(folder))


def worker(file_format: str, path: str, mode: str) -> None:
    """Child process: parse once, print {"seconds", "transactions"} as JSON."""
    data = Path(path).read_bytes()
    if mode == "ours":
        # Imports (and the parser module the format needs) load before the clock starts.
        import importlib

        from pipelines.ingest import load_profiles, parse_any

        for module in ("bai2", "camt", "csv_statement", "mt940"):
            importlib.import_module(f"ingest.bank.{module}")

        profiles = load_profiles(Path(path).parent, Path(path), None)
    start = time.perf_counter()
    if mode == "ours":
        parsed = parse_any(data, source=path, file_format=file_format, profiles=profiles)
        count = len(parsed.transactions) if hasattr(parsed, "transactions") else 0
    elif file_format == "bai2":
        from bai2 import bai2

        parsed_bai2 = bai2.parse_from_string(data.decode(), check_integrity=True)
        count = sum(len(a.children) for g in parsed_bai2.children for a in g.children)
    elif file_format.startswith("camt"):
        from lxml import etree

        root = etree.fromstring(data)
        count = sum(1 for _ in root.iter("{*}Ntry"))
    elif file_format == "mt940":
        import mt940

        count = len(mt940.parse(data).transactions)
    else:
        import csv

        count = sum(1 for _ in csv.reader(data.decode().splitlines())) - 1
    seconds = time.perf_counter() - start
    sys.stdout.write(json.dumps({"seconds": seconds, "transactions": count}) + "\n")


BASELINE = {
    "bai2": "`bai2` library parse with integrity checks",
    "camt053": "lxml parse + counting entries",
    "camt054": "lxml parse + counting entries",
    "mt940": "`mt-940` library parse",
    "csv": "Python `csv` reader",
}


def _child(
    file_format: str, path: Path, mode: str, env: dict[str, str] | None = None
) -> tuple[float, float, int]:
    args = [
        sys.executable,
        "-c",
        f"from benchmarks.ingest import worker; worker({file_format!r}, {str(path)!r}, {mode!r})",
    ]
    timed = run_timed(args, env)
    result = json.loads(timed.stdout)
    return float(result["seconds"]), timed.peak_mib, int(result["transactions"])


def run(repeats: int = 3, n: int = TRANSACTIONS) -> str:
    rows, pure_python = [], []
    with tempfile.TemporaryDirectory(prefix="arpilot-bench-ingest-") as tmp:
        folder = Path(tmp)
        ingest_files = []
        for file_format in FORMATS:
            sub = folder / file_format
            sub.mkdir()
            run_timed(
                [
                    sys.executable,
                    "-c",
                    "from benchmarks.ingest import write_file; "
                    f"write_file({file_format!r}, {n}, {str(sub)!r})",
                ]
            )
            path = sub / f"bench.{file_format}"
            ingest_files.append(path)
            ours = [_child(file_format, path, "ours") for _ in range(repeats)]
            base = [_child(file_format, path, "baseline") for _ in range(repeats)]
            ours_s, base_s = median([o[0] for o in ours]), median([b[0] for b in base])
            count = ours[0][2]
            if file_format.startswith("camt"):  # the same reader with its C tree builder off
                pure = [_child(file_format, path, "ours", PURE_PYTHON) for _ in range(repeats)]
                pure_s = median([p[0] for p in pure])
                pure_python.append(
                    f"{file_format} {count / pure_s:,.0f}/s ({pure_s / ours_s:.2f}× slower)"
                )
            rows.append(
                f"| {file_format} | {count:,} | {path.stat().st_size / 2**20:,.0f} | {ours_s:.2f} | "
                f"{count / ours_s:,.0f} | {max(o[1] for o in ours):,.0f} | {BASELINE[file_format]}: "
                f"{count / base_s:,.0f}/s | {base_s / ours_s:.2f}× |"
            )
        ingest_times = []
        for r in range(repeats):
            home = folder / f"home{r}"
            ingest_times.append(
                run_timed(
                    [ARPILOT, "--home", str(home), "ingest", *[str(p.parent) for p in ingest_files]]
                )
            )
    total = n * len(FORMATS)
    ingest_s = median([t.seconds for t in ingest_times])
    return "\n".join(
        [
            "## Bank-file ingest (issue 4)",
            "",
            f"Machine: {machine()}.  ",
            f"Files: one simulator-written statement of {n:,} credits per format (BAI2, camt.053 v02, "
            "camt.054 v08, MT940 German `:86:`, CSV). Parse time is measured inside a child process "
            f"(imports excluded), median of {repeats} runs; the baseline is the bare reader each "
            "parser builds on, timed the same way in the same run. Regenerate with `make bench`.",
            "",
            "| format | transactions | MiB | median s | transactions/s | peak RSS MiB | baseline | "
            "speed vs baseline |",
            "|---|---:|---:|---:|---:|---:|---|---:|",
            *rows,
            "",
            f"camt reader: {_camt_reader()}. The same files with it turned off "
            f"(`ARPILOT_NATIVE=0`, the pure-Python tree), same run: {'; '.join(pure_python)}.",
            "",
            f"Full `arpilot ingest` of all five files ({total:,} transactions) into a fresh ledger, "
            f"process start to exit: median {ingest_s:.1f} s, {total / ingest_s:,.0f} transactions/s, "
            f"peak RSS {max(t.peak_mib for t in ingest_times):,.0f} MiB.",
        ]
    )

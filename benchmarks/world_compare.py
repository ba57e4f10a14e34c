"""Engine changes compared world by world: a development tool beside `make bench`, not part of it.

    python -m benchmarks.world_compare run TAG --seeds 7101-7107,7201-7207 [--size 300x6]
        [--scorer S] [--work DIR] [--keep]
    python -m benchmarks.world_compare diff TAG_BEFORE TAG_AFTER [--work DIR]

`run` writes each world of the seeds once under ``--work`` (odd seeds `realistic`, even seeds
`hard`, 300 customers x 6 months unless ``--size`` says otherwise) and ingests it into a
pristine ledger; then matches a copy of that ledger with the code on the import path and the
scorer ``S`` ('pretrained', 'rules', or a trained scorer's folder). It writes per-world counts
to ``TAG.results.jsonl`` and every payment not settled right to ``TAG.misses.jsonl``: its
scenarios, the truth, what was applied or why it waited, and whether the right answer was
among the suggestions. To measure a change, run the code before it (a checkout first on
``PYTHONPATH``) and after it on the same seeds, then `diff`.
Pick seeds no scorer was trained on and the bench does not use (see ``training.json`` and
:mod:`benchmarks.matching`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.matching import _engine_rows, _loaded_world
from ledger.db import open_ledger
from ledger.settings import LedgerSettings
from pipelines.train_matcher import WorldSpec
from pipelines.worlds import (
    evaluate,
    ledger_links,
    proposal_is_right,
    read_truth,
    truth_in_roles,
)

WORK = Path("world-compare")
SIZE = (300, 6)
"""Customers and months of a world unless ``--size`` says otherwise."""


def parse_seeds(text: str) -> list[int]:
    """'7101-7103,7201' -> [7101, 7102, 7103, 7201]."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        seeds.extend(range(int(first), int(last or first) + 1))
    return seeds


def parse_size(text: str) -> tuple[int, int]:
    """'600x12' -> (600, 12): customers and months."""
    customers, _, months = text.lower().partition("x")
    return int(customers), int(months)


def spec_for(seed: int, customers: int = SIZE[0], months: int = SIZE[1]) -> WorldSpec:
    return WorldSpec(seed, "realistic" if seed % 2 else "hard", customers, months)


def run(
    tag: str,
    seeds: Sequence[int],
    scorer: str,
    work: Path,
    *,
    keep: bool = False,
    size: tuple[int, int] = SIZE,
) -> list[dict[str, Any]]:
    """Match every world of ``seeds`` afresh; append its counts and misses to the tag's files.

    ``keep``: leave each matched ledger in ``worlds/WORLD/TAG`` to look into a miss.
    ``size``: customers and months of each world.
    """
    results = []
    for spec in (spec_for(seed, *size) for seed in seeds):
        folder = work / "worlds" / spec.name
        pristine = folder / "pristine"
        if not (folder / "ready").exists():
            shutil.rmtree(folder, ignore_errors=True)
            _loaded_world(spec, work / "worlds", pristine)
            (folder / "ready").touch()
        home = folder / tag
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(pristine, home)
        choice = scorer
        if scorer not in ("pretrained", "rules"):
            shutil.copytree(scorer, home / "models" / "match_scorer")
            choice = "home"
        truth = read_truth(folder / "world")
        with open_ledger(LedgerSettings(home=home).ledger_path) as con:
            links = ledger_links(con, truth)
            customer_of = dict(
                con.execute("SELECT invoice_number, customer_id FROM invoices").fetchall()
            )
        rows, scorer_name, seconds = _engine_rows(home, choice)
        card = evaluate(rows, links, truth, customer_of).overall
        with open_ledger(LedgerSettings(home=home).ledger_path) as con:
            reasons = dict(con.execute("SELECT payment_id, reason FROM exceptions").fetchall())
        misses = []
        roles = truth_in_roles(rows, links, truth)
        for payment_id, applied, suggestions in rows:
            true = roles.get(links.get(payment_id, ""))
            if true is None:
                continue
            if true.duplicate_of:
                right = applied is None
            else:
                right = applied is not None and proposal_is_right(applied, true)
            if not right:
                misses.append(
                    {
                        "world": spec.name,
                        "payment_id": payment_id,
                        "scenarios": sorted(true.tags),
                        "customer": true.customer_id,
                        "amount_minor": true.amount_minor,
                        "truth": true.allocations,
                        "written_off": true.written_off,
                        "applied": None
                        if applied is None
                        else [
                            (a.invoice_number, a.applied_minor, a.adjustment_minor, a.kind.value)
                            for a in applied.allocations
                        ],
                        "reason": reasons.get(payment_id),
                        "right_answer_suggested": any(
                            proposal_is_right(p, true) for p in suggestions
                        ),
                    }
                )
        result = {
            "world": spec.name,
            "preset": spec.preset,
            "scorer": scorer_name,
            "payments": card.payments,
            "invoices": card.invoices,
            "right": card.invoices_right,
            "applied": card.applied,
            "wrong": card.applied - card.applied_right,
            "seconds": round(seconds, 2),
        }
        _append(work / f"{tag}.results.jsonl", [result])
        _append(work / f"{tag}.misses.jsonl", misses)
        if not keep:
            shutil.rmtree(home)
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


def _append(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.writelines(json.dumps(r) + "\n" for r in records)


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    """A tag's results by world, the latest run of a world winning."""
    return {r["world"]: r for r in map(json.loads, path.read_text().splitlines()) if r}


def diff(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    """Invoices right and wrong applications, per world both tags ran and pooled per preset."""
    lines = []
    pooled: dict[str, list[int]] = {}
    for world in sorted(set(before) & set(after)):
        b, a = before[world], after[world]
        lines.append(
            f"{world}: invoices right {b['right']} -> {a['right']} of {b['invoices']}, "
            f"wrong applications {b['wrong']} -> {a['wrong']}"
        )
        totals = pooled.setdefault(b["preset"], [0, 0, 0, 0, 0])
        for k, value in enumerate((b["right"], a["right"], b["wrong"], a["wrong"], b["invoices"])):
            totals[k] += value
    for preset, (right_b, right_a, wrong_b, wrong_a, invoices) in pooled.items():
        lines.append(
            f"{preset}: {100 * right_b / invoices:.3f}% -> {100 * right_a / invoices:.3f}% "
            f"of {invoices:,} invoices, wrong applications {wrong_b} -> {wrong_a}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=WORK, help=f"default: ./{WORK}")
    commands = parser.add_subparsers(dest="command", required=True)
    matching = commands.add_parser("run", help="match the worlds of --seeds")
    matching.add_argument("tag")
    matching.add_argument("--seeds", required=True, type=parse_seeds)
    matching.add_argument("--scorer", default="pretrained")
    matching.add_argument(
        "--size",
        type=parse_size,
        default=SIZE,
        help="customers x months of each world, e.g. 600x12 (default 300x6)",
    )
    matching.add_argument(
        "--keep", action="store_true", help="keep each matched ledger in worlds/WORLD/TAG"
    )
    comparing = commands.add_parser("diff", help="compare two tags' results")
    comparing.add_argument("before")
    comparing.add_argument("after")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.tag, args.seeds, args.scorer, args.work, keep=args.keep, size=args.size)
    else:
        before, after = (
            read_results(args.work / f"{tag}.results.jsonl") for tag in (args.before, args.after)
        )
        print("\n".join(diff(before, after)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

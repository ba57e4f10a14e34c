"""Which simulated worlds the match scorer is trained and calibrated on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ledger.db import open_ledger
from pipelines.train_matcher import WorldSpec, prepared_world, world_specs
from simulator.output import WORLD_FORMAT


def test_one_size_trains_on_the_first_worlds_and_holds_out_the_rest() -> None:
    train, held = world_specs([3], [2], [101], [150], 6)
    assert [w.name for w in train] == [
        "realistic-101-150x6",
        "hard-102-150x6",
        "realistic-103-150x6",
    ]
    assert [w.name for w in held] == ["hard-104-150x6", "realistic-105-150x6"]


def test_two_sizes_each_give_training_and_held_out_worlds() -> None:
    train, held = world_specs([2, 1], [1, 1], [101, 201], [150, 300], 6)
    assert [w.name for w in train] == [
        "realistic-101-150x6",
        "hard-102-150x6",
        "realistic-201-300x6",
    ]
    assert [w.name for w in held] == ["realistic-103-150x6", "hard-202-300x6"]
    # A single value applies to every size.
    train, held = world_specs([1], [1], [101, 201], [150, 300], 4)
    assert [w.name for w in train + held] == [
        "realistic-101-150x4",
        "realistic-201-300x4",
        "hard-102-150x4",
        "hard-202-300x4",
    ]


@pytest.mark.parametrize(
    ("worlds", "held_out", "message"),
    [([2, 1, 4], [1, 1], "held-out gives 2 values for 3"), ([-1], [1], "must not be negative")],
)
def test_lists_that_disagree_are_refused(
    worlds: list[int], held_out: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        world_specs(worlds, held_out, [101], [150], 6)


def test_the_command_refuses_a_list_that_is_not_numbers(tmp_path: Path) -> None:
    arpilot = Path(sys.executable).parent / "arpilot"
    result = subprocess.run(
        [str(arpilot), "--home", str(tmp_path), "train-matcher", "--worlds", "5,x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--worlds takes whole numbers separated by commas, got '5,x'" in result.stderr
    assert not (tmp_path / "models").exists()


def test_worlds_ingested_by_an_older_arpilot_get_new_ledgers_from_the_same_files(
    tmp_path: Path,
) -> None:
    spec = WorldSpec(5, "realistic", 12, 2)
    world, home, history = prepared_world(spec, tmp_path)
    files = sorted((p.relative_to(world), p.stat().st_mtime_ns) for p in world.rglob("*"))
    ready = tmp_path / spec.name / "loaded"
    # What an arpilot before the payments' arrival order left: a ledger of schema 2 without
    # source lines, from world files of today's format.
    ready.write_text(
        f"world format {WORLD_FORMAT} written and ingested into a ledger of schema 2\n"
    )
    with open_ledger(home / "ledger.duckdb") as con:
        con.execute("UPDATE payments SET source_line = NULL")
    again = prepared_world(spec, tmp_path)
    assert again == (world, home, history)
    assert sorted((p.relative_to(world), p.stat().st_mtime_ns) for p in world.rglob("*")) == files
    for ledger in (home, history):
        with open_ledger(ledger / "ledger.duckdb", read_only=True) as con:
            missing, total = con.execute(
                "SELECT count(*) FILTER (WHERE source_line IS NULL), count(*) FROM payments"
            ).fetchall()[0]
        assert total > 0
        assert missing == 0
    assert prepared_world(spec, tmp_path) == (world, home, history)


def test_a_world_kept_from_an_older_format_is_written_again(tmp_path: Path) -> None:
    spec = WorldSpec(5, "realistic", 12, 2)
    world, _, _ = prepared_world(spec, tmp_path)
    # A world of format 1: open items without the customers' parents, and its old marker.
    items = world / "erp" / "open_items.csv"
    lines = items.read_text().splitlines()
    items.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    (tmp_path / spec.name / "loaded").write_text("written and ingested into a ledger of schema 3\n")
    prepared_world(spec, tmp_path)
    assert items.read_text().splitlines() == lines
    assert lines[0].endswith(",parent_id")

from benchmarks.world_compare import diff, parse_seeds, parse_size, spec_for


def test_seeds_are_read_as_ranges_and_single_seeds() -> None:
    assert parse_seeds("7101-7103, 7201,") == [7101, 7102, 7103, 7201]


def test_odd_seeds_make_realistic_worlds_and_even_seeds_hard_ones() -> None:
    assert [spec_for(s).preset for s in (7101, 7102)] == ["realistic", "hard"]


def test_a_size_is_read_as_customers_by_months() -> None:
    assert parse_size("600x12") == (600, 12)
    assert spec_for(7501, *parse_size("600X12")).name == "realistic-7501-600x12"


def _result(world: str, preset: str, right: int, wrong: int, invoices: int = 200) -> dict:
    return {"world": world, "preset": preset, "right": right, "wrong": wrong, "invoices": invoices}


def test_two_runs_are_compared_per_world_both_ran_and_pooled_per_preset() -> None:
    before = {
        "a": _result("a", "realistic", 190, 1),
        "b": _result("b", "realistic", 180, 0),
        "c": _result("c", "hard", 150, 2),
    }
    after = {"a": _result("a", "realistic", 192, 1), "b": _result("b", "realistic", 181, 2)}
    assert diff(before, after) == [
        "a: invoices right 190 -> 192 of 200, wrong applications 1 -> 1",
        "b: invoices right 180 -> 181 of 200, wrong applications 0 -> 2",
        "realistic: 92.500% -> 93.250% of 400 invoices, wrong applications 1 -> 3",
    ]

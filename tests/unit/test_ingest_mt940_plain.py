"""The MT940 shortcut for plain statement lines against the field-by-field reader it skips."""

from __future__ import annotations

import random
from dataclasses import replace

import mt940
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.bank import mt940 as mt940_module
from ingest.bank.mt940 import parse_mt940
from ledger.errors import ParseError
from simulator.formats import write_mt940
from tests.unit.test_ingest_mt940 import _mutated, _seeds, _statements

_GROUPS = ("year", "month", "day", "entry_month", "entry_day", "status", "amount", "id",
           "customer_reference", "bank_reference", "extra_details")  # fmt: skip


def _random_line(rng: random.Random) -> str:
    """A :61: value built from pieces that are mostly plain and sometimes not."""

    def text(alphabet: str, most: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))

    return "".join(
        [
            "".join(rng.choice("0123456789") for _ in range(6)),
            rng.choice(["", "", "0105", "1231", "  ", "12", "1 "]),
            rng.choice(["C", "D", "RC", "RD", "C", "D", "c", "CR", "X", "DR"]),
            rng.choice(["", "", "", "", "", "", "", "R", " ", "\n"]),
            rng.choice(["100,00", "1,", "123456789012,34", "7,5", "12.50", "1,234", ",5", "1,2"]),
            rng.choice(["NTRF", "NMSC", "FTRF", "S051", "NTRF", "ntrf", "N", "NTR ", "", "1A"]),
            text("AB12/ -:?", 18),
            rng.choice(["", "", "//" + text("XY9/ ", 26)]),
            rng.choice(["", "", "\n" + text("PQ7 :-/", 40)]),
        ]
    )


def test_plain_lines_read_as_the_library_reads_them() -> None:
    rng = random.Random(940)
    tag = mt940.tags.TAG_BY_ID[61]
    plain = 0
    for _ in range(20_000):
        value = _random_line(rng)
        text = f"\n:61:{value}\n:62F:"
        match = mt940_module._PLAIN_PAIR.match(text)
        if (
            match is None
            or match.end() != len(text) - len("\n:62F:")
            or mt940_module._has_trailing_blanks(text)
        ):
            continue
        plain += 1
        library = tag.re.match(value.strip())
        assert library is not None, value
        ours = {name: match[name] or "" for name in _GROUPS}
        assert ours == {name: library[name] or "" for name in _GROUPS}, value
    assert plain > 500  # the shortcut was exercised, not skipped


def _outcome(data: bytes) -> object:
    try:
        return parse_mt940(data, source="twin")
    except ParseError as exc:
        return (type(exc).__name__, str(exc), exc.line)


def _field_by_field(data: bytes) -> object:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mt940_module, "_run", lambda *args: None)
        return _outcome(data)


def _simulated() -> tuple[bytes, ...]:
    statements = _statements()
    longer = replace(statements[0], lines=statements[0].lines * 5)
    return tuple(
        write_mt940([*statements, longer], dialect=dialect) for dialect in ("swift", "german")
    )


def test_simulated_statements_take_the_shortcut() -> None:
    for data in _simulated():
        text = mt940_module._decode(data, "")
        blocks = list(mt940_module._blocks(text, "", plain=True))
        runs = [item for b in blocks for item in b.fields if isinstance(item, mt940_module._Run)]
        lines = sum(len(run.pairs) for run in runs)
        assert lines == sum(len(s.lines) for s in _statements()) + 5 * len(_statements()[0].lines)
        assert _outcome(data) == _field_by_field(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_shortcut_and_field_by_field_readings_agree_on_mutated_files(
    data: st.DataObject,
) -> None:
    mutated = data.draw(_mutated((*_seeds(), *_simulated())))
    assert _outcome(mutated) == _field_by_field(mutated)

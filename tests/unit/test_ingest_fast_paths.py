"""The bank parsers' shortcuts against the slow paths they replace: same records, same refusals."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import mt940
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from ingest.bank import camt
from ingest.bank.mt940 import _line_dates
from ingest.statements import ParsedFile
from ledger.errors import ParseError

CAMT_FIXTURES = sorted((Path(__file__).parents[3] / "shared" / "fixtures" / "camt").glob("*.xml"))


def _parsed_or_error(data: bytes) -> object:
    try:
        return camt.parse_camt(data, check_balances=False)
    except ParseError as exc:
        return ("ParseError", str(exc))


@pytest.mark.parametrize("path", CAMT_FIXTURES, ids=lambda p: p.name)
def test_dropping_indentation_changes_no_camt_value(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _parsed_or_error(path.read_bytes())
    monkeypatch.setattr(camt, "_only_indentation_is_blank", lambda data: False)
    assert _parsed_or_error(path.read_bytes()) == fast


@pytest.mark.parametrize(
    ("data", "allowed"),
    [
        (b"<?xml version='1.0'?>\n<Document/>", True),
        (b"<Document>\n  <Ustrd>  <!-- note -->text</Ustrd></Document>", False),
        (b"<Document><Ustrd>  <![CDATA[text]]></Ustrd></Document>", False),
        (b"<Document><Ustrd>  <?pi x?>text</Ustrd></Document>", False),
        ("<Document/>".encode("utf-16-le"), False),
        (b"  <Document/>", False),
    ],
)
def test_indentation_is_dropped_only_where_no_value_can_change(data: bytes, allowed: bool) -> None:
    assert camt._only_indentation_is_blank(data) is allowed


def _library_dates(year: str, month: str, day: str, em: str | None, ed: str | None) -> object:
    """mt-940's own reading of a :61: line's dates, as the parser used to ask it per line."""
    groups = {"year": year, "month": month, "day": day, "entry_month": em, "entry_day": ed}
    groups |= {"status": "C", "amount": "1,00", "currency": "EUR"}
    transactions = mt940.models.Transactions()
    tag = mt940.tags.TAG_BY_ID[61]
    try:
        built = tag(
            transactions, mt940.processors.date_fixup_pre_processor(transactions, tag, groups)
        )
    except (ValueError, ArithmeticError, TypeError, KeyError):
        return None
    entry = built.get("entry_date")
    value_date = date(built["date"].year, built["date"].month, built["date"].day)
    return value_date, date(entry.year, entry.month, entry.day) if entry else value_date


@pytest.mark.parametrize("year", ["23", "24", "99", "00"])
@pytest.mark.parametrize("month", ["01", "02", "12", "13"])
@pytest.mark.parametrize("day", ["01", "29", "30", "31", "00"])
@pytest.mark.parametrize(
    "entry", [(None, None), ("  ", "  "), ("12", "31"), ("01", "02"), ("02", "30")]
)
def test_line_dates_match_the_library(
    year: str, month: str, day: str, entry: tuple[str | None, str | None]
) -> None:
    assert _line_dates(year, month, day, *entry) == _library_dates(year, month, day, *entry)


def _plain_tree(node: camt._Node) -> tuple[str, str, int | None, dict[str, list[object]]]:
    return (
        node.text,
        node.ccy,
        node.line,
        {name: [_plain_tree(child) for child in nodes] for name, nodes in node.children.items()},
    )


def _reference_tree(
    element: etree._Element, prefix: str, root: bool = True
) -> tuple[str, str, int | None, dict[str, list[object]]]:
    """The document's elements in its namespace, read with nothing but lxml: the slow twin."""
    children: dict[str, list[object]] = {}
    for child in element:
        if isinstance(child.tag, str) and child.tag.startswith(prefix):
            name = child.tag[len(prefix) :]
            children.setdefault(name, []).append(_reference_tree(child, prefix, root=False))
    tag = element.tag if isinstance(element.tag, str) else ""
    amount = tag.endswith("Amt") and not root
    currency = (element.get("Ccy") or "").strip() if amount else ""
    line = element.sourceline if len(element) or amount else None
    return ("" if children else element.text or "", currency, line, children)


_MIXED = b"""<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02" xmlns:b="urn:bank">
<Amt Ccy=" EUR ">1.00<b:Note>own</b:Note></Amt><B><b:X/></B><C><!-- c --><D>d</D><D/></C>
<TxAmt><Amt Ccy="USD">2</Amt></TxAmt><E>a<![CDATA[<b>]]>&amp;c<!-- x -->tail</E><F><?pi x?></F>
<G Ccy="EUR"> 3 </G><RmtdAmt>4</RmtdAmt><B/><Amt Ccy="\xc2\xa0EUR\t"/></Document>"""

# Lines past 65535, where libxml2 keeps the line apart: 70,000 blank lines, then entries.
_LONG = (
    b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
    + b"\n" * 70_000
    + b"<Ntry><Amt Ccy='EUR'>1.00</Amt><NtryDtls><TxDtls><Refs><EndToEndId>\nE2E</EndToEndId>"
    + b"</Refs></TxDtls></NtryDtls></Ntry></Document>"
)

_BUILDERS = ["python", "c"]


def _builder(kind: str, namespace: str) -> object:
    if kind == "python":
        return camt._python_tree_builder(namespace)
    if camt._native is None:
        pytest.skip(_NATIVE_MISSING)
    return camt.tree_builder(namespace)


_NATIVE_MISSING = (
    "the C tree builder is not built or not current (make native; ARPILOT_NATIVE=0 turns it off)"
)


@pytest.mark.parametrize("kind", _BUILDERS)
@pytest.mark.parametrize(
    "path", [*CAMT_FIXTURES, "mixed", "long"], ids=lambda p: p.name if isinstance(p, Path) else p
)
def test_the_element_tree_holds_what_lxml_holds(path: Path | str, kind: str) -> None:
    data = {"mixed": _MIXED, "long": _LONG}.get(path) if isinstance(path, str) else None
    root = etree.fromstring(data or Path(path).read_bytes())
    namespace = root.tag[1:].partition("}")[0]
    build = _builder(kind, namespace)
    assert _plain_tree(build(root)) == _reference_tree(root, f"{{{namespace}}}")  # type: ignore[operator]


@pytest.mark.parametrize("path", [*CAMT_FIXTURES, "mixed"], ids=lambda p: getattr(p, "name", p))
def test_the_c_look_ups_answer_as_the_python_ones(path: Path | str) -> None:
    if camt._native is None:
        pytest.skip(_NATIVE_MISSING)
    root = etree.fromstring(_MIXED if path == "mixed" else Path(path).read_bytes())
    tree = camt.tree_builder(root.tag[1:].partition("}")[0])(root)
    paths = {""}
    nodes = [(tree, "")]
    while nodes:  # every path in the document, from the root and from each element
        node, at = nodes.pop()
        for name, children in node.children.items():
            paths.add(f"{at}/{name}".lstrip("/"))
            nodes.extend((child, f"{at}/{name}") for child in children)
    every_node = [tree]
    for node in every_node:
        every_node.extend(child for children in node.children.values() for child in children)
    some_paths = sorted(paths)[:400]
    for node in every_node[:200]:
        for path_ in some_paths:
            for step in (path_, path_.rpartition("/")[2], "Missing/" + path_):
                assert camt._native.find(node, step) == camt._py_find(node, step)
                assert camt._native.findall(node, step) == camt._py_findall(node, step)
                assert camt._native.text(node, step) == camt._py_text(node, step)
    assert camt._native.text(None, "Amt") == camt._py_text(None, "Amt") == ""


def test_the_c_tree_builder_is_in_use() -> None:
    """The speed in BENCHMARKS.md depends on it: a build that silently fails must not pass."""
    from scripts.build_native import problem

    if os.environ.get("ARPILOT_NATIVE") == "0" or problem():
        pytest.skip(f"no C build here: {problem() or 'ARPILOT_NATIVE=0'}")
    assert camt._native is not None, _NATIVE_MISSING


@pytest.mark.parametrize("pair", [b"<!", b"<?"])
@given(data=st.binary(max_size=60), start=st.integers(0, 62))
def test_the_pair_scan_finds_what_bytes_find_finds(pair: bytes, data: bytes, start: int) -> None:
    data = data.replace(b"x", pair)
    assert camt._find_pair(data, pair, start) == data.find(pair, start)


@given(st.lists(st.sampled_from([*camt._DOCTYPE_MARKS, b"<", b"!", b"\x00", b"<!-", b"a"])))
def test_the_mark_scan_finds_what_bytes_find_finds(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    for mark in camt._DOCTYPE_MARKS:
        assert camt._find_mark(data, mark) == data.find(mark)


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("fails", [False, True])
def test_a_parse_holds_off_the_cycle_collector_and_restores_it(
    enabled: bool, fails: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    import ingest.bank

    seen = []

    def parse(*args: object, **kwargs: object) -> ParsedFile:
        seen.append(gc.isenabled())
        if fails:
            raise ParseError("refused", source="x")
        return ParsedFile("camt053", ())

    monkeypatch.setattr(ingest.bank, "_parse", parse)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        if fails:
            with pytest.raises(ParseError):
                ingest.bank.parse_bank_file(b"x", "camt053")
        else:
            ingest.bank.parse_bank_file(b"x", "camt053")
        assert seen == [False]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()

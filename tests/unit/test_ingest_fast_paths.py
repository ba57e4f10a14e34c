"""The bank parsers' shortcuts against the slow paths they replace: same records, same refusals."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import mt940
import pytest
from lxml import etree

from ingest.bank import camt
from ingest.bank.mt940 import _line_dates
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


def _plain_tree(node: camt._Node) -> tuple[str, str, dict[str, list[object]]]:
    return (
        node.text,
        node.ccy,
        {name: [_plain_tree(child) for child in nodes] for name, nodes in node.children.items()},
    )


def _reference_tree(
    element: etree._Element, prefix: str
) -> tuple[str, str, dict[str, list[object]]]:
    """The document's elements in its namespace, read with nothing but lxml: the slow twin."""
    children: dict[str, list[object]] = {}
    for child in element:
        if isinstance(child.tag, str) and child.tag.startswith(prefix):
            name = child.tag[len(prefix) :]
            children.setdefault(name, []).append(_reference_tree(child, prefix))
    tag = element.tag if isinstance(element.tag, str) else ""
    currency = (element.get("Ccy") or "").strip() if tag.endswith("Amt") else ""
    return ("" if children else element.text or "", currency, children)


_MIXED = b"""<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02" xmlns:b="urn:bank">
<Amt Ccy=" EUR ">1.00<b:Note>own</b:Note></Amt><B><b:X/></B><C><!-- c --><D>d</D><D/></C>
<TxAmt><Amt Ccy="USD">2</Amt></TxAmt></Document>"""


@pytest.mark.parametrize("path", [*CAMT_FIXTURES, None], ids=lambda p: p.name if p else "mixed")
def test_the_element_tree_holds_what_lxml_holds(path: Path | None) -> None:
    root = etree.fromstring(path.read_bytes() if path else _MIXED)
    namespace = root.tag[1:].partition("}")[0]
    prefix = f"{{{namespace}}}"
    assert _plain_tree(camt._tree(root, camt._LocalNames(namespace))) == _reference_tree(
        root, prefix
    )

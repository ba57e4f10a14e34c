"""Reads ISO 20022 camt.053 statements and camt.054 notifications into normalised bank statements.

Every message version (``camt.05x.001.NN``) is read by the same code: element names are looked
up in whatever version namespace the document declares, and the few places where versions
differ (entry status, party nesting, discount amounts, net totals) accept every known shape.

The XML is streamed entry by entry with a parser that resolves no entities, loads no DTD and
touches no network; a document that declares a DOCTYPE is refused outright. Anything wrong with
the input surfaces as :class:`ParseError` (or its subclass :class:`UnbalancedStatement` when the
entries do not tie to the statement's balances or totals), with the file and line.
"""

from __future__ import annotations

import functools
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from lxml import etree
from stdnum import iso11649

from ingest.native import native_digest
from ingest.statements import (
    BankTransaction,
    ParsedFile,
    ParsedStatement,
    StructuredRemittance,
    is_own_account,
)
from ledger.currencies import is_known
from ledger.errors import MoneyError, ParseError, UnbalancedStatement
from ledger.money import Money, format_amount, parse_amount

# ISO's namespace, or the Austrian banks' (STUZZA) one for the same schema.
_NAMESPACE = re.compile(
    r"(?:urn:iso:std:iso:20022:tech:xsd:|ISO:)camt\.(05[0-9])\.([0-9]{3}\.[0-9]{2})"
    r"(?::APC:STUZZA:payments:[0-9]{3})?"
)
_MESSAGES = {"053": ("camt053", "Stmt"), "054": ("camt054", "Ntfctn")}
# ISO amounts are unsigned decimals of at most 18 digits; the bound also keeps int() cheap.
_AMOUNT = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,18})?")
_COUNT = re.compile(r"[0-9]{1,15}")
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:T[0-9:.]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_DOCTYPE_MARKS = tuple(
    mark.encode(codec)
    for mark in ("<!DOCTYPE", "<!ENTITY")
    for codec in ("utf-8", "utf-16-le", "utf-16-be")
)

USTRD_WIDTH = 140
"""Unstructured remittance is Max140Text per element: a full line was cut from a longer text."""

BOOKED = "BOOK"
OPENING_BALANCES = ("OPBD", "PRCD")  # opening booked, else the previous day's closing booked
CLOSING_BALANCE = "CLBD"
NOT_PROVIDED = "NOTPROVIDED"

DOCUMENT_KINDS = {
    "CINV": "invoice",
    "CREN": "credit_note",
    "DEBN": "debit_note",
    "HIRI": "hire_invoice",
    "SBIN": "self_billed_invoice",
    "MSIN": "metered_service_invoice",
    "CNFA": "credit_note",
    "DNFA": "debit_note",
    "CMCN": "commercial_contract",
    "SOAC": "statement_of_account",
    "DISP": "dispatch_advice",
    "PUOR": "purchase_order",
    "VCHR": "voucher",
    "AROI": "open_item",
}
"""Referred-document type codes (ISO DocumentType) as :attr:`StructuredRemittance.kind`."""


def parse_camt(data: bytes, *, source: str = "", check_balances: bool = True) -> ParsedFile:
    """Every booked entry of a camt.053 or camt.054 file as normalised bank transactions.

    Entries whose status is not booked (PDNG, INFO, ...) are left out and counted in
    ``details['skipped_entries']``. With ``check_balances`` (the default) a camt.053 statement
    must tie out: opening booked balance + booked entries = closing booked balance, and any
    transaction summary (TxsSummry) must match its entries; else :class:`UnbalancedStatement`.
    Turn it off only for data known to be synthetic.
    """
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise ParseError(f"camt input must be bytes, got {type(data).__name__}", source=source)
    if not data.strip():
        raise ParseError("file is empty", source=source)
    _refuse_doctype(data, source)
    reader = _CamtReader(source, check_balances)
    stream = etree.iterparse(
        io.BytesIO(data),
        events=("end",),
        tag=("{*}Ntry", "{*}Stmt", "{*}Ntfctn"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        remove_blank_text=_only_indentation_is_blank(data),
    )
    first = True
    while True:
        try:
            _event, element = next(stream)
        except StopIteration:
            break
        except etree.XMLSyntaxError as exc:
            line = exc.lineno or None
            raise ParseError(f"malformed XML: {exc.msg}", source=source, line=line) from None
        except (etree.LxmlError, ValueError, LookupError) as exc:
            raise ParseError(f"unreadable XML: {exc}", source=source) from None
        if first:
            _refuse_parsed_doctype(element, source)
            first = False
        reader.feed(element)
    return reader.result(stream.root)


def _only_indentation_is_blank(data: bytes) -> bool:
    """Whether libxml2 may drop whitespace-only text nodes without changing any value read.

    Dropping the indentation between elements halves the nodes libxml2 builds. Its rule keeps a
    blank text that directly precedes an end tag, so a leaf's value only changes when blanks
    precede a comment, CDATA section or processing instruction; the drop is allowed only for
    files in an ASCII-compatible encoding without any of those (beyond the XML declaration).
    """
    head = data.removeprefix(b"\xef\xbb\xbf")
    if head[:1] != b"<" or head[1:2] in (b"\x00", b"") or _find_pair(data, b"<!") >= 0:
        return False
    declaration = len(data) - len(head) if head.startswith(b"<?xml") else -2
    return _find_pair(data, b"<?", declaration + 2) < 0  # none but the XML declaration


def _find_pair(data: bytes, pair: bytes, start: int = 0) -> int:
    """``data.find(pair, start)`` for a pair whose second byte is rare in camt ('!', '?').

    Looking for the rare byte and checking the one before is several times faster than a search
    for the pair, whose first byte, '<', comes every few bytes; these scans run over every byte
    of files of hundreds of megabytes."""
    lead, rare = pair[0], pair[1:]
    at = data.find(rare, start + 1)
    while at >= 0:
        if data[at - 1] == lead:
            return at - 1
        at = data.find(rare, at + 1)
    return -1


def _find_mark(data: bytes, mark: bytes) -> int:
    """``data.find(mark)``, for the marks of :data:`_DOCTYPE_MARKS`."""
    if mark.startswith(b"<!"):  # UTF-8: at one of the file's '<!', if any
        at = _find_pair(data, b"<!")
        while at >= 0 and not data.startswith(mark, at):
            at = _find_pair(data, b"<!", at + 1)
        return at
    # UTF-16: every such mark holds a NUL byte, which an ASCII-compatible file has none of
    return data.find(mark) if b"\x00" in data else -1


def _refuse_doctype(data: bytes, source: str) -> None:
    """DTDs and entities have no place in camt and are how XXE and entity bombs get in."""
    for mark in _DOCTYPE_MARKS:
        at = _find_mark(data, mark)
        if at >= 0:
            raise ParseError(
                "the document declares a DOCTYPE or entity, which camt files never need; "
                "refused for safety (remove the DOCTYPE or ask the bank for a plain file)",
                source=source,
                line=data[:at].count(b"\n") + 1,
            )


def _refuse_parsed_doctype(element: Any, source: str) -> None:
    """The same refusal once parsed, for encodings the byte scan cannot read."""
    if element is not None and element.getroottree().docinfo.doctype:
        raise ParseError("the document declares a DOCTYPE; refused for safety", source=source)


class _Node(NamedTuple):
    """An element of this document's namespace as plain Python: lxml path look-ups cost
    microseconds each, and an entry needs dozens of them. ``line`` is None for a leaf that is
    not an amount: nothing reports its line, and reading it for every element costs."""

    text: str
    ccy: str
    line: int | None
    children: dict[str, list[_Node]]


class _LocalNames(dict[Any, tuple[str, bool]]):
    """lxml tags ('{urn:...}Amt') to local names ('Amt') and whether the element is an amount
    (Amt, RmtdAmt, ...); '' for a tag in another namespace (a bank's own) or a comment. A
    document repeats a few dozen tags, so each is cut once."""

    def __init__(self, namespace: str) -> None:
        super().__init__()
        self.prefix = f"{{{namespace}}}"

    def __missing__(self, tag: Any) -> tuple[str, bool]:
        prefix = self.prefix
        name = tag[len(prefix) :] if isinstance(tag, str) and tag.startswith(prefix) else ""
        self[tag] = known = (name, name.endswith("Amt"))
        return known


_NO_CHILDREN: dict[str, list[_Node]] = {}  # shared by every leaf, never added to


def _load_native() -> Any:
    """The C tree builder (``_camt_tree.c``) when it is built from this very source, else None.

    ``ARPILOT_NATIVE=0`` turns it off (the benchmark measures both ways)."""
    if os.environ.get("ARPILOT_NATIVE", "1") == "0":
        return None
    try:
        from ingest.bank import _camt_tree  # type: ignore[attr-defined]
    except ImportError:
        return None
    if native_digest(Path(__file__).with_name("_camt_tree.c")) != _camt_tree.SOURCE_DIGEST:
        return None  # built from another version of the source: rebuilt by `make`
    return _camt_tree


_native = _load_native()


def tree_builder(namespace: str) -> Callable[[Any], _Node]:
    """What turns an lxml element into nodes of ``namespace`` (others, e.g. a bank's own, are
    left out): the C builder when it is built, else :func:`_subtree`; both build the same."""
    if _native is not None:
        builder: Callable[[Any], _Node] = _native.TreeBuilder(_Node, namespace, _NO_CHILDREN)
        return builder
    return _python_tree_builder(namespace)


def _python_tree_builder(namespace: str) -> Callable[[Any], _Node]:
    return functools.partial(_subtree, names=_LocalNames(namespace), is_amount=False)


def _subtree(element: Any, names: _LocalNames, is_amount: bool) -> _Node:
    children = _NO_CHILDREN
    for child in element:
        name, amount = names[child.tag]
        if name:
            if len(child):
                node = _subtree(child, names, amount)
            else:  # a leaf, most elements: built here rather than by a call per element
                currency = (child.get("Ccy") or "").strip() if amount else ""
                # Of the leaves only amounts are ever asked for their line (in errors).
                line = child.sourceline if amount else None
                leaf = (child.text or "", currency, line, _NO_CHILDREN)
                node = _new_node(_Node, leaf)
            if children is _NO_CHILDREN:
                children = {name: [node]}
            else:
                siblings = children.get(name)
                if siblings is None:
                    children[name] = [node]
                else:
                    siblings.append(node)
    # Only leaves carry text, and only amounts (Amt, RmtdAmt, TxAmt/Amt, ...) a currency.
    text = "" if children else element.text or ""
    currency = (element.get("Ccy") or "").strip() if is_amount else ""
    # tuple.__new__ directly: an entry has some forty elements, and the named tuple's own
    # constructor is a Python call per element.
    return _new_node(_Node, (text, currency, element.sourceline, children))


_new_node = tuple.__new__


_STEPS: dict[str, tuple[str, ...]] = {}


def _steps(path: str) -> tuple[str, ...]:
    steps = _STEPS.get(path)
    if steps is None:
        steps = _STEPS[path] = tuple(path.split("/"))
    return steps


def _py_find(node: _Node, path: str) -> _Node | None:
    """The first element at ``path`` ('Refs/EndToEndId') under ``node``, or None."""
    for step in _STEPS.get(path) or _steps(path):
        found = node.children.get(step)
        if not found:
            return None
        node = found[0]
    return node


def _py_findall(node: _Node, path: str) -> list[_Node]:
    """Every element at ``path`` under ``node``, in document order."""
    nodes = [node]
    for step in _steps(path):
        nodes = [child for node in nodes for child in node.children.get(step, ())]
    return nodes


def _py_text(node: _Node | None, path: str) -> str:
    """The stripped text at ``path`` under ``node`` ('' when absent)."""
    # The walk of _py_find, inlined: an entry asks for some forty texts.
    if node is None:
        return ""
    for step in _STEPS.get(path) or _steps(path):
        found = node.children.get(step)
        if not found:
            return ""
        node = found[0]
    return node.text.strip()


# The same three look-ups in C when the tree builder is built (a test checks them against these).
_find: Callable[[_Node, str], _Node | None] = _native.find if _native else _py_find
_findall: Callable[[_Node, str], list[_Node]] = _native.findall if _native else _py_findall
_text: Callable[[_Node | None, str], str] = _native.text if _native else _py_text


@dataclass(slots=True)
class _EntryTotal:
    """What the statement totals need of one entry, booked or not."""

    credit: bool
    minor: int
    currency: str
    booked: bool

    @property
    def signed(self) -> int:
        return self.minor if self.credit else -self.minor


@dataclass(slots=True)
class _Report:
    """A statement or notification being read: its entries arrive before its end tag."""

    element: Any
    account: str
    transactions: list[BankTransaction] = field(default_factory=list)
    entries: list[_EntryTotal] = field(default_factory=list)


@dataclass(slots=True)
class _Details:
    """One TxDtls block: its own amount if any, references, counterparty and remittance."""

    amount: Money | None
    credit: bool
    bank_reference: str
    customer_reference: str
    end_to_end_id: str
    parties: tuple[_Node | None, ...]  # RltdPties of each TxDtls (several once merged)
    remittance_text: str
    structured: list[StructuredRemittance]
    creditor_reference: str
    type_code: str


class _CamtReader:
    """Turns the stream of Ntry and Stmt/Ntfctn elements into statements, one at a time."""

    def __init__(self, source: str, check_balances: bool) -> None:
        self.source = source
        self.check_balances = check_balances
        self.namespace = ""
        self.tree = tree_builder("")
        self.message = ""
        self.version = ""
        self.report_tag = ""
        self.report_qtag = ""
        self.entry_tag = ""  # set with the namespace: nothing is an entry before it is known
        self._report: _Report | None = None
        self.statements: list[ParsedStatement] = []
        self.counts: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.unchecked: list[dict[str, str]] = []

    # -- element access ------------------------------------------------------------------------

    def q(self, tag: str) -> str:
        """``tag`` in this document's version namespace, as lxml names it."""
        return f"{{{self.namespace}}}{tag}"

    def fail(self, reason: str, line: int | None) -> ParseError:
        return ParseError(reason, source=self.source, line=line)

    # -- the stream ------------------------------------------------------------------------------

    def feed(self, element: Any) -> None:
        tag = element.tag
        if tag == self.entry_tag:  # nearly every element the stream gives
            self._entry(element)
            return
        if not isinstance(tag, str) or not tag.startswith("{"):
            return
        namespace, _, local = tag[1:].partition("}")
        if not self.namespace:
            root = element.getroottree().getroot()
            is_document = _local(root) == "Document"
            self._identify(_namespace_of(root) if is_document else namespace, root.sourceline)
        if namespace != self.namespace:
            return  # e.g. supplementary data in a bank's own namespace
        if local == "Ntry":
            self._entry(element)
        elif local == self.report_tag:
            self._finish_report(element)

    def _identify(self, namespace: str, line: int | None) -> None:
        match = _NAMESPACE.fullmatch(namespace)
        if match is None or match.group(1) not in _MESSAGES:
            raise self.fail(
                f"not a camt.053 or camt.054 message (namespace {namespace!r}); "
                "camt.052 reports and other messages are not read here",
                line,
            )
        self.namespace = namespace
        self.tree = tree_builder(namespace)  # one per document: a bank may add any tags
        self.message = match.group(1)
        self.version = match.group(2)
        self.report_tag = _MESSAGES[self.message][1]
        self.report_qtag = self.q(self.report_tag)
        self.entry_tag = self.q("Ntry")

    def result(self, root: Any) -> ParsedFile:
        _refuse_parsed_doctype(root, self.source)
        if not self.namespace:
            self._identify(_namespace_of(root), getattr(root, "sourceline", None))
        if not self.statements:
            raise self.fail(
                f"no {self.report_tag} element: the file holds no statement to read",
                getattr(root, "sourceline", None),
            )
        file_format = _MESSAGES[self.message][0]
        details: dict[str, Any] = {
            "version": self.version,
            "message_id": _text(self.tree(root), f"{_body_tag(self.message)}/GrpHdr/MsgId")
            if _local(root) == "Document"
            else "",
            "statements": len(self.statements),
            "entries": self.counts["entries"],
            "booked_entries": self.counts["booked"],
            "skipped_entries": dict(self.skipped),
            "reversals": self.counts["reversals"],
            "split_entries": self.counts["split"],
            "merged_entries": self.counts["merged"],
            "unassigned_document_amounts": self.counts["unassigned_amounts"],
            "balance_checks_skipped": self.unchecked,
        }
        return ParsedFile(file_format, tuple(self.statements), details)

    # -- statements ------------------------------------------------------------------------------

    def _report_for(self, element: Any) -> _Report:
        if self._report is None or self._report.element is not element:
            self._report = _Report(element, self._account(self.tree(element)))
        return self._report

    def _account(self, report: _Node) -> str:
        account = _text(report, "Acct/Id/IBAN") or _text(report, "Acct/Id/Othr/Id")
        if not account:
            statement_id = _text(report, "Id") or "?"
            raise self.fail(
                f"{self.report_tag} {statement_id!r} names no account (Acct/Id/IBAN or "
                "Acct/Id/Othr/Id) before its entries",
                report.line,
            )
        return account

    def _finish_report(self, finished: Any) -> None:
        report = self._report_for(finished)
        self._report = None
        element = self.tree(finished)  # its entries are already read and dropped
        line = element.line
        statement_id = _text(element, "Id")
        if not statement_id:
            raise self.fail(f"{self.report_tag} has no Id", line)
        currency = self._currency(element, report, statement_id)
        try:
            opening, closing = self._balances(element, statement_id)
            if self.check_balances:
                self._tie_out(element, statement_id, currency, report, opening, closing)
        except MoneyError as exc:
            raise self.fail(f"statement {statement_id}: {exc}", line) from None
        self.statements.append(
            ParsedStatement(
                account=report.account,
                currency=currency,
                statement_id=statement_id,
                transactions=tuple(report.transactions),
                opening_balance=opening,
                closing_balance=closing,
                from_date=self._date(_text(element, "FrToDt/FrDtTm"), "FrDtTm", line),
                to_date=self._date(_text(element, "FrToDt/ToDtTm"), "ToDtTm", line),
            )
        )
        _release(finished)

    def _currency(self, element: _Node, report: _Report, statement_id: str) -> str:
        currency = _text(element, "Acct/Ccy")
        if not currency and report.entries:
            currency = report.entries[0].currency
        if not currency:
            balance = _find(element, "Bal/Amt")
            currency = balance.ccy if balance is not None else ""
        if not is_known(currency):
            what = f"unknown currency {currency!r}" if currency else "no currency"
            raise self.fail(
                f"statement {statement_id}: {what} (Acct/Ccy or the amounts' Ccy must be an "
                "ISO 4217 code)",
                element.line,
            )
        return currency

    def _balances(self, element: _Node, statement_id: str) -> tuple[Money | None, Money | None]:
        found: dict[str, Money] = {}
        for balance in _findall(element, "Bal"):
            code = _text(balance, "Tp/CdOrPrtry/Cd").upper()
            if code in (*OPENING_BALANCES, CLOSING_BALANCE) and code not in found:
                what = f"{code} balance of statement {statement_id}"
                amount = self._amount(_find(balance, "Amt"), what, balance.line)
                credit = self._indicator(balance, what, balance.line)
                found[code] = amount if credit else -amount
        opening = next((found[code] for code in OPENING_BALANCES if code in found), None)
        return opening, found.get(CLOSING_BALANCE)

    def _tie_out(
        self,
        element: _Node,
        statement_id: str,
        currency: str,
        report: _Report,
        opening: Money | None,
        closing: Money | None,
    ) -> None:
        line = element.line
        if opening is not None and closing is not None and self.message == "053":
            booked = [e for e in report.entries if e.booked]
            currencies = {opening.currency, closing.currency, *(e.currency for e in booked)}
            if currencies != {currency}:
                self._skip_check(statement_id, f"balances or entries in {sorted(currencies)}")
            else:
                expected = opening.minor + sum(e.signed for e in booked)
                if expected != closing.minor:
                    difference = Money(closing.minor - expected, currency)
                    raise UnbalancedStatement(
                        f"statement {statement_id} does not tie out: opening {opening} + booked "
                        f"entries {Money(expected - opening.minor, currency)} = "
                        f"{Money(expected, currency)}, but the closing balance is {closing} "
                        f"(difference {difference}); the file is incomplete or altered, ask the "
                        "bank to send it again",
                        source=self.source,
                        line=line,
                    )
        summary = _find(element, "TxsSummry")
        if summary is not None:
            self._check_summary(summary, statement_id, currency, report.entries)

    def _skip_check(self, statement_id: str, reason: str) -> None:
        self.unchecked.append({"statement_id": statement_id, "reason": reason})

    def _check_summary(
        self, summary: _Node, statement_id: str, currency: str, entries: list[_EntryTotal]
    ) -> None:
        """TxsSummry totals against the entries; banks differ on whether pending ones count."""
        for tag, wanted in (("TtlNtries", None), ("TtlCdtNtries", True), ("TtlDbtNtries", False)):
            block = _find(summary, tag)
            if block is None:
                continue
            chosen = [e for e in entries if wanted is None or e.credit is wanted]
            candidates = (chosen, [e for e in chosen if e.booked])
            problems = [self._summary_problem(block, tag, currency, c) for c in candidates]
            if all(problems):
                raise UnbalancedStatement(
                    f"statement {statement_id}: TxsSummry/{tag} {problems[0]}",
                    source=self.source,
                    line=block.line,
                )
            if any(e.currency != currency for e in chosen):
                self._skip_check(statement_id, f"TxsSummry/{tag} sums: entries not in {currency}")

    def _summary_problem(
        self, block: _Node, tag: str, currency: str, entries: list[_EntryTotal]
    ) -> str:
        """What in ``block`` disagrees with ``entries`` ('' when everything agrees)."""
        count = _text(block, "NbOfNtries")
        if count:
            if not _COUNT.fullmatch(count):
                raise self.fail(f"TxsSummry/{tag}/NbOfNtries {count!r} is not a count", block.line)
            if int(count) != len(entries):
                return f"counts {count} entries, the statement has {len(entries)}"
        if any(e.currency != currency for e in entries):
            return ""
        total = _text(block, "Sum")
        gross = sum(e.minor for e in entries)
        # The standard's Sum is every amount added up; some banks (Wise) write the net there.
        net_sum = abs(sum(e.signed for e in entries)) if tag == "TtlNtries" else gross
        if total and self._plain_amount(total, currency, block) not in (gross, net_sum):
            return f"sums to {total}, the entries to {format_amount(gross, currency)} {currency}"
        net = _find(block, "TtlNetNtry")
        net_text, net_holder = (
            (_text(net, "Amt"), net) if net is not None else (_text(block, "TtlNetNtryAmt"), block)
        )
        if net_text:
            stated = self._plain_amount(net_text, currency, block)
            if _text(net_holder, "CdtDbtInd") == "DBIT":
                stated = -stated
            actual_net = sum(e.signed for e in entries)
            if stated != actual_net:
                return (
                    f"states a net of {format_amount(stated, currency)}, the entries net "
                    f"{format_amount(actual_net, currency)} {currency}"
                )
        return ""

    # -- entries ---------------------------------------------------------------------------------

    def _entry(self, entry: Any) -> None:
        parent = entry.getparent()
        if parent is None or parent.tag != self.report_qtag:
            raise self.fail(f"entry (Ntry) outside a {self.report_tag}", entry.sourceline)
        report = self._report_for(parent)
        node = self.tree(entry)
        line = node.line
        try:
            total, transactions = self._read_entry(node, report.account, line)
        except MoneyError as exc:
            raise self.fail(f"entry: {exc}", line) from None
        report.entries.append(total)
        report.transactions.extend(transactions)
        _release(entry)

    def _read_entry(
        self, entry: _Node, account: str, line: int | None
    ) -> tuple[_EntryTotal, list[BankTransaction]]:
        amount = self._amount(_find(entry, "Amt"), "entry amount", line)
        credit = self._indicator(entry, "entry", line)
        status = self._status(entry)
        total = _EntryTotal(credit, amount.minor, amount.currency, status in ("", BOOKED))
        self.counts["entries"] += 1
        # ISO usage rule: CdtDbtInd is the direction of this booking, also for a reversal (a
        # reversed credit is reported as DBIT), so RvslInd marks the entry but never flips it.
        reversal = _text(entry, "RvslInd").lower() in ("true", "1")
        if reversal:
            self.counts["reversals"] += 1
        if not total.booked:
            self.skipped[status] += 1
            return total, []
        self.counts["booked"] += 1
        signed = Money(total.signed, amount.currency)
        booking_date = self._date(
            _text(entry, "BookgDt/Dt") or _text(entry, "BookgDt/DtTm"), "BookgDt", line
        )
        value_date = self._date(
            _text(entry, "ValDt/Dt") or _text(entry, "ValDt/DtTm"), "ValDt", line
        )
        entry_reference = _reference(_text(entry, "AcctSvcrRef"))
        entry_code = self._type_code(_find(entry, "BkTxCd"))
        parts = [self._details(tx, credit, line) for tx in _findall(entry, "NtryDtls/TxDtls")]

        def transaction(
            amount: Money, credit: bool, part: _Details, bank_reference: str, code: str
        ) -> BankTransaction:
            # A reversal or return keeps the original parties: a returned credit (booked DBIT)
            # was the debtor's, a returned payment of ours (booked CRDT) the creditor's.
            payer_name, payer_account = _counterparty(part.parties, credit != reversal)
            if is_own_account(payer_account, account):
                payer_account = ""
            return BankTransaction(
                account=account,
                amount=amount,
                booking_date=booking_date,
                value_date=value_date,
                payer_name=payer_name,
                payer_account=payer_account,
                bank_reference=bank_reference,
                customer_reference=part.customer_reference,
                end_to_end_id=part.end_to_end_id,
                remittance_text=part.remittance_text,
                structured=tuple(part.structured),
                creditor_reference=part.creditor_reference,
                type_code=code,
                line=line,
                reversal=reversal,
            )

        if len(parts) > 1 and _splits(parts, signed):
            self.counts["split"] += 1
            return total, [
                transaction(
                    Money(p.amount.minor if p.credit else -p.amount.minor, signed.currency),
                    p.credit,
                    p,
                    p.bank_reference or entry_reference,
                    p.type_code or entry_code,
                )
                for p in parts
                if p.amount is not None
            ]
        if len(parts) > 1:
            self.counts["merged"] += 1
        merged = _merge(parts)
        if not merged.remittance_text:
            # ... and failing that, the bank's words on the whole entry.
            merged = replace(
                merged, remittance_text=join_unstructured([_text(entry, "AddtlNtryInf")])
            )
        bank_reference = entry_reference or merged.bank_reference
        return total, [
            transaction(signed, credit, merged, bank_reference, entry_code or merged.type_code)
        ]

    def _status(self, entry: _Node) -> str:
        status = _find(entry, "Sts")
        if status is None:
            return ""
        code = _text(status, "Cd") or _text(status, "Prtry") or status.text
        return code.strip().upper()

    def _details(self, tx: _Node, entry_credit: bool, line: int | None) -> _Details:
        own = _find(tx, "Amt")
        if own is None:
            own = _find(tx, "AmtDtls/TxAmt/Amt")
        amount = self._amount(own, "transaction amount", own.line) if own is not None else None
        indicator = _text(tx, "CdtDbtInd")
        credit = entry_credit if indicator not in ("CRDT", "DBIT") else indicator == "CRDT"
        parties = _find(tx, "RltdPties")
        remittance = _find(tx, "RmtInf")
        pieces: list[str] = []
        structured: list[StructuredRemittance] = []
        if remittance is not None:
            pieces = [element.text for element in _findall(remittance, "Ustrd")]
            for block in _findall(remittance, "Strd"):
                structured.extend(self._structured(block, line))
                pieces.extend(
                    _without_flags(element.text) for element in _findall(block, "AddtlRmtInf")
                )
        creditor_reference = next(
            (
                iso11649.compact(item.reference)
                for item in structured
                if item.kind == "creditor_reference" and iso11649.is_valid(item.reference)
            ),
            "",
        )
        if not any(pieces):
            # No remittance information: the bank's own words on the transaction (Swiss and
            # German banks write the payer and purpose there) are its only text.
            pieces = [_text(tx, "AddtlTxInf")]
        return _Details(
            amount=amount,
            credit=credit,
            bank_reference=_reference(_text(tx, "Refs/AcctSvcrRef")),
            customer_reference=_reference(
                _text(tx, "Refs/InstrId") or _text(tx, "Refs/ChqNb") or _text(tx, "Refs/MsgId")
            ),
            end_to_end_id=_reference(_text(tx, "Refs/EndToEndId")),
            parties=(parties,),
            remittance_text=join_unstructured(pieces),
            structured=structured,
            creditor_reference=creditor_reference,
            type_code=self._type_code(_find(tx, "BkTxCd")),
        )

    def _structured(self, block: _Node, line: int | None) -> list[StructuredRemittance]:
        """One Strd block: its referred documents and creditor reference, with its amounts."""
        amounts_element = _find(block, "RfrdDocAmt")
        amounts = self._document_amounts(amounts_element) if amounts_element is not None else {}
        documents = [
            (number, self._document_kind(document))
            for document in _findall(block, "RfrdDocInf")
            if (number := _text(document, "Nb"))
        ]
        creditor = _text(block, "CdtrRefInf/Ref")
        # One set of amounts per block: it belongs to the block's only document, or to its
        # creditor reference when there is no document; with several documents it is ambiguous.
        if len(documents) > 1 and amounts:
            self.counts["unassigned_amounts"] += 1
        if not documents and not creditor and amounts:
            self.counts["unassigned_amounts"] += 1
        items = [
            StructuredRemittance(number, kind, **(amounts if len(documents) == 1 else {}))
            for number, kind in documents
        ]
        if creditor:
            items.append(
                StructuredRemittance(
                    creditor, "creditor_reference", **(amounts if not documents else {})
                )
            )
        return items

    def _document_kind(self, document: _Node) -> str:
        code = _text(document, "Tp/CdOrPrtry/Cd").upper()
        if code:
            return DOCUMENT_KINDS.get(code, code.lower())
        return _text(document, "Tp/CdOrPrtry/Prtry") or "invoice"

    def _document_amounts(self, element: _Node) -> dict[str, Any]:
        """RfrdDocAmt as StructuredRemittance fields: paid, discount and adjustment taken off."""
        line = element.line
        fields: dict[str, Any] = {}
        remitted = _find(element, "RmtdAmt")
        credit_note = _find(element, "CdtNoteAmt")
        if remitted is not None:
            fields["amount"] = self._amount(remitted, "RmtdAmt", line)
        elif credit_note is not None:
            fields["amount"] = -self._amount(credit_note, "CdtNoteAmt", line)
        discounts = []
        for discount in _findall(element, "DscntApldAmt"):
            inner = _find(discount, "Amt")  # from v03 the amount sits in Amt, with a Tp
            discounts.append(
                self._amount(inner if inner is not None else discount, "DscntApldAmt", line)
            )
        if discounts:
            fields["discount"] = _sum(discounts)
        adjustments, reasons = [], []
        for adjustment in _findall(element, "AdjstmntAmtAndRsn"):
            amount = self._amount(_find(adjustment, "Amt"), "AdjstmntAmtAndRsn", line)
            # DBIT: taken off the amount due (a deduction, positive here); CRDT: added to it.
            adjustments.append(-amount if _text(adjustment, "CdtDbtInd") == "CRDT" else amount)
            reason = _text(adjustment, "Rsn") or _text(adjustment, "AddtlInf")
            if reason:
                reasons.append(reason)
        if adjustments:
            fields["adjustment"] = _sum(adjustments)
            fields["adjustment_reason"] = "; ".join(reasons)
        return fields

    def _type_code(self, code: _Node | None) -> str:
        """Domain/family/sub-family as 'PMNT/RCDT/ESCT', else the proprietary code."""
        if code is None:
            return ""
        domain = _find(code, "Domn")
        if domain is not None:
            parts = (
                _text(domain, "Cd"),
                _text(domain, "Fmly/Cd"),
                _text(domain, "Fmly/SubFmlyCd"),
            )
            return "/".join(part for part in parts if part)
        return _text(code, "Prtry/Cd")

    # -- values ----------------------------------------------------------------------------------

    def _amount(self, element: _Node | None, what: str, line: int | None) -> Money:
        """An unsigned ``<... Ccy="EUR">12.50</...>`` in exact minor units; never rounded."""
        if element is None:
            raise self.fail(f"{what}: the amount (Amt) is missing", line)
        line = element.line or line
        currency = element.ccy
        raw = element.text.strip()
        if not _AMOUNT.fullmatch(raw):
            raise self.fail(
                f"{what}: {raw!r} is not an ISO 20022 amount (unsigned, at most 18 digits, optional "
                "'.' and fraction)",
                line,
            )
        if not is_known(currency):
            raise self.fail(f"{what}: unknown currency {currency!r} (Ccy must be ISO 4217)", line)
        try:
            return Money(parse_amount(raw, currency), currency)
        except MoneyError as exc:
            raise self.fail(f"{what}: {exc}; refused rather than rounded", line) from None

    def _plain_amount(self, raw: str, currency: str, element: _Node) -> int:
        """A summary total (no Ccy of its own) in the statement's currency."""
        if not _AMOUNT.fullmatch(raw):
            raise self.fail(f"TxsSummry amount {raw!r} is not a decimal amount", element.line)
        try:
            return parse_amount(raw, currency)
        except MoneyError as exc:
            raise self.fail(f"TxsSummry: {exc}", element.line) from None

    def _indicator(self, element: _Node, what: str, line: int | None) -> bool:
        """True for CRDT, False for DBIT; anything else is an error."""
        indicator = _text(element, "CdtDbtInd")
        if indicator not in ("CRDT", "DBIT"):
            raise self.fail(f"{what}: CdtDbtInd is {indicator!r}, expected CRDT or DBIT", line)
        return indicator == "CRDT"

    def _date(self, raw: str, what: str, line: int | None) -> date | None:
        """The calendar date of an ISODate or ISODateTime, as the bank wrote it (no time zone shift)."""
        if not raw:
            return None
        on = _iso_date(raw)
        if on is None:
            raise self.fail(f"{what}: {raw!r} is not an ISO date", line)
        return on


@functools.lru_cache(maxsize=4096)
def _iso_date(raw: str) -> date | None:
    """The date of an ISODate or ISODateTime, None when it is not one; a file repeats a few
    dates in every entry, so each is read once."""
    match = _DATE.fullmatch(raw)
    try:
        return date.fromisoformat(match.group(1)) if match else None
    except ValueError:
        return None


_LINE_BREAKS = re.compile(r"[ ]*[\r\n\t\f\v]+[ ]*")


def _one_line(text: str) -> str:
    """``text`` with its line breaks and tabs (a bank's text wrapped inside one element) each
    a single space: the payer's words on one line, as every format gives them."""
    return _LINE_BREAKS.sub(" ", text) if "\n" in text or "\r" in text or "\t" in text else text


def join_unstructured(pieces: Iterable[str]) -> str:
    """Unstructured remittance lines joined with single spaces.

    A line that fills the whole Max140Text width was cut from a longer text, so the next line
    continues it directly: adding a space there would change the payer's words.
    """
    if isinstance(pieces, list) and len(pieces) <= 1:  # most entries: what follows gives this
        return _one_line(pieces[0].strip()) if pieces else ""
    parts: list[str] = []
    continues = False
    for original in pieces:
        full = len(original) >= USTRD_WIDTH  # measured as the bank wrote it
        raw = _one_line(original)
        if continues and parts:
            parts[-1] += raw
        else:
            piece = raw.lstrip() if full else raw.strip()
            if piece:
                parts.append(piece)
        continues = full
    return " ".join(part.strip() for part in parts if part.strip())


def _splits(parts: list[_Details], entry: Money) -> bool:
    """A batch entry splits when every TxDtls has its own amount and they add up to the entry."""
    total = 0
    for part in parts:
        if part.amount is None or part.amount.currency != entry.currency:
            return False
        total += part.amount.minor if part.credit else -part.amount.minor
    return total == entry.minor


def _merge(parts: list[_Details]) -> _Details:
    """The TxDtls of an entry that does not split, as one: first references, all remittance."""

    if len(parts) == 1:
        # The usual entry of one TxDtls: every "first non-empty" below is simply its own field
        # (its amount is not read from the merged details).
        return parts[0]

    def first(values: Iterable[str]) -> str:
        return next((value for value in values if value), "")

    return _Details(
        amount=None,
        credit=parts[0].credit if parts else True,
        bank_reference=first(p.bank_reference for p in parts),
        customer_reference=first(p.customer_reference for p in parts),
        end_to_end_id=first(p.end_to_end_id for p in parts),
        parties=tuple(node for p in parts for node in p.parties),
        remittance_text=" ".join(p.remittance_text for p in parts if p.remittance_text),
        structured=[item for p in parts for item in p.structured],
        creditor_reference=first(p.creditor_reference for p in parts),
        type_code=first(p.type_code for p in parts),
    )


def _counterparty(parties: tuple[_Node | None, ...], credit: bool) -> tuple[str, str]:
    """Who paid us on a credit, whom we paid on a debit: name and account from the first
    TxDtls that names one (read only for the side a transaction needs)."""
    role = "Dbtr" if credit else "Cdtr"
    for node in parties:
        party = _party(node, role)
        if party[0] or party[1]:
            return party
    return ("", "")


def _party(parties: _Node | None, role: str) -> tuple[str, str]:
    """Name and account of the debtor or creditor; the ultimate party names an absent one."""
    if parties is None:
        return ("", "")
    name = _party_name(parties, role) or _party_name(parties, "Ultmt" + role)
    account = _text(parties, f"{role}Acct/Id/IBAN") or _text(parties, f"{role}Acct/Id/Othr/Id")
    return name, account


def _party_name(parties: _Node, role: str) -> str:
    party = _find(parties, role)
    if party is None:
        return ""
    # Nm up to v07, Pty/Nm from v08, Agt/FinInstnId/Nm when the party is a bank.
    return _text(party, "Nm") or _text(party, "Pty/Nm") or _text(party, "Agt/FinInstnId/Nm")


def _sum(amounts: list[Money]) -> Money:
    result = amounts[0]
    for amount in amounts[1:]:
        result = result + amount  # CurrencyMismatch (a MoneyError) for mixed currencies
    return result


_PROCESSING_FLAG = re.compile(r"\?[A-Z]+\?[0-9]+")
"""A bank's processing flag in the additional remittance text (PostFinance writes '?REJECT?0'
and '?ERROR?000' there): not the payer's words."""


def _without_flags(text: str | None) -> str:
    return " ".join(_PROCESSING_FLAG.sub(" ", text or "").split())


def _reference(value: str) -> str:
    """ISO 20022 writes NOTPROVIDED where a reference is mandatory but unknown."""
    return "" if value.upper() == NOT_PROVIDED else value


def _release(element: Any) -> None:
    """Drop a finished element so a large file streams in constant memory."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        parent.remove(element)


def _local(element: Any) -> str:
    tag = getattr(element, "tag", "")
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _namespace_of(element: Any) -> str:
    tag = getattr(element, "tag", "")
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].partition("}")[0]
    return ""


def _body_tag(message: str) -> str:
    return "BkToCstmrStmt" if message == "053" else "BkToCstmrDbtCdtNtfctn"

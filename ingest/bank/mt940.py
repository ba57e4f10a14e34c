"""SWIFT MT940 customer statements, with German (?20) or SWIFT-slash (/EREF/) :86:, into records.

Every statement of a file becomes a :class:`ParsedStatement` whose opening balance plus its lines
must equal its closing balance (an intermediate page ``:60M:``/``:62M:`` ties out on its own).
Amounts are read as written, with the decimal comma SWIFT requires; a '.' is refused rather than
truncated. Text fields are joined with single spaces; supplementary details of a ``:61:`` line
(its second line, often the counterparty) are appended to the remittance text so nothing the bank
sent is lost.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import mt940

from ingest.statements import (
    BankTransaction,
    ParsedFile,
    ParsedStatement,
    is_own_account,
    untied,
)
from ingest.statements import difference as difference  # re-exported: callers read gaps here
from ledger.currencies import is_known
from ledger.errors import MoneyError, ParseError, UnbalancedStatement
from ledger.money import Money, parse_amount

# mt-940's tag grammar reads each field well (the :61: layout, dates, the New-Year roll-over of
# the entry date), but its file-level assembly loses line numbers, merges statements, truncates
# '1000.57' to 1000, takes a second :25: silently and hangs a statement-level :86: on the last
# transaction; so the file is split into fields here and each field goes through its tag parser.
_TAGS = mt940.tags.TAG_BY_ID
# A line that starts a field (':61:') or ends a message ('-'), found by its line break (a
# literal the regex engine searches for quickly, unlike '^').
_MARK = re.compile(r"\n(?::(?P<tag>[0-9]{2}[A-Z]?|NS[A-Z]?):|-)")
_BARE_END = re.compile(r"-\}?[ \t]*(?:\n|$)")  # '-' alone on its line ends a message
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_WIDTH = 65
"""SWIFT's width of one line of a field; a full line was cut mid-text, not at its end."""

_GERMAN_SUBFIELD_WIDTH = 27
_GERMAN_START = re.compile(r"(?P<code>[0-9]{3})(?P<mark>[?>+])[0-9]{2}")
_UNSTRUCTURED = re.compile(r"999(?=[A-Za-z])")

_GERMAN_SUBFIELD = {mark: re.compile(rf"{re.escape(mark)}([0-9]{{2}})") for mark in "?>+"}
# SEPA keywords that open an item of the purpose text ('EREF+', 'SVWZ+'; 'BIC+' has three letters).
_SEPA_KEYWORD_NAMES = (
    "EREF|KREF|MREF|CRED|SVWZ|ABWA|ABWE|IBAN|BIC|DEBT|COAM|OAMT|PURP|MDAT|SQTP|ORCR|ORMR|DDAT"
)
_SEPA_KEYWORDS = frozenset(_SEPA_KEYWORD_NAMES.split("|"))
_PURPOSE_SUBFIELDS = frozenset(f"{n:02d}" for n in (*range(20, 30), *range(60, 64)))
_SLASH_KEYWORDS = (
    "EREF|KREF|MARF|CSID|ORDP|BENM|ULTC|ULTD|ULTB|NAME|ADDR|IBAN|BIC|CNTP|REMI|TRTP|ISDT|RTRN"
    "|PREF|PURP|CDTRREF|CDTRREFTP|SVCL|OCMT|CHGS|EXCH|IREF|TRCD"
)
_SLASH_MARKER = re.compile(rf"/(?P<key>{_SLASH_KEYWORDS})/")
_SLASH_START = re.compile(rf"\s*/(?:{_SLASH_KEYWORDS})/")
_NO_REFERENCE = {"NONREF", "NOTPROVIDED"}

_OPENING = {"60F", "60M", "60"}
_CLOSING = {"62F", "62M", "62"}
# Read past: date-time, related reference, floor limit, forward available, MT942 sums, non-SWIFT.
_INFORMATIONAL = {"13", "13D", "21", "34F", "65", "90C", "90D", "NS"}

# The shortcut for the lines nearly every statement is made of: a :61: whose first line has the
# plain layout (value date, entry date, C/D/RC/RD, a comma amount, a type code, references), an
# optional second line and an optional :86:. Where this pattern matches, mt-940's :61: pattern
# reads the same groups (its first choice at every step is this one; the tests check it on
# random lines); anything it does not match (lower case, funds codes, blank or ':' lines, a
# third line, a second :86:) goes through the field-by-field reader.
_PLAIN_PAIR = re.compile(
    r"\n:61:(?P<year>[0-9]{2})(?P<month>[0-9]{2})(?P<day>[0-9]{2})"
    r"(?:(?P<entry_month>[0-9]{2})(?P<entry_day>[0-9]{2}))?"
    r"(?P<status>R?[DC])(?P<amount>[0-9]{1,12},[0-9]{0,2})(?P<id>[A-Z][A-Z0-9]{3})"
    r"(?P<customer_reference>(?:(?!//)[^\n]){0,16})(?://(?P<bank_reference>[^\n]{0,23}))?(?=\n)"
    r"(?:\n(?P<extra_details>[^:\n-][^\n]*))?"
    r"(?:\n:86:(?P<information>[^\n]*(?:\n[^:\n-][^\n]*)*))?"
)
_CLOSING_MARKS = ("\n:62F:", "\n:62M:", "\n:62:")

# A :61: whose reference for the account owner runs past SWIFT's 16 characters: some Dutch banks
# (ASN, SNS) write the counterparty's IBAN there. mt-940's pattern cuts it at 16 and reads the
# rest as supplementary details, or fails when a supplementary line follows.
_LONG_REFERENCE = re.compile(
    r"(?P<year>[0-9]{2})(?P<month>[0-9]{2})(?P<day>[0-9]{2})"
    r"(?:(?P<entry_month>[0-9]{2}|\s{2})(?P<entry_day>[0-9]{2}|\s{2}))?"
    r"(?P<status>R?[DC])(?P<funds_code>[A-Z])?[\n ]?(?P<amount>[0-9,]{1,15})"
    r"(?P<id>[A-Z][A-Z0-9 ]{3})"
    r"(?P<customer_reference>(?:(?!//)[^\n]){17,34})(?://(?P<bank_reference>[^\n]{0,23}))?"
    r"(?:\n(?P<extra_details>[^\n]*))?$"
)
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_REK_NAAM = re.compile(
    r"\bREK:\s*(?P<account>[A-Z0-9 ]{6,34}?)\s*/NAAM:\s*(?P<name>[^/]+?)\s*(?:/|$)"
)
_BIC = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")


class _Field(NamedTuple):
    """One field of the text block: its tag ('61', '60F'), its value lines, its first line.

    (A named tuple: a file has two per transaction, and it is made several times faster.)
    """

    tag: str
    lines: tuple[str, ...]
    line: int

    @property
    def value(self) -> str:
        return "\n".join(self.lines)


class _Run(NamedTuple):
    """Consecutive plain statement lines (see ``_PLAIN_PAIR``), up to the closing balance: one
    match per line, and the line number of each :61:."""

    pairs: list[re.Match[str]]
    lines: list[int]
    tag: str = "61+"


@dataclass(slots=True)
class _Block:
    """The fields of one statement, from its :20: to the end of its message."""

    fields: list[_Field | _Run] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Balance:
    amount: Money
    on: date
    line: int


class _Details(NamedTuple):
    """What a :86: field says about the counterparty and the payment."""

    payer_name: str = ""
    payer_account: str = ""
    end_to_end_id: str = ""
    customer_reference: str = ""
    remittance_text: str = ""
    creditor_reference: str = ""


@dataclass(frozen=True, slots=True)
class _Read:
    statement: ParsedStatement
    closing_line: int
    information: str
    available: Money | None


def parse_mt940(data: bytes, *, source: str = "") -> ParsedFile:
    """Every statement of an MT940 file, each tied out: opening + lines == closing.

    Raises :class:`ParseError` (with the line) for anything that is not a well-formed MT940
    statement, and :class:`UnbalancedStatement` when a statement's lines do not add up.
    """
    read = _read(data, source)
    for item in read:
        _tie_out(item, source)
    _chained(read, source)
    return _file(read)


def _chained(read: list[_Read], source: str) -> None:
    """Each statement of an account (in one currency: a multi-currency account has a
    statement per currency under one number) opens at the balance its previous one in the
    file closed at: a page or day between them that the file lacks would otherwise go unseen."""
    closed: dict[tuple[str, str], tuple[Money, str]] = {}
    for item in read:
        statement = item.statement
        before = closed.get((statement.account, statement.currency))
        opening = statement.opening_balance
        if before is not None and opening is not None and opening != before[0]:
            raise UnbalancedStatement(
                f"statement {statement.statement_id!r} of account {statement.account!r} opens "
                f"at {opening}, but the statement before it ({before[1]!r}) closed at "
                f"{before[0]}: a page or statement between them is missing",
                source=source,
                line=item.closing_line,
            )
        if statement.closing_balance is not None:
            closed[statement.account, statement.currency] = (
                statement.closing_balance,
                statement.statement_id,
            )


def read_mt940(data: bytes, *, source: str = "") -> ParsedFile:
    """The statements as the bank wrote them, without the balance tie-out.

    For looking into a file that :func:`parse_mt940` refused as unbalanced; ingestion uses
    :func:`parse_mt940`.
    """
    return _file(_read(data, source))


def _file(read: list[_Read]) -> ParsedFile:
    details: dict[str, Any] = {}
    information = {r.statement.statement_id: r.information for r in read if r.information}
    if information:
        details["statement_information"] = information
    available = {r.statement.statement_id: r.available for r in read if r.available is not None}
    if available:
        # :64: closing available balance (booked minus holds), by statement.
        details["available_balance"] = available
    return ParsedFile("mt940", tuple(r.statement for r in read), details)


def _tie_out(item: _Read, source: str) -> None:
    statement = item.statement
    found = untied(statement)
    if found is None:
        return
    booked, gap = found
    assert statement.opening_balance is not None and statement.closing_balance is not None
    raise UnbalancedStatement(
        f"statement {statement.statement_id!r} of account {statement.account!r} does not tie "
        f"out: opening {statement.opening_balance} + {len(statement.transactions)} line(s) "
        f"totalling {booked} = {statement.opening_balance + booked}, but the closing balance "
        f"is {statement.closing_balance} (difference {gap}); the file is incomplete or altered, "
        "ask the bank for a corrected statement",
        source=source,
        line=item.closing_line,
    )


# -- splitting the text into statements and fields ------------------------------------------


def _decode(data: bytes, source: str) -> str:
    if not isinstance(data, bytes | bytearray):
        raise ParseError(f"expected bytes, got {type(data).__name__}", source=source)
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        # SWIFT text is ASCII; banks that stray from it mostly write Latin-1.
        text = bytes(data).decode("latin-1")
    text = text.removeprefix("\ufeff")
    control = _CONTROL.search(text)
    if control:
        line = text.count("\n", 0, control.start()) + 1
        raise ParseError(
            f"control character 0x{ord(control.group()):02x}: this is not MT940 text "
            "(binary data, or another encoding such as UTF-16)",
            source=source,
            line=line,
        )
    return text


def _next_mark(text: str, position: int) -> re.Match[str] | None:
    """The next field tag or end of message from ``position``. A line of '-' and more ('-XXX',
    a bank's trailer) ends the message only when no field of the message follows it: a text
    line wrapped blindly at the field's width may start with '-' too, and the field runs on."""
    mark = _MARK.search(text, position)
    if mark is None or mark.group("tag") is not None or _BARE_END.match(text, mark.start() + 1):
        return mark
    after = _MARK.search(text, mark.end())
    if after is None or after.group("tag") in (None, "20"):
        return mark
    return after


def _blocks(text: str, source: str, *, plain: bool = False) -> Iterator[_Block]:
    """Statements: fields from a :20: until the message ends ('-'), the next :20: or the file.

    A field runs from its tag to the next line that starts a field or ends the message; its
    lines keep no carriage returns or trailing blanks (but see :func:`_trimmed`). Text before a statement's first field is
    a bank's header or SWIFT envelope, and what follows a '-' until the next :20: is envelope.
    With ``plain``, statement lines that the shortcut pattern reads and that run up to the
    closing balance come as one :class:`_Run` instead of a field each.
    """
    text = "\n" + text.replace("\r", "")  # so that the first line, too, follows a line break
    blanks = _has_trailing_blanks(text)
    plain = plain and not blanks
    block: _Block | None = None
    line, counted = 0, 0
    mark = _next_mark(text, 0)
    while mark is not None:
        line += text.count("\n", counted, mark.end())
        counted = mark.end()
        tag = mark.group("tag")
        if tag is None:  # the end of the text block ('-' or '-}')
            if block is not None:
                yield block
            block = None
            mark = _next_mark(text, mark.end())
            continue
        if tag == "20":
            if block is not None:
                yield block
            block = _Block()
        elif block is None:
            raise ParseError(
                f"field :{tag}: outside a statement (no :20: before it)", source=source, line=line
            )
        elif tag == "61" and plain:
            run = _run(text, mark.start(), line)
            if run is not None:
                block.fields.append(run)
                end = run.pairs[-1].end()
                line = run.lines[-1] + text.count("\n", run.pairs[-1].start() + 1, end)
                counted = end
                mark = _next_mark(text, end)
                continue
        following = _next_mark(text, mark.end())
        end = following.start() if following is not None else len(text)
        lines = text[mark.end() : end].split("\n")
        if blanks:
            lines = [_trimmed(value) for value in lines]
        block.fields.append(_Field(tag, tuple(lines), line))
        mark = following
    if block is not None:
        yield block


def _trimmed(line: str) -> str:
    """A line without trailing blanks, but with one kept where it had some: a bank that leaves
    a blank at the end of a line wrapped its text after a word ('loon ' + 'periode'), and
    padding, too, ends a phrase. German subfields are read without them (see :func:`_german`)."""
    kept = line.rstrip()
    return kept + " " if kept and kept != line else kept


def _run(text: str, start: int, line: int) -> _Run | None:
    """The plain statement lines from ``start`` (a :61: on ``line``), if they reach the closing
    balance; None where anything else comes first."""
    pairs: list[re.Match[str]] = []
    lines: list[int] = []
    position, counted = start, start + 1
    match = _PLAIN_PAIR.match(text, position)
    while match is not None:
        line += text.count("\n", counted, match.start() + 1)
        counted = match.start() + 1
        pairs.append(match)
        lines.append(line)
        position = match.end()
        match = _PLAIN_PAIR.match(text, position)
    if not pairs or not text.startswith(_CLOSING_MARKS, position):
        return None
    return _Run(pairs, lines)


def _has_trailing_blanks(text: str) -> bool:
    """Whether a line may end in blanks that str.rstrip takes off (no control characters are
    left by :func:`_decode`, so in ASCII text these are spaces and tabs)."""
    if not text.isascii():
        return True
    return " \n" in text or "\t\n" in text or text.endswith((" ", "\t"))


def _read(data: bytes, source: str) -> list[_Read]:
    text = _decode(data, source)
    try:
        read = [_statement(block, source) for block in _blocks(text, source, plain=True)]
    except ParseError:
        # Every refusal is the field-by-field reader's, with its reason and line.
        read = [_statement(block, source) for block in _blocks(text, source)]
    if not read:
        raise ParseError("no MT940 statement in the file (no :20: field)", source=source)
    return read


# -- one statement ----------------------------------------------------------------------------


def _statement(block: _Block, source: str) -> _Read:
    first = block.fields[0]
    assert isinstance(first, _Field)  # a statement starts with its :20:
    reference = first.value.strip()
    account = ""
    number = ""
    opening: _Balance | None = None
    closing: _Balance | None = None
    lines: list[tuple[_Field, list[_Field]] | BankTransaction] = []
    information: list[str] = []
    available: _Balance | None = None
    previous = ""

    def once(current: object, item: _Field, what: str) -> None:
        if current:
            raise ParseError(
                f"second {what} (:{item.tag}:) in statement {reference!r}; a field may be "
                "mis-tagged",
                source=source,
                line=item.line,
            )

    for item in block.fields[1:]:
        if isinstance(item, _Run):
            if closing is not None or opening is None or not account:
                raise ParseError("statement lines out of place", source=source)
            lines.extend(_plain_lines(item, account, opening.amount.currency))
            previous = item.tag
            continue
        tag = item.tag
        if tag in ("25", "25P"):
            once(account, item, "account")
            account = _account_alone(item.value.strip().split("\n")[0])
        elif tag in ("28", "28C"):
            once(number, item, "statement number")
            number = item.value.strip()
        elif tag in _OPENING:
            once(opening, item, "opening balance")
            if lines:
                raise ParseError(
                    "opening balance after a statement line", source=source, line=item.line
                )
            opening = _balance(item, source)
        elif tag in _CLOSING:
            once(closing, item, "closing balance")
            closing = _balance(item, source)
        elif tag == "61":
            if closing is not None:
                raise ParseError(
                    "statement line after the closing balance", source=source, line=item.line
                )
            lines.append((item, []))
        elif tag == "86":
            last = lines[-1] if lines else None
            if isinstance(last, tuple) and previous in ("61", "86") and closing is None:
                last[1].append(item)
            else:
                information.append(_join_plain(item.lines))
        elif tag == "64":
            once(available, item, "available balance")
            available = _balance(item, source)
        elif tag in _INFORMATIONAL:
            pass
        else:
            raise ParseError(
                f"unknown field :{tag}: in an MT940 statement", source=source, line=item.line
            )
        previous = tag

    if not account:
        raise ParseError(
            f"statement {reference!r} has no account (:25:)", source=source, line=first.line
        )
    if opening is None and any(isinstance(f, _Field) and f.tag == "34F" for f in block.fields):
        raise ParseError(
            f"{reference!r} is an MT942 interim transaction report (no balances to tie to): not "
            "read; the day's MT940 statement brings the same transactions",
            source=source,
            line=first.line,
        )
    if opening is None or closing is None:
        missing = "opening (:60F:)" if opening is None else "closing (:62F:)"
        raise ParseError(
            f"statement {reference!r} has no {missing} balance; the file may be truncated",
            source=source,
            line=first.line,
        )
    currency = opening.amount.currency
    if closing.amount.currency != currency:
        raise ParseError(
            f"closing balance in {closing.amount.currency}, opening in {currency}",
            source=source,
            line=closing.line,
        )
    statement_id = f"{reference}/{number}" if number else reference
    booked = tuple(
        line
        if isinstance(line, BankTransaction)
        else _transaction(*line, account, currency, source)
        for line in lines
    )
    statement = ParsedStatement(
        account=account,
        currency=currency,
        statement_id=statement_id,
        transactions=booked,
        opening_balance=opening.amount,
        closing_balance=closing.amount,
        from_date=opening.on,
        to_date=closing.on,
    )
    return _Read(
        statement, closing.line, " ".join(information), available.amount if available else None
    )


def _amount(text: str, currency: str, item: _Field, source: str) -> int:
    """Minor units of an unsigned MT940 amount ('1234,56', '500,', '500')."""
    if not text or text.count(",") > 1 or text.startswith(","):
        raise ParseError(
            f":{item.tag}: amount {text!r} is not an MT940 amount (digits and one decimal comma)",
            source=source,
            line=item.line,
        )
    try:
        return parse_amount(text.removesuffix(","), currency, decimal_mark=",")
    except MoneyError as exc:
        raise ParseError(f":{item.tag}: {exc}", source=source, line=item.line) from None


def _refuse_dot(value: str, end: int, item: _Field, source: str) -> None:
    if value[end : end + 1] == ".":
        raise ParseError(
            f":{item.tag}: amount written with '.' ({value[: end + 4]!r}); MT940 amounts use a "
            "decimal comma, so '.' is refused rather than read as a truncated amount",
            source=source,
            line=item.line,
        )


def _parse_tag(item: _Field, value: str, source: str) -> re.Match[str]:
    """mt-940's pattern for ``item`` matched on ``value``; its named groups are the fields."""
    tag = _TAGS.get(item.tag) or _TAGS[int(item.tag[:2])]
    match = tag.re.match(value)
    if not match:
        raise ParseError(
            f":{item.tag}: {value[:80]!r} does not have the layout of a {tag.name} field",
            source=source,
            line=item.line,
        )
    return match


def _balance(item: _Field, source: str) -> _Balance:
    value = item.value.strip()
    groups = _parse_tag(item, value, source)
    _refuse_dot(value, groups.end("amount"), item, source)
    if value[groups.end() :].strip():
        raise ParseError(
            f":{item.tag}: unexpected text {value[groups.end() :]!r} after the amount",
            source=source,
            line=item.line,
        )
    currency = groups["currency"].upper()
    if not is_known(currency):
        raise ParseError(
            f":{item.tag}: unknown currency {currency!r}", source=source, line=item.line
        )
    minor = _amount(groups["amount"], currency, item, source)
    sign = -1 if groups["status"].upper() == "D" else 1
    on = _date(groups, item, source)
    return _Balance(Money(sign * minor, currency), on, item.line)


def _date(groups: re.Match[str], item: _Field, source: str) -> date:
    try:
        return date(2000 + int(groups["year"]), int(groups["month"]), int(groups["day"]))
    except ValueError:
        raise ParseError(
            f":{item.tag}: {groups['year']}{groups['month']}{groups['day']} is not a date (YYMMDD)",
            source=source,
            line=item.line,
        ) from None


def _transaction(
    item: _Field, details: list[_Field], account: str, currency: str, source: str
) -> BankTransaction:
    value = item.value.strip()
    groups = _long_reference(value) or _parse_tag(item, value, source)
    _refuse_dot(value, groups.end("amount"), item, source)
    if not groups["id"]:
        raise ParseError(
            ":61: has no transaction type (such as NTRF) after the amount",
            source=source,
            line=item.line,
        )
    minor = _amount(groups["amount"], currency, item, source)
    dates = _line_dates(
        groups["year"], groups["month"], groups["day"], groups["entry_month"], groups["entry_day"]
    )
    if dates is None:
        raise ParseError(
            f":61: {value[:16]!r} does not start with a value date (YYMMDD) and an optional "
            "entry date (MMDD)",
            source=source,
            line=item.line,
        )
    information = _details([line for field in details for line in field.lines], account)
    return _booked(groups, minor, dates, information, account, currency, item.line)


def _long_reference(value: str) -> re.Match[str] | None:
    """The :61: read with a reference of 17 to 34 characters, when its first line has one."""
    first_line = value.split("\n", 1)[0]
    if len(first_line) < 28:  # 10 dates, 1 mark, 1 amount, 4 type, 17 reference at the least
        return None
    return _LONG_REFERENCE.match(value)


def _account_alone(account: str) -> str:
    """The :25: account without the currency some banks write after an IBAN (bunq's
    'NL10BUNQ2290325473 EUR'), so it is the account camt and the payers' files name."""
    number, _, currency = account.rpartition(" ")
    if len(currency) == 3 and currency.isalpha() and currency.isupper() and is_iban(number):
        return number
    return account


def is_iban(text: str) -> bool:
    """Whether ``text`` is an IBAN: country, check digits that pass ISO 7064 mod 97-10."""
    if not _IBAN.fullmatch(text):
        return False
    moved = text[4:] + text[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _plain_lines(run: _Run, account: str, currency: str) -> Iterator[BankTransaction]:
    """The transactions of a run of plain statement lines. A ParseError here only sends the
    file to the field-by-field reader, which says what is wrong and where."""
    for pair, line in zip(run.pairs, run.lines, strict=True):
        try:
            minor = parse_amount(pair["amount"].removesuffix(","), currency, decimal_mark=",")
        except MoneyError as exc:
            raise ParseError(str(exc)) from None
        dates = _line_dates(
            pair["year"], pair["month"], pair["day"], pair["entry_month"], pair["entry_day"]
        )
        if dates is None:
            raise ParseError("not a date")
        information = pair["information"]
        details = (
            _details(information.split("\n"), account) if information is not None else _Details()
        )
        yield _booked(pair, minor, dates, details, account, currency, line)


def _booked(
    groups: re.Match[str],
    minor: int,
    dates: tuple[date, date],
    parsed: _Details,
    account: str,
    currency: str,
    line: int,
) -> BankTransaction:
    """A :61: line's transaction from its pattern's groups and its :86: details."""
    mark = groups["status"].upper()
    # C and RD (reversal of a debit) bring money in; D and RC (reversal of a credit) take it out.
    sign = -1 if mark in ("D", "RC") else 1
    value_date, booking_date = dates
    customer_reference = (groups["customer_reference"] or "").strip()
    type_code = groups["id"].upper()
    if type_code == "NONR" and customer_reference.upper().startswith("EF"):
        # No type code at all (Penta): 'NONREF' is the reference, and says there is none.
        type_code, customer_reference = "", customer_reference[2:]
    if customer_reference.upper() in _NO_REFERENCE:
        customer_reference = ""
    supplementary = " ".join((groups["extra_details"] or "").split())
    parsed, supplementary = _counterparty_first(parsed, customer_reference, supplementary)
    payer_account = parsed.payer_account
    if payer_account and is_own_account(payer_account, account):
        payer_account = ""  # Triodos' '>31' is the statement's own account, not the payer's
    if not payer_account:
        # The counterparty's IBAN where some banks put it: the supplementary details
        # (Rabobank) or the reference for the account owner (ASN, SNS).
        payer_account = next(
            (v for v in (supplementary, customer_reference) if is_iban(v.replace(" ", ""))), ""
        ).replace(" ", "")
    if payer_account and supplementary.replace(" ", "") == payer_account:
        supplementary = ""
    remittance = parsed.remittance_text
    if supplementary and supplementary not in remittance:
        remittance = f"{remittance} {supplementary}".strip()
    return BankTransaction(
        account=account,
        amount=Money(sign * minor, currency),
        booking_date=booking_date,
        value_date=value_date,
        payer_name=parsed.payer_name,
        payer_account=payer_account,
        bank_reference=(groups["bank_reference"] or "").strip(),
        customer_reference=customer_reference or parsed.customer_reference,
        end_to_end_id=parsed.end_to_end_id,
        remittance_text=remittance,
        creditor_reference=parsed.creditor_reference,
        type_code=type_code,
        line=line,
        reversal=mark in ("RC", "RD"),
    )


@functools.lru_cache(maxsize=4096)
def _line_dates(
    year: str, month: str, day: str, entry_month: str | None, entry_day: str | None
) -> tuple[date, date] | None:
    """Value and booking date of a :61: line as mt-940 reads them; None when it cannot.

    mt-940 settles the entry date's year across a year boundary and clamps 29-31 February;
    its answer depends on these five fields alone, and a statement repeats a few dates in
    every line, so it is asked once per distinct date rather than once per line. The amount
    handed to it is a placeholder: the line's own amount has already passed :func:`_amount`,
    so the library's Decimal of it could not have failed either.
    """
    groups: dict[str, Any] = {
        "year": year,
        "month": month,
        "day": day,
        "entry_month": entry_month,
        "entry_day": entry_day,
        "status": "C",
        "amount": "0",
        "currency": "EUR",
    }
    transactions = mt940.models.Transactions()
    statement_tag = _TAGS[61]
    try:
        groups = mt940.processors.date_fixup_pre_processor(transactions, statement_tag, groups)
        built = statement_tag(transactions, groups)
    except (ValueError, ArithmeticError, TypeError, KeyError):
        return None
    value_date = date(built["date"].year, built["date"].month, built["date"].day)
    entry = built.get("entry_date")
    booking_date = date(entry.year, entry.month, entry.day) if entry else value_date
    return value_date, booking_date


# -- the :86: information to the account owner ------------------------------------------------


def _single_spaced(text: str) -> str:
    return " ".join(text.split())


def _join_plain(lines: tuple[str, ...] | list[str], width: int = _LINE_WIDTH) -> str:
    """Free text lines: a full-width line was cut mid-word and runs on, others end a phrase."""
    out = ""
    for index, line in enumerate(lines):
        if index and len(lines[index - 1]) < width:
            out += " "
        out += line
    return _single_spaced(out)


def _details(lines: list[str], own_account: str) -> _Details:
    """What the lines of a line's :86: field(s) say; nothing for none."""
    if not lines:
        return _Details()
    joined = "".join(lines)
    german = _GERMAN_START.match(joined)
    if german:
        return _german(joined, german.group("mark"), own_account) or _Details(
            remittance_text=_join_plain(lines)
        )
    if _SLASH_START.match(joined):
        return _slash(joined) or _Details(remittance_text=_join_plain(lines))
    text = _join_plain(lines)
    if _UNSTRUCTURED.match(text):
        text = text[3:].lstrip()  # the German layout's code for 'free text follows'
    return _counterparty_named(text)


def _counterparty_first(
    parsed: _Details, reference: str, supplementary: str
) -> tuple[_Details, str]:
    """ASN and SNS write the counterparty's account as the :61: reference, its name as the
    supplementary details, and both again as the first words of :86:, before the description
    (free text, or '/KEY/' subfields). Read so, the name is the payer's and the description
    is read on its own; anything else is returned as it came (with the supplementary details
    still to place)."""
    if not (is_iban(reference) and supplementary) or parsed.payer_name:
        return parsed, supplementary
    text = parsed.remittance_text
    head = f"{reference} {supplementary}"
    if not text.casefold().startswith(head.casefold()) or text[len(head) : len(head) + 1].strip():
        return parsed, supplementary  # not the layout, or a name cut short in the :61:
    rest = text[len(head) :].strip()
    described = (_slash(rest) if _SLASH_START.match(rest) else None) or _Details(
        remittance_text=rest
    )
    return described._replace(
        payer_name=described.payer_name or supplementary,
        payer_account=described.payer_account or parsed.payer_account,
    ), ""


def _counterparty_named(text: str) -> _Details:
    """Free text, with a counterparty written 'REK: account/NAAM: name' (Knab) taken out."""
    named = _REK_NAAM.search(text)
    if named is None:
        return _Details(remittance_text=text)
    rest = _single_spaced(text[: named.start()] + " " + text[named.end() :])
    return _Details(
        payer_name=_single_spaced(named.group("name")),
        payer_account=named.group("account").replace(" ", ""),
        remittance_text=rest,
    )


def _join_subfields(values: list[str]) -> str:
    """Subfield values as one text: a full subfield was cut mid-word and runs on."""
    out = ""
    for index, value in enumerate(values):
        if index and len(values[index - 1]) < _GERMAN_SUBFIELD_WIDTH:
            out += " "
        out += value
    return out


def _german(text: str, mark: str, own_account: str) -> _Details | None:
    """German ?00..?63 subfields (the Deutsche Kreditwirtschaft layout; Triodos writes '>',
    Romanian BRD '+').

    Triodos puts our own account in '>31' and the payer's BIC and IBAN in purpose subfields
    ('>20', '>21'): an account that is our own is not the payer's, and then a purpose subfield
    that is a whole valid IBAN is (it and the BIC before it leave the text).
    """
    parts = _GERMAN_SUBFIELD[mark].split(text[3:])
    # Purpose lines (?20-?29, ?60-?63), the payer's account (?31) and name (?32, ?33).
    purpose: list[str] = []
    account = ""
    names: list[str] = []
    for key, padded in zip(parts[1::2], parts[2::2], strict=True):
        value = padded.rstrip()  # a subfield's own width says whether it was cut mid-word
        if key in _PURPOSE_SUBFIELDS:
            purpose.append(value)
        elif key == "31":
            account += value
        elif key == "32" or key == "33":
            names.append(value)
    if not account or is_own_account(account, own_account):
        account = ""
        iban = next((i for i, v in enumerate(purpose) if is_iban(v.replace(" ", ""))), None)
        if iban is not None:
            account = purpose[iban].replace(" ", "")
            bic = iban > 0 and _BIC.fullmatch(purpose[iban - 1].strip()) is not None
            purpose = purpose[: iban - 1 if bic else iban] + purpose[iban + 1 :]

    # A SEPA keyword (EREF+, SVWZ+ ...) opens an item; a value runs on into the next subfield
    # when its subfield is full (cut mid-word), and the purpose (SVWZ) runs on into every
    # subfield up to the next keyword (its lines: 'RE 10017', 'RE 10018', ...); otherwise the
    # next subfield starts a new piece of text.
    items: list[list[str]] = []
    full = False
    for value in purpose:
        plus = value.find("+", 3, 5)
        if plus > 0 and value[:plus] in _SEPA_KEYWORDS:
            items.append([value[:plus], value[plus + 1 :]])
        elif items and full:
            items[-1][1] += value
        elif items and items[-1][0] == "SVWZ":
            items[-1][1] += " " + value
        else:
            items.append(["", value])
        full = len(value) >= _GERMAN_SUBFIELD_WIDTH
    tagged: dict[str, str] = {}
    for key, value in items:
        if key and key not in tagged:
            tagged[key] = value
    name = _single_spaced(_join_subfields(names)).strip(" /")
    account = account.replace(" ", "")
    remittance = _single_spaced(tagged["SVWZ"]) if "SVWZ" in tagged else ""
    if not remittance:
        remittance = _single_spaced(" ".join([value for key, value in items if not key]))
    end_to_end = _single_spaced(tagged.get("EREF", ""))
    if not (name or account or remittance or end_to_end):
        return None
    customer_reference = _single_spaced(tagged.get("KREF", ""))
    return _Details(
        payer_name=name,
        payer_account=account,
        end_to_end_id="" if end_to_end.upper() in _NO_REFERENCE else end_to_end,
        customer_reference=""
        if customer_reference.upper() in _NO_REFERENCE
        else customer_reference,
        remittance_text=remittance,
    )


def _slash(text: str) -> _Details | None:
    """SWIFT/Dutch '/KEY/value' subfields (/EREF/, /ORDP//NAME/, /REMI/USTD//, /IBAN/ ...)."""
    markers = list(_SLASH_MARKER.finditer(text))
    values: dict[str, str] = {}
    for index, marker in enumerate(markers):
        end = markers[index + 1].start() if index + 1 < len(markers) else len(text)
        key = marker.group("key")
        if key not in values:
            values[key] = text[marker.end() : end]
    name = values.get("NAME", "").strip("/ ")
    account = values.get("IBAN", "").strip("/ ").replace(" ", "")
    if "CNTP" in values and not (name and account):
        # ING: /CNTP/account/BIC/name/city/, positional rather than keyworded.
        parts = values["CNTP"].split("/")
        account = account or (parts[0].strip() if parts else "")
        name = name or (parts[2].strip() if len(parts) > 2 else "")
    remittance = values.get("REMI", "")
    creditor_reference = ""
    if remittance.startswith("USTD/"):
        remittance = remittance.removeprefix("USTD/").removeprefix("/")
    elif remittance.startswith("STRD/"):
        structured = remittance.removeprefix("STRD/").strip("/").split("/")
        creditor_reference = structured[-1].strip() if structured else ""
        remittance = creditor_reference
    remittance = _single_spaced(remittance.strip("/"))
    end_to_end = values.get("EREF", "").strip("/ ")
    if not (name or account or remittance or end_to_end or creditor_reference):
        return None
    return _Details(
        payer_name=_single_spaced(name),
        payer_account=account,
        end_to_end_id="" if end_to_end.upper() in _NO_REFERENCE else end_to_end,
        customer_reference=values.get("KREF", "").strip("/ "),
        remittance_text=remittance,
        creditor_reference=creditor_reference
        if creditor_reference.upper().startswith("RF")
        else "",
    )

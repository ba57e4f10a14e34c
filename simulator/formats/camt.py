"""Writes simulator statements as ISO 20022 camt.053 statements and camt.054 notifications."""

from __future__ import annotations

import re
from datetime import date, datetime, time

from lxml import etree
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from ledger.errors import InputError
from ledger.money import format_amount
from simulator.model import RemittanceRef, Statement, StatementLine

VERSIONS = ("001.02", "001.03", "001.04", "001.05", "001.06", "001.07", "001.08")
"""Message versions written; element names and nesting follow each version's XSD."""

USTRD_WIDTH = 140
"""Unstructured remittance is Max140Text per element; longer text is split over several."""

_BIC = re.compile(r"[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?")
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Bank transaction codes (Domain, Family, Sub-family) by channel and direction.
_CREDIT_CODES = {
    "sepa": ("PMNT", "RCDT", "ESCT"),
    "ach": ("PMNT", "RCDT", "ACDT"),
    "wire": ("PMNT", "RCDT", "XBCT"),
    "transfer": ("PMNT", "RCDT", "BOOK"),
    "check": ("PMNT", "RCHQ", "CCHQ"),
    "lockbox": ("PMNT", "LBOX", "LBDP"),
}
_DEBIT_CODES = {
    "fee": ("ACMT", "MDOP", "CHRG"),
    "sepa": ("PMNT", "ICDT", "ESCT"),
    "ach": ("PMNT", "ICDT", "ACDT"),
    "wire": ("PMNT", "ICDT", "XBCT"),
    "transfer": ("PMNT", "ICDT", "BOOK"),
    "check": ("PMNT", "ICHQ", "CCHQ"),
}
_OTHER_CREDIT = ("PMNT", "RCDT", "OTHR")
_OTHER_DEBIT = ("PMNT", "ICDT", "OTHR")


def write_camt053(statement: Statement, *, version: str = "001.02", message_id: str) -> bytes:
    """A camt.053 bank-to-customer statement with opening and closing booked balances."""
    return _write(statement, "053", version, message_id)


def write_camt054(statement: Statement, *, version: str = "001.02", message_id: str) -> bytes:
    """A camt.054 debit/credit notification: the same entries, without balances."""
    return _write(statement, "054", version, message_id)


class _Builder:
    """Element factory for one message version: namespace and version-dependent names."""

    def __init__(self, message: str, version: str) -> None:
        if version not in VERSIONS:
            raise InputError(f"camt.{message} version {version!r} not supported: use {VERSIONS}")
        self.namespace = f"urn:iso:std:iso:20022:tech:xsd:camt.{message}.{version}"
        self.number = int(version.rsplit(".", 1)[1])

    def root(self) -> etree._Element:
        return etree.Element(f"{{{self.namespace}}}Document", nsmap={None: self.namespace})

    def sub(
        self, parent: etree._Element, tag: str, text: str | None = None, **attrib: str
    ) -> etree._Element:
        element = etree.SubElement(parent, f"{{{self.namespace}}}{tag}", attrib)
        if text is not None:
            element.text = text
        return element

    def path(self, parent: etree._Element, path: str, text: str | None = None) -> etree._Element:
        """``parent/a/b/c`` built as a chain of new elements, the last one holding ``text``."""
        element = parent
        for tag in path.split("/"):
            element = self.sub(element, tag)
        if text is not None:
            element.text = text
        return element


def _write(statement: Statement, message: str, version: str, message_id: str) -> bytes:
    build = _Builder(message, version)
    account = statement.account
    for line in statement.lines:
        if line.currency != account.currency:
            raise InputError(
                f"statement {statement.statement_id}: line {line.line_id} is in "
                f"{line.currency}, the account in {account.currency}"
            )
    document = build.root()
    body = build.sub(document, "BkToCstmrStmt" if message == "053" else "BkToCstmrDbtCdtNtfctn")
    header = build.sub(body, "GrpHdr")
    build.sub(header, "MsgId", _text(message_id, 35) or "NOTPROVIDED")
    build.sub(header, "CreDtTm", _datetime(statement.created_at))

    report = build.sub(body, "Stmt" if message == "053" else "Ntfctn")
    build.sub(report, "Id", _text(statement.statement_id, 35) or "NOTPROVIDED")
    build.sub(report, "ElctrncSeqNb", str(statement.sequence))
    build.sub(report, "CreDtTm", _datetime(statement.created_at))
    period = build.sub(report, "FrToDt")
    build.sub(period, "FrDtTm", _datetime(datetime.combine(statement.from_date, time.min)))
    build.sub(period, "ToDtTm", _datetime(datetime.combine(statement.to_date, time(23, 59, 59))))

    acct = build.sub(report, "Acct")
    _account_id(build, build.sub(acct, "Id"), account.account_id)
    build.sub(acct, "Ccy", account.currency)
    if account.account_name:
        build.sub(acct, "Nm", _text(account.account_name, 70))
    institution = build.path(acct, "Svcr/FinInstnId")
    if _BIC.fullmatch(account.bank_id):
        # The element was renamed when BIC became BICFI in version 03.
        build.sub(institution, "BIC" if build.number < 3 else "BICFI", account.bank_id)
    bank_name = _text(account.bank_name or account.bank_id, 140)
    if bank_name:
        build.sub(institution, "Nm", bank_name)

    currency = account.currency
    if message == "053":
        _balance(
            build, report, "OPBD", statement.opening_balance_minor, currency, statement.from_date
        )
        _balance(
            build, report, "CLBD", statement.closing_balance_minor, currency, statement.to_date
        )
    if statement.lines:
        summary = build.sub(report, "TxsSummry")
        for tag, lines in (
            ("TtlCdtNtries", [line for line in statement.lines if line.amount_minor >= 0]),
            ("TtlDbtNtries", [line for line in statement.lines if line.amount_minor < 0]),
        ):
            totals = build.sub(summary, tag)
            build.sub(totals, "NbOfNtries", str(len(lines)))
            build.sub(
                totals, "Sum", format_amount(sum(abs(x.amount_minor) for x in lines), currency)
            )
    for line in statement.lines:
        _entry(build, report, line)
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _balance(
    build: _Builder, report: etree._Element, code: str, minor: int, currency: str, on: date
) -> None:
    balance = build.sub(report, "Bal")
    build.path(balance, "Tp/CdOrPrtry/Cd", code)
    build.sub(balance, "Amt", format_amount(abs(minor), currency), Ccy=currency)
    build.sub(balance, "CdtDbtInd", "DBIT" if minor < 0 else "CRDT")
    build.path(balance, "Dt/Dt", on.isoformat())


def _entry(build: _Builder, report: etree._Element, line: StatementLine) -> None:
    credit = line.amount_minor >= 0
    indicator = "CRDT" if credit else "DBIT"
    amount = format_amount(abs(line.amount_minor), line.currency)
    entry = build.sub(report, "Ntry")
    build.sub(entry, "Amt", amount, Ccy=line.currency)
    build.sub(entry, "CdtDbtInd", indicator)
    if build.number < 7:
        build.sub(entry, "Sts", "BOOK")
    else:
        build.path(entry, "Sts/Cd", "BOOK")
    build.path(entry, "BookgDt/Dt", line.booking_date.isoformat())
    build.path(entry, "ValDt/Dt", line.value_date.isoformat())
    bank_reference = _text(line.bank_reference, 35)
    if bank_reference:
        build.sub(entry, "AcctSvcrRef", bank_reference)
    codes = _CREDIT_CODES if credit else _DEBIT_CODES
    domain, family, sub_family = codes.get(line.channel, _OTHER_CREDIT if credit else _OTHER_DEBIT)
    domain_element = build.path(entry, "BkTxCd/Domn")
    build.sub(domain_element, "Cd", domain)
    family_element = build.sub(domain_element, "Fmly")
    build.sub(family_element, "Cd", family)
    build.sub(family_element, "SubFmlyCd", sub_family)

    details = build.path(entry, "NtryDtls/TxDtls")
    refs = build.sub(details, "Refs")
    if bank_reference:
        build.sub(refs, "AcctSvcrRef", bank_reference)
    customer_reference = _text(line.customer_reference, 35)
    if customer_reference and line.channel != "check":
        build.sub(refs, "InstrId", customer_reference)
    build.sub(refs, "EndToEndId", _text(line.end_to_end_id, 35) or "NOTPROVIDED")
    if customer_reference and line.channel == "check":
        build.sub(refs, "ChqNb", customer_reference)
    if build.number < 3:
        build.sub(build.path(details, "AmtDtls/TxAmt"), "Amt", amount, Ccy=line.currency)
    else:
        build.sub(details, "Amt", amount, Ccy=line.currency)
        build.sub(details, "CdtDbtInd", indicator)
    _related_parties(build, details, line, credit)
    _remittance(build, details, line)


def _related_parties(
    build: _Builder, details: etree._Element, line: StatementLine, credit: bool
) -> None:
    name = _text(line.payer_name, 140)
    account = line.payer_account.replace(" ", "")
    if not (name or account):
        return
    parties = build.sub(details, "RltdPties")
    # On a debit the other side is the creditor we paid, not a debtor.
    role = "Dbtr" if credit else "Cdtr"
    if name:
        party = build.sub(parties, role)
        if build.number >= 7:
            party = build.sub(party, "Pty")
        build.sub(party, "Nm", name)
    if account:
        _account_id(build, build.path(parties, f"{role}Acct/Id"), account)


def _remittance(build: _Builder, details: etree._Element, line: StatementLine) -> None:
    text = _XML_UNSAFE.sub("", line.remittance_text)
    if not (text or line.structured or line.creditor_reference):
        return
    remittance = build.sub(details, "RmtInf")
    for start in range(0, len(text), USTRD_WIDTH):
        build.sub(remittance, "Ustrd", text[start : start + USTRD_WIDTH])
    for item in line.structured:
        _referred_document(build, build.sub(remittance, "Strd"), item, line.currency)
    if line.creditor_reference:
        creditor = build.path(remittance, "Strd/CdtrRefInf")
        build.path(creditor, "Tp/CdOrPrtry/Cd", "SCOR")
        build.sub(creditor, "Ref", _text(line.creditor_reference, 35))


def _referred_document(
    build: _Builder, structured: etree._Element, item: RemittanceRef, currency: str
) -> None:
    document = build.sub(structured, "RfrdDocInf")
    build.path(document, "Tp/CdOrPrtry/Cd", "CINV")
    build.sub(document, "Nb", _text(item.document_number, 35))
    discount = item.discount_minor or 0
    adjustment = item.adjustment_minor or 0
    if item.amount_minor is None and not discount and not adjustment:
        return
    amounts = build.sub(structured, "RfrdDocAmt")

    def money(parent: etree._Element, tag: str, minor: int) -> None:
        build.sub(parent, tag, format_amount(minor, currency), Ccy=currency)

    paid = item.amount_minor
    if paid is not None and paid >= 0:
        # Discount and adjustment were taken off what was due: due = paid + discount + adjustment.
        due = paid + discount + adjustment
        if due >= 0:
            money(amounts, "DuePyblAmt", due)
    if discount:
        if build.number < 3:
            money(amounts, "DscntApldAmt", abs(discount))
        else:
            money(build.sub(amounts, "DscntApldAmt"), "Amt", abs(discount))
    if paid is not None and paid < 0:
        money(amounts, "CdtNoteAmt", -paid)
    if adjustment:
        adjusted = build.sub(amounts, "AdjstmntAmtAndRsn")
        money(adjusted, "Amt", abs(adjustment))
        # DBIT: subtracted from the amount due (a deduction); CRDT: added to it.
        build.sub(adjusted, "CdtDbtInd", "DBIT" if adjustment > 0 else "CRDT")
        reason = item.adjustment_reason.strip()
        if reason and len(reason) <= 4:
            build.sub(adjusted, "Rsn", reason)
        elif reason:
            # Rsn is Max4Text; a longer reason code travels as additional information.
            build.sub(adjusted, "AddtlInf", _text(reason, 140))
    if paid is not None and paid >= 0:
        money(amounts, "RmtdAmt", paid)


def _account_id(build: _Builder, parent: etree._Element, account_id: str) -> None:
    compact = account_id.replace(" ", "")
    try:
        iban = IBAN(compact)
    except SchwiftyException:
        build.sub(build.sub(parent, "Othr"), "Id", _text(compact, 34))
    else:
        build.sub(parent, "IBAN", iban.compact)


def _text(value: str, width: int) -> str:
    """``value`` cut to the schema's maximum length, without characters XML cannot carry."""
    return _XML_UNSAFE.sub("", value).strip()[:width]


def _datetime(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")

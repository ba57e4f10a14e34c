"""Which debits on a statement take back money a payer sent: returned and reversed receipts.

A cheque that bounces, an ACH credit returned (R01 insufficient funds, R02 account closed), a
SEPA payment recalled or a direct debit reversed all reach the statement as a debit of the
amount once credited. Cash application must undo what it applied with that credit, so these
debits are told apart from the account's other debits here, by the bank's own marks first and
its words second.
"""

from __future__ import annotations

import re

from ingest.statements import BankTransaction

BAI2_RETURN_CODES = frozenset({"552", "555", "557", "558", "566"})
"""BAI2 debit detail codes of a receipt taken back: credit reversal, deposited item returned,
individual ACH return item, ACH reversal debit, return item. Their fees (567 and the like)
are not returns."""

ISO_RETURN_SUBFAMILIES = frozenset({"RRTN", "RPCR", "UPCQ"})
"""ISO 20022 bank transaction sub-families: reversal due to a payment return, reversal due to
a cancellation request, unpaid cheque."""

MT940_RETURN_CODES = frozenset({"RTI"})
"""SWIFT transaction type of a returned item (``NRTI``)."""

# Words a bank uses for a receipt it takes back; a bare 'RETURNED' is not enough ('credit for
# returned goods' is a refund of ours).
_RETURN_WORDS = re.compile(
    r"\b(?:RETURNED\s+(?:ITEM|CHE(?:QUE|CK)|PAYMENT|DEPOSIT|ACH|CREDIT)|RETURN\s+ITEM"
    r"|RETURN(?:ED)?\s+R\d\d|ACH\s+RETURN|ITEM\s+RETURNED|NSF|STORNO|R(?:UE|Ü)CKLASTSCHRIFT"
    r"|R(?:UE|Ü)CKGABE|CHARGEBACK|UNPAID\s+(?:ITEM|CHE(?:QUE|CK))|IMPAYE)\b"
)
_NOT_A_RETURN = re.compile(
    r"\b(?:REFUND|FEE|CHARGE|COMMISSION|GEBUEHR|GEBÜHR|ENTGELT|GOODS|RMA|MERCHANDISE)\b"
)


def is_returned_receipt(transaction: BankTransaction) -> bool:
    """A debit that takes back a receipt: marked so by the bank's code or reversal flag, or,
    failing a code, called so in its text (and not a fee or a refund of ours)."""
    if transaction.is_credit:
        return False
    if transaction.reversal:
        return True  # the reversal of a credit: the receipt booked earlier is undone
    code = transaction.type_code.upper()
    if code in BAI2_RETURN_CODES or code in MT940_RETURN_CODES:
        return True
    if code.rsplit("/", 1)[-1] in ISO_RETURN_SUBFAMILIES:
        return True
    text = " ".join((transaction.remittance_text, transaction.bank_reference)).upper()
    return bool(_RETURN_WORDS.search(text)) and not _NOT_A_RETURN.search(text)

"""Who paid: a payment's bank account, the customer numbers in its text and its payer name,
each turned into ranked customer candidates with the evidence behind them.

Sources, most trusted first: a bank account learned from earlier applications, the customer's
own number written in the remittance, the payer name equal to a customer's name or alias once
folded (``matching.names.compact``), a truncated name (a prefix of one customer's name), and a
fuzzy name (rapidfuzz) that clearly beats the runner-up. A name or account learnt for customers
of more than one family belongs to an intermediary (a payment platform such as those that pay
suppliers for many buyers) and is no evidence of who paid.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from rapidfuzz import fuzz, process

from matching.names import compact

_WORD = re.compile(r"[A-Za-z0-9]+")
# Words banks and payers put around a name in free text: none of them names a company.
_BOILERPLATE = frozenset(
    [
        "ach",
        "credit",
        "debit",
        "payment",
        "payments",
        "pmt",
        "pymt",
        "inv",
        "invoice",
        "invoices",
        "re",
        "ref",
        "ap",
        "ar",
        "run",
        "cust",
        "customer",
        "remittance",
        "remit",
        "wire",
        "transfer",
        "trf",
        "ccd",
        "ppd",
        "ctx",
        "sepa",
        "eft",
        "from",
        "for",
        "to",
        "of",
        "the",
        "paid",
        "settlement",
        "batch",
        "bill",
        "bills",
        "vendor",
        "supplier",
        "account",
        "acct",
        "no",
        "nr",
        "number",
        "check",
        "cheque",
        "deposit",
    ]
)
MIN_PREFIX = 8
MAX_SHARED_PREFIX = 4  # customers a cut name may stand for equally (more: spelling decides)
"""A truncated payer name must keep this many characters to stand for a longer name."""


@dataclass(frozen=True, slots=True)
class PayerCandidate:
    """A customer who may have made a payment.

    score: 0..1 strength of the evidence (1.0 an exact account or name); source: which
    evidence ('bank_account', 'customer_number', 'name', 'alias', 'truncated_name',
    'fuzzy_name', 'reference'); detail: what matched, for the analyst.
    """

    customer_id: str
    score: float
    source: str
    detail: str = ""


class PayerIndex:
    """Customers by learned bank account, number, folded name and alias, with their families.

    Names and accounts learnt for customers of more than one family (intermediaries: the
    payment platforms, banks and factors that pay on behalf of many) identify no one.
    """

    def __init__(
        self,
        customers: Iterable[tuple[str, str, str | None]],
        aliases: Iterable[tuple[str, str]] = (),
        accounts: Iterable[tuple[str, str]] = (),
    ) -> None:
        """``customers``: (customer_id, name, parent_id); ``aliases``: (customer_id, alias);
        ``accounts``: (bank account, customer_id) learned from applied payments."""
        self._names: dict[str, set[str]] = defaultdict(set)
        self._numbers: dict[str, str] = {}
        self._parent: dict[str, str] = {}
        self._children: dict[str, set[str]] = defaultdict(set)
        self._families: dict[str, frozenset[str]] = {}  # the hierarchy is fixed once built
        for customer_id, name, parent_id in customers:
            self._names[compact(name)].add(customer_id)
            self._numbers[customer_id.upper()] = customer_id
            if parent_id:
                self._parent[customer_id] = parent_id
                self._children[parent_id].add(customer_id)
        learnt: dict[str, set[str]] = defaultdict(set)
        for customer_id, alias in aliases:
            if compact(alias):
                learnt[compact(alias)].add(customer_id)
        # A name learnt for customers of more than one family is an intermediary's (a payment
        # platform, a bank, a factor paying for many): it says nothing about who paid.
        self._aliases: dict[str, set[str]] = {
            alias: owners for alias, owners in learnt.items() if self._one_family(owners)
        }
        self._shared_names = frozenset(learnt) - frozenset(self._aliases)
        self._accounts: dict[str, set[str]] = defaultdict(set)
        for account, customer_id in accounts:
            self._accounts[_account_key(account)].add(customer_id)
        self._choices = sorted(set(self._names) | set(self._aliases))
        self._by_name: dict[str, list[PayerCandidate]] = {}

    def learn_account(self, account: str, customer_id: str) -> bool:
        """Remember that ``customer_id`` pays from ``account`` (for the rest of this run);
        False when there is no account or it was known already."""
        key = _account_key(account)
        if not key or customer_id in self._accounts.get(key, ()):
            return False
        self._accounts[key].add(customer_id)
        return True

    def intermediaries(self) -> tuple[frozenset[str], frozenset[str]]:
        """The learnt names (folded) and bank accounts (as compared) that stand for customers
        of more than one family, and so identify no one."""
        accounts = frozenset(
            k for k, owners in self._accounts.items() if not self._one_family(owners)
        )
        return self._shared_names, accounts

    def intermediary(self, name: str, account: str) -> dict[str, str]:
        """Which of a payment's payer name and bank account are an intermediary's (learnt for
        customers of more than one family), for the analyst: why a familiar name found no one."""
        found = {}
        if name and compact(name) in self._shared_names:
            found["payer_name"] = name
        if account and not self._one_family(self._accounts.get(_account_key(account), set())):
            found["payer_account"] = account
        return found

    @staticmethod
    def account_key(account: str) -> str:
        """``account`` as accounts are compared: upper case, letters and digits only."""
        return _account_key(account)

    def family(self, customer_id: str) -> frozenset[str]:
        """The customer's whole group: its topmost parent and everyone below it, however many
        levels down (a subsidiary's subsidiary pays and is paid for like any member). Who may
        pay for whom."""
        found = self._families.get(customer_id)
        if found is None:
            members: set[str] = set()
            todo = [self._root(customer_id)]
            while todo:
                member = todo.pop()
                if member not in members:
                    members.add(member)
                    todo.extend(self._children.get(member, ()))
            found = self._families[customer_id] = frozenset({customer_id, *members})
        return found

    def _root(self, customer_id: str) -> str:
        """The topmost parent above the customer (itself when it has none); a loop in the
        hierarchy stops where it comes back."""
        seen = {customer_id}
        while (parent := self._parent.get(customer_id)) is not None and parent not in seen:
            seen.add(parent)
            customer_id = parent
        return customer_id

    def by_account(self, account: str) -> list[PayerCandidate]:
        """The customers who pay from ``account``; none when it has paid for customers of more
        than one family (an intermediary's account, as with names)."""
        owners = self._accounts.get(_account_key(account), set()) if account else set()
        if not self._one_family(owners):
            return []
        return [PayerCandidate(c, 1.0, "bank_account", account) for c in sorted(owners)]

    def _one_family(self, customers: set[str]) -> bool:
        return len({self._root(c) for c in customers}) <= 1

    def by_number(self, *texts: str) -> list[PayerCandidate]:
        """Customers whose own number appears as a word in any of ``texts``."""
        found = {}
        for text in texts:
            for word in _WORD.findall(text):
                customer_id = self._numbers.get(word.upper())
                if customer_id:
                    found[customer_id] = PayerCandidate(customer_id, 1.0, "customer_number", word)
        return list(found.values())

    def by_name(self, name: str) -> list[PayerCandidate]:
        """Customers ``name`` may stand for, best first; cached per folded name."""
        folded = compact(name)
        if len(folded) < 3:
            return []
        cached = self._by_name.get(folded)
        if cached is None:
            cached = self._by_name[folded] = self._match_name(folded)
        return cached

    def _match_name(self, folded: str) -> list[PayerCandidate]:
        exact = self._names.get(folded, set())
        if exact:
            return [PayerCandidate(c, 1.0, "name", folded) for c in sorted(exact)]
        alias = self._aliases.get(folded, set())
        if alias:
            return [PayerCandidate(c, 0.98, "alias", folded) for c in sorted(alias)]
        if len(folded) >= MIN_PREFIX:
            longer = [n for n in self._choices if n.startswith(folded)]
            owners = {c for n in longer for c in self._owners(n)}
            if len(owners) == 1:
                return [PayerCandidate(owners.pop(), 0.95, "truncated_name", folded)]
        else:
            owners = set()
        ranked = process.extract(folded, self._choices, scorer=fuzz.token_sort_ratio, limit=5)
        candidates: dict[str, PayerCandidate] = {}
        for choice, score, _ in ranked:
            if score < 80:
                continue
            for customer_id in sorted(self._owners(choice)):
                if customer_id not in candidates:
                    candidates[customer_id] = PayerCandidate(
                        customer_id, round(score / 100 * 0.9, 4), "fuzzy_name", choice
                    )
        sharing = [candidates[c] for c in owners if c in candidates]
        if sharing and len(owners) <= MAX_SHARED_PREFIX:
            # 'ACME TOOL' cut from 'ACME TOOLS INC' or 'ACME TOOLING LLC': each is as likely
            # as the other, whichever spelling the cut name is closer to.
            best = max(sharing, key=lambda c: c.score)
            for customer_id in owners:
                candidates[customer_id] = replace(best, customer_id=customer_id)
        return sorted(candidates.values(), key=lambda c: (-c.score, c.customer_id))

    def in_text(self, text: str) -> list[PayerCandidate]:
        """Customers named inside free text ('ACH CREDIT SUMMIT GLASS GRO PAYMENT'): the words
        left once references and boilerplate are taken out, read as a (maybe cut) name.

        Banks often write the name twice around a boilerplate word ('ACME TOOLS PAYMENT ACME
        TOOLS INC'), so each stretch between boilerplate is read on its own as well as all the
        name words together; a customer keeps its best reading.
        """
        stretches: list[list[re.Match[str]]] = [[]]
        for word in _WORD.finditer(text):
            if word[0].casefold() in _BOILERPLATE or any(c.isdigit() for c in word[0]):
                stretches.append([])
            else:
                stretches[-1].append(word)
        readings = [text[s[0].start() : s[-1].end()] for s in stretches if s]
        if len(readings) > 1:
            readings.append(" ".join(w[0] for s in stretches for w in s))
        found: dict[str, PayerCandidate] = {}
        for reading in readings:
            if len(reading) < MIN_PREFIX:
                continue
            for c in self.by_name(reading):
                score = round(c.score * 0.95, 4)
                if c.customer_id not in found or found[c.customer_id].score < score:
                    found[c.customer_id] = PayerCandidate(c.customer_id, score, c.source, c.detail)
        return sorted(found.values(), key=lambda c: (-c.score, c.customer_id))

    def _owners(self, folded: str) -> set[str]:
        return self._names.get(folded, set()) | self._aliases.get(folded, set())


def _account_key(account: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", account.upper())

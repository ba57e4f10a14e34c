"""Numbered schema migrations of the ledger, applied in order and never edited once released.

Money columns are ``BIGINT`` minor units beside a ``currency`` column; timestamps are naive UTC
``TIMESTAMP``; JSON documents are canonical JSON text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: ``version`` counts from 1, ``sql`` runs in one transaction."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


_INITIAL = """
CREATE TABLE customers (
    customer_id   VARCHAR PRIMARY KEY,
    name          VARCHAR NOT NULL,
    parent_id     VARCHAR,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

-- Names a customer pays under, and where we learned them (erp, analyst, model).
CREATE TABLE customer_aliases (
    customer_id   VARCHAR NOT NULL,
    alias         VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    learned_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (customer_id, alias)
);

CREATE TABLE customer_bank_accounts (
    account       VARCHAR NOT NULL,
    customer_id   VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    learned_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (account, customer_id)
);

-- Invoices and credit memos (doc_type); credit memos carry negative amounts.
CREATE TABLE invoices (
    invoice_number  VARCHAR PRIMARY KEY,
    customer_id     VARCHAR NOT NULL,
    doc_type        VARCHAR NOT NULL CHECK (doc_type IN ('invoice', 'credit_memo')),
    issue_date      DATE NOT NULL,
    due_date        DATE NOT NULL,
    currency        VARCHAR NOT NULL,
    amount_minor    BIGINT NOT NULL,
    open_minor      BIGINT NOT NULL,
    terms           VARCHAR NOT NULL,
    po_number       VARCHAR NOT NULL,
    source_file_id  VARCHAR,
    updated_at      TIMESTAMP NOT NULL
);

CREATE TABLE payments (
    payment_id       VARCHAR PRIMARY KEY,
    account          VARCHAR NOT NULL,
    currency         VARCHAR NOT NULL,
    amount_minor     BIGINT NOT NULL,
    value_date       DATE,
    booking_date     DATE,
    payer_name       VARCHAR NOT NULL,
    payer_account    VARCHAR NOT NULL,
    bank_reference   VARCHAR NOT NULL,
    end_to_end_id    VARCHAR NOT NULL,
    remittance_text  VARCHAR NOT NULL,
    fingerprint      VARCHAR NOT NULL,
    occurrence       INTEGER NOT NULL,
    source_file_id   VARCHAR,
    status           VARCHAR NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    UNIQUE (fingerprint, occurrence)
);

CREATE TABLE remittance_advices (
    advice_id          VARCHAR PRIMARY KEY,
    payer_name         VARCHAR NOT NULL,
    payment_reference  VARCHAR NOT NULL,
    payment_date       DATE,
    currency           VARCHAR,
    total_minor        BIGINT,
    confidence         DOUBLE NOT NULL,
    source_file_id     VARCHAR,
    payment_id         VARCHAR,
    details            VARCHAR NOT NULL,
    created_at         TIMESTAMP NOT NULL
);

CREATE TABLE remittance_lines (
    advice_id        VARCHAR NOT NULL,
    line_no          INTEGER NOT NULL,
    reference        VARCHAR NOT NULL,
    currency         VARCHAR NOT NULL,
    paid_minor       BIGINT NOT NULL,
    gross_minor      BIGINT,
    discount_minor   BIGINT,
    deduction_minor  BIGINT,
    reason           VARCHAR NOT NULL,
    invoice_date     DATE,
    confidence       DOUBLE NOT NULL,
    PRIMARY KEY (advice_id, line_no)
);

CREATE TABLE applications (
    application_id    VARCHAR PRIMARY KEY,
    payment_id        VARCHAR NOT NULL,
    invoice_number    VARCHAR,
    currency          VARCHAR NOT NULL,
    applied_minor     BIGINT NOT NULL,
    adjustment_minor  BIGINT NOT NULL,
    kind              VARCHAR NOT NULL,
    reason            VARCHAR NOT NULL,
    method            VARCHAR NOT NULL,
    confidence        DOUBLE NOT NULL,
    model_version     VARCHAR NOT NULL,
    evidence          VARCHAR NOT NULL,
    decided_by        VARCHAR NOT NULL,
    decided_at        TIMESTAMP NOT NULL,
    reversed_at       TIMESTAMP
);

CREATE TABLE exceptions (
    exception_id  VARCHAR PRIMARY KEY,
    payment_id    VARCHAR NOT NULL,
    reason        VARCHAR NOT NULL,
    suggestions   VARCHAR NOT NULL,
    status        VARCHAR NOT NULL,
    assignee      VARCHAR NOT NULL,
    version       INTEGER NOT NULL,
    resolution    VARCHAR,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE ingested_files (
    file_id            VARCHAR PRIMARY KEY,
    sha256             VARCHAR NOT NULL UNIQUE,
    name               VARCHAR NOT NULL,
    format             VARCHAR NOT NULL,
    status             VARCHAR NOT NULL,
    quarantine_reason  VARCHAR NOT NULL,
    counts             VARCHAR NOT NULL,
    received_at        TIMESTAMP NOT NULL
);

CREATE TABLE predictions (
    entity         VARCHAR NOT NULL,
    entity_id      VARCHAR NOT NULL,
    target         VARCHAR NOT NULL,
    model_version  VARCHAR NOT NULL,
    as_of          DATE NOT NULL,
    predicted_at   TIMESTAMP NOT NULL,
    value          DOUBLE,
    p10            DOUBLE,
    p90            DOUBLE,
    details        VARCHAR NOT NULL
);

-- Append-only; each entry's hash covers the previous hash, so edits and deletions show.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    recorded_at TIMESTAMP NOT NULL,
    actor      VARCHAR NOT NULL,
    action     VARCHAR NOT NULL,
    entity     VARCHAR NOT NULL,
    entity_id  VARCHAR NOT NULL,
    payload    VARCHAR NOT NULL,
    prev_hash  VARCHAR NOT NULL,
    hash       VARCHAR NOT NULL
);

-- The newest link, kept in the same transaction as each append: a truncated tail shows.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  VARCHAR NOT NULL
);

CREATE INDEX invoices_customer ON invoices (customer_id);
CREATE INDEX payments_status ON payments (status);
CREATE INDEX applications_payment ON applications (payment_id);
CREATE INDEX applications_invoice ON applications (invoice_number);
CREATE INDEX exceptions_payment ON exceptions (payment_id);
"""

_CASH_APPLICATION = """
-- The payer's own reference (cheque number, customer reference): how a lockbox stub finds its cheque.
ALTER TABLE payments ADD COLUMN customer_reference VARCHAR DEFAULT '';

-- One row per `arpilot match`: which scorer decided, at which threshold, with what outcome.
CREATE TABLE match_runs (
    run_id          VARCHAR PRIMARY KEY,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    scorer          VARCHAR NOT NULL,
    scorer_version  VARCHAR NOT NULL,
    threshold       DOUBLE NOT NULL,
    counts          VARCHAR NOT NULL
);

ALTER TABLE applications ADD COLUMN run_id VARCHAR DEFAULT '';
ALTER TABLE exceptions ADD COLUMN run_id VARCHAR DEFAULT '';
ALTER TABLE exceptions ADD COLUMN evidence VARCHAR DEFAULT '{}';
ALTER TABLE remittance_advices ADD COLUMN linked_by VARCHAR DEFAULT '';
"""

_ARRIVAL_ORDER = """
-- Where in its bank file a payment stood (line, or entry for XML): with the file's ingest time it
-- is the order the bank reported payments in, so of two copies of one payment on one day the
-- first reported is applied and the second is the suspected duplicate.
ALTER TABLE payments ADD COLUMN source_line INTEGER;
"""

_ERP_POSTING = """
-- What the ERP's newest open-items snapshot said was open. The ledger's open amount differs from
-- it by arpilot's applications (and reversals) that no snapshot has shown yet, so a snapshot
-- taken before they were posted in the ERP does not reopen what arpilot applied.
ALTER TABLE invoices ADD COLUMN erp_open_minor BIGINT;
UPDATE invoices SET erp_open_minor = open_minor + coalesce((
    SELECT sum(a.applied_minor + a.adjustment_minor) FROM applications a
    WHERE a.invoice_number = invoices.invoice_number AND a.reversed_at IS NULL
), 0);
"""

_RETURNS = """
-- The bank's transaction code, and for a debit that takes back a receipt (a returned cheque or
-- ACH credit, a reversed transfer: status 'return') the receipt it takes back once linked.
ALTER TABLE payments ADD COLUMN type_code VARCHAR DEFAULT '';
ALTER TABLE payments ADD COLUMN returns_payment_id VARCHAR;
"""

_STATEMENT_CONTINUITY = """
-- Statements with both balances, and which payment each of their transactions is: a statement
-- opening where a stored one closed follows it, so a transaction identical to one of the earlier
-- statement's (same day, amount, payer, text, no reference) is a second payment, not a copy.
CREATE TABLE bank_statements (
    statement_key   VARCHAR PRIMARY KEY,
    account         VARCHAR NOT NULL,
    currency        VARCHAR NOT NULL,
    statement_id    VARCHAR NOT NULL,
    from_date       DATE,
    to_date         DATE,
    opening_minor   BIGINT NOT NULL,
    closing_minor   BIGINT NOT NULL,
    source_file_id  VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX bank_statements_account ON bank_statements (account, currency);

CREATE TABLE statement_entries (
    statement_key   VARCHAR NOT NULL,
    payment_id      VARCHAR NOT NULL,
    PRIMARY KEY (statement_key, payment_id)
);
"""

_ANALYST_REVERSALS = """
-- Who took an application back and why, when an analyst did (a wrong application found later);
-- blank for one a returned receipt took back.
ALTER TABLE applications ADD COLUMN reversed_by VARCHAR DEFAULT '';
ALTER TABLE applications ADD COLUMN reversal_reason VARCHAR DEFAULT '';
"""

_ERP_PENDING = """
-- Items whose ERP snapshot did not show all of arpilot's work when last imported, and since when
-- that work is pending: an application a snapshot had not posted, reversed after it, is still
-- one the ERP may post later. Items in step with the ERP have no row.
CREATE TABLE erp_pending (
    invoice_number  VARCHAR PRIMARY KEY,
    since           TIMESTAMP NOT NULL
);
-- Items out of step when the ledger is upgraded: since when is not known, so all of arpilot's
-- work on them counts until a snapshot shows them in step.
INSERT INTO erp_pending
SELECT invoice_number, TIMESTAMP '1970-01-01' FROM invoices
WHERE erp_open_minor IS DISTINCT FROM open_minor;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial ledger", _INITIAL),
    Migration(2, "cash application", _CASH_APPLICATION),
    Migration(3, "payment arrival order", _ARRIVAL_ORDER),
    Migration(4, "open amounts as the ERP last showed them", _ERP_POSTING),
    Migration(5, "returned receipts", _RETURNS),
    Migration(6, "statement continuity", _STATEMENT_CONTINUITY),
    Migration(7, "applications reversed by analysts", _ANALYST_REVERSALS),
    Migration(8, "arpilot's work an ERP snapshot has not shown", _ERP_PENDING),
)
"""Every migration, oldest first. Append new ones; never change a released one."""

LATEST_VERSION = MIGRATIONS[-1].version

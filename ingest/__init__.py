"""Reading bank statements, remittance documents, EDI 820 and ERP open items into ledger records."""

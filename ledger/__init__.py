"""The system of record: money, domain records, the DuckDB schema, repository functions and the audit chain."""

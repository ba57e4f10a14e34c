"""Point-in-time (as-of) polars feature builders for the pay-date, risk and match models."""

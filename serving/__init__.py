"""The FastAPI service: risk scores, the exception queue and the audit trail over HTTP."""

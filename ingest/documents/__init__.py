"""Remittance documents: text PDFs, scans, images, e-mails and CSV advices into advices."""

"""Seeded synthetic AR worlds with ground truth, written in the real bank and remittance formats."""

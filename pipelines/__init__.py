"""Prefect flows and the arpilot command line that run ingest, matching and models."""

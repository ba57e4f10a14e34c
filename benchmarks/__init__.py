"""Reproducible benchmarks; `make bench` writes their figures to BENCHMARKS.md."""

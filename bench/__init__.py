"""Benchmarks of the local server against a minimal relay: `python -m bench`."""

"""Benchmarks of gen-constraints against the tools it delegates to (``python bench/run.py``)."""

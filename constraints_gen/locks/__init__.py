"""Locks: compile (uv, pip-tools), the lock file, freshness, refresh, and emit."""

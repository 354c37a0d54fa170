"""Test-support helpers (local TimescaleDB-enabled PGlite server for migration tests)."""

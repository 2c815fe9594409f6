"""Scorechain's test suites (a package, so tests/oracle is tests.oracle, never the oracle package)."""

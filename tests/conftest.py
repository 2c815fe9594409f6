"""Shared test settings. Chain fixtures live in the conftest of each chain-facing folder, so the
pure-Python suites (models, oracle units) also run with `pytest -p no:pytest-brownie`."""

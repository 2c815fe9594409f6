import pytest


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    """Every test starts from the same chain state (brownie snapshots and reverts)."""
    pass

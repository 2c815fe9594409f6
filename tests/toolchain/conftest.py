import pytest

from scripts import brownie_rpc_quirks

brownie_rpc_quirks.install()  # Ganache 7 receipt race: see oracle.rpc_quirks


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    """Every test starts from the same chain state (brownie snapshots and reverts)."""
    pass

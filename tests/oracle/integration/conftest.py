"""Chain fixtures for the oracle integration tests (run under `brownie test --network anvil-c`).

No fn_isolation here: the oracle nodes are separate processes talking to the same anvil, and a
brownie snapshot/revert under them would rewind the chain they follow. Instead every cluster
deploys a fresh Scorechain system, so tests do not share chain state.

The clusters are scripts.oracle_testbed.OracleTestbed: a deployed system with its nodes run by
scripts.oracle_cluster (the same supervisor the demo and the benchmarks use).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts import brownie_rpc_quirks
from scripts.oracle_cluster import ROOT
from scripts.oracle_testbed import OracleTestbed

brownie_rpc_quirks.install()  # Ganache 7 receipt race: see oracle.rpc_quirks


def default_model_path() -> Path:
    override = os.environ.get("SCORECHAIN_TEST_MODEL")
    if override:
        return Path(override)
    bundle = ROOT / "models" / "default"
    if not (bundle / "reference.json").is_file():
        pytest.skip("no committed default model bundle under models/default/")
    return bundle


@pytest.fixture(scope="session")
def model_path() -> Path:
    return default_model_path()


@pytest.fixture
def make_cluster(tmp_path, model_path):
    made: list[OracleTestbed] = []

    def make(**kw) -> OracleTestbed:
        d = tmp_path / f"cluster{len(made)}"
        d.mkdir()
        c = OracleTestbed(d, model_path, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()

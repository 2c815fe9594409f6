"""The daemon's batch never asks for more gas than the chain's blocks hold."""

import logging
from types import SimpleNamespace

import pytest

from oracle.daemon import Daemon
from oracle.settings import TX_BASE_GAS, load_settings


def daemon(gas_limit, batch_size=70):
    s = load_settings(None, env={"ORACLE_BATCH_SIZE": str(batch_size)})
    chain = SimpleNamespace(block_gas_limit=lambda: gas_limit)
    return Daemon(settings=s, node=None, chain=chain, sender=None, store=None)


@pytest.mark.parametrize("gas_limit", [30_000_000, 12_000_000])  # 79 x 150k fit in 12M
def test_configured_batch_is_kept_when_it_fits(gas_limit, caplog):
    with caplog.at_level(logging.WARNING, logger="oracle.daemon"):
        assert daemon(gas_limit).batch_size() == 70
    assert not caplog.records


@pytest.mark.parametrize("gas_limit", [10_000_000, 5_000_000, 200_000])
def test_batch_is_capped_to_the_chain_block_gas_limit(gas_limit, caplog):
    d = daemon(gas_limit)
    per = d.s.gas_limit_per_attestation
    with caplog.at_level(logging.WARNING, logger="oracle.daemon"):
        got = d.batch_size()
        d.batch_size()  # the warning is logged once, not every step
    assert got == max(1, (gas_limit - TX_BASE_GAS) // per)
    assert TX_BASE_GAS + got * per <= gas_limit or got == 1
    assert len([r for r in caplog.records if "capped" in r.getMessage()]) == 1


def test_a_chain_that_reports_no_gas_limit_keeps_the_setting():
    assert daemon(0).batch_size() == 70

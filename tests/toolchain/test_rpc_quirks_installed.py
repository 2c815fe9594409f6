"""brownie's connection carries the Ganache 7 receipt-race fix (oracle.rpc_quirks)."""

import pytest
from brownie import accounts, web3

from scripts import brownie_rpc_quirks


@pytest.mark.ganache
def test_receipt_race_fix_is_on_the_connection_and_receipts_still_read():
    assert brownie_rpc_quirks.installed()
    tx = accounts[0].transfer(accounts[1], 1)
    assert web3.eth.get_transaction_receipt(tx.txid)["status"] == 1


def test_install_is_idempotent():
    before = len(list(web3.middleware_onion))
    brownie_rpc_quirks.install()
    brownie_rpc_quirks.install()
    assert len(list(web3.middleware_onion)) == before

"""brownie's connection carries the Ganache 7 receipt-race fix (oracle.rpc_quirks)."""

import pytest
from brownie import accounts, web3
from web3.middleware import Web3Middleware

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


class _FirstReceiptUnreadable(Web3Middleware):
    """anvil's lag, forced: the first receipt read after arming answers null although mined."""

    nulled = 0

    def wrap_make_request(self, make_request):
        def middleware(method, params):
            response = make_request(method, params)
            if method == "eth_getTransactionReceipt" and type(self).nulled == 0:
                type(self).nulled += 1
                return {**response, "result": None}
            return response

        return middleware


def test_a_mined_transaction_whose_receipt_lags_is_confirmed_not_dropped():
    _FirstReceiptUnreadable.nulled = 0
    web3.middleware_onion.add(_FirstReceiptUnreadable, name="test_receipt_lag")
    try:
        tx = accounts[0].transfer(accounts[1], 1)
    finally:
        web3.middleware_onion.remove("test_receipt_lag")
    assert _FirstReceiptUnreadable.nulled == 1  # brownie alone calls this "dropped without known replacement"
    assert tx.status == 1 and tx.block_number == web3.eth.get_transaction_receipt(tx.txid)["blockNumber"]


def test_the_recheck_gives_up_on_a_transaction_the_chain_does_not_have():
    assert not brownie_rpc_quirks.receipt_appears("0x" + "ab" * 32, within_s=0.2)

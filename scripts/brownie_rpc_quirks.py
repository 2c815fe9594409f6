"""Adds Scorechain's RPC work-arounds (oracle.rpc_quirks) to brownie's web3 connection.

brownie's own middleware hook cannot be used: its base class is compiled by mypyc and Python
classes cannot inherit from it. The middleware goes straight onto brownie's `web3` object instead.
brownie re-creates only the provider and its own middlewares on (re)connect, so ours stays for
the life of the process; it changes nothing but the one Ganache answer it is written for, so it
is installed whatever the chain. `install()` is idempotent. Every brownie entry point of the
project calls it: the numbered scripts and console helpers (through scripts.network_context),
the demo, and the chain-facing test conftests. A second middleware re-asks a null
transaction look-up for half a second (anvil's look-up lag, see oracle.rpc_quirks).

A false "dropped" verdict is re-checked. brownie's confirmation thread reads the sender's
transaction count first and the receipt second, and takes "count past the nonce, no receipt" as
dropped; anvil raises the count before the mined block's receipts are readable, so on a loaded
machine a mined transaction failed with "Tx dropped without known replacement" (seen in CI on
test and test-bed set-ups). A null receipt is the normal "pending" answer, so this cannot be fixed
per RPC call; instead the thread's work is wrapped: after a "dropped" verdict the receipt is asked
for up to `DROP_RECHECK_S`, and if it appears the confirmation runs again. Waiters see only the final
verdict: the receipt's confirmation event is held back until then (`_HeldEvent`).

It also silences one false warning of the same build: brownie's Rpc methods warn "rpc.sleep
should not be called directly, use chain.sleep instead" unless the calling frame is `chain`'s,
and the mypyc-compiled `chain` has no Python frame, so every chain.sleep/mine/snapshot warned.
"""

from __future__ import annotations

import warnings

import time

from brownie import web3
from brownie.network.transaction import Status, TransactionReceipt
from web3.exceptions import TransactionNotFound

from oracle.rpc_quirks import ReceiptRaceRetry, TransactionLookupRetry

NAME = "scorechain_receipt_race"
LOOKUP_NAME = "scorechain_transaction_lookup"
DROP_RECHECK_S = 10.0
DROP_RECHECK_DELAY_S = 0.05
DROP_RECHECKS = 3

_await_confirmation = TransactionReceipt._await_confirmation


def receipt_appears(txid: str, *, within_s: float = DROP_RECHECK_S) -> bool:
    """True once the chain returns a mined receipt for `txid` within `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            receipt = web3.eth.get_transaction_receipt(txid)
            if receipt is not None and receipt.get("blockHash") is not None:
                return True
        except TransactionNotFound:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(DROP_RECHECK_DELAY_S)


class _HeldEvent:
    """Stands in for a receipt's confirmation event while its verdict may still change.

    Whoever waits (brownie's account code waits on the event, not on the thread) waits on the
    real event; a `set()` is only noted and passed on once the verdict is final."""

    def __init__(self, real) -> None:
        self.real = real
        self.was_set = False

    def set(self) -> None:
        self.was_set = True

    def clear(self) -> None:
        self.was_set = False

    def is_set(self) -> bool:
        return self.real.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.real.wait(timeout)


def _await_confirmation_rechecking_drops(self: TransactionReceipt, block_number: int | None = None,
                                         required_confs: int = 1) -> None:
    held = _HeldEvent(self._confirmed)
    self._confirmed = held
    try:
        for _ in range(DROP_RECHECKS):
            _await_confirmation(self, block_number, required_confs)
            if self.status != Status.Dropped or not receipt_appears(self.txid):
                return
            self.status = Status.Pending  # mined after all: confirm it again
            held.clear()
    finally:
        self._confirmed = held.real
        if held.was_set:  # as brownie would have; an exception in its thread sets nothing
            held.real.set()


def install() -> None:
    if not installed():
        web3.middleware_onion.add(ReceiptRaceRetry, name=NAME)
    if LOOKUP_NAME not in web3.middleware_onion:
        web3.middleware_onion.add(TransactionLookupRetry, name=LOOKUP_NAME)
    TransactionReceipt._await_confirmation = _await_confirmation_rechecking_drops
    warnings.filterwarnings("ignore", message=r"rpc\.\w+ should not be called directly",
                            category=FutureWarning)


def installed() -> bool:
    return (NAME in web3.middleware_onion and LOOKUP_NAME in web3.middleware_onion
            and TransactionReceipt._await_confirmation is _await_confirmation_rechecking_drops)

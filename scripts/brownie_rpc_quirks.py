"""Adds Scorechain's RPC work-arounds (oracle.rpc_quirks) to brownie's web3 connection.

brownie's own middleware hook cannot be used: its base class is compiled by mypyc and Python
classes cannot inherit from it. The middleware goes straight onto brownie's `web3` object instead.
brownie re-creates only the provider and its own middlewares on (re)connect, so ours stays for
the life of the process; it changes nothing but the one Ganache answer it is written for, so it
is installed whatever the chain. `install()` is idempotent. Every brownie entry point of the
project calls it: the numbered scripts and console helpers (through scripts.network_context),
the demo, and the chain-facing test conftests. A second middleware re-asks a null
transaction look-up for half a second (anvil's look-up lag, see oracle.rpc_quirks).

It also silences one false warning of the same build: brownie's Rpc methods warn "rpc.sleep
should not be called directly, use chain.sleep instead" unless the calling frame is `chain`'s,
and the mypyc-compiled `chain` has no Python frame, so every chain.sleep/mine/snapshot warned.
"""

from __future__ import annotations

import warnings

from brownie import web3

from oracle.rpc_quirks import ReceiptRaceRetry, TransactionLookupRetry

NAME = "scorechain_receipt_race"
LOOKUP_NAME = "scorechain_transaction_lookup"


def install() -> None:
    if not installed():
        web3.middleware_onion.add(ReceiptRaceRetry, name=NAME)
    if LOOKUP_NAME not in web3.middleware_onion:
        web3.middleware_onion.add(TransactionLookupRetry, name=LOOKUP_NAME)
    warnings.filterwarnings("ignore", message=r"rpc\.\w+ should not be called directly",
                            category=FutureWarning)


def installed() -> bool:
    return NAME in web3.middleware_onion and LOOKUP_NAME in web3.middleware_onion

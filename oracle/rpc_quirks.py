"""Work-arounds for known bugs of local-chain RPC servers, as web3 middleware.

Ganache 7.9.2 receipt race
    Ganache stores a mined block's transactions before their receipts. An
    `eth_getTransactionReceipt` that lands between the two finds the transaction, dereferences the
    missing receipt and answers JSON-RPC error -32700 "Cannot read properties of undefined
    (reading 'toJSON')" instead of a receipt or null. brownie's confirmation thread dies on that
    error and the transaction's `wait()` then blocks forever (seen in CI: the Ganache demo hung
    until the job's time limit). A receipt read is idempotent, so the middleware asks again a few
    milliseconds later, and after `RECEIPT_RACE_ATTEMPTS` answers null ("not mined yet"), which
    every caller already polls on.

Transaction look-up lag (anvil under load)
    brownie waits until the sender's transaction count passes a transaction's nonce, then reads
    the transaction by hash; a null answer there is taken as "dropped" and the call fails with
    "Tx dropped without known replacement", although nothing else sends from that account. Seen
    twice in one CI run of the oracle fault tests (three nodes polling the same anvil), on
    borrowers' first transactions. `eth_getTransactionByHash` is idempotent, so a null answer is
    asked again for up to `LOOKUP_ATTEMPTS` x `LOOKUP_DELAY_S` (5 s) before it is passed on;
    a transaction that really is unknown costs its caller those seconds once. (Half a second was
    not enough on a 2-core machine at load 8: the lag then reached seconds.)

`ReceiptRaceRetry` is a plain web3 middleware (used by `oracle.chain`);
`scripts.brownie_rpc_quirks` registers it and `TransactionLookupRetry` on brownie's web3.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from web3.exceptions import Web3RPCError
from web3.middleware import Web3Middleware

RECEIPT_RACE_MESSAGE = "reading 'toJSON'"
RECEIPT_RACE_ATTEMPTS = 50
RECEIPT_RACE_DELAY_S = 0.02
LOOKUP_ATTEMPTS = 250
LOOKUP_DELAY_S = 0.02

MakeRequest = Callable[[str, Any], dict[str, Any]]


def is_receipt_race(response: dict[str, Any] | None) -> bool:
    """True for Ganache's half-stored-block answer to eth_getTransactionReceipt."""
    if not isinstance(response, dict):
        return False
    error = response.get("error")
    return isinstance(error, dict) and RECEIPT_RACE_MESSAGE in str(error.get("message", ""))


def request_receipt_retrying_race(make_request: MakeRequest, method: str, params: Any,
                                  *, attempts: int = RECEIPT_RACE_ATTEMPTS,
                                  delay_s: float = RECEIPT_RACE_DELAY_S,
                                  sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Send one request; a receipt read that hits the race is asked again, then reported as null.

    Every other method and every other error passes through untouched."""
    if method != "eth_getTransactionReceipt":
        return make_request(method, params)
    response: dict[str, Any] = {}
    for attempt in range(attempts):
        try:
            response = make_request(method, params)
        except Web3RPCError as exc:  # some middleware stacks raise instead of returning the error
            if not is_receipt_race(exc.rpc_response):
                raise
            response = exc.rpc_response
        if not is_receipt_race(response):
            return response
        if attempt + 1 < attempts:
            sleep(delay_s)
    return {"jsonrpc": "2.0", "id": response.get("id"), "result": None}


class ReceiptRaceRetry(Web3Middleware):
    """web3 middleware form of `request_receipt_retrying_race`."""

    def wrap_make_request(self, make_request: MakeRequest) -> MakeRequest:
        def middleware(method: str, params: Any) -> dict[str, Any]:
            return request_receipt_retrying_race(make_request, method, params)

        return middleware


def request_transaction_retrying_lag(make_request: MakeRequest, method: str, params: Any,
                                     *, attempts: int = LOOKUP_ATTEMPTS, delay_s: float = LOOKUP_DELAY_S,
                                     sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Send one request; a transaction look-up that answers null is asked again a few times.

    Every other method, and every non-null answer, passes through untouched."""
    if method != "eth_getTransactionByHash":
        return make_request(method, params)
    response = make_request(method, params)
    for _ in range(attempts - 1):
        if not isinstance(response, dict) or response.get("result") is not None or "error" in response:
            return response
        sleep(delay_s)
        response = make_request(method, params)
    return response


class TransactionLookupRetry(Web3Middleware):
    """web3 middleware form of `request_transaction_retrying_lag`."""

    def wrap_make_request(self, make_request: MakeRequest) -> MakeRequest:
        def middleware(method: str, params: Any) -> dict[str, Any]:
            return request_transaction_retrying_lag(make_request, method, params)

        return middleware

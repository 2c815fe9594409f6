"""The client side of a borrower's pull: sign a ScoreRequest (and, for a delegate, carry the
borrower's ScoreDelegation) with eth-account — what a wallet's ``eth_signTypedData_v4`` does — and
POST it to a node's public listener.

    body = score_request(borrower_key, chain_id, registry)          # the borrower asks
    r = requests.post(node_url + "/v1/score", json=body)

    grant = delegation(borrower_key, delegate_address, chain_id, registry, ttl_s=86400)
    body = score_request(delegate_key, chain_id, registry, borrower=b, delegation=grant)
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import requests
from eth_account import Account
from eth_account.messages import encode_typed_data

from oracle import request_types

DEFAULT_TTL_S = 120


def _sign(private_key: Any, name: str, message: dict, chain_id: int, registry: str) -> str:
    full = request_types.typed_data_message(name, message, chain_id, registry)
    signed = Account.sign_message(encode_typed_data(full_message=full), private_key)
    return "0x" + bytes(signed.signature).hex()


def delegation(borrower_key: Any, delegate: str, chain_id: int, registry: str, *,
               ttl_s: int = 86_400, now: float | None = None) -> dict:
    """The borrower's signed grant letting `delegate` pull their score until now + ttl_s."""
    borrower = Account.from_key(borrower_key).address
    msg = request_types.normalise("ScoreDelegation", {
        "borrower": borrower, "delegate": delegate,
        "expiresAt": int((now or time.time()) + ttl_s)})
    return {"message": request_types.to_json("ScoreDelegation", msg),
            "signature": _sign(borrower_key, "ScoreDelegation", msg, chain_id, registry)}


def score_request(requester_key: Any, chain_id: int, registry: str, *,
                  borrower: str | None = None, delegation: dict | None = None,
                  ttl_s: int = DEFAULT_TTL_S, now: float | None = None, proof: bool = False) -> dict:
    """A signed pull request body: by the borrower (`borrower` omitted) or a delegate. `proof`:
    ask for a zero-knowledge proof of the score instead of a signed PD (a zk-scored model)."""
    requester = Account.from_key(requester_key).address
    msg = request_types.normalise("ScoreRequest", {
        "borrower": borrower or requester, "requester": requester,
        "requestId": secrets.token_bytes(32), "expiresAt": int((now or time.time()) + ttl_s)})
    body = {"request": request_types.to_json("ScoreRequest", msg),
            "signature": _sign(requester_key, "ScoreRequest", msg, chain_id, registry)}
    if delegation is not None:
        body["delegation"] = delegation
    if proof:
        body["proof"] = True
    return body


def pull_score(node_url: str, requester_key: Any, chain_id: int, registry: str, *,
               timeout: float = 10, **kw: Any) -> requests.Response:
    """POST a freshly signed request to `node_url`/v1/score; the response as it came."""
    return requests.post(node_url.rstrip("/") + "/v1/score",
                         json=score_request(requester_key, chain_id, registry, **kw),
                         timeout=timeout)

"""Who may ask a node for what: checks of borrower pull requests and of peer requests.

Pure checks with the clock and the registered signer set passed in; the typed messages are
defined in `oracle.request_types`. Every refusal is an `AuthError` whose text says why and never
carries a score.

* **Pull** (``POST /v1/score``): a `ScoreRequest` signed by its requester, who is the borrower, or
  a delegate presenting the borrower's signed `ScoreDelegation`. Expired or too long-lived requests
  are refused; a request is used once (a bounded seen-request cache, `ReplayGuard`).
* **Peer** (``POST /v1/sign`` on the peer listener): a `PeerRequest` over the exact body, in
  ``X-Scorechain-*`` headers, signed by a node key that is in the chain's signer set, with a
  timestamp inside a window and a request id used once.
"""

from __future__ import annotations

import heapq
import secrets
import threading
from typing import Any, Mapping

from eth_hash.auto import keccak

from oracle import keys, request_types
from oracle.request_types import RequestFormatError

PEER_HEADER = "x-scorechain-peer"
TIMESTAMP_HEADER = "x-scorechain-timestamp"
REQUEST_ID_HEADER = "x-scorechain-request-id"
SIGNATURE_HEADER = "x-scorechain-signature"
SIGN_PATH = "/v1/sign"


class AuthError(Exception):
    """A request this node will not serve. 401: not authenticated (no valid signature, expired);
    403: authenticated but not allowed; 409: replayed; 503: the replay cache is full."""

    def __init__(self, reason: str, status: int = 401) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


class ReplayGuard:
    """Request ids seen, each kept until its request expires, at most `max_entries` of them.

    When full of unexpired ids it refuses new requests (503) instead of forgetting an id early,
    which would let that request be replayed. Thread-safe."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._seen: dict[bytes, float] = {}
        self._expiry: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, key: bytes, expires_at: float, now: float) -> None:
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                _, old = heapq.heappop(self._expiry)
                self._seen.pop(old, None)
            if key in self._seen:
                raise AuthError("request already used (replay refused)", status=409)
            if len(self._seen) >= self.max_entries:
                raise AuthError("too many requests in flight; retry later", status=503)
            self._seen[key] = expires_at
            heapq.heappush(self._expiry, (expires_at, key))


def _signature(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 132:
        raise AuthError(f"{what}: expected a 0x-prefixed 65-byte signature")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise AuthError(f"{what}: invalid hex") from None


def _recover(digest: bytes, signature: bytes, what: str) -> str:
    try:
        return keys.recover(digest, signature)
    except ValueError as exc:
        raise AuthError(f"{what}: {exc}") from None


# --- borrower pull ---------------------------------------------------------------------------------
def verify_pull(body: Any, *, separator: bytes, now: float, max_ttl_s: float,
                replay: ReplayGuard) -> tuple[str, str]:
    """(borrower, requester) of an authorised pull request, else AuthError. Body:
    ``{"request": ScoreRequest, "signature": "0x…", "delegation": {"message": ScoreDelegation,
    "signature": "0x…"}}`` (the delegation only when the requester is not the borrower)."""
    if not isinstance(body, dict) or "request" not in body or "signature" not in body:
        raise AuthError("a signed ScoreRequest is required: {request, signature[, delegation]}")
    unknown = sorted(body.keys() - {"request", "signature", "delegation", "proof"})
    if unknown:
        raise AuthError(f"unknown fields {unknown}", status=422)
    if not isinstance(body.get("proof", False), bool):
        raise AuthError("proof must be true or false", status=422)
    try:
        req = request_types.normalise("ScoreRequest", body["request"])
    except RequestFormatError as exc:
        raise AuthError(str(exc), status=422) from None
    if req["expiresAt"] <= now:
        raise AuthError("request expired")
    if req["expiresAt"] - now > max_ttl_s:
        raise AuthError(f"request expires too far ahead (at most {int(max_ttl_s)} s)")
    digest = request_types.digest("ScoreRequest", req, separator)
    signer = _recover(digest, _signature(body["signature"], "signature"), "signature")
    if signer != req["requester"]:
        raise AuthError("request signature is not the requester's")
    if req["requester"] != req["borrower"]:
        _check_delegation(body.get("delegation"), req, separator, now)
    elif body.get("delegation") is not None:
        raise AuthError("a borrower asking for their own score needs no delegation", status=422)
    replay.admit(b"pull" + digest, req["expiresAt"], now)
    return req["borrower"], req["requester"]


def _check_delegation(raw: Any, req: dict[str, Any], separator: bytes, now: float) -> None:
    if raw is None:
        raise AuthError("only the borrower or an address they delegated may pull this score",
                        status=403)
    if not isinstance(raw, dict) or raw.keys() != {"message", "signature"}:
        raise AuthError("delegation must be {message, signature}", status=422)
    try:
        msg = request_types.normalise("ScoreDelegation", raw["message"])
    except RequestFormatError as exc:
        raise AuthError(str(exc), status=422) from None
    if msg["borrower"] != req["borrower"] or msg["delegate"] != req["requester"]:
        raise AuthError("delegation is for another borrower or delegate", status=403)
    if msg["expiresAt"] <= now:
        raise AuthError("delegation expired", status=403)
    who = _recover(request_types.digest("ScoreDelegation", msg, separator),
                   _signature(raw["signature"], "delegation signature"), "delegation signature")
    if who != req["borrower"]:
        raise AuthError("delegation is not signed by the borrower", status=403)


# --- peers -----------------------------------------------------------------------------------------
def peer_headers(signer: keys.Signer, separator: bytes, body: bytes, now: int,
                 path: str = SIGN_PATH) -> dict[str, str]:
    """The headers that authenticate `body` sent by this node to a peer's `path`."""
    msg = {"peer": signer.address, "path": path, "bodyHash": keccak(body), "timestamp": int(now),
           "requestId": secrets.token_bytes(32)}
    sig = signer.sign_digest(request_types.digest("PeerRequest", msg, separator))
    return {PEER_HEADER: signer.address, TIMESTAMP_HEADER: str(msg["timestamp"]),
            REQUEST_ID_HEADER: "0x" + msg["requestId"].hex(), SIGNATURE_HEADER: "0x" + sig.hex()}


def verify_peer(headers: Mapping[str, str], body: bytes, *, separator: bytes, now: float,
                window_s: float, signers: frozenset[str], replay: ReplayGuard,
                path: str = SIGN_PATH) -> str:
    """The registered signer that sent this request, else AuthError."""
    got = {h: headers.get(h) for h in (PEER_HEADER, TIMESTAMP_HEADER, REQUEST_ID_HEADER,
                                         SIGNATURE_HEADER)}
    absent = [h for h, v in got.items() if not v]
    if absent:
        raise AuthError(f"peer request not signed: missing headers {absent}")
    ts = got[TIMESTAMP_HEADER]
    if not ts.isdigit():
        raise AuthError("peer timestamp is not a unix time")
    try:
        msg = request_types.normalise("PeerRequest", {
            "peer": got[PEER_HEADER], "path": path, "bodyHash": keccak(body),
            "timestamp": int(ts), "requestId": got[REQUEST_ID_HEADER]})
    except RequestFormatError as exc:
        raise AuthError(f"peer headers: {exc}") from None
    if abs(now - msg["timestamp"]) > window_s:
        raise AuthError(f"peer timestamp outside the {int(window_s)} s window")
    who = _recover(request_types.digest("PeerRequest", msg, separator),
                   _signature(got[SIGNATURE_HEADER], "peer signature"), "peer signature")
    if who != msg["peer"]:
        raise AuthError("peer signature does not match the peer named, or the body was altered")
    if who not in signers:
        raise AuthError(f"{who} is not a registered signer", status=403)
    replay.admit(b"peer" + bytes.fromhex(who[2:]) + msg["requestId"], msg["timestamp"] + window_s,
                 now)
    return who

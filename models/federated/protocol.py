"""What a federation's participants exchange and sign (issue 15), independent of Flower.

* An update or aggregate is identified by :func:`params_sha256`: SHA-256 over Flower's own
  serialisation of each tensor (``np.save`` bytes: dtype, shape and values), each prefixed by its
  length, in order.
* An institution signs each of its updates: EIP-191 ``personal_sign`` of
  ``scorechain-fl/1|<federation id>|<round>|<institution>|<update sha256>``. The federation id
  (fixed per run) and the round stop an update from being replayed into another run or round;
  the server aggregates only updates whose signature recovers the institution's registered
  address.
* A round record (:class:`RoundRecord`) lists every accepted update (institution, address,
  examples, hash, signature) in institution order, the updates refused and why, and the
  aggregate's hash: what the aggregator anchors (the Merkle root of the update hashes and the
  aggregate hash), and what a consortium member re-checks.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np
from eth_account import Account
from eth_account.messages import encode_defunct
from flwr.common import Parameters, ndarrays_to_parameters

VERSION = "scorechain-fl/1"


def params_sha256(params: Parameters | list[np.ndarray]) -> str:
    if not isinstance(params, Parameters):
        params = ndarrays_to_parameters(params)
    h = hashlib.sha256()
    for t in params.tensors:
        h.update(len(t).to_bytes(8, "big"))
        h.update(t)
    return h.hexdigest()


def update_message(federation: str, rnd: int, institution: str, sha256: str) -> str:
    return f"{VERSION}|{federation}|{rnd}|{institution}|{sha256}"


def sign_update(key, federation: str, rnd: int, institution: str, sha256: str) -> str:
    msg = encode_defunct(text=update_message(federation, rnd, institution, sha256))
    return Account.sign_message(msg, private_key=key).signature.hex()


def signer_of(signature: str, federation: str, rnd: int, institution: str, sha256: str) -> str:
    msg = encode_defunct(text=update_message(federation, rnd, institution, sha256))
    return Account.recover_message(msg, signature=bytes.fromhex(signature.removeprefix("0x")))


@dataclass
class UpdateRecord:
    institution: str
    address: str
    num_examples: int
    sha256: str
    signature: str
    tensor_type: str = "numpy.ndarray"  # Flower's; "" for raw bytes (an XGBoost booster's JSON)
    wire_bytes: int = 0  # the update's tensors as sent
    metrics_sent: list[str] = field(default_factory=list)  # the keys beside them

@dataclass
class RoundRecord:
    round: int
    strategy: str
    updates: list[UpdateRecord]
    aggregate_sha256: str | None
    refused: list[dict] = field(default_factory=list)
    strategy_args: dict = field(default_factory=dict)  # Flower's, as the aggregator used them

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "RoundRecord":
        return cls(**{**d, "updates": [UpdateRecord(**u) for u in d["updates"]]})

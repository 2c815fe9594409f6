"""The features commitment carried in every attestation (`featuresHash`). Pure.

Canonical encoding (what a verifier recomputes, in any language)::

    featuresHash = keccak256(abi.encode(bytes32 schemaHash, bytes32 salt, int256[] values))

* ``schemaHash`` — the SHA-256 of the feature schema's canonical JSON
  (``models.schema.schema_hash``), as 32 bytes.
* ``salt`` — 32 random bytes per borrower, kept in the feature store next to the features. All
  nodes of one oracle network must hold the same salt for a borrower (the data provider ships it
  in the CSV ``salt`` column), otherwise their commitments differ and peers refuse to co-sign.
  The salt keeps the commitment from being brute-forced from guessable feature values.
* ``values`` — the validated model vector (``models.schema.validate_row``: float32, schema order,
  categories as their 0-based index) in fixed point with 6 decimals: each float32 value ``x`` is
  widened exactly to a rational number and ``round_half_even(x * 10**6)`` is taken with exact
  arithmetic (no binary floating-point multiply). A missing value that the schema lets the model
  impute (NaN in the vector) is encoded as ``type(int256).min`` = ``-2**255``.
* ``abi.encode`` is Solidity's standard (non-packed) ABI encoding: two 32-byte words, the offset
  word ``0x60``, the array length, then one two's-complement 32-byte word per value.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

FIXED_POINT_SCALE = 10**6
MISSING_SENTINEL = -(2**255)


def to_fixed_point(x: float) -> int:
    """round_half_even(x * 1e6) computed exactly; NaN -> MISSING_SENTINEL; inf is an error."""
    x = float(x)
    if math.isnan(x):
        return MISSING_SENTINEL
    if math.isinf(x):
        raise ValueError("infinite feature value cannot be committed")
    return round(Fraction(x) * FIXED_POINT_SCALE)  # Fraction.__round__ is round-half-even


def fixed_point_vector(vector: np.ndarray) -> list[int]:
    return [to_fixed_point(v) for v in np.asarray(vector, dtype=np.float32).tolist()]


def schema_hash_bytes(schema_hash_hex: str | bytes) -> bytes:
    if isinstance(schema_hash_hex, bytes):
        raw = schema_hash_hex
    else:
        raw = bytes.fromhex(schema_hash_hex.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError("schema hash must be 32 bytes")
    return raw


def features_hash(schema_hash: str | bytes, salt: bytes, vector: np.ndarray) -> bytes:
    if len(salt) != 32:
        raise ValueError("salt must be 32 bytes")
    encoded = abi_encode(
        ["bytes32", "bytes32", "int256[]"],
        [schema_hash_bytes(schema_hash), salt, fixed_point_vector(vector)],
    )
    return keccak(encoded)

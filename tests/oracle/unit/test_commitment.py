import math

import numpy as np
import pytest
from eth_hash.auto import keccak

from oracle import commitment


def test_fixed_point_is_exact_round_half_even():
    assert commitment.to_fixed_point(1.5) == 1_500_000
    assert commitment.to_fixed_point(-2.25) == -2_250_000
    assert commitment.to_fixed_point(0.0) == 0
    # 2**-21 = 0.000000476837158203125 -> 0.476837... micro-units -> rounds to 0
    assert commitment.to_fixed_point(2.0**-21) == 0
    # 2**-20 * 1e6 = 0.95367431640625 -> 1
    assert commitment.to_fixed_point(2.0**-20) == 1
    # exact ties: 1/128 * 1e6 = 7812.5 -> 7812 (even), 3/128 * 1e6 = 23437.5 -> 23438 (even)
    assert commitment.to_fixed_point(1 / 128) == 7812
    assert commitment.to_fixed_point(3 / 128) == 23438
    assert commitment.to_fixed_point(-1 / 128) == -7812


def test_float32_value_is_widened_exactly_before_scaling():
    x = np.float32(0.3)  # 0.300000011920928955078125 exactly
    assert commitment.fixed_point_vector(np.array([x], dtype=np.float32)) == [300_000]
    y = np.float32(1234.5677)  # 1234.5677490234375 -> 1234567749.02 -> 1234567749
    assert commitment.fixed_point_vector(np.array([y], dtype=np.float32)) == [1_234_567_749]


def test_nan_is_the_missing_sentinel_and_inf_is_an_error():
    assert commitment.to_fixed_point(math.nan) == -(2**255)
    with pytest.raises(ValueError):
        commitment.to_fixed_point(math.inf)


def test_features_hash_matches_hand_abi_encoding():
    schema_hash = "ab" * 32
    salt = bytes(range(32))
    vec = np.array([1.5, -2.0, np.nan], dtype=np.float32)
    words = [bytes.fromhex(schema_hash), salt, (0x60).to_bytes(32, "big"), (3).to_bytes(32, "big"),
             (1_500_000).to_bytes(32, "big", signed=True),
             (-2_000_000).to_bytes(32, "big", signed=True),
             (-(2**255)).to_bytes(32, "big", signed=True)]
    assert commitment.features_hash(schema_hash, salt, vec) == keccak(b"".join(words))


def test_salt_schema_and_each_value_change_the_hash():
    vec = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    h = commitment.features_hash("00" * 32, b"\x01" * 32, vec)
    assert commitment.features_hash("00" * 32, b"\x02" * 32, vec) != h
    assert commitment.features_hash("01" * 32, b"\x01" * 32, vec) != h
    for i in range(3):
        v = vec.copy()
        v[i] += np.float32(1e-6 * 2)
        assert commitment.features_hash("00" * 32, b"\x01" * 32, v) != h


def test_bad_salt_length_is_rejected():
    with pytest.raises(ValueError):
        commitment.features_hash("00" * 32, b"\x01" * 31, np.zeros(2, dtype=np.float32))

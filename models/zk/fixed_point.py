"""The fixed-point arithmetic of a proven score, as the score registry does it (issue 16).

A Halo2 proof's public values are BN254 scalar-field elements; the circuit's output is the logit
times 2^scale, a negative value x written FIELD - |x|. ``pd_bps_from_logit`` follows
contracts/zk/ScoreMath.sol step by step (WAD fixed point, truncations where it truncates) with an
exact exponential where the contract uses Solady's; tests compare the two exhaustively, and the
contract's figure is the canonical one.
"""
from __future__ import annotations

import math

# The BN254 scalar field: a Halo2 proof's public values are its elements, a negative x as FIELD - |x|.
FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617
_WAD = 10**18
_SATURATE = 135  # |logit| past which the PD is 0 or 10,000 bps (contracts/zk/ScoreMath.sol)


def felt_to_int(felt: int) -> int:
    if not 0 <= felt < FIELD:
        raise ValueError("not a field element")
    return felt - FIELD if felt > FIELD // 2 else felt


def felt_from_hex(le_hex: str) -> int:
    """A proof's instance as EZKL writes it (32 bytes, little-endian hex) as an integer."""
    return int.from_bytes(bytes.fromhex(le_hex.removeprefix("0x")), "little")


def pd_bps_from_logit(felt: int, scale: int) -> int:
    """The PD in basis points that the score registry derives from a proof's logit: the same
    steps as ScoreMath.pdBpsFromLogit (WAD fixed point, truncations where it truncates), with an
    exact exponential where the contract uses Solady's 1e-18 approximation; the two agree except
    within about 1e-14 of a half-bps boundary, and the contract's figure is canonical."""
    from decimal import Decimal, localcontext
    v = felt_to_int(felt)
    if v >= _SATURATE << scale:
        return 10_000
    if v <= -(_SATURATE << scale):
        return 0
    x = -(v * _WAD)
    x = abs(x) // (1 << scale) * (1 if x >= 0 else -1)  # Solidity's division truncates toward zero
    with localcontext() as ctx:
        ctx.prec = 80
        e = int((Decimal(x) / _WAD).exp() * _WAD) if x > -41446531673892822313 else 0  # expWad: 0 below
    pd_wad = 10**36 // (_WAD + e)
    return (pd_wad * 10_000 + 5 * 10**17) // _WAD


def quantise(x: float, scale: int) -> int:
    """``x`` at fixed point 2^scale as EZKL quantises an input or a weight: rounded half away
    from zero (the product by a power of two is exact, so is the fraction's comparison)."""
    y = abs(float(x)) * (1 << scale)
    q = math.floor(y)
    if y - q >= 0.5:
        q += 1
    return q if x >= 0 else -q


def _div_half_away(a: int, d: int) -> int:
    q = (abs(a) + d // 2) // d
    return q if a >= 0 else -q


def circuit_logit(z, w_q: list[int], b_q: int, scale: int) -> int:
    """The circuit's logit for one row ``z`` (the model's preprocessed inputs, float32), as a
    field element: EZKL's arithmetic for ``z · w + b`` with inputs, weights and output all at
    2^scale (the product at 2^2scale rescaled by a division rounded half away from zero).
    ``w_q``/``b_q``: the weights and intercept quantised (:func:`quantise`). The blinding inputs
    have zero weight and do not enter. Checked against EZKL's own witness when a circuit is set
    up (models.zk.setup) and on a holdout in the tests."""
    acc = sum(quantise(v, scale) * w for v, w in zip(z, w_q, strict=True))
    return (_div_half_away(acc, 1 << scale) + b_q) % FIELD

// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";

/// @title ScoreMath
/// @notice The PD and score a zero-knowledge proof's logit gives, computed on chain so that no one
/// supplies them: pdBps = round-half-up(10000 / (1 + e^-logit)), score = 600 + 40/ln 2 *
/// ln((10000 - pdBps) / (19 pdBps)) rounded half up and clamped to 300..850 (models.serving's one
/// PD-to-score mapping: base 600 at odds 19:1, 40 points to double the odds).
/// @dev The logit comes as the circuit's public output: a BN254 scalar-field element holding
/// logit * 2^scale, a negative value x encoded as FIELD - |x| (EZKL's encoding). exp and ln are
/// Solady's WAD approximations (1e-18 relative), so a pdBps or score can differ from an exact
/// computation only within about 1e-14 of a half-unit boundary; the contract's figure is the
/// canonical one (models/zk/fixed_point.py mirrors it, and tests compare the two).
library ScoreMath {
    /// @notice The BN254 scalar field's modulus: every public input of a Halo2 proof is below it.
    uint256 internal constant FIELD =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    int256 private constant _WAD = 1e18;
    int256 private constant _LN2_WAD = 693147180559945309;
    // Past |logit| = 135 the PD is 0 or 1 in basis points (and expWad's input is bounded there).
    int256 private constant _SATURATE = 135;

    /// @notice The signed integer a field element `felt` (< FIELD) encodes.
    function feltToInt(uint256 felt) internal pure returns (int256) {
        return felt > FIELD / 2 ? -int256(FIELD - felt) : int256(felt);
    }

    /// @notice PD in basis points for logit = `value` / 2^`scale`, rounded half up.
    function pdBpsFromLogit(int256 value, uint8 scale) internal pure returns (uint16) {
        int256 bound = _SATURATE << scale;
        if (value >= bound) return 10_000;
        if (value <= -bound) return 0;
        // |value| < 135 * 2^scale, so the product stays far inside int256 for scale <= 64.
        int256 x = -(value * _WAD) / (int256(1) << scale); // -logit in WAD, truncated toward zero
        uint256 e = uint256(FixedPointMathLib.expWad(x)); // e^-logit in WAD (0 below -41.4)
        uint256 pdWad = 1e36 / (1e18 + e);
        return uint16((pdWad * 10_000 + 5e17) / 1e18);
    }

    /// @notice The 300..850 score of a PD of `pdBps` basis points.
    function scoreFromPd(uint16 pdBps) internal pure returns (uint16) {
        if (pdBps == 0) return 850;
        if (pdBps >= 10_000) return 300;
        int256 oddsWad = int256((10_000 - uint256(pdBps)) * 1e18 / (uint256(pdBps) * 19));
        int256 raw = 600 * _WAD + (40 * FixedPointMathLib.lnWad(oddsWad) * _WAD) / _LN2_WAD;
        if (raw < 300 * _WAD) return 300;
        uint256 s = (uint256(raw) + 5e17) / 1e18;
        return s > 850 ? 850 : uint16(s);
    }
}

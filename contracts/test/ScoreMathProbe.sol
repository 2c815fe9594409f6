// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ScoreMath} from "../zk/ScoreMath.sol";

/// @notice Test-only: ScoreMath over ranges in one call, to compare with models.serving and
/// models.zk exhaustively.
contract ScoreMathProbe {
    function scores(uint16 fromPd, uint16 count) external pure returns (uint16[] memory out) {
        out = new uint16[](count);
        for (uint256 i = 0; i < count; ++i) {
            out[i] = ScoreMath.scoreFromPd(uint16(fromPd + i));
        }
    }

    function pdBps(uint256[] calldata felts, uint8 scale) external pure returns (uint16[] memory out) {
        out = new uint16[](felts.length);
        for (uint256 i = 0; i < felts.length; ++i) {
            out[i] = ScoreMath.pdBpsFromLogit(ScoreMath.feltToInt(felts[i]), scale);
        }
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ScorechainFixture} from "./utils/ScorechainFixture.sol";
import {BorrowerActions} from "./handlers/BorrowerActions.sol";

/// @title LifecycleHandlerTest
/// @notice The handler itself: every action can take effect (a handler that always skips would let
/// the invariant campaign pass without testing anything), every refusal path the handler predicts
/// is reached, and the ghost's state edges are exactly the lifecycle's.
contract LifecycleHandlerTest is ScorechainFixture {
    uint256 private constant ROUNDS = 96;

    function setUp() public {
        _deployScorechain();
    }

    /// @notice A fixed, seeded walk through all seventeen actions in lifecycle order: each one
    /// changes state at least once, and each one that has a predicted refusal (a custom error the
    /// handler asserts) meets it at least once.
    function test_everyActionTakesEffectAndEveryRefusalIsMet() public {
        for (uint256 round = 0; round < ROUNDS; ++round) {
            uint256 x = uint256(keccak256(abi.encode("walk", round)));
            handler.request(x, x >> 1, x >> 2, x >> 3, x >> 4);
            handler.score(x >> 5, x >> 6, x >> 7, x >> 8, x >> 9);
            handler.approve(x >> 10, x >> 11);
            handler.fund(x >> 12, x >> 13);
            handler.repay(x >> 14, x >> 15, x >> 16);
            handler.warp(x >> 17);
            handler.markDefault(x >> 18);
            handler.writeOff(x >> 19, x >> 20);
            handler.recover(x >> 21, x >> 22, x >> 23);
            handler.claim(x >> 24, x >> 25);
            handler.cancel(x >> 26, x >> 27);
            handler.expire(x >> 28);
            handler.model(x >> 29);
            handler.banOrReinstate(x >> 30, x >> 31);
            handler.changeRules(x >> 32, x >> 33, x >> 34, x >> 35);
            handler.renewKyc(x >> 36, x >> 37);
            handler.impair(x >> 38, x >> 39);
        }
        for (uint256 action = 0; action < handler.ACTIONS(); ++action) {
            assertEq(handler.calls(action), ROUNDS, "every action was called");
            assertTrue(handler.done(action) > 0, _name("took effect", action));
        }
        uint256[12] memory refusable = [
            uint256(BorrowerActions.Action.Request),
            uint256(BorrowerActions.Action.Score),
            uint256(BorrowerActions.Action.Approve),
            uint256(BorrowerActions.Action.Fund),
            uint256(BorrowerActions.Action.MarkDefault),
            uint256(BorrowerActions.Action.WriteOff),
            uint256(BorrowerActions.Action.Recover),
            uint256(BorrowerActions.Action.Cancel),
            uint256(BorrowerActions.Action.Expire),
            uint256(BorrowerActions.Action.Claim),
            uint256(BorrowerActions.Action.RenewKyc),
            uint256(BorrowerActions.Action.Impair)
        ];
        for (uint256 i = 0; i < refusable.length; ++i) {
            assertTrue(handler.refused(refusable[i]) > 0, _name("met its refusal", refusable[i]));
        }
        assertTrue(handler.decisions(0) > 0, "some loan was approved");
    }

    /// @notice The ghost allows exactly the lifecycle's ten edges (those of ALLOWED_EDGES in
    /// tests/contracts/test_lifecycle_state_machine.py) and no other.
    function test_allowedStateEdgesAreExactlyTheLifecycles() public view {
        // Requested=1 Approved=2 Rejected=3 Cancelled=4 Funded=5 Repaid=6 Defaulted=7 WrittenOff=8 Expired=9
        uint8[2][10] memory edges = [[1, 2], [1, 3], [1, 4], [2, 4], [2, 5], [5, 6], [5, 7], [7, 8], [1, 9], [2, 9]];
        uint256 allowed;
        for (uint8 from = 0; from < 10; ++from) {
            for (uint8 to = 0; to < 10; ++to) {
                bool expected;
                for (uint256 i = 0; i < edges.length; ++i) {
                    if (edges[i][0] == from && edges[i][1] == to) expected = true;
                }
                assertTrue(handler.isAllowedEdge(from, to) == expected, "edge table");
                if (expected) ++allowed;
            }
        }
        assertEq(allowed, 10, "ten allowed edges");
    }

    function _name(string memory what, uint256 action) private pure returns (string memory) {
        return string.concat("action ", _digits(action), " ", what);
    }

    function _digits(uint256 n) private pure returns (string memory) {
        if (n < 10) return string(abi.encodePacked(bytes1(uint8(48 + n))));
        return string(abi.encodePacked(bytes1(uint8(48 + n / 10)), bytes1(uint8(48 + n % 10))));
    }
}

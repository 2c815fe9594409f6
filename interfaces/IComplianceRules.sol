// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ICreditScoreRegistry} from "./ICreditScoreRegistry.sol";

/// @title IComplianceRules
/// @notice A versioned rule set set by regulators and a deterministic `check` of a loan against it.
interface IComplianceRules {
    /// @notice Why a loan does not comply, in the order `check` tests them (first failure wins).
    enum Reason {
        None,
        RulesNotSet,
        BorrowerIneligible,
        JurisdictionNotAllowed,
        TermTooShort,
        TermTooLong,
        AprTooHigh,
        TooManyActiveLoans,
        CoolOffActive,
        NoScore,
        ScoreExpired,
        ScoreStale,
        ModelNotApproved,
        PdTooHigh,
        ScoreBelowMinimum,
        PrincipalTooHigh
    }

    /// @notice Score bands: a score s falls in the highest band i with bandMinScores[i] <= s and
    /// may borrow at most bandMaxPrincipal[i] (token base units). bandMinScores strictly ascending.
    struct RuleSet {
        uint16 maxPdBps;
        uint16 maxAprBps;
        uint8 maxActiveLoans;
        uint64 minTermSeconds;
        uint64 maxTermSeconds;
        uint64 maxScoreAgeSeconds;
        uint64 coolOffSeconds;
        uint16[] bandMinScores;
        uint256[] bandMaxPrincipal;
    }

    /// @notice What the caller knows about the borrower's loans (LoanManager passes its counters).
    struct LoanHistory {
        uint256 activeLoans;
        uint64 lastDefaultAt;
    }

    error ComplianceZeroAddress();
    error ComplianceInvalidBps(uint256 value);
    error ComplianceInvalidTermRange(uint64 minTermSeconds, uint64 maxTermSeconds);
    error ComplianceBandsLengthMismatch(uint256 scores, uint256 principals);
    error ComplianceBandsEmpty();
    error ComplianceBandsNotAscending(uint256 index);

    event ComplianceRuleSetUpdated(uint256 indexed version, RuleSet rules);
    event ComplianceJurisdictionSet(uint256 indexed version, bytes2 indexed jurisdiction, bool allowed);

    function setRuleSet(RuleSet calldata rules) external;
    function setJurisdictionAllowed(bytes2 jurisdiction, bool allowed) external;

    function check(
        address borrower,
        uint256 principal,
        uint16 aprBps,
        uint64 termSeconds,
        LoanHistory calldata history
    ) external view returns (bool ok, Reason reason, ICreditScoreRegistry.ScoreRecord memory score);

    function ruleSet() external view returns (RuleSet memory);
    function version() external view returns (uint256);
    function isJurisdictionAllowed(bytes2 jurisdiction) external view returns (bool);
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {IComplianceRules} from "./IComplianceRules.sol";

/// @title ILoanManager
/// @notice Loan lifecycle: request -> approve/reject -> fund -> repay, or default -> write-off /
/// recover; cancel before funding; a request or an approval that waits too long expires.
/// Payments accrue to the lender's claimable balance; the lender claims them (pull).
interface ILoanManager {
    enum LoanState {
        None,
        Requested,
        Approved,
        Rejected,
        Cancelled,
        Funded,
        Repaid,
        Defaulted,
        WrittenOff,
        Expired
    }

    /// @dev Six slots. Amounts are uint96 (7.9e28 base units; ample for 6- and 18-decimal tokens).
    /// scoreNonce: the nonce the request fixed; only a score record with at least this nonce (signed
    /// after the request) decides the loan. fundBy: the approval's funding deadline.
    struct Loan {
        // slot 0
        address borrower;
        uint16 aprBps;
        LoanState state;
        uint8 installments;
        uint64 termSeconds;
        // slot 1
        uint96 principal;
        uint96 totalDue;
        uint64 fundedAt;
        // slot 2
        address lender;
        uint96 repaid;
        // slot 3: score snapshot used on approval
        bytes32 modelId;
        // slot 4
        uint16 pdBps;
        uint16 score;
        uint64 scoreIssuedAt;
        uint40 decidedAt;
        IComplianceRules.Reason rejectReason;
        uint96 recovered;
        // slot 5
        uint64 scoreNonce;
        uint40 requestedAt;
        uint40 fundBy;
    }

    error LoanZeroAddress();
    error LoanBorrowerIneligible(address borrower);
    error LoanInvalidPrincipal(uint256 principal);
    error LoanInvalidTerm(uint64 termSeconds, uint8 installments);
    error LoanNotFound(uint256 loanId);
    error LoanInvalidState(uint256 loanId, LoanState state);
    error LoanNotBorrower(uint256 loanId, address caller);
    error LoanNotDecidable(uint256 loanId, IComplianceRules.Reason reason);
    error LoanSelfFunding(uint256 loanId);
    /// @notice The lender is another enrolled address of the borrower's identity (the same person).
    error LoanLenderSameIdentity(uint256 loanId, address lender, bytes32 identity);
    error LoanZeroAmount(uint256 loanId);
    error LoanNotExpired(uint256 loanId, uint256 expiresAt);
    error LoanApprovalExpired(uint256 loanId, uint256 fundBy);
    error LoanNotFundable(uint256 loanId, IComplianceRules.Reason reason);
    error LoanNothingToClaim(address lender);
    error LoanNotLender(uint256 loanId, address caller);
    error LoanNotPendingLender(uint256 loanId, address caller);
    error LoanRegistryMismatch(address expected, address actual);
    error LoanZeroGracePeriod();
    error LoanNotOverdue(uint256 loanId);
    error LoanUnauthorized(uint256 loanId, address caller);
    error LoanInvalidInstallment(uint256 loanId, uint256 installment);

    /// @notice A loan was requested; the oracle daemon listens to this and posts a fresh score.
    event ScoreRequested(
        uint256 indexed loanId, address indexed borrower, uint256 principal, uint16 aprBps, uint64 termSeconds
    );
    event LoanApproved(
        uint256 indexed loanId,
        address indexed borrower,
        bytes32 indexed modelId,
        uint16 pdBps,
        uint16 score,
        uint64 scoreIssuedAt,
        uint256 ruleVersion
    );
    event LoanRejected(
        uint256 indexed loanId, address indexed borrower, IComplianceRules.Reason reason, uint256 ruleVersion
    );
    event LoanCancelled(uint256 indexed loanId, address indexed borrower);
    event LoanFunded(
        uint256 indexed loanId,
        address indexed lender,
        address indexed borrower,
        uint256 principal,
        uint256 totalDue,
        uint64 fundedAt
    );
    event LoanRepaid(uint256 indexed loanId, address indexed payer, uint256 amount, uint256 totalRepaid, uint256 remaining);
    event LoanFullyRepaid(uint256 indexed loanId, address indexed borrower);
    event LoanDefaulted(uint256 indexed loanId, address indexed borrower, uint256 repaid, uint256 remaining);
    event LoanWrittenOff(uint256 indexed loanId, address indexed by, uint256 principalWrittenOff);
    event LoanRecovered(uint256 indexed loanId, address indexed payer, uint256 amount, uint256 totalRecovered);
    /// @notice A defaulted loan's debt was recovered in full (the borrower is no longer delinquent on it).
    event LoanFullyRecovered(uint256 indexed loanId, address indexed borrower);
    /// @notice A request no decision was reached on, or an approval no lender funded, expired.
    event LoanExpired(uint256 indexed loanId, address indexed borrower, LoanState previousState);
    /// @notice A lender withdrew what payments had accrued to them.
    event LenderClaimed(address indexed lender, address indexed to, uint256 amount);
    event LoanPositionTransferStarted(uint256 indexed loanId, address indexed lender, address indexed newLender);
    event LoanPositionTransferred(uint256 indexed loanId, address indexed previousLender, address indexed newLender);

    function request(uint256 principal, uint16 aprBps, uint64 termSeconds, uint8 installments)
        external
        returns (uint256 loanId);
    function approve(uint256 loanId) external returns (bool approved);
    function fund(uint256 loanId) external;
    function repay(uint256 loanId, uint256 amount) external;
    function markDefault(uint256 loanId) external;
    function writeOff(uint256 loanId) external;
    function recover(uint256 loanId, uint256 amount) external;
    function cancel(uint256 loanId) external;
    function expire(uint256 loanId) external;
    function claim(address to) external returns (uint256 amount);
    function transferPosition(uint256 loanId, address newLender) external;
    function acceptPosition(uint256 loanId) external;
    function pause() external;
    function unpause() external;

    function getLoan(uint256 loanId) external view returns (Loan memory);
    function loanCount() external view returns (uint256);
    function amountOwed(uint256 loanId) external view returns (uint256);
    function dueDate(uint256 loanId, uint256 installment) external view returns (uint256);
    function installmentsLate(uint256 loanId) external view returns (uint256);
    function minimumRepaidNow(uint256 loanId) external view returns (uint256);
    function isDefaultable(uint256 loanId) external view returns (bool);
    function outstandingPrincipal(uint256 loanId) external view returns (uint256);
    function totalOutstandingPrincipal() external view returns (uint256);
    function activeLoanCount(address borrower) external view returns (uint256);
    function lastDefaultAt(address borrower) external view returns (uint64);
    function isDelinquent(address borrower) external view returns (bool);
    function claimable(address lender) external view returns (uint256);
    function totalClaimable() external view returns (uint256);
    function pendingLender(uint256 loanId) external view returns (address);
    function expiresAt(uint256 loanId) external view returns (uint256);
    function scoreRegistry() external view returns (address);
    function gracePeriodSeconds() external view returns (uint64);
    function token() external view returns (address);
    function borrowerRegistry() external view returns (address);
    function complianceRules() external view returns (address);
}

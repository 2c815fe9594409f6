// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ScorechainAccess} from "./ScorechainAccess.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ILoanManager} from "../interfaces/ILoanManager.sol";
import {IBorrowerRegistry} from "../interfaces/IBorrowerRegistry.sol";
import {IComplianceRules} from "../interfaces/IComplianceRules.sol";
import {ICreditScoreRegistry} from "../interfaces/ICreditScoreRegistry.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title LoanManager
/// @notice ERC-20 loans from request to repayment or default.
/// @dev Rules, all deterministic:
/// - Interest is simple interest on principal at aprBps over the whole term:
///   interest = principal * aprBps * termSeconds / (10_000 * 365 days) (rounded down). It is fixed by
///   the request terms and becomes owed at funding; totalDue = principal + interest.
/// - Installment i (1..n) falls due at fundedAt + termSeconds * i / n; by then a cumulative
///   totalDue * i / n must have been repaid. Installment i is late once now > dueDate(i) + grace.
///   A loan whose repaid total is below the cumulative amount of its late installments may be
///   marked defaulted by its lender or a SERVICER_ROLE; by anyone only once an installment is
///   past due date + grace + the loan's publicDefaultDelay (a rule-set field snapshotted at
///   approval), so a griefer cannot front-run the lender's workout and no loan is stuck for ever.
///   The grace period is a constructor parameter, 0 < grace <= MAX_GRACE_PERIOD_SECONDS, immutable
///   and therefore the same for every loan of this manager.
/// - Impairment (Maple v2 impairLoan): the lender or a SERVICER_ROLE may impair a Funded loan and
///   remove the impairment. It is a flag (impairedAt) on a Funded loan, not a state, so the state
///   graph is unchanged. While impaired the loan counts as late from impairedAt: the borrower is
///   delinquent, and the lender or a servicer may mark the default once now > impairedAt + grace.
///   As in Maple v2 the impairment calls the next installment due at once: a repayment that
///   brings the repaid total up to the installments due by impairedAt plus the next one cures it
///   (LoanImpairmentRemoved, by the payer), so a borrower who pays cannot be kept delinquent or
///   defaulted by an impairment. Late fees and the public default window follow the original
///   schedule only, so removing an impairment needs no unwinding.
/// - Late fee: a penalty rate lateRateBps (rule set's lateInterestPremiumBps, cut to maxAprBps -
///   aprBps and snapshotted at approval, so aprBps + lateRateBps never exceeds the usury cap) runs
///   on the principal part of what is overdue (due date passed, grace not counted) for as long as it
///   is overdue. The overdue part of installment k is u_k = C_k - max(repaid, C_(k-1)) with
///   C_k = totalDue * k / n; between two accruals (repaid constant) the fee is
///   sum_k u_k * (to - max(from, dueDate(k))) * principal * lateRateBps / (totalDue * 10_000 * 365 days),
///   rounded down, charged (lateFeeAccrued) before each payment on an overdue loan and at default.
///   Payments go to the unpaid late fee first, then to totalDue; what is owed, the overpayment cut,
///   full repayment and full recovery all include the unpaid fee; the fee accrues to the lender's
///   claimable balance like any payment. A defaulted loan's fee is fixed at its default.
/// - Payments are split pro rata between principal and interest: principal repaid =
///   paid * principal / totalDue. Outstanding principal = principal - that, for Funded and Defaulted
///   loans; a write-off removes what is left. A payment above what is owed is cut to the remainder
///   (a 1-unit front-run cannot make the final repayment revert). Payments are held by this
///   contract as the lender's claimable balance and the lender claims them (pull), so a lender
///   who cannot receive tokens (blacklisted, paused) cannot make repayments revert.
/// - Which score decides: `request` advances the borrower's attestation nonce in the score
///   registry, so only a score signed after the request (nonce >= the loan's scoreNonce) can decide
///   it; attestations held from before are void.
/// - approve is the borrower's call. A failure that a later event may lift (no score for this
///   request yet, score expired or stale, model not approved, too many active loans, cool-off,
///   delinquency, missing rules) reverts LoanNotDecidable and leaves the loan Requested; a request
///   not decided within the rule set's requestTtlSeconds may be expired by anyone. Any other
///   failure rejects the loan and records the reason.
/// - An approval must be funded by its deadline (fundingWindowSeconds after approval), after which
///   anyone may expire it (freeing the active-loan slot). `fund` re-checks the borrower's
///   eligibility and jurisdiction, the deciding model's approval and delinquency.
/// - A borrower is delinquent while a funded loan is impaired or has an installment past its due
///   date (grace not counted) and unpaid, or a defaulted loan is neither recovered in full nor
///   written off.
/// - Limits belong to a person: the borrower book (active loans, last default and cool-off,
///   unresolved defaults, funded loans walked for delinquency) is keyed by the borrower's identity
///   in the borrower registry, so every address linked to one person shares it. A lender may not
///   fund (or take over) a loan of their own address or of any address the KYC provider linked to
///   the same identity (pending consent, enrolled or retired).
/// - Pause (REGULATOR_ROLE) stops request, approve, fund and markDefault; repay, recover, cancel,
///   expire, claim, writeOff, impairLoan and removeLoanImpairment stay open so borrowers can always
///   pay and lenders always withdraw.
contract LoanManager is ILoanManager, ScorechainAccess, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");
    /// @notice May impair, remove an impairment and mark a default within the lender's window.
    bytes32 public constant SERVICER_ROLE = keccak256("SERVICER_ROLE");
    /// @notice Upper bound of the grace period.
    uint64 public constant MAX_GRACE_PERIOD_SECONDS = 30 days;
    uint256 private constant _BPS = 10_000;
    uint256 private constant _YEAR_SECONDS = 365 days;

    // One slot per person. Funded loans form a list threaded through the loans (head here,
    // LoanSlots.nextFunded there), walked to find one past due: funding and repayment write slots
    // they touch anyway instead of pushing to and popping from an array (two fresh slots each).
    struct BorrowerBook {
        uint8 activeLoans; // Approved or Funded, <= ComplianceRules.MAX_ACTIVE_LOANS
        uint40 lastDefaultAt;
        uint32 unresolvedDefaults; // Defaulted, neither recovered in full nor written off
        uint64 fundedHead; // a Funded loan of this person (0 = none), the list's head
        bool approvedBefore; // set at the first approval and kept, so the slot never empties again
    }

    // A loan as stored; getLoan() returns it as ILoanManager.Loan. Packed by when each field is
    // first written, so each step writes at most one fresh slot (gas, reports/gas.md): the request
    // slots 0-1, approval (or rejection) slot 2, funding slot 3; slots 4-5 only on the servicing
    // exceptions (impairment, recovery, late fees, a second funded loan of the same person). The
    // deciding model is kept as its ModelRegistry index.
    struct LoanSlots {
        // slot 0: request
        address borrower;
        uint16 aprBps;
        LoanState state;
        uint8 installments;
        uint40 requestedAt;
        IComplianceRules.Reason rejectReason;
        // slot 1: request
        uint96 principal;
        uint96 totalDue;
        uint32 termSeconds;
        uint32 scoreNonce;
        // slot 2: decision (fundedAt at funding)
        uint16 modelIndex;
        uint16 pdBps;
        uint16 score;
        uint40 scoreIssuedAt;
        uint40 decidedAt;
        uint40 fundBy;
        uint16 lateRateBps;
        uint32 publicDefaultDelay;
        uint40 fundedAt;
        // slot 3: funding
        address lender;
        uint96 repaid;
        // slot 4: servicing
        uint40 impairedAt;
        uint40 lateAccruedTo;
        uint96 recovered;
        uint64 nextFunded;
        // slot 5: late fees
        uint96 lateFeeAccrued;
        uint96 lateFeePaid;
    }

    IERC20 private immutable _token;
    IBorrowerRegistry private immutable _borrowers;
    IComplianceRules private immutable _compliance;
    ICreditScoreRegistry private immutable _scores;
    IModelRegistry private immutable _models;
    uint64 private immutable _gracePeriodSeconds;

    mapping(uint256 loanId => LoanSlots) private _loans;
    // The borrower book is kept per person (BorrowerRegistry.identityOf, which never changes once
    // an address is enrolled), so limits, cool-offs and delinquency follow them across addresses.
    mapping(bytes32 identity => BorrowerBook) private _books;
    // The claimable balance plus one once a lender has been paid: a claim leaves 1, so a repeat
    // lender's next payment updates a live slot instead of paying for a fresh one.
    mapping(address lender => uint256 amountPlusOne) private _claimable;
    mapping(uint256 loanId => address newLender) private _pendingLenders;
    // One slot, non-zero from the first request on: the totals never pay for a fresh slot again
    // when the market empties and refills. uint104 holds 2e31 units (2e13 tokens of 18 decimals).
    uint48 private _loanCount;
    uint104 private _totalOutstandingPrincipal;
    uint104 private _totalClaimable;

    /// @dev The compliance rules must read the given borrower and score registries (wiring is
    /// checked, not assumed); 0 < grace period <= MAX_GRACE_PERIOD_SECONDS.
    constructor(
        address admin,
        IERC20 token_,
        IBorrowerRegistry borrowers_,
        IComplianceRules compliance_,
        ICreditScoreRegistry scores_,
        uint64 gracePeriodSeconds_
    ) ScorechainAccess(admin) {
        if (
            address(token_) == address(0) || address(borrowers_) == address(0)
                || address(compliance_) == address(0) || address(scores_) == address(0)
        ) revert LoanZeroAddress();
        if (gracePeriodSeconds_ == 0) revert LoanZeroGracePeriod();
        if (gracePeriodSeconds_ > MAX_GRACE_PERIOD_SECONDS) {
            revert LoanGracePeriodTooLong(gracePeriodSeconds_, MAX_GRACE_PERIOD_SECONDS);
        }
        address wired = compliance_.borrowerRegistry();
        if (wired != address(borrowers_)) revert LoanRegistryMismatch(address(borrowers_), wired);
        wired = compliance_.scoreRegistry();
        if (wired != address(scores_)) revert LoanRegistryMismatch(address(scores_), wired);
        _token = token_;
        _borrowers = borrowers_;
        _compliance = compliance_;
        _scores = scores_;
        _models = IModelRegistry(compliance_.modelRegistry());
        _gracePeriodSeconds = gracePeriodSeconds_;
    }

    // ---------------------------------------------------------------- lifecycle

    /// @notice Requests a loan; the caller is the borrower.
    /// @dev Caller must be eligible in the borrower registry; 0 < principal and totalDue fit in
    /// uint96; 1 <= installments <= termSeconds < 2**32 (136 years). Not when paused. Advances the borrower's
    /// attestation nonce (voiding scores signed before) and records it as the loan's scoreNonce.
    /// Emits ScoreRequested (and the score registry's ScoreNonceAdvanced).
    function request(uint256 principal, uint16 aprBps, uint64 termSeconds, uint8 installments)
        external
        whenNotPaused
        returns (uint256 loanId)
    {
        if (!_borrowers.isEligible(msg.sender)) revert LoanBorrowerIneligible(msg.sender);
        if (installments == 0 || termSeconds < installments || termSeconds > type(uint32).max) {
            revert LoanInvalidTerm(termSeconds, installments);
        }
        uint256 totalDue = principal + (principal * aprBps * termSeconds) / (_BPS * _YEAR_SECONDS);
        if (principal == 0 || totalDue > type(uint96).max) revert LoanInvalidPrincipal(principal);
        loanId = ++_loanCount;
        LoanSlots storage l = _loans[loanId];
        l.borrower = msg.sender;
        l.aprBps = aprBps;
        l.state = LoanState.Requested;
        l.installments = installments;
        l.requestedAt = uint40(block.timestamp);
        l.termSeconds = uint32(termSeconds);
        l.principal = uint96(principal);
        l.totalDue = uint96(totalDue);
        // 2**32 requests of one borrower would cost more gas than a chain mines in years.
        l.scoreNonce = SafeCast.toUint32(_scores.advanceNonce(msg.sender));
        emit ScoreRequested(loanId, msg.sender, principal, aprBps, termSeconds);
    }

    /// @notice Decides a Requested loan against the compliance rules and the borrower's latest
    /// score, which must have been signed after the request. The borrower's call.
    /// @dev Not when paused. Reverts LoanNotBorrower for any other caller, LoanNotDecidable when a
    /// later event may still lift the failure (see the contract notes); otherwise approves
    /// (recording the score snapshot, the funding deadline and the servicing terms: late rate and
    /// public default delay) or rejects (recording the reason).
    /// Emits LoanApproved or LoanRejected. Returns true if approved.
    function approve(uint256 loanId) external whenNotPaused returns (bool approved) {
        LoanSlots storage l = _loanIn(loanId, LoanState.Requested);
        address borrower = l.borrower;
        if (msg.sender != borrower) revert LoanNotBorrower(loanId, msg.sender);
        bytes32 person = _borrowers.identityOf(borrower);
        BorrowerBook storage book = _books[person];
        (bool ok, IComplianceRules.Reason reason, ICreditScoreRegistry.ScoreRecord memory score) = _compliance.check(
            borrower,
            l.principal,
            l.aprBps,
            l.termSeconds,
            IComplianceRules.LoanHistory({
                activeLoans: book.activeLoans,
                lastDefaultAt: book.lastDefaultAt,
                minScoreNonce: l.scoreNonce,
                delinquent: _isDelinquent(book)
            })
        );
        if (!ok && _isDeferred(reason)) revert LoanNotDecidable(loanId, reason);
        uint256 ruleVersion = _compliance.version();
        l.decidedAt = uint40(block.timestamp);
        if (!ok) {
            l.state = LoanState.Rejected;
            l.rejectReason = reason;
            emit LoanRejected(loanId, borrower, reason, ruleVersion);
            return false;
        }
        l.state = LoanState.Approved;
        // check() passed, so the model is approved and has an index (1..2**16-1).
        l.modelIndex = uint16(_models.approvedIndex(score.modelId));
        l.pdBps = score.pdBps;
        l.score = score.score;
        l.scoreIssuedAt = uint40(score.issuedAt);
        _snapshotServicingTerms(l);
        book.activeLoans += 1;
        book.approvedBefore = true;
        emit LoanApproved(loanId, borrower, score.modelId, score.pdBps, score.score, score.issuedAt, ruleVersion);
        return true;
    }

    /// @notice Funds an Approved loan: the caller becomes its lender and principal moves from the
    /// caller to the borrower.
    /// @dev Caller must have approved this contract for the principal and must not be the borrower
    /// (LoanSelfFunding) nor an address linked to the borrower's identity, pending included
    /// (LoanLenderSameIdentity); not after the approval's deadline; the borrower still eligible in
    /// an allowed jurisdiction, the deciding model still approved and the borrower's identity not
    /// delinquent (else LoanNotFundable).
    /// Not when paused. Emits LoanFunded.
    function fund(uint256 loanId) external whenNotPaused nonReentrant {
        LoanSlots storage l = _loanIn(loanId, LoanState.Approved);
        address borrower = l.borrower;
        bytes32 person = _notSelfFunded(loanId, borrower, msg.sender);
        if (block.timestamp > l.fundBy) revert LoanApprovalExpired(loanId, l.fundBy);
        IComplianceRules.Reason reason = _compliance.checkFunding(borrower, _models.modelIdAt(l.modelIndex));
        if (reason != IComplianceRules.Reason.None) revert LoanNotFundable(loanId, reason);
        BorrowerBook storage book = _books[person];
        if (_isDelinquent(book)) revert LoanNotFundable(loanId, IComplianceRules.Reason.Delinquent);
        uint256 principal = l.principal;
        l.state = LoanState.Funded;
        l.fundedAt = uint40(block.timestamp);
        l.lender = msg.sender;
        uint64 head = book.fundedHead;
        if (head != 0) l.nextFunded = head;
        book.fundedHead = uint64(loanId);
        _totalOutstandingPrincipal += uint104(principal);
        emit LoanFunded(loanId, msg.sender, borrower, principal, l.totalDue, uint64(block.timestamp));
        _token.safeTransferFrom(msg.sender, borrower, principal);
    }

    /// @notice Repays up to `amount` of a Funded loan (anyone may pay); the payment accrues to the
    /// lender's claimable balance.
    /// @dev amount > 0; an amount above what is owed (late fee included) is cut to the remainder.
    /// On an overdue loan the late fee is charged first (LoanLateFeeAccrued) and the payment goes to
    /// it before totalDue (LoanLateFeePaid). Works while paused. Emits LoanRepaid (with the amount
    /// taken; totalRepaid counts towards totalDue only), and LoanFullyRepaid when nothing is left
    /// owing (state Repaid).
    function repay(uint256 loanId, uint256 amount) external nonReentrant {
        LoanSlots storage l = _loanIn(loanId, LoanState.Funded);
        uint256 paidBefore = l.repaid;
        // An unpaid fee exists only on a loan overdue now (payments clear the fee first).
        uint256 feeDue = paidBefore < _repaidRequired(l, 0) ? _accrueLateFee(l, loanId) : 0;
        uint256 remaining;
        uint256 feePart;
        (amount, feePart, remaining) = _takePayment(l, loanId, amount, paidBefore, feeDue);
        uint256 paidAfter = paidBefore + amount - feePart;
        l.repaid = uint96(paidAfter);
        _totalOutstandingPrincipal -= uint104(_principalShare(l, paidAfter) - _principalShare(l, paidBefore));
        emit LoanRepaid(loanId, msg.sender, amount, paidAfter, remaining - amount);
        // Paying what the impairment called due (the next installment at impairment) cures it, as
        // in Maple v2: a lender cannot keep a borrower who pays delinquent, nor default them.
        if (l.impairedAt != 0 && paidAfter >= _impairmentCure(l)) {
            l.impairedAt = 0;
            emit LoanImpairmentRemoved(loanId, msg.sender);
        }
        if (remaining == amount) {
            address borrower = l.borrower;
            BorrowerBook storage book = _books[_borrowers.identityOf(borrower)];
            l.state = LoanState.Repaid;
            book.activeLoans -= 1;
            _dropFunded(book, l, loanId);
            emit LoanFullyRepaid(loanId, borrower);
        }
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Marks a Funded loan Defaulted. The lender or a SERVICER_ROLE may once a late
    /// installment (past due date + grace) is not covered by what has been repaid, or once an
    /// impaired loan is past impairedAt + grace; anyone may once an installment is past due date +
    /// grace + the loan's publicDefaultDelay and not covered.
    /// @dev Not when paused. Reverts LoanNotOverdue when the caller's window is not open for a
    /// lender either, LoanDefaultReserved when only the lender or a servicer may default it now.
    /// Charges the late fee up to now (fixed from then on). Emits LoanDefaulted and
    /// LoanDefaultMarkedBy. Starts the borrower's cool-off.
    function markDefault(uint256 loanId) external whenNotPaused {
        LoanSlots storage l = _loanIn(loanId, LoanState.Funded);
        bool privileged = msg.sender == l.lender || hasRole(SERVICER_ROLE, msg.sender);
        bool publicWindow = _publiclyDefaultable(l);
        if (!publicWindow) {
            if (!_defaultableByLender(l)) revert LoanNotOverdue(loanId);
            if (!privileged) revert LoanDefaultReserved(loanId, msg.sender);
        }
        uint256 feeDue = l.repaid < _repaidRequired(l, 0) ? _accrueLateFee(l, loanId) : 0;
        address borrower = l.borrower;
        l.state = LoanState.Defaulted;
        BorrowerBook storage book = _books[_borrowers.identityOf(borrower)];
        book.activeLoans -= 1;
        book.unresolvedDefaults += 1;
        book.lastDefaultAt = uint40(block.timestamp);
        _dropFunded(book, l, loanId);
        emit LoanDefaulted(loanId, borrower, l.repaid, l.totalDue - l.repaid + feeDue);
        emit LoanDefaultMarkedBy(loanId, msg.sender, publicWindow && !privileged);
    }

    /// @notice Impairs a Funded loan (Maple v2 impairLoan): from now it counts as late; the borrower
    /// is delinquent, and the lender or a servicer may mark the default after now + grace.
    /// @dev Lender of the loan or SERVICER_ROLE; not already impaired. Works while paused.
    /// Emits LoanImpaired.
    function impairLoan(uint256 loanId) external {
        LoanSlots storage l = _servicedLoan(loanId);
        if (l.impairedAt != 0) revert LoanAlreadyImpaired(loanId);
        l.impairedAt = uint40(block.timestamp);
        emit LoanImpaired(loanId, msg.sender, uint40(block.timestamp));
    }

    /// @notice Removes an impairment: the loan follows its original schedule again.
    /// @dev Lender of the loan or SERVICER_ROLE; the loan Funded and impaired. Works while paused.
    /// Emits LoanImpairmentRemoved.
    function removeLoanImpairment(uint256 loanId) external {
        LoanSlots storage l = _servicedLoan(loanId);
        if (l.impairedAt == 0) revert LoanNotImpaired(loanId);
        l.impairedAt = 0;
        emit LoanImpairmentRemoved(loanId, msg.sender);
    }

    /// @notice Writes off a Defaulted loan: its remaining principal leaves the outstanding total.
    /// @dev Lender of the loan or REGULATOR_ROLE. Emits LoanWrittenOff.
    function writeOff(uint256 loanId) external {
        LoanSlots storage l = _loanIn(loanId, LoanState.Defaulted);
        if (msg.sender != l.lender && !hasRole(REGULATOR_ROLE, msg.sender)) revert LoanUnauthorized(loanId, msg.sender);
        uint256 paid = uint256(l.repaid) + l.recovered;
        uint256 principalLeft = l.principal - _principalShare(l, paid);
        l.state = LoanState.WrittenOff;
        if (paid < l.totalDue) _books[_borrowers.identityOf(l.borrower)].unresolvedDefaults -= 1;
        _totalOutstandingPrincipal -= uint104(principalLeft);
        emit LoanWrittenOff(loanId, msg.sender, principalLeft);
    }

    /// @notice Pays up to `amount` towards a Defaulted or WrittenOff loan (recovery); the payment
    /// accrues to the lender's claimable balance.
    /// @dev amount > 0, cut to what is owed (the unpaid late fee, paid first, included). Reduces
    /// outstanding principal only while Defaulted. Emits LoanRecovered (amount taken; totalRecovered
    /// counts towards totalDue only), LoanLateFeePaid for a fee part, and LoanFullyRecovered when the
    /// debt (late fee included) is paid in full, Defaulted or WrittenOff.
    function recover(uint256 loanId, uint256 amount) external nonReentrant {
        LoanSlots storage l = _requireLoan(loanId);
        LoanState state = l.state;
        if (state != LoanState.Defaulted && state != LoanState.WrittenOff) revert LoanInvalidState(loanId, state);
        uint256 paidBefore = uint256(l.repaid) + l.recovered;
        uint256 remaining;
        uint256 feePart;
        (amount, feePart, remaining) = _takePayment(l, loanId, amount, paidBefore, l.lateFeeAccrued - l.lateFeePaid);
        uint256 toDebt = amount - feePart;
        uint256 recovered = uint256(l.recovered) + toDebt;
        l.recovered = uint96(recovered);
        emit LoanRecovered(loanId, msg.sender, amount, recovered);
        if (state == LoanState.Defaulted) {
            _totalOutstandingPrincipal -= uint104(_principalShare(l, paidBefore + toDebt) - _principalShare(l, paidBefore));
            if (remaining == amount) _books[_borrowers.identityOf(l.borrower)].unresolvedDefaults -= 1;
        }
        if (remaining == amount) emit LoanFullyRecovered(loanId, l.borrower);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Cancels a Requested or Approved (unfunded) loan.
    /// @dev Borrower only. Emits LoanCancelled.
    function cancel(uint256 loanId) external {
        LoanSlots storage l = _requireLoan(loanId);
        address borrower = l.borrower;
        if (msg.sender != borrower) revert LoanNotBorrower(loanId, msg.sender);
        LoanState state = l.state;
        if (state != LoanState.Requested && state != LoanState.Approved) revert LoanInvalidState(loanId, state);
        if (state == LoanState.Approved) _books[_borrowers.identityOf(borrower)].activeLoans -= 1;
        l.state = LoanState.Cancelled;
        emit LoanCancelled(loanId, borrower);
    }

    /// @notice Expires a Requested loan not decided within the rule set's requestTtlSeconds, or an
    /// Approved loan not funded by its deadline (freeing the borrower's active-loan slot).
    /// @dev Anyone, also while paused. Reverts LoanNotExpired before `expiresAt(loanId)`.
    /// Emits LoanExpired.
    function expire(uint256 loanId) external {
        LoanSlots storage l = _requireLoan(loanId);
        LoanState state = l.state;
        if (state != LoanState.Requested && state != LoanState.Approved) revert LoanInvalidState(loanId, state);
        uint256 at = _expiresAt(l);
        if (block.timestamp <= at) revert LoanNotExpired(loanId, at);
        address borrower = l.borrower;
        if (state == LoanState.Approved) _books[_borrowers.identityOf(borrower)].activeLoans -= 1;
        l.state = LoanState.Expired;
        emit LoanExpired(loanId, borrower, state);
    }

    /// @notice Sends the caller's claimable balance (payments on their loans) to `to`.
    /// @dev Reverts LoanNothingToClaim when there is none. Works while paused. A lender who cannot
    /// receive the token at their own address claims to another. Emits LenderClaimed.
    function claim(address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert LoanZeroAddress();
        uint256 stored = _claimable[msg.sender];
        if (stored <= 1) revert LoanNothingToClaim(msg.sender);
        amount = stored - 1;
        _claimable[msg.sender] = 1;
        _totalClaimable -= uint104(amount);
        emit LenderClaimed(msg.sender, to, amount);
        _token.safeTransfer(to, amount);
    }

    /// @notice Offers the lender's position in a loan to `newLender`, who must accept it (two-step).
    /// @dev Current lender of a funded loan (in any state after funding); newLender non-zero and not
    /// the borrower or an address of the borrower's identity. A new offer replaces a pending one.
    /// Emits LoanPositionTransferStarted.
    function transferPosition(uint256 loanId, address newLender) external {
        LoanSlots storage l = _requireLoan(loanId);
        if (l.lender == address(0) || msg.sender != l.lender) revert LoanNotLender(loanId, msg.sender);
        if (newLender == address(0)) revert LoanZeroAddress();
        _notSelfFunded(loanId, l.borrower, newLender);
        _pendingLenders[loanId] = newLender;
        emit LoanPositionTransferStarted(loanId, msg.sender, newLender);
    }

    /// @notice Accepts a pending position offer: later payments accrue to the caller.
    /// @dev The pending new lender only, and not (LoanSelfFunding / LoanLenderSameIdentity) the
    /// borrower's address or an address of the borrower's identity, checked again at acceptance;
    /// what accrued before stays claimable by the previous lender. Emits LoanPositionTransferred.
    function acceptPosition(uint256 loanId) external {
        LoanSlots storage l = _requireLoan(loanId);
        if (msg.sender != _pendingLenders[loanId]) revert LoanNotPendingLender(loanId, msg.sender);
        // Checked again: the new lender may have been linked to the borrower's identity since the offer.
        _notSelfFunded(loanId, l.borrower, msg.sender);
        address previous = l.lender;
        l.lender = msg.sender;
        delete _pendingLenders[loanId];
        emit LoanPositionTransferred(loanId, previous, msg.sender);
    }

    /// @notice Pauses request, approve, fund and markDefault.
    /// @dev REGULATOR_ROLE. Emits Paused.
    function pause() external onlyRole(REGULATOR_ROLE) {
        _pause();
    }

    /// @notice Lifts the pause.
    /// @dev REGULATOR_ROLE. Emits Unpaused.
    function unpause() external onlyRole(REGULATOR_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @notice The stored loan (all zero if unknown).
    function getLoan(uint256 loanId) external view returns (Loan memory loan) {
        LoanSlots storage l = _loans[loanId];
        loan = Loan({
            borrower: l.borrower,
            aprBps: l.aprBps,
            state: l.state,
            installments: l.installments,
            termSeconds: l.termSeconds,
            principal: l.principal,
            totalDue: l.totalDue,
            fundedAt: l.fundedAt,
            lender: l.lender,
            repaid: l.repaid,
            modelId: l.modelIndex == 0 ? bytes32(0) : _models.modelIdAt(l.modelIndex),
            pdBps: l.pdBps,
            score: l.score,
            scoreIssuedAt: l.scoreIssuedAt,
            decidedAt: l.decidedAt,
            rejectReason: l.rejectReason,
            recovered: l.recovered,
            scoreNonce: l.scoreNonce,
            requestedAt: l.requestedAt,
            fundBy: l.fundBy,
            lateRateBps: l.lateRateBps,
            publicDefaultDelay: l.publicDefaultDelay,
            impairedAt: l.impairedAt,
            lateFeeAccrued: l.lateFeeAccrued,
            lateFeePaid: l.lateFeePaid,
            lateAccruedTo: l.lateAccruedTo
        });
    }

    /// @notice Number of loans ever requested (ids run 1..loanCount).
    function loanCount() external view returns (uint256) {
        return _loanCount;
    }

    /// @notice What is still owed on a Funded, Defaulted or WrittenOff loan, late fee included
    /// (0 otherwise): what a repay or recover of any larger amount takes right now.
    function amountOwed(uint256 loanId) external view returns (uint256) {
        LoanSlots storage l = _loans[loanId];
        LoanState s = l.state;
        if (s != LoanState.Funded && s != LoanState.Defaulted && s != LoanState.WrittenOff) return 0;
        return uint256(l.totalDue) - l.repaid - l.recovered + _lateFeeOwed(l);
    }

    /// @notice Late fee charged or accruing and not yet paid (Funded: up to now; Defaulted or
    /// WrittenOff: fixed at default; 0 otherwise).
    function lateFeeOwed(uint256 loanId) external view returns (uint256) {
        LoanSlots storage l = _loans[loanId];
        LoanState s = l.state;
        if (s != LoanState.Funded && s != LoanState.Defaulted && s != LoanState.WrittenOff) return 0;
        return _lateFeeOwed(l);
    }

    /// @notice Due date of installment `installment` (1..n) of a funded loan.
    function dueDate(uint256 loanId, uint256 installment) external view returns (uint256) {
        LoanSlots storage l = _requireLoan(loanId);
        if (l.fundedAt == 0) revert LoanInvalidState(loanId, l.state);
        if (installment == 0 || installment > l.installments) revert LoanInvalidInstallment(loanId, installment);
        return uint256(l.fundedAt) + (uint256(l.termSeconds) * installment) / l.installments;
    }

    /// @notice Number of installments whose due date + grace period has passed (0 if not funded).
    function installmentsLate(uint256 loanId) external view returns (uint256) {
        return _installmentsLate(_loans[loanId]);
    }

    /// @notice The repaid total below which a Funded loan can be marked defaulted right now.
    function minimumRepaidNow(uint256 loanId) external view returns (uint256) {
        return _minimumRepaid(_loans[loanId]);
    }

    /// @notice True if `markDefault(loanId)` by the lender or a servicer would succeed now (ignoring pause).
    function isDefaultable(uint256 loanId) external view returns (bool) {
        LoanSlots storage l = _loans[loanId];
        return l.state == LoanState.Funded && (_defaultableByLender(l) || _publiclyDefaultable(l));
    }

    /// @notice True if `markDefault(loanId)` by anyone would succeed now (ignoring pause).
    function isPubliclyDefaultable(uint256 loanId) external view returns (bool) {
        LoanSlots storage l = _loans[loanId];
        return l.state == LoanState.Funded && _publiclyDefaultable(l);
    }

    /// @notice Principal not yet repaid on a Funded or Defaulted loan (0 otherwise).
    function outstandingPrincipal(uint256 loanId) external view returns (uint256) {
        LoanSlots storage l = _loans[loanId];
        if (l.state != LoanState.Funded && l.state != LoanState.Defaulted) return 0;
        return l.principal - _principalShare(l, uint256(l.repaid) + l.recovered);
    }

    /// @notice Sum of outstandingPrincipal over all loans.
    function totalOutstandingPrincipal() external view returns (uint256) {
        return _totalOutstandingPrincipal;
    }

    /// @notice Approved or Funded loans of the person behind `borrower` (all their addresses;
    /// 0 for an address never enrolled).
    function activeLoanCount(address borrower) external view returns (uint256) {
        return _books[_borrowers.identityOf(borrower)].activeLoans;
    }

    /// @notice When the person behind `borrower` last defaulted, on any of their addresses (0 = never).
    function lastDefaultAt(address borrower) external view returns (uint64) {
        return _books[_borrowers.identityOf(borrower)].lastDefaultAt;
    }

    /// @notice True if the person behind `borrower` has, on any of their addresses, a funded loan
    /// that is impaired or has an unpaid installment past its due date, or a defaulted loan
    /// neither recovered in full nor written off.
    function isDelinquent(address borrower) external view returns (bool) {
        return _isDelinquent(_books[_borrowers.identityOf(borrower)]);
    }

    /// @notice Payments accrued to `lender` and not yet claimed.
    function claimable(address lender) external view returns (uint256) {
        uint256 stored = _claimable[lender];
        return stored == 0 ? 0 : stored - 1;
    }

    /// @notice Sum of claimable balances (the tokens this contract holds for lenders).
    function totalClaimable() external view returns (uint256) {
        return _totalClaimable;
    }

    /// @notice The address offered the lender's position in `loanId` (zero if none).
    function pendingLender(uint256 loanId) external view returns (address) {
        return _pendingLenders[loanId];
    }

    /// @notice When a Requested or Approved loan may be expired (after this second; 0 otherwise).
    function expiresAt(uint256 loanId) external view returns (uint256) {
        LoanSlots storage l = _loans[loanId];
        if (l.state != LoanState.Requested && l.state != LoanState.Approved) return 0;
        return _expiresAt(l);
    }

    /// @notice The score registry whose nonce a request advances.
    function scoreRegistry() external view returns (address) {
        return address(_scores);
    }

    /// @notice Grace period after each installment's due date before a default may be marked.
    function gracePeriodSeconds() external view returns (uint64) {
        return _gracePeriodSeconds;
    }

    /// @notice The ERC-20 lent and repaid.
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice The borrower registry consulted on request and funding.
    function borrowerRegistry() external view returns (address) {
        return address(_borrowers);
    }

    /// @notice The compliance rules consulted on approval.
    function complianceRules() external view returns (address) {
        return address(_compliance);
    }

    // ---------------------------------------------------------------- internals

    function _requireLoan(uint256 loanId) private view returns (LoanSlots storage l) {
        l = _loans[loanId];
        if (l.state == LoanState.None) revert LoanNotFound(loanId);
    }

    function _loanIn(uint256 loanId, LoanState expected) private view returns (LoanSlots storage l) {
        l = _requireLoan(loanId);
        if (l.state != expected) revert LoanInvalidState(loanId, l.state);
    }

    /// @dev Cuts `amount` to what remains owed (totalDue - paidBefore + feeDue; reverting on zero
    /// or nothing owed), pays the late fee first (LoanLateFeePaid), credits the lender's claimable
    /// balance and returns (amount taken, the part that paid the fee, remaining before this payment).
    function _takePayment(LoanSlots storage l, uint256 loanId, uint256 amount, uint256 paidBefore, uint256 feeDue)
        private
        returns (uint256 taken, uint256 feePart, uint256 remaining)
    {
        remaining = uint256(l.totalDue) - paidBefore + feeDue;
        taken = amount > remaining ? remaining : amount;
        if (taken == 0) revert LoanZeroAmount(loanId);
        if (feeDue != 0) {
            feePart = taken > feeDue ? feeDue : taken;
            uint256 feePaid = uint256(l.lateFeePaid) + feePart;
            l.lateFeePaid = uint96(feePaid);
            emit LoanLateFeePaid(loanId, msg.sender, feePart, feePaid);
        }
        uint256 stored = _claimable[l.lender];
        _claimable[l.lender] = (stored == 0 ? 1 : stored) + taken;
        _totalClaimable += SafeCast.toUint104(taken);
    }

    /// @dev The Funded loan `loanId` if the caller is its lender or a SERVICER_ROLE.
    function _servicedLoan(uint256 loanId) private view returns (LoanSlots storage l) {
        l = _loanIn(loanId, LoanState.Funded);
        if (msg.sender != l.lender && !hasRole(SERVICER_ROLE, msg.sender)) revert LoanUnauthorized(loanId, msg.sender);
    }

    /// @dev Lender's window: a late installment not covered, or impaired for longer than grace.
    function _defaultableByLender(LoanSlots storage l) private view returns (bool) {
        uint256 impairedAt = l.impairedAt;
        if (impairedAt != 0 && block.timestamp > impairedAt + _gracePeriodSeconds) return true;
        return l.repaid < _minimumRepaid(l);
    }

    /// @dev Public window: an installment past due + grace + publicDefaultDelay not covered.
    function _publiclyDefaultable(LoanSlots storage l) private view returns (bool) {
        return l.repaid < _repaidRequired(l, uint256(_gracePeriodSeconds) + l.publicDefaultDelay);
    }

    /// @dev Charges the late fee up to now and returns what of it is unpaid.
    function _accrueLateFee(LoanSlots storage l, uint256 loanId) private returns (uint256 feeDue) {
        uint256 fee = _lateFeeSinceAccrual(l);
        uint256 accrued = l.lateFeeAccrued;
        l.lateAccruedTo = uint40(block.timestamp);
        if (fee != 0) {
            accrued += fee;
            if (accrued > type(uint96).max) accrued = type(uint96).max;
            l.lateFeeAccrued = uint96(accrued);
            emit LoanLateFeeAccrued(loanId, fee, accrued, uint40(block.timestamp));
        }
        return accrued - l.lateFeePaid;
    }

    /// @dev Unpaid late fee, including what has accrued since the last charge while Funded.
    function _lateFeeOwed(LoanSlots storage l) private view returns (uint256) {
        uint256 owed = uint256(l.lateFeeAccrued) - l.lateFeePaid;
        if (l.state == LoanState.Funded) owed += _lateFeeSinceAccrual(l);
        return owed;
    }

    /// @dev The late fee on overdue principal from the last charge (or funding) to now, as the
    /// contract notes define it (repaid constant over the interval).
    function _lateFeeSinceAccrual(LoanSlots storage l) private view returns (uint256) {
        uint256 rate = l.lateRateBps;
        uint256 fundedAt = l.fundedAt;
        if (rate == 0 || fundedAt == 0) return 0;
        uint256 from = l.lateAccruedTo;
        if (from < fundedAt) from = fundedAt;
        if (block.timestamp <= from) return 0;
        uint256 repaid = l.repaid;
        uint256 totalDue = l.totalDue;
        uint256 n = l.installments;
        uint256 term = l.termSeconds;
        uint256 overdueSeconds = 0; // sum of overdue amount x seconds overdue
        // Installments k <= repaid * n / totalDue are covered (C_k <= repaid).
        for (uint256 k = (repaid * n) / totalDue + 1; k <= n; ++k) {
            uint256 due = fundedAt + (term * k) / n;
            if (due >= block.timestamp) break;
            uint256 prev = (totalDue * (k - 1)) / n;
            uint256 unpaid = (totalDue * k) / n - (repaid > prev ? repaid : prev);
            overdueSeconds += unpaid * (block.timestamp - (due > from ? due : from));
        }
        return (overdueSeconds * l.principal * rate) / (totalDue * _BPS * _YEAR_SECONDS);
    }

    function _expiresAt(LoanSlots storage l) private view returns (uint256) {
        if (l.state == LoanState.Approved) return l.fundBy;
        return uint256(l.requestedAt) + _compliance.requestTtlSeconds();
    }

    /// @dev Past due: an installment whose due date (grace not counted) has passed and that the
    /// repaid total does not cover.
    function _isDelinquent(BorrowerBook storage book) private view returns (bool) {
        if (book.unresolvedDefaults != 0) return true;
        for (uint256 id = book.fundedHead; id != 0;) {
            LoanSlots storage l = _loans[id];
            if (l.impairedAt != 0 || l.repaid < _repaidRequired(l, 0)) return true;
            id = l.nextFunded;
        }
        return false;
    }

    /// @dev Self-funding: the lender is the borrower's address, or an address the KYC provider
    /// linked to the same person (enrolled, retired or still pending consent: the link alone says
    /// who it is). Returns the borrower's identity.
    function _notSelfFunded(uint256 loanId, address borrower, address lender) private view returns (bytes32 person) {
        if (lender == borrower) revert LoanSelfFunding(loanId);
        person = _borrowers.identityOf(borrower);
        bytes32 theirs = _borrowers.linkedIdentity(lender);
        if (theirs != bytes32(0) && theirs == person) revert LoanLenderSameIdentity(loanId, lender, person);
    }

    /// @dev At approval: the funding deadline, the late rate and the public default delay in force.
    function _snapshotServicingTerms(LoanSlots storage l) private {
        (uint64 fundingWindow, uint16 maxAprBps, uint16 premiumBps, uint64 publicDelay) = _compliance.servicingTerms();
        l.fundBy = uint40(block.timestamp + fundingWindow);
        // check() passed, so aprBps <= maxAprBps: the late rate fills at most the room under the cap.
        uint16 room = maxAprBps - l.aprBps;
        l.lateRateBps = premiumBps < room ? premiumBps : room;
        // ComplianceRules bounds it by MAX_PUBLIC_DEFAULT_DELAY (365 days).
        l.publicDefaultDelay = uint32(publicDelay);
    }

    /// @dev Unlinks the Funded loan `loanId` (in `book`'s list, at most MAX_ACTIVE_LOANS long).
    function _dropFunded(BorrowerBook storage book, LoanSlots storage l, uint256 loanId) private {
        uint64 next = l.nextFunded;
        uint256 id = book.fundedHead;
        if (id == loanId) {
            book.fundedHead = next;
        } else {
            LoanSlots storage prev = _loans[id];
            while (prev.nextFunded != loanId) prev = _loans[prev.nextFunded];
            prev.nextFunded = next;
        }
        if (next != 0) l.nextFunded = 0;
    }

    function _principalShare(LoanSlots storage l, uint256 paid) private view returns (uint256) {
        return (paid * l.principal) / l.totalDue;
    }

    function _installmentsLate(LoanSlots storage l) private view returns (uint256) {
        return _installmentsPast(l, _gracePeriodSeconds);
    }

    function _minimumRepaid(LoanSlots storage l) private view returns (uint256) {
        return _repaidRequired(l, _gracePeriodSeconds);
    }

    /// @dev Installments whose due date plus `graceSeconds` has passed (0 if not funded).
    function _installmentsPast(LoanSlots storage l, uint256 graceSeconds) private view returns (uint256) {
        uint256 fundedAt = l.fundedAt;
        if (fundedAt == 0 || block.timestamp <= fundedAt + graceSeconds) return 0;
        // Installment i is past iff fundedAt + floor(term * i / n) + grace < now
        // <=> term * i < t * n with t = now - fundedAt - grace  <=> i <= (t * n - 1) / term.
        uint256 t = block.timestamp - fundedAt - graceSeconds;
        uint256 n = l.installments;
        uint256 late = (t * n - 1) / l.termSeconds;
        return late > n ? n : late;
    }

    /// @dev The cumulative amount those installments call for.
    /// @dev What an impairment calls due: the cumulative amount of the installments due by
    /// impairedAt plus the next one (capped at the last): installment i is due by then iff
    /// floor(term * i / n) <= impairedAt - fundedAt  <=>  i <= ((t + 1) * n - 1) / term.
    function _impairmentCure(LoanSlots storage l) private view returns (uint256) {
        uint256 n = l.installments;
        uint256 k = ((uint256(l.impairedAt) - l.fundedAt + 1) * n - 1) / l.termSeconds;
        k = k < n ? k + 1 : n;
        return (uint256(l.totalDue) * k) / n;
    }

    function _repaidRequired(LoanSlots storage l, uint256 graceSeconds) private view returns (uint256) {
        uint256 late = _installmentsPast(l, graceSeconds);
        return late == 0 ? 0 : (uint256(l.totalDue) * late) / l.installments;
    }

    /// @dev Failures a later event may lift: the loan waits (until it expires) instead of being rejected.
    function _isDeferred(IComplianceRules.Reason reason) private pure returns (bool) {
        return reason == IComplianceRules.Reason.RulesNotSet || reason == IComplianceRules.Reason.NoScore
            || reason == IComplianceRules.Reason.ScoreBeforeRequest || reason == IComplianceRules.Reason.ScoreExpired
            || reason == IComplianceRules.Reason.ScoreStale || reason == IComplianceRules.Reason.ModelNotApproved
            || reason == IComplianceRules.Reason.TooManyActiveLoans || reason == IComplianceRules.Reason.CoolOffActive
            || reason == IComplianceRules.Reason.Delinquent;
    }
}

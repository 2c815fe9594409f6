// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ScorechainFixture} from "./utils/ScorechainFixture.sol";
import {LoanMath} from "./utils/LoanMath.sol";
import {LifecycleGhost} from "./handlers/LifecycleGhost.sol";
import {BorrowerActions} from "./handlers/BorrowerActions.sol";
import {ILoanManager} from "../../interfaces/ILoanManager.sol";
import {ICreditScoreRegistry} from "../../interfaces/ICreditScoreRegistry.sol";

/// @title LoanLifecycleInvariants
/// @notice Foundry twin of tests/contracts/test_lifecycle_state_machine.py. forge calls the
/// handler's seventeen actions in random order with random inputs (runs x depth calls per
/// invariant, foundry.toml); the handler asserts every predicted outcome and every state edge as
/// it goes, and after every call the invariants below compare the chain with the ghost.
/// @dev Two campaigns (accounting; lifecycle with liveness), each property a named check whose
/// failure names it (forge runs one campaign of runs x depth calls per invariant function, so
/// the properties are grouped rather than paying for the handler's calls once per property).
/// Per call they read only the loans that can still change (Requested, Approved, Funded,
/// Defaulted: an external call costs ~10 us here and the suite has a time budget);
/// afterInvariant sweeps every loan at the end of each run and then closes every open loan for
/// real.
contract LoanLifecycleInvariants is ScorechainFixture {
    uint8 private constant REQUESTED = 1;
    uint8 private constant APPROVED = 2;
    uint8 private constant FUNDED = 5;
    uint16 private constant ALL = 0x3FE; // every LoanState but None
    uint16 private constant OUTSTANDING = (1 << 5) | (1 << 7); // Funded, Defaulted
    bytes32 private constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    /// @notice Per-run counters of the actions (calls; done = state changed; refused = the
    /// predicted revert was asserted), emitted after every run.
    event ActionCounts(uint256[17] calls, uint256[17] done, uint256[17] refused);

    function setUp() public {
        _deployScorechain();
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](17);
        selectors[0] = handler.request.selector;
        selectors[1] = handler.score.selector;
        selectors[2] = handler.approve.selector;
        selectors[3] = handler.fund.selector;
        selectors[4] = handler.repay.selector;
        selectors[5] = handler.markDefault.selector;
        selectors[6] = handler.writeOff.selector;
        selectors[7] = handler.recover.selector;
        selectors[8] = handler.cancel.selector;
        selectors[9] = handler.expire.selector;
        selectors[10] = handler.claim.selector;
        selectors[11] = handler.warp.selector;
        selectors[12] = handler.model.selector;
        selectors[13] = handler.banOrReinstate.selector;
        selectors[14] = handler.changeRules.selector;
        selectors[15] = handler.renewKyc.selector;
        selectors[16] = handler.impair.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    // ---------------------------------------------------------------- invariants

    /// @notice Tokens are conserved and totalOutstandingPrincipal is the sum over loans of
    /// outstandingPrincipal.
    function invariant_accountingHolds() public view {
        _tokensAreConserved();
        _outstandingPrincipalIsTheSumOverLoans();
    }

    /// @notice Loans are where the ghost put them (the handler checked each edge it took), decided
    /// only on scores signed after their request, within the active-loan cap, funded by their
    /// deadline; the contract's views agree with the twin; and every open loan has a path to a
    /// terminal state someone can call.
    function invariant_loansFollowTheLifecycle() public {
        (LifecycleGhost.OpenLoan[] memory open, uint256 closableAt) = handler.ghostOpenLoans();
        (LifecycleGhost.GhostBorrower[3] memory books, bool[3] memory delinquent) = handler.ghostBorrowers();
        _openLoansMatchTheGhostAndCanClose(open, closableAt);
        _activeLoansStayWithinTheCap(open, books);
        _borrowerViewsMatchTheTwin(books, delinquent);
    }

    /// @notice After each run: every loan matches the ghost (terminal ones included); each
    /// action's outcomes add up (done + refused <= calls, the rest skipped as not applicable) and
    /// the actions that always apply did; then every open loan is closed for real and the books
    /// must come out empty.
    function afterInvariant() external {
        (uint256[] memory ids, LifecycleGhost.GhostLoan[] memory loans) = handler.ghostLoans(ALL);
        assertEq(sys.loans.loanCount(), ids.length, "loanCount == ghost");
        for (uint256 k = 0; k < ids.length; ++k) {
            _loanMatchesTheGhost(ids[k], loans[k]);
        }
        uint256[17] memory c;
        uint256[17] memory d;
        uint256[17] memory r;
        for (uint256 i = 0; i < 17; ++i) {
            c[i] = handler.calls(i);
            d[i] = handler.done(i);
            r[i] = handler.refused(i);
            assertLe(d[i] + r[i], c[i], "done + refused <= calls");
        }
        uint256 warp = uint256(BorrowerActions.Action.Warp);
        uint256 rules = uint256(BorrowerActions.Action.ChangeRules);
        assertEq(d[warp], c[warp], "every warp moved the clock");
        assertEq(d[rules], c[rules], "every rule change was set");
        emit ActionCounts(c, d, r);
        _closeEverything();
    }

    // ---------------------------------------------------------------- accounting

    /// @dev The actors' balances and the LoanManager's add up to the supply; each balance is the
    /// ghost's; the LoanManager holds exactly the lenders' unclaimed payments (its balance ==
    /// totalClaimable == the sum of the ghost's claimables).
    function _tokensAreConserved() internal view {
        (uint256[5] memory balances, uint256[2] memory claimables, uint256 held, uint256 supply) =
            handler.ghostAccounts();
        uint256 total = sys.token.totalSupply();
        assertEq(total, supply, "supply");
        uint256 sum;
        for (uint256 i = 0; i < 5; ++i) {
            uint256 balance = sys.token.balanceOf(i < 3 ? who.borrowers[i] : who.lenders[i - 3]);
            assertEq(balance, balances[i], "token balance == ghost");
            sum += balance;
        }
        for (uint256 i = 0; i < 2; ++i) {
            assertEq(sys.loans.claimable(who.lenders[i]), claimables[i], "claimable == ghost");
        }
        uint256 managerBalance = sys.token.balanceOf(address(sys.loans));
        assertEq(sum + managerBalance, total, "actors + LoanManager == supply");
        assertEq(managerBalance, sys.loans.totalClaimable(), "LoanManager balance == totalClaimable");
        assertEq(managerBalance, claimables[0] + claimables[1], "LoanManager balance == sum of ghost claimables");
        assertEq(managerBalance, held, "LoanManager balance == ghost held");
    }

    /// @dev Only Funded and Defaulted loans have outstanding principal (the view returns 0 for
    /// any other state): each is principal minus the principal share of what was paid, and
    /// their sum is totalOutstandingPrincipal.
    function _outstandingPrincipalIsTheSumOverLoans() internal view {
        (uint256[] memory ids, LifecycleGhost.GhostLoan[] memory loans) = handler.ghostLoans(OUTSTANDING);
        uint256 total;
        for (uint256 k = 0; k < ids.length; ++k) {
            LifecycleGhost.GhostLoan memory g = loans[k];
            uint256 outstanding = sys.loans.outstandingPrincipal(ids[k]);
            uint256 paid = g.repaid + g.recovered;
            assertEq(outstanding, g.principal - LoanMath.principalShare(paid, g.principal, g.totalDue), "outstanding");
            total += outstanding;
        }
        assertEq(sys.loans.totalOutstandingPrincipal(), total, "totalOutstandingPrincipal == sum over loans");
    }

    // ---------------------------------------------------------------- lifecycle

    /// @dev The loan's state is the ghost's (a loan the ghost did not move has not moved: every
    /// change went along an edge the handler checked), as are its terms, payments (never beyond
    /// totalDue), lender and scoreNonce. A decided loan's snapshot is the record the approval read,
    /// whose nonce is at least the loan's scoreNonce (no loan approved on a score signed before its
    /// request); nothing was funded without an approval, after its deadline or before its decision.
    function _loanMatchesTheGhost(uint256 id, LifecycleGhost.GhostLoan memory g) internal view {
        ILoanManager.Loan memory l = sys.loans.getLoan(id);
        assertEq(uint8(l.state), g.state, "state == ghost");
        assertEq(l.borrower, g.borrower, "borrower");
        assertEq(l.totalDue, g.totalDue, "totalDue");
        assertEq(l.repaid, g.repaid, "repaid");
        assertEq(l.recovered, g.recovered, "recovered");
        assertLe(uint256(l.repaid) + l.recovered, l.totalDue, "paid <= totalDue");
        _servicingMatchesTheGhost(l, g);
        assertEq(l.lender, g.lender, "lender");
        assertEq(l.scoreNonce, g.scoreNonce, "scoreNonce");
        if (g.approved) {
            assertTrue(g.decidedNonce >= l.scoreNonce, "approved on a score signed after the request");
            assertEq(l.modelId, g.decidedModel, "approved modelId is the record's");
            assertEq(l.scoreIssuedAt, g.decidedIssuedAt, "approved issuedAt is the record's");
        } else {
            assertEq(l.scoreIssuedAt, 0, "no score snapshot without an approval");
        }
        if (l.fundedAt != 0) {
            assertTrue(g.approved, "funded only after an approval");
            assertLe(l.fundedAt, l.fundBy, "nothing funded after its deadline (fundedAt <= fundBy)");
            assertLe(l.decidedAt, l.fundedAt, "decidedAt <= fundedAt");
        }
    }

    /// @dev Every open loan matches the ghost, its isDefaultable and expiresAt agree with the twin,
    /// and it has a path to a terminal state someone can call: a Requested or Approved loan
    /// expires (expire: anyone, even while paused), a Funded one is defaultable once its last
    /// installment, grace and its public default delay have passed (markDefault: anyone; the
    /// manager is not paused), and a
    /// regulator holds the role to write off what is Defaulted.
    function _openLoansMatchTheGhostAndCanClose(LifecycleGhost.OpenLoan[] memory open, uint256 closableAt) internal {
        assertEq(sys.loans.loanCount(), handler.ghostLoanCount(), "loanCount == ghost");
        assertTrue(!sys.loans.paused(), "not paused (markDefault needs it)");
        assertTrue(sys.loans.hasRole(REGULATOR_ROLE, who.regulator), "a regulator can write off");
        uint256 funded;
        for (uint256 k = 0; k < open.length; ++k) {
            uint256 id = open[k].id;
            _loanMatchesTheGhost(id, open[k].loan);
            assertTrue(sys.loans.isDefaultable(id) == open[k].defaultable, "isDefaultable == twin");
            assertTrue(
                sys.loans.isPubliclyDefaultable(id) == open[k].publiclyDefaultable, "isPubliclyDefaultable == twin"
            );
            _lateFeeMatchesTheTwinAndStaysUnderTheCap(id, open[k].loan, open[k].lateFeeOwed);
            uint256 expiresAt = sys.loans.expiresAt(id);
            assertEq(expiresAt, open[k].expiresAt, "expiresAt == twin");
            uint8 state = open[k].loan.state;
            if (state == REQUESTED || state == APPROVED) assertTrue(expiresAt < closableAt, "an open loan expires");
            if (state == FUNDED) ++funded;
        }
        if (funded == 0) return;
        vm.warp(closableAt);
        for (uint256 k = 0; k < open.length; ++k) {
            if (open[k].loan.state != FUNDED) continue;
            assertTrue(
                sys.loans.isPubliclyDefaultable(open[k].id),
                "a funded loan past its term, grace and public delay is defaultable by anyone"
            );
        }
        vm.warp(handler.ghostNow());
    }

    /// @dev Servicing state is the ghost's: the terms snapshotted at approval (aprBps + lateRateBps
    /// never above the usury cap in force at approval), the impairment flag (only on a Funded loan
    /// while it is open), the late fee charged and paid (paid <= charged); and nobody but the lender
    /// or a servicer marked a default while the public window was closed.
    function _servicingMatchesTheGhost(ILoanManager.Loan memory l, LifecycleGhost.GhostLoan memory g) internal pure {
        assertEq(l.lateRateBps, g.lateRateBps, "lateRateBps == ghost");
        assertEq(l.publicDefaultDelay, g.publicDelay, "publicDefaultDelay == ghost");
        if (g.approved) {
            assertLe(uint256(l.aprBps) + l.lateRateBps, g.capAtApproval, "effective rate <= usury cap");
        }
        if (l.state == ILoanManager.LoanState.Funded) assertEq(l.impairedAt, g.impairedAt, "impairedAt == ghost");
        assertEq(l.lateFeeAccrued, g.feeAccrued, "lateFeeAccrued == ghost");
        assertEq(l.lateFeePaid, g.feePaid, "lateFeePaid == ghost");
        assertLe(l.lateFeePaid, l.lateFeeAccrued, "late fee paid <= charged");
        assertTrue(!g.defaultedByAnyone || g.publicWindowAtDefault, "only lender/servicer default in the window");
    }

    /// @dev lateFeeOwed and amountOwed agree with the twin; the fee never exceeds the late rate on
    /// the whole principal since funding (so aprBps + the penalty stays under the cap); an unpaid
    /// fee on a Funded loan means it is overdue now (payments clear the fee first).
    function _lateFeeMatchesTheTwinAndStaysUnderTheCap(uint256 id, LifecycleGhost.GhostLoan memory g, uint256 feeOwed)
        internal
        view
    {
        assertEq(sys.loans.lateFeeOwed(id), feeOwed, "lateFeeOwed == twin");
        if (g.state != FUNDED && g.state != 7) return;
        assertEq(sys.loans.amountOwed(id), g.totalDue - g.repaid - g.recovered + feeOwed, "amountOwed == twin");
        uint256 charged = g.feePaid + feeOwed;
        uint256 ceiling = (g.principal * g.lateRateBps * (handler.ghostNow() - g.fundedAt)) / (10_000 * 365 days);
        assertLe(charged, ceiling, "late fee <= lateRateBps on the principal over the time since funding");
        if (g.state == FUNDED && g.feeAccrued > g.feePaid) {
            uint256 due = LoanMath.minimumRepaid(handler.ghostNow(), g.fundedAt, g.termSeconds, g.installments, 0, g.totalDue);
            assertTrue(g.repaid < due, "an unpaid late fee only on an overdue loan");
        }
    }

    /// @dev Active loans (Approved or Funded) per person (all their addresses) equal the ghost's count and the number
    /// of such loans, and never exceed the maxActiveLoans in force; lastDefaultAt is the ghost's.
    function _activeLoansStayWithinTheCap(
        LifecycleGhost.OpenLoan[] memory open,
        LifecycleGhost.GhostBorrower[3] memory books
    ) internal view {
        uint256 cap = sys.compliance.ruleSet().maxActiveLoans;
        assertEq(cap, handler.ghostMaxActiveLoans(), "maxActiveLoans in force");
        for (uint256 i = 0; i < 3; ++i) {
            address b = who.borrowers[i];
            uint256 counted;
            for (uint256 k = 0; k < open.length; ++k) {
                uint8 state = open[k].loan.state;
                if (handler.ghostIdentity(open[k].loan.borrower) == handler.ghostIdentity(b)
                        && (state == APPROVED || state == FUNDED)) ++counted;
            }
            uint256 onChain = sys.loans.activeLoanCount(b);
            assertEq(onChain, books[i].active, "activeLoanCount == ghost");
            assertEq(onChain, counted, "activeLoanCount == Approved + Funded loans");
            assertLe(onChain, cap, "activeLoanCount <= maxActiveLoans");
            assertEq(sys.loans.lastDefaultAt(b), books[i].lastDefaultAt, "lastDefaultAt");
        }
    }

    /// @dev isDelinquent and each borrower's latest score record (model, issuedAt, nonce) agree
    /// with the twin.
    function _borrowerViewsMatchTheTwin(LifecycleGhost.GhostBorrower[3] memory books, bool[3] memory delinquent)
        internal
        view
    {
        for (uint256 i = 0; i < 3; ++i) {
            address b = who.borrowers[i];
            assertTrue(sys.loans.isDelinquent(b) == delinquent[i], "isDelinquent == twin");
            ICreditScoreRegistry.ScoreRecord memory rec = sys.scores.latestScore(b);
            assertEq(rec.issuedAt, books[i].score.issuedAt, "score issuedAt");
            assertEq(rec.nonce, books[i].score.nonce, "score nonce");
            assertEq(rec.modelId, books[i].score.modelId, "score model");
        }
    }

    // ---------------------------------------------------------------- closing

    /// @dev Walks every open loan to a terminal state for real (expire; markDefault then writeOff;
    /// writeOff), then nothing is outstanding or active, no borrower is delinquent and the lenders
    /// can claim the LoanManager empty. (At the end of a run; forge discards the state after.)
    function _closeEverything() internal {
        (LifecycleGhost.OpenLoan[] memory open, uint256 closableAt) = handler.ghostOpenLoans();
        vm.warp(closableAt);
        for (uint256 k = 0; k < open.length; ++k) {
            uint256 id = open[k].id;
            ILoanManager.LoanState state = sys.loans.getLoan(id).state;
            if (state == ILoanManager.LoanState.Requested || state == ILoanManager.LoanState.Approved) {
                callAs(who.relayer, address(sys.loans), abi.encodeCall(ILoanManager.expire, (id)), "expire");
                continue;
            }
            if (state == ILoanManager.LoanState.Funded) {
                callAs(who.relayer, address(sys.loans), abi.encodeCall(ILoanManager.markDefault, (id)), "markDefault");
            }
            callAs(who.regulator, address(sys.loans), abi.encodeCall(ILoanManager.writeOff, (id)), "writeOff");
        }
        for (uint256 k = 0; k < open.length; ++k) {
            ILoanManager.LoanState state = sys.loans.getLoan(open[k].id).state;
            assertTrue(state == ILoanManager.LoanState.Expired || state == ILoanManager.LoanState.WrittenOff, "closed");
        }
        assertEq(sys.loans.totalOutstandingPrincipal(), 0, "nothing outstanding once all is closed");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(sys.loans.activeLoanCount(who.borrowers[i]), 0, "nothing active once all is closed");
            assertTrue(!sys.loans.isDelinquent(who.borrowers[i]), "no one delinquent once all is written off");
        }
        for (uint256 i = 0; i < 2; ++i) {
            address lender = who.lenders[i];
            if (sys.loans.claimable(lender) == 0) continue;
            callAs(lender, address(sys.loans), abi.encodeCall(ILoanManager.claim, (lender)), "claim");
        }
        assertEq(sys.token.balanceOf(address(sys.loans)), 0, "the LoanManager can be claimed empty");
    }
}

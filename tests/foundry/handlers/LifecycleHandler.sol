// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {BorrowerActions} from "./BorrowerActions.sol";
import {LifecycleGhost, Scorechain, Actors} from "./LifecycleGhost.sol";
import {ILoanManager} from "../../../interfaces/ILoanManager.sol";
import {IComplianceRules} from "../../../interfaces/IComplianceRules.sol";
import {IBorrowerRegistry} from "../../../interfaces/IBorrowerRegistry.sol";

/// @title LifecycleHandler
/// @notice The target of the lifecycle invariant campaign: the borrower actions (BorrowerActions)
/// and what lenders, servicers, anyone, the clock and the operators do: fund, markDefault (by the
/// lender, a servicer or anyone), impair / remove an impairment, writeOff, recover, expire, claim,
/// warp, revoke/approve a model, ban/suspend/reinstate, change the rules, renew KYC. Same contract as BorrowerActions: bounded inputs, predicted outcome asserted,
/// skip when not applicable.
contract LifecycleHandler is BorrowerActions {
    constructor(
        Scorechain memory system,
        Actors memory actors_,
        IComplianceRules.RuleSet memory rules,
        bytes32 firstModel
    ) LifecycleGhost(system, actors_, rules, firstModel) {}

    // ---------------------------------------------------------------- lenders and anyone

    /// @notice A lender funds an Approved loan (one time in eight the borrower tries and is refused,
    /// from the loan's own address or, for the two-address person, from their other address).
    function fund(uint256 loanPick, uint256 lenderSeed) external step(Action.Fund) {
        uint256 loanId = _pickLoan(loanPick, uint16(1 << APPROVED));
        if (loanId == 0) return;
        GhostLoan storage g = _loans[loanId];
        bytes memory data = abi.encodeCall(ILoanManager.fund, (loanId));
        if (_oneIn(8, lenderSeed, 9)) {
            address other = g.borrower == a.borrowers[1] ? a.borrowers[2] : a.borrowers[1];
            bool fromOther = _person(other) == _person(g.borrower) && (lenderSeed >> 16) % 2 == 0;
            bytes memory e = fromOther
                ? abi.encodeWithSelector(
                    ILoanManager.LoanLenderSameIdentity.selector, loanId, other, ghostIdentity(g.borrower)
                )
                : abi.encodeWithSelector(ILoanManager.LoanSelfFunding.selector, loanId);
            expectRevertAs(
                fromOther ? other : g.borrower, address(s.loans), data, e, "a person never funds their own loan"
            );
            ++_refused[uint256(Action.Fund)];
            return;
        }
        address lender = a.lenders[lenderSeed % 2];
        bytes memory refusal = _fundingRefusal(loanId, g);
        if (refusal.length != 0) {
            expectRevertAs(lender, address(s.loans), data, refusal, "funding refused");
            ++_refused[uint256(Action.Fund)];
            return;
        }
        if (_balance[lender] < g.principal) return;
        callAs(lender, address(s.loans), data, "fund");
        assertTrue(g.approved, "funded only what the twin approved");
        assertLe(_now, g.fundBy, "funded by the approval's deadline");
        g.lender = lender;
        g.fundedAt = _now;
        _balance[lender] -= g.principal;
        _balance[g.borrower] += g.principal;
        _move(loanId, FUNDED);
        ++_done[uint256(Action.Fund)];
    }

    /// @notice The lender, a servicer or anyone (a third of the time each) marks a Funded loan
    /// defaulted: the lender or a servicer once a late installment is past grace (or the loan has
    /// been impaired for longer than grace), anyone only once one is past grace + the public delay.
    function markDefault(uint256 loanPick) external step(Action.MarkDefault) {
        uint256 loanId = _pickLoan(loanPick, uint16(1 << FUNDED));
        if (loanId == 0) return;
        GhostLoan storage g = _loans[loanId];
        bytes memory data = abi.encodeCall(ILoanManager.markDefault, (loanId));
        uint256 role = uint256(keccak256(abi.encode(loanPick, 28))) % 3;
        address caller = role == 0 ? g.lender : role == 1 ? a.servicer : a.relayer;
        bool publicWindow = ghostPubliclyDefaultable(loanId);
        if (!publicWindow && !ghostDefaultable(loanId)) {
            bytes memory e = abi.encodeWithSelector(ILoanManager.LoanNotOverdue.selector, loanId);
            expectRevertAs(caller, address(s.loans), data, e, "not overdue");
            ++_refused[uint256(Action.MarkDefault)];
            return;
        }
        if (!publicWindow && role == 2) {
            bytes memory e = _err2(ILoanManager.LoanDefaultReserved.selector, loanId, uint160(caller));
            expectRevertAs(caller, address(s.loans), data, e, "the public window is not open");
            ++_refused[uint256(Action.MarkDefault)];
            return;
        }
        callAs(caller, address(s.loans), data, "markDefault");
        _chargeLateFee(g);
        g.defaultedByAnyone = role == 2;
        g.publicWindowAtDefault = publicWindow;
        GhostBorrower storage b = _book[_person(g.borrower)];
        --b.active;
        ++b.unresolvedDefaults;
        b.lastDefaultAt = _now;
        _move(loanId, DEFAULTED);
        assertEq(s.loans.getLoan(loanId).lateFeeAccrued, g.feeAccrued, "late fee fixed at default == twin");
        ++_done[uint256(Action.MarkDefault)];
    }

    /// @notice The lender or a servicer impairs a Funded loan or removes its impairment; one time in
    /// four anyone tries and is refused, one in eight the same step is repeated and refused.
    function impair(uint256 loanPick, uint256 seed) external step(Action.Impair) {
        uint256 loanId = _pickLoan(loanPick, uint16(1 << FUNDED));
        if (loanId == 0) return;
        GhostLoan storage g = _loans[loanId];
        bool impaired = g.impairedAt != 0;
        bool repeat = _oneIn(8, seed, 29);
        bool remove = impaired != repeat; // remove an impairment, impair an unimpaired loan
        bytes memory data = remove
            ? abi.encodeCall(ILoanManager.removeLoanImpairment, (loanId))
            : abi.encodeCall(ILoanManager.impairLoan, (loanId));
        if (_oneIn(4, seed, 30)) {
            bytes memory e = _err2(ILoanManager.LoanUnauthorized.selector, loanId, uint160(a.relayer));
            expectRevertAs(a.relayer, address(s.loans), data, e, "only the lender or a servicer impairs");
            ++_refused[uint256(Action.Impair)];
            return;
        }
        address caller = seed % 2 == 0 ? g.lender : a.servicer;
        if (repeat) {
            bytes4 selector = impaired ? ILoanManager.LoanAlreadyImpaired.selector : ILoanManager.LoanNotImpaired.selector;
            expectRevertAs(caller, address(s.loans), data, abi.encodeWithSelector(selector, loanId), "repeated");
            ++_refused[uint256(Action.Impair)];
            return;
        }
        callAs(caller, address(s.loans), data, remove ? "removeLoanImpairment" : "impairLoan");
        g.impairedAt = remove ? 0 : _now;
        assertEq(s.loans.getLoan(loanId).impairedAt, g.impairedAt, "impairedAt == twin");
        ++_done[uint256(Action.Impair)];
    }

    /// @notice The lender or a regulator writes off a Defaulted loan; anyone else is refused.
    function writeOff(uint256 loanPick, uint256 who) external step(Action.WriteOff) {
        uint256 loanId = _pickLoan(loanPick, uint16(1 << DEFAULTED));
        if (loanId == 0) return;
        GhostLoan storage g = _loans[loanId];
        bytes memory data = abi.encodeCall(ILoanManager.writeOff, (loanId));
        if (who % 3 == 2) {
            bytes memory e = abi.encodeWithSelector(ILoanManager.LoanUnauthorized.selector, loanId, a.relayer);
            expectRevertAs(a.relayer, address(s.loans), data, e, "only the lender or a regulator writes off");
            ++_refused[uint256(Action.WriteOff)];
            return;
        }
        callAs(who % 3 == 0 ? g.lender : a.regulator, address(s.loans), data, "writeOff");
        if (g.repaid + g.recovered < g.totalDue) --_book[_person(g.borrower)].unresolvedDefaults;
        _move(loanId, WRITTEN_OFF);
        assertEq(s.loans.outstandingPrincipal(loanId), 0, "nothing outstanding after a write-off");
        ++_done[uint256(Action.WriteOff)];
    }

    /// @notice The borrower pays towards a Defaulted or WrittenOff loan (part, all, or more).
    function recover(uint256 loanPick, uint256 fracBps, uint256 over) external step(Action.Recover) {
        uint256 loanId = _pickLoan(loanPick, uint16((1 << DEFAULTED) | (1 << WRITTEN_OFF)));
        if (loanId == 0) return;
        GhostLoan storage g = _loans[loanId];
        uint256 feeDue = g.feeAccrued - g.feePaid;
        uint256 remaining = g.totalDue - g.repaid - g.recovered + feeDue;
        assertEq(s.loans.amountOwed(loanId), remaining, "amountOwed == twin (late fee included)");
        if (remaining == 0) {
            bytes memory e = abi.encodeWithSelector(ILoanManager.LoanZeroAmount.selector, loanId);
            bytes memory data = abi.encodeCall(ILoanManager.recover, (loanId, 1));
            expectRevertAs(g.borrower, address(s.loans), data, e, "nothing left to recover");
            ++_refused[uint256(Action.Recover)];
            return;
        }
        bool overpay = _oneIn(5, over, 10);
        uint256 amount = overpay ? remaining : _portion(remaining, fracBps);
        uint256 offered = overpay ? remaining + bound(over, 1, 1e12) : amount;
        if (_balance[g.borrower] < amount) return;
        callAs(g.borrower, address(s.loans), abi.encodeCall(ILoanManager.recover, (loanId, offered)), "recover");
        uint256 feePart = amount < feeDue ? amount : feeDue;
        g.feePaid += feePart;
        g.recovered += amount - feePart;
        _pay(g.borrower, g.lender, amount);
        if (g.state == DEFAULTED && amount == remaining) --_book[_person(g.borrower)].unresolvedDefaults;
        assertEq(s.loans.getLoan(loanId).recovered, g.recovered, "recovered (an overpayment is cut, the fee first)");
        assertEq(s.loans.getLoan(loanId).lateFeePaid, g.feePaid, "lateFeePaid == twin");
        ++_done[uint256(Action.Recover)];
    }

    /// @notice Anyone expires a Requested loan past its TTL or an Approved loan past its deadline.
    function expire(uint256 loanPick) external step(Action.Expire) {
        uint256 loanId = _pickLoan(loanPick, uint16((1 << REQUESTED) | (1 << APPROVED)));
        if (loanId == 0) return;
        GhostLoan storage g = _loans[loanId];
        uint256 at = ghostExpiresAt(loanId);
        bytes memory data = abi.encodeCall(ILoanManager.expire, (loanId));
        if (_now <= at) {
            bytes memory e = abi.encodeWithSelector(ILoanManager.LoanNotExpired.selector, loanId, at);
            expectRevertAs(a.relayer, address(s.loans), data, e, "not expired yet");
            ++_refused[uint256(Action.Expire)];
            return;
        }
        callAs(a.relayer, address(s.loans), data, "expire");
        if (g.state == APPROVED) --_book[_person(g.borrower)].active;
        _move(loanId, EXPIRED);
        ++_done[uint256(Action.Expire)];
    }

    /// @notice A lender claims what payments accrued to them (one time in four to the other lender).
    function claim(uint256 lenderSeed, uint256 toSeed) external step(Action.Claim) {
        address lender = a.lenders[lenderSeed % 2];
        address to = _oneIn(4, toSeed, 11) ? a.lenders[1 - lenderSeed % 2] : lender;
        uint256 amount = _claimable[lender];
        bytes memory data = abi.encodeCall(ILoanManager.claim, (to));
        if (amount == 0) {
            bytes memory e = abi.encodeWithSelector(ILoanManager.LoanNothingToClaim.selector, lender);
            expectRevertAs(lender, address(s.loans), data, e, "nothing to claim");
            ++_refused[uint256(Action.Claim)];
            return;
        }
        uint256 paid = abi.decode(callAs(lender, address(s.loans), data, "claim"), (uint256));
        assertEq(paid, amount, "claim pays the whole claimable balance");
        _claimable[lender] = 0;
        _held -= amount;
        _balance[to] += amount;
        ++_done[uint256(Action.Claim)];
    }

    // ---------------------------------------------------------------- the clock and the operators

    /// @notice Time passes: mostly up to two days, one time in ten two to 90 days (expiries, late
    /// installments, stale scores, cool-offs and KYC expiry all come with the long jumps).
    function warp(uint256 seed) external step(Action.Warp) {
        seed = _spread(seed, 12);
        _advance(_oneIn(10, seed, 12) ? bound(seed, 2 days, 90 days) : bound(seed, 1, 2 days));
        ++_done[uint256(Action.Warp)];
    }

    /// @notice The current model is revoked (one time in ten), or a new model is registered and
    /// approved by a second account (four eyes) and becomes the one the oracle scores with.
    function model(uint256 seed) external step(Action.Model) {
        bytes32 current = _modelIds[_modelIds.length - 1];
        if (_modelApproved[current] && _oneIn(10, seed, 13)) {
            vm.prank(a.approver);
            s.models.revoke(current, uint8(seed >> 8));
            _modelApproved[current] = false;
        } else {
            if (_modelIds.length >= MAX_MODELS) return;
            bytes32 next = keccak256(abi.encode("scorechain-model", _modelIds.length));
            vm.prank(a.registrar);
            s.models.register(next, keccak256("metrics"), keccak256("data"), keccak256("schema"), "ipfs://m", 1);
            vm.prank(a.approver);
            s.models.approve(next);
            _modelIds.push(next);
            _modelApproved[next] = true;
        }
        ++_done[uint256(Action.Model)];
    }

    /// @notice A regulator reinstates the borrower who is out (at most one is out at a time, so the
    /// market keeps moving), or, one time in three, bans (even seeds) or suspends an active one.
    function banOrReinstate(uint256 borrowerSeed, uint256 seed) external step(Action.BanOrReinstate) {
        address b = a.borrowers[borrowerSeed % 3];
        for (uint256 i = 0; i < 3; ++i) {
            if (_book[_person(a.borrowers[i])].status != ACTIVE) b = a.borrowers[i];
        }
        GhostBorrower storage gb = _book[_person(b)]; // per identity: one address stands for the person
        if (gb.status == ACTIVE && !_oneIn(3, seed, 26)) return;
        vm.prank(a.regulator);
        if (gb.status != ACTIVE) {
            s.borrowers.reinstate(b);
            gb.status = ACTIVE;
        } else if (seed % 2 == 0) {
            s.borrowers.ban(b, uint8(seed >> 8));
            gb.status = BANNED;
        } else {
            s.borrowers.suspend(b, uint8(seed >> 8));
            gb.status = SUSPENDED;
        }
        ++_done[uint256(Action.BanOrReinstate)];
    }

    /// @notice A regulator replaces the rule set: max PD, max score age, cool-off, request TTL,
    /// funding window, late-interest premium (0 to the usury cap), public default delay (an hour to
    /// 30 days) and max active loans (never below a borrower's current count, so the cap invariant
    /// compares with the rule in force).
    function changeRules(uint256 maxPdBps, uint256 maxAgeSeed, uint256 maxActiveSeed, uint256 windowSeed)
        external
        step(Action.ChangeRules)
    {
        uint256 floor = 1;
        for (uint256 i = 0; i < 3; ++i) {
            uint256 active = _book[_person(a.borrowers[i])].active;
            if (active > floor) floor = active;
        }
        IComplianceRules.RuleSet memory r = _rules;
        r.maxPdBps = uint16(bound(_spread(maxPdBps, 20), 500, 4_000));
        r.maxScoreAgeSeconds = uint64(bound(_spread(maxAgeSeed, 21), 1, 30) * 1 days);
        r.coolOffSeconds = uint64(bound(_spread(maxAgeSeed, 22), 0, 120) * 1 days);
        r.maxActiveLoans = uint8(bound(maxActiveSeed, floor, 4));
        // Mostly three days or more; one time in four as short as an hour.
        bool tight = _oneIn(4, windowSeed, 23);
        r.requestTtlSeconds = uint64(bound(_spread(windowSeed, 24), tight ? 1 hours : 3 days, 14 days));
        r.fundingWindowSeconds = uint64(bound(_spread(windowSeed, 25), tight ? 1 hours : 3 days, 21 days));
        r.lateInterestPremiumBps = uint16(bound(_spread(maxPdBps, 31), 0, r.maxAprBps));
        r.publicDefaultDelaySeconds = uint64(bound(_spread(windowSeed, 32), 1 hours, 30 days));
        uint256 versionBefore = s.compliance.version();
        vm.prank(a.regulator);
        s.compliance.setRuleSet(r);
        assertEq(s.compliance.version(), versionBefore + 1, "a rule change bumps the version");
        _setGhostRules(r);
        ++_done[uint256(Action.ChangeRules)];
    }

    /// @notice The KYC provider renews a borrower's KYC for 180 to 730 days (one time in four for as
    /// little as a day); a banned borrower is refused.
    function renewKyc(uint256 borrowerSeed, uint256 days_) external step(Action.RenewKyc) {
        address b = a.borrowers[borrowerSeed % 3];
        days_ = _spread(days_, 14);
        uint64 expiry = uint64(_now + (_oneIn(4, days_, 14) ? bound(days_, 1, 730) : bound(days_, 180, 730)) * 1 days);
        bytes32 identity = ghostIdentity(b);
        bytes memory data = abi.encodeCall(IBorrowerRegistry.update, (identity, GB, expiry));
        if (_book[_person(b)].status == BANNED) {
            bytes memory e = abi.encodeWithSelector(IBorrowerRegistry.BorrowerIdentityBanned.selector, identity);
            expectRevertAs(a.kyc, address(s.borrowers), data, e, "a banned borrower is not re-KYCed");
            ++_refused[uint256(Action.RenewKyc)];
            return;
        }
        callAs(a.kyc, address(s.borrowers), data, "renewKyc");
        _book[_person(b)].kycExpiry = expiry;
        ++_done[uint256(Action.RenewKyc)];
    }

    // ---------------------------------------------------------------- internals

    /// @dev What fund() must revert with now (empty if it must succeed), in the contract's order.
    function _fundingRefusal(uint256 loanId, GhostLoan storage g) internal view returns (bytes memory) {
        if (_now > g.fundBy) {
            return abi.encodeWithSelector(ILoanManager.LoanApprovalExpired.selector, loanId, g.fundBy);
        }
        IComplianceRules.Reason reason = IComplianceRules.Reason.None;
        if (!_eligible(g.borrower)) reason = IComplianceRules.Reason.BorrowerIneligible;
        else if (!_modelApproved[g.decidedModel]) reason = IComplianceRules.Reason.ModelNotApproved;
        else if (ghostDelinquent(g.borrower)) reason = IComplianceRules.Reason.Delinquent;
        if (reason == IComplianceRules.Reason.None) return "";
        return abi.encodeWithSelector(ILoanManager.LoanNotFundable.selector, loanId, reason);
    }
}

"""LoanManager: request, approve/reject/defer, fund, repay (interest and installments), default,
write-off, recovery, claim, cancel, pause; every revert and event. The attacks on the decision
(which score decides, who decides, delinquency, expiry, servicing) are in test_decision_integrity.py."""

import brownie
import pytest
from brownie import LoanManager, accounts, chain

from scripts.scorechain_testkit import (
    recorded,
    DAY,
    DEFAULT_RULES,
    MODEL_ID,
    YEAR_SECONDS,
    due_dates,
    err,
    minimum_repaid,
    principal_share,
    role_err,
    total_due,
)

P = 5_000 * 10**6  # 5,000 tUSD
APR = 1_200
TERM = 90 * DAY
N = 3

REQUESTED, APPROVED, REJECTED, CANCELLED, FUNDED, REPAID, DEFAULTED, WRITTEN_OFF, EXPIRED = range(1, 10)
# IComplianceRules.Reason
R_RULES_NOT_SET, R_INELIGIBLE, R_JURISDICTION, R_TERM_SHORT, R_TERM_LONG, R_APR = 1, 2, 3, 4, 5, 6
R_ACTIVE, R_COOL_OFF, R_NO_SCORE, R_EXPIRED, R_STALE, R_MODEL, R_PD, R_BELOW_MIN, R_PRINCIPAL = range(7, 16)
R_BEFORE_REQUEST, R_DELINQUENT = 16, 17


def now():
    return chain[-1].timestamp


@pytest.fixture
def requested(ready, loans, borrower):
    tx = loans.request(P, APR, TERM, N, {"from": borrower})
    return tx.return_value


@pytest.fixture
def approved(requested, loans, oracle, borrower):
    oracle.fresh_score(borrower, borrower)
    loans.approve(requested, {"from": borrower})
    return requested


@pytest.fixture
def funded(approved, loans, lender):
    loans.fund(approved, {"from": lender})
    return approved


# ------------------------------------------------------------------ request


@pytest.mark.ganache
def test_request_emits_score_requested_and_stores_loan(ready, loans, borrower):
    tx = loans.request(P, APR, TERM, N, {"from": borrower})
    assert tx.return_value == 1
    assert tx.events["ScoreRequested"] == {"loanId": 1, "borrower": borrower, "principal": P, "aprBps": APR,
                                           "termSeconds": TERM}
    loan = loans.getLoan(1)
    assert (loan["borrower"], loan["state"], loan["principal"], loan["totalDue"], loan["installments"]) == (
        borrower, REQUESTED, P, total_due(P, APR, TERM), N)
    assert loans.loanCount() == 1


def test_request_by_unregistered_account_reverts(ready, loans, lender):
    with brownie.reverts(err("LoanBorrowerIneligible", lender)):
        loans.request(P, APR, TERM, N, {"from": lender})


def test_request_by_banned_suspended_or_kyc_expired_borrower_reverts(ready, loans, borrowers, regulator, borrower,
                                                                      borrower2):
    borrowers.ban(borrower, 3, {"from": regulator})
    with brownie.reverts(err("LoanBorrowerIneligible", borrower)):
        loans.request(P, APR, TERM, N, {"from": borrower})
    borrowers.suspend(borrower2, 1, {"from": regulator})
    with brownie.reverts(err("LoanBorrowerIneligible", borrower2)):
        loans.request(P, APR, TERM, N, {"from": borrower2})
    borrowers.reinstate(borrower2, {"from": regulator})
    chain.sleep(366 * DAY)
    chain.mine()
    with brownie.reverts(err("LoanBorrowerIneligible", borrower2)):
        loans.request(P, APR, TERM, N, {"from": borrower2})


def test_request_with_bad_terms_reverts(ready, loans, borrower):
    with brownie.reverts(err("LoanInvalidTerm", TERM, 0)):
        loans.request(P, APR, TERM, 0, {"from": borrower})
    with brownie.reverts(err("LoanInvalidTerm", 2, 3)):
        loans.request(P, APR, 2, 3, {"from": borrower})
    with brownie.reverts(err("LoanInvalidPrincipal", 0)):
        loans.request(0, APR, TERM, N, {"from": borrower})
    with brownie.reverts(err("LoanInvalidPrincipal", 2**96)):
        loans.request(2**96, APR, TERM, N, {"from": borrower})


# ------------------------------------------------------------------ approve


def test_approve_records_score_snapshot_and_emits(requested, loans, oracle, borrower, compliance):
    tx_score = oracle.fresh_score(borrower, borrower, pd_bps=321, score=777)
    tx = loans.approve(requested, {"from": borrower})
    assert tx.return_value is True
    ev = tx.events["LoanApproved"]
    issued = recorded(tx_score.events["ScoreRecorded"])["issuedAt"]
    assert (ev["loanId"], ev["borrower"], ev["pdBps"], ev["score"], ev["scoreIssuedAt"], ev["ruleVersion"]) == (
        requested, borrower, 321, 777, issued, compliance.version())
    assert ev["modelId"] == MODEL_ID
    loan = loans.getLoan(requested)
    assert (loan["state"], loan["pdBps"], loan["score"], loan["scoreIssuedAt"], loan["modelId"]) == (
        APPROVED, 321, 777, issued, MODEL_ID)
    assert loans.activeLoanCount(borrower) == 1


def test_approve_without_score_is_deferred_not_rejected(requested, loans, borrower):
    with brownie.reverts(err("LoanNotDecidable", requested, R_NO_SCORE)):
        loans.approve(requested, {"from": borrower})
    assert loans.getLoan(requested)["state"] == REQUESTED


def test_approve_with_stale_expired_or_revoked_model_score_is_deferred(requested, loans, oracle, borrower, models,
                                                                        approver):
    oracle.fresh_score(borrower, borrower, valid_for=DEFAULT_RULES["maxScoreAgeSeconds"] + 10 * DAY)
    chain.sleep(DEFAULT_RULES["maxScoreAgeSeconds"] + 1)
    chain.mine()
    with brownie.reverts(err("LoanNotDecidable", requested, R_STALE)):
        loans.approve(requested, {"from": borrower})
    oracle.fresh_score(borrower, borrower, valid_for=60)
    chain.sleep(61)
    chain.mine()
    with brownie.reverts(err("LoanNotDecidable", requested, R_EXPIRED)):
        loans.approve(requested, {"from": borrower})
    oracle.fresh_score(borrower, borrower)
    models.revoke(MODEL_ID, 1, {"from": approver})
    with brownie.reverts(err("LoanNotDecidable", requested, R_MODEL)):
        loans.approve(requested, {"from": borrower})
    assert loans.getLoan(requested)["state"] == REQUESTED


def test_approve_without_rules_is_deferred(admin, kyc, registrar, approver, borrower):
    from scripts.scorechain_deploy import deploy_system
    from scripts.scorechain_testkit import GB, REGISTERED_ORACLES, Oracle, enrol

    fresh = deploy_system(admin, oracle_signers=[REGISTERED_ORACLES[0].address], threshold=1,
                          roles={"kyc_provider": kyc, "model_registrar": registrar, "model_approver": approver})
    fresh.model_registry.register(MODEL_ID, "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32, "u", 1,
                                  {"from": registrar})
    fresh.model_registry.approve(MODEL_ID, {"from": approver})
    enrol(fresh.borrower_registry, kyc, borrower, "0x" + "01" * 32, GB, now() + YEAR_SECONDS)
    loan_id = fresh.loan_manager.request(P, APR, TERM, N, {"from": borrower}).return_value
    Oracle(registry=fresh.score_registry, chain_id=chain.id).fresh_score(borrower, borrower)
    with brownie.reverts(err("LoanNotDecidable", loan_id, R_RULES_NOT_SET)):
        fresh.loan_manager.approve(loan_id, {"from": borrower})


@pytest.mark.parametrize(
    "pd,score,principal,apr,term,reason",
    [
        (2_001, 700, P, APR, TERM, R_PD),
        (500, 299, P, APR, TERM, R_BELOW_MIN),
        (500, 599, 1_001 * 10**6, APR, TERM, R_PRINCIPAL),
        (500, 700, P, 3_601, TERM, R_APR),
        (500, 700, P, APR, 6 * DAY, R_TERM_SHORT),
        (500, 700, P, APR, 2 * YEAR_SECONDS + 1, R_TERM_LONG),
    ],
)
def test_non_compliant_loan_is_rejected_with_reason(ready, loans, oracle, borrower, compliance, pd, score,
                                                    principal, apr, term, reason):
    loan_id = loans.request(principal, apr, term, 1, {"from": borrower}).return_value
    oracle.fresh_score(borrower, borrower, pd_bps=pd, score=score)
    tx = loans.approve(loan_id, {"from": borrower})
    assert tx.return_value is False
    assert tx.events["LoanRejected"] == {"loanId": loan_id, "borrower": borrower, "reason": reason,
                                         "ruleVersion": compliance.version()}
    loan = loans.getLoan(loan_id)
    assert (loan["state"], loan["rejectReason"]) == (REJECTED, reason)
    assert loans.activeLoanCount(borrower) == 0


def test_jurisdiction_disallowed_after_request_rejects(requested, loans, oracle, borrower, compliance, regulator):
    from scripts.scorechain_testkit import GB

    compliance.setJurisdictionAllowed(GB, False, {"from": regulator})
    oracle.fresh_score(borrower, borrower)
    tx = loans.approve(requested, {"from": borrower})
    assert tx.events["LoanRejected"]["reason"] == R_JURISDICTION


def test_max_active_loans_defers_the_next_approval_until_a_slot_frees(ready, loans, oracle, borrower):
    ids = [loans.request(P, APR, TERM, N, {"from": borrower}).return_value for _ in range(3)]
    oracle.fresh_score(borrower, borrower)
    loans.approve(ids[0], {"from": borrower})
    loans.approve(ids[1], {"from": borrower})
    with brownie.reverts(err("LoanNotDecidable", ids[2], R_ACTIVE)):
        loans.approve(ids[2], {"from": borrower})
    loans.cancel(ids[0], {"from": borrower})
    assert loans.approve(ids[2], {"from": borrower}).return_value is True


def test_approve_twice_or_unknown_reverts(approved, loans, borrower):
    with brownie.reverts(err("LoanInvalidState", approved, APPROVED)):
        loans.approve(approved, {"from": borrower})
    with brownie.reverts(err("LoanNotFound", 99)):
        loans.approve(99, {"from": borrower})


# ------------------------------------------------------------------ fund


def test_fund_moves_principal_and_emits(approved, loans, token, lender, borrower):
    before_l, before_b = token.balanceOf(lender), token.balanceOf(borrower)
    tx = loans.fund(approved, {"from": lender})
    assert tx.events["LoanFunded"] == {"loanId": approved, "lender": lender, "borrower": borrower,
                                       "principal": P, "totalDue": total_due(P, APR, TERM),
                                       "fundedAt": tx.timestamp}
    assert token.balanceOf(lender) == before_l - P and token.balanceOf(borrower) == before_b + P
    assert loans.totalOutstandingPrincipal() == P == loans.outstandingPrincipal(approved)
    assert loans.amountOwed(approved) == total_due(P, APR, TERM)
    loan = loans.getLoan(approved)
    assert (loan["state"], loan["lender"], loan["fundedAt"]) == (FUNDED, lender, tx.timestamp)
    assert [loans.dueDate(approved, i) for i in range(1, N + 1)] == due_dates(tx.timestamp, TERM, N)


def test_fund_reverts_when_not_approved_self_funded_or_borrower_banned(approved, loans, borrower, lender,
                                                                        borrowers, regulator):
    other = loans.request(P, APR, TERM, N, {"from": borrower}).return_value
    with brownie.reverts(err("LoanInvalidState", other, REQUESTED)):
        loans.fund(other, {"from": lender})
    with brownie.reverts(err("LoanSelfFunding", approved)):
        loans.fund(approved, {"from": borrower})
    borrowers.suspend(borrower, 2, {"from": regulator})
    with brownie.reverts(err("LoanNotFundable", approved, R_INELIGIBLE)):
        loans.fund(approved, {"from": lender})


def test_fund_without_allowance_reverts_with_token_error(approved, loans, token, lender):
    token.approve(loans, 0, {"from": lender})
    with brownie.reverts(err("ERC20InsufficientAllowance", loans, 0, P)):
        loans.fund(approved, {"from": lender})


def test_dueDate_reverts_before_funding_and_for_bad_index(approved, loans, lender):
    with brownie.reverts(err("LoanInvalidState", approved, APPROVED)):
        loans.dueDate(approved, 1)
    loans.fund(approved, {"from": lender})
    with brownie.reverts(err("LoanInvalidInstallment", approved, 0)):
        loans.dueDate(approved, 0)
    with brownie.reverts(err("LoanInvalidInstallment", approved, N + 1)):
        loans.dueDate(approved, N + 1)


# ------------------------------------------------------------------ repay


@pytest.mark.ganache
def test_full_lifecycle_request_approve_fund_repay_claim(ready, loans, oracle, token, borrower, lender):
    loan_id = loans.request(P, APR, TERM, N, {"from": borrower}).return_value
    oracle.fresh_score(borrower, borrower)
    loans.approve(loan_id, {"from": borrower})
    loans.fund(loan_id, {"from": lender})
    due = total_due(P, APR, TERM)
    before = token.balanceOf(lender)
    tx = loans.repay(loan_id, due, {"from": borrower})
    assert tx.events["LoanRepaid"] == {"loanId": loan_id, "payer": borrower, "amount": due, "totalRepaid": due,
                                       "remaining": 0}
    assert tx.events["LoanFullyRepaid"] == {"loanId": loan_id, "borrower": borrower}
    assert token.balanceOf(lender) == before  # payments wait in the contract until claimed
    assert loans.claimable(lender) == due == loans.totalClaimable() == token.balanceOf(loans)
    tx = loans.claim(lender, {"from": lender})
    assert tx.events["LenderClaimed"] == {"lender": lender, "to": lender, "amount": due}
    assert token.balanceOf(lender) == before + due
    assert loans.claimable(lender) == 0 == loans.totalClaimable() == token.balanceOf(loans)
    with brownie.reverts(err("LoanNothingToClaim", lender)):
        loans.claim(lender, {"from": lender})
    assert loans.getLoan(loan_id)["state"] == REPAID
    assert loans.totalOutstandingPrincipal() == 0 and loans.activeLoanCount(borrower) == 0


def test_partial_repayments_reduce_principal_pro_rata(funded, loans, borrower, lender):
    due = total_due(P, APR, TERM)
    part = due // 3
    tx = loans.repay(funded, part, {"from": lender})  # anyone may pay
    assert tx.events["LoanRepaid"]["remaining"] == due - part
    assert "LoanFullyRepaid" not in tx.events
    assert loans.outstandingPrincipal(funded) == P - principal_share(part, P, due)
    assert loans.totalOutstandingPrincipal() == loans.outstandingPrincipal(funded)
    loans.repay(funded, due - part, {"from": borrower})
    assert loans.outstandingPrincipal(funded) == 0 == loans.totalOutstandingPrincipal()


def test_repay_zero_or_in_wrong_state_reverts_and_overpayment_is_cut(approved, loans, token, borrower, lender):
    with brownie.reverts(err("LoanInvalidState", approved, APPROVED)):
        loans.repay(approved, 1, {"from": borrower})
    loans.fund(approved, {"from": lender})
    due = total_due(P, APR, TERM)
    with brownie.reverts(err("LoanZeroAmount", approved)):
        loans.repay(approved, 0, {"from": borrower})
    before = token.balanceOf(borrower)
    tx = loans.repay(approved, due + 1, {"from": borrower})
    assert tx.events["LoanRepaid"]["amount"] == due and token.balanceOf(borrower) == before - due
    with brownie.reverts(err("LoanInvalidState", approved, REPAID)):
        loans.repay(approved, 1, {"from": borrower})


# ------------------------------------------------------------------ default, write-off, recovery


def _fund_time(loans, loan_id):
    return loans.getLoan(loan_id)["fundedAt"]


def test_mark_default_before_grace_reverts_then_succeeds(funded, loans, borrower, lender):
    grace = loans.gracePeriodSeconds()
    first_due = loans.dueDate(funded, 1)
    chain.sleep(first_due + grace - now() - 5)
    chain.mine()
    with brownie.reverts(err("LoanNotOverdue", funded)):
        loans.markDefault(funded, {"from": lender})
    assert not loans.isDefaultable(funded)
    chain.sleep(10)
    chain.mine()
    assert loans.installmentsLate(funded) == 1
    due = total_due(P, APR, TERM)
    assert loans.minimumRepaidNow(funded) == due // N == minimum_repaid(now(), _fund_time(loans, funded), TERM, N,
                                                                         grace, due)
    tx = loans.markDefault(funded, {"from": lender})
    assert tx.events["LoanDefaulted"] == {"loanId": funded, "borrower": borrower, "repaid": 0, "remaining": due}
    assert loans.getLoan(funded)["state"] == DEFAULTED
    assert loans.lastDefaultAt(borrower) == tx.timestamp
    assert loans.activeLoanCount(borrower) == 0
    assert loans.totalOutstandingPrincipal() == P  # defaulted principal stays on the books until written off


def test_paying_the_installment_prevents_default(funded, loans, borrower, lender):
    due = total_due(P, APR, TERM)
    loans.repay(funded, due // N, {"from": borrower})
    chain.sleep(loans.dueDate(funded, 1) + loans.gracePeriodSeconds() - now() + 1)
    chain.mine()
    with brownie.reverts(err("LoanNotOverdue", funded)):
        loans.markDefault(funded, {"from": lender})


def test_cool_off_after_default_defers_a_new_loan(funded, loans, oracle, borrower, lender):
    chain.sleep(loans.dueDate(funded, 1) + loans.gracePeriodSeconds() - now() + 1)
    chain.mine()
    loans.markDefault(funded, {"from": lender})
    new_id = loans.request(P, APR, TERM, N, {"from": borrower}).return_value
    oracle.fresh_score(borrower, borrower)
    with brownie.reverts(err("LoanNotDecidable", new_id, R_COOL_OFF)):
        loans.approve(new_id, {"from": borrower})


@pytest.fixture
def defaulted(funded, loans, lender):
    chain.sleep(TERM + loans.gracePeriodSeconds() + 1)
    chain.mine()
    loans.markDefault(funded, {"from": lender})
    return funded


def test_write_off_by_lender_removes_principal_and_emits(defaulted, loans, lender):
    tx = loans.writeOff(defaulted, {"from": lender})
    assert tx.events["LoanWrittenOff"] == {"loanId": defaulted, "by": lender, "principalWrittenOff": P}
    assert loans.totalOutstandingPrincipal() == 0 and loans.outstandingPrincipal(defaulted) == 0
    assert loans.getLoan(defaulted)["state"] == WRITTEN_OFF


def test_write_off_by_regulator_allowed_by_others_reverts(defaulted, loans, regulator, borrower):
    with brownie.reverts(err("LoanUnauthorized", defaulted, borrower)):
        loans.writeOff(defaulted, {"from": borrower})
    loans.writeOff(defaulted, {"from": regulator})
    with brownie.reverts(err("LoanInvalidState", defaulted, WRITTEN_OFF)):
        loans.writeOff(defaulted, {"from": regulator})


def test_recovery_after_default_and_after_write_off(defaulted, loans, token, lender, borrower):
    due = total_due(P, APR, TERM)
    before = loans.claimable(lender)
    tx = loans.recover(defaulted, 1_000 * 10**6, {"from": borrower})
    assert tx.events["LoanRecovered"] == {"loanId": defaulted, "payer": borrower, "amount": 1_000 * 10**6,
                                          "totalRecovered": 1_000 * 10**6}
    assert loans.totalOutstandingPrincipal() == P - principal_share(1_000 * 10**6, P, due)
    loans.writeOff(defaulted, {"from": lender})
    assert loans.totalOutstandingPrincipal() == 0
    rest = due - 1_000 * 10**6
    assert loans.recover(defaulted, rest + 1, {"from": borrower}).events["LoanRecovered"]["amount"] == rest
    with brownie.reverts(err("LoanZeroAmount", defaulted)):
        loans.recover(defaulted, 1, {"from": borrower})
    assert loans.claimable(lender) == before + due
    assert loans.amountOwed(defaulted) == 0 and loans.totalOutstandingPrincipal() == 0


def test_recover_on_performing_loan_reverts(funded, loans, borrower):
    with brownie.reverts(err("LoanInvalidState", funded, FUNDED)):
        loans.recover(funded, 1, {"from": borrower})
    with brownie.reverts(err("LoanNotFound", 42)):
        loans.recover(42, 1, {"from": borrower})


def test_mark_default_on_unfunded_loan_reverts(approved, loans):
    with brownie.reverts(err("LoanInvalidState", approved, APPROVED)):
        loans.markDefault(approved, {"from": accounts[9]})


# ------------------------------------------------------------------ cancel and pause


def test_cancel_requested_and_approved_by_borrower(requested, loans, borrower, oracle):
    tx = loans.cancel(requested, {"from": borrower})
    assert tx.events["LoanCancelled"] == {"loanId": requested, "borrower": borrower}
    second = loans.request(P, APR, TERM, N, {"from": borrower}).return_value
    oracle.fresh_score(borrower, borrower)
    loans.approve(second, {"from": borrower})
    assert loans.activeLoanCount(borrower) == 1
    loans.cancel(second, {"from": borrower})
    assert loans.activeLoanCount(borrower) == 0 and loans.getLoan(second)["state"] == CANCELLED


def test_cancel_by_stranger_or_after_funding_reverts(funded, loans, borrower, lender):
    with brownie.reverts(err("LoanNotBorrower", funded, lender)):
        loans.cancel(funded, {"from": lender})
    with brownie.reverts(err("LoanInvalidState", funded, FUNDED)):
        loans.cancel(funded, {"from": borrower})


def test_pause_blocks_new_business_but_not_repayment(funded, loans, regulator, borrower, lender):
    tx = loans.pause({"from": regulator})
    assert tx.events["Paused"] == {"account": regulator}
    with brownie.reverts(err("EnforcedPause")):
        loans.request(P, APR, TERM, N, {"from": borrower})
    chain.sleep(TERM + loans.gracePeriodSeconds() + 1)
    chain.mine()
    with brownie.reverts(err("EnforcedPause")):
        loans.markDefault(funded, {"from": lender})
    loans.repay(funded, 1, {"from": borrower})
    tx = loans.unpause({"from": regulator})
    assert tx.events["Unpaused"] == {"account": regulator}
    loans.markDefault(funded, {"from": lender})


def test_pause_by_non_regulator_reverts(ready, loans, borrower):
    with brownie.reverts(role_err(borrower, loans.REGULATOR_ROLE())):
        loans.pause({"from": borrower})


def test_constructor_rejects_zero_addresses_zero_grace_and_miswiring(system, admin):
    s = system
    with brownie.reverts(err("LoanZeroAddress")):
        LoanManager.deploy(admin, brownie.ZERO_ADDRESS, s.borrower_registry, s.compliance, s.score_registry, 1,
                           {"from": admin})
    with brownie.reverts(err("LoanZeroGracePeriod")):
        LoanManager.deploy(admin, s.token, s.borrower_registry, s.compliance, s.score_registry, 0, {"from": admin})
    # registries that disagree with what the compliance rules read
    with brownie.reverts(err("LoanRegistryMismatch", s.model_registry, s.borrower_registry)):
        LoanManager.deploy(admin, s.token, s.model_registry, s.compliance, s.score_registry, 1, {"from": admin})
    with brownie.reverts(err("LoanRegistryMismatch", s.model_registry, s.score_registry)):
        LoanManager.deploy(admin, s.token, s.borrower_registry, s.compliance, s.model_registry, 1, {"from": admin})


def test_views_on_unknown_loan_are_zero(ready, loans):
    assert loans.amountOwed(7) == 0 and loans.outstandingPrincipal(7) == 0
    assert loans.installmentsLate(7) == 0 and loans.minimumRepaidNow(7) == 0 and not loans.isDefaultable(7)

"""Servicing as lenders expect (issue 11, Maple v2 as the anchor): impairment, the late fee under
the usury cap, default by the lender or a servicer after grace and by anyone only after the public
window; written as a lender, a borrower and a griefer would try it. Every step's event is asserted."""

import brownie
import pytest
from brownie import LoanManager, accounts, chain

from scripts.scorechain_testkit import (
    BPS,
    DAY,
    DEFAULT_RULES,
    YEAR_SECONDS,
    err,
    role_err,
    rules_tuple,
    total_due,
)

P = 5_000 * 10**6
APR = 1_200
TERM = 90 * DAY
N = 3
PREMIUM = 1_000  # 10 % a year on overdue principal
PUBLIC_DELAY = 10 * DAY
SERVICING_RULES = dict(DEFAULT_RULES, lateInterestPremiumBps=PREMIUM, publicDefaultDelaySeconds=PUBLIC_DELAY)

FUNDED, REPAID, DEFAULTED = 5, 6, 7
R_DELINQUENT = 17


def now():
    return chain[-1].timestamp


def late_fee(loan, repaid, t_from, t_to):
    """Independent reading of the contract notes: each installment's unpaid part, for the seconds it
    was overdue within [t_from, t_to], at lateRateBps on its principal share."""
    due, n, funded_at, term = loan["totalDue"], loan["installments"], loan["fundedAt"], loan["termSeconds"]
    overdue_seconds = 0
    for k in range(1, n + 1):
        cum, prev = due * k // n, due * (k - 1) // n
        unpaid = max(0, cum - max(repaid, prev))
        start = max(t_from, funded_at + term * k // n)
        if start < t_to:
            overdue_seconds += unpaid * (t_to - start)
    return overdue_seconds * loan["principal"] * loan["lateRateBps"] // (due * BPS * YEAR_SECONDS)


@pytest.fixture(scope="module")
def servicer(loans, admin):
    who = accounts[3]
    loans.grantRole(loans.SERVICER_ROLE(), who, {"from": admin})
    return who


@pytest.fixture(scope="module")
def griefer():
    return accounts[9]


@pytest.fixture
def market(ready, compliance, regulator, servicer):
    compliance.setRuleSet(rules_tuple(SERVICING_RULES), {"from": regulator})
    return ready


def open_loan(loans, oracle, borrower, lender, apr=APR):
    loan_id = loans.request(P, apr, TERM, N, {"from": borrower}).return_value
    oracle.fresh_score(borrower, borrower)
    loans.approve(loan_id, {"from": borrower})
    loans.fund(loan_id, {"from": lender})
    return loan_id


@pytest.fixture
def funded(market, loans, oracle, borrower, lender):
    return open_loan(loans, oracle, borrower, lender)


def sleep_to(t):
    chain.sleep(t - now())
    chain.mine()


def lender_window_opens(loans, loan_id):
    return loans.dueDate(loan_id, 1) + loans.gracePeriodSeconds()


# ------------------------------------------------------------------ rule-set and constructor bounds


@pytest.mark.parametrize("field,value,error", [
    ("lateInterestPremiumBps", DEFAULT_RULES["maxAprBps"] + 1,
     ("ComplianceLatePremiumAboveCap", DEFAULT_RULES["maxAprBps"] + 1, DEFAULT_RULES["maxAprBps"])),
    ("publicDefaultDelaySeconds", 0, ("ComplianceZeroDuration", "publicDefaultDelaySeconds")),
    ("publicDefaultDelaySeconds", 365 * DAY + 1,
     ("ComplianceDurationTooLong", "publicDefaultDelaySeconds", 365 * DAY + 1, 365 * DAY)),
    # 2**64 - 1 as "no deadline" would wrap the uint40 deadline to the past: every approval expired
    ("fundingWindowSeconds", 2**64 - 1, ("ComplianceDurationTooLong", "fundingWindowSeconds", 2**64 - 1, 365 * DAY)),
    ("requestTtlSeconds", 365 * DAY + 1, ("ComplianceDurationTooLong", "requestTtlSeconds", 365 * DAY + 1, 365 * DAY)),
])
def test_a_rule_set_with_a_penalty_over_the_cap_or_an_unbounded_public_window_is_refused(
        ready, compliance, regulator, field, value, error):
    with brownie.reverts(err(*error)):
        compliance.setRuleSet(rules_tuple(dict(SERVICING_RULES, **{field: value})), {"from": regulator})


def test_a_penalty_equal_to_the_cap_is_accepted_and_read_back(ready, compliance, regulator):
    rules = dict(SERVICING_RULES, lateInterestPremiumBps=DEFAULT_RULES["maxAprBps"])
    compliance.setRuleSet(rules_tuple(rules), {"from": regulator})
    assert [int(v) for v in compliance.servicingTerms()] == [rules["fundingWindowSeconds"], rules["maxAprBps"],
                                                             rules["maxAprBps"], PUBLIC_DELAY]


@pytest.mark.parametrize("grace,error", [(0, ("LoanZeroGracePeriod",)),
                                         (30 * DAY + 1, ("LoanGracePeriodTooLong", 30 * DAY + 1, 30 * DAY))])
def test_a_grace_period_of_zero_or_above_the_maximum_is_refused(system, admin, grace, error):
    with brownie.reverts(err(*error)):
        LoanManager.deploy(admin, system.token, system.borrower_registry, system.compliance, system.score_registry,
                           grace, {"from": admin})


def test_approval_snapshots_the_late_rate_cut_to_the_room_under_the_cap(market, loans, oracle, borrower, borrower2,
                                                                         lender, compliance, regulator):
    normal = open_loan(loans, oracle, borrower, lender)
    near_cap = open_loan(loans, oracle, borrower2, lender, apr=3_000)
    assert (loans.getLoan(normal)["lateRateBps"], loans.getLoan(normal)["publicDefaultDelay"]) == (PREMIUM,
                                                                                                  PUBLIC_DELAY)
    assert loans.getLoan(near_cap)["lateRateBps"] == DEFAULT_RULES["maxAprBps"] - 3_000  # 600, not 1,000
    # A later rule change leaves live loans on the terms they were approved under.
    compliance.setRuleSet(rules_tuple(dict(SERVICING_RULES, lateInterestPremiumBps=0, publicDefaultDelaySeconds=1)),
                          {"from": regulator})
    assert (loans.getLoan(normal)["lateRateBps"], loans.getLoan(normal)["publicDefaultDelay"]) == (PREMIUM,
                                                                                                  PUBLIC_DELAY)


# ------------------------------------------------------------------ the two default windows


def test_nobody_defaults_before_grace_has_passed(funded, loans, lender, servicer, griefer):
    sleep_to(lender_window_opens(loans, funded) - 5)
    for who in (lender, servicer, griefer):
        with brownie.reverts(err("LoanNotOverdue", funded)):
            loans.markDefault(funded, {"from": who})
    assert not loans.isDefaultable(funded) and not loans.isPubliclyDefaultable(funded)


def test_a_griefer_cannot_default_inside_the_public_window_but_the_lender_can(funded, loans, lender, griefer,
                                                                            borrower):
    sleep_to(lender_window_opens(loans, funded) + 1)
    assert loans.isDefaultable(funded) and not loans.isPubliclyDefaultable(funded)
    with brownie.reverts(err("LoanDefaultReserved", funded, griefer)):
        loans.markDefault(funded, {"from": griefer})
    sleep_to(lender_window_opens(loans, funded) + PUBLIC_DELAY - 5)  # last seconds of the window
    with brownie.reverts(err("LoanDefaultReserved", funded, griefer)):
        loans.markDefault(funded, {"from": griefer})
    tx = loans.markDefault(funded, {"from": lender})
    fee = tx.events["LoanLateFeeAccrued"]["amount"]
    assert fee > 0
    assert tx.events["LoanDefaulted"] == {"loanId": funded, "borrower": borrower, "repaid": 0,
                                          "remaining": loans.getLoan(funded)["totalDue"] + fee}
    assert tx.events["LoanDefaultMarkedBy"] == {"loanId": funded, "by": lender, "publicWindow": False}
    assert loans.getLoan(funded)["state"] == DEFAULTED


def test_a_servicer_defaults_after_grace(funded, loans, servicer):
    sleep_to(lender_window_opens(loans, funded) + 1)
    tx = loans.markDefault(funded, {"from": servicer})
    assert tx.events["LoanDefaultMarkedBy"] == {"loanId": funded, "by": servicer, "publicWindow": False}


def test_anyone_defaults_after_the_public_window_so_no_loan_is_stuck(funded, loans, griefer):
    sleep_to(lender_window_opens(loans, funded) + PUBLIC_DELAY + 1)
    assert loans.isPubliclyDefaultable(funded)
    tx = loans.markDefault(funded, {"from": griefer})
    assert tx.events["LoanDefaultMarkedBy"] == {"loanId": funded, "by": griefer, "publicWindow": True}
    assert loans.getLoan(funded)["state"] == DEFAULTED


def test_the_public_window_uses_the_delay_approved_with_the_loan(funded, loans, compliance, regulator, griefer):
    compliance.setRuleSet(rules_tuple(dict(SERVICING_RULES, publicDefaultDelaySeconds=1)), {"from": regulator})
    sleep_to(lender_window_opens(loans, funded) + 2 * DAY)
    with brownie.reverts(err("LoanDefaultReserved", funded, griefer)):
        loans.markDefault(funded, {"from": griefer})


# ------------------------------------------------------------------ impairment


def test_impairment_blocks_the_borrowers_next_loan_and_removing_it_restores(funded, loans, oracle, borrower, lender):
    second = loans.request(P, APR, TERM, N, {"from": borrower}).return_value
    oracle.fresh_score(borrower, borrower)
    assert not loans.isDelinquent(borrower)
    tx = loans.impairLoan(funded, {"from": lender})
    assert tx.events["LoanImpaired"] == {"loanId": funded, "by": lender, "impairedAt": tx.timestamp}
    assert loans.getLoan(funded)["impairedAt"] == tx.timestamp and loans.isDelinquent(borrower)
    with brownie.reverts(err("LoanNotDecidable", second, R_DELINQUENT)):
        loans.approve(second, {"from": borrower})
    tx = loans.removeLoanImpairment(funded, {"from": lender})
    assert tx.events["LoanImpairmentRemoved"] == {"loanId": funded, "by": lender}
    assert loans.getLoan(funded)["impairedAt"] == 0 and not loans.isDelinquent(borrower)
    assert loans.approve(second, {"from": borrower}).return_value is True


def test_an_impaired_approval_is_not_funded_until_the_impairment_is_removed(funded, loans, oracle, borrower, lender,
                                                                           servicer):
    second = loans.request(P, APR, TERM, N, {"from": borrower}).return_value
    oracle.fresh_score(borrower, borrower)
    loans.approve(second, {"from": borrower})
    loans.impairLoan(funded, {"from": servicer})
    with brownie.reverts(err("LoanNotFundable", second, R_DELINQUENT)):
        loans.fund(second, {"from": lender})
    loans.removeLoanImpairment(funded, {"from": servicer})
    loans.fund(second, {"from": lender})


def test_only_the_lender_or_a_servicer_impairs_and_only_once(funded, loans, lender, griefer, borrower, requested_id):
    for call in (loans.impairLoan, loans.removeLoanImpairment):
        with brownie.reverts(err("LoanUnauthorized", funded, griefer)):
            call(funded, {"from": griefer})
        with brownie.reverts(err("LoanUnauthorized", funded, borrower)):
            call(funded, {"from": borrower})
    with brownie.reverts(err("LoanNotImpaired", funded)):
        loans.removeLoanImpairment(funded, {"from": lender})
    loans.impairLoan(funded, {"from": lender})
    with brownie.reverts(err("LoanAlreadyImpaired", funded)):
        loans.impairLoan(funded, {"from": lender})
    with brownie.reverts(err("LoanInvalidState", requested_id, 1)):
        loans.impairLoan(requested_id, {"from": lender})


@pytest.fixture
def requested_id(market, loans, borrower2):
    return loans.request(P, APR, TERM, N, {"from": borrower2}).return_value


def test_an_impaired_loan_is_late_from_impairment_for_the_lender_only(funded, loans, lender, griefer):
    impaired_at = loans.impairLoan(funded, {"from": lender}).timestamp
    grace = loans.gracePeriodSeconds()
    sleep_to(impaired_at + grace - 5)
    with brownie.reverts(err("LoanNotOverdue", funded)):
        loans.markDefault(funded, {"from": lender})
    sleep_to(impaired_at + grace + 1)
    assert loans.isDefaultable(funded) and not loans.isPubliclyDefaultable(funded)
    with brownie.reverts(err("LoanDefaultReserved", funded, griefer)):  # the public window follows the schedule
        loans.markDefault(funded, {"from": griefer})
    tx = loans.markDefault(funded, {"from": lender})
    assert "LoanLateFeeAccrued" not in tx.events  # nothing overdue on the schedule: no fee
    assert tx.events["LoanDefaulted"]["remaining"] == loans.getLoan(funded)["totalDue"]


def test_attack_a_lender_cannot_keep_a_paying_borrower_impaired_and_default_them(funded, loans, oracle, token,
                                                                                  borrower, lender, griefer):
    # The lender impairs right after funding; the borrower pays what the impairment called due (the
    # next installment) and keeps paying on schedule: the impairment is cured, no default is open.
    impaired_at = loans.impairLoan(funded, {"from": lender}).timestamp
    assert loans.isDelinquent(borrower)
    first = loans.getLoan(funded)["totalDue"] // N  # installment 1 is the next one at impairment
    tx = loans.repay(funded, first - 1, {"from": borrower})
    assert "LoanImpairmentRemoved" not in tx.events and loans.isDelinquent(borrower)
    tx = loans.repay(funded, 1, {"from": borrower})
    assert tx.events["LoanImpairmentRemoved"] == {"loanId": funded, "by": borrower}
    assert loans.getLoan(funded)["impairedAt"] == 0 and not loans.isDelinquent(borrower)
    sleep_to(impaired_at + loans.gracePeriodSeconds() + 1)
    with brownie.reverts(err("LoanNotOverdue", funded)):
        loans.markDefault(funded, {"from": lender})
    # a new loan of the borrower is decidable again
    loan_id = loans.request(10**6, APR, TERM, N, {"from": borrower}).return_value
    oracle.fresh_score(borrower, borrower)
    assert loans.approve(loan_id, {"from": borrower}).return_value


def test_impairment_works_while_paused(funded, loans, lender, regulator):
    loans.pause({"from": regulator})
    loans.impairLoan(funded, {"from": lender})
    loans.removeLoanImpairment(funded, {"from": lender})


def test_servicer_role_is_granted_by_the_admin_only(market, loans, griefer):
    with brownie.reverts(role_err(griefer, loans.DEFAULT_ADMIN_ROLE())):
        loans.grantRole(loans.SERVICER_ROLE(), griefer, {"from": griefer})


# ------------------------------------------------------------------ late fee


def test_no_late_fee_is_charged_on_a_loan_paid_on_time(funded, loans, borrower):
    loan = loans.getLoan(funded)
    sleep_to(loans.dueDate(funded, 1) - 10)
    tx = loans.repay(funded, loan["totalDue"] // N, {"from": borrower})
    assert "LoanLateFeeAccrued" not in tx.events and loans.lateFeeOwed(funded) == 0


def test_the_late_fee_accrues_exactly_as_specified_and_is_paid_first(funded, loans, borrower, lender):
    loan = loans.getLoan(funded)
    first_due = loans.dueDate(funded, 1)
    sleep_to(loans.dueDate(funded, 2) + 3 * DAY)  # two installments overdue, the first for longer
    chain.mine()
    assert loans.lateFeeOwed(funded) == late_fee(loan, 0, loan["fundedAt"], now())
    assert loans.amountOwed(funded) == loan["totalDue"] + late_fee(loan, 0, loan["fundedAt"], now())
    pay = loan["totalDue"] // N
    tx = loans.repay(funded, pay, {"from": borrower})
    fee1 = late_fee(loan, 0, loan["fundedAt"], tx.timestamp)
    assert fee1 > 0 and tx.timestamp > first_due
    assert tx.events["LoanLateFeeAccrued"] == {"loanId": funded, "amount": fee1, "totalAccrued": fee1,
                                               "accruedTo": tx.timestamp}
    assert tx.events["LoanLateFeePaid"] == {"loanId": funded, "payer": borrower, "amount": fee1, "totalPaid": fee1}
    assert tx.events["LoanRepaid"]["amount"] == pay and tx.events["LoanRepaid"]["totalRepaid"] == pay - fee1
    assert loans.claimable(lender) == pay  # the fee goes to the lender like any payment
    # The next accrual runs from the checkpoint on what is still overdue after the payment.
    loan = loans.getLoan(funded)
    assert (loan["lateFeeAccrued"], loan["lateFeePaid"], loan["lateAccruedTo"]) == (fee1, fee1, tx.timestamp)
    chain.sleep(5 * DAY)
    tx2 = loans.repay(funded, 1, {"from": borrower})
    fee2 = late_fee(loan, pay - fee1, tx.timestamp, tx2.timestamp)
    assert tx2.events["LoanLateFeeAccrued"]["amount"] == fee2 > 0
    assert tx2.events["LoanLateFeeAccrued"]["totalAccrued"] == fee1 + fee2
    assert loans.lateFeeOwed(funded) == fee2 - 1  # the 1-unit payment went to the fee


def test_the_late_fee_never_pushes_the_effective_rate_above_the_cap(market, loans, oracle, borrower, lender,
                                                                    compliance, regulator):
    cap = DEFAULT_RULES["maxAprBps"]
    compliance.setRuleSet(rules_tuple(dict(SERVICING_RULES, lateInterestPremiumBps=cap)), {"from": regulator})
    loan_id = open_loan(loans, oracle, borrower, lender, apr=3_000)
    loan = loans.getLoan(loan_id)
    assert loan["aprBps"] + loan["lateRateBps"] == cap
    sleep_to(loan["fundedAt"] + 2 * YEAR_SECONDS)  # never paid: the whole loan overdue for long
    fee = loans.lateFeeOwed(loan_id)
    assert fee == late_fee(loan, 0, loan["fundedAt"], now()) > 0
    elapsed = now() - loan["fundedAt"]
    interest = loan["totalDue"] - loan["principal"]
    # Interest at aprBps over the term plus the fee never exceed the cap on the principal over the time held.
    assert interest + fee <= loan["principal"] * cap * elapsed // (BPS * YEAR_SECONDS)
    # And the fee alone stays within the penalty room on the principal.
    assert fee <= loan["principal"] * (cap - loan["aprBps"]) * elapsed // (BPS * YEAR_SECONDS)


def test_an_overpayment_is_cut_to_what_is_owed_including_the_late_fee(funded, loans, borrower, lender, token):
    loan = loans.getLoan(funded)
    sleep_to(loans.dueDate(funded, N) + DAY)
    before = token.balanceOf(borrower)
    tx = loans.repay(funded, 10 * loan["totalDue"], {"from": borrower})
    fee = late_fee(loan, 0, loan["fundedAt"], tx.timestamp)
    assert tx.events["LoanRepaid"]["amount"] == loan["totalDue"] + fee
    assert tx.events["LoanRepaid"]["remaining"] == 0 and "LoanFullyRepaid" in tx.events
    assert before - token.balanceOf(borrower) == loan["totalDue"] + fee == loans.claimable(lender)
    assert loans.getLoan(funded)["state"] == REPAID and loans.amountOwed(funded) == 0


def test_default_fixes_the_fee_and_recovery_pays_it_first_then_recovers_in_full(funded, loans, borrower, lender):
    loan = loans.getLoan(funded)
    sleep_to(lender_window_opens(loans, funded) + DAY)
    fee = loans.markDefault(funded, {"from": lender}).events["LoanLateFeeAccrued"]["amount"]
    chain.sleep(30 * DAY)
    chain.mine()
    assert loans.lateFeeOwed(funded) == fee and loans.amountOwed(funded) == loan["totalDue"] + fee
    principal_before = loans.outstandingPrincipal(funded)
    tx = loans.recover(funded, fee, {"from": borrower})
    assert tx.events["LoanLateFeePaid"]["amount"] == fee
    assert tx.events["LoanRecovered"]["totalRecovered"] == 0
    assert loans.outstandingPrincipal(funded) == principal_before  # the fee is not principal
    tx = loans.recover(funded, 2 * loan["totalDue"], {"from": borrower})
    assert tx.events["LoanRecovered"]["amount"] == loan["totalDue"]
    assert tx.events["LoanFullyRecovered"] == {"loanId": funded, "borrower": borrower}
    assert loans.outstandingPrincipal(funded) == 0 and not loans.isDelinquent(borrower)
    assert loans.claimable(lender) == loan["totalDue"] + fee


def test_write_off_of_a_defaulted_loan_with_a_fee_leaves_it_recoverable(funded, loans, borrower, lender):
    loan = loans.getLoan(funded)
    sleep_to(lender_window_opens(loans, funded) + DAY)
    fee = loans.markDefault(funded, {"from": lender}).events["LoanLateFeeAccrued"]["amount"]
    tx = loans.writeOff(funded, {"from": lender})
    assert tx.events["LoanWrittenOff"]["principalWrittenOff"] == loan["principal"]
    assert loans.amountOwed(funded) == loan["totalDue"] + fee and not loans.isDelinquent(borrower)
    tx = loans.recover(funded, loan["totalDue"] + fee, {"from": borrower})
    assert tx.events["LoanLateFeePaid"]["amount"] == fee
    assert tx.events["LoanFullyRecovered"] == {"loanId": funded, "borrower": borrower}
    assert loans.amountOwed(funded) == 0 and loans.totalOutstandingPrincipal() == 0


def test_total_due_is_unchanged_by_the_servicing_terms(funded, loans):
    loan = loans.getLoan(funded)
    assert loan["totalDue"] == total_due(P, APR, TERM) and loan["state"] == FUNDED

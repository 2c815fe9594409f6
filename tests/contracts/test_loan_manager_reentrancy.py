"""LoanManager against a malicious ERC-20 (contracts/test/ReentrantToken.sol) that calls back into
the LoanManager in the middle of a token transfer: `nonReentrant` on fund, repay and recover must
stop every such re-entry, into the same function or another guarded one.

Each attack below succeeds (the nested call goes through and the outer transaction completes) if
the guard is removed from the function being re-entered, so these tests fail without it. The
control tests show the hook really fires inside LoanManager's transfers, so the reverts asserted
here come from the guard and not from a hook that never ran."""

import brownie
import pytest
from brownie import ReentrantToken, chain

from scripts.scorechain_testkit import (
    DEFAULT_RULES,
    GB,
    MODEL_ID,
    REGISTERED_ORACLES,
    DAY,
    Oracle,
    enrol,
    rules_tuple,
    total_due,
)

P = 5_000 * 10**6
APR = 1_200
TERM = 90 * DAY
N = 3
FUNDED, DEFAULTED = 5, 7

REENTRANT_CALL = "ReentrancyGuardReentrantCall: "  # brownie's rendering of the no-argument OZ error


@pytest.fixture(scope="module")
def evil(admin, kyc, regulator, registrar, approver, data_provider, borrower, borrower2, lender, lender2):
    """A full system whose loan token is ReentrantToken, with an open market, two registered GB
    borrowers, two funded lenders, and a token that holds (and has approved) its own balance."""
    from scripts.scorechain_deploy import deploy_system

    token = ReentrantToken.deploy({"from": admin})
    system = deploy_system(
        admin,
        oracle_signers=[a.address for a in REGISTERED_ORACLES],
        threshold=3,
        token=token,
        roles={
            "kyc_provider": kyc,
            "regulator": regulator,
            "model_registrar": registrar,
            "model_approver": approver,
            "oracle_admin": admin,
            "data_provider": data_provider,
        },
    )
    system.model_registry.register(MODEL_ID, "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32,
                                   "ipfs://model-v1", 1, {"from": registrar})
    system.model_registry.approve(MODEL_ID, {"from": approver})
    system.compliance.setRuleSet(rules_tuple(DEFAULT_RULES), {"from": regulator})
    system.compliance.setJurisdictionAllowed(GB, True, {"from": regulator})
    expiry = chain.time() + 365 * DAY
    loans = system.loan_manager
    for i, b in enumerate((borrower, borrower2)):
        enrol(system.borrower_registry, kyc, b, "0x" + f"{i + 1:064x}", GB, expiry)
    for who in (lender, lender2, borrower, borrower2):
        token.mint(who, 10_000_000 * 10**6, {"from": admin})
        token.approve(loans, 2**256 - 1, {"from": who})
    # nested calls are made by the token itself, so it pays from its own balance
    token.mint(token, 10_000_000 * 10**6, {"from": admin})
    token.approveFromToken(loans, 2**256 - 1, {"from": admin})
    return system


@pytest.fixture(scope="module")
def evil_oracle(evil):
    return Oracle(registry=evil.score_registry, chain_id=chain.id)


def _approved_loan(evil, oracle, who):
    loans = evil.loan_manager
    loan_id = loans.request(P, APR, TERM, N, {"from": who}).return_value
    oracle.fresh_score(who, who)
    assert loans.approve(loan_id, {"from": who}).return_value is True
    return loan_id


@pytest.fixture
def two_approved(evil, evil_oracle, borrower, borrower2):
    """Loan 1 (borrower) and loan 2 (borrower2), both Approved and unfunded."""
    return _approved_loan(evil, evil_oracle, borrower), _approved_loan(evil, evil_oracle, borrower2)


@pytest.fixture
def funded_and_approved(evil, two_approved, lender):
    """Loan 1 Funded by `lender`, loan 2 still Approved."""
    first, second = two_approved
    evil.loan_manager.fund(first, {"from": lender})
    return first, second


@pytest.fixture
def defaulted(evil, funded_and_approved, lender):
    loans = evil.loan_manager
    loan_id = funded_and_approved[0]
    chain.sleep(TERM + loans.gracePeriodSeconds() + 1)
    chain.mine()
    loans.markDefault(loan_id, {"from": lender})
    assert loans.getLoan(loan_id)["state"] == DEFAULTED
    return loan_id


def _arm(evil, calldata):
    evil.token.arm(evil.loan_manager, calldata, {"from": evil.admin})
    assert evil.token.armed()


# ------------------------------------------------------------------ controls: the hook really fires


def test_hook_fires_during_repay_and_a_harmless_nested_call_goes_through(evil, funded_and_approved, borrower):
    loans, token = evil.loan_manager, evil.token
    loan_id = funded_and_approved[0]
    data = loans.loanCount.encode_input()
    _arm(evil, data)
    tx = loans.repay(loan_id, 10**6, {"from": borrower})
    assert tx.events["ReentryCallSucceeded"] == {"target": loans, "callData": data}
    assert not token.armed()
    assert loans.getLoan(loan_id)["repaid"] == 10**6


def test_hook_fires_during_fund(evil, two_approved, lender):
    loans = evil.loan_manager
    data = loans.loanCount.encode_input()
    _arm(evil, data)
    tx = loans.fund(two_approved[0], {"from": lender})
    assert tx.events["ReentryCallSucceeded"]["callData"] == data


# ------------------------------------------------------------------ same-function re-entry


def test_token_reentering_repay_during_repay_is_blocked(evil, funded_and_approved, borrower, lender):
    loans, token = evil.loan_manager, evil.token
    loan_id = funded_and_approved[0]
    lender_before = token.balanceOf(lender)
    _arm(evil, loans.repay.encode_input(loan_id, 10**6))
    with brownie.reverts(REENTRANT_CALL):
        loans.repay(loan_id, 2 * 10**6, {"from": borrower})
    assert loans.getLoan(loan_id)["repaid"] == 0
    assert token.balanceOf(lender) == lender_before


def test_token_reentering_fund_during_fund_is_blocked(evil, two_approved, borrower2, lender):
    loans = evil.loan_manager
    first, second = two_approved
    _arm(evil, loans.fund.encode_input(second))
    with brownie.reverts(REENTRANT_CALL):
        loans.fund(first, {"from": lender})
    # neither loan moved: the token did not become the lender of loan 2 mid-transfer
    assert loans.getLoan(first)["state"] == loans.getLoan(second)["state"] == 2
    assert loans.getLoan(second)["lender"] == brownie.ZERO_ADDRESS
    assert loans.totalOutstandingPrincipal() == 0


def test_token_reentering_recover_during_recover_is_blocked(evil, defaulted, borrower):
    loans = evil.loan_manager
    _arm(evil, loans.recover.encode_input(defaulted, 10**6))
    with brownie.reverts(REENTRANT_CALL):
        loans.recover(defaulted, 2 * 10**6, {"from": borrower})
    assert loans.getLoan(defaulted)["recovered"] == 0


# ------------------------------------------------------------------ cross-function re-entry (one shared lock)


def test_token_reentering_fund_during_repay_is_blocked(evil, funded_and_approved, borrower):
    loans = evil.loan_manager
    first, second = funded_and_approved
    _arm(evil, loans.fund.encode_input(second))
    with brownie.reverts(REENTRANT_CALL):
        loans.repay(first, 10**6, {"from": borrower})
    assert loans.getLoan(second)["state"] == 2


def test_token_reentering_repay_during_fund_is_blocked(evil, funded_and_approved, lender2):
    loans = evil.loan_manager
    first, second = funded_and_approved
    _arm(evil, loans.repay.encode_input(first, 10**6))
    with brownie.reverts(REENTRANT_CALL):
        loans.fund(second, {"from": lender2})
    assert loans.getLoan(first)["repaid"] == 0
    assert loans.getLoan(second)["state"] == 2


def test_token_reentering_repay_during_recover_is_blocked(evil, evil_oracle, defaulted, borrower, borrower2, lender):
    loans = evil.loan_manager
    # a second, Funded loan the token tries to pay into while a recovery transfer is in flight
    # (approved now: the fixture's approval has passed its funding deadline)
    second = _approved_loan(evil, evil_oracle, borrower2)
    loans.fund(second, {"from": lender})
    assert loans.getLoan(second)["state"] == FUNDED
    _arm(evil, loans.repay.encode_input(second, 10**6))
    with brownie.reverts(REENTRANT_CALL):
        loans.recover(defaulted, 10**6, {"from": borrower})
    assert loans.getLoan(second)["repaid"] == 0
    assert loans.amountOwed(second) == total_due(P, APR, TERM)


def test_token_reentering_repay_during_claim_is_blocked(evil, funded_and_approved, borrower, lender):
    loans = evil.loan_manager
    first = funded_and_approved[0]
    loans.repay(first, 10**6, {"from": borrower})
    _arm(evil, loans.repay.encode_input(first, 10**6))
    with brownie.reverts(REENTRANT_CALL):
        loans.claim(lender, {"from": lender})
    assert loans.claimable(lender) == 10**6 and loans.getLoan(first)["repaid"] == 10**6

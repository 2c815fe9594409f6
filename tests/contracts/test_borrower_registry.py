"""BorrowerRegistry: registration by KYC providers, status changes by regulators, eligibility."""

import brownie
from brownie import BorrowerRegistry, chain

from scripts.scorechain_testkit import DAY, GB, US, err, role_err

COMMIT = "0x" + "5a" * 32
ACTIVE, SUSPENDED, BANNED = 1, 2, 3


def now():
    return chain[-1].timestamp


def test_register_stores_commitment_and_emits(borrowers, kyc, borrower):
    exp = now() + 30 * DAY
    tx = borrowers.register(borrower, COMMIT, GB, exp, {"from": kyc})
    assert tx.events["BorrowerRegistered"]["borrower"] == borrower
    assert tx.events["BorrowerRegistered"]["kycExpiry"] == exp
    assert str(tx.events["BorrowerRegistered"]["identityCommitment"]) == COMMIT
    b = borrowers.getBorrower(borrower)
    assert (b["status"], b["kycExpiry"], b["reasonCode"]) == (ACTIVE, exp, 0)
    assert borrowers.isEligible(borrower)
    assert borrowers.eligibility(borrower) == (True, GB)


def test_register_reverts_on_bad_input(borrowers, kyc, borrower):
    exp = now() + DAY
    with brownie.reverts(err("BorrowerZeroAddress")):
        borrowers.register(brownie.ZERO_ADDRESS, COMMIT, GB, exp, {"from": kyc})
    with brownie.reverts(err("BorrowerZeroCommitment", borrower)):
        borrowers.register(borrower, "0x" + "00" * 32, GB, exp, {"from": kyc})
    with brownie.reverts(err("BorrowerInvalidJurisdiction", borrower, b"g1")):
        borrowers.register(borrower, COMMIT, "0x6731", exp, {"from": kyc})
    with brownie.reverts(err("BorrowerKycExpired", borrower, now() - 1)):
        borrowers.register(borrower, COMMIT, GB, now() - 1, {"from": kyc})
    borrowers.register(borrower, COMMIT, GB, exp, {"from": kyc})
    with brownie.reverts(err("BorrowerAlreadyRegistered", borrower)):
        borrowers.register(borrower, COMMIT, GB, exp, {"from": kyc})


def test_register_by_non_kyc_provider_reverts(borrowers, regulator, borrower):
    with brownie.reverts(role_err(regulator, borrowers.KYC_PROVIDER_ROLE())):
        borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": regulator})


def test_update_changes_fields_and_emits(borrowers, kyc, borrower):
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    exp = now() + 60 * DAY
    tx = borrowers.update(borrower, "0x" + "5b" * 32, US, exp, {"from": kyc})
    assert tx.events["BorrowerUpdated"]["jurisdiction"] == US
    assert borrowers.getBorrower(borrower)["kycExpiry"] == exp
    assert borrowers.eligibility(borrower) == (True, US)


def test_update_unknown_or_banned_reverts(borrowers, kyc, regulator, borrower):
    with brownie.reverts(err("BorrowerNotRegistered", borrower)):
        borrowers.update(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    borrowers.ban(borrower, 7, {"from": regulator})
    with brownie.reverts(err("BorrowerInvalidStatus", borrower, BANNED)):
        borrowers.update(borrower, COMMIT, GB, now() + DAY, {"from": kyc})


def test_suspend_ban_reinstate_cycle_emits_and_gates_eligibility(borrowers, kyc, regulator, borrower):
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    tx = borrowers.suspend(borrower, 4, {"from": regulator})
    assert tx.events["BorrowerSuspended"] == {"borrower": borrower, "reasonCode": 4}
    assert not borrowers.isEligible(borrower)
    with brownie.reverts(err("BorrowerInvalidStatus", borrower, SUSPENDED)):
        borrowers.suspend(borrower, 4, {"from": regulator})
    tx = borrowers.ban(borrower, 9, {"from": regulator})
    assert tx.events["BorrowerBanned"] == {"borrower": borrower, "reasonCode": 9}
    assert borrowers.getBorrower(borrower)["reasonCode"] == 9
    with brownie.reverts(err("BorrowerInvalidStatus", borrower, BANNED)):
        borrowers.ban(borrower, 9, {"from": regulator})
    tx = borrowers.reinstate(borrower, {"from": regulator})
    assert tx.events["BorrowerReinstated"] == {"borrower": borrower}
    assert borrowers.isEligible(borrower)
    with brownie.reverts(err("BorrowerInvalidStatus", borrower, ACTIVE)):
        borrowers.reinstate(borrower, {"from": regulator})


def test_status_changes_on_unknown_borrower_revert(borrowers, regulator, borrower):
    for fn, args in ((borrowers.suspend, (1,)), (borrowers.ban, (1,)), (borrowers.reinstate, ())):
        with brownie.reverts(err("BorrowerInvalidStatus", borrower, 0)):
            fn(borrower, *args, {"from": regulator})


def test_status_changes_by_kyc_provider_revert(borrowers, kyc, borrower):
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    with brownie.reverts(role_err(kyc, borrowers.REGULATOR_ROLE())):
        borrowers.ban(borrower, 1, {"from": kyc})


def test_kyc_expiry_ends_eligibility(borrowers, kyc, borrower):
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    chain.sleep(DAY + 1)
    chain.mine()
    assert not borrowers.isEligible(borrower)
    assert borrowers.getBorrower(borrower)["status"] == ACTIVE


def test_unknown_borrower_is_not_eligible(borrowers, borrower):
    assert not borrowers.isEligible(borrower)


def test_constructor_rejects_zero_admin(admin):
    with brownie.reverts(err("AccessControlInvalidDefaultAdmin", brownie.ZERO_ADDRESS)):
        BorrowerRegistry.deploy(brownie.ZERO_ADDRESS, {"from": admin})

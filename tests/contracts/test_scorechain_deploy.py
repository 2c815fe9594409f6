"""scripts/scorechain_deploy.deploy_system wires every contract and role."""

import pytest

from scripts.scorechain_testkit import DEFAULT_RULES, GB, REGISTERED_ORACLES


@pytest.mark.ganache
def test_deploy_system_wires_contracts_and_roles(system, kyc, regulator, registrar, approver, admin, data_provider):
    s = system
    assert s.score_registry.modelRegistry() == s.model_registry
    assert s.loan_manager.token() == s.token
    assert s.loan_manager.borrowerRegistry() == s.borrower_registry
    assert s.loan_manager.complianceRules() == s.compliance
    assert s.score_registry.threshold() == 3 and len(s.score_registry.signers()) == 5
    assert s.borrower_registry.hasRole(s.borrower_registry.KYC_PROVIDER_ROLE(), kyc)
    assert s.borrower_registry.hasRole(s.borrower_registry.REGULATOR_ROLE(), regulator)
    assert s.compliance.hasRole(s.compliance.REGULATOR_ROLE(), regulator)
    assert s.loan_manager.hasRole(s.loan_manager.REGULATOR_ROLE(), regulator)
    assert s.model_registry.hasRole(s.model_registry.MODEL_REGISTRAR_ROLE(), registrar)
    assert s.model_registry.hasRole(s.model_registry.MODEL_APPROVER_ROLE(), approver)
    assert not s.model_registry.hasRole(s.model_registry.MODEL_APPROVER_ROLE(), registrar)
    assert s.score_registry.hasRole(s.score_registry.ORACLE_ADMIN_ROLE(), admin)
    assert s.data_anchor.hasRole(s.data_anchor.DATA_PROVIDER_ROLE(), data_provider)
    assert set(s.addresses()) == {"token", "borrower_registry", "model_registry", "score_registry", "compliance",
                                  "loan_manager", "data_anchor"}


def test_deploy_system_with_rules_and_existing_token(system, admin):
    from scripts.scorechain_deploy import deploy_system

    s = deploy_system(admin, oracle_signers=[REGISTERED_ORACLES[0].address], threshold=1,
                      token=system.token.address, rules=DEFAULT_RULES, jurisdictions=["GB"])
    assert s.loan_manager.token() == system.token
    assert s.compliance.version() == 2 and s.compliance.isJurisdictionAllowed(GB)
    with pytest.raises(ValueError):
        deploy_system(admin, oracle_signers=[REGISTERED_ORACLES[0].address], threshold=1, roles={"nobody": admin})


CONTRACTS = ("borrower_registry", "model_registry", "score_registry", "compliance", "loan_manager", "data_anchor")


def test_every_contract_hands_its_default_admin_over_in_two_delayed_steps(system, admin, lender):
    import brownie
    from brownie import chain

    from scripts.scorechain_testkit import err

    for name in CONTRACTS:
        c = getattr(system, name)
        delay = c.ADMIN_TRANSFER_DELAY()
        assert (c.defaultAdmin(), c.defaultAdminDelay(), delay) == (admin, delay, 2 * 24 * 3600)
        role = c.DEFAULT_ADMIN_ROLE()
        # never granted directly, not even by the admin
        with brownie.reverts(err("AccessControlEnforcedDefaultAdminRules")):
            c.grantRole(role, lender, {"from": admin})
        tx = c.beginDefaultAdminTransfer(lender, {"from": admin})
        schedule = tx.events["DefaultAdminTransferScheduled"]["acceptSchedule"]
        assert schedule == tx.timestamp + delay
        with brownie.reverts(err("AccessControlEnforcedDefaultAdminDelay", schedule)):
            c.acceptDefaultAdminTransfer({"from": lender})
    chain.sleep(2 * 24 * 3600 + 1)
    chain.mine()
    for name in CONTRACTS:
        c = getattr(system, name)
        c.acceptDefaultAdminTransfer({"from": lender})
        assert c.defaultAdmin() == lender and not c.hasRole(c.DEFAULT_ADMIN_ROLE(), admin)


def test_no_contract_deploys_without_an_admin(admin):
    import brownie
    from brownie import BorrowerRegistry, DataAnchor, ModelRegistry

    from scripts.scorechain_testkit import err

    for contract, args in ((BorrowerRegistry, ("0x" + "11" * 32,)), (ModelRegistry, ()), (DataAnchor, ())):
        with brownie.reverts(err("AccessControlInvalidDefaultAdmin", brownie.ZERO_ADDRESS)):
            contract.deploy(brownie.ZERO_ADDRESS, *args, {"from": admin})


def test_deploy_publishes_the_consent_terms_borrowers_agree_to(system):
    from eth_utils import keccak

    from scripts.scorechain_deploy import CONSENT_TERMS_PATH, consent_terms_hash

    text = CONSENT_TERMS_PATH.read_bytes()
    assert b"Anyone can read which" in text  # the public address link is in the consent text
    assert str(system.borrower_registry.consentTerms()) == consent_terms_hash() == "0x" + keccak(text).hex()

"""scripts/scorechain_deploy.deploy_system wires every contract and role."""

import pytest

from scorechain_testkit import DEFAULT_RULES, GB, REGISTERED_ORACLES


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

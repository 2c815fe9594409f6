"""Chain fixtures for the contract tests. Accounts: 0 admin/oracle admin, 1 KYC provider,
2 regulator, 3 model registrar, 4 model approver, 5-6 borrowers, 7-8 lenders, 9 data provider."""

import pytest
from brownie import accounts, chain

from scripts.scorechain_testkit import (
    DEFAULT_RULES,
    FR,
    GB,
    MODEL_ID,
    REGISTERED_ORACLES,
    Oracle,
    enrol,
    rules_tuple,
)
from scripts import brownie_rpc_quirks

brownie_rpc_quirks.install()  # Ganache 7 receipt race: see oracle.rpc_quirks


@pytest.fixture(scope="module", autouse=True)
def module_clean_chain(module_isolation):
    """Each test module starts from the chain state before it and leaves nothing behind."""
    pass


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    """Every test starts from the same chain state (brownie snapshots and reverts)."""
    pass


@pytest.fixture(scope="module")
def admin():
    return accounts[0]


@pytest.fixture(scope="module")
def kyc():
    return accounts[1]


@pytest.fixture(scope="module")
def regulator():
    return accounts[2]


@pytest.fixture(scope="module")
def registrar():
    return accounts[3]


@pytest.fixture(scope="module")
def approver():
    return accounts[4]


@pytest.fixture(scope="module")
def borrower():
    return accounts[5]


@pytest.fixture(scope="module")
def borrower2():
    return accounts[6]


@pytest.fixture(scope="module")
def lender():
    return accounts[7]


@pytest.fixture(scope="module")
def lender2():
    return accounts[8]


@pytest.fixture(scope="module")
def data_provider():
    return accounts[9]


@pytest.fixture(scope="module")
def system(admin, kyc, regulator, registrar, approver, data_provider):
    """All contracts deployed by scorechain_deploy with a 3-of-5 oracle and distinct role holders."""
    from scripts.scorechain_deploy import deploy_system

    return deploy_system(
        admin,
        oracle_signers=[a.address for a in REGISTERED_ORACLES],
        threshold=3,
        roles={
            "kyc_provider": kyc,
            "regulator": regulator,
            "model_registrar": registrar,
            "model_approver": approver,
            "oracle_admin": admin,
            "data_provider": data_provider,
        },
    )


@pytest.fixture(scope="module")
def token(system):
    return system.token


@pytest.fixture(scope="module")
def borrowers(system):
    return system.borrower_registry


@pytest.fixture(scope="module")
def models(system):
    return system.model_registry


@pytest.fixture(scope="module")
def scores(system):
    return system.score_registry


@pytest.fixture(scope="module")
def compliance(system):
    return system.compliance


@pytest.fixture(scope="module")
def loans(system):
    return system.loan_manager


@pytest.fixture(scope="module")
def anchor(system):
    return system.data_anchor


@pytest.fixture(scope="module")
def oracle(scores, admin):
    """Signs with the registered oracle keys; `admin` also holds SCORE_REQUESTER_ROLE here so a
    test of the score registry alone can open a request (LoanManager holds it in production)."""
    scores.grantRole(scores.SCORE_REQUESTER_ROLE(), admin, {"from": admin})
    return Oracle(registry=scores, chain_id=chain.id, requester=admin)


@pytest.fixture(scope="module")
def approved_model(models, registrar, approver):
    models.register(MODEL_ID, "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32, "ipfs://model-v1", 1,
                    {"from": registrar})
    models.approve(MODEL_ID, {"from": approver})
    return MODEL_ID


@pytest.fixture(scope="module")
def ready(system, approved_model, compliance, regulator, borrowers, kyc, borrower, borrower2, token, admin,
          lender, lender2, loans):
    """A live market: rules set (GB, FR allowed), two GB borrowers registered, lenders funded and
    approved to the LoanManager."""
    compliance.setRuleSet(rules_tuple(DEFAULT_RULES), {"from": regulator})
    compliance.setJurisdictionAllowed(GB, True, {"from": regulator})
    compliance.setJurisdictionAllowed(FR, True, {"from": regulator})
    expiry = chain.time() + 365 * 24 * 3600
    for i, b in enumerate((borrower, borrower2)):
        enrol(borrowers, kyc, b, "0x" + f"{i + 1:064x}", GB, expiry)
    for who in (lender, lender2, borrower, borrower2):
        token.mint(who, 10_000_000 * 10**6, {"from": admin})
        token.approve(loans, 2**256 - 1, {"from": who})
    return system


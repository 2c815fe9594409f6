"""Deploy and wire the Scorechain contracts (importable; no private keys here).

    from scripts.scorechain_deploy import deploy_system
    system = deploy_system(accounts[0], oracle_signers=[a1, a2, a3], threshold=2)
    system.loan_manager.request(...)

`deploy_system` deploys BorrowerRegistry, ModelRegistry, CreditScoreRegistry, ComplianceRules,
LoanManager and DataAnchor (plus a TestStablecoin if no token is given), grants every role to the
accounts named in `roles` (missing roles go to `admin`) and, if `rules` is given, sets the first
compliance rule set and allowed jurisdictions. The caller supplies brownie accounts (local, or
loaded from brownie's encrypted keystore by a later deploy script); nothing here holds a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from brownie import (
    BorrowerRegistry,
    ComplianceRules,
    CreditScoreRegistry,
    DataAnchor,
    LoanManager,
    ModelRegistry,
    TestStablecoin,
    web3,
)

#: role key in `roles` -> (contract attribute on ScorechainSystem, role constant getter name)
ROLE_TARGETS: dict[str, list[tuple[str, str]]] = {
    "kyc_provider": [("borrower_registry", "KYC_PROVIDER_ROLE")],
    "regulator": [
        ("borrower_registry", "REGULATOR_ROLE"),
        ("compliance", "REGULATOR_ROLE"),
        ("loan_manager", "REGULATOR_ROLE"),
    ],
    "model_registrar": [("model_registry", "MODEL_REGISTRAR_ROLE")],
    "model_approver": [("model_registry", "MODEL_APPROVER_ROLE")],
    "oracle_admin": [("score_registry", "ORACLE_ADMIN_ROLE")],
    "data_provider": [("data_anchor", "DATA_PROVIDER_ROLE")],
    "servicer": [("loan_manager", "SERVICER_ROLE")],
}

DEFAULT_GRACE_PERIOD_SECONDS = 3 * 24 * 3600

#: The consent text a borrower agrees to when enrolling an address (BorrowerRegistry.consent).
CONSENT_TERMS_PATH = Path(__file__).resolve().parent.parent / "interfaces" / "borrower-consent.md"


def consent_terms_hash(path: Path = CONSENT_TERMS_PATH) -> str:
    """keccak256 of the consent text's bytes, as BorrowerRegistry.consentTerms() holds it (0x hex)."""
    return "0x" + web3.keccak(path.read_bytes()).hex().removeprefix("0x")


@dataclass
class ScorechainSystem:
    token: Any
    borrower_registry: Any
    model_registry: Any
    score_registry: Any
    compliance: Any
    loan_manager: Any
    data_anchor: Any
    admin: Any
    roles: dict

    def addresses(self) -> dict[str, str]:
        """Contract name -> address, e.g. for the oracle's settings or a deployments file."""
        return {
            name: getattr(self, name).address
            for name in (
                "token",
                "borrower_registry",
                "model_registry",
                "score_registry",
                "compliance",
                "loan_manager",
                "data_anchor",
            )
        }


def rule_set_tuple(rules: Mapping[str, Any]) -> tuple:
    """ComplianceRules.RuleSet as the tuple brownie expects, from a dict with the struct's field names."""
    return (
        rules["maxPdBps"],
        rules["maxAprBps"],
        rules["maxActiveLoans"],
        rules["minTermSeconds"],
        rules["maxTermSeconds"],
        rules["maxScoreAgeSeconds"],
        rules["coolOffSeconds"],
        rules["requestTtlSeconds"],
        rules["fundingWindowSeconds"],
        rules["lateInterestPremiumBps"],
        rules["publicDefaultDelaySeconds"],
        list(rules["bandMinScores"]),
        list(rules["bandMaxPrincipal"]),
    )


def deploy_system(
    admin,
    *,
    oracle_signers: Iterable[str],
    threshold: int,
    token=None,
    roles: Mapping[str, Any] | None = None,
    grace_period_seconds: int = DEFAULT_GRACE_PERIOD_SECONDS,
    rules: Mapping[str, Any] | None = None,
    jurisdictions: Iterable[str] = (),
    publish_source: bool = False,
) -> ScorechainSystem:
    """Deploy every contract, wire addresses and grant roles.

    admin: brownie account that deploys and holds DEFAULT_ADMIN_ROLE everywhere.
    oracle_signers / threshold: initial k-of-n oracle signer set of CreditScoreRegistry.
    token: an ERC-20 (contract or address); None deploys a TestStablecoin owned by admin.
    roles: {"kyc_provider", "regulator", "model_registrar", "model_approver", "oracle_admin",
        "data_provider", "servicer"} -> account or address; missing keys default to admin. (The same account
        may hold both model roles; ModelRegistry still refuses to let it approve its own model.)
    rules: optional first RuleSet as a dict with the Solidity field names (see rule_set_tuple);
        set by the regulator, together with `jurisdictions` (two-letter codes such as "GB").
    """
    tx = {"from": admin}
    if publish_source:
        tx_pub = {"publish_source": True}
    else:
        tx_pub = {}
    if token is None:
        token = TestStablecoin.deploy(tx, **tx_pub)
    elif isinstance(token, str):
        from brownie import interface

        token = interface.IERC20(token)

    borrower_registry = BorrowerRegistry.deploy(admin, consent_terms_hash(), tx, **tx_pub)
    model_registry = ModelRegistry.deploy(admin, tx, **tx_pub)
    score_registry = CreditScoreRegistry.deploy(
        admin, model_registry, list(oracle_signers), threshold, tx, **tx_pub
    )
    compliance = ComplianceRules.deploy(
        admin, borrower_registry, score_registry, model_registry, tx, **tx_pub
    )
    loan_manager = LoanManager.deploy(
        admin, token, borrower_registry, compliance, score_registry, grace_period_seconds, tx, **tx_pub
    )
    # A loan request advances the borrower's attestation nonce (only later scores decide it).
    score_registry.grantRole(score_registry.SCORE_REQUESTER_ROLE(), loan_manager, tx)
    data_anchor = DataAnchor.deploy(admin, tx, **tx_pub)

    system = ScorechainSystem(
        token=token,
        borrower_registry=borrower_registry,
        model_registry=model_registry,
        score_registry=score_registry,
        compliance=compliance,
        loan_manager=loan_manager,
        data_anchor=data_anchor,
        admin=admin,
        roles={},
    )
    roles = dict(roles or {})
    unknown = set(roles) - set(ROLE_TARGETS)
    if unknown:
        raise ValueError(f"unknown role keys: {sorted(unknown)}")
    for key, targets in ROLE_TARGETS.items():
        holder = roles.get(key, admin)
        system.roles[key] = holder
        for attr, role_name in targets:
            contract = getattr(system, attr)
            contract.grantRole(getattr(contract, role_name)(), holder, tx)

    if rules is not None:
        regulator = system.roles["regulator"]
        compliance.setRuleSet(rule_set_tuple(rules), {"from": regulator})
        for code in jurisdictions:
            compliance.setJurisdictionAllowed(jurisdiction_bytes(code), True, {"from": regulator})
    return system


def jurisdiction_bytes(code: str) -> str:
    """'GB' -> '0x4742' (bytes2 as brownie accepts it)."""
    if len(code) != 2 or not code.isascii():
        raise ValueError(f"jurisdiction must be a two-letter code, got {code!r}")
    return web3.to_hex(text=code.upper())


def main():
    """`brownie run scripts/scorechain_deploy.py --network anvil-a`: a local demo deployment
    with accounts[0] as admin and accounts[1..3] as a 2-of-3 oracle."""
    from brownie import accounts

    system = deploy_system(
        accounts[0], oracle_signers=[a.address for a in accounts[1:4]], threshold=2
    )
    for name, address in system.addresses().items():
        print(f"{name:18} {address}")
    return system

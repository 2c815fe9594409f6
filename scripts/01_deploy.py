"""01 — deploy every Scorechain contract, wire the roles and set the first compliance rules.

    brownie run scripts/01_deploy.py --network development
    brownie run scripts/01_deploy.py --network scorechain-live     # signed, keys from the environment
    brownie run scripts/01_deploy.py --network sepolia-rpc

The oracle signer set comes from SCORECHAIN_ORACLE_SIGNERS (comma-separated addresses) and
SCORECHAIN_ORACLE_THRESHOLD (default 2); on local chains, without them, development accounts
stand in. SCORECHAIN_TOKEN names an existing ERC-20 (testnets); without it a test stablecoin is
deployed. Addresses are recorded in scripts/deployments/<network>.json.
"""

from __future__ import annotations

import os

from brownie import accounts

from .network_context import (
    DEV_FIRST_FREE_INDEX,
    ConfigurationError,
    is_local,
    role_account,
    save_deployment,
)
from .scorechain_deploy import deploy_system

DAY = 24 * 3600
#: Base units of the 6-decimal test stablecoin.
USD = 10**6

#: The first rule set. Score bands follow the models package's 300-850 scale (models/README.md).
DEFAULT_RULES = {
    "maxPdBps": 2_500,  # decline above a 25 % probability of default
    "maxAprBps": 3_600,  # usury cap: 36 % APR
    "maxActiveLoans": 2,
    "minTermSeconds": 30 * DAY,
    "maxTermSeconds": 365 * DAY,
    "maxScoreAgeSeconds": 7 * DAY,
    "coolOffSeconds": 180 * DAY,
    "requestTtlSeconds": 7 * DAY,
    "fundingWindowSeconds": 14 * DAY,
    "lateInterestPremiumBps": 500,  # penalty 5 % a year on overdue principal, cut to the cap per loan
    "publicDefaultDelaySeconds": 14 * DAY,  # after due + grace, only lender/servicer default for 14 days
    "bandMinScores": [300, 580, 670, 740],
    "bandMaxPrincipal": [0, 2_000 * USD, 10_000 * USD, 25_000 * USD],
}
DEFAULT_JURISDICTIONS = ("GB", "DE", "FR", "NL", "IE")


def oracle_signer_config() -> tuple[list[str], int]:
    threshold = int(os.environ.get("SCORECHAIN_ORACLE_THRESHOLD", "2"))
    raw = os.environ.get("SCORECHAIN_ORACLE_SIGNERS", "")
    signers = [s.strip() for s in raw.split(",") if s.strip()]
    if not signers:
        if not is_local():
            raise ConfigurationError("set SCORECHAIN_ORACLE_SIGNERS to the oracle nodes' addresses")
        # Local chains only: the development accounts after the roles stand in for oracle keys.
        signers = [a.address for a in accounts[DEV_FIRST_FREE_INDEX : DEV_FIRST_FREE_INDEX + 3]]
    return signers, threshold


def deploy(oracle_signers: list[str], threshold: int, *, token: str | None = None, rules=None):
    """Deploy with each role held by its own account; returns the ScorechainSystem."""
    roles = {role: role_account(role) for role in (
        "kyc_provider", "regulator", "model_registrar", "model_approver", "oracle_admin",
        "data_provider",
    )}
    system = deploy_system(
        role_account("deployer"),
        oracle_signers=oracle_signers,
        threshold=threshold,
        token=token,
        roles=roles,
        rules=DEFAULT_RULES if rules is None else rules,
        jurisdictions=DEFAULT_JURISDICTIONS,
    )
    save_deployment(
        system.addresses(),
        {"oracle_signers": list(oracle_signers), "threshold": threshold},
    )
    return system


def main():
    signers, threshold = oracle_signer_config()
    system = deploy(signers, threshold, token=os.environ.get("SCORECHAIN_TOKEN"))
    for name, address in system.addresses().items():
        print(f"{name:18} {address}")
    return system

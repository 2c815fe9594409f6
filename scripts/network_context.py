"""Accounts and deployed addresses for the active brownie network — the one helper every
numbered script uses.

Accounts
    Local chains (anvil, Ganache): brownie's unlocked development accounts, one per role (see
    `DEV_ROLE_INDEX`). Live networks: keys only from the environment or brownie's encrypted
    keystore, never from a file in this repository:
      SCORECHAIN_<ROLE>_KEY       a hex private key in the environment, or
      SCORECHAIN_<ROLE>_ACCOUNT   the id of a brownie keystore account (`brownie accounts new`),
                                  unlocked with SCORECHAIN_<ROLE>_PASSWORD.
    <ROLE> is DEPLOYER, KYC_PROVIDER, REGULATOR, MODEL_REGISTRAR, MODEL_APPROVER, ORACLE_ADMIN,
    DATA_PROVIDER; every role but MODEL_APPROVER falls back to the deployer (four eyes:
    the approver must be someone else).

Deployments
    `scripts/deployments/<network>.json` records contract addresses per network, written by
    `01_deploy.py` and read by every later script. Files for local chains are not committed
    (their addresses die with the chain).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from brownie import Contract, accounts, network
from brownie._config import CONFIG

from . import brownie_rpc_quirks

# Every numbered script and the console helpers come through here: fix Ganache's receipt race
# before they send anything (see oracle.rpc_quirks).
brownie_rpc_quirks.install()

DEPLOYMENTS_DIR = Path(__file__).resolve().parent / "deployments"

ROLES = (
    "deployer",
    "kyc_provider",
    "regulator",
    "model_registrar",
    "model_approver",
    "oracle_admin",
    "data_provider",
)
#: On local chains each role is its own unlocked development account.
DEV_ROLE_INDEX = {role: i for i, role in enumerate(ROLES)}
#: Development accounts after the roles; on local chains they stand in for oracle signers.
DEV_FIRST_FREE_INDEX = len(ROLES)

#: deployments-file key -> contract type name in the brownie project
CONTRACT_TYPES = {
    "token": "TestStablecoin",
    "borrower_registry": "BorrowerRegistry",
    "model_registry": "ModelRegistry",
    "score_registry": "CreditScoreRegistry",
    "compliance": "ComplianceRules",
    "loan_manager": "LoanManager",
    "data_anchor": "DataAnchor",
}


class TransactionFailed(RuntimeError):
    pass


def require_success(tx):
    """The receipt, if the transaction succeeded. Inside `brownie console` a reverted transaction
    returns its receipt instead of raising, so every step checks."""
    if tx.status != 1:
        raise TransactionFailed(f"{tx.contract_name}.{tx.fn_name} reverted: {tx.revert_msg}")
    return tx


class ConfigurationError(RuntimeError):
    """A required key, account or deployment is missing for the active network."""


def network_name() -> str:
    name = network.show_active()
    if name is None:
        raise ConfigurationError("no brownie network is connected")
    return name


def is_local() -> bool:
    """True on chains brownie launched itself (unlocked accounts, snapshots, time travel)."""
    return CONFIG.network_type == "development"


def _live_account(role: str):
    env = role.upper()
    key = os.environ.get(f"SCORECHAIN_{env}_KEY")
    if key:
        return accounts.add(key)
    keystore_id = os.environ.get(f"SCORECHAIN_{env}_ACCOUNT")
    if keystore_id:
        password = os.environ.get(f"SCORECHAIN_{env}_PASSWORD")
        if password is None:
            raise ConfigurationError(f"SCORECHAIN_{env}_PASSWORD is not set for keystore '{keystore_id}'")
        return accounts.load(keystore_id, password=password)
    return None


def role_account(role: str):
    """The account that acts as `role` on the active network."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    if is_local():
        return accounts[DEV_ROLE_INDEX[role]]
    account = _live_account(role)
    if account is not None:
        return account
    if role == "model_approver":
        raise ConfigurationError(
            "set SCORECHAIN_MODEL_APPROVER_KEY or SCORECHAIN_MODEL_APPROVER_ACCOUNT: "
            "models are approved by a second account (four eyes)"
        )
    if role == "deployer":
        raise ConfigurationError(
            "set SCORECHAIN_DEPLOYER_KEY or SCORECHAIN_DEPLOYER_ACCOUNT (+ _PASSWORD) "
            "to sign on a live network"
        )
    return role_account("deployer")


def new_local_account():
    """A fresh throwaway account for local chains. Made from a random key rather than with
    `accounts.add()`, which prints the new account's mnemonic."""
    return accounts.add(secrets.token_hex(32))


def tx_params(role: str) -> dict:
    """Transaction parameters for `role`; live networks wait for one confirmation."""
    params = {"from": role_account(role)}
    if not is_local():
        params["required_confs"] = 1
    return params


def deployments_path(name: str | None = None) -> Path:
    return DEPLOYMENTS_DIR / f"{name or network_name()}.json"


def save_deployment(addresses: dict[str, str], extra: dict | None = None) -> Path:
    path = deployments_path()
    DEPLOYMENTS_DIR.mkdir(exist_ok=True)
    record = {"network": network_name(), "chain_id": network.chain.id, "contracts": addresses}
    record.update(extra or {})
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def load_deployment(name: str | None = None) -> dict:
    path = deployments_path(name)
    if not path.exists():
        raise ConfigurationError(
            f"no deployment recorded for network '{name or network_name()}' ({path}); "
            "run `brownie run scripts/01_deploy.py --network <network>` first"
        )
    record = json.loads(path.read_text())
    if record.get("chain_id") != network.chain.id:
        raise ConfigurationError(
            f"{path} was written for chain id {record.get('chain_id')}, "
            f"but the connected chain is {network.chain.id}"
        )
    return record


@dataclass
class Deployed:
    """The deployed contracts of the active network, as brownie contract objects."""

    token: object
    borrower_registry: object
    model_registry: object
    score_registry: object
    compliance: object
    loan_manager: object
    data_anchor: object


def deployed(name: str | None = None) -> Deployed:
    from brownie import project

    proj = project.get_loaded_projects()[0]
    addresses = load_deployment(name)["contracts"]
    contracts = {}
    for key, type_name in CONTRACT_TYPES.items():
        container = getattr(proj, type_name)
        abi = container.abi
        contracts[key] = Contract.from_abi(type_name, addresses[key], abi)
    return Deployed(**contracts)

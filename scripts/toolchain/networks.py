"""Add Scorechain's live-style and testnet networks to brownie's network list (idempotent).

brownie keeps networks in ~/.brownie/network-config.yaml, not in the project's config, so set-up
writes them there. Hosts may name environment variables; brownie expands them when it connects,
so no URL or key is ever written to disk here.
"""

import sys

import yaml
from brownie._config import _get_data_folder

GROUP = "Scorechain"
#: Local chains brownie launches itself, beside its own `development` / `ganache-cli`.
DEV_NETWORKS = [
    {
        # A second Ganache on another port, for tests that drive `brownie console` while the
        # test session's own chain holds 8545.
        "name": "Ganache 7.9.2 on port 8555",
        "id": "ganache-alt",
        "cmd": "ganache-cli",
        "host": "http://127.0.0.1",
        "cmd_settings": {"port": 8555, "gas_limit": 30000000, "accounts": 10,
                         "evm_version": "shanghai", "mnemonic": "brownie"},
    },
    {
        # A chain configured like a lenders' consortium chain (QBFT): no base fee, zero gas price.
        # `make test-consortium` runs the contract and oracle suites on it.
        "name": "anvil as a zero-gas consortium chain (port 8575)",
        "id": "anvil-consortium",
        "cmd": "anvil",
        "host": "http://127.0.0.1",
        "cmd_settings": {"port": 8575, "gas_limit": 30000000, "accounts": 10, "base_fee": 0, "gas_price": 0},
    },
    {
        # anvil on its own port for `make soak`, so an hour-long run leaves 8545 to the tests.
        "name": "anvil on port 8565 (soak runs)",
        "id": "anvil-soak",
        "cmd": "anvil",
        "host": "http://127.0.0.1",
        "cmd_settings": {"port": 8565, "gas_limit": 30000000, "accounts": 10, "base_fee": 0},
    },
]
NETWORKS = [
    {
        # A local chain used as if it were a testnet: signed transactions from a key in the
        # environment, no unlocked accounts, confirmations awaited. `make live-demo` starts it.
        "name": "Local chain as a live network (signed transactions)",
        "id": "scorechain-live",
        "chainid": 31337,
        "host": "http://127.0.0.1:8547",
    },
    {
        "name": "Sepolia (RPC URL from $SEPOLIA_RPC_URL)",
        "id": "sepolia-rpc",
        "chainid": 11155111,
        "host": "$SEPOLIA_RPC_URL",
        "explorer": "https://api-sepolia.etherscan.io/api",
    },
]


#: Ganache 7.9.2's default "eager" instamine answers eth_sendRawTransaction only once the block is
#: mined, and with several senders at once (three oracle nodes) its miner can stall and leave
#: those calls hanging. "strict" instamine answers on admission and mines right after.
GANACHE_CMD = "ganache-cli --miner.instamine strict"


def main() -> int:
    path = _get_data_folder().joinpath("network-config.yaml")
    config = yaml.safe_load(path.read_text())
    ours = {n["id"] for n in NETWORKS}
    # An id may appear only once across all groups; drop stale copies before (re)adding ours.
    for group in config["live"]:
        group["networks"] = [n for n in group["networks"] if n["id"] not in ours]
    config["live"] = [g for g in config["live"] if g["networks"] or g["name"] != GROUP]
    group = next((g for g in config["live"] if g["name"] == GROUP), None)
    if group is None:
        group = {"name": GROUP, "networks": []}
        config["live"].append(group)
    group["networks"].extend(dict(n) for n in NETWORKS)
    dev_ids = {n["id"] for n in DEV_NETWORKS}
    config["development"] = [n for n in config["development"] if n["id"] not in dev_ids]
    config["development"].extend(dict(n) for n in DEV_NETWORKS)
    for network in config["development"]:
        if network["id"] in ("ganache-cli", "ganache-alt"):
            network["cmd"] = GANACHE_CMD
    ours |= dev_ids
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    print(f"networks: {', '.join(sorted(ours))} registered in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

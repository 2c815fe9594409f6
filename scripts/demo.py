"""Scorechain's main job, end to end on a local chain.

Usage: `make demo` (anvil) or `make demo CHAIN=ganache`. Starts the chain itself, deploys, runs
the flow and stops everything it started.
"""

import argparse
import sys

from brownie import network, project

CHAINS = {"anvil": "development", "ganache": "ganache-cli"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", choices=sorted(CHAINS), default="anvil")
    args = parser.parse_args(argv)

    proj = project.load(".", name="Scorechain")
    proj.load_config()  # brownie applies brownie-config.yaml only on request when used as a library
    network.connect(CHAINS[args.chain])
    try:
        admin, user = network.accounts[0], network.accounts[1]
        token = proj.TestStablecoin.deploy({"from": admin})
        token.mint(user, 1_000 * 10**6, {"from": admin})
        print(f"chain {args.chain}: TestStablecoin at {token.address}, "
              f"{token.balanceOf(user) / 10**6:,.2f} tUSD minted to {user.address}")
    finally:
        network.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())

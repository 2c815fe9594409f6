"""The testnet path, exercised on the live-style local network `scorechain-live`: brownie treats it
as a live chain (no unlocked accounts, signed transactions, confirmations), and the numbered
scripts take every key from the environment — as on Sepolia."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from eth_account import Account

ROOT = Path(__file__).resolve().parents[2]
PORT = 8547  # scorechain-live's host in brownie's network list (scripts/toolchain/networks.py)
URL = f"http://127.0.0.1:{PORT}"


def _rpc(method, params):
    reply = requests.post(URL, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                          timeout=10).json()
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["result"]


@pytest.fixture
def live_chain():
    proc = subprocess.Popen([str(ROOT / "node_modules/.bin/anvil"), "--port", str(PORT), "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                _rpc("eth_chainId", [])
                break
            except requests.RequestException:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def _funded_key():
    acct = Account.create()
    _rpc("anvil_setBalance", [acct.address, hex(10**20)])
    return acct


def _brownie_run(script, env):
    return subprocess.run([str(ROOT / ".venv/bin/brownie"), "run", script, "--network",
                           "scorechain-live"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_deploy_register_and_onboard_on_a_live_style_network(live_chain, tmp_path):
    deployer, approver = _funded_key(), _funded_key()
    keys = [_funded_key() for _ in range(3)]  # borrowers consent from their own wallets
    borrowers = [k.address for k in keys]
    csv_path = tmp_path / "borrowers.csv"
    from models.schema import load_schema

    names = [f["name"] for f in load_schema("gmsc")["features"]]
    row = ["0.3", "41", "0", "0.35", "5200", "7", "0", "1", "0", "1"]
    csv_path.write_text("borrower,jurisdiction,identity," + ",".join(names) + "\n" + "".join(
        f"{b},GB,kyc-ref-{i},{','.join(row)}\n" for i, b in enumerate(borrowers)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORECHAIN_")}
    env.update({
        # keys from the environment only, as on a testnet
        "SCORECHAIN_DEPLOYER_KEY": deployer.key.hex(),
        "SCORECHAIN_MODEL_APPROVER_KEY": approver.key.hex(),
        "SCORECHAIN_ORACLE_SIGNERS": ",".join(Account.create().address for _ in range(3)),
        "SCORECHAIN_ORACLE_THRESHOLD": "2",
        "SCORECHAIN_BORROWERS_CSV": str(csv_path),
        "SCORECHAIN_KYC_SALT": "0x" + os.urandom(32).hex(),  # the KYC provider's secret
    })
    deployments = ROOT / "scripts/deployments/scorechain-live.json"
    deployments.unlink(missing_ok=True)
    # brownie persists a live network's deployments under build/deployments/<chain id>; one left by
    # an interrupted run points at contracts this fresh chain does not have, and brownie run fails.
    _forget_brownie_deployments(31337)

    for script in ("scripts/01_deploy.py", "scripts/02_register_model.py",
                   "scripts/03_onboard_borrowers.py"):
        done = _brownie_run(script, env)
        assert done.returncode == 0, f"{script}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    record = json.loads(deployments.read_text())
    assert record["network"] == "scorechain-live" and record["chain_id"] == 31337
    contracts = record["contracts"]
    _assert_content_ids_recorded(contracts)
    # Every transaction was signed by the environment's keys: the chain's nonces say how many.
    assert int(_rpc("eth_getTransactionCount", [deployer.address, "latest"]), 16) > 10
    assert int(_rpc("eth_getTransactionCount", [approver.address, "latest"]), 16) == 1  # approve
    registry = contracts["borrower_registry"]

    def eligible(borrower):
        data = "0x" + _selector("isEligible(address)") + borrower[2:].lower().rjust(64, "0")
        return int(_rpc("eth_call", [{"to": registry, "data": data}, "latest"]), 16)

    from eth_hash.auto import keccak

    terms = keccak((ROOT / "interfaces/borrower-consent.md").read_bytes())
    for key in keys:
        assert eligible(key.address) == 0  # registered by the KYC provider: pending its consent
        tx = {"to": registry, "data": "0x" + _selector("consent(bytes32)") + terms.hex(), "value": 0,
              "gas": 200_000, "gasPrice": 2 * 10**9, "chainId": 31337,
              "nonce": int(_rpc("eth_getTransactionCount", [key.address, "latest"]), 16)}
        raw = Account.sign_transaction(tx, key.key).raw_transaction
        sent = _rpc("eth_sendRawTransaction", ["0x" + raw.hex().removeprefix("0x")])
        deadline = time.time() + 30  # wait for the consent to be mined before reading its effect
        while (receipt := _rpc("eth_getTransactionReceipt", [sent])) is None and time.time() < deadline:
            time.sleep(0.1)
        assert receipt is not None and int(receipt["status"], 16) == 1, receipt
        assert eligible(key.address) == 1
    deployments.unlink()
    _forget_brownie_deployments(31337)


def _assert_content_ids_recorded(contracts: dict) -> None:
    """02 registered the bundle under its directory's IPFS CID and 03 anchored the batch under
    its public document's (written beside the features CSV, which gets none)."""
    import hashlib

    from web3 import Web3

    from oracle import content_id
    from oracle.abi import load_abi
    from oracle.evidence import BATCH_FIELDS
    from oracle.provenance import MODEL_FIELDS

    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{PORT}"))
    models = w3.eth.contract(address=contracts["model_registry"], abi=load_abi("ModelRegistry"))
    model_id = hashlib.sha256((ROOT / "models/default/manifest.json").read_bytes()).digest()
    model = models.functions.getModel(model_id).call()
    assert model[MODEL_FIELDS.index("uri")] == "ipfs://" + content_id.path_cid(
        ROOT / "models/default")
    anchor = w3.eth.contract(address=contracts["data_anchor"], abi=load_abi("DataAnchor"))
    batch = anchor.functions.getBatch(anchor.functions.batchCount().call()).call()
    document = (ROOT / ".scorechain/demo/batch-public.json").read_bytes()
    assert batch[BATCH_FIELDS.index("uri")] == "ipfs://" + content_id.bytes_cid(document)


def _forget_brownie_deployments(chain_id: int) -> None:
    import shutil

    folder = ROOT / "build" / "deployments"
    shutil.rmtree(folder / str(chain_id), ignore_errors=True)
    map_path = folder / "map.json"
    if map_path.exists():
        mapping = json.loads(map_path.read_text())
        mapping.pop(str(chain_id), None)
        map_path.write_text(json.dumps(mapping, indent=2, sort_keys=True))


def _selector(signature):
    from eth_hash.auto import keccak

    return keccak(signature.encode())[:4].hex()

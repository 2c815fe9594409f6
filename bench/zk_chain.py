"""The on-chain half of bench/bench_zk.py: a proven score recorded on a fresh anvil, measured.

Deploys ModelRegistry and CreditScoreRegistry from the project's build (``brownie compile``) and
the circuit's Halo2Verifier (models.zk.evm_verifier), registers the model with its circuit, opens
a request, has three signers attest the features commitment and records the proof with
``submitProven``. Returns gas and code sizes as the chain reports them, and the PD and score the
registry derived against models.zk's.
"""
from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "contracts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _anvil():
    from web3 import Web3
    port = _free_port()
    proc = subprocess.Popen([str(ROOT / "node_modules" / ".bin" / "anvil"), "--port", str(port), "--silent",
                             "--gas-limit", "30000000", "--block-base-fee-per-gas", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}"))
    for _ in range(100):
        if proc.poll() is None and w3.is_connected():
            return proc, w3
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("anvil did not start")


def _artifact(name: str) -> dict:
    path = BUILD / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `brownie compile` first")
    d = json.loads(path.read_text())
    return {"abi": d["abi"], "bytecode": d["bytecode"], "deployed_bytes": len(d["deployedBytecode"]) // 2}


def _deploy(w3, art: dict, sender: str, *args):
    c = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    r = w3.eth.wait_for_transaction_receipt(c.constructor(*args).transact({"from": sender}))
    return w3.eth.contract(address=r.contractAddress, abi=art["abi"]), r.gasUsed


def _send(fn, sender: str):
    r = fn.transact({"from": sender})
    receipt = fn.w3.eth.wait_for_transaction_receipt(r)
    if receipt.status != 1:
        raise RuntimeError(f"{fn.fn_name} reverted")
    return receipt


def measure(zk_dir: Path, rows, proofs_dir: Path) -> dict:
    """On a fresh anvil: deploy, attach the circuit, and for each ``(z, salt)`` of ``rows`` open
    a request, prove for that borrower and nonce (public inputs), have 3 of 5 signers attest the
    commitment and record it with submitProven; gas and the recorded figures."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    from models import serving as S
    from models import zk
    from oracle.typed_data import typed_data_features

    zk_dir = Path(zk_dir)
    info = json.loads((zk_dir / "zk.json").read_text())
    verifier_art = zk.evm_verifier(zk_dir)
    proc, w3 = _anvil()
    try:
        admin, registrar, approver = w3.eth.accounts[:3]
        signers = [Account.create() for _ in range(5)]
        models, _ = _deploy(w3, _artifact("ModelRegistry"), admin, admin)
        registry_art = _artifact("CreditScoreRegistry")
        scores, _ = _deploy(w3, registry_art, admin, admin, models.address, [s.address for s in signers], 3)
        verifier, verifier_deploy_gas = _deploy(w3, verifier_art, admin)
        for role, who in (("MODEL_REGISTRAR_ROLE", registrar), ("MODEL_APPROVER_ROLE", approver)):
            _send(models.functions.grantRole(getattr(models.functions, role)().call(), who), admin)
        _send(scores.functions.grantRole(scores.functions.SCORE_REQUESTER_ROLE().call(), admin), admin)
        model_id = bytes.fromhex(info["bundle_id"])
        _send(models.functions.register(model_id, b"\x11" * 32, b"\x22" * 32, b"\x33" * 32, "bench", 1), registrar)
        set_gas = _send(models.functions.setZkCircuit(model_id, verifier.address, bytes.fromhex(info["vk_sha256"]),
                                                      info["output_scale"]), registrar).gasUsed
        _send(models.functions.approve(model_id), approver)
        runs = []
        for i, (z, salt) in enumerate(rows):
            borrower = w3.eth.accounts[3 + i % 7]
            _send(scores.functions.advanceNonce(borrower), admin)
            nonce = scores.functions.nonces(borrower).call()
            path = Path(proofs_dir) / f"chain{i}"
            zk.prove(zk_dir, z, zk.blinding(salt), zk.loan_binding(borrower, nonce), path)
            proof, commitment, logit = zk.proof_calldata(path / "proof.json")
            loan = zk.public_values(path / "proof.json", info)["loan"]
            now = w3.eth.get_block("latest").timestamp
            att = {"borrower": borrower, "modelId": model_id, "featuresCommitment": commitment.to_bytes(32, "big"),
                   "reasonCodes": 0, "issuedAt": now, "validUntil": now + 3600,
                   "nonce": nonce, "extensionHash": bytes(32),
                   "configDigest": scores.functions.configDigest().call()}
            signable = encode_typed_data(full_message=typed_data_features(att, w3.eth.chain_id, scores.address))
            sigs = [bytes(Account.sign_message(signable, s.key).signature) for s in signers[:3]]
            verify_gas = verifier.functions.verifyProof(proof, [commitment, logit, *loan]).estimate_gas()
            receipt = _send(scores.functions.submitProven(tuple(att.values()), sigs, proof, logit), admin)
            rec = scores.functions.latestScore(borrower).call()
            expected = zk.pd_bps_from_logit(logit, info["output_scale"])
            runs.append({"submit_proven_gas": receipt.gasUsed, "verify_proof_gas": verify_gas,
                         "pd_bps": rec[1], "score": rec[2],
                         "matches_models_zk": rec[1] == expected and rec[2] == S.score_from_pd(expected)})
        return {"verifier_deployed_bytes": verifier_art["deployed_bytes"],
                "verifier_deploy_gas": verifier_deploy_gas,
                "registry_deployed_bytes": registry_art["deployed_bytes"],
                "model_registry_deployed_bytes": _artifact("ModelRegistry")["deployed_bytes"],
                "set_zk_circuit_gas": set_gas, "runs": runs}
    finally:
        proc.kill()
        proc.wait()

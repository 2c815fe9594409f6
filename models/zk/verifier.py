"""The circuit on chain (issue 16): EZKL's Solidity verifier compiled with the project's solc, and
a proof as CreditScoreRegistry.submitProven takes it."""
from __future__ import annotations

import json
from pathlib import Path

from .circuit import _call, _sha256
from .fixed_point import felt_from_hex


def evm_verifier(zk_dir: Path) -> dict:
    """The circuit's Solidity verifier (EZKL's Halo2Verifier, its verifying key in its code),
    written as Halo2Verifier.sol and compiled with the project's solc 0.8.24 into verifier.json
    (abi, bytecode). EZKL's own step then tries to download solc: that failure, after the source
    is written, is expected here."""
    import ezkl
    import solcx
    from eth_hash.auto import keccak
    zk_dir = Path(zk_dir)
    info = json.loads((zk_dir / "zk.json").read_text())
    sol = zk_dir / "Halo2Verifier.sol"
    sol.unlink(missing_ok=True)
    try:
        _call(lambda: ezkl.create_evm_verifier(str(zk_dir / "vk.key"), str(zk_dir / "settings.json"),
                                               str(sol), str(zk_dir / "verifier.abi.json"),
                                               srs_path=info["srs"], reusable=False))
    except RuntimeError:
        if not sol.exists():
            raise
    (zk_dir / "verifier.abi.json").unlink(missing_ok=True)
    src = sol.read_text().replace("pragma solidity ^0.8.0;", "pragma solidity 0.8.24;")
    sol.write_text(src)
    out = solcx.compile_standard({
        "language": "Solidity", "sources": {sol.name: {"content": src}},
        "settings": {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "shanghai",
                     "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object",
                                                     "evm.deployedBytecode.object"]}}}},
        solc_version="0.8.24")
    c = out["contracts"][sol.name]["Halo2Verifier"]
    compiled = {"contract": "Halo2Verifier", "abi": c["abi"], "bytecode": c["evm"]["bytecode"]["object"],
                "deployed_bytes": len(c["evm"]["deployedBytecode"]["object"]) // 2,
                # what EXTCODEHASH of a deployed verifier must equal
                "deployed_code_keccak": keccak(bytes.fromhex(c["evm"]["deployedBytecode"]["object"])).hex(),
                "source_sha256": _sha256(sol), "vk_sha256": info["vk_sha256"]}
    (zk_dir / "verifier.json").write_text(json.dumps(compiled) + "\n")
    return compiled


def proof_calldata(proof_path: Path) -> tuple[bytes, int, int]:
    """(proof bytes, features commitment, logit) as CreditScoreRegistry.submitProven takes them:
    the commitment goes into the FeaturesAttestation as a bytes32 (big-endian), the logit is the
    circuit's output as a field element."""
    p = json.loads(Path(proof_path).read_text())
    inst = p["instances"][0]  # [commitment, logit, the loan's chunks]: the registry adds the last
    return bytes.fromhex(p["hex_proof"].removeprefix("0x")), felt_from_hex(inst[0]), felt_from_hex(inst[1])

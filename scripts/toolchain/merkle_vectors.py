"""OpenZeppelin's own StandardMerkleTree (npm @openzeppelin/merkle-tree, from node_modules, offline)
as a Python call: what the tests hold oracle.merkle and DataAnchor to, and what an auditor runs to
reproduce an anchored root with the library itself (merkle_vectors.js does the work)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VECTORS_JS = Path(__file__).with_suffix(".js")


def npm_vectors(records: list[tuple[str, bytes]], multiproofs=()) -> dict:
    """Root, tree, proofs and multiproofs of StandardMerkleTree.of(records, ["address",
    "bytes32"]); records are (subject address, 32-byte record hash). Raises RuntimeError if node
    is missing or the library fails."""
    if shutil.which("node") is None:
        raise RuntimeError("node is not on PATH (make setup installs it)")
    request = {"values": [[s, "0x" + h.hex()] for s, h in records],
               "multiproofs": [list(m) for m in multiproofs]}
    done = subprocess.run(["node", str(VECTORS_JS)], input=json.dumps(request), capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"merkle_vectors.js failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def random_records(n: int, seed: int) -> list[tuple[str, bytes]]:
    """n reproducible (checksummed address, 32-byte hash) records for test trees."""
    import random

    from eth_utils import to_checksum_address

    rng = random.Random(seed)
    return [(to_checksum_address(rng.randbytes(20)), rng.randbytes(32)) for _ in range(n)]

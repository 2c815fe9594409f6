"""The npm ipfs-unixfs-importer (node_modules, offline) as a Python call: the reference the tests
hold oracle.content_id to, with the options of `ipfs add --cid-version 1 -r` (cid_vectors.mjs
does the work), and what an auditor can run to get a CID from the JS implementation itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VECTORS_JS = Path(__file__).with_suffix(".mjs")


def npm_cids(paths: list[str | Path]) -> list[str]:
    """The CID of each file or directory tree, in order. Raises RuntimeError if node is missing
    or the importer fails (e.g. a symbolic link under a path)."""
    if shutil.which("node") is None:
        raise RuntimeError("node is not on PATH (make setup installs it)")
    request = {"paths": [str(Path(p).resolve()) for p in paths]}
    done = subprocess.run(["node", str(VECTORS_JS)], input=json.dumps(request),
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"cid_vectors.mjs failed: {done.stderr.strip()}")
    return json.loads(done.stdout)["cids"]

"""Contract ABIs the oracle uses.

The JSON files here are the `abi` arrays of the compiled contracts, copied from
`build/contracts/<Name>.json` by `python -m oracle.abi --refresh` after `brownie compile`, so an
operator's install needs no brownie build. `load_abi(name, abi_dir)` prefers `abi_dir` (e.g. the
project's build/contracts) when it holds the contract. `tests/oracle/unit/test_abi.py` fails if the
bundled copy drifts from a fresh build.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTRACTS = ("CreditScoreRegistry", "ModelRegistry", "LoanManager", "DataAnchor", "ComplianceRules")


def load_abi(name: str, abi_dir: str | Path | None = None) -> list:
    if abi_dir is not None:
        path = Path(abi_dir) / f"{name}.json"
        if path.is_file():
            data = json.loads(path.read_text())
            return data["abi"] if isinstance(data, dict) else data
    return json.loads((HERE / f"{name}.json").read_text())


def refresh(build_dir: Path) -> None:
    for name in CONTRACTS:
        src = build_dir / f"{name}.json"
        if not src.is_file():
            print(f"skipped {name}: {src} not found")
            continue
        data = json.loads(src.read_text())
        (HERE / f"{name}.json").write_text(json.dumps(data["abi"], indent=1, sort_keys=True) + "\n")
        print(f"wrote {HERE / (name + '.json')}")


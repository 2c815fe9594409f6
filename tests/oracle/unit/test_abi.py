"""The ABIs bundled with the oracle match the contracts as compiled now (when a build exists)."""

import json
from pathlib import Path

import pytest

from oracle.abi import CONTRACTS, load_abi

BUILD = Path(__file__).resolve().parents[3] / "build" / "contracts"


def _sig(entry):
    return (entry.get("type"), entry.get("name"),
            tuple((i["type"], i.get("indexed")) for i in entry.get("inputs", [])))


@pytest.mark.parametrize("name", CONTRACTS)
def test_bundled_abi_matches_build(name):
    built = BUILD / f"{name}.json"
    if not built.is_file():
        pytest.skip(f"{name} not compiled (run brownie compile)")
    fresh = {_sig(e) for e in json.loads(built.read_text())["abi"]}
    bundled = {_sig(e) for e in load_abi(name)}
    assert bundled <= fresh, f"bundled {name} ABI has entries the contract lacks: {bundled - fresh}"


def test_abis_used_by_the_oracle_exist():
    names = {e.get("name") for e in load_abi("CreditScoreRegistry")}
    assert {"submit", "submitBatch", "hashAttestation", "nonces", "threshold", "signers",
            "isSigner", "ScoreRecorded", "ScoreSkipped", "modelRegistry"} <= names
    assert "isApproved" in {e.get("name") for e in load_abi("ModelRegistry")}
    assert "ScoreRequested" in {e.get("name") for e in load_abi("LoanManager")}


def test_model_fields_follow_the_registry_struct():
    """provenance.MODEL_FIELDS names getModel's tuple positions: it must follow the ABI's struct."""
    from oracle.provenance import MODEL_FIELDS

    (fn,) = [e for e in load_abi("ModelRegistry") if e.get("name") == "getModel"]
    assert tuple(c["name"] for c in fn["outputs"][0]["components"]) == MODEL_FIELDS


def test_batch_fields_follow_the_data_anchor_struct():
    """evidence.BATCH_FIELDS names getBatch's tuple positions (the URI read for its CID)."""
    from oracle.evidence import BATCH_FIELDS

    (fn,) = [e for e in load_abi("DataAnchor") if e.get("name") == "getBatch"]
    assert tuple(c["name"] for c in fn["outputs"][0]["components"]) == BATCH_FIELDS

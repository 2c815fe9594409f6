"""`oracle verify --disclosure`: an auditor with a borrower's disclosure, the public RPC and the
model bundle (no store, no key) re-checks a score the nodes recorded, check by check."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from oracle import batch_doc, content_id
from oracle.disclosure import anchor_proof, batch_tree
from scripts.oracle_cluster import ROOT, run_cli

CHECKS = {"tx_status", "on_chain_record", "features_commitment", "model_bundle", "pd_bps",
          "score", "reason_codes", "digest", "signer_config", "threshold", "signature_0",
          "signature_1", "model_registry", "anchored_batch"}


@pytest.fixture(scope="module")
def scored(tmp_path_factory, model_path):
    """Three nodes (k=2) record scores for three borrowers whose features batch is anchored."""
    from scripts.oracle_testbed import OracleTestbed

    d = tmp_path_factory.mktemp("verify")
    c = OracleTestbed(d, model_path, n=3, k=2, n_borrowers=3)
    try:
        batch = d / "features.csv"  # the file the nodes import, as the data provider anchors it
        root = anchor_proof(c.model.schema, batch, c.borrowers[0].address).root
        # anchored under the CID of its public document, as scripts/03 does
        document = batch_doc.build(batch_tree(c.model.schema, batch))
        (d / "batch-public.json").write_bytes(document)
        assert batch_doc.parse(document)[0] == root
        c.system.data_anchor.anchor(root, content_id.uri(content_id.bytes_cid(document)), 3,
                                    {"from": c.admin})
        c.start()
        for b in c.borrowers:
            c.request_loan(b)
        c.wait_recorded(c.borrowers)
        c.stop()  # the auditor needs no node
        yield c, batch
    finally:
        c.stop()


def _auditor_env(c, **extra) -> dict:
    """Only what an outsider has: the RPC, the registry's address and the bundle."""
    node = c.nodes[0].env
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", "/"),
           "ORACLE_RPC_URL": node["ORACLE_RPC_URL"],
           "ORACLE_REGISTRY_ADDRESS": c.system.score_registry.address,
           "ORACLE_MODEL_PATH": str(c.model_path),
           "ORACLE_STORE_PATH": str(c.workdir / "auditor-has-no-store" / "x.db")}
    env.update(extra)
    return env


def _verify(args: list[str], env: dict, tmp_path):
    """The auditor's `oracle verify`: the checkout's, or an installed `oracle` when
    SCORECHAIN_ORACLE_CLI names one (scripts/toolchain/install_check.sh), run away from the
    checkout so nothing is imported from the source tree."""
    cli = os.environ.get("SCORECHAIN_ORACLE_CLI")
    if not cli:
        return run_cli(args, env)
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    return subprocess.run([cli, *args], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)


def _disclose(c, batch, out, *extra) -> None:
    r = run_cli(["disclose", c.borrowers[0].address, "--out", str(out), "--batch-csv", str(batch),
                 "--data-anchor", c.system.data_anchor.address, *extra], c.nodes[0].env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["anchor_proof"] is True
    assert "salt" not in r.stdout and "features" not in r.stdout.replace('"disclosure"', "")


def test_a_recorded_score_verifies_from_a_disclosure_alone(scored, tmp_path):
    c, batch = scored
    out = tmp_path / "d.json"
    _disclose(c, batch, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # personal data
    # a narrow log window forces the bounded, newest-first search over many ranges
    env = _auditor_env(c, ORACLE_MAX_BLOCK_RANGE="3")
    document = batch.parent / "batch-public.json"
    r = _verify(["verify", "--disclosure", str(out), "--batch-doc", str(document)], env, tmp_path)
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["ok"], r.stdout + r.stderr
    assert set(report["checks"]) == CHECKS
    assert all(v == "pass" for v in report["checks"].values())
    assert report["info"]["anchor_batch"] == 1 and len(report["info"]["signers"]) == 2
    assert report["info"]["model_cid"] == content_id.path_cid(c.model_path)
    assert report["info"]["batch_cid"] == content_id.bytes_cid(document.read_bytes())
    assert not (c.workdir / "auditor-has-no-store").exists()


def test_a_changed_byte_in_the_bundle_or_batch_document_fails_its_cid_check(scored, tmp_path):
    """model_card.md is outside the manifest (the model id does not cover it): only the bundle
    directory's CID, registered in the URI, catches an edit to it."""
    c, batch = scored
    out = tmp_path / "d.json"
    _disclose(c, batch, out)
    bundle = tmp_path / "bundle"
    shutil.copytree(c.model_path, bundle)
    card = bytearray((bundle / "model_card.md").read_bytes())
    card[100] ^= 0x01
    (bundle / "model_card.md").write_bytes(bytes(card))
    r = _verify(["verify", "--disclosure", str(out)],
                _auditor_env(c, ORACLE_MODEL_PATH=str(bundle)), tmp_path)
    report = json.loads(r.stdout)
    assert r.returncode == 1 and not report["ok"]
    assert {k for k, v in report["checks"].items() if v != "pass"} == {"model_registry"}
    assert "differs from the recorded ipfs://" in report["checks"]["model_registry"]
    document = bytearray((batch.parent / "batch-public.json").read_bytes())
    # the root's last hex digit (the document ends '…<digit>"}\n'): still JSON, another CID
    document[-4] = ord("0") if document[-4] != ord("0") else ord("1")
    edited = tmp_path / "batch-public.json"
    edited.write_bytes(bytes(document))
    r = _verify(["verify", "--disclosure", str(out), "--batch-doc", str(edited)],
                _auditor_env(c), tmp_path)
    report = json.loads(r.stdout)
    assert r.returncode == 1
    assert {k for k, v in report["checks"].items() if v != "pass"} == {"anchored_batch"}
    assert "batch document: CID" in report["checks"]["anchored_batch"]
    assert "leaves give root" in report["checks"]["anchored_batch"]


def test_the_borrowers_own_export_equals_the_nodes(scored, tmp_path):
    c, batch = scored
    a, b = tmp_path / "node.json", tmp_path / "borrower.json"
    _disclose(c, batch, a)
    _disclose(c, batch, b, "--csv", str(batch))
    assert json.loads(a.read_text()) == json.loads(b.read_text())


RECOMPUTED = {"features_commitment", "pd_bps", "score", "reason_codes"}


@pytest.mark.parametrize("edit, failing", [
    (lambda d: d["features"].__setitem__("age", d["features"]["age"] + 1), RECOMPUTED),
    (lambda d: d.__setitem__("salt", "0x" + "ab" * 32), RECOMPUTED),
    (lambda d: d["anchor"]["proof"].reverse() if len(d["anchor"]["proof"]) > 1
     else d["anchor"]["proof"].append("0x" + "00" * 32), {"anchored_batch"}),
    (lambda d: d.pop("anchor"), {"anchored_batch"}),
])
def test_an_altered_disclosure_fails_the_check_it_touches(scored, tmp_path, edit, failing):
    c, batch = scored
    out = tmp_path / "d.json"
    _disclose(c, batch, out)
    doc = json.loads(out.read_text())
    edit(doc)
    out.write_text(json.dumps(doc))
    r = _verify(["verify", "--disclosure", str(out)], _auditor_env(c), tmp_path)
    report = json.loads(r.stdout)
    assert r.returncode == 1 and not report["ok"]
    failed = {k for k, v in report["checks"].items() if v != "pass"}
    assert failed == failing, report["checks"]


def test_an_edited_reference_json_fails_verify_with_a_clear_error(scored, tmp_path):
    c, batch = scored
    out = tmp_path / "d.json"
    _disclose(c, batch, out)
    bundle = tmp_path / "bundle"
    shutil.copytree(c.model_path, bundle)
    ref = json.loads((bundle / "reference.json").read_text())
    ref["reference_values"][1] = 30.0
    (bundle / "reference.json").write_text(json.dumps(ref, indent=1))
    r = _verify(["verify", "--disclosure", str(out)],
                _auditor_env(c, ORACLE_MODEL_PATH=str(bundle)), tmp_path)
    assert r.returncode == 2
    assert "reference.json differs from the bundle manifest" in r.stderr


def test_a_bad_disclosure_or_transaction_is_a_clear_error(scored, tmp_path):
    c, batch = scored
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "scorechain-disclosure/1", "borrower": "0x12"}))
    r = _verify(["verify", "--disclosure", str(bad)], _auditor_env(c), tmp_path)
    assert r.returncode == 2 and "borrower: not an address" in r.stderr
    out = tmp_path / "d.json"
    _disclose(c, batch, out)
    r = _verify(["verify", "0x" + "11" * 32, "--disclosure", str(out)], _auditor_env(c), tmp_path)
    assert r.returncode == 2 and "transaction 0x1111" in r.stderr


def test_the_explorers_verify_action_runs_the_same_checks_on_a_posted_disclosure(scored, tmp_path):
    """The explorer's POST /api/verify: the CLI's checks, all passing for the true disclosure; one
    changed feature value fails the features commitment; a malformed body is refused with 422."""
    from brownie import web3

    from oracle.chain import Chain
    from oracle.explorer.app import create_app
    from oracle.explorer.view import ChainView
    from oracle.settings import load_settings
    from tests.oracle.unit.asgi import request

    c, batch = scored
    out = tmp_path / "d.json"
    _disclose(c, batch, out)
    view = ChainView(web3, c.system.loan_manager.address, data_anchor=c.system.data_anchor.address)
    chain = Chain(load_settings(env={}, registry_address=c.system.score_registry.address), w3=web3)
    app = create_app(view, chain=chain, model_path=c.model_path)
    disclosure = json.loads(out.read_text())

    def post(body):
        status, raw = request(app, "POST", "/api/verify", json.dumps(body).encode())
        return status, json.loads(raw)

    status, report = post({"disclosure": disclosure})
    assert status == 200 and report["ok"], report
    assert set(report["checks"]) == CHECKS and all(v == "pass" for v in report["checks"].values())
    name = next(iter(disclosure["features"]))
    value = disclosure["features"][name]
    changed = dict(disclosure, features=dict(disclosure["features"], **{name: (value or 0) + 1}))
    status, report = post({"disclosure": changed})
    assert status == 200 and not report["ok"] and report["checks"]["features_commitment"] != "pass"
    assert post({"disclosure": {"format": "nope"}})[0] == 422
    assert post({"disclosure": disclosure, "tx": "0x12"})[0] == 422
    # a flood of bytes is refused before it is read or parsed
    assert request(app, "POST", "/api/verify", b" " * ((1 << 20) + 1))[0] == 413
    status, page = request(app, "GET", "/verify")
    assert status == 200 and b'id="verify-form"' in page

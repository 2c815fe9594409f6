"""A corpus of bad inputs: each gets a clear error, nothing is signed, nothing is posted.

Counted: see `test_corpus_size` (the corpus below has well over 50 cases).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
import time

import onnx
import pytest
import requests
from brownie import accounts, chain

from models.manifest import write as write_manifest
from oracle import auth, keys, request_types
from oracle.store import Store
from scripts.oracle_cluster import run_cli
from scripts.oracle_testbed import OracleTestbed
from tests.oracle.integration.conftest import default_model_path

# --- A. malformed borrower addresses in a pull request -> 422 -----------------------------------
BAD_ADDRESSES = ["0x123", "notanaddress", "0x" + "zz" * 20, "0x" + "11" * 21, "11" * 19,
                 "0x" + "11" * 19 + "1", "0x" + "11" * 20 + "00", "0x%20"]

# --- C. malformed /v1/sign bodies -> 422 --------------------------------------------------------
BAD_BODIES = [
    ("not json", b"{", "application/json"),
    ("a list", b"[]", "application/json"),
    ("no attestations", b"{}", "application/json"),
    ("empty list", b'{"attestations": []}', "application/json"),
    ("string", b'{"attestations": "x"}', "application/json"),
    ("list of ints", b'{"attestations": [1]}', "application/json"),
    ("extra key", b'{"attestations": [{}], "x": 1}', "application/json"),
    ("too many", json.dumps({"attestations": [{}] * 501}).encode(), "application/json"),
    ("null", b"null", "application/json"),
    ("form data", b"attestations=1", "application/x-www-form-urlencoded"),
]

# --- D. attestations a peer must refuse (field, transform) --------------------------------------
def _hex_flip(h):
    return h[:-1] + ("0" if h[-1] != "0" else "1")


BAD_ATTESTATIONS = [
    ("pdBps+1", lambda a: a | {"pdBps": a["pdBps"] + 1}),
    ("score+1", lambda a: a | {"score": a["score"] + 1}),
    ("reasonCodes", lambda a: a | {"reasonCodes": a["reasonCodes"] ^ 1}),
    ("featuresHash", lambda a: a | {"featuresHash": _hex_flip(a["featuresHash"])}),
    ("unknown modelId", lambda a: a | {"modelId": _hex_flip(a["modelId"])}),
    ("future nonce", lambda a: a | {"nonce": a["nonce"] + 1}),
    ("old issuedAt", lambda a: a | {"issuedAt": a["issuedAt"] - 1000,
                                    "validUntil": a["validUntil"] - 1000}),
    ("future issuedAt", lambda a: a | {"issuedAt": a["issuedAt"] + 1000,
                                       "validUntil": a["validUntil"] + 1000}),
    ("long validity", lambda a: a | {"validUntil": a["validUntil"] + 1}),
    ("unknown borrower", lambda a: a | {"borrower": "0x" + "77" * 20}),
    ("malformed borrower", lambda a: a | {"borrower": "0x1234"}),
    ("pdBps string", lambda a: a | {"pdBps": "abc"}),
    ("pdBps negative", lambda a: a | {"pdBps": -1}),
    ("pdBps overflow", lambda a: a | {"pdBps": 70_000}),
    ("score float", lambda a: a | {"score": 1.5}),
    ("pdBps NaN", lambda a: a | {"pdBps": math.nan}),
    ("score inf", lambda a: a | {"score": math.inf}),
    ("missing nonce", lambda a: {k: v for k, v in a.items() if k != "nonce"}),
    ("extra field", lambda a: a | {"band": "A"}),
    ("modelId not hex", lambda a: a | {"modelId": "0x" + "zz" * 32}),
    ("featuresHash short", lambda a: a | {"featuresHash": a["featuresHash"][:-2]}),
    ("bool reasonCodes", lambda a: a | {"reasonCodes": True}),
    ("nonce as list", lambda a: a | {"nonce": [0]}),
]

# --- E. feature rows that must be rejected at import (feature, value) ---------------------------
BAD_ROWS = [
    ("DebtRatio", "nan"), ("DebtRatio", "inf"), ("DebtRatio", "-inf"), ("age", "abc"),
    ("age", "17"), ("age", "121"), ("age", "45.5"), ("DebtRatio", ""),
    ("RevolvingUtilizationOfUnsecuredLines", "-0.1"), ("NumberOfDependents", "51"),
    ("MonthlyIncome", "1e12"), ("borrower", "0xnothex"), ("salt", "0x1234"),
]

N_OTHER = 1 + 3 + 2  # unknown borrower; unapproved/revoked/tampered model; wrong passwords


def test_corpus_size():
    total = (len(BAD_ADDRESSES) + len(BAD_BODIES) + len(BAD_ATTESTATIONS) + len(BAD_ROWS)
             + N_OTHER)
    assert total >= 50, total


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = OracleTestbed(tmp_path_factory.mktemp("bad"), default_model_path(), n=2, k=2,
                      n_borrowers=2, settings={"ORACLE_DAEMON": "false"})
    c.start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def good_att(cluster):
    cluster.request_loan(cluster.borrowers[0])
    r = cluster.pull(0, cluster.borrowers[0])
    assert r.status_code == 200, r.text
    return r.json()["attestation"]


@pytest.fixture(scope="module")
def node0_key(cluster):
    return keys.load_keystore(cluster.nodes[0].keystore, cluster.cluster._password)


def peer_post(cluster, signer, body: bytes, ctype: str = "application/json", node: int = 1):
    """POST `body` to node `node`'s /v1/sign, signed as a peer by `signer` (oracle.auth)."""
    sep = request_types.domain_separator(chain.id, cluster.system.score_registry.address)
    headers = {"content-type": ctype, **auth.peer_headers(signer, sep, body, int(time.time()))}
    return requests.post(cluster.nodes[node].peer_url + "/v1/sign", data=body, headers=headers,
                         timeout=10)


def _peer_signatures(node) -> float:
    text = requests.get(node.admin_url + "/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith('oracle_signatures_total{role="peer"}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_malformed_address_is_422(cluster, address):
    b = cluster.borrowers[0]
    body = {"request": {"borrower": address, "requester": b.address, "requestId": "0x" + "11" * 32,
                        "expiresAt": int(time.time()) + 60}, "signature": "0x" + "00" * 65}
    r = requests.post(f"{cluster.nodes[0].url}/v1/score", json=body, timeout=10)
    assert r.status_code == 422 and "signatures" not in r.text
    assert "not an address" in r.json()["error"]


def test_unknown_borrower_is_404(cluster):
    stranger = cluster.new_borrower()  # KYC'd, with a loan request, but no features stored
    cluster.request_loan(stranger)
    r = cluster.pull(0, stranger)
    assert r.status_code == 404 and "no features stored" in r.json()["error"]


@pytest.mark.parametrize("name,body,ctype", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_malformed_sign_body_is_422(cluster, node0_key, name, body, ctype):
    before = _peer_signatures(cluster.nodes[1])
    r = peer_post(cluster, node0_key, body, ctype)
    assert r.status_code == 422, (name, r.text)
    assert r.json()["error"] == "invalid request" and r.json()["details"]
    assert _peer_signatures(cluster.nodes[1]) == before


@pytest.mark.parametrize("name,mutate", BAD_ATTESTATIONS, ids=[b[0] for b in BAD_ATTESTATIONS])
def test_peer_refuses_a_wrong_attestation(cluster, good_att, node0_key, name, mutate):
    before = _peer_signatures(cluster.nodes[1])
    bad = mutate(dict(good_att))
    body = json.dumps({"attestations": [bad]}, allow_nan=True).encode()
    r = peer_post(cluster, node0_key, body)
    if r.status_code == 422:  # NaN/inf are not JSON: rejected as a body
        assert "invalid request" in r.text
    else:
        assert r.status_code == 200
        (res,) = r.json()["results"]
        assert "signature" not in res and res["error"], res
    assert _peer_signatures(cluster.nodes[1]) == before


def test_the_unmutated_attestation_is_signed(cluster, good_att, node0_key):
    """Control: the corpus above fails for the mutation, not for the base attestation."""
    r = peer_post(cluster, node0_key, json.dumps({"attestations": [good_att]}).encode())
    assert "signature" in r.json()["results"][0]


@pytest.mark.parametrize("feature,value", BAD_ROWS, ids=[f"{f}={v}" for f, v in BAD_ROWS])
def test_bad_feature_row_is_rejected_and_not_stored(cluster, tmp_path, feature, value):
    schema = cluster.model.schema
    good = cluster.rows[cluster.borrowers[0].address]
    borrower = "0x" + "5a" * 20
    row = {"borrower": borrower, "salt": "0x" + "01" * 32, **good, feature: value}
    path = tmp_path / "bad.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        w.writeheader()
        w.writerow(row)
    store = Store.open(tmp_path / "s.db")
    report = store.import_csv(schema, path)
    assert report.imported == 0 and len(report.errors) == 1
    line, msg = report.errors[0]
    assert line == 2 and (feature in msg or "borrower" in msg or "salt" in msg), msg
    assert store.borrowers() == []


def test_cli_import_reports_bad_rows_with_line_numbers(cluster, tmp_path):
    good = cluster.rows[cluster.borrowers[0].address]
    path = tmp_path / "mixed.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["borrower", "salt", *good])
        w.writeheader()
        w.writerow({"borrower": "0x" + "5b" * 20, "salt": "", **good})
        w.writerow({"borrower": "0x" + "5c" * 20, "salt": "", **good, "age": "200"})
    env = dict(cluster.nodes[0].env, ORACLE_STORE_PATH=str(tmp_path / "cli.db"))
    r = run_cli(["features", "import", str(path)], env)
    assert r.returncode == 2
    assert json.loads(r.stdout)["imported"] == 1
    err = json.loads(r.stderr.strip().splitlines()[-1])
    assert err["line"] == 3 and "age" in err["error"]


def _unapproved_bundle(tmp_path):
    """A valid bundle whose ONNX bytes (so model id) differ from the approved one."""
    src = default_model_path()
    dst = tmp_path / "bundle"
    shutil.copytree(src, dst)
    ref = json.loads((dst / "reference.json").read_text())
    m = onnx.load(dst / ref["onnx_file"])
    p = m.metadata_props.add()
    p.key, p.value = "scorechain.note", "retrained elsewhere"
    data = m.SerializeToString()
    (dst / ref["onnx_file"]).write_bytes(data)
    ref["model_sha256"] = hashlib.sha256(data).hexdigest()
    (dst / "reference.json").write_text(json.dumps(ref))
    write_manifest(dst)
    return dst


def test_unapproved_model_signs_nothing(cluster, tmp_path):
    env = dict(cluster.nodes[0].env, ORACLE_MODEL_PATH=str(_unapproved_bundle(tmp_path)))
    r = run_cli(["score", cluster.borrowers[0].address], env)
    assert r.returncode == 2 and "not approved" in r.stderr and "signatures" not in r.stdout


def test_tampered_model_file_is_refused(cluster, tmp_path):
    dst = tmp_path / "tampered"
    shutil.copytree(default_model_path(), dst)
    ref = json.loads((dst / "reference.json").read_text())
    data = bytearray((dst / ref["onnx_file"]).read_bytes())
    data[len(data) // 2] ^= 0x01
    (dst / ref["onnx_file"]).write_bytes(bytes(data))
    env = dict(cluster.nodes[0].env, ORACLE_MODEL_PATH=str(dst))
    r = run_cli(["score", cluster.borrowers[0].address], env)
    assert r.returncode == 2 and "cannot load model bundle" in r.stderr


def test_edited_reference_values_are_refused_by_the_node(cluster, tmp_path):
    """The model id is the bundle manifest's hash: reference values (which move reason codes)
    edited after registration make the node refuse the bundle, naming the file."""
    dst = tmp_path / "edited"
    shutil.copytree(default_model_path(), dst)
    ref = json.loads((dst / "reference.json").read_text())
    ref["reference_values"][0] = 0.9
    (dst / "reference.json").write_text(json.dumps(ref, indent=1))
    env = dict(cluster.nodes[0].env, ORACLE_MODEL_PATH=str(dst))
    r = run_cli(["score", cluster.borrowers[0].address], env)
    assert r.returncode == 2 and "reference.json differs from the bundle manifest" in r.stderr
    assert "signatures" not in r.stdout


@pytest.mark.parametrize("command", [["keys", "show"], ["score", "0x" + "11" * 20]])
def test_wrong_keystore_password_is_a_clear_error(cluster, command):
    password = cluster.nodes[0].env["ORACLE_KEYSTORE_PASSWORD"]  # generated per cluster
    env = dict(cluster.nodes[0].env, ORACLE_KEYSTORE_PASSWORD=password + "x")
    r = run_cli(command, env)
    assert r.returncode == 2 and "wrong password" in r.stderr
    assert password not in r.stderr + r.stdout


def test_revoked_model_stops_signing_and_nothing_was_posted(cluster, good_att, node0_key):
    mr = cluster.system.model_registry
    cluster.request_loan(cluster.borrowers[1])
    mr.revoke(cluster.model.model_id, 3, {"from": accounts[2]})
    time.sleep(1.5)  # ORACLE_MODEL_CHECK_TTL_S=1 in the test cluster
    r = cluster.pull(0, cluster.borrowers[1])
    assert r.status_code == 409 and "not approved" in r.json()["error"]
    r = peer_post(cluster, node0_key, json.dumps({"attestations": [good_att]}).encode())
    assert "signature" not in r.json()["results"][0]
    assert cluster.recorded() == []  # nothing was ever posted

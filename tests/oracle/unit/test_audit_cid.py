"""The content ids `oracle verify --disclosure` checks (oracle.audit with oracle.content_id and
oracle.batch_doc): the bundle directory's CID against the model's registered URI, the batch public
document's against the batch URI; URIs from before content ids are "no CID recorded", not errors."""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from oracle import batch_doc, content_id
from oracle.audit import audit
from oracle.merkle import MerkleTree
from oracle.scoring import load_model
from scripts.scorechain_testkit import audit_case
from tests.oracle.unit.conftest import GOOD_ROW

BUNDLE = Path(__file__).resolve().parents[3] / "models" / "default"


@pytest.fixture(scope="module")
def model():
    return load_model(BUNDLE)


@pytest.fixture(scope="module")
def case(model):
    return audit_case(model, GOOD_ROW, documents=True)


def _failed(report):
    return {k for k, v in report["checks"].items() if v != "pass"}


def _with_model_uri(ev, uri):
    return dataclasses.replace(ev, model_record=ev.model_record[:-1] + (uri,))


def test_registered_cids_that_match_the_bundle_and_batch_document_pass(model, case):
    d, ev, card, docs = case
    assert ev.model_record[-1] == "ipfs://" + docs["bundle_cid"]
    assert docs["bundle_cid"].startswith("bafy")
    r = audit(ev, d, model, card, **docs)
    assert r["ok"] and not _failed(r), r["checks"]
    assert r["info"]["model_cid"] == docs["bundle_cid"]
    assert r["info"]["batch_cid"] == content_id.bytes_cid(docs["batch_document"])


@pytest.mark.parametrize("name", sorted(p.name for p in BUNDLE.iterdir()))
def test_a_changed_byte_in_any_bundle_file_fails_the_model_registry_check(model, case, tmp_path,
                                                                         name):
    d, ev, card, docs = case
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE, copy)
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0x20
    (copy / name).write_bytes(bytes(data))
    r = audit(ev, d, model, card, **{**docs, "bundle_cid": content_id.path_cid(copy)})
    assert not r["ok"] and _failed(r) == {"model_registry"}, r["checks"]
    assert "differs from the recorded ipfs://" in r["checks"]["model_registry"]


def test_an_old_uri_without_a_cid_is_reported_not_failed(model, case):
    d, ev, card, docs = case
    old = dataclasses.replace(_with_model_uri(ev, "scorechain://models/gmsc/v1/manifest.json"),
                              anchor_uri="file:///data/features.csv")
    r = audit(old, d, model, card, **docs)
    assert r["ok"], r["checks"]
    assert r["info"]["model_cid"] == r["info"]["batch_cid"] == "no CID recorded"
    # evidence read before batch URIs were gathered: nothing to report
    r = audit(dataclasses.replace(old, anchor_uri=None), d, model, card)
    assert r["ok"] and r["info"]["batch_cid"] is None


def test_a_malformed_ipfs_uri_fails_its_check(model, case):
    d, ev, card, docs = case
    r = audit(_with_model_uri(ev, "ipfs://model-v1"), d, model, card, **docs)
    assert _failed(r) == {"model_registry"} and "malformed" in r["checks"]["model_registry"]
    r = audit(dataclasses.replace(ev, anchor_uri="ipfs://batch-1"), d, model, card, **docs)
    assert _failed(r) == {"anchored_batch"} and "malformed" in r["checks"]["anchored_batch"]


def test_a_recorded_cid_without_the_artefact_is_reported_unchecked(model, case):
    d, ev, card, docs = case
    r = audit(ev, d, model, card)
    assert r["ok"], r["checks"]
    assert "not checked" in r["info"]["model_cid"] and "not checked" in r["info"]["batch_cid"]


def test_an_edited_batch_document_fails_the_anchored_batch_check(model, case):
    d, ev, card, docs = case
    doc = json.loads(docs["batch_document"])
    # one leaf dropped and the root restated to match: a well-formed document of another batch
    leaves = [bytes.fromhex(h[2:]) for h in doc["leaves"][1:]]
    other = batch_doc.build(MerkleTree.build(leaves))
    r = audit(ev, d, model, card, **{**docs, "batch_document": other})
    assert _failed(r) == {"anchored_batch"}
    assert "batch document: CID" in r["checks"]["anchored_batch"]
    assert "is not batch 1's" in r["checks"]["anchored_batch"]
    # the same bytes the anchor URI names, but not a document: refused, not a crash
    junk = b"not json"
    junk_ev = dataclasses.replace(ev, anchor_uri="ipfs://" + content_id.bytes_cid(junk))
    r = audit(junk_ev, d, model, card, **{**docs, "batch_document": junk})
    assert _failed(r) == {"anchored_batch"} and "not an anchored-batch document" in \
        r["checks"]["anchored_batch"]

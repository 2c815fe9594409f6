"""Rolling a running node over to a new model version (SIGHUP -> oracle.app.reload_model): the new
bundle is served only once ModelRegistry approves it and the stored features follow its schema;
anything else — including a registry that cannot be reached — keeps the old model and never
raises (an exception there would end `oracle serve`)."""

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import logging

import onnx
import pytest
import requests

from models.manifest import write as write_manifest
from models.schema import schema_hash
from oracle import attest, keys
from oracle.app import reload_model
from oracle.node import OracleNode
from oracle.scoring import ModelGuard, load_model
from oracle.store import Store
from tests.oracle.unit.conftest import GOOD_ROW

BORROWER = "0x" + "5a" * 20

DEFAULT = Path(__file__).resolve().parents[3] / "models" / "default"


def _bundle_copy(dst: Path, version: str | None = None, age_max: int | None = None) -> Path:
    """A copy of the default bundle; with `version`, its ONNX metadata differs, so its model id
    does; with `age_max`, so does its feature schema (schema file, ONNX metadata, reference)."""
    shutil.copytree(DEFAULT, dst)
    if version is not None or age_max is not None:
        ref = json.loads((dst / "reference.json").read_text())
        model = onnx.load(dst / ref["onnx_file"])
        if age_max is not None:
            schema = json.loads((dst / ref["schema_file"]).read_text())
            next(f for f in schema["features"] if f["name"] == "age")["max"] = age_max
            (dst / ref["schema_file"]).write_text(json.dumps(schema, indent=1))
            ref["feature_schema_sha256"] = schema_hash(schema)
        for prop in model.metadata_props:
            if prop.key.endswith("model_version") and version is not None:
                prop.value = version
            if prop.key.endswith("feature_schema_sha256") and age_max is not None:
                prop.value = ref["feature_schema_sha256"]
        onnx.save(model, dst / ref["onnx_file"])
        ref["model_sha256"] = hashlib.sha256((dst / ref["onnx_file"]).read_bytes()).hexdigest()
        (dst / "reference.json").write_text(json.dumps(ref))
        write_manifest(dst)  # a new bundle, so a new model id
    return dst


def _point(link: Path, target: Path) -> None:
    if link.is_symlink():
        link.unlink()
    link.symlink_to(target, target_is_directory=True)


@pytest.fixture
def node_ctx(tmp_path):
    v1 = _bundle_copy(tmp_path / "v1")
    v2 = _bundle_copy(tmp_path / "v2", version="2-test")
    link = tmp_path / "current"
    _point(link, v1)
    approved = set()
    registry = SimpleNamespace(down=False)

    def is_approved(model_id: bytes) -> bool:
        if registry.down:  # what web3 raises with the RPC gone; the URL carries a provider key
            raise requests.ConnectionError("HTTPSConnectionPool(host='rpc.example', port=443): "
                                           "Max retries exceeded with url: /v3/SECRETKEY123")
        return model_id in approved

    model = load_model(link)
    approved.add(model.model_id)
    store = Store.open(tmp_path / "store.db")
    store.put_features(model.schema, BORROWER, GOOD_ROW)
    node = OracleNode(signer=keys.Signer(b"\x07" * 32), store=store, model=model,
                      guard=ModelGuard(is_approved, ttl_s=3600),
                      chain=SimpleNamespace(signer_config=lambda: ([], 1, b"\x00\x01" + bytes(30))),
                      policy=attest.Policy(validity_s=86400, clock_tolerance_s=120))
    ctx = SimpleNamespace(settings=SimpleNamespace(model_path=link), model=model, node=node)
    yield SimpleNamespace(ctx=ctx, link=link, v1=v1, v2=v2, approved=approved, store=store,
                          registry=registry, tmp=tmp_path)
    node.close()
    store.close()


def test_unapproved_new_model_is_refused_and_the_old_one_kept(node_ctx):
    before = node_ctx.ctx.node.model.model_id
    _point(node_ctx.link, node_ctx.v2)
    assert reload_model(node_ctx.ctx) is False
    assert node_ctx.ctx.node.model.model_id == before == node_ctx.ctx.model.model_id


def test_approved_new_model_is_swapped_in_even_after_an_earlier_refusal(node_ctx):
    _point(node_ctx.link, node_ctx.v2)
    assert reload_model(node_ctx.ctx) is False  # refused, and the refusal was cached
    v2 = load_model(node_ctx.v2)
    node_ctx.approved.add(v2.model_id)  # now approved on chain
    assert reload_model(node_ctx.ctx) is True
    assert node_ctx.ctx.node.model.model_id == v2.model_id == node_ctx.ctx.model.model_id
    assert v2.model_id != load_model(node_ctx.v1).model_id


def test_unloadable_bundle_is_refused(node_ctx, tmp_path):
    broken = _bundle_copy(tmp_path / "broken")
    ref = json.loads((broken / "reference.json").read_text())
    (broken / ref["onnx_file"]).write_bytes(b"not an onnx model")
    before = node_ctx.ctx.node.model.model_id
    _point(node_ctx.link, broken)
    assert reload_model(node_ctx.ctx) is False
    assert node_ctx.ctx.node.model.model_id == before


def test_reloading_the_same_model_is_a_no_op(node_ctx):
    before = node_ctx.ctx.node.model
    assert reload_model(node_ctx.ctx) is True
    assert node_ctx.ctx.node.model is before


def test_an_unreachable_registry_keeps_the_old_model_and_leaks_no_rpc_url(node_ctx, caplog):
    v2 = load_model(node_ctx.v2)
    node_ctx.approved.add(v2.model_id)  # approved, but the node cannot ask
    node_ctx.registry.down = True
    before = node_ctx.ctx.node.model.model_id
    _point(node_ctx.link, node_ctx.v2)
    with caplog.at_level(logging.INFO, logger="oracle"):
        assert reload_model(node_ctx.ctx) is False  # returns: the serve loop goes on
    assert node_ctx.ctx.node.model.model_id == before == node_ctx.ctx.model.model_id
    refused = [r for r in caplog.records if r.getMessage().startswith("model reload refused")]
    assert refused and "ConnectionError" in refused[-1].error
    assert not any("SECRETKEY123" in str(vars(r)) for r in caplog.records)
    node_ctx.registry.down = False  # the RPC is back: the same SIGHUP now rolls over
    assert reload_model(node_ctx.ctx) is True and node_ctx.ctx.model.model_id == v2.model_id


def test_a_dangling_model_path_is_refused(node_ctx):
    before = node_ctx.ctx.node.model.model_id
    _point(node_ctx.link, node_ctx.tmp / "gone")
    assert reload_model(node_ctx.ctx) is False
    assert node_ctx.ctx.node.model.model_id == before


def test_a_model_with_another_schema_is_refused_until_the_features_follow_it(node_ctx):
    v3 = load_model(_bundle_copy(node_ctx.tmp / "v3", version="3-test", age_max=110))
    assert v3.schema_hash != node_ctx.ctx.model.schema_hash
    node_ctx.approved.add(v3.model_id)
    before = node_ctx.ctx.node.model.model_id
    _point(node_ctx.link, v3.path)
    assert reload_model(node_ctx.ctx) is False  # approved, but the stored features are v1's
    assert node_ctx.ctx.node.model.model_id == before
    node_ctx.store.put_features(v3.schema, BORROWER, GOOD_ROW)  # features re-imported for v3
    assert reload_model(node_ctx.ctx) is True
    assert node_ctx.ctx.node.model.model_id == v3.model_id
    assert node_ctx.ctx.node.compute(BORROWER, nonce=0, now=1_000)[0].modelId == v3.model_id

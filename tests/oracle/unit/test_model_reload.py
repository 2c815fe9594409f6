"""Rolling a running node over to a new model version (SIGHUP -> oracle.app.reload_model): the new
bundle is served only once ModelRegistry approves it; anything else keeps the old model."""

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import onnx
import pytest

from models.manifest import write as write_manifest
from oracle import attest, keys
from oracle.app import reload_model
from oracle.node import OracleNode
from oracle.scoring import ModelGuard, load_model

DEFAULT = Path(__file__).resolve().parents[3] / "models" / "default"


def _bundle_copy(dst: Path, version: str | None = None) -> Path:
    """A copy of the default bundle; with `version`, its ONNX metadata differs, so its model id does."""
    shutil.copytree(DEFAULT, dst)
    if version is not None:
        ref = json.loads((dst / "reference.json").read_text())
        model = onnx.load(dst / ref["onnx_file"])
        for prop in model.metadata_props:
            if prop.key.endswith("model_version"):
                prop.value = version
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
    model = load_model(link)
    approved.add(model.model_id)
    node = OracleNode(signer=keys.Signer(b"\x07" * 32), store=None, model=model,
                      guard=ModelGuard(lambda mid: mid in approved, ttl_s=3600), chain=None,
                      policy=attest.Policy(validity_s=86400, clock_tolerance_s=120))
    ctx = SimpleNamespace(settings=SimpleNamespace(model_path=link), model=model, node=node)
    yield SimpleNamespace(ctx=ctx, link=link, v1=v1, v2=v2, approved=approved)
    node.close()


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

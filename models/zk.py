"""Zero-knowledge proof of a linear model's score with EZKL (issue 16): the circuit proves that
the bundle's own linear layer, applied to a feature vector whose Poseidon commitment is public,
gives a public logit; no feature is revealed.

A bundle is zk-provable when its ONNX graph ends in one binary ``LinearClassifier`` with a
logistic output (a logistic model, the federated one included). It splits there:

* the **features graph**: the bundle's graph up to the classifier's input, i.e. the model's
  preprocessing (imputation, clipping, logs, one-hot, standardisation: ``IsNaN`` and friends,
  which EZKL does not take) giving the vector ``z``. Whoever attests the commitment (the data
  provider or the oracle quorum, who hold the borrower's features) runs it;
* the **circuit**: ``logit = z · w + b``, built from the classifier's coefficients in standard
  ops (MatMul, Add), with ``z`` as a hashed input (instance 0 is the Poseidon hash of the
  quantised ``z``: the features commitment) and the logit as a public output. The PD is
  ``sigmoid(logit)``, applied outside the circuit: the Sigmoid's lookup table is what would
  make the proving key large (191 MB against 5 MB measured, reports/zk_feasibility.md).

``setup`` writes the circuit artefacts beside each other (circuit.onnx, settings.json, the
compiled circuit, vk.key, pk.key, zk.json); the verifying key's SHA-256 is the circuit's identity
(the compiled file is not byte-stable). The proving key is large and regenerated, never committed.
A locally generated SRS (``ezkl.gen_srs``) is random and fit for tests only: production needs a
public ceremony's parameters (``--srs``).

``python -m models zk setup BUNDLE`` / ``prove DIR --features F.json`` / ``verify DIR --proof P
--commitment C`` run these from the command line. Several EZKL calls are coroutines in 23.x: :func:`_call` awaits whatever they return inside a
running event loop.
"""
from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

# Calibrated once per model: 2^12 fixed point for z and weights keeps the logit error near 1e-4,
# and the circuit small (2^9 rows for a dozen features, measured).
INPUT_SCALE = 16
MAX_LOGROWS = 14
CALIBRATION_ROWS = 2000
ZK_VERSION = 1


class NotProvable(ValueError):
    """The bundle's graph has no single binary logistic LinearClassifier to prove."""


def _call(fn):
    async def run():
        r = fn()
        return await r if inspect.isawaitable(r) else r
    return asyncio.run(run())


@dataclass(frozen=True)
class LinearPart:
    z_name: str  # the classifier's input in the bundle graph
    w: np.ndarray
    b: float


def linear_part(model: onnx.ModelProto) -> LinearPart:
    nodes = [n for n in model.graph.node if n.op_type == "LinearClassifier"]
    if len(nodes) != 1:
        raise NotProvable(f"the graph has {len(nodes)} LinearClassifier nodes, not one")
    node = nodes[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    post = attrs.get("post_transform", b"NONE")
    if post != b"LOGISTIC" or list(attrs.get("classlabels_ints", [])) != [0, 1]:
        raise NotProvable(f"the classifier is not a binary logistic one (post_transform {post!r})")
    coef = np.asarray(attrs["coefficients"], dtype=np.float64).reshape(2, -1)
    intercepts = np.asarray(attrs["intercepts"], dtype=np.float64)
    # binary scikit-learn exports class 0 as the negation of class 1
    if not (np.allclose(coef[0], -coef[1]) and math.isclose(intercepts[0], -intercepts[1])):
        raise NotProvable("the classifier's two rows are not one logistic model")
    # what the bundle serves is that classifier's probabilities, untouched
    uses = [n for n in model.graph.node if set(node.output) & set(n.input)]
    if uses or "probabilities" not in node.output:
        raise NotProvable("the classifier's output is transformed further (a calibrator?)")
    return LinearPart(z_name=node.input[0], w=coef[1], b=float(intercepts[1]))


def features_graph(model: onnx.ModelProto, part: LinearPart) -> onnx.ModelProto:
    """The bundle's graph with ``z`` as its only output (the classifier left out)."""
    g = onnx.ModelProto()
    g.CopyFrom(model)
    keep = [n for n in g.graph.node if n.op_type != "LinearClassifier"]
    del g.graph.node[:]
    g.graph.node.extend(keep)
    del g.graph.output[:]
    g.graph.output.append(helper.make_tensor_value_info(part.z_name, TensorProto.FLOAT,
                                                        [None, len(part.w)]))
    return g


def circuit_graph(part: LinearPart) -> onnx.ModelProto:
    """logit = z · w + b for one row, in the ops EZKL proves."""
    d = len(part.w)
    w = helper.make_tensor("w", TensorProto.FLOAT, [d, 1], part.w.astype(np.float32).tolist())
    b = helper.make_tensor("b", TensorProto.FLOAT, [1, 1], [float(part.b)])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["z", "w"], ["zw"]),
         helper.make_node("Add", ["zw", "b"], ["logit"])],
        "scorechain_logit", [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, d])],
        [helper.make_tensor_value_info("logit", TensorProto.FLOAT, [1, 1])], [w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                             ir_version=8)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def bundle_onnx(bundle_dir: Path) -> onnx.ModelProto:
    ref = json.loads((Path(bundle_dir) / "reference.json").read_text())
    return onnx.load(str(Path(bundle_dir) / ref["onnx_file"]))


def features_z(bundle_dir: Path, X: np.ndarray) -> np.ndarray:
    """``z`` for rows of raw features, as the bundle's own graph computes it."""
    import onnxruntime as ort
    model = bundle_onnx(bundle_dir)
    g = features_graph(model, linear_part(model))
    sess = ort.InferenceSession(g.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"features": np.asarray(X, dtype=np.float32)})[0]


def _calibration_rows(z: np.ndarray) -> np.ndarray:
    """Up to CALIBRATION_ROWS evenly spaced rows, plus each input's smallest and largest: what
    EZKL calibrates on must span the range a witness can reach (the time grows with the rows:
    8 min for GMSC's 120,000 training rows)."""
    if len(z) <= CALIBRATION_ROWS:
        return z
    pick = np.unique(np.concatenate([np.linspace(0, len(z) - 1, CALIBRATION_ROWS).astype(int),
                                     z.argmin(axis=0), z.argmax(axis=0)]))
    return z[pick]


def setup(bundle_dir: Path, out: Path, calibration_X: np.ndarray, srs: Path | None = None) -> dict:
    """Circuit artefacts for the bundle in ``out``. ``calibration_X``: raw rows spanning the
    features' range (a witness outside the calibrated range does not prove). ``srs``: the
    ceremony's parameters; without it a local, test-only SRS is generated."""
    import ezkl
    bundle_dir, out = Path(bundle_dir), Path(out)
    t0 = time.time()
    model = bundle_onnx(bundle_dir)
    part = linear_part(model)  # refuses before anything is written
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(circuit_graph(part), str(out / "circuit.onnx"))
    z = _calibration_rows(features_z(bundle_dir, calibration_X))
    (out / "calibration.json").write_text(json.dumps({"input_data": [z.reshape(-1).tolist()]}))
    ra = ezkl.PyRunArgs()
    ra.input_visibility, ra.param_visibility, ra.output_visibility = "hashed", "fixed", "public"
    ra.input_scale = ra.param_scale = INPUT_SCALE
    # a 256-row range-check table in four legs instead of EZKL's 16,384 x 2: the table, not the
    # model, sizes this circuit (2^9 rows and a 5 MB proving key against 2^14 and 170 MB)
    ra.decomp_base, ra.decomp_legs = 256, 4
    _call(lambda: ezkl.gen_settings(str(out / "circuit.onnx"), str(out / "settings.json"),
                                    py_run_args=ra))
    _call(lambda: ezkl.calibrate_settings(str(out / "calibration.json"), str(out / "circuit.onnx"),
                                          str(out / "settings.json"), "resources",
                                          scales=[INPUT_SCALE], max_logrows=MAX_LOGROWS))
    (out / "calibration.json").unlink()  # rows of the bundle's data: not an artefact
    settings = json.loads((out / "settings.json").read_text())
    logrows = settings["run_args"]["logrows"]
    _call(lambda: ezkl.compile_circuit(str(out / "circuit.onnx"), str(out / "circuit.ezkl"),
                                       str(out / "settings.json")))
    local_srs = srs is None
    if local_srs:
        srs = out / f"kzg{logrows}.local.srs"
        _call(lambda: ezkl.gen_srs(str(srs), logrows))
    _call(lambda: ezkl.setup(str(out / "circuit.ezkl"), str(out / "vk.key"), str(out / "pk.key"),
                             srs_path=str(srs)))
    manifest = bundle_dir / "manifest.json"
    info = {"zk_version": ZK_VERSION, "bundle": str(bundle_dir),
            "bundle_id": _sha256(manifest) if manifest.exists() else None,
            "features": len(part.w), "input_scale": settings["model_input_scales"][0],
            "output_scale": settings["model_output_scales"][0], "logrows": logrows,
            "vk_sha256": _sha256(out / "vk.key"), "circuit_onnx_sha256": _sha256(out / "circuit.onnx"),
            "srs": str(srs), "srs_local_test_only": local_srs,
            "sizes": {f: (out / f).stat().st_size for f in ("vk.key", "pk.key", "circuit.ezkl")},
            "setup_seconds": round(time.time() - t0, 2)}
    (out / "zk.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def commitment(z_row: np.ndarray, input_scale: int) -> str:
    """The features commitment the circuit exposes as instance 0: Poseidon over the quantised
    ``z`` (EZKL's field element encoding, little-endian hex)."""
    import ezkl
    felts = [ezkl.float_to_felt(float(v), input_scale, ezkl.PyInputType.F32)
             for v in np.asarray(z_row, dtype=np.float32).reshape(-1)]
    return ezkl.poseidon_hash(felts)[0]


def prove(zk_dir: Path, z_row: np.ndarray, out: Path) -> dict:
    """A proof that the circuit maps the committed ``z_row`` to its logit; returns the public
    values (commitment, logit, PD) and the timing."""
    import ezkl
    zk_dir, out = Path(zk_dir), Path(out)
    info = json.loads((zk_dir / "zk.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    (out / "input.json").write_text(json.dumps(
        {"input_data": [np.asarray(z_row, dtype=np.float32).reshape(-1).tolist()]}))
    t0 = time.time()
    _call(lambda: ezkl.gen_witness(str(out / "input.json"), str(zk_dir / "circuit.ezkl"),
                                   str(out / "witness.json")))
    _call(lambda: ezkl.prove(str(out / "witness.json"), str(zk_dir / "circuit.ezkl"),
                             str(zk_dir / "pk.key"), str(out / "proof.json"),
                             srs_path=info["srs"]))
    seconds = time.time() - t0
    (out / "input.json").unlink()  # the features stay with the prover
    (out / "witness.json").unlink()
    return {**public_values(out / "proof.json", info), "prove_seconds": round(seconds, 3),
            "proof_bytes": len(bytes.fromhex(json.loads((out / "proof.json").read_text())[
                "hex_proof"].removeprefix("0x")))}


def public_values(proof_path: Path, info: dict) -> dict:
    import ezkl
    inst = json.loads(Path(proof_path).read_text())["instances"][0]
    logit = ezkl.felt_to_float(inst[-1], info["output_scale"])
    return {"commitment": inst[0], "logit": logit, "pd": 1.0 / (1.0 + math.exp(-logit))}


def verify(zk_dir: Path, proof_path: Path) -> bool:
    import ezkl
    zk_dir = Path(zk_dir)
    info = json.loads((zk_dir / "zk.json").read_text())
    try:
        return bool(_call(lambda: ezkl.verify(str(proof_path), str(zk_dir / "settings.json"),
                                              str(zk_dir / "vk.key"), srs_path=info["srs"])))
    except Exception:  # EZKL raises on a malformed or false proof
        return False


def circuit_logits(zk_dir: Path, Z: np.ndarray) -> np.ndarray:
    """The circuit's logit for each row of ``Z`` (witness only, no proof): its fixed-point
    arithmetic, to compare with the bundle's."""
    import ezkl
    zk_dir = Path(zk_dir)
    info = json.loads((zk_dir / "zk.json").read_text())
    tmp, wit = zk_dir / "parity_input.json", zk_dir / "parity_witness.json"
    out = []
    try:
        for z in np.asarray(Z, dtype=np.float32):
            tmp.write_text(json.dumps({"input_data": [z.tolist()]}))
            # with no output path EZKL writes witness.json into the working directory
            w = _call(lambda: ezkl.gen_witness(str(tmp), str(zk_dir / "circuit.ezkl"), str(wit)))
            out.append(ezkl.felt_to_float(w["outputs"][0][0], info["output_scale"]))
    finally:
        tmp.unlink(missing_ok=True)
        wit.unlink(missing_ok=True)
    return np.asarray(out)

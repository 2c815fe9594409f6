"""The circuit of a linear model's score with EZKL (issue 16): the split of a bundle at its
classifier, set-up, proof, verification and the circuit's own logits. See models/zk/__init__.py."""
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

from .fixed_point import FIELD, circuit_logit, felt_from_hex, pd_bps_from_logit, quantise

# Calibrated once per model: 2^12 fixed point for z and weights keeps the logit error near 1e-4,
# and the circuit small (2^9 rows for a dozen features, measured).
INPUT_SCALE = 16
MAX_LOGROWS = 14
CALIBRATION_ROWS = 2000
ZK_VERSION = 3
# Blinding inputs hashed with z and given zero weight: without them the public commitment of a
# borrower's standardised features could be confirmed by guessing their values. Each is an integer
# below 2^23 in magnitude at the input scale (exact in float32, which EZKL's inputs pass through):
# 6 of them carry 144 bits, derived from the borrower's 32-byte feature-store salt.
BLINDING = 6
_BLIND_BITS = 24
# The borrower and the loan as public inputs: keccak256(abi.encode(borrower, nonce)) (the nonce
# the registry gave the loan's request) in 6 chunks of 22 bits, hashed with z and also output as
# they are, so they are public values the registry recomputes (132 bits: a proof made for one
# loan matches another's with probability 2^-132). Zero weight: they do not touch the logit.
LOAN_CHUNKS = 6
_LOAN_BITS = 22


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
    # What the bundle serves must be that classifier's probability: untouched, or only
    # repackaged (the scorecard's export takes column 1, clips it to [0, 1] and rebuilds
    # [1 - p, p]); setup checks the PDs numerically too, so a tail that changed them is refused.
    tail = _downstream(model, node)
    if any(n.op_type not in _REPACKAGING for n in tail):
        raise NotProvable("the classifier's output is transformed further (a calibrator?): "
                          + ", ".join(sorted({n.op_type for n in tail} - _REPACKAGING)))
    if not tail and "probabilities" not in node.output:
        raise NotProvable("the graph's probabilities are not the classifier's")
    return LinearPart(z_name=node.input[0], w=coef[1], b=float(intercepts[1]))


_REPACKAGING = {"Gather", "Clip", "Sub", "Concat", "ArgMax", "Cast", "Identity"}


def _downstream(model: onnx.ModelProto, node) -> list:
    """The nodes that read the classifier's outputs, directly or through each other."""
    names, out = set(node.output), []
    for n in model.graph.node:  # ONNX graphs are topologically sorted
        if names & set(n.input):
            out.append(n)
            names |= set(n.output)
    return out


def _check_served_pd(bundle_dir: Path, part: LinearPart, X: np.ndarray, z: np.ndarray) -> None:
    """The bundle's PD on ``X`` must be sigmoid(z · w + b): what the circuit and the registry
    compute. Refuses a bundle whose graph changes the classifier's probability after it."""
    import onnxruntime as ort
    sess = ort.InferenceSession(bundle_onnx(bundle_dir).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    probabilities = sess.run(["probabilities"], {"features": np.asarray(X, dtype=np.float32)})[0]
    served = np.asarray(probabilities, dtype=np.float64)[:, 1]
    own = 1.0 / (1.0 + np.exp(-(z.astype(np.float64) @ part.w + part.b)))
    gap = float(np.abs(served - own).max())
    if gap > 1e-5:
        raise NotProvable(f"the bundle's PD is not its classifier's (max difference {gap:.2e})")


def features_graph(model: onnx.ModelProto, part: LinearPart) -> onnx.ModelProto:
    """The bundle's graph with ``z`` as its only output (the classifier and what repackages its
    output left out)."""
    g = onnx.ModelProto()
    g.CopyFrom(model)
    node = next(n for n in g.graph.node if n.op_type == "LinearClassifier")
    # by output names: protobuf hands out a new wrapper per access, so identities do not hold
    drop = {tuple(n.output) for n in _downstream(g, node)} | {tuple(node.output)}
    keep = [n for n in g.graph.node if tuple(n.output) not in drop]
    del g.graph.node[:]
    g.graph.node.extend(keep)
    used = {i for n in keep for i in n.input}
    inits = [t for t in g.graph.initializer if t.name in used]  # the tail's constants go too
    del g.graph.initializer[:]
    g.graph.initializer.extend(inits)
    del g.graph.output[:]
    g.graph.output.append(helper.make_tensor_value_info(part.z_name, TensorProto.FLOAT,
                                                        [None, len(part.w)]))
    return g


def circuit_graph(part: LinearPart) -> onnx.ModelProto:
    """logit = [z, blinding, loan] · [w, 0, 0] + b for one row, and the loan inputs as they are
    (a second output), in the ops EZKL proves. Public values: [commitment, logit, loan...]."""
    d = len(part.w) + BLINDING + LOAN_CHUNKS
    weights = np.concatenate([part.w, np.zeros(BLINDING + LOAN_CHUNKS)]).astype(np.float32)
    w = helper.make_tensor("w", TensorProto.FLOAT, [d, 1], weights.tolist())
    b = helper.make_tensor("b", TensorProto.FLOAT, [1, 1], [float(part.b)])
    ints = [helper.make_tensor(n, TensorProto.INT64, [1], [v])
            for n, v in (("loan_from", d - LOAN_CHUNKS), ("loan_to", d), ("loan_axis", 1))]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["z", "w"], ["zw"]),
         helper.make_node("Add", ["zw", "b"], ["logit"]),
         helper.make_node("Slice", ["z", "loan_from", "loan_to", "loan_axis"], ["loan"])],
        "scorechain_logit", [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, d])],
        [helper.make_tensor_value_info("logit", TensorProto.FLOAT, [1, 1]),
         helper.make_tensor_value_info("loan", TensorProto.FLOAT, [1, LOAN_CHUNKS])], [w, b, *ints])
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


def blinding(salt: bytes, input_scale: int = INPUT_SCALE) -> np.ndarray:
    """The BLINDING inputs for a borrower's 32-byte salt (the feature store's, see
    oracle/commitment.py): keccak(salt, i) cut to 24 bits, centred, as input-scale fractions."""
    from eth_hash.auto import keccak
    if len(salt) != 32:
        raise ValueError("the salt must be 32 bytes")
    half = 1 << (_BLIND_BITS - 1)
    ints = [int.from_bytes(keccak(salt + bytes([i]))[:_BLIND_BITS // 8], "big") - half
            for i in range(BLINDING)]
    return (np.asarray(ints, dtype=np.float64) / 2**input_scale).astype(np.float32)


def loan_binding(borrower: str, nonce: int, input_scale: int = INPUT_SCALE) -> np.ndarray:
    """The LOAN_CHUNKS inputs that bind a proof to a borrower and a loan request:
    keccak256(abi.encode(borrower, nonce)) cut into 22-bit chunks, lowest first, as input-scale
    fractions (CreditScoreRegistry recomputes the same chunks as the proof's public values)."""
    from eth_hash.auto import keccak
    address = bytes.fromhex(str(borrower).removeprefix("0x"))
    if len(address) != 20 or not 0 <= int(nonce) < 2**256:
        raise ValueError("a borrower address and a uint256 nonce are expected")
    h = int.from_bytes(keccak(bytes(12) + address + int(nonce).to_bytes(32, "big")), "big")
    chunks = [(h >> (_LOAN_BITS * i)) & ((1 << _LOAN_BITS) - 1) for i in range(LOAN_CHUNKS)]
    return (np.asarray(chunks, dtype=np.float64) / 2**input_scale).astype(np.float32)


def _with_blinding(z: np.ndarray, blind: np.ndarray | None, loan: np.ndarray | None = None) -> np.ndarray:
    z = np.asarray(z, dtype=np.float32).reshape(-1)
    b = np.zeros(BLINDING, np.float32) if blind is None else np.asarray(blind, np.float32).reshape(-1)
    if len(b) != BLINDING:
        raise ValueError(f"{BLINDING} blinding inputs expected, got {len(b)}")
    bound = np.zeros(LOAN_CHUNKS, np.float32) if loan is None else np.asarray(loan, np.float32).reshape(-1)
    if len(bound) != LOAN_CHUNKS:
        raise ValueError(f"{LOAN_CHUNKS} loan inputs expected, got {len(bound)}")
    return np.concatenate([z, b, bound])


def _calibration_rows(z: np.ndarray) -> np.ndarray:
    """Up to CALIBRATION_ROWS evenly spaced rows, plus each input's smallest and largest: what
    EZKL calibrates on must span the range a witness can reach (the time grows with the rows:
    8 min for GMSC's 120,000 training rows)."""
    if len(z) > CALIBRATION_ROWS:
        pick = np.unique(np.concatenate([np.linspace(0, len(z) - 1, CALIBRATION_ROWS).astype(int),
                                         z.argmin(axis=0), z.argmax(axis=0)]))
        z = z[pick]
    # the blinding and loan columns at random, and at their extremes on two rows
    rng = np.random.default_rng(0)
    top = ((1 << (_BLIND_BITS - 1)) - 1) / 2**INPUT_SCALE
    blind = rng.uniform(-top, top, (len(z), BLINDING))
    blind[0], blind[-1] = -top, top
    loan = rng.integers(0, 1 << _LOAN_BITS, (len(z), LOAN_CHUNKS)) / 2**INPUT_SCALE
    loan[0], loan[-1] = 0, ((1 << _LOAN_BITS) - 1) / 2**INPUT_SCALE
    return np.hstack([z, blind, loan]).astype(np.float32)


def setup(bundle_dir: Path, out: Path, calibration_X: np.ndarray, srs: Path | None = None) -> dict:
    """Circuit artefacts for the bundle in ``out``. ``calibration_X``: raw rows spanning the
    features' range (a witness outside the calibrated range does not prove). ``srs``: the
    ceremony's parameters; without it a local, test-only SRS is generated."""
    import ezkl
    bundle_dir, out = Path(bundle_dir), Path(out)
    t0 = time.time()
    model = bundle_onnx(bundle_dir)
    part = linear_part(model)  # refuses before anything is written
    z = features_z(bundle_dir, calibration_X)
    _check_served_pd(bundle_dir, part, calibration_X[:CALIBRATION_ROWS], z[:CALIBRATION_ROWS])
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(circuit_graph(part), str(out / "circuit.onnx"))
    z = _calibration_rows(z)
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
    scales = {settings["run_args"]["input_scale"], settings["run_args"]["param_scale"],
              *settings["model_input_scales"], *settings["model_output_scales"]}
    if scales != {INPUT_SCALE}:  # the one fixed point the signers emulate (fixed_point.circuit_logit)
        raise NotProvable(f"EZKL calibrated scales {sorted(scales)}, not 2^{INPUT_SCALE} throughout")
    _call(lambda: ezkl.compile_circuit(str(out / "circuit.onnx"), str(out / "circuit.ezkl"),
                                       str(out / "settings.json")))
    _check_emulation(out, part, z)
    local_srs = srs is None
    if local_srs:
        srs = out / f"kzg{logrows}.local.srs"
        _call(lambda: ezkl.gen_srs(str(srs), logrows))
    _call(lambda: ezkl.setup(str(out / "circuit.ezkl"), str(out / "vk.key"), str(out / "pk.key"),
                             srs_path=str(srs)))
    manifest = bundle_dir / "manifest.json"
    info = {"zk_version": ZK_VERSION, "bundle": str(bundle_dir),
            "bundle_id": _sha256(manifest) if manifest.exists() else None,
            "features": len(part.w), "blinding": BLINDING, "loan_chunks": LOAN_CHUNKS,
            "input_scale": settings["model_input_scales"][0],
            "output_scale": settings["model_output_scales"][0], "logrows": logrows,
            "vk_sha256": _sha256(out / "vk.key"), "circuit_onnx_sha256": _sha256(out / "circuit.onnx"),
            "srs": str(srs), "srs_local_test_only": local_srs,
            "sizes": {f: (out / f).stat().st_size for f in ("vk.key", "pk.key", "circuit.ezkl")},
            "setup_seconds": round(time.time() - t0, 2)}
    (out / "zk.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def _check_emulation(out: Path, part: LinearPart, z: np.ndarray, rows: int = 48) -> None:
    """The oracle's signers compute a zk-scored model's logit without EZKL
    (fixed_point.circuit_logit): refuse a circuit whose own witness differs from it on spread
    calibration rows or on a rounding tie (half of the last unit, where rounding modes differ)."""
    w_q = [quantise(v, INPUT_SCALE) for v in part.w.astype(np.float32)]
    b_q = quantise(np.float32(part.b), INPUT_SCALE)
    picks = [r[:len(part.w)] for r in z[np.linspace(0, len(z) - 1, min(rows, len(z))).astype(int)]]
    i = next((i for i, w in enumerate(w_q) if w % (1 << INPUT_SCALE)), None)
    if i is not None:  # z_i * w_i a whole number and a half of the last unit, either sign
        t = (w_q[i] & -w_q[i]).bit_length() - 1
        for sign in (1, -1):
            tie = np.zeros(len(part.w), np.float32)
            tie[i] = sign * 3 * 2.0 ** (INPUT_SCALE - 1 - t) / 2**INPUT_SCALE
            picks.append(tie)
    mine = [circuit_logit(r, w_q, b_q, INPUT_SCALE) for r in picks]
    theirs = [round(v * 2**INPUT_SCALE) % FIELD for v in circuit_logits(out, np.asarray(picks))]
    bad = sum(a != b for a, b in zip(mine, theirs))
    if bad:
        raise NotProvable(f"the circuit's logit differs from the emulated one on {bad} of "
                          f"{len(picks)} rows: this EZKL's arithmetic is not the one signers use")


def commitment(z_row: np.ndarray, blind: np.ndarray, loan: np.ndarray, input_scale: int) -> str:
    """The features commitment the circuit exposes as instance 0: Poseidon over the quantised
    ``z``, blinding and loan inputs (EZKL's field element encoding, little-endian hex)."""
    import ezkl
    felts = [ezkl.float_to_felt(float(v), input_scale, ezkl.PyInputType.F32)
             for v in _with_blinding(z_row, blind, loan)]
    return ezkl.poseidon_hash(felts)[0]


def prove(zk_dir: Path, z_row: np.ndarray, blind: np.ndarray, loan: np.ndarray, out: Path) -> dict:
    """A proof that the circuit maps the committed ``z_row`` (blinded by ``blind``, see
    :func:`blinding`; for the loan ``loan``, see :func:`loan_binding`) to its logit; returns the
    public values (commitment, logit, PD, loan chunks) and the timing."""
    import ezkl
    zk_dir, out = Path(zk_dir), Path(out)
    info = json.loads((zk_dir / "zk.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    (out / "input.json").write_text(json.dumps(
        {"input_data": [_with_blinding(z_row, blind, loan).tolist()]}))
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
    if len(inst) != 2 + LOAN_CHUNKS:
        raise ValueError(f"{proof_path}: {len(inst)} public values, not a version-{ZK_VERSION} proof's "
                         f"{2 + LOAN_CHUNKS}")
    logit = ezkl.felt_to_float(inst[1], info["output_scale"])
    return {"commitment": inst[0], "logit": logit, "pd": 1.0 / (1.0 + math.exp(-logit)),
            # as the score registry takes and records them
            "featuresCommitment": "0x" + felt_from_hex(inst[0]).to_bytes(32, "big").hex(),
            "pd_bps": pd_bps_from_logit(felt_from_hex(inst[1]), info["output_scale"]),
            "loan": [felt_from_hex(h) for h in inst[2:]]}


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
    scale = json.loads((zk_dir / "settings.json").read_text())["model_output_scales"][0]
    tmp, wit = zk_dir / "parity_input.json", zk_dir / "parity_witness.json"
    out = []
    try:
        for z in np.asarray(Z, dtype=np.float32):
            # the blinding inputs have zero weight: any value gives the same logit
            tmp.write_text(json.dumps({"input_data": [_with_blinding(z, None).tolist()]}))
            # with no output path EZKL writes witness.json into the working directory
            w = _call(lambda: ezkl.gen_witness(str(tmp), str(zk_dir / "circuit.ezkl"), str(wit)))
            out.append(ezkl.felt_to_float(w["outputs"][0][0], scale))
    finally:
        tmp.unlink(missing_ok=True)
        wit.unlink(missing_ok=True)
    return np.asarray(out)

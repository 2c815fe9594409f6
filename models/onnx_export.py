"""ONNX export of whole pipelines (preprocessing included) with skl2onnx.

Contract of every exported model:

* one input ``features``: float32 ``[None, n]``, columns in feature-schema order
  (:func:`models.schema.validate_row` builds it);
* outputs ``label`` (int64 ``[None]``) and ``probabilities`` (float32 ``[None, 2]``; column 1 is
  the default probability), ``zipmap=False``;
* opset pinned to :data:`TARGET_OPSET` (ai.onnx) and :data:`ML_OPSET` (ai.onnx.ml);
* ``metadata_props``: ``scorechain.model_version``, ``scorechain.feature_schema_sha256``,
  ``scorechain.feature_schema_name``, ``scorechain.family``, ``scorechain.feature_order``,
  ``scorechain.input``.

ONNX id: the SHA-256 of the ONNX file bytes. A file cannot contain its own hash, so the id is not
stamped inside the file; it is recorded in the model card and ``reference.json`` and recomputed by
:func:`models.serving.load_bundle` at load time. The on-chain model id is the bundle id, which
covers this hash (:mod:`models.manifest`).

Custom converters registered here: LightGBM's ``LGBMClassifier`` (onnxmltools' converter fed
float32-exact thresholds, :mod:`models.lgbm_onnx`), XGBoost's ``XGBClassifier`` (onnxmltools'),
CatBoost's ``CatBoostClassifier`` (its own tree ensemble, :mod:`models.catboost_onnx`),
:class:`models.preprocess.TabularPrep`, the A-Triplet embedding (:class:`models.triplet.ATripletEmbedding`:
``MatMul``/``Add``/``Relu``), a C-NAS cell network (:mod:`models.cnas_onnx`), and the fine-tuned DBN (:class:`models.dbn.PretrainedMLP`,
an MLPClassifier once trained: skl2onnx's MLP converter); the scorecard's :class:`models.scorecard.WoEBinning` registers
its own (a WoE lookup from ``GreaterOrEqual``/``Equal`` and ``MatMul``) when imported here.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from skl2onnx import convert_sklearn, update_registered_converter
from skl2onnx.algebra.onnx_ops import (OnnxAbs, OnnxAdd, OnnxCast, OnnxConcat, OnnxEqual,
                                       OnnxGather, OnnxIdentity, OnnxIsNaN, OnnxLog, OnnxMatMul,
                                       OnnxMax, OnnxMin, OnnxMul, OnnxRelu, OnnxSign, OnnxWhere)
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.operator_converters.multilayer_perceptron import convert_sklearn_mlp_classifier

from . import scorecard  # noqa: F401  (registers the WoEBinning converter)
from .cnas import CellNetClassifier
from .cnas_onnx import convert_cell_net
from .dbn import PretrainedMLP
from . import catboost_onnx, derived, lgbm_onnx
from .preprocess import TabularPrep
from .triplet import ATripletEmbedding

TARGET_OPSET = 17
ML_OPSET = 3
INPUT_NAME = "features"
META_PREFIX = "scorechain."


def _prep_shape(operator):
    op = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n, op.n_features_out_])


def _prep_converter(scope, operator, container):
    op: TabularPrep = operator.raw_operator
    opv = container.target_opset
    X = operator.inputs[0]
    parts = []
    if len(op.numeric_idx):
        num = OnnxGather(X, np.array(op.numeric_idx, dtype=np.int64), axis=1, op_version=opv)
        num = OnnxWhere(OnnxIsNaN(num, op_version=opv), op.medians_.reshape(1, -1), num,
                        op_version=opv)
        num = OnnxMax(num, op.lo_.reshape(1, -1), op_version=opv)
        num = OnnxMin(num, op.hi_.reshape(1, -1), op_version=opv)
        if op.log_mask_.any():
            absx = OnnxAbs(num, op_version=opv)
            lg = OnnxLog(OnnxAdd(absx, np.array([1.0], dtype=np.float32), op_version=opv),
                         op_version=opv)
            slog = OnnxMul(OnnxSign(num, op_version=opv), lg, op_version=opv)
            num = OnnxWhere(op.log_mask_.reshape(1, -1), slog, num, op_version=opv)
        parts.append(num)
    if len(op.impute_idx):
        sub = OnnxGather(X, np.array(op.impute_idx, dtype=np.int64), axis=1, op_version=opv)
        parts.append(OnnxCast(OnnxIsNaN(sub, op_version=opv), to=onnx.TensorProto.FLOAT,
                              op_version=opv))
    for j, k in zip(op.category_idx, op.n_categories):
        col = OnnxGather(X, np.array([j], dtype=np.int64), axis=1, op_version=opv)
        if op.one_hot:
            eq = OnnxEqual(col, np.arange(k, dtype=np.float32).reshape(1, -1), op_version=opv)
            parts.append(OnnxCast(eq, to=onnx.TensorProto.FLOAT, op_version=opv))
        else:
            parts.append(OnnxWhere(OnnxIsNaN(col, op_version=opv), np.array([-1.0], np.float32),
                                   col, op_version=opv))
    out = OnnxConcat(*parts, axis=1, op_version=opv) if len(parts) > 1 else OnnxIdentity(
        parts[0], op_version=opv)
    final = OnnxIdentity(out, op_version=opv, output_names=operator.outputs[:1])
    final.add_to(scope, container)


def _embedding_shape(operator):
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n, operator.raw_operator.W2_.shape[1]])


def _embedding_converter(scope, operator, container):
    """The A-Triplet embedding (models.triplet): relu(x W1 + b1) W2 + b2."""
    op: ATripletEmbedding = operator.raw_operator
    opv = container.target_opset
    h = OnnxRelu(OnnxAdd(OnnxMatMul(operator.inputs[0], op.W1_, op_version=opv), op.b1_,
                         op_version=opv), op_version=opv)
    out = OnnxAdd(OnnxMatMul(h, op.W2_, op_version=opv), op.b2_, op_version=opv,
                  output_names=operator.outputs[:1])
    out.add_to(scope, container)


def _register_lightgbm() -> None:
    """LightGBM's classifier through onnxmltools' converter (skl2onnx has none of its own), the
    way skl2onnx documents for pipelines holding one; zipmap=False like every other model. Its
    thresholds are made exact in float32 first (:mod:`models.lgbm_onnx`)."""
    from lightgbm import LGBMClassifier
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    update_registered_converter(
        LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
        lgbm_onnx.convert, options={"nocl": [True, False], "zipmap": [True, False, "columns"]})


def _register_xgboost() -> None:
    """XGBoost's classifier through onnxmltools' converter, as LightGBM's (xgboost >= 3 keeps its
    base score as a vector in the booster config, which that converter reads)."""
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
    from xgboost import XGBClassifier

    update_registered_converter(
        XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes,
        convert_xgboost, options={"nocl": [True, False], "zipmap": [True, False, "columns"]})


def _register_catboost() -> None:
    """CatBoost's classifier: its own ONNX tree ensemble copied into the pipeline's graph
    (:mod:`models.catboost_onnx`)."""
    from catboost import CatBoostClassifier
    from skl2onnx._supported_operators import sklearn_classifier_list
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    if CatBoostClassifier not in sklearn_classifier_list:
        sklearn_classifier_list.append(CatBoostClassifier)
    update_registered_converter(
        CatBoostClassifier, "CatBoostCatBoostClassifier",
        calculate_linear_classifier_output_shapes, catboost_onnx.convert,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]})


_register_lightgbm()
_register_xgboost()
_register_catboost()
# The fine-tuned DBN is an MLPClassifier once trained (models.dbn): skl2onnx's own MLP converter.
update_registered_converter(PretrainedMLP, "ScorechainPretrainedMLP",
                            calculate_linear_classifier_output_shapes,
                            convert_sklearn_mlp_classifier,
                            options={"nocl": [True, False], "zipmap": [True, False, "columns"]})
update_registered_converter(CellNetClassifier, "ScorechainCellNet",
                            calculate_linear_classifier_output_shapes, convert_cell_net,
                            options={"nocl": [True, False], "zipmap": [True, False, "columns"]})
update_registered_converter(TabularPrep, "ScorechainTabularPrep", _prep_shape, _prep_converter)
update_registered_converter(derived.DerivedFeatures, "ScorechainDerivedFeatures",
                            derived.onnx_shape, derived.onnx_converter)
update_registered_converter(ATripletEmbedding, "ScorechainATripletEmbedding", _embedding_shape,
                            _embedding_converter)


def to_onnx(pipeline, n_features: int, *, metadata: dict[str, str] | None = None,
            doc: str = "") -> onnx.ModelProto:
    """Convert a fitted scikit-learn classifier pipeline; stamp metadata_props."""
    model = convert_sklearn(
        pipeline, initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        target_opset={"": TARGET_OPSET, "ai.onnx.ml": ML_OPSET},
        options={"zipmap": False}, naming="sc_")
    # skl2onnx names the graph with a random UUID; a fixed name makes the bytes (and so the
    # model id) reproducible.
    model.graph.name = "scorechain_pd_model"
    model.doc_string = doc
    model.producer_name = "scorechain-models"
    for k, v in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = META_PREFIX + k, str(v)
    onnx.checker.check_model(model)
    return model


def _session(model: onnx.ModelProto):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts)


def onnx_pd(model: onnx.ModelProto, X: np.ndarray) -> np.ndarray:
    """Column 1 of the model's probabilities in onnxruntime (float64 for comparisons)."""
    out = _session(model).run(None, {INPUT_NAME: np.asarray(X, dtype=np.float32)})
    return out[1][:, 1].astype(np.float64)


def single_row_latency_ms(model: onnx.ModelProto, row: np.ndarray, repeats: int = 200) -> float:
    """Median wall time of one single-row call in onnxruntime (one thread, after 20 warm-up
    calls): what one score costs the oracle."""
    import time
    sess, x = _session(model), np.asarray(row, dtype=np.float32).reshape(1, -1)
    for _ in range(20):
        sess.run(None, {INPUT_NAME: x})
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run(None, {INPUT_NAME: x})
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def onnx_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key[len(META_PREFIX):]: p.value for p in model.metadata_props
            if p.key.startswith(META_PREFIX)}


def save_onnx(model: onnx.ModelProto, path: str | Path) -> str:
    """Write the model; return the SHA-256 of the written bytes (the model id).

    The opset imports are put in domain order first: skl2onnx lists them in an order that varies
    from one Python process to the next (string hashing), which changed the file, and so the
    model id, of a byte-identical refit about half the time."""
    opsets = sorted(((o.domain, o.version) for o in model.opset_import))
    del model.opset_import[:]
    for domain, version in opsets:
        model.opset_import.add(domain=domain, version=version)
    data = model.SerializeToString(deterministic=True)
    Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def standard_metadata(schema: dict, *, version: str, family: str, schema_sha: str) -> dict:
    return {
        "model_version": version,
        "feature_schema_name": schema["name"],
        "feature_schema_sha256": schema_sha,
        "family": family,
        "input": f"{INPUT_NAME}: float32[None,{len(schema['features'])}] in schema order",
        "feature_order": json.dumps([f["name"] for f in schema["features"]]),
        "output": "probabilities[:,1] = probability of default",
    }

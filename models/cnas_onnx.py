"""ONNX converter of a C-NAS cell network (:class:`models.cnas.CellNetClassifier`): the same graph
as :func:`models.cnas.forward`, in standard ops (MatMul, Add, Relu, Softmax, Transpose, Reshape,
ReduceMean, Sigmoid), outputs ``label`` and ``probabilities`` like every classifier here."""
from __future__ import annotations

import math

import numpy as np
import onnx
from skl2onnx.algebra.onnx_ops import (OnnxAdd, OnnxCast, OnnxConcat, OnnxDiv, OnnxGreater,
                                       OnnxIdentity, OnnxMatMul, OnnxMul, OnnxReduceMean,
                                       OnnxRelu, OnnxReshape, OnnxSigmoid, OnnxSlice,
                                       OnnxSoftmax, OnnxSub, OnnxTranspose, OnnxUnsqueeze)


def _i64(*v):
    return np.array(v, dtype=np.int64)


def convert_cell_net(scope, operator, container):
    net = operator.raw_operator
    p, ops, v = net.params_, net._check(), container.target_opset
    e = net.dim

    def dense(x, w, relu=True):
        z = OnnxAdd(OnnxMatMul(x, w["W"], op_version=v), w["b"], op_version=v)
        return OnnxRelu(z, op_version=v) if relu else z

    h = OnnxAdd(OnnxMul(OnnxUnsqueeze(operator.inputs[0], _i64(2), op_version=v),
                        p["embed"]["W"], op_version=v), p["embed"]["b"], op_version=v)
    T = net.n_features_in_
    for stage in p["stages"]:
        for cell in stage["cells"]:
            outs, acc = [], h
            for j, w in enumerate(cell):
                if ops[j] == "dense":
                    o = dense(acc, w)
                elif ops[j] == "attention":
                    q, k, val = (OnnxMatMul(acc, w[n], op_version=v) for n in ("q", "k", "v"))
                    s = OnnxDiv(OnnxMatMul(q, OnnxTranspose(k, perm=[0, 2, 1], op_version=v),
                                           op_version=v),
                                np.array([math.sqrt(e)], np.float32), op_version=v)
                    o = OnnxMatMul(OnnxSoftmax(s, axis=-1, op_version=v), val, op_version=v)
                elif ops[j] == "mix":
                    o = OnnxTranspose(dense(OnnxTranspose(acc, perm=[0, 2, 1], op_version=v), w),
                                      perm=[0, 2, 1], op_version=v)
                else:
                    o = acc
                outs.append(o)
                acc = OnnxAdd(acc, o, op_version=v)
            total = outs[0]
            for o in outs[1:]:
                total = OnnxAdd(total, o, op_version=v)
            h = OnnxAdd(h, OnnxDiv(total, np.array([len(outs)], np.float32), op_version=v),
                        op_version=v)
        if T % 2:
            last = OnnxSlice(h, _i64(T - 1), _i64(T), _i64(1), op_version=v)
            h = OnnxConcat(h, last, axis=1, op_version=v)
        T = math.ceil(T / 2)
        h = OnnxReduceMean(OnnxReshape(h, _i64(0, T, 2, e), op_version=v), axes=[2],
                           keepdims=0, op_version=v)
        if stage["reduce"]:
            h = dense(h, stage["reduce"])
    z = dense(OnnxReduceMean(h, axes=[1], keepdims=0, op_version=v), p["head"], relu=False)
    pd = OnnxSigmoid(z, op_version=v)  # [N, 1]
    proba = OnnxConcat(OnnxSub(np.array([1.0], np.float32), pd, op_version=v), pd, axis=1,
                       op_version=v)
    label = OnnxReshape(OnnxCast(OnnxGreater(pd, np.array([0.5], np.float32), op_version=v),
                                 to=onnx.TensorProto.INT64, op_version=v), _i64(-1),
                        op_version=v)
    OnnxIdentity(label, op_version=v, output_names=operator.outputs[:1]).add_to(scope, container)
    OnnxIdentity(proba, op_version=v, output_names=operator.outputs[1:2]).add_to(scope,
                                                                                 container)

"""CatBoost's classifier inside a skl2onnx pipeline export.

CatBoost writes its own ONNX graph (``catboost.utils.convert_to_onnx_object``): one
``TreeEnsembleClassifier`` node over the raw float inputs, optionally followed by a ZipMap. The
converter below copies that node into the pipeline's graph, reading the pipeline's previous
output and writing the label and probability outputs skl2onnx declared, as skl2onnx's own
CatBoost example does. skl2onnx parses the classifier as one of its own once it is on its
classifier list (:func:`models.onnx_export._register_catboost`): CatBoost's class is not a
scikit-learn ``ClassifierMixin``, and a calibrated model's converter (``OnnxSubEstimator``)
takes only that route. CatBoost's split borders are float32 values and its ONNX node compares in
float32, so the graph routes every float32 input as CatBoost does (the parity check at every
export measures it).
"""
from __future__ import annotations

from onnx.helper import get_attribute_value


def convert(scope, operator, container):
    """Copy CatBoost's tree-ensemble node into the pipeline's graph."""
    from catboost.utils import convert_to_onnx_object

    onx = convert_to_onnx_object(operator.raw_operator)
    opsets = {d.domain: d.version for d in onx.opset_import}
    nodes = list(onx.graph.node)
    if (onx.graph.initializer or not nodes or not nodes[0].op_type.startswith("TreeEnsemble")
            or any(n.op_type != "ZipMap" for n in nodes[1:])):
        raise NotImplementedError("CatBoost's ONNX graph is not one tree ensemble: "
                                  + ", ".join(n.op_type for n in nodes))
    node = nodes[0]
    attrs = {a.name: get_attribute_value(a) for a in node.attribute}
    container.add_node(node.op_type, [operator.inputs[0].full_name],
                       [operator.outputs[0].full_name, operator.outputs[1].full_name],
                       op_domain=node.domain, op_version=opsets.get(node.domain),
                       name=scope.get_unique_operator_name("CatBoostTrees"), **attrs)

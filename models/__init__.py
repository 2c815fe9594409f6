"""Scorechain default-probability models: data, training, evaluation, ONNX export, serving."""

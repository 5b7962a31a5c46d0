"""ONNX: the graph written by PyTorch's ``torch.export``-based exporter, run by ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.export import ExportedProgram

from pixelwise.errors import PixelwiseError
from pixelwise.export.capture import InputShape, quiet
from pixelwise.export.extras import require
from pixelwise.export.runtime import GraphRunner

DEFAULT_OPSET = 18
INPUT_NAME, OUTPUT_NAME = "image", "logits"


def to_onnx(program: ExportedProgram, opset: int = DEFAULT_OPSET) -> bytes:
    """The serialised ONNX model of ``program`` (weights inside) at ``opset``."""
    require("onnxscript", "ONNX export")
    with quiet("torch.onnx", "onnxscript", "onnx_ir"):
        exported = torch.onnx.export(
            program,
            dynamo=True,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            optimize=True,
            verbose=False,
        )
    made = next(o.version for o in exported.model_proto.opset_import if o.domain in ("", "ai.onnx"))
    if made != opset:
        raise PixelwiseError(f"the ONNX exporter wrote opset {made}, not the {opset} asked for")
    return exported.model_proto.SerializeToString()


class OnnxRuntimeRunner(GraphRunner):
    """An ONNX model (a file or serialised bytes) in an ONNX Runtime CPU session.

    ``threads`` sets the session's intra-op threads (None: ONNX Runtime's default).
    """

    name = "onnxruntime"

    def __init__(self, model: Path | bytes, shape: InputShape, threads: int | None = None):
        super().__init__(shape)
        ort = require("onnxruntime", "the onnxruntime backend")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            options.intra_op_num_threads = threads
        source = str(model) if isinstance(model, Path) else model
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # ONNX Runtime's own error types, for an unreadable graph
            where = f"'{model}'" if isinstance(model, Path) else "the ONNX graph"
            raise PixelwiseError(f"cannot load {where}: {err}") from None

    def run(self, x: torch.Tensor) -> torch.Tensor:
        (logits,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
        return torch.from_numpy(np.asarray(logits, dtype=np.float32))

"""Static post-training INT8 quantisation of an ONNX graph with ONNX Runtime.

Weights are quantised per output channel to int8 and activations per tensor to uint8,
with ranges observed (min/max) while the float graph runs on calibration inputs: real
images prepared exactly as the Segmenter prepares them. The result is a QDQ graph
(QuantizeLinear/DequantizeLinear pairs around each quantised op) that ONNX Runtime
fuses into integer kernels.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelwise.export.capture import InputShape, quiet
from pixelwise.export.extras import require
from pixelwise.export.onnx import INPUT_NAME


class _Inputs:
    """ONNX Runtime's calibration reader over padded ``(1, C, H, W)`` float32 inputs."""

    def __init__(self, inputs: Sequence[torch.Tensor], shape: InputShape) -> None:
        self.batches: Iterator[torch.Tensor] = (shape.pad(x) for x in inputs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self.batches, None)
        return None if x is None else {INPUT_NAME: x.float().contiguous().numpy()}

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return iter(self.get_next, None)


def quantize_onnx(model: bytes, inputs: Sequence[torch.Tensor], shape: InputShape) -> bytes:
    """The INT8 QDQ version of the float ONNX ``model``, calibrated on ``inputs``.

    ``inputs`` are network inputs ``(1, C, H, W)`` (normalised, at the working scale).
    """
    require("onnxruntime", "INT8 quantisation")
    from onnxruntime import quantization
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reader: Any = _Inputs(inputs, shape)
    with tempfile.TemporaryDirectory() as folder, quiet("root", "onnxruntime"):
        source, prepared, target = (Path(folder) / n for n in ("f.onnx", "p.onnx", "q.onnx"))
        source.write_bytes(model)
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantization.quantize_static(
            str(prepared),
            str(target),
            reader,
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=True,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
            calibrate_method=quantization.CalibrationMethod.MinMax,
        )
        return target.read_bytes()

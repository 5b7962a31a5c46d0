"""OpenVINO: the ONNX graph converted to OpenVINO's IR (``model.xml`` + ``model.bin``).

OpenVINO's CPU plugin computes in bfloat16 by default on CPUs that support it; the
``openvino`` backend asks for float32 so that its logits match PyTorch's, and
``openvino-bf16`` asks for bfloat16 (faster, within bfloat16's rounding; see
:mod:`pixelwise.export.bfloat16`).

Class labels come from a second compiled model whose argmax runs inside the graph, on
OpenVINO's threads, so the logits never leave it (``benchmarks/graph_labels.py`` times
it against the argmax of the logits in PyTorch).
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.export.bfloat16 import require_bf16
from pixelwise.export.capture import InputShape
from pixelwise.export.extras import require
from pixelwise.export.runtime import GraphRunner


def read_onnx(onnx: bytes) -> Any:
    """An ``openvino.Model`` from a serialised ONNX model."""
    ov = require("openvino", "OpenVINO")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(onnx)
        return ov.Core().read_model(str(path))


def write_ir(model: Any, xml: Path) -> None:
    """Save ``model`` as ``xml`` and the ``.bin`` beside it, weights kept in float32."""
    ov = require("openvino", "OpenVINO")
    ov.save_model(model, str(xml), compress_to_fp16=False)


# the OpenVINO backends and the inference precision each asks the CPU plugin for
PRECISIONS = {"openvino": "f32", "openvino-bf16": "bf16"}


def with_labels(model: Any) -> Any:
    """``model`` with its logits ``(N, K, H, W)`` replaced by their argmax over K:
    ``(N, H, W)`` int32, ties to the lowest class (a stable TopK of one)."""
    ov = require("openvino", "OpenVINO")
    from openvino import opset13 as ops

    model = model.clone()
    logits = model.get_results()[0].input_value(0)
    top = ops.topk(logits, 1, 1, "max", "value", "i32", stable=True)
    labels = ops.squeeze(top.output(1), ops.constant(np.array([1], dtype=np.int64)))
    return ov.Model([labels.output(0)], model.get_parameters(), "labels")


class OpenVinoRunner(GraphRunner):
    """An OpenVINO model (IR or ONNX file, or an ``openvino.Model``) compiled for the CPU.

    ``threads`` sets its inference threads (None: OpenVINO's default); ``backend`` (one
    of :data:`PRECISIONS`) the precision it computes in. The labels model
    (:func:`with_labels`) is compiled on the first call for labels, and a static-size
    graph (``--static-size``) once per batch size, at its exact shape, which OpenVINO
    runs faster than free sizes (``benchmarks/backends.py`` measures it). Calls from
    several threads take turns.
    """

    def __init__(
        self,
        model: Path | Any,
        shape: InputShape,
        threads: int | None = None,
        backend: str = "openvino",
    ):
        super().__init__(shape)
        self.name = backend
        ov = require("openvino", f"the {backend} backend")
        precision = PRECISIONS[backend]
        if precision == "bf16":
            require_bf16(backend)
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        self._core, self._config = ov.Core(), config
        self.requests: dict[tuple[str, int | None], Any] = {}
        try:
            self.model = self._core.read_model(str(model)) if isinstance(model, Path) else model
            self._compiled("logits", 1)
        except RuntimeError as err:
            where = f"'{model}'" if isinstance(model, Path) else "the OpenVINO model"
            first = str(err).strip().splitlines()[0]
            raise PixelwiseError(f"cannot load {where}: {first}") from None
        self._turn = threading.Lock()

    def _compiled(self, output: str, batch: int) -> Any:
        """The inference request for ``output`` (``logits`` or ``labels``) of a ``batch``,
        compiled on first use: for a static-size graph one per batch size, at its exact
        input shape; else one for every shape."""
        static = self.shape.static_size is not None
        key = (output, batch if static else None)
        if key not in self.requests:
            model = with_labels(self.model) if output == "labels" else self.model.clone()
            if static:
                size = [self.shape.padded(side) for side in self.shape.static_size]
                model.reshape([batch, self.shape.channels, *size])
            compiled = self._core.compile_model(model, "CPU", self._config)
            self.requests[key] = compiled.create_infer_request()
        return self.requests[key]

    def _infer(self, output: str, x: torch.Tensor) -> torch.Tensor:
        with self._turn:
            request = self._compiled(output, x.shape[0])
            request.infer({0: x.numpy()})
            return torch.from_numpy(request.get_output_tensor(0).data.copy())

    def run(self, x: torch.Tensor) -> torch.Tensor:
        return self._infer("logits", x)

    def run_labels(self, x: torch.Tensor) -> torch.Tensor:
        return self._infer("labels", x)

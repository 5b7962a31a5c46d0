"""OpenVINO: the ONNX graph converted to OpenVINO's IR (``model.xml`` + ``model.bin``).

OpenVINO's CPU plugin computes in bfloat16 by default on CPUs that support it; the
``openvino`` backend asks for float32 so that its logits match PyTorch's, and
``openvino-bf16`` asks for bfloat16 (faster, within bfloat16's rounding; see
:mod:`pixelwise.export.bfloat16`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

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


class OpenVinoRunner(GraphRunner):
    """An OpenVINO model (IR or ONNX file, or an ``openvino.Model``) compiled for the CPU.

    ``threads`` sets its inference threads (None: OpenVINO's default); ``backend`` (one
    of :data:`PRECISIONS`) the precision it computes in.
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
        core = ov.Core()
        try:
            source = core.read_model(str(model)) if isinstance(model, Path) else model
            self.compiled = core.compile_model(source, "CPU", config)
        except RuntimeError as err:
            where = f"'{model}'" if isinstance(model, Path) else "the OpenVINO model"
            first = str(err).strip().splitlines()[0]
            raise PixelwiseError(f"cannot load {where}: {first}") from None
        self.request = self.compiled.create_infer_request()

    def run(self, x: torch.Tensor) -> torch.Tensor:
        outputs = self.request.infer({0: x.numpy()})
        return torch.from_numpy(outputs[self.compiled.output(0)].copy())

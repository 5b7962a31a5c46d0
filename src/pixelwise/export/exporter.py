"""``export_model``: a model and its card to an exported folder in one of the formats.

One graph is captured (:mod:`pixelwise.export.capture`) and written as ONNX (optionally
quantised to INT8), TorchScript, or OpenVINO IR (converted from the ONNX graph).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.export import ExportedProgram

from pixelwise.data.transforms import scaled_size
from pixelwise.errors import PixelwiseError
from pixelwise.export.capture import InputShape, capture
from pixelwise.export.extras import require
from pixelwise.export.folder import check_destination, write_exported
from pixelwise.export.onnx import DEFAULT_OPSET, to_onnx
from pixelwise.export.openvino import read_onnx, write_ir
from pixelwise.export.quantize import quantize_onnx
from pixelwise.export.record import ExportRecord, check_format
from pixelwise.export.torchscript import to_torchscript
from pixelwise.models.saving import ModelCard

OPSETS = range(18, 24)  # the torch.export-based exporter writes opset 18 and later


@dataclass(frozen=True)
class Calibration:
    """What static INT8 quantisation calibrates on.

    ``inputs`` are network inputs ``(1, C, H, W)`` float32, prepared as the Segmenter
    prepares images (normalised, at the working scale); ``source`` says where they came
    from (data, split, count, seed) and is recorded in ``config.json``.
    """

    inputs: Sequence[torch.Tensor]
    source: dict[str, Any] = field(default_factory=dict)


# the optional packages each format needs, beyond PyTorch
FORMAT_REQUIREMENTS = {
    "onnx": ("onnxscript",),
    "torchscript": (),
    "openvino": ("onnxscript", "openvino"),
}


def check_options(
    format: str,
    out: Path,
    source: Path,
    opset: int = DEFAULT_OPSET,
    static_size: tuple[int, int] | None = None,
    int8: bool = False,
) -> None:
    """Every check :func:`export_model` makes before it starts: a user error if one fails.

    Callers that prepare something costly first (calibration images) call it before.
    """
    check_format(format)
    if opset not in OPSETS:
        raise PixelwiseError(f"--opset must be {OPSETS.start} to {OPSETS.stop - 1}, got {opset}")
    if static_size is not None and min(static_size) < 1:
        raise PixelwiseError(f"--static-size must be positive, got {list(static_size)}")
    if int8 and format != "onnx":
        raise PixelwiseError(
            f"--int8 quantises ONNX graphs; use it with --format onnx, not {format}"
        )
    for module in FORMAT_REQUIREMENTS[format]:
        require(module, f"{format} export")
    if int8:
        require("onnxruntime", "INT8 quantisation")
    check_destination(out, source)


def _graph_writer(
    format: str,
    program: ExportedProgram,
    shape: InputShape,
    opset: int,
    calibration: Calibration | None,
) -> Callable[[Path], None]:
    """The function that writes ``program``'s graph files in ``format`` into a folder."""
    if format == "torchscript":
        module = to_torchscript(program)
        return lambda folder: module.save(str(folder / "model.pt"))
    onnx = to_onnx(program, opset)
    if calibration is not None:
        onnx = quantize_onnx(onnx, calibration.inputs, shape)
    if format == "onnx":
        return lambda folder: (folder / "model.onnx").write_bytes(onnx)
    ir = read_onnx(onnx)
    return lambda folder: write_ir(ir, folder / "model.xml")


def export_model(
    model: nn.Module,
    card: ModelCard,
    out: str | Path,
    format: str,
    source: str | Path,
    opset: int = DEFAULT_OPSET,
    static_size: tuple[int, int] | None = None,
    calibration: Calibration | None = None,
) -> Path:
    """Write ``model`` (with ``card``) as an exported folder ``out``; returns ``out``.

    ``source`` is the model folder it comes from (never replaced). ``static_size`` fixes
    the graph's input to images of ``(H, W)`` pixels (the graph sees them at the card's
    working scale); without it, batch, height and width are free. ``calibration`` makes
    an INT8 ONNX graph. Everything is checked before anything is written.
    """
    out = Path(out)
    check_options(format, out, Path(source), opset, static_size, calibration is not None)
    if static_size is not None:
        static_size = scaled_size(*static_size, card.input_scale)
    shape = InputShape.of(model, card.info.channels, static_size)
    program = capture(model, shape)
    write_graph = _graph_writer(format, program, shape, opset, calibration)
    int8 = None if calibration is None else {"calibration": calibration.source}
    record = ExportRecord(
        format,
        shape,
        {},
        opset=None if format == "torchscript" else opset,
        int8=int8,
        torch=torch.__version__,
    )
    return write_exported(out, card, record, write_graph)

"""Backends: what runs a network inside a :class:`~pixelwise.inference.Segmenter`.

A backend is called with a float32 tensor ``(N, C, H, W)``, already normalised and at
the working scale, and returns the logits ``(N, K, H, W)`` float32; its ``labels``
returns their argmax ``(N, H, W)`` int64 (ties to the lowest class), which OpenVINO
computes inside its graph. Pre- and post-processing stay in the Segmenter, shared by
every backend.

- ``torch``: the model in eager PyTorch;
- ``torch-channels-last``: the same with weights and inputs in channels-last layout;
- ``torch-bf16``: channels-last, computing in bfloat16 under ``torch.autocast``;
- ``torch-compile``: the model compiled by ``torch.compile`` (the first call compiles);
- ``onnxruntime``, ``openvino``: the model exported to ONNX (in memory) and run by that
  runtime (``pip install "pixelwise[onnx]"``, ``"pixelwise[openvino]"``);
- ``openvino-bf16``: OpenVINO computing in bfloat16.

The bfloat16 backends (:data:`BF16_BACKENDS`) run only on CPUs with bfloat16
instructions (:mod:`pixelwise.export.bfloat16`); their logits differ from eager's by
bfloat16's rounding, not float32's, so they are not held to the parity tolerances.

An exported folder (:mod:`pixelwise.export`) runs on the backends its format allows:
ONNX on ``onnxruntime``, ``openvino`` or ``openvino-bf16``, TorchScript on ``torch``,
OpenVINO IR on ``openvino`` or ``openvino-bf16``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.export.bfloat16 import cpu_has_bf16, require_bf16
from pixelwise.export.capture import InputShape, capture
from pixelwise.export.extras import installed, require
from pixelwise.export.folder import open_exported, read_record
from pixelwise.export.onnx import OnnxRuntimeRunner, to_onnx
from pixelwise.export.openvino import OpenVinoRunner, read_onnx
from pixelwise.export.runtime import GraphRunner
from pixelwise.metrics.inputs import argmax_labels
from pixelwise.models.card import ClassicalCard
from pixelwise.models.saving import Card, load_model, read_any_card, resolve_model_dir

if TYPE_CHECKING:
    from pixelwise.classical import ClassicalMethod

BACKENDS = (
    "torch",
    "torch-channels-last",
    "torch-bf16",
    "torch-compile",
    "onnxruntime",
    "openvino",
    "openvino-bf16",
)
BF16_BACKENDS = ("torch-bf16", "openvino-bf16")
# the optional packages each backend needs, for a model that is exported on the fly
REQUIREMENTS = {
    "onnxruntime": ("onnxscript", "onnxruntime"),
    "openvino": ("onnxscript", "openvino"),
    "openvino-bf16": ("onnxscript", "openvino"),
}


class Backend(Protocol):
    """``(N, C, H, W)`` float32 (normalised, working scale) -> ``(N, K, H, W)`` logits,
    or with ``labels`` their argmax over K, ``(N, H, W)`` int64."""

    name: str

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def labels(self, x: torch.Tensor) -> torch.Tensor: ...


def check_backend(name: str) -> str:
    """``name`` if it is a backend; else a user error listing them."""
    if name not in BACKENDS:
        raise PixelwiseError(f"unknown backend {name!r}; choose from: {', '.join(BACKENDS)}")
    return name


def installed_backends() -> list[str]:
    """The backends that run here, in :data:`BACKENDS` order: their optional packages are
    installed and, for the bfloat16 ones, the CPU has bfloat16 instructions."""
    return [
        name
        for name in BACKENDS
        if all(installed(module) for module in REQUIREMENTS.get(name, ()))
        and (name not in BF16_BACKENDS or cpu_has_bf16())
    ]


class TorchBackend:
    """An ``nn.Module`` run by PyTorch: eager, channels-last, bfloat16 (channels-last
    under ``torch.autocast``) or ``torch.compile``'d.

    Channels-last converts the model's weights in place (their values stay the same).
    """

    def __init__(self, model: nn.Module, name: str = "torch") -> None:
        self.name = name
        self.bf16 = name == "torch-bf16"
        if self.bf16 and next(model.parameters()).device.type == "cpu":
            require_bf16(name)
        self.memory_format = torch.contiguous_format
        if name in ("torch-channels-last", "torch-bf16"):
            self.memory_format = torch.channels_last
            model = model.to(memory_format=torch.channels_last)
        self.run = torch.compile(model) if name == "torch-compile" else model

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, torch.bfloat16, enabled=self.bf16):
            logits = self.run(x.contiguous(memory_format=self.memory_format))
        return logits.float().contiguous()

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        return argmax_labels(self(x))


def eager_backend(
    name: str, model: nn.Module, channels: int, threads: int | None = None
) -> Backend:
    """Backend ``name`` for the eager ``model`` taking ``channels``-channel inputs.

    ``onnxruntime`` and ``openvino`` export the model to ONNX first, in memory (seconds
    to a minute); ``threads`` limits their threads (PyTorch's are set globally, by
    ``torch.set_num_threads``).
    """
    check_backend(name)
    if name.startswith("torch"):
        return TorchBackend(model, name)
    return export_runner(name, model, channels, threads)


def export_runner(
    name: str, model: nn.Module, channels: int, threads: int | None = None
) -> GraphRunner:
    """``model`` exported to ONNX in memory and loaded in runtime ``name`` (``onnxruntime``,
    ``openvino`` or ``openvino-bf16``) with at most ``threads`` threads (None: the
    runtime's default)."""
    for module in REQUIREMENTS[name]:
        require(module, f"the {name} backend")
    if name in BF16_BACKENDS:
        require_bf16(name)  # before the export's seconds, not after
    shape = InputShape.of(model, channels)
    onnx = to_onnx(capture(model, shape))
    if name == "onnxruntime":
        return OnnxRuntimeRunner(onnx, shape, threads)
    return OpenVinoRunner(read_onnx(onnx), shape, threads, name)


def load_runnable(
    path: str | Path, backend: str | None = None, threads: int | None = None
) -> tuple[nn.Module | ClassicalMethod | GraphRunner, Card]:
    """What a Segmenter runs, with its card, from a model, run or exported folder.

    A saved network comes back as its eager model (the Segmenter builds ``backend``
    over it), a classical method as itself, an exported graph as its checked runner on
    ``backend`` (default: its format's own).
    """
    folder = resolve_model_dir(path)
    card = read_any_card(folder)
    if isinstance(card, ClassicalCard):
        from pixelwise.classical.registry import load_method

        return load_method(folder, card), card
    if card.export is not None:
        if backend is not None:
            check_backend(backend)
        return open_exported(folder, card, backend, threads), card
    return load_model(folder)


def exported_backends(path: str | Path) -> tuple[str, ...]:
    """The backends the exported folder at ``path`` runs on (its format's, default first);
    a user error for any other folder."""
    folder = resolve_model_dir(path)
    card = read_any_card(folder)
    if isinstance(card, ClassicalCard) or card.export is None:
        raise PixelwiseError(f"'{folder}' is not an exported folder (pixelwise export writes one)")
    return read_record(folder, card).backends

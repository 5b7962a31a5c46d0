"""The precision and memory format a run trains in: ``auto`` resolved by measured rules.

``train.precision: auto`` (the default) becomes ``bf16-mixed`` where the hardware computes
bfloat16 natively and the network gains from it, ``32-true`` elsewhere:

- on a CUDA GPU that supports bfloat16 (``torch.cuda.is_bf16_supported()``): ``bf16-mixed``;
- on a CPU with bfloat16 dot-product instructions (AVX-512 BF16 or AMX,
  :func:`pixelwise.export.bfloat16.cpu_has_bf16`): ``bf16-mixed`` (measured: the U-Net
  trains 1.9× as fast as in float32 on this project's CPU, DeepLabV3+ over ResNet-18
  2.6×, SegNet-Basic 3.4×; ``benchmarks/training.py``). Grouped (depthwise)
  convolutions then compute in float32 (:mod:`pixelwise.engine.grouped`): oneDNN runs
  their backward pass no faster in bfloat16, and slower in channels-last, so LR-ASPP
  over MobileNetV3 trained no faster in bfloat16 than in float32 until they were kept in
  float32, while its dense and pointwise convolutions gain from bfloat16;
- anywhere else (no bfloat16 instructions, where it is emulated and slower): ``32-true``.

``train.memory_format: auto`` (the default) becomes ``channels_last`` for every network:
oneDNN's convolutions prefer it on the CPU (1.2–1.4× for each family measured, depthwise
convolutions included), as do tensor cores. ``contiguous`` keeps PyTorch's default layout.

:func:`training_network` puts a network in the layout and the per-layer precision that
a run's resolved settings say, with its grouped convolutions as they train fastest on the
CPU, for the engine and for the planner's timings alike.

The choice is made once, when a run starts, and written into its ``config.yaml`` (so a
resumed run trains as it began) and into its model card. Weights are saved in float32
and the contiguous layout whatever the run trained in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from pixelwise.config import RunConfig, TrainSection
from pixelwise.engine.grouped import train_grouped_convolutions_fast
from pixelwise.errors import PixelwiseError
from pixelwise.export.bfloat16 import cpu_has_bf16
from pixelwise.models import build_model

AUTO = "auto"
MEMORY_FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


@dataclass(frozen=True)
class Choice:
    """A resolved setting and the reason for it, in words."""

    value: str
    reason: str


def on_gpu(train: TrainSection) -> bool:
    """Whether ``train`` runs on a CUDA GPU (``auto`` takes one when there is one)."""
    if train.accelerator in ("gpu", "cuda"):
        return True
    return train.accelerator == AUTO and torch.cuda.is_available()


def has_grouped_convolutions(model: nn.Module) -> bool:
    """Whether ``model`` has a convolution with ``groups > 1`` (depthwise or grouped)."""
    return any(isinstance(m, nn.Conv2d) and m.groups > 1 for m in model.modules())


def resolve_precision(train: TrainSection, model: nn.Module) -> Choice:
    """``train.precision``, with ``auto`` resolved by the rules above."""
    if str(train.precision) != AUTO:
        if str(train.precision).startswith("16") and not on_gpu(train):
            raise PixelwiseError(
                f"precision {train.precision} (float16) is for GPUs; on the CPU Lightning "
                "would silently train in bfloat16: give bf16-mixed, or auto"
            )
        return Choice(str(train.precision), "as given")
    if on_gpu(train):
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return Choice("bf16-mixed", "this GPU computes in bfloat16")
        return Choice("32-true", "this GPU has no bfloat16")
    if not cpu_has_bf16():
        return Choice("32-true", "this CPU has no bfloat16 instructions: emulated, slower")
    if has_grouped_convolutions(model):
        return Choice(
            "bf16-mixed",
            "this CPU has bfloat16 instructions; its depthwise convolutions stay float32",
        )
    return Choice("bf16-mixed", "this CPU has bfloat16 instructions")


def resolve_memory_format(train: TrainSection) -> Choice:
    """``train.memory_format``, with ``auto`` resolved by the rules above."""
    if train.memory_format != AUTO:
        return Choice(train.memory_format, "as given")
    return Choice("channels_last", "the layout oneDNN and tensor cores prefer, measured faster")


def resolve_speed(config: RunConfig) -> tuple[RunConfig, dict[str, Choice]]:
    """``config`` with its precision and memory format resolved (a classical method's
    unchanged), and the choices with their reasons.

    The architecture is built on the ``meta`` device (no memory) to see its convolutions.
    """
    if config.method.name is not None:
        return config, {}
    model = config.model
    with torch.device("meta"):
        network = build_model(model.name, 2, encoder=model.encoder, **model.options)
    choices = {
        "precision": resolve_precision(config.train, network),
        "memory_format": resolve_memory_format(config.train),
    }
    train = replace(config.train, **{key: choice.value for key, choice in choices.items()})
    return replace(config, train=train), choices


def memory_format_of(name: str) -> torch.memory_format:
    """The ``torch.memory_format`` of a resolved ``train.memory_format``."""
    return MEMORY_FORMATS[name]


def is_bfloat16(precision: object) -> bool:
    """Whether a resolved precision (``bf16-mixed``, ``bf16-true``, ...) computes in bfloat16."""
    return str(precision).startswith("bf16")


def training_network(
    model: nn.Module, layout: torch.memory_format, on_cpu: bool, bfloat16: bool
) -> nn.Module:
    """``model`` (changed in place) in ``layout`` and, on the CPU, with its grouped
    convolutions as they train fastest there (:mod:`pixelwise.engine.grouped`: float32
    when the run computes in ``bfloat16``)."""
    model = model.to(memory_format=layout)
    if on_cpu:
        train_grouped_convolutions_fast(model, float32_under_bfloat16=bfloat16)
    return model

"""Small building blocks shared by the architectures: conv-norm-act, fusion, global average
pooling, size alignment."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pixelwise.errors import PixelwiseError

NORMS = ("batch", "none")
FUSIONS = ("concat", "sum")


def check_choice(kind: str, value: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; else raise an error naming both."""
    if value not in choices:
        raise PixelwiseError(f"unknown {kind} {value!r}; choose from: {', '.join(choices)}")
    return value


def _norm_act(channels: int, norm: str) -> list[nn.Module]:
    """BatchNorm (unless ``norm="none"``) followed by an in-place ReLU."""
    layers: list[nn.Module] = [nn.BatchNorm2d(channels)] if norm == "batch" else []
    return [*layers, nn.ReLU(inplace=True)]


class ConvNormAct(nn.Sequential):
    """Conv2d (same padding) -> BatchNorm (optional) -> ReLU.

    ``(N, in, H, W) -> (N, out, H/s, W/s)`` for stride ``s``. With ``separable=True``
    the convolution is depthwise-separable (MobileNet): a depthwise ``k×k`` convolution
    with its own norm and ReLU, then a pointwise 1×1 convolution to ``out`` channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        norm: str = "batch",
        separable: bool = False,
    ) -> None:
        check_choice("norm", norm, NORMS)
        conv = {
            "kernel_size": kernel_size,
            "stride": stride,
            "padding": dilation * (kernel_size - 1) // 2,
            "dilation": dilation,
            "bias": norm == "none",
        }
        layers: list[nn.Module]
        if separable and kernel_size > 1:
            layers = [
                nn.Conv2d(in_channels, in_channels, groups=in_channels, **conv),
                *_norm_act(in_channels, norm),
                nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=norm == "none"),
            ]
        else:
            layers = [nn.Conv2d(in_channels, out_channels, **conv)]
        super().__init__(*layers, *_norm_act(out_channels, norm))


class Fusion(nn.Module):
    """Merge a decoder map with a skip map of the same H×W.

    ``concat`` (skip connection): ``(N, a, H, W), (N, b, H, W) -> (N, a + b, H, W)``.
    ``sum`` (short-cut): both ``(N, a, H, W) -> (N, a, H, W)``.
    """

    def __init__(self, mode: str = "concat") -> None:
        super().__init__()
        self.mode = check_choice("fusion", mode, FUSIONS)

    def out_channels(self, decoder_channels: int, skip_channels: int) -> int:
        """Channel count of the fused map."""
        if self.mode == "concat":
            return decoder_channels + skip_channels
        if decoder_channels != skip_channels:
            raise ValueError(
                f"sum fusion needs equal channels, got {decoder_channels} and {skip_channels}"
            )
        return decoder_channels

    def forward(self, decoder: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.mode == "concat":
            return torch.cat([skip, decoder], dim=1)
        return decoder + skip


class GlobalAveragePool(nn.Module):
    """The mean over ``H×W``: ``(N, C, H, W) -> (N, C, 1, 1)``, as ``nn.AdaptiveAvgPool2d(1)``.

    Computed as the sum scaled by 1/(H·W), so that its gradient is the output's gradient
    broadcast over ``H×W`` (a view), which adds to the gradient from the input's other
    uses in that gradient's memory layout. The gradient of ``AdaptiveAvgPool2d(1)`` (and
    of ``mean``) is written out in the contiguous layout; in a channels-last network the
    additions and the batch-norm gradients after it then mix layouts, which PyTorch's CPU
    kernels run several times slower (measured: LR-ASPP's training step 4% faster with
    this pooling in its squeeze-and-excitation blocks and head).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum((2, 3), keepdim=True) / (x.shape[2] * x.shape[3])


def exporting() -> bool:
    """Whether ``torch.export`` is tracing the model now (never, on PyTorch without the flag)."""
    flag = getattr(torch.compiler, "is_exporting", None)
    return bool(flag is not None and flag())


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad ``(N, C, H, W)`` on the bottom and right so H and W divide by ``multiple``.

    It pads by zero pixels rather than branching when nothing is needed, so that an
    exported graph keeps H and W free instead of fixing whether they divide.
    """
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % multiple, 0, -h % multiple))


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop ``(N, C, H', W')`` back to the top-left ``size = (H, W)``."""
    return x[..., : size[0], : size[1]]


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize ``(N, C, h, w) -> (N, C, *size)`` (``align_corners=False``)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)

"""Upsampling by an integer factor, every variant selectable by name.

Every variant maps ``(N, in_channels, H, W) -> (N, out_channels, s·H, s·W)``:

- ``nearest``, ``bilinear``, ``bicubic``: fixed interpolation (``align_corners=False``);
- ``transposed``: a learned ``s×s`` transposed convolution with stride ``s`` (the U-Net
  paper's 2×2 "up-conv"); :func:`bilinear_transposed` is FCN's ``2s×2s`` variant
  initialised to bilinear interpolation;
- ``unpool``: max-unpooling, which puts each value back at the position its max-pooling
  took it from (SegNet). It needs the pooling indices, so only architectures that
  max-pool can offer it;
- ``bed_of_nails``: zero insertion, each value at the top-left of its ``s×s`` cell;
- ``pixel_shuffle``: a 1×1 convolution to ``s²·out`` channels rearranged into space.

Fixed variants change the channel count with a 1×1 convolution after upsampling
(before, for ``unpool``, whose indices belong to the pooled map's channels).

ONNX has no max-unpooling that follows sizes known only at run time, so while a model
is being exported (:func:`~pixelwise.models.blocks.exporting`) ``unpool`` is written as a
scatter (:func:`unpool_by_scatter`), which every exporter and runtime expresses at any
size; eager PyTorch keeps ``F.max_unpool2d``. Both give the same values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models.blocks import check_choice, exporting

UPSAMPLE_MODES = (
    "nearest",
    "bilinear",
    "bicubic",
    "transposed",
    "unpool",
    "bed_of_nails",
    "pixel_shuffle",
)


def bed_of_nails(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Zero insertion: ``(N, C, H, W) -> (N, C, s·H, s·W)``, ``x`` at every ``s``-th pixel."""
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, h * scale, w * scale)
    out[..., ::scale, ::scale] = x
    return out


def unpool_by_scatter(
    x: torch.Tensor, indices: torch.Tensor, output_size: tuple[int, int]
) -> torch.Tensor:
    """Max-unpooling as a scatter: ``x, indices (N, C, h, w) -> (N, C, *output_size)``.

    Each value of ``x`` goes to the flat position ``indices`` gives it within its own
    ``(n, c)`` plane of the output; every other position is zero. That is
    ``F.max_unpool2d`` element for element whenever no position is written twice, which
    holds for pooling windows that do not overlap (kernel = stride, as everywhere in
    pixelwise); where windows overlap, both write the last value.
    """
    n, c = x.shape[:2]
    height, width = output_size
    planes = x.new_zeros(n, c, height * width)
    planes = planes.scatter(2, indices.flatten(2), x.flatten(2))
    return planes.view(n, c, height, width)


def max_unpool2d(
    x: torch.Tensor,
    indices: torch.Tensor,
    scale: int,
    output_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """``F.max_unpool2d(x, indices, scale, output_size=...)``; a scatter while exporting.

    ``(N, C, h, w) -> (N, C, s·h, s·w)``, or ``output_size`` ``(H, W)`` when given.
    """
    if not exporting():
        return F.max_unpool2d(x, indices, scale, output_size=output_size)
    size = output_size or (x.shape[-2] * scale, x.shape[-1] * scale)
    return unpool_by_scatter(x, indices, (size[0], size[1]))


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """The ``(channels, channels, k, k)`` transposed-conv weight of bilinear upsampling.

    Channel-diagonal: each channel is upsampled on its own (FCN's initialisation).
    """
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(kernel_size, dtype=torch.float64) - centre).abs() / factor
    weight = torch.zeros(channels, channels, kernel_size, kernel_size, dtype=torch.float64)
    weight[range(channels), range(channels)] = torch.outer(taps, taps)
    return weight.float()


def bilinear_transposed(channels: int, scale: int) -> nn.ConvTranspose2d:
    """FCN's learnable upsampler: ``(N, C, H, W) -> (N, C, s·H, s·W)``.

    Kernel ``2s``, stride ``s``, padding ``s/2``, no bias, initialised to bilinear
    interpolation; away from the border it equals ``F.interpolate(mode="bilinear")``.
    """
    if scale % 2:
        raise ValueError(f"bilinear transposed upsampling needs an even scale, got {scale}")
    layer = nn.ConvTranspose2d(
        channels, channels, kernel_size=2 * scale, stride=scale, padding=scale // 2, bias=False
    )
    with torch.no_grad():
        layer.weight.copy_(bilinear_kernel(channels, 2 * scale))
    return layer


def _channel_change(in_channels: int, out_channels: int) -> nn.Module:
    if in_channels == out_channels:
        return nn.Identity()
    return nn.Conv2d(in_channels, out_channels, kernel_size=1)


class Upsample(nn.Module):
    """One upsampling variant; see the module docstring for the modes.

    ``forward(x (N, in, H, W), indices=None) -> (N, out, s·H, s·W)``. ``indices`` are
    the ``(N, out, s·H/s, s·W/s)`` indices from ``F.max_pool2d(..., return_indices=True)``
    and are used by ``unpool`` only; ``output_size`` (``(H', W')``) lets ``unpool`` undo
    a pooling whose input was not a multiple of ``s``.
    """

    def __init__(
        self,
        mode: str,
        in_channels: int,
        out_channels: int,
        *,
        scale: int = 2,
        has_indices: bool = False,
    ) -> None:
        super().__init__()
        self.mode = check_choice("upsample mode", mode, UPSAMPLE_MODES)
        if mode == "unpool" and not has_indices:
            raise PixelwiseError(
                "upsample 'unpool' needs max-pooling indices, which this architecture "
                "does not keep; use it with segnet, segnet_basic or the plain unet"
            )
        self.scale = scale
        self.pre: nn.Module = nn.Identity()
        self.post: nn.Module = nn.Identity()
        if mode == "transposed":
            self.core: nn.Module = nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size=scale, stride=scale
            )
        elif mode == "pixel_shuffle":
            self.core = nn.Sequential(
                nn.Conv2d(in_channels, out_channels * scale**2, kernel_size=1),
                nn.PixelShuffle(scale),
            )
        elif mode == "unpool":
            self.core = nn.Identity()
            self.pre = _channel_change(in_channels, out_channels)
        else:
            self.core = nn.Identity()
            self.post = _channel_change(in_channels, out_channels)

    def forward(
        self,
        x: torch.Tensor,
        indices: torch.Tensor | None = None,
        output_size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        x = self.pre(x)
        if self.mode == "unpool":
            if indices is None:
                raise ValueError("unpool needs the indices of the max-pooling it reverses")
            x = max_unpool2d(x, indices, self.scale, output_size)
        elif self.mode == "bed_of_nails":
            x = bed_of_nails(x, self.scale)
        elif self.mode in ("nearest", "bilinear", "bicubic"):
            align = None if self.mode == "nearest" else False
            x = F.interpolate(x, scale_factor=self.scale, mode=self.mode, align_corners=align)
        return self.post(self.core(x))


def make_upsample(
    mode: str, in_channels: int, out_channels: int, *, scale: int = 2, has_indices: bool = False
) -> Upsample:
    """Build an :class:`Upsample`; ``mode`` is one of :data:`UPSAMPLE_MODES`.

    ``has_indices`` says whether the caller will pass max-pooling indices; ``unpool``
    without them is a user error.
    """
    return Upsample(mode, in_channels, out_channels, scale=scale, has_indices=has_indices)

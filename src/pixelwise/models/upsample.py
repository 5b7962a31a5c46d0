"""Upsampling by a fixed factor, selectable by name.

Every variant maps ``(N, in_channels, H, W) -> (N, out_channels, s·H, s·W)``.
Interpolating modes change the channel count with a 1×1 convolution when needed;
``transposed`` learns the upsampling itself (the U-Net paper's 2×2 "up-conv").
"""

from __future__ import annotations

from torch import nn

from pixelwise.models.blocks import check_choice

UPSAMPLE_MODES = ("nearest", "bilinear", "bicubic", "transposed")


def make_upsample(mode: str, in_channels: int, out_channels: int, scale: int = 2) -> nn.Module:
    """Build an upsampling layer; ``mode`` is one of :data:`UPSAMPLE_MODES`."""
    check_choice("upsample mode", mode, UPSAMPLE_MODES)
    if mode == "transposed":
        return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=scale, stride=scale)
    align = None if mode == "nearest" else False
    layers: list[nn.Module] = [nn.Upsample(scale_factor=scale, mode=mode, align_corners=align)]
    if in_channels != out_channels:
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=1))
    return nn.Sequential(*layers)

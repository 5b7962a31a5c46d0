"""PSPNet (Zhao et al., 2017): a dilated encoder and the pyramid pooling module.

The encoder (ResNet-50 at output stride 8 by default) gives one deep map. The pyramid
pooling module average-pools it into ``bins`` × ``bins`` grids (1, 2, 3 and 6 by
default), reduces each grid to ``C / len(bins)`` channels with a 1×1 convolution,
upsamples each back bilinearly and concatenates them with the map: global and
sub-region context beside the local features. A 3×3 conv-norm-ReLU to ``channels``
(512), dropout 0.1 and a 1×1 classifier follow, and the logits are interpolated
bilinearly to the input size. Pooling is adaptive, so nothing is padded.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelwise.models.blocks import ConvNormAct, resize
from pixelwise.models.encoders import build_encoder
from pixelwise.models.registry import register

BINS = (1, 2, 3, 6)
DROPOUT = 0.1


def _branch(in_channels: int, out_channels: int, *, size: int) -> nn.Sequential:
    """``(N, in, H, W) -> (N, out, size, size)``: average-pool, then 1×1 conv-norm-ReLU."""
    norm = "none" if size == 1 else "batch"
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(size),
        ConvNormAct(in_channels, out_channels, kernel_size=1, norm=norm),
    )


class PyramidPooling(nn.Module):
    """Pyramid pooling: ``(N, C, H, W) -> (N, C + len(bins)·(C // len(bins)), H, W)``.

    Each branch is ``AdaptiveAvgPool2d(bin)`` -> 1×1 conv to ``C // len(bins)`` ->
    BatchNorm -> ReLU, upsampled bilinearly to ``H×W``; the input comes first in the
    concatenation. The 1×1 bin (global pooling) has no BatchNorm, its convolution a
    bias instead: with one value per channel and image, BatchNorm could not train on
    a batch of one image.
    """

    def __init__(self, in_channels: int, *, bins: tuple[int, ...] = BINS) -> None:
        super().__init__()
        branch = in_channels // len(bins)
        self.branches = nn.ModuleList(_branch(in_channels, branch, size=size) for size in bins)
        self.out_channels = in_channels + len(bins) * branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        return torch.cat([x, *(resize(branch(x), size) for branch in self.branches)], dim=1)


@register("pspnet", "PSPNet (Zhao 2017): dilated ResNet-50 (output stride 8), pyramid pooling")
class PSPNet(nn.Module):
    """PSPNet: ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits."""

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int = 3,
        encoder: str = "resnet50",
        output_stride: int = 8,
        bins: tuple[int, ...] = BINS,
        channels: int = 512,
        separable: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = build_encoder(encoder, output_stride=output_stride, in_channels=in_channels)
        self.pyramid = PyramidPooling(self.encoder.channels[-1], bins=tuple(bins))
        self.head = nn.Sequential(
            ConvNormAct(self.pyramid.out_channels, channels, separable=separable),
            nn.Dropout(DROPOUT),
            nn.Conv2d(channels, num_classes, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deepest = self.encoder(x)[-1]
        logits = self.head(self.pyramid(deepest))
        return resize(logits, x.shape[-2:])

"""PSPNet (Zhao et al., 2017): a dilated encoder and the pyramid pooling module.

The encoder (ResNet-50 at output stride 8 by default) gives one deep map. The pyramid
pooling module average-pools it into ``bins`` × ``bins`` grids (1, 2, 3 and 6 by
default), reduces each grid to ``C / len(bins)`` channels with a 1×1 convolution,
upsamples each back bilinearly and concatenates them with the map: global and
sub-region context beside the local features. A 3×3 conv-norm-ReLU to ``channels``
(512), dropout 0.1 and a 1×1 classifier follow, and the logits are interpolated
bilinearly to the input size. Pooling is adaptive, so nothing is padded.

Exporters turn adaptive pooling into fixed windows sized for the example input, which
gives wrong context at any other size. While a model is being exported
(:func:`~pixelwise.models.blocks.exporting`) each grid is therefore computed as two matrix
products with averaging matrices built from H and W (:func:`pool_by_matrices`);
eager PyTorch keeps ``F.adaptive_avg_pool2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixelwise.models.blocks import ConvNormAct, exporting, resize
from pixelwise.models.encoders import build_encoder
from pixelwise.models.registry import register

BINS = (1, 2, 3, 6)
DROPOUT = 0.1


def averaging_matrix(length: int, bins: int, like: torch.Tensor) -> torch.Tensor:
    """``(bins, length)``: row ``i`` averages positions ``floor(i·L/bins)`` to
    ``ceil((i+1)·L/bins) - 1``, the window of adaptive pooling (dtype and device of ``like``)."""
    rows = torch.arange(bins, device=like.device)[:, None]
    positions = torch.arange(length, device=like.device)[None, :]
    start = rows * length // bins
    stop = ((rows + 1) * length + bins - 1) // bins
    inside = ((positions >= start) & (positions < stop)).to(like.dtype)
    return inside / (stop - start).to(like.dtype)


def pool_by_matrices(x: torch.Tensor, bins: int) -> torch.Tensor:
    """Adaptive average pooling as ``A_H · x · A_Wᵀ``: ``(N, C, H, W) -> (N, C, bins, bins)``.

    Equal to ``F.adaptive_avg_pool2d(x, bins)`` up to float rounding, at any H and W.
    """
    height, width = x.shape[-2:]
    rows, columns = averaging_matrix(height, bins, x), averaging_matrix(width, bins, x)
    # one einsum, not two matmuls: their reshapes would tie the graph to the example's size
    return torch.einsum("ih,nchw,jw->ncij", rows, x, columns)


class AdaptiveAvgPool(nn.Module):
    """``F.adaptive_avg_pool2d(x, bins)``; :func:`pool_by_matrices` while exporting."""

    def __init__(self, bins: int) -> None:
        super().__init__()
        self.bins = bins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if exporting():
            return pool_by_matrices(x, self.bins)
        return F.adaptive_avg_pool2d(x, self.bins)


def _branch(in_channels: int, out_channels: int, *, size: int) -> nn.Sequential:
    """``(N, in, H, W) -> (N, out, size, size)``: average-pool, then 1×1 conv-norm-ReLU."""
    norm = "none" if size == 1 else "batch"
    return nn.Sequential(
        AdaptiveAvgPool(size), ConvNormAct(in_channels, out_channels, kernel_size=1, norm=norm)
    )


class PyramidPooling(nn.Module):
    """Pyramid pooling: ``(N, C, H, W) -> (N, C + len(bins)·(C // len(bins)), H, W)``.

    Each branch is adaptive average pooling to ``bin × bin`` -> 1×1 conv to ``C // len(bins)`` ->
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

"""FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer and Darrell, 2015).

The classifier's fully connected layers become convolutions over the encoder's map
of reduction 32 (VGG16's pool5): ``fc6`` (``fc_kernel``×``fc_kernel``, ``fc_width``
channels) and ``fc7`` (1×1), each followed by ReLU and dropout 0.5, then ``score_fr``
(1×1 to class scores). FCN-32s upsamples these scores 32× in one step. FCN-16s
upsamples them 2×, fuses the scores of a 1×1 convolution on the map of reduction 16
(pool4) and upsamples the result 16×; FCN-8s fuses the scores of the map of
reduction 8 (pool3) the same way before a final 8× step. The score layers on pool4
and pool3 start at zero (the paper's initialisation), so with ``sum`` fusion a finer
net starts from the coarser net's scores.

``upsample="transposed"`` gives the paper's up-samplers: transposed convolutions with
kernel ``2s`` initialised to bilinear interpolation, without bias. Any other mode of
:mod:`pixelwise.models.upsample` except ``unpool`` may replace them. ``fusion`` is
``sum`` (the paper's) or ``concat``, followed by a 1×1 convolution back to the class
count.

The paper's Caffe model pads the input by 100 pixels and crops the output, so that
fc6's 7×7 kernel fits small images. Here fc6 pads its input by ``fc_kernel // 2``
instead, and the input is zero-padded on the bottom/right to a multiple of the
encoder's largest reduction (32) and the logits are cropped back, so any H×W works.

Other encoders (``encoder="resnet50"``) get the same layers over their maps of
reductions 32, 16 and 8. fc6 has ``fc_kernel² · C · fc_width`` weights for a last map
of ``C`` channels (411M for ResNet-50's 2048 at the defaults), so large encoders want
a smaller ``fc_width`` and ``fc_kernel``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models.blocks import Fusion, crop_to, pad_to_multiple
from pixelwise.models.encoders import build_encoder
from pixelwise.models.encoders.base import Encoder
from pixelwise.models.registry import register
from pixelwise.models.upsample import bilinear_transposed, make_upsample

DROPOUT = 0.5
SKIP_REDUCTIONS = (32, 16, 8)


def _upsampler(mode: str, *, num_classes: int, scale: int) -> nn.Module:
    """``(N, K, H, W) -> (N, K, s·H, s·W)``; ``transposed`` is the paper's bilinear one."""
    if mode == "transposed":
        return bilinear_transposed(num_classes, scale)
    return make_upsample(mode, num_classes, num_classes, scale=scale)


def _map_index(encoder: Encoder, name: str, reduction: int) -> int:
    """Index of the encoder's map at ``reduction``; a user error if it has none."""
    if reduction not in encoder.reductions:
        raise PixelwiseError(
            f"encoder {name!r} has no map at reduction {reduction} (its reductions: "
            f"{', '.join(map(str, encoder.reductions))}); FCN needs 32, 16 and 8"
        )
    return encoder.reductions.index(reduction)


def _head(*, in_channels: int, num_classes: int, width: int, kernel_size: int) -> nn.Sequential:
    """fc6, fc7 and score_fr as convolutions: ``(N, in, H, W) -> (N, num_classes, H, W)``."""
    if kernel_size % 2 == 0:
        raise ValueError(f"fc_kernel must be odd, got {kernel_size}")
    return nn.Sequential(
        OrderedDict(
            fc6=nn.Conv2d(in_channels, width, kernel_size, padding=kernel_size // 2),
            relu6=nn.ReLU(inplace=True),
            drop6=nn.Dropout(DROPOUT),
            fc7=nn.Conv2d(width, width, 1),
            relu7=nn.ReLU(inplace=True),
            drop7=nn.Dropout(DROPOUT),
            score_fr=nn.Conv2d(width, num_classes, 1),
        )
    )


class SkipScores(nn.Module):
    """Upsample coarse scores 2× and fuse the scores of a finer encoder map.

    ``coarse (N, K, H, W)``, ``features (N, C, 2H, 2W) -> (N, K, 2H, 2W)``. The 1×1
    score layer on ``features`` starts at zero.
    """

    def __init__(self, *, channels: int, num_classes: int, upsample: str, fusion: str) -> None:
        super().__init__()
        self.score = nn.Conv2d(channels, num_classes, 1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)
        self.up = _upsampler(upsample, num_classes=num_classes, scale=2)
        self.fuse = Fusion(fusion)
        fused = self.fuse.out_channels(num_classes, num_classes)
        self.merge = nn.Identity() if fused == num_classes else nn.Conv2d(fused, num_classes, 1)

    def forward(self, coarse: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.merge(self.fuse(self.up(coarse), self.score(features)))


class FCN(nn.Module):
    """FCN whose finest skip has reduction ``skip_reduction`` (32, 16 or 8; set by subclasses).

    ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits.
    """

    skip_reduction: int

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int = 3,
        encoder: str = "vgg16",
        fc_width: int = 4096,
        fc_kernel: int = 7,
        upsample: str = "transposed",
        fusion: str = "sum",
    ) -> None:
        super().__init__()
        self.encoder = build_encoder(encoder, output_stride=32, in_channels=in_channels)
        used = [r for r in SKIP_REDUCTIONS if r >= self.skip_reduction]
        self.levels = [_map_index(self.encoder, encoder, r) for r in used]
        channels = [self.encoder.channels[i] for i in self.levels]
        self.head = _head(
            in_channels=channels[0], num_classes=num_classes, width=fc_width, kernel_size=fc_kernel
        )
        self.skips = nn.ModuleList(
            SkipScores(channels=c, num_classes=num_classes, upsample=upsample, fusion=fusion)
            for c in channels[1:]
        )
        self.upscore = _upsampler(upsample, num_classes=num_classes, scale=self.skip_reduction)
        self.multiple = max(self.encoder.reductions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2], x.shape[-1])
        maps = self.encoder(pad_to_multiple(x, self.multiple))
        scores = self.head(maps[self.levels[0]])
        for skip, level in zip(self.skips, self.levels[1:], strict=True):
            scores = skip(scores, maps[level])
        return crop_to(self.upscore(scores), size)


@register("fcn32s", "FCN-32s (Long 2015): VGG16 with convolutional fc layers, 32× upsampling")
class FCN32s(FCN):
    """FCN-32s: the scores of the reduction-32 map upsampled 32× in one step."""

    skip_reduction = 32


@register("fcn16s", "FCN-16s (Long 2015): FCN-32s plus pool4 scores, then 16× upsampling")
class FCN16s(FCN):
    """FCN-16s: scores upsampled 2×, fused with pool4's, then upsampled 16×."""

    skip_reduction = 16


@register("fcn8s", "FCN-8s (Long 2015): FCN-16s plus pool3 scores, then 8× upsampling")
class FCN8s(FCN):
    """FCN-8s: as FCN-16s, then 2×, fused with pool3's scores, then upsampled 8×."""

    skip_reduction = 8

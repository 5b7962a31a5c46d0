"""Sliding-window patch classifier (after Ciresan et al., 2012): the baseline FCNs replaced.

A small CNN labels the centre pixel of a ``k×k`` window (``k = patch_size``): two
blocks of (5×5 valid convolution, ReLU, 3×3 max-pooling with stride 2), then a
"fully connected" layer, a valid ``f×f`` convolution covering what is left of the
window, with ReLU, and a 1×1 convolution to class scores.

A 5×5 valid convolution and a 3×3/2 pooling map a side of ``n`` to ``(n - 5) / 2``;
this must be a whole number at both blocks, so ``k = 2·(2f + 5) + 5 = 4f + 15`` with
``f ≥ 1``: 19, 23, 27, 31 (``f = 4``, the default), 35, …

:meth:`PatchClassifier.classify_patches` is the patch form, ``(N, C, k, k) -> (N, K)``.
``forward`` is the equivalent dense form with the same weights: over the input padded
by ``k // 2`` on each side, pooling has stride 1 and every later convolution and
pooling is dilated by the stride accumulated so far (2, then 4). That yields at every
pixel exactly the scores of the window centred there, in one pass and without the
repeated work of sliding the window.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixelwise.models.blocks import check_choice
from pixelwise.models.registry import register

PADDING_MODES = ("reflect", "zeros")
CONV, POOL = 5, 3  # kernel sizes; pooling has stride 2 in the patch form


def fc_size(patch_size: int) -> int:
    """Side ``f`` of the window the "fully connected" layer covers: ``(k - 15) / 4``."""
    f, rest = divmod(patch_size - 15, 4)
    if rest or f < 1:
        valid = ", ".join(str(4 * f + 15) for f in range(1, 8))
        raise ValueError(
            f"patch_size {patch_size} does not divide into the layers; valid sizes are "
            f"4·f + 15 for f ≥ 1: {valid}, …"
        )
    return f


def pad(x: torch.Tensor, amount: int, mode: str) -> torch.Tensor:
    """Pad ``(N, C, H, W)`` by ``amount`` on every side -> ``(N, C, H + 2a, W + 2a)``.

    ``zeros`` pads with 0. ``reflect`` mirrors at the border without repeating the edge
    pixel, again and again while the image is smaller than ``amount``; a side of one
    pixel is repeated.
    """
    if mode == "zeros":
        return F.pad(x, (amount,) * 4)
    for dim in (-1, -2):
        left = amount
        while left:
            size = x.shape[dim]
            step = min(left, size - 1) if size > 1 else left
            sides = (step, step, 0, 0) if dim == -1 else (0, 0, step, step)
            x = F.pad(x, sides, mode="reflect" if size > 1 else "replicate")
            left -= step
    return x


class PatchClassifier(nn.Module):
    """Labels each pixel from the ``patch_size``² window centred on it.

    ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits; ``padding_mode`` fills
    the windows of pixels near the border.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int = 3,
        width: int = 32,
        hidden: int = 128,
        patch_size: int = 31,
        padding_mode: str = "reflect",
    ) -> None:
        super().__init__()
        self.padding_mode = check_choice("padding mode", padding_mode, PADDING_MODES)
        self.patch_size = patch_size
        self.convs = nn.ModuleList(
            [nn.Conv2d(in_channels, width, CONV), nn.Conv2d(width, width, CONV)]
        )
        self.fc = nn.Conv2d(width, hidden, fc_size(patch_size))
        self.classifier = nn.Conv2d(hidden, num_classes, 1)

    def _scores(self, x: torch.Tensor, dense: bool) -> torch.Tensor:
        """Patch form (``dense=False``, pooling stride 2) or dense form (stride 1, dilated).

        ``(N, C, k + h - 1, k + w - 1) -> (N, num_classes, h, w)`` in both forms; the
        patch form is meant for ``h = w = 1``.
        """
        stride, growth = (1, 2) if dense else (2, 1)
        dilation = 1
        for conv in self.convs:
            x = F.relu(F.conv2d(x, conv.weight, conv.bias, dilation=dilation))
            x = F.max_pool2d(x, POOL, stride=stride, dilation=dilation)
            dilation *= growth
        x = F.relu(F.conv2d(x, self.fc.weight, self.fc.bias, dilation=dilation))
        return self.classifier(x)

    def classify_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """Scores of each patch's centre pixel: ``(N, C, k, k) -> (N, num_classes)``."""
        k = self.patch_size
        if tuple(patches.shape[-2:]) != (k, k):
            raise ValueError(f"patches must be {k}×{k}, got {tuple(patches.shape[-2:])}")
        return self._scores(patches, dense=False).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._scores(pad(x, self.patch_size // 2, self.padding_mode), dense=True)


register("patch", "Sliding-window patch classifier (Ciresan 2012): 31×31 window per pixel")(
    PatchClassifier
)

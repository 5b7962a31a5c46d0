"""U-Net (Ronneberger et al., 2015) with same padding.

The paper's network is ``depth=4`` levels down and up from ``base_width=64``
channels (64-128-256-512-1024), two 3×3 convolutions per level, 2×2 max-pooling,
2×2 up-convolutions that halve the channels, and skip connections by concatenation.
Unlike the paper, convolutions use same padding, so the output has the input's
size; BatchNorm after each convolution is on by default (``norm="none"`` drops it).
Any H×W is accepted: the input is padded to a multiple of ``2**depth`` inside
and the logits are cropped back.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelwise.models.blocks import ConvNormAct, Fusion, crop_to, pad_to_multiple
from pixelwise.models.registry import register
from pixelwise.models.upsample import make_upsample


class DoubleConv(nn.Sequential):
    """Two 3×3 conv-norm-ReLU layers: ``(N, in, H, W) -> (N, out, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int, norm: str) -> None:
        super().__init__(
            ConvNormAct(in_channels, out_channels, norm=norm),
            ConvNormAct(out_channels, out_channels, norm=norm),
        )


class UpBlock(nn.Module):
    """Upsample ×2 to the skip's width, fuse with the skip, then a DoubleConv."""

    def __init__(self, in_channels: int, skip_channels: int, upsample: str, fusion: str, norm: str):
        super().__init__()
        self.up = make_upsample(upsample, in_channels, skip_channels)
        self.fuse = Fusion(fusion)
        self.conv = DoubleConv(
            self.fuse.out_channels(skip_channels, skip_channels), skip_channels, norm
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``x (N, in, H, W)``, ``skip (N, skip, 2H, 2W) -> (N, skip, 2H, 2W)``."""
        return self.conv(self.fuse(self.up(x), skip))


class UNet(nn.Module):
    """U-Net: ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        base_width: int = 64,
        depth: int = 4,
        upsample: str = "transposed",
        fusion: str = "concat",
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if depth < 1 or base_width < 1:
            raise ValueError(f"depth and base_width must be positive, got {depth} and {base_width}")
        widths = [base_width * 2**level for level in range(depth + 1)]
        self.multiple = 2**depth
        self.stem = DoubleConv(in_channels, widths[0], norm)
        self.pool = nn.MaxPool2d(2)
        self.down = nn.ModuleList(DoubleConv(widths[i], widths[i + 1], norm) for i in range(depth))
        self.up = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], upsample, fusion, norm)
            for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2], x.shape[-1])
        x = self.stem(pad_to_multiple(x, self.multiple))
        skips = [x]
        for block in self.down:
            x = block(self.pool(x))
            skips.append(x)
        skips.pop()
        for block in self.up:
            x = block(x, skips.pop())
        return crop_to(self.head(x), size)


register("unet", "U-Net (Ronneberger 2015): 4 down/4 up levels, base width 64, same padding")(UNet)

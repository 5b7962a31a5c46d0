"""U-Net (Ronneberger et al., 2015) with same padding, and U-Net over any encoder.

The paper's network is ``depth=4`` levels down and up from ``base_width=64``
channels (64-128-256-512-1024), two 3×3 convolutions per level, 2×2 max-pooling,
2×2 up-convolutions that halve the channels, and skip connections by concatenation.
Unlike the paper, convolutions use same padding, so the output has the input's
size; BatchNorm after each convolution is on by default (``norm="none"`` drops it).
Any H×W is accepted: the input is padded to a multiple of ``2**depth`` inside
and the logits are cropped back.

With ``encoder=`` (e.g. ``"resnet34"``) that encoder is the contracting path. The
decoder walks its maps from deep to shallow: each block upsamples by the ratio of
the two maps' reductions, fuses the shallower map, and applies two 3×3 conv-norm-ReLU
layers of width ``decoder_channels[i]``; a last block without a skip upsamples to
full resolution before the 1×1 classifier. Between maps of equal reduction (a dilated
encoder, ``output_stride`` 16 or 8) nothing is upsampled. ``unpool`` is not available
there, since encoders keep no pooling indices. The input is padded to a multiple of
the encoder's largest reduction inside.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from pixelwise.models.blocks import ConvNormAct, Fusion, crop_to, pad_to_multiple
from pixelwise.models.encoders import Encoder, build_encoder
from pixelwise.models.registry import register
from pixelwise.models.upsample import make_upsample

BASE_WIDTH, DEPTH = 64, 4
OUTPUT_STRIDE, DECODER_CHANNELS = 32, (256, 128, 64, 32, 16)


class DoubleConv(nn.Sequential):
    """Two 3×3 conv-norm-ReLU layers: ``(N, in, H, W) -> (N, out, H, W)``."""

    def __init__(
        self, in_channels: int, out_channels: int, *, norm: str, separable: bool = False
    ) -> None:
        super().__init__(
            ConvNormAct(in_channels, out_channels, norm=norm, separable=separable),
            ConvNormAct(out_channels, out_channels, norm=norm, separable=separable),
        )


class UpBlock(nn.Module):
    """Upsample ×``scale``, fuse with the skip, then a DoubleConv to ``out_channels``.

    ``scale=1`` upsamples nothing (the map keeps its ``in_channels``); ``skip_channels=0``
    means there is no skip. For ``sum`` fusion a skip whose channel count differs from
    the upsampled map's is first projected by a 1×1 convolution.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        upsample: str,
        fusion: str,
        norm: str,
        separable: bool = False,
        scale: int = 2,
        has_indices: bool = False,
    ) -> None:
        super().__init__()
        up_channels = out_channels if scale > 1 else in_channels
        self.up = (
            make_upsample(upsample, in_channels, out_channels, scale=scale, has_indices=has_indices)
            if scale > 1
            else None
        )
        self.fuse = Fusion(fusion)
        summed = self.fuse.mode == "sum"
        self.project: nn.Module = nn.Identity()
        if summed and skip_channels not in (0, up_channels):
            self.project = nn.Conv2d(skip_channels, up_channels, kernel_size=1)
        skip_out = up_channels if summed else skip_channels
        fused = self.fuse.out_channels(up_channels, skip_out) if skip_channels else up_channels
        self.conv = DoubleConv(fused, out_channels, norm=norm, separable=separable)

    def forward(
        self,
        x: torch.Tensor,
        skip: torch.Tensor | None = None,
        indices: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x (N, in, H, W)``, ``skip (N, skip, sH, sW) -> (N, out, sH, sW)``.

        ``indices (N, out, H, W)`` are those of the max-pooling that ``unpool`` reverses.
        """
        if self.up is not None:
            x = self.up(x, indices)
        if skip is not None:
            x = self.fuse(x, self.project(skip))
        return self.conv(x)


class UNet(nn.Module):
    """The paper's U-Net: ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits."""

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int = 3,
        base_width: int = BASE_WIDTH,
        depth: int = DEPTH,
        upsample: str = "transposed",
        fusion: str = "concat",
        norm: str = "batch",
        separable: bool = False,
    ) -> None:
        super().__init__()
        widths = [base_width * 2**level for level in range(depth + 1)]
        self.multiple = 2**depth
        convs = {"norm": norm, "separable": separable}
        self.stem = DoubleConv(in_channels, widths[0], **convs)
        self.down = nn.ModuleList(
            DoubleConv(widths[i], widths[i + 1], **convs) for i in range(depth)
        )
        block = {"upsample": upsample, "fusion": fusion, **convs}
        self.up = nn.ModuleList(
            UpBlock(
                in_channels=widths[i + 1],
                skip_channels=widths[i],
                out_channels=widths[i],
                has_indices=True,
                **block,
            )
            for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2], x.shape[-1])
        x = self.stem(pad_to_multiple(x, self.multiple))
        skips, pool_indices = [], []
        for block in self.down:
            skips.append(x)
            x, indices = F.max_pool2d(x, 2, return_indices=True)
            pool_indices.append(indices)
            x = block(x)
        for block in self.up:
            x = block(x, skips.pop(), pool_indices.pop())
        return crop_to(self.head(x), size)


class EncoderUNet(nn.Module):
    """A U-Net decoder over ``encoder``: ``(N, C_in, H, W) -> (N, num_classes, H, W)`` logits.

    ``decoder_channels`` gives one width per encoder map, deepest block first.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        encoder: Encoder,
        decoder_channels: tuple[int, ...] = DECODER_CHANNELS,
        upsample: str = "transposed",
        fusion: str = "concat",
        norm: str = "batch",
        separable: bool = False,
    ) -> None:
        super().__init__()
        channels, reductions = encoder.channels, encoder.reductions
        if len(decoder_channels) != len(channels):
            raise ValueError(
                f"decoder_channels needs one width per encoder map ({len(channels)}), "
                f"got {list(decoder_channels)}"
            )
        self.encoder = encoder
        self.multiple = max(reductions)
        ins = (channels[-1], *decoder_channels[:-1])
        skips = (*reversed(channels[:-1]), 0)
        deep_first = reductions[::-1]
        scales = (*(deep // shallow for deep, shallow in pairwise(deep_first)), deep_first[-1])
        block = {"upsample": upsample, "fusion": fusion, "norm": norm, "separable": separable}
        self.decoder = nn.ModuleList(
            UpBlock(in_channels=cin, skip_channels=skip, out_channels=cout, scale=scale, **block)
            for cin, skip, cout, scale in zip(ins, skips, decoder_channels, scales, strict=True)
        )
        self.head = nn.Conv2d(decoder_channels[-1], num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2], x.shape[-1])
        maps = self.encoder(pad_to_multiple(x, self.multiple))
        x = maps.pop()
        for block in self.decoder:
            x = block(x, maps.pop() if maps else None)
        return crop_to(self.head(x), size)


def _check_path_options(encoder: str | None, paper_changed: bool, encoder_changed: bool) -> None:
    """Reject options that the chosen path (paper network or encoder) would ignore."""
    if encoder is None and encoder_changed:
        raise ValueError("output_stride and decoder_channels apply only with an encoder")
    if encoder is not None and paper_changed:
        raise ValueError(f"base_width and depth apply only without an encoder (got {encoder!r})")


@register("unet", "U-Net (Ronneberger 2015), same padding; or a U-Net decoder over any encoder")
def build_unet(
    *,
    num_classes: int,
    in_channels: int = 3,
    base_width: int = BASE_WIDTH,
    depth: int = DEPTH,
    upsample: str = "transposed",
    fusion: str = "concat",
    norm: str = "batch",
    separable: bool = False,
    encoder: str | None = None,
    output_stride: int = OUTPUT_STRIDE,
    decoder_channels: tuple[int, ...] = DECODER_CHANNELS,
) -> nn.Module:
    """The paper's U-Net when ``encoder`` is None, else an :class:`EncoderUNet`.

    ``base_width`` and ``depth`` shape the paper's network; ``output_stride`` and
    ``decoder_channels`` the encoder one.
    """
    decoder_channels = tuple(decoder_channels)
    _check_path_options(
        encoder,
        paper_changed=(base_width, depth) != (BASE_WIDTH, DEPTH),
        encoder_changed=(output_stride, decoder_channels) != (OUTPUT_STRIDE, DECODER_CHANNELS),
    )
    blocks = {"upsample": upsample, "fusion": fusion, "norm": norm, "separable": separable}
    if encoder is None:
        return UNet(
            num_classes=num_classes,
            in_channels=in_channels,
            base_width=base_width,
            depth=depth,
            **blocks,
        )
    return EncoderUNet(
        num_classes=num_classes,
        encoder=build_encoder(encoder, output_stride=output_stride, in_channels=in_channels),
        decoder_channels=decoder_channels,
        **blocks,
    )

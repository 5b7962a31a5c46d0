"""SegNet and SegNet-Basic (Badrinarayanan, Kendall and Cipolla, 2017).

The encoder max-pools keeping the indices of each maximum; the decoder mirrors it,
and each of its levels upsamples by max-unpooling with the indices of the matching
pooling (values go back to where their maxima came from, the rest is zero), then
convolves. No feature maps cross from encoder to decoder, only the indices.

``segnet``: the encoder is VGG16-BN's 13 convolutions (``encoder="vgg16_bn"``;
``"vgg16"`` has no BatchNorm in the encoder), with torchvision's ``state_dict`` keys
under ``encoder.``, so ImageNet VGG weights load into it. The decoder mirrors each
encoder convolution ``a → b`` as a 3×3 ``b → a`` convolution, BatchNorm and ReLU,
level by level (3, 3, 3, 2, 2 convolutions on 512, 512, 256, 128, 64 channels), except
that the mirror of the first encoder convolution is the classifier: a 3×3 convolution
from 64 channels to class scores, as the Caffe model's ``conv1_1_D``.

``segnet_basic``: ``depth`` encoder levels of (``kernel_size``×``kernel_size``
convolution to ``width`` channels, BatchNorm, ReLU, 2×2 max-pooling); each decoder
level unpools, then applies a convolution and BatchNorm without ReLU, as in the
paper and its Caffe model; a 1×1 convolution gives the class scores. (That Caffe
model also applies local response normalisation to the input; here the data
pipeline normalises the input instead.)

Convolutions followed by BatchNorm have no bias. ``upsample`` may be any mode of
:mod:`pixelwise.models.upsample`; ``separable`` makes the decoder's convolutions
depthwise-separable. The input is zero-padded on the bottom/right to a multiple of
``2**levels`` inside and the logits are cropped back, so every pooling halves its
input exactly (small inputs would otherwise pool away to nothing, and modes other
than ``unpool`` can only double sizes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models.blocks import ConvNormAct, crop_to, pad_to_multiple
from pixelwise.models.encoders import build_encoder
from pixelwise.models.registry import register
from pixelwise.models.upsample import make_upsample

VGG_ENCODERS = ("vgg16_bn", "vgg16")


def encode(features: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``features`` on ``(N, C, H, W)``, applying each ``MaxPool2d`` with indices.

    Returns the last map and, for each pooling in order, the ``(N, C_i, H_i/2, W_i/2)``
    indices of its maxima in its ``(H_i, W_i)`` input.
    """
    poolings = []
    for layer in features:
        if isinstance(layer, nn.MaxPool2d):
            x, indices = F.max_pool2d(
                x,
                layer.kernel_size,
                layer.stride,
                layer.padding,
                layer.dilation,
                layer.ceil_mode,
                return_indices=True,
            )
            poolings.append(indices)
        else:
            x = layer(x)
    return x, poolings


class DecoderLevel(nn.Module):
    """Upsample 2× (unpooling with the matching pooling's indices), then ``convs``.

    ``(N, channels, H, W)`` with ``indices (N, channels, H, W)`` -> ``convs`` applied to
    ``(N, channels, 2H, 2W)``.
    """

    def __init__(self, channels: int, *, convs: nn.Module, upsample: str) -> None:
        super().__init__()
        self.up = make_upsample(upsample, channels, channels, has_indices=True)
        self.convs = convs

    def forward(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return self.convs(self.up(x, indices))


class SegNet(nn.Module):
    """``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits.

    ``encoder.features`` is run with pooling indices (see :func:`encode`); ``decoder``
    has one :class:`DecoderLevel` per pooling, deepest first; ``classifier`` maps the
    last decoder map to class scores.
    """

    def __init__(
        self, *, encoder: nn.Module, decoder: list[DecoderLevel], classifier: nn.Module
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = nn.ModuleList(decoder)
        self.classifier = classifier
        self.multiple = 2 ** len(decoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2], x.shape[-1])
        x, poolings = encode(self.encoder.features, pad_to_multiple(x, self.multiple))
        for level, indices in zip(self.decoder, reversed(poolings), strict=True):
            x = level(x, indices)
        return crop_to(self.classifier(x), size)


def _mirrored_convs(features: nn.Sequential) -> list[list[tuple[int, int, int]]]:
    """The decoder's ``(in, out, kernel)`` per pooling level, deepest level first.

    Each level lists the encoder's convolutions before that pooling in reverse, with
    their input and output channels swapped.
    """
    levels: list[list[tuple[int, int, int]]] = []
    convs: list[tuple[int, int, int]] = []
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            convs.insert(0, (layer.out_channels, layer.in_channels, layer.kernel_size[0]))
        elif isinstance(layer, nn.MaxPool2d):
            levels.insert(0, convs)
            convs = []
    return levels


@register("segnet", "SegNet (Badrinarayanan 2017): VGG16-BN encoder, decoder unpools with indices")
def segnet(
    *,
    num_classes: int,
    in_channels: int = 3,
    encoder: str = "vgg16_bn",
    upsample: str = "unpool",
    separable: bool = False,
) -> SegNet:
    """SegNet over a VGG16(-BN) encoder; see the module docstring."""
    if encoder not in VGG_ENCODERS:
        raise PixelwiseError(
            f"segnet mirrors a VGG encoder's pooling, so encoder {encoder!r} does not fit; "
            f"choose from: {', '.join(VGG_ENCODERS)}"
        )
    vgg = build_encoder(encoder, in_channels=in_channels)
    levels = _mirrored_convs(vgg.features)
    width, _, kernel_size = levels[-1].pop()  # the first encoder conv's mirror classifies
    decoder = [
        DecoderLevel(
            level[0][0],
            convs=nn.Sequential(
                *(ConvNormAct(a, b, kernel_size=k, separable=separable) for a, b, k in level)
            ),
            upsample=upsample,
        )
        for level in levels
    ]
    classifier = nn.Conv2d(width, num_classes, kernel_size, padding=kernel_size // 2)
    return SegNet(encoder=vgg, decoder=decoder, classifier=classifier)


class BasicEncoder(nn.Module):
    """SegNet-Basic's encoder: ``features`` is ``depth`` × (conv, BN, ReLU; 2×2 max-pool).

    ``(N, in_channels, H, W) -> (N, width, H/2**depth, W/2**depth)``.
    """

    def __init__(self, *, in_channels: int, width: int, kernel_size: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for level in range(depth):
            layers += [
                ConvNormAct(in_channels if level == 0 else width, width, kernel_size=kernel_size),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*layers)


def _conv_norm(channels: int, *, kernel_size: int, separable: bool) -> nn.Sequential:
    """A :class:`ConvNormAct` without its final ReLU: ``(N, C, H, W) -> (N, C, H, W)``."""
    block = ConvNormAct(channels, channels, kernel_size=kernel_size, separable=separable)
    return nn.Sequential(*list(block)[:-1])


@register("segnet_basic", "SegNet-Basic (Badrinarayanan 2017): 4 levels of 64 7×7 filters")
def segnet_basic(
    *,
    num_classes: int,
    in_channels: int = 3,
    width: int = 64,
    kernel_size: int = 7,
    depth: int = 4,
    upsample: str = "unpool",
    separable: bool = False,
) -> SegNet:
    """SegNet-Basic; see the module docstring."""
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    encoder = BasicEncoder(
        in_channels=in_channels, width=width, kernel_size=kernel_size, depth=depth
    )
    decoder = [
        DecoderLevel(
            width,
            convs=_conv_norm(width, kernel_size=kernel_size, separable=separable),
            upsample=upsample,
        )
        for _ in range(depth)
    ]
    classifier = nn.Conv2d(width, num_classes, 1)
    return SegNet(encoder=encoder, decoder=decoder, classifier=classifier)

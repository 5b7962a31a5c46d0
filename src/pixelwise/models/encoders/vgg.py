"""VGG16 and VGG16-BN (Simonyan & Zisserman, 2015), configuration "D", as torchvision builds it.

``features`` holds thirteen 3×3 convolutions (each followed by BatchNorm for
``vgg16_bn``, then ReLU) and five 2×2 max-pools; the maps are the pool outputs
(reductions 2, 4, 8, 16, 32; channels 64, 128, 256, 512, 512). A 2×2 pool floors
odd sizes, as torchvision does: 33 -> 16 -> 8 -> 4 -> 2 -> 1.

For ``output_stride`` 16 (8), pool5 (pool4 and pool5) become 3×3 max-pools with
stride 1 and padding 1, and the convolutions after a replaced pool are dilated
(2, then 4), as in DeepLab v1. Pools hold no parameters, so ``state_dict`` keys
stay those of torchvision's ``vgg16``/``vgg16_bn`` without ``classifier.*``.
"""

from __future__ import annotations

from torch import nn

from pixelwise.models.encoders.base import SequentialEncoder, dilate, init_weights, reductions

POOL = "M"
# Configuration "D": the widths of the 3×3 convolutions, stage by stage; each stage ends in a pool.
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
VGG16 = tuple(item for stage in VGG16_STAGES for item in (*stage, POOL))


def _conv_layers(
    in_channels: int, out_channels: int, *, dilation: int, batch_norm: bool
) -> list[nn.Module]:
    """3×3 conv (same padding) [-> BatchNorm] -> ReLU: ``(N, in, H, W) -> (N, out, H, W)``."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation)
    norm = [nn.BatchNorm2d(out_channels)] if batch_norm else []
    return [conv, *norm, nn.ReLU(inplace=True)]


def _pool(stride: int) -> nn.MaxPool2d:
    """The 2×2/2 pool, or the 3×3/1 pool (padding 1) that replaces it under dilation."""
    if stride == 1:
        return nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
    return nn.MaxPool2d(kernel_size=2, stride=2)


class VGGEncoder(SequentialEncoder):
    """VGG16(-BN) features: ``(N, in_channels, H, W)`` -> 5 maps, the outputs of pool1..pool5."""

    first_conv = "features.0"
    head_prefixes = ("classifier.",)

    def __init__(
        self, *, batch_norm: bool = False, output_stride: int = 32, in_channels: int = 3
    ) -> None:
        super().__init__()
        strides = [2 if v == POOL else 1 for v in VGG16]
        layers: list[nn.Module] = []
        taps: list[int] = []
        channels = in_channels
        for v, (stride, dilation) in zip(VGG16, dilate(strides, output_stride), strict=True):
            if v == POOL:
                layers.append(_pool(stride))
                taps.append(len(layers) - 1)
            else:
                layers += _conv_layers(channels, v, dilation=dilation, batch_norm=batch_norm)
                channels = v
        self.features = nn.Sequential(*layers)
        self.taps = tuple(taps)
        self.channels = (64, 128, 256, 512, 512)
        self.reductions = reductions(output_stride)
        self.output_stride = output_stride
        self.in_channels = in_channels
        init_weights(self)

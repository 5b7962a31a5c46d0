"""MobileNetV2 (Sandler et al., 2018) and MobileNetV3-Large (Howard et al., 2019), as torchvision.

Both are a stem convolution, inverted-residual blocks (1×1 expand, depthwise
k×k, optional squeeze-and-excitation, linear 1×1 project) and a final 1×1
convolution, all in one ``features`` Sequential. The maps are the outputs of the
last block at each resolution (reductions 2, 4, 8, 16, 32); the last map is
``features(x)``. Strided convolutions round odd sizes up: 33 -> 17 -> 9 -> 5 -> 3 -> 2.

``output_stride`` 16 follows torchvision's ``mobilenet_v3_large(dilated=True)``:
every block of the last stride-2 stage gets stride 1 and dilation 2 (depthwise
padding scaled by the dilation). ``output_stride`` 8 does the same to the
stage before it too, with dilations 2 then 4.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import nn

from pixelwise.models.blocks import GlobalAveragePool
from pixelwise.models.encoders.base import SequentialEncoder, dilate, init_weights, reductions

Norm = Callable[[int], nn.Module]
Activation = Callable[..., nn.Module]

# MobileNetV3 uses a slower-moving BatchNorm than the default.
V3_NORM: Norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)

# MobileNetV2: expansion t, output channels c, repeats n, stride s of the first repeat.
V2_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

# MobileNetV3-Large: kernel, expanded channels, output channels, SE, activation, stride.
V3_LARGE_SETTING = (
    (3, 16, 16, False, nn.ReLU, 1),
    (3, 64, 24, False, nn.ReLU, 2),
    (3, 72, 24, False, nn.ReLU, 1),
    (5, 72, 40, True, nn.ReLU, 2),
    (5, 120, 40, True, nn.ReLU, 1),
    (5, 120, 40, True, nn.ReLU, 1),
    (3, 240, 80, False, nn.Hardswish, 2),
    (3, 200, 80, False, nn.Hardswish, 1),
    (3, 184, 80, False, nn.Hardswish, 1),
    (3, 184, 80, False, nn.Hardswish, 1),
    (3, 480, 112, True, nn.Hardswish, 1),
    (3, 672, 112, True, nn.Hardswish, 1),
    (5, 672, 160, True, nn.Hardswish, 2),
    (5, 960, 160, True, nn.Hardswish, 1),
    (5, 960, 160, True, nn.Hardswish, 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10% down."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ConvBNAct(nn.Sequential):
    """Conv (no bias, same padding) -> BatchNorm [-> activation].

    ``(N, in, H, W) -> (N, out, H/s, W/s)``; padding is ``(k - 1) // 2 · dilation``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        activation: Activation | None = nn.ReLU6,
        norm: Norm = nn.BatchNorm2d,
    ) -> None:
        padding = (kernel_size - 1) // 2 * dilation
        conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=False,
        )
        act = [] if activation is None else [activation(inplace=True)]
        super().__init__(conv, norm(out_channels), *act)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """Channel gating: ``x · hardsigmoid(fc2(relu(fc1(mean_HW(x)))))``, shape-preserving."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = GlobalAveragePool()
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


def depthwise_stride(stride: int, dilation: int) -> int:
    """A dilated block keeps the resolution: its stride becomes 1."""
    return 1 if dilation > 1 else stride


class InvertedResidualV2(nn.Module):
    """MobileNetV2 block (ReLU6): ``(N, inp, H, W) -> (N, oup, H/s, W/s)``.

    Residual when the nominal stride is 1 and ``inp == oup``.
    """

    def __init__(
        self, inp: int, oup: int, *, stride: int, dilation: int, expand_ratio: int
    ) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        expand = [ConvBNAct(inp, hidden, kernel_size=1)] if expand_ratio != 1 else []
        self.conv = nn.Sequential(
            *expand,
            ConvBNAct(
                hidden,
                hidden,
                stride=depthwise_stride(stride, dilation),
                dilation=dilation,
                groups=hidden,
            ),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        )
        self.use_res_connect = stride == 1 and inp == oup
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.use_res_connect:
            out += x
        return out


class InvertedResidualV3(nn.Module):
    """MobileNetV3 block: ``(N, inp, H, W) -> (N, out, H/s, W/s)``.

    Residual when the nominal stride is 1 and ``inp == out``.
    """

    def __init__(
        self,
        inp: int,
        *,
        setting: tuple[int, int, int, bool, Activation, int],
        dilation: int,
    ) -> None:
        super().__init__()
        kernel, expanded, out, use_se, act, stride = setting
        layers: list[nn.Module] = []
        if expanded != inp:
            layers.append(ConvBNAct(inp, expanded, kernel_size=1, activation=act, norm=V3_NORM))
        layers.append(
            ConvBNAct(
                expanded,
                expanded,
                kernel_size=kernel,
                stride=depthwise_stride(stride, dilation),
                dilation=dilation,
                groups=expanded,
                activation=act,
                norm=V3_NORM,
            )
        )
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4)))
        layers.append(ConvBNAct(expanded, out, kernel_size=1, activation=None, norm=V3_NORM))
        self.block = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and inp == out
        self.out_channels = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out += x
        return out


class MobileNetEncoder(SequentialEncoder):
    """A MobileNet ``features`` Sequential: ``(N, in_channels, H, W)`` -> 5 maps.

    ``stage_starts`` are the indices of the layers where the resolution drops
    (stride 2 before dilation), starting with the stem at 0. Each layer exposes
    ``out_channels``.
    """

    first_conv = "features.0.0"
    head_prefixes = ("classifier.",)

    def __init__(
        self,
        *,
        layers: Sequence[nn.Module],
        strides: Sequence[int],
        output_stride: int,
        in_channels: int,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(*layers)
        self.stage_starts = tuple(i for i, stride in enumerate(strides) if stride == 2)
        self.taps = (*(i - 1 for i in self.stage_starts[1:]), len(layers) - 1)
        self.channels = tuple(self.features[i].out_channels for i in self.taps)
        self.reductions = reductions(output_stride)
        self.output_stride = output_stride
        self.in_channels = in_channels
        init_weights(self)


def mobilenet_v2(*, output_stride: int = 32, in_channels: int = 3) -> MobileNetEncoder:
    """MobileNetV2 (width 1.0): 19 layers; channels (16, 24, 32, 96, 1280)."""
    blocks = [(t, c, s if i == 0 else 1) for t, c, n, s in V2_SETTING for i in range(n)]
    strides = [2, *(s for _, _, s in blocks), 1]
    dilations = [d for _, d in dilate(strides, output_stride)]
    layers: list[nn.Module] = [ConvBNAct(in_channels, 32, stride=2)]
    inp = 32
    for (t, c, s), d in zip(blocks, dilations[1:-1], strict=True):
        layers.append(InvertedResidualV2(inp, c, stride=s, dilation=d, expand_ratio=t))
        inp = c
    layers.append(ConvBNAct(inp, 1280, kernel_size=1))
    return MobileNetEncoder(
        layers=layers, strides=strides, output_stride=output_stride, in_channels=in_channels
    )


def mobilenet_v3_large(*, output_stride: int = 32, in_channels: int = 3) -> MobileNetEncoder:
    """MobileNetV3-Large: 17 layers; channels (16, 24, 40, 112, 960)."""
    strides = [2, *(setting[-1] for setting in V3_LARGE_SETTING), 1]
    dilations = [d for _, d in dilate(strides, output_stride)]
    layers: list[nn.Module] = [
        ConvBNAct(in_channels, 16, stride=2, activation=nn.Hardswish, norm=V3_NORM)
    ]
    inp = 16
    for setting, d in zip(V3_LARGE_SETTING, dilations[1:-1], strict=True):
        layers.append(InvertedResidualV3(inp, setting=setting, dilation=d))
        inp = setting[2]
    layers.append(ConvBNAct(inp, 960, kernel_size=1, activation=nn.Hardswish, norm=V3_NORM))
    return MobileNetEncoder(
        layers=layers, strides=strides, output_stride=output_stride, in_channels=in_channels
    )

"""ResNet-18/34/50/101 (He et al., 2016) as torchvision builds them (v1.5: stride on the 3×3).

Maps: ``relu(bn1(conv1(x)))`` (reduction 2), then ``layer1`` (after the max-pool,
4), ``layer2`` (8), ``layer3`` (16), ``layer4`` (32). Every stride-2 layer rounds
odd sizes up: 33 -> 17 -> 9 -> 5 -> 3 -> 2.

``output_stride`` 16 and 8 follow torchvision's ``replace_stride_with_dilation``
(``[False, False, True]`` and ``[False, True, True]``): a dilated layer has stride 1,
its first block keeps the previous dilation on its first 3×3 convolution and the
other 3×3 convolutions use the layer's new one. torchvision itself only supports
this for the bottleneck networks (50, 101); the basic blocks of 18 and 34 follow
the same rule (as timm's ResNet does).
"""

from __future__ import annotations

import torch
from torch import nn

from pixelwise.models.encoders.base import Encoder, dilate, init_weights, reductions


def conv3x3(in_planes: int, out_planes: int, *, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3×3 convolution without bias, padded to keep the size (at stride 1)."""
    return nn.Conv2d(
        in_planes, out_planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
    )


def conv1x1(in_planes: int, out_planes: int, *, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions plus the identity: ``(N, inplanes, H, W) -> (N, planes, H/s, W/s)``.

    ``conv1`` (which carries the stride) uses ``first_dilation``, ``conv2`` ``dilation``.
    """

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        *,
        stride: int = 1,
        downsample: nn.Module | None = None,
        first_dilation: int = 1,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride=stride, dilation=first_dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, dilation=dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3, 1×1 expand (×4) plus the identity.

    ``(N, inplanes, H, W) -> (N, 4·planes, H/s, W/s)``. The 3×3 convolution carries
    the stride and uses ``first_dilation``; ``dilation`` is accepted for a common
    block signature and has nothing more to dilate here.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        *,
        stride: int = 1,
        downsample: nn.Module | None = None,
        first_dilation: int = 1,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride=stride, dilation=first_dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


Block = type[BasicBlock] | type[Bottleneck]


def make_layer(
    block: Block,
    *,
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int,
    dilations: tuple[int, int],
) -> nn.Sequential:
    """A stage of ``blocks`` blocks; ``dilations`` = (before this stage, within it).

    ``(N, inplanes, H, W) -> (N, planes·expansion, H/stride, W/stride)``.
    """
    previous, dilation = dilations
    out_planes = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out_planes:
        downsample = nn.Sequential(
            conv1x1(inplanes, out_planes, stride=stride), nn.BatchNorm2d(out_planes)
        )
    layers = [
        block(
            inplanes,
            planes,
            stride=stride,
            downsample=downsample,
            first_dilation=previous,
            dilation=dilation,
        )
    ]
    layers += [
        block(out_planes, planes, first_dilation=dilation, dilation=dilation)
        for _ in range(1, blocks)
    ]
    return nn.Sequential(*layers)


class ResNetEncoder(Encoder):
    """ResNet body: ``(N, in_channels, H, W)`` -> 5 maps (stem, layer1..layer4)."""

    first_conv = "conv1"
    head_prefixes = ("fc.",)

    def __init__(
        self,
        *,
        block: Block,
        depths: tuple[int, int, int, int],
        output_stride: int = 32,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        # conv1, maxpool, then the four stages: only layer2..layer4 may trade stride for dilation
        schedule = dilate((2, 2, 1, 2, 2, 2), output_stride)
        inplanes = 64
        for i, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
            stride, dilation = schedule[i + 2]
            previous = schedule[i + 1][1]
            layer = make_layer(
                block,
                inplanes=inplanes,
                planes=planes,
                blocks=depth,
                stride=stride,
                dilations=(previous, dilation),
            )
            self.add_module(f"layer{i + 1}", layer)
            inplanes = planes * block.expansion
        self.channels = (64, *(planes * block.expansion for planes in (64, 128, 256, 512)))
        self.reductions = reductions(output_stride)
        self.output_stride = output_stride
        self.in_channels = in_channels
        init_weights(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(N, in_channels, H, W)`` -> maps at reductions ``self.reductions``."""
        stem = self.relu(self.bn1(self.conv1(x)))
        maps = [stem]
        x = self.maxpool(stem)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            maps.append(x)
        return maps


def resnet18(*, output_stride: int = 32, in_channels: int = 3) -> ResNetEncoder:
    """ResNet-18: basic blocks (2, 2, 2, 2); channels (64, 64, 128, 256, 512)."""
    return ResNetEncoder(
        block=BasicBlock, depths=(2, 2, 2, 2), output_stride=output_stride, in_channels=in_channels
    )


def resnet34(*, output_stride: int = 32, in_channels: int = 3) -> ResNetEncoder:
    """ResNet-34: basic blocks (3, 4, 6, 3); channels (64, 64, 128, 256, 512)."""
    return ResNetEncoder(
        block=BasicBlock, depths=(3, 4, 6, 3), output_stride=output_stride, in_channels=in_channels
    )


def resnet50(*, output_stride: int = 32, in_channels: int = 3) -> ResNetEncoder:
    """ResNet-50: bottlenecks (3, 4, 6, 3); channels (64, 256, 512, 1024, 2048)."""
    return ResNetEncoder(
        block=Bottleneck, depths=(3, 4, 6, 3), output_stride=output_stride, in_channels=in_channels
    )


def resnet101(*, output_stride: int = 32, in_channels: int = 3) -> ResNetEncoder:
    """ResNet-101: bottlenecks (3, 4, 23, 3); channels (64, 256, 512, 1024, 2048)."""
    return ResNetEncoder(
        block=Bottleneck, depths=(3, 4, 23, 3), output_stride=output_stride, in_channels=in_channels
    )

"""The encoder interface and the helpers its implementations share.

An encoder maps ``(N, in_channels, H, W)`` to a list of feature maps, shallow to
deep. Its layers and ``state_dict`` keys mirror a torchvision classifier without
the classifier head, so torchvision checkpoint files load into it unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from pixelwise.errors import PixelwiseError

OUTPUT_STRIDES = (8, 16, 32)


class Encoder(nn.Module):
    """Base class: ``forward(x (N, in_channels, H, W)) -> [(N, channels[i], H_i, W_i), ...]``.

    Attributes every encoder sets:

    - ``channels``: channel count of each map, shallow to deep;
    - ``reductions``: stride of each map with respect to the input, after dilation;
    - ``output_stride``: the largest reduction;
    - ``in_channels``: channels of the input image.

    Encoders that load torchvision checkpoints also name their first convolution
    (``first_conv``, a module path) and the ``state_dict`` prefixes of the classifier
    head that they leave out (``head_prefixes``).
    """

    channels: tuple[int, ...]
    reductions: tuple[int, ...]
    output_stride: int
    in_channels: int
    first_conv: str = ""
    head_prefixes: tuple[str, ...] = ()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError


class SequentialEncoder(Encoder):
    """An encoder whose body is one ``nn.Sequential`` named ``features``.

    Its maps are the outputs of ``features[i]`` for ``i`` in ``taps``.
    """

    features: nn.Sequential
    taps: tuple[int, ...]

    def forward_blocks(self, x: torch.Tensor, indices: Sequence[int]) -> list[torch.Tensor]:
        """Outputs after ``features[i]`` for each ``i`` in ``indices`` (ascending).

        ``(N, in_channels, H, W) -> [(N, C_i, H_i, W_i), ...]``; layers after the
        last requested index are not run.
        """
        wanted = set(indices)
        outputs = []
        for i, layer in enumerate(self.features[: max(indices) + 1]):
            x = layer(x)
            if i in wanted:
                outputs.append(x)
        return outputs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(N, in_channels, H, W)`` -> one map per entry of ``taps``, shallow to deep."""
        return self.forward_blocks(x, self.taps)


def check_output_stride(output_stride: int) -> int:
    """Return ``output_stride`` if it is 8, 16 or 32; else raise a user error."""
    if output_stride not in OUTPUT_STRIDES:
        choices = ", ".join(map(str, OUTPUT_STRIDES))
        raise PixelwiseError(f"unsupported output_stride {output_stride!r}; choose from: {choices}")
    return output_stride


def check_in_channels(in_channels: int) -> int:
    """Return ``in_channels`` if it is a positive integer; else raise a user error."""
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise PixelwiseError(f"in_channels must be a positive integer, got {in_channels!r}")
    return in_channels


def dilate(strides: Sequence[int], output_stride: int) -> list[tuple[int, int]]:
    """Trade strides for dilation so the network's total stride stops at ``output_stride``.

    ``strides`` are the nominal strides (1 or 2) of a chain of layers. Returns each
    layer's ``(stride, dilation)``: once the running stride has reached
    ``output_stride``, a stride-2 layer becomes stride 1 and doubles the dilation,
    which applies to it and to every layer after it.
    """
    reduction, dilation, result = 1, 1, []
    for stride in strides:
        if stride > 1 and reduction >= output_stride:
            dilation *= stride
            stride = 1
        reduction *= stride
        result.append((stride, dilation))
    return result


def reductions(output_stride: int, levels: int = 5) -> tuple[int, ...]:
    """Reductions of ``levels`` maps that halve in turn until ``output_stride``: (2, 4, …)."""
    return tuple(min(2 ** (level + 1), output_stride) for level in range(levels))


def adapt_input_weight(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Adapt a first-conv weight ``(O, 3, k, k)`` for RGB to ``(O, in_channels, k, k)``.

    One channel gets the sum of the RGB filters, so a gray image gives the same
    response as that image repeated into R, G and B. Any other count repeats the
    RGB filters cyclically (R, G, B, R, …) and scales them by ``3 / in_channels``,
    so the filters' total weight stays about that of the RGB ones (exactly, when
    ``in_channels`` is a multiple of 3). This is timm's ``adapt_input_conv``
    convention.
    """
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = math.ceil(in_channels / weight.shape[1])
    tiled = weight.repeat(1, repeats, 1, 1)[:, :in_channels]
    return tiled * (weight.shape[1] / in_channels)


def init_weights(module: nn.Module) -> None:
    """torchvision's initialisation: He-normal (fan-out) convs, unit BatchNorm, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

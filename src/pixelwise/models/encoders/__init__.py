"""Encoders: the feature extractors that encoder-decoder architectures build on.

``build_encoder(name, weights=None, output_stride=32, in_channels=3)`` returns an
:class:`Encoder`: ``(N, in_channels, H, W)`` -> a list of feature maps, shallow to
deep, described by ``.channels`` and ``.reductions``. The built-in encoders
(:data:`ENCODERS`) are written here and keep the ``state_dict`` layout of
torchvision's classifiers (without the head), so torchvision checkpoint files
load into them; ``timm:<name>`` wraps a timm model when timm is installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

from pixelwise.errors import PixelwiseError
from pixelwise.models.encoders.base import Encoder, check_in_channels, check_output_stride
from pixelwise.models.encoders.mobilenet import mobilenet_v2, mobilenet_v3_large
from pixelwise.models.encoders.resnet import resnet18, resnet34, resnet50, resnet101
from pixelwise.models.encoders.timm import PREFIX as TIMM_PREFIX
from pixelwise.models.encoders.timm import build_timm_encoder
from pixelwise.models.encoders.vgg import VGGEncoder
from pixelwise.models.encoders.weights import check_weights_spec, load_encoder_weights

_BUILDERS: dict[str, Callable[..., Encoder]] = {
    "vgg16": partial(VGGEncoder, batch_norm=False),
    "vgg16_bn": partial(VGGEncoder, batch_norm=True),
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet101": resnet101,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_large": mobilenet_v3_large,
}
ENCODERS = tuple(_BUILDERS)


def list_encoders() -> list[str]:
    """The built-in encoder names; ``timm:<name>`` is accepted too when timm is installed."""
    return list(ENCODERS)


def build_encoder(
    name: str,
    weights: str | os.PathLike | None = None,
    output_stride: int = 32,
    in_channels: int = 3,
) -> Encoder:
    """Build encoder ``name``: ``(N, in_channels, H, W)`` -> feature maps, shallow to deep.

    ``weights``: None (random initialisation), a path to a torchvision-format
    state dict (``.pth``/``.pt``/``.safetensors``), or ``"imagenet"``.
    ``output_stride`` (8, 16 or 32) is reached by dilating the last stages.
    ``in_channels != 3`` adapts the first convolution, reusing the RGB filters
    when weights are loaded.
    """
    check_output_stride(output_stride)
    check_in_channels(in_channels)
    check_weights_spec(weights)
    if name.startswith(TIMM_PREFIX):
        return build_timm_encoder(
            name[len(TIMM_PREFIX) :],
            weights=weights,
            output_stride=output_stride,
            in_channels=in_channels,
        )
    if name not in _BUILDERS:
        raise PixelwiseError(
            f"unknown encoder {name!r}; choose from: {', '.join(ENCODERS)}, or {TIMM_PREFIX}<name>"
        )
    encoder = _BUILDERS[name](output_stride=output_stride, in_channels=in_channels)
    if weights is not None:
        load_encoder_weights(encoder, name, weights)
    return encoder


__all__ = ["ENCODERS", "Encoder", "build_encoder", "list_encoders"]

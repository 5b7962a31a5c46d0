"""Any timm model as an encoder: ``timm:<name>``, when the optional timm package is installed.

The model is ``timm.create_model(name, features_only=True, in_chans=...,
output_stride=...)``; its ``feature_info`` gives the channels and reductions (how
many maps there are depends on the model). ``weights`` is None or a path to the
state dict of timm's classifier ``timm.create_model(name)`` (``.pth``/``.pt`` or
``.safetensors``): its head is dropped, every other key and shape must match, and
timm adapts the RGB filters of the first convolution to ``in_channels`` (sum for
one channel, else cyclic repeat scaled by ``3 / in_channels``).
"""

from __future__ import annotations

import os
from types import ModuleType

import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models.encoders.base import Encoder
from pixelwise.models.encoders.weights import IMAGENET, WeightsSpec, drop_head
from pixelwise.models.weights_file import StateDict, check_fit, read_weights, shapes

PREFIX = "timm:"
INSTALL_HINT = 'pip install "pixelwise[timm]"'


def import_timm() -> ModuleType:
    """The timm module, or a user error saying how to install it."""
    try:
        import timm
    except ImportError:
        raise PixelwiseError(f"timm encoders need the timm package: {INSTALL_HINT}") from None
    return timm


class TimmEncoder(Encoder):
    """A timm ``features_only`` model: ``(N, in_channels, H, W)`` -> its feature maps."""

    def __init__(self, model: nn.Module, *, in_channels: int) -> None:
        super().__init__()
        self.model = model
        self.channels = tuple(model.feature_info.channels())
        self.reductions = tuple(model.feature_info.reduction())
        self.output_stride = max(self.reductions)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(N, in_channels, H, W)`` -> maps at ``self.reductions``, shallow to deep."""
        return list(self.model(x))


def _checked_state(timm: ModuleType, name: str, weights: str | os.PathLike) -> StateDict:
    """The classifier state dict in ``weights``, checked against ``timm.create_model(name)``."""
    state = read_weights(weights)
    reference = timm.create_model(name, pretrained=False)
    head = reference.pretrained_cfg.get("classifier") or ()
    prefixes = tuple(f"{h}." for h in ((head,) if isinstance(head, str) else head))
    check_fit(
        shapes(drop_head(state, prefixes)),
        shapes(drop_head(reference.state_dict(), prefixes)),
        source=str(weights),
        target=f"encoder 'timm:{name}'",
    )
    return state


def build_timm_encoder(
    name: str, *, weights: WeightsSpec, output_stride: int, in_channels: int
) -> TimmEncoder:
    """Build ``timm:<name>``; ``output_stride`` must be one the model supports."""
    timm = import_timm()
    if not timm.is_model(name):
        raise PixelwiseError(f"unknown timm model {name!r}; timm.list_models() lists the names")
    if weights == IMAGENET:
        raise PixelwiseError(
            f"weights={IMAGENET!r} is for the built-in encoders; for timm:{name} "
            "pass a path to the timm classifier's state dict"
        )
    options: dict = {"in_chans": in_channels, "pretrained": False}
    if output_stride != 32:
        options["output_stride"] = output_stride
    if weights is not None:
        state = _checked_state(timm, name, weights)
        options.update(
            pretrained=True, pretrained_cfg_overlay={"source": None, "state_dict": state}
        )
    try:
        model = timm.create_model(name, features_only=True, **options)
        encoder = TimmEncoder(model, in_channels=in_channels)
    except TypeError as err:
        raise PixelwiseError(f"timm model {name!r} cannot be built as an encoder: {err}") from None
    if encoder.output_stride != output_stride:
        raise PixelwiseError(
            f"timm model {name!r} does not support output_stride {output_stride} "
            f"(its maps reach {encoder.output_stride})"
        )
    return encoder

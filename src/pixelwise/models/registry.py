"""Architecture names -> builders, and ``build_model``, the one way models are made."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from pixelwise.errors import PixelwiseError

Builder = Callable[..., nn.Module]
_MODELS: dict[str, tuple[Builder, str]] = {}


def register(name: str, description: str) -> Callable[[Builder], Builder]:
    """Decorator: make ``builder`` available to :func:`build_model` as ``name``."""

    def add(builder: Builder) -> Builder:
        _MODELS[name] = (builder, description)
        return builder

    return add


def _load_architectures() -> None:
    """Import the architecture modules, which register themselves."""
    from pixelwise.models import (  # noqa: F401
        deeplab,
        fcn,
        lraspp,
        patch,
        pspnet,
        segnet,
        unet,
    )


def list_models() -> dict[str, str]:
    """Registered architecture names, sorted, each with a one-line description."""
    _load_architectures()
    return {name: _MODELS[name][1] for name in sorted(_MODELS)}


def list_encoders() -> list[str]:
    """Names accepted as ``encoder=``; ``timm:<name>`` is accepted too when timm is installed."""
    from pixelwise.models.encoders import list_encoders as encoder_names

    return encoder_names()


def check_model_name(name: str) -> None:
    """Raise a user error unless ``name`` is a registered architecture."""
    models = list_models()
    if name not in models:
        raise PixelwiseError(f"unknown model {name!r}; choose from: {', '.join(models)}")


def _builder(name: str) -> Builder:
    check_model_name(name)
    return _MODELS[name][0]


def _check_encoder(name: str, encoder: str | None, builder: Builder) -> None:
    if encoder is None:
        return
    if encoder not in list_encoders() and not encoder.startswith("timm:"):
        available = ", ".join(list_encoders())
        raise PixelwiseError(f"unknown encoder {encoder!r}; choose from: {available}, timm:<name>")
    if "encoder" not in inspect.signature(builder).parameters:
        raise PixelwiseError(f"model {name!r} does not take an encoder")


def resolve_config(name: str, num_classes: int, in_channels: int = 3, **options: Any) -> dict:
    """The complete keyword set, defaults filled in, that :func:`build_model` would use."""
    builder = _builder(name)
    signature = inspect.signature(builder)
    try:
        bound = signature.bind(num_classes=num_classes, in_channels=in_channels, **options)
    except TypeError:
        unknown = sorted(set(options) - set(signature.parameters))
        valid = ", ".join(
            p for p in signature.parameters if p not in ("num_classes", "in_channels")
        )
        raise PixelwiseError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}; options: {valid}"
        ) from None
    bound.apply_defaults()
    return {"name": name, **bound.arguments}


def build_model(
    name: str,
    num_classes: int,
    in_channels: int = 3,
    encoder: str | None = None,
    weights: str | Path | None = None,
    **options: Any,
) -> nn.Module:
    """Build architecture ``name``.

    Float ``(N, in_channels, H, W)`` in, logits ``(N, num_classes, H, W)`` out.

    Logits come back at the input's own size for any H and W. ``model.config`` is
    the dict that rebuilds the same model: ``build_model(**model.config)``.
    ``weights`` is a full-model state dict to load: a pixelwise ``model.safetensors``
    or a torchvision-format ``.pth`` (see :mod:`pixelwise.models.pretrained`).
    """
    builder = _builder(name)
    _check_encoder(name, encoder, builder)
    if encoder is not None:
        options["encoder"] = encoder
    config = resolve_config(name, num_classes, in_channels, **options)
    try:
        model = builder(**{k: v for k, v in config.items() if k != "name"})
    except ValueError as err:
        raise PixelwiseError(f"model {name!r}: {err}") from None
    model.config = config
    if weights is not None:
        from pixelwise.models.pretrained import load_model_weights

        load_model_weights(model, weights)
    return model

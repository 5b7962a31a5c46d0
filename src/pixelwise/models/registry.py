"""Architecture names -> builders, and ``build_model``, the one way models are made.

An architecture registers its builder with :func:`register`: a model class, or a
function that returns a model. Registering makes the builder record, on every model it
builds, ``model.config``: the architecture's name and every argument, defaults filled
in, so that ``build_model(**model.config)`` rebuilds the same model however the model
was made (``build_model``, the class itself, on any device).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models.options import check_bounds, check_parameter_count

Builder = Callable[..., nn.Module]
_MODELS: dict[str, tuple[Builder, str]] = {}


def register(name: str, description: str) -> Callable[[Builder], Builder]:
    """Decorator: make ``builder`` available to :func:`build_model` as ``name``.

    A class is returned with its ``__init__`` recording ``config``; a function is
    returned wrapped so that the model it returns records it.
    """

    def add(builder: Builder) -> Builder:
        recording = _recording(name, builder)
        _MODELS[name] = (recording, description)
        return recording

    return add


def _recording(name: str, builder: Builder) -> Builder:
    """``builder``, changed so that each model it builds gets ``config`` (see the module doc)."""
    signature = inspect.signature(builder)

    def config(args: tuple, kwargs: dict) -> dict[str, Any]:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return {"name": name, **bound.arguments}

    if isinstance(builder, type):
        init = builder.__init__

        @functools.wraps(init)
        def recording_init(self: nn.Module, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            self.config = config(args, kwargs)

        builder.__init__ = recording_init
        return builder

    @functools.wraps(builder)
    def recording_builder(*args: Any, **kwargs: Any) -> nn.Module:
        model = builder(*args, **kwargs)
        model.config = config(args, kwargs)
        return model

    return recording_builder


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


def _check_option_names(name: str, builder: Builder, arguments: dict[str, Any]) -> None:
    """Raise one user error naming every option ``builder`` does not take, and the valid ones."""
    parameters = inspect.signature(builder).parameters
    unknown = [key for key in arguments if key not in parameters]
    if unknown:
        valid = ", ".join(p for p in parameters if p not in ("num_classes", "in_channels"))
        raise PixelwiseError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}; options: {valid}"
        )


def _construct(name: str, builder: Builder, arguments: dict[str, Any]) -> nn.Module:
    """``builder(**arguments)``, refused before any memory is taken if it would be too large.

    The model is first built on the ``meta`` device (shapes only) to count its
    parameters; when the caller is on the ``meta`` device already, that is the model.
    """
    where = f"model {name!r}: "
    try:
        with torch.device("meta"):
            skeleton = builder(**arguments)
        check_parameter_count(skeleton, where)
        if torch.get_default_device().type == "meta":
            return skeleton
        return builder(**arguments)
    except ValueError as err:
        raise PixelwiseError(f"{where}{err}") from None


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
    the dict that rebuilds the same model: ``build_model(**model.config)``. Unknown
    options, and size options outside :data:`pixelwise.models.options.BOUNDS`, are
    user errors, as is a model of more than ``MAX_PARAMETERS`` parameters.
    ``weights`` is a full-model state dict to load: a pixelwise ``model.safetensors``
    or a torchvision-format ``.pth`` (see :mod:`pixelwise.models.pretrained`).
    """
    builder = _builder(name)
    _check_encoder(name, encoder, builder)
    if encoder is not None:
        options["encoder"] = encoder
    arguments = {"num_classes": num_classes, "in_channels": in_channels, **options}
    _check_option_names(name, builder, arguments)
    check_bounds(arguments, f"model {name!r}: ")
    model = _construct(name, builder, arguments)
    if weights is not None:
        from pixelwise.models.pretrained import load_model_weights

        load_model_weights(model, weights)
    return model

"""Encoder weights: torchvision-format state dicts from a file, or torchvision's ImageNet files.

``weights`` is a path to a ``.pth``/``.pt`` or ``.safetensors`` file (read by
:mod:`pixelwise.models.weights_file`), or ``"imagenet"``: torchvision's
``IMAGENET1K_V1`` file for the encoder, fetched once through ``torch.hub`` into
``torch.hub.get_dir()/checkpoints/`` and read from there afterwards.

The classifier head's keys (``fc.*``, ``classifier.*``) are dropped; every other
key and shape must match the encoder exactly. With ``in_channels != 3`` the RGB
filters of the first convolution are adapted (see ``base.adapt_input_weight``).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.models.encoders.base import Encoder, adapt_input_weight
from pixelwise.models.weights_file import StateDict, check_fit, read_weights, shapes, unwrap

WeightsSpec = str | os.PathLike | None

IMAGENET = "imagenet"
_TORCHVISION = "https://download.pytorch.org/models/"
IMAGENET_URLS = {
    "vgg16": _TORCHVISION + "vgg16-397923af.pth",
    "vgg16_bn": _TORCHVISION + "vgg16_bn-6c64b313.pth",
    "resnet18": _TORCHVISION + "resnet18-f37072fd.pth",
    "resnet34": _TORCHVISION + "resnet34-b627a593.pth",
    "resnet50": _TORCHVISION + "resnet50-0676ba61.pth",
    "resnet101": _TORCHVISION + "resnet101-63fe2227.pth",
    "mobilenet_v2": _TORCHVISION + "mobilenet_v2-b0353104.pth",
    "mobilenet_v3_large": _TORCHVISION + "mobilenet_v3_large-8738ca79.pth",
}


def check_weights_spec(weights: WeightsSpec) -> None:
    """Raise a user error unless ``weights`` is None, ``"imagenet"`` or a path."""
    if weights is not None and not isinstance(weights, str | os.PathLike):
        raise PixelwiseError(
            f"weights must be None, {IMAGENET!r} or a path to a .pth/.pt/.safetensors file, "
            f"got {weights!r}"
        )


def hub_cache_file(url: str) -> Path:
    """Where ``torch.hub`` keeps the file downloaded from ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def imagenet_state_dict(name: str) -> StateDict:
    """torchvision's ImageNet classifier weights for encoder ``name``, from the hub cache.

    Downloads the file (with a progress bar) when it is not cached. Without network
    access, the error names the URL and the path to place the file at.
    """
    url = IMAGENET_URLS[name]
    try:
        state = torch.hub.load_state_dict_from_url(
            url, map_location="cpu", progress=True, check_hash=True, weights_only=True
        )
    except (OSError, RuntimeError, pickle.UnpicklingError) as err:
        raise PixelwiseError(
            f"cannot get the {IMAGENET} weights of {name!r} from {url} ({err}); "
            f"without network access, download that file elsewhere and place it at "
            f"'{hub_cache_file(url)}'"
        ) from None
    return unwrap(state, url)


def drop_head(state: Mapping[str, torch.Tensor], prefixes: tuple[str, ...]) -> StateDict:
    """``state`` without the keys that start with one of ``prefixes``."""
    return {k: v for k, v in state.items() if not (prefixes and k.startswith(prefixes))}


def _adapt_first_conv(state: StateDict, encoder: Encoder) -> StateDict:
    """Adapt the file's RGB first-conv filters to the encoder's ``in_channels``."""
    key = f"{encoder.first_conv}.weight"
    weight = state.get(key)
    if encoder.in_channels == 3 or weight is None or weight.ndim != 4 or weight.shape[1] != 3:
        return state
    return {**state, key: adapt_input_weight(weight.float(), encoder.in_channels)}


def load_encoder_weights(encoder: Encoder, name: str, weights: str | os.PathLike) -> None:
    """Load ``weights`` (a path or ``"imagenet"``) into ``encoder`` (built-in ``name``), strictly.

    Files saved before BatchNorm counted its batches lack ``num_batches_tracked``;
    those counters keep the encoder's values.
    """
    if weights == IMAGENET:
        state, source = imagenet_state_dict(name), IMAGENET_URLS[name]
    else:
        state, source = read_weights(weights), str(weights)
    state = _adapt_first_conv(drop_head(state, encoder.head_prefixes), encoder)
    expected = encoder.state_dict()
    counters = {k: v for k, v in expected.items() if k.endswith("num_batches_tracked")}
    state = {**counters, **state}
    check_fit(shapes(state), shapes(expected), source=source, target=f"encoder {name!r}")
    encoder.load_state_dict(state)

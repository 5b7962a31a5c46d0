"""Whole-model weights from a file: pixelwise's own or a torchvision checkpoint.

Two formats load:

- a ``.safetensors`` file whose keys are the model's own (a saved model's
  ``model.safetensors``);
- a torchvision-format checkpoint (``.pth``/``.pt``, read with
  ``torch.load(weights_only=True)``, so it is never unpickled beyond tensors): a bare
  state dict, or a dict holding it under ``"model"`` or ``"state_dict"``.

Keys of torchvision's auxiliary head (``aux_classifier.*``) are dropped: pixelwise
builds no auxiliary head. Models whose backbone torchvision keys differently say how
through a ``torchvision_prefixes()`` method (torchvision's prefix -> ours); keys the
model already has are never renamed. Every remaining key must then match the model's
keys and shapes exactly.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError
from torch import nn

from pixelwise.errors import PixelwiseError

DROPPED_PREFIXES = ("aux_classifier.",)
CONTAINER_KEYS = ("model", "state_dict")
LISTED_KEYS = 5
READ_ERRORS = (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError, SafetensorError)


def load_model_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load the weights in ``path`` into ``model`` strictly and return the model.

    A missing or unreadable file, or one whose keys or shapes do not fit the model,
    raises a ``PixelwiseError`` naming the file (and the keys that do not fit).
    """
    path = Path(path)
    state = read_state_dict(path)
    names = our_names(model, state)
    check_fit(model, state, names, path)
    model.load_state_dict({ours: state[theirs] for theirs, ours in names.items()})
    return model


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The name -> tensor dict stored in ``path`` (safetensors or torch checkpoint)."""
    if not path.is_file():
        raise PixelwiseError(f"weights file not found: '{path}'")
    try:
        if path.suffix == ".safetensors":
            return safetensors.torch.load_file(str(path), device="cpu")
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except READ_ERRORS as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PixelwiseError(f"cannot read weights '{path}': {reason}") from None
    return unwrap(loaded, path)


def unwrap(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    """The state dict itself, or the one a training checkpoint holds under a known key."""
    if isinstance(loaded, dict):
        loaded = next(
            (loaded[key] for key in CONTAINER_KEYS if isinstance(loaded.get(key), dict)), loaded
        )
    if not isinstance(loaded, dict) or not all(
        isinstance(value, torch.Tensor) for value in loaded.values()
    ):
        raise PixelwiseError(
            f"'{path}' holds no state dict: expected names -> tensors, bare or under "
            f"{' or '.join(map(repr, CONTAINER_KEYS))}"
        )
    return loaded


def our_names(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, str]:
    """File key -> model key for every key that is not dropped."""
    own = model.state_dict().keys()
    prefixes = model.torchvision_prefixes() if hasattr(model, "torchvision_prefixes") else {}
    names = {}
    for key in state:
        if key.startswith(DROPPED_PREFIXES):
            continue
        names[key] = key if key in own else rename(key, prefixes)
    return names


def rename(key: str, prefixes: dict[str, str]) -> str:
    """``key`` with the first matching prefix replaced, else unchanged."""
    for theirs, ours in prefixes.items():
        if key.startswith(theirs):
            return ours + key[len(theirs) :]
    return key


def check_fit(
    model: nn.Module, state: dict[str, torch.Tensor], names: dict[str, str], path: Path
) -> None:
    """Raise a ``PixelwiseError`` listing missing, unexpected and mis-shaped keys, if any."""
    own = model.state_dict()
    missing = sorted(set(own) - set(names.values()))
    unexpected = [theirs for theirs, ours in names.items() if ours not in own]
    mis_shaped = [
        f"{theirs} {tuple(state[theirs].shape)} vs {tuple(own[ours].shape)}"
        for theirs, ours in names.items()
        if ours in own and state[theirs].shape != own[ours].shape
    ]
    problems = [
        f"{label}: {listing(keys)}"
        for label, keys in [
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatch (file vs model)", mis_shaped),
        ]
        if keys
    ]
    if problems:
        raise PixelwiseError(f"weights '{path}' do not fit the model; {'; '.join(problems)}")


def listing(items: Iterable[str]) -> str:
    """The first few ``items`` joined by commas, then how many more there are."""
    items = list(items)
    shown = ", ".join(items[:LISTED_KEYS])
    rest = len(items) - LISTED_KEYS
    return f"{shown}, … and {rest} more" if rest > 0 else shown

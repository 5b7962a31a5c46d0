"""Whole-model weights from a file: pixelwise's own or a torchvision checkpoint.

Files are read by :mod:`pixelwise.models.weights_file`. Three layouts load:

- pixelwise's own keys (a saved model's ``model.safetensors``);
- pixelwise's keys from before DeepLabV3, DeepLabV3+ and LR-ASPP called their encoder
  ``encoder`` (:data:`FORMER_PREFIXES`: it was ``backbone``);
- a torchvision segmentation checkpoint (``.pth``/``.pt``, bare or under ``"model"`` or
  ``"state_dict"``). Keys of torchvision's auxiliary head (``aux_classifier.*``) are
  dropped: pixelwise builds no auxiliary head. Models keyed differently from
  torchvision say how through a ``torchvision_prefixes()`` method (torchvision's prefix
  -> ours).

A key the model has is never renamed; any other key takes the first renaming that
gives a key of the model. Every remaining key must then match the model's keys and
shapes exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from pathlib import Path
from typing import TypeVar

from torch import nn

from pixelwise.models.weights_file import check_fit, read_weights, shapes

DROPPED_PREFIXES = ("aux_classifier.",)
FORMER_PREFIXES = {"backbone.": "encoder."}

Value = TypeVar("Value")


def load_model_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load the weights in ``path`` into ``model`` strictly and return the model.

    A missing or unreadable file, or one whose keys or shapes do not fit the model,
    raises a ``PixelwiseError`` naming the file (and the keys that do not fit).
    """
    state = in_model_names(model, read_weights(path))
    check_fit(shapes(state), shapes(model.state_dict()), source=str(path), target="the model")
    model.load_state_dict(state)
    return model


def in_model_names(model: nn.Module, entries: Mapping[str, Value]) -> dict[str, Value]:
    """``entries`` (tensors or shapes, keyed as in a file) keyed by ``model``'s own names.

    The auxiliary head's keys are dropped; a key no renaming fits keeps its name.
    """
    own, tables = set(model.state_dict()), _prefix_tables(model)
    return {
        our_name(key, own, tables): value
        for key, value in entries.items()
        if not key.startswith(DROPPED_PREFIXES)
    }


def _prefix_tables(model: nn.Module) -> list[dict[str, str]]:
    """The renamings to try, in order: pixelwise's former names, then torchvision's."""
    torchvision = model.torchvision_prefixes() if hasattr(model, "torchvision_prefixes") else {}
    return [FORMER_PREFIXES, torchvision]


def our_name(key: str, own: Set[str], tables: list[dict[str, str]]) -> str:
    """``key`` if the model has it (``own``), else its first renaming it has, else ``key``."""
    if key in own:
        return key
    renamed = (rename(key, prefixes) for prefixes in tables)
    return next((name for name in renamed if name in own), key)


def rename(key: str, prefixes: dict[str, str]) -> str:
    """``key`` with the first matching prefix replaced, else unchanged."""
    for theirs, ours in prefixes.items():
        if key.startswith(theirs):
            return ours + key[len(theirs) :]
    return key

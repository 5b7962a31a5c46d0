"""Weight files: the one reader of state dicts on disk, and the one check of their fit.

Every weight file pixelwise takes (a saved model's ``model.safetensors``, a torchvision
or timm checkpoint, encoder weights) is read here:

- a ``.safetensors`` file with safetensors;
- any other file with ``torch.load(weights_only=True)``, so nothing is unpickled beyond
  tensors and plain containers. A training checkpoint that holds its state dict under
  ``"model"`` or ``"state_dict"`` is unwrapped.

:func:`read_shapes` reads only a safetensors header (names and shapes, no tensor data).
:func:`check_fit` compares names and shapes with what a module expects and lists the
missing, unexpected and mis-shaped keys in one message. A file that is missing,
unreadable, truncated or empty is a ``PixelwiseError`` naming it.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open

from pixelwise.errors import PixelwiseError

StateDict = dict[str, torch.Tensor]
Shape = tuple[int, ...]
CONTAINER_KEYS = ("model", "state_dict")
LISTED_KEYS = 5  # keys shown per kind of mismatch; the rest are counted
READ_ERRORS = (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError, SafetensorError)


def read_weights(path: str | os.PathLike) -> StateDict:
    """The name -> tensor dict stored in ``path``, on the CPU (see the module docstring)."""
    path = _existing(path)
    try:
        if path.suffix == ".safetensors":
            return safetensors.torch.load_file(path, device="cpu")
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except READ_ERRORS as err:
        raise _unreadable(path, err) from None
    return unwrap(loaded, str(path))


def read_shapes(path: str | os.PathLike) -> dict[str, Shape]:
    """Name -> shape of every tensor in the ``.safetensors`` file ``path``, from its header only."""
    path = _existing(path)
    try:
        with safe_open(path, framework="pt", device="cpu") as file:
            return {name: tuple(file.get_slice(name).get_shape()) for name in file.keys()}  # noqa: SIM118
    except READ_ERRORS as err:
        raise _unreadable(path, err) from None


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise PixelwiseError(f"weights file not found: '{path}'")
    return path


def _unreadable(path: Path, err: Exception) -> PixelwiseError:
    """The user error for a file that cannot be read: its path and the first line of why."""
    text = str(err).strip()
    reason = text.splitlines()[0] if text else type(err).__name__
    return PixelwiseError(f"cannot read weights '{path}': {reason}")


def unwrap(loaded: object, source: str) -> StateDict:
    """The state dict itself, or the one a training checkpoint holds under a known key.

    Anything but names mapped to tensors is a user error naming ``source``.
    """
    if isinstance(loaded, Mapping):
        loaded = next(
            (loaded[key] for key in CONTAINER_KEYS if isinstance(loaded.get(key), Mapping)), loaded
        )
    if not isinstance(loaded, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in loaded.items()
    ):
        raise PixelwiseError(
            f"'{source}' holds no state dict: expected names -> tensors, bare or under "
            f"{' or '.join(map(repr, CONTAINER_KEYS))}"
        )
    return dict(loaded)


def shapes(state: Mapping[str, torch.Tensor]) -> dict[str, Shape]:
    """Name -> shape of every tensor in ``state``."""
    return {name: tuple(tensor.shape) for name, tensor in state.items()}


def check_fit(
    found: Mapping[str, Sequence[int]],
    expected: Mapping[str, Sequence[int]],
    *,
    source: str,
    target: str,
) -> None:
    """Raise a user error listing missing, unexpected and mis-shaped keys, if there are any.

    ``found`` (name -> shape) is what the weights ``source`` hold, ``expected`` what
    ``target`` (e.g. ``"encoder 'resnet18'"``) needs; unexpected keys are listed in the
    file's order, the others in the target's.
    """
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    mis_shaped = [
        f"{key} (file {tuple(found[key])}, model {tuple(expected[key])})"
        for key in expected
        if key in found and tuple(found[key]) != tuple(expected[key])
    ]
    kinds = [
        ("missing key", "missing keys", missing),
        ("unexpected key", "unexpected keys", unexpected),
        ("shape mismatch", "shape mismatches", mis_shaped),
    ]
    problems = [_listing(one, many, keys) for one, many, keys in kinds if keys]
    if problems:
        raise PixelwiseError(f"weights '{source}' do not fit {target}: {'; '.join(problems)}")


def _listing(one: str, many: str, items: Iterable[str]) -> str:
    """``"2 missing keys: a, b"``: the count, then the first few items and how many more."""
    items = list(items)
    label = one if len(items) == 1 else many
    shown = ", ".join(items[:LISTED_KEYS])
    rest = len(items) - LISTED_KEYS
    more = f", … and {rest} more" if rest > 0 else ""
    return f"{len(items)} {label}: {shown}{more}"

"""The saved-model folder: ``config.json`` + ``model.safetensors``.

``config.json`` (the card, :mod:`pixelwise.models.card`) holds the architecture, the
classes and the normalisation. A fitted classical method (:mod:`pixelwise.classical`)
saves as a folder with ``config.json`` alone: its ``classical`` key holds the method,
its parameters and what it learned.

An exported model (:mod:`pixelwise.export`) is a folder with the same card plus an
``export`` record, and a graph file instead of the weights; :func:`read_any_card` reads
its card, and :mod:`pixelwise.inference` runs its graph.

Loading never unpickles: the card is checked against the weights file's header, the
architecture is rebuilt from ``config.json`` and the weights come from safetensors; a
classical method is rebuilt from its JSON.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from pixelwise import __version__
from pixelwise.errors import PixelwiseError
from pixelwise.files import write_folder_atomic
from pixelwise.models.card import (
    FORMAT,
    FORMAT_VERSION,
    Card,
    ClassicalCard,
    ModelCard,
    check_weights,
)
from pixelwise.models.pretrained import load_model_weights
from pixelwise.models.registry import build_model

logger = logging.getLogger("pixelwise")

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_model(folder: str | Path, model: nn.Module, card: ModelCard) -> Path:
    """Write ``model`` (which must have ``.config``) and ``card`` into ``folder``, atomically.

    The folder is assembled beside its destination and renamed into place, so a
    crash never leaves a half-written model; an existing folder is replaced.
    """

    def write(staging: Path) -> None:
        (staging / CONFIG_FILE).write_text(json.dumps(card.to_dict(), indent=2))
        safetensors.torch.save_model(_contiguous(model), str(staging / WEIGHTS_FILE))

    return write_folder_atomic(Path(folder), write)


def _contiguous(model: nn.Module) -> nn.Module:
    """``model``, or a copy in the contiguous layout when a tensor of it is not (a model
    trained channels-last): the weights file holds the default layout."""
    if all(tensor.is_contiguous() for tensor in model.state_dict().values()):
        return model
    return copy.deepcopy(model).to(memory_format=torch.contiguous_format)


def save_classical(folder: str | Path, card: ClassicalCard) -> Path:
    """Write a fitted classical method's ``card`` into ``folder`` (``config.json`` only).

    Atomic like :func:`save_model`.
    """

    def write(staging: Path) -> None:
        (staging / CONFIG_FILE).write_text(json.dumps(card.to_dict(), indent=2))

    return write_folder_atomic(Path(folder), write)


def _is_weightless(config: Path) -> bool:
    """Whether ``config`` is a readable JSON object describing a classical method or an
    exported graph (a ``classical`` or ``export`` key)."""
    try:
        raw = json.loads(config.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(raw, dict) and ("classical" in raw or "export" in raw)


def _is_model_dir(candidate: Path) -> bool:
    config = candidate / CONFIG_FILE
    return config.is_file() and ((candidate / WEIGHTS_FILE).is_file() or _is_weightless(config))


def resolve_model_dir(path: str | Path) -> Path:
    """A saved-model folder itself, or a run directory holding one in ``model/``.

    A saved model is ``config.json`` + ``model.safetensors``, or a ``config.json`` that
    describes a classical method or an exported graph.
    """
    path = Path(path)
    for candidate in (path, path / "model"):
        if _is_model_dir(candidate):
            return candidate
    if not path.exists():
        raise PixelwiseError(f"model path not found: '{path}'")
    raise PixelwiseError(
        f"'{path}' is not a saved model or run directory (no {CONFIG_FILE} + {WEIGHTS_FILE}, "
        f"nor a {CONFIG_FILE} of a classical method or an exported graph)"
    )


def refuse_model_folder(folder: Path, flag: str = "--out") -> None:
    """A saved model's or an exported folder is written by save and export alone: a user
    error when ``folder`` (given as ``flag``) is one."""
    if _is_model_dir(folder):
        raise PixelwiseError(
            f"{flag} '{folder}' is a saved model or exported folder; its files are the "
            "model's: choose another folder"
        )


def read_any_card(folder: Path) -> Card:
    """Parse ``folder/config.json``: a network's or a classical method's card.

    A malformed file is a user error naming it.
    """
    file = folder / CONFIG_FILE
    try:
        raw = json.loads(file.read_text())
        if raw.get("format") != FORMAT:
            raise ValueError(f"format is {raw.get('format')!r}, expected {FORMAT!r}")
        _check_version(raw.get("format_version"), file)
        return ClassicalCard.from_dict(raw) if "classical" in raw else ModelCard.from_dict(raw)
    except KeyError as err:
        raise PixelwiseError(f"invalid model config '{file}': missing key {err}") from None
    except (ValueError, TypeError, AttributeError, PixelwiseError) as err:
        raise PixelwiseError(f"invalid model config '{file}': {err}") from None


def _check_version(version: object, file: Path) -> None:
    """A card of a format version this pixelwise does not know loads with a warning."""
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        logger.warning(
            "'%s' has format_version %d, from a newer pixelwise than this one (%s, "
            "format_version %d); it may not load as intended: upgrade pixelwise",
            file, version, __version__, FORMAT_VERSION,
        )  # fmt: skip


def read_card(folder: Path) -> ModelCard:
    """The card of a network saved with its weights, from ``folder/config.json``.

    A classical method's or an exported graph's is a user error.
    """
    card = read_any_card(folder)
    if isinstance(card, ClassicalCard):
        raise PixelwiseError(
            f"'{folder}' holds the classical method {card.method.get('method')!r}, not a network"
        )
    if card.export is not None:
        raise PixelwiseError(
            f"'{folder}' holds an exported {card.export.get('format')} graph, not the "
            "model's weights; use the model folder it was exported from"
        )
    return card


def load_model(path: str | Path) -> tuple[nn.Module, ModelCard]:
    """Rebuild the model saved at ``path`` (model folder or run directory), in eval mode on CPU.

    The card is checked against the weights file before the model is built (see
    :func:`pixelwise.models.card.check_weights`); weights saved under former key names
    load too (see :mod:`pixelwise.models.pretrained`).
    """
    folder = resolve_model_dir(path)
    card = read_card(folder)
    check_weights(card, folder / CONFIG_FILE, folder / WEIGHTS_FILE)
    model = build_model(**card.architecture)
    load_model_weights(model, folder / WEIGHTS_FILE)
    return model.eval(), card

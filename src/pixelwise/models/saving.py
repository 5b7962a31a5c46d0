"""The saved-model folder: ``config.json`` + ``model.safetensors``.

``config.json`` holds the architecture, the classes and the normalisation. A fitted
classical method (:mod:`pixelwise.classical`) saves as a folder with ``config.json``
alone: its ``classical`` key holds the method, its parameters and what it learned.

Loading never unpickles: the architecture is rebuilt from ``config.json`` and the
weights come from safetensors; a classical method is rebuilt from its JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import safetensors.torch
from torch import nn

from pixelwise import __version__
from pixelwise.data.base import DatasetInfo
from pixelwise.data.reader import PixelScaling
from pixelwise.data.transforms import Normalization
from pixelwise.errors import PixelwiseError
from pixelwise.files import write_folder_atomic
from pixelwise.models.registry import build_model

if TYPE_CHECKING:
    from pixelwise.classical import ClassicalMethod

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "pixelwise-model"


def _header() -> dict:
    """The keys that open every saved ``config.json``: format, its version, the writer."""
    return {"format": FORMAT, "format_version": 1, "pixelwise_version": __version__}


@dataclass(frozen=True)
class ModelCard:
    """Everything besides the weights that a saved model carries.

    ``input_scale`` is the working resolution the model was trained at: inputs are
    resized by it before the model, and class scores resized back to the input's size.
    ``pixel_scaling`` is how stored 16-bit and float pixels were (and are) scaled to the
    model's 8-bit input range; cards written before it existed load with the default.
    """

    architecture: dict
    info: DatasetInfo
    normalization: Normalization
    input_scale: float = 1.0
    pixel_scaling: PixelScaling = field(default_factory=PixelScaling)

    def to_dict(self) -> dict:
        return {
            **_header(),
            "architecture": self.architecture,
            **self.info.to_dict(),
            "normalization": self.normalization.to_dict(),
            "input_scale": self.input_scale,
            "pixel_scaling": self.pixel_scaling.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ModelCard:
        return cls(
            d["architecture"],
            DatasetInfo.from_dict(d),
            Normalization.from_dict(d["normalization"]),
            float(d.get("input_scale", 1.0)),
            PixelScaling.from_dict(d.get("pixel_scaling", {})),
        )


@dataclass(frozen=True)
class ClassicalCard:
    """What a saved classical method carries: ``method`` (its ``to_dict()``) and the classes."""

    method: dict[str, Any]
    info: DatasetInfo

    def to_dict(self) -> dict:
        return {**_header(), "classical": self.method, **self.info.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> ClassicalCard:
        return cls(d["classical"], DatasetInfo.from_dict(d))


Card = ModelCard | ClassicalCard


def save_model(folder: str | Path, model: nn.Module, card: ModelCard) -> Path:
    """Write ``model`` (which must have ``.config``) and ``card`` into ``folder``, atomically.

    The folder is assembled beside its destination and renamed into place, so a
    crash never leaves a half-written model; an existing folder is replaced.
    """

    def write(staging: Path) -> None:
        (staging / CONFIG_FILE).write_text(json.dumps(card.to_dict(), indent=2))
        safetensors.torch.save_model(model, str(staging / WEIGHTS_FILE))

    return write_folder_atomic(Path(folder), write)


def save_classical(folder: str | Path, method: ClassicalMethod, info: DatasetInfo) -> Path:
    """Write a fitted classical ``method`` and the classes into ``folder`` (``config.json`` only).

    Atomic like :func:`save_model`.
    """
    card = ClassicalCard(method.to_dict(), info)

    def write(staging: Path) -> None:
        (staging / CONFIG_FILE).write_text(json.dumps(card.to_dict(), indent=2))

    return write_folder_atomic(Path(folder), write)


def _is_classical(config: Path) -> bool:
    """Whether ``config`` is a readable JSON object with a ``classical`` key."""
    try:
        raw = json.loads(config.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(raw, dict) and "classical" in raw


def _is_model_dir(candidate: Path) -> bool:
    config = candidate / CONFIG_FILE
    return config.is_file() and ((candidate / WEIGHTS_FILE).is_file() or _is_classical(config))


def resolve_model_dir(path: str | Path) -> Path:
    """A saved-model folder itself, or a run directory holding one in ``model/``.

    A saved model is ``config.json`` + ``model.safetensors``, or a ``config.json`` that
    describes a classical method.
    """
    path = Path(path)
    for candidate in (path, path / "model"):
        if _is_model_dir(candidate):
            return candidate
    if not path.exists():
        raise PixelwiseError(f"model path not found: '{path}'")
    raise PixelwiseError(
        f"'{path}' is not a saved model or run directory (no {CONFIG_FILE} + {WEIGHTS_FILE}, "
        f"nor a {CONFIG_FILE} of a classical method)"
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
        return ClassicalCard.from_dict(raw) if "classical" in raw else ModelCard.from_dict(raw)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise PixelwiseError(f"invalid model config '{file}': {err}") from None


def read_card(folder: Path) -> ModelCard:
    """A network's card from ``folder/config.json``; a classical method's is a user error."""
    card = read_any_card(folder)
    if isinstance(card, ClassicalCard):
        raise PixelwiseError(
            f"'{folder}' holds the classical method {card.method.get('method')!r}, not a network"
        )
    return card


def load_saved(path: str | Path) -> tuple[nn.Module | ClassicalMethod, Card]:
    """A network (as :func:`load_model`) or a fitted classical method, with its card."""
    folder = resolve_model_dir(path)
    card = read_any_card(folder)
    if isinstance(card, ModelCard):
        return load_model(folder)
    from pixelwise.classical import method_from_dict

    try:
        return method_from_dict(card.method), card
    except (ValueError, KeyError, TypeError, PixelwiseError) as err:
        file = folder / CONFIG_FILE
        raise PixelwiseError(f"invalid classical method in '{file}': {err}") from None


def load_model(path: str | Path) -> tuple[nn.Module, ModelCard]:
    """Rebuild the model saved at ``path`` (model folder or run directory), in eval mode on CPU."""
    folder = resolve_model_dir(path)
    card = read_card(folder)
    model = build_model(**card.architecture)
    try:
        safetensors.torch.load_model(model, str(folder / WEIGHTS_FILE), device="cpu")
    except (RuntimeError, OSError) as err:
        raise PixelwiseError(f"cannot load weights '{folder / WEIGHTS_FILE}': {err}") from None
    return model.eval(), card

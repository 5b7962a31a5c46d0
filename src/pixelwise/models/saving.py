"""The saved-model folder: ``config.json`` + ``model.safetensors``.

``config.json`` holds the architecture, the classes and the normalisation.

Loading never unpickles: the architecture is rebuilt from ``config.json`` and the
weights come from safetensors.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
from torch import nn

from pixelwise import __version__
from pixelwise.data.base import DatasetInfo
from pixelwise.data.transforms import Normalization
from pixelwise.errors import PixelwiseError
from pixelwise.models.registry import build_model

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "pixelwise-model"


@dataclass(frozen=True)
class ModelCard:
    """Everything besides the weights that a saved model carries.

    ``input_scale`` is the working resolution the model was trained at: inputs are
    resized by it before the model, and class scores resized back to the input's size.
    """

    architecture: dict
    info: DatasetInfo
    normalization: Normalization
    input_scale: float = 1.0

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": 1,
            "pixelwise_version": __version__,
            "architecture": self.architecture,
            **self.info.to_dict(),
            "normalization": self.normalization.to_dict(),
            "input_scale": self.input_scale,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ModelCard:
        return cls(
            d["architecture"],
            DatasetInfo.from_dict(d),
            Normalization.from_dict(d["normalization"]),
            float(d.get("input_scale", 1.0)),
        )


def save_model(folder: str | Path, model: nn.Module, card: ModelCard) -> Path:
    """Write ``model`` (which must have ``.config``) and ``card`` into ``folder``, atomically.

    The folder is assembled beside its destination and renamed into place, so a
    crash never leaves a half-written model; an existing folder is replaced.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        (staging / CONFIG_FILE).write_text(json.dumps(card.to_dict(), indent=2))
        safetensors.torch.save_model(model, str(staging / WEIGHTS_FILE))
        _swap_into_place(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def _swap_into_place(staging: Path, folder: Path) -> None:
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def resolve_model_dir(path: str | Path) -> Path:
    """A saved-model folder itself, or a run directory holding one in ``model/``."""
    path = Path(path)
    for candidate in (path, path / "model"):
        if (candidate / CONFIG_FILE).is_file() and (candidate / WEIGHTS_FILE).is_file():
            return candidate
    if not path.exists():
        raise PixelwiseError(f"model path not found: '{path}'")
    raise PixelwiseError(
        f"'{path}' is not a saved model or run directory (no {CONFIG_FILE} + {WEIGHTS_FILE})"
    )


def read_card(folder: Path) -> ModelCard:
    """Parse ``folder/config.json``; a malformed file is a user error naming it."""
    file = folder / CONFIG_FILE
    try:
        raw = json.loads(file.read_text())
        if raw.get("format") != FORMAT:
            raise ValueError(f"format is {raw.get('format')!r}, expected {FORMAT!r}")
        return ModelCard.from_dict(raw)
    except (ValueError, KeyError, TypeError) as err:
        raise PixelwiseError(f"invalid model config '{file}': {err}") from None


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

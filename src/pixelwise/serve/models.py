"""The models a server answers for: loaded once at start, named, described.

A model is given as ``PATH`` or ``NAME=PATH`` (a saved-model folder, a run directory, or a
classical method's folder). Its name defaults to the folder's name (the run's name for a
run directory or its ``model/``). Requests choose models by these names only; no path in
a request ever reaches the filesystem.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelwise.errors import PixelwiseError
from pixelwise.inference.segmenter import Segmenter
from pixelwise.models.saving import ModelCard, resolve_model_dir

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
WARM_UP_SIZE = (64, 64)


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and the name requests use for it."""

    name: str
    segmenter: Segmenter
    backend: str | None

    @property
    def is_network(self) -> bool:
        return self.segmenter.backend is not None

    def describe(self) -> dict[str, Any]:
        """What ``GET /api/models`` says about the model."""
        segmenter, info = self.segmenter, self.segmenter.info
        card = segmenter.card
        if isinstance(card, ModelCard):
            architecture = card.architecture.get("name")
        else:
            architecture = card.method.get("method")
        return {
            "name": self.name,
            "kind": "network" if self.is_network else "classical",
            "architecture": architecture,
            "classes": [
                {"index": index, "name": name, "colour": list(colour)}
                for index, (name, colour) in enumerate(zip(info.classes, info.colours, strict=True))
            ],
            "ignore_index": info.ignore_index,
            "input_channels": info.channels,
            "working_scale": segmenter.input_scale,
            "backend": self.backend,
            "device": str(segmenter.device) if self.is_network else None,
            "tta": self.is_network,
        }


def _split_spec(spec: str) -> tuple[str | None, str]:
    """``NAME=PATH`` -> ``(NAME, PATH)``; a bare path (or one whose '=' part is no name)."""
    name, sep, path = spec.partition("=")
    if sep and NAME_PATTERN.fullmatch(name) and path:
        return name, path
    return None, spec


def default_name(path: str | Path) -> str:
    """The folder's name; a run's name for a run directory or its ``model/`` folder."""
    folder = resolve_model_dir(path).resolve()
    return folder.parent.name if folder.name == "model" else folder.name


def _backend_name(segmenter: Segmenter) -> str | None:
    """The backend a network runs on (``None`` for a classical method)."""
    return segmenter.backend.name if segmenter.backend is not None else None


def _warm_up(segmenter: Segmenter) -> None:
    """Run a network once on a small image, so that a broken model fails at start and the
    memory estimate of ``tile="auto"`` is measured before any request."""
    if segmenter.is_network:
        segmenter.whole_image_bytes(*WARM_UP_SIZE)


def load_models(specs: Sequence[str], backend: str | None = None) -> dict[str, ServedModel]:
    """Load every model of ``specs`` (``PATH`` or ``NAME=PATH``), checked and warmed up.

    Raises :class:`PixelwiseError` for an unreadable model, a bad or repeated name.
    """
    if not specs:
        raise PixelwiseError("give at least one model folder to serve")
    served: dict[str, ServedModel] = {}
    for spec in specs:
        name, path = _split_spec(spec)
        name = name or default_name(path)
        if not NAME_PATTERN.fullmatch(name):
            raise PixelwiseError(
                f"model name {name!r} (from '{path}') is not usable in URLs; name it with "
                "NAME=PATH (letters, digits, '.', '_', '-')"
            )
        if name in served:
            raise PixelwiseError(
                f"two models are named {name!r}; name them apart with NAME=PATH arguments"
            )
        segmenter = Segmenter.load(path, backend=backend)
        _warm_up(segmenter)
        served[name] = ServedModel(name, segmenter, _backend_name(segmenter))
    return served

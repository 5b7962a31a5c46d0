"""A saved model's card (its ``config.json``): parsed, checked, and checked against the weights.

A network's card (:class:`ModelCard`) holds the architecture (the keywords of
``build_model``), the classes with their colours, the ignore index, the image
channels, the normalisation and the working scale. A classical method's card
(:class:`ClassicalCard`) holds the fitted method and the classes.

:meth:`ModelCard.from_dict` refuses values no model could use: an architecture whose
``num_classes`` or ``in_channels`` differ from the card's classes or channels, a
normalisation that is not one finite mean and one positive finite std per channel,
an ``input_scale`` outside ``(0, 4]`` (the range of ``data.scale``).

:func:`check_weights` checks a network's card against its weights file before the
model is built: the architecture's size options must lie within their bounds, the
model built on the ``meta`` device (shapes only, no memory) must stay under the
parameter limit, and its keys and shapes must be those of the safetensors header (read
without the tensor data). A shape that follows the channels or the classes names that
key of the card.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pixelwise import __version__
from pixelwise.config import WORKING_SCALE
from pixelwise.data.base import DatasetInfo
from pixelwise.data.reader import PixelScaling
from pixelwise.data.transforms import Normalization
from pixelwise.errors import PixelwiseError
from pixelwise.models.options import check_bounds
from pixelwise.models.pretrained import in_model_names
from pixelwise.models.registry import build_model
from pixelwise.models.weights_file import Shape, check_fit, read_shapes, shapes

FORMAT = "pixelwise-model"
FORMAT_VERSION = 1
INTERFACE = {"num_classes": "classes", "in_channels": "channels"}  # architecture key -> card key


def header() -> dict:
    """The keys that open every saved ``config.json``: format, its version, the writer."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "pixelwise_version": __version__}


@dataclass(frozen=True)
class ModelCard:
    """Everything besides the weights that a saved model carries.

    ``input_scale`` is the working resolution the model was trained at: inputs are
    resized by it before the model, and class scores resized back to the input's size.
    ``pixel_scaling`` is how stored 16-bit and float pixels were (and are) scaled to the
    model's 8-bit input range; cards written before it existed load with the default.
    ``export`` is the record of an exported graph (see :mod:`pixelwise.export.record`),
    None for a model saved with its weights. ``training`` records how the weights were
    trained (``precision``, ``memory_format``); it does not change how they load (they
    are saved in float32), and cards written before it existed have none. ``data`` is the
    run's data section (dataset, folder and reading options: pairing, mask rule, regions,
    splits), as a record of what the model learned from.
    """

    architecture: dict
    info: DatasetInfo
    normalization: Normalization
    input_scale: float = 1.0
    pixel_scaling: PixelScaling = field(default_factory=PixelScaling)
    export: dict | None = None
    training: dict | None = None
    data: dict | None = None

    def to_dict(self) -> dict:
        exported = {} if self.export is None else {"export": self.export}
        records = {"training": self.training, "data": self.data}
        recorded = {key: value for key, value in records.items() if value is not None}
        return {
            **header(),
            "architecture": self.architecture,
            **self.info.to_dict(),
            "normalization": self.normalization.to_dict(),
            "input_scale": self.input_scale,
            "pixel_scaling": self.pixel_scaling.to_dict(),
            **recorded,
            **exported,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ModelCard:
        """The card in ``d``; a value no model could use raises ``ValueError`` naming its key."""
        info = DatasetInfo.from_dict(d)
        return cls(
            _architecture(d["architecture"], info),
            info,
            _normalization(d["normalization"], info.channels),
            _input_scale(d.get("input_scale", 1.0)),
            PixelScaling.from_dict(d.get("pixel_scaling", {})),
            d.get("export"),
            _training(d.get("training")),
            _data(d.get("data")),
        )


@dataclass(frozen=True)
class ClassicalCard:
    """What a saved classical method carries: ``method`` (its ``to_dict()``) and the classes."""

    method: dict[str, Any]
    info: DatasetInfo

    def to_dict(self) -> dict:
        return {**header(), "classical": self.method, **self.info.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> ClassicalCard:
        return cls(d["classical"], DatasetInfo.from_dict(d))


Card = ModelCard | ClassicalCard


def _architecture(architecture: object, info: DatasetInfo) -> dict:
    """``architecture`` if it names a model and agrees with the card's classes and channels."""
    if not isinstance(architecture, dict) or not isinstance(architecture.get("name"), str):
        raise ValueError(f"architecture must be an object with a 'name', got {architecture!r}")
    card_values = {"classes": info.num_classes, "channels": info.channels}
    for keyword, card_key in INTERFACE.items():
        stated, value = architecture.get(keyword), card_values[card_key]
        if stated != value:
            raise ValueError(
                f"architecture.{keyword} ({stated!r}) differs from the card's {card_key} ({value})"
            )
    return architecture


def _training(value: object) -> dict | None:
    """``training`` if absent or an object of strings (how the weights were trained)."""
    if value is not None and not (
        isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    ):
        raise ValueError(f"training must be an object of strings, got {value!r}")
    return value


def _data(value: object) -> dict | None:
    """``data`` if absent or an object (the data section the model was trained on)."""
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"data must be an object, got {value!r}")
    return value


def _is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _normalization(raw: object, channels: int) -> Normalization:
    """``raw`` as a :class:`Normalization`: per channel, a finite mean and a positive finite std."""
    if not isinstance(raw, dict):
        raise ValueError(f"normalization must be an object with 'mean' and 'std', got {raw!r}")
    for key, what in (("mean", "finite numbers"), ("std", "positive finite numbers")):
        values = raw.get(key)
        if not (
            isinstance(values, list)
            and len(values) == channels
            and all(_is_finite_number(v) and (key == "mean" or v > 0) for v in values)
        ):
            raise ValueError(
                f"normalization.{key} must be a list of {channels} {what} (one per channel), "
                f"got {values!r}"
            )
    return Normalization.from_dict(raw)


def _input_scale(value: object) -> float:
    """``value`` as a float if it is a working scale that a run accepts (``data.scale``)."""
    if isinstance(value, str):
        raise ValueError(f"input_scale must be {WORKING_SCALE.accepts}, got {value!r}")
    try:
        return WORKING_SCALE.check(value)
    except ValueError:
        raise ValueError(f"input_scale must be {WORKING_SCALE.accepts}, got {value!r}") from None


def check_weights(card: ModelCard, config: Path, weights: Path) -> None:
    """Check ``card`` (read from ``config``) against the weights file ``weights``, building nothing.

    Raises a ``PixelwiseError`` naming the file and the key: an architecture option out
    of bounds or too large a model (``config``), a shape that the card's channels or
    classes decide (``config``), any other key or shape that differs (``weights``).
    """
    where = f"invalid model config '{config}': "
    options = {key: value for key, value in card.architecture.items() if key != "name"}
    check_bounds(options, f"{where}architecture.")
    skeleton = _on_meta(card.architecture, where)
    found = in_model_names(skeleton, read_shapes(weights))
    expected = shapes(skeleton.state_dict())
    for keyword, card_key in INTERFACE.items():
        key = _first_mismatch_decided_by(keyword, card.architecture, found, expected)
        if key is not None:
            value = card.architecture[keyword]
            raise PixelwiseError(
                f"{where}{card_key} ({value}) does not match the weights '{weights}': "
                f"{key} has shape {found[key]} there, {expected[key]} for {card_key} = {value}"
            )
    check_fit(found, expected, source=str(weights), target=f"the model of '{config}'")


def _on_meta(architecture: dict, where: str) -> nn.Module:
    """``build_model(**architecture)`` on the ``meta`` device; its errors name the card."""
    try:
        with torch.device("meta"):
            return build_model(**architecture)
    except PixelwiseError as err:
        raise PixelwiseError(f"{where}{err}") from None


def _first_mismatch_decided_by(
    keyword: str, architecture: dict, found: dict[str, Shape], expected: dict[str, Shape]
) -> str | None:
    """The first key whose shape in the weights (``found``) differs from the one in the
    model of ``architecture`` (``expected``) only in dimensions that ``architecture[keyword]``
    decides: those that change when it changes (seen on a variant built on ``meta``)."""
    mis_shaped = [key for key in expected if key in found and found[key] != expected[key]]
    if not mis_shaped:
        return None
    value = architecture[keyword]
    with torch.device("meta"):
        variant = build_model(**{**architecture, keyword: value + 1 if value == 1 else value - 1})
    varied = shapes(variant.state_dict())
    for key in mis_shaped:
        wrong = _differing_dimensions(found[key], expected[key])
        if wrong and wrong <= _differing_dimensions(varied.get(key, ()), expected[key]):
            return key
    return None


def _differing_dimensions(shape: Shape, other: Shape) -> set[int]:
    """The dimensions in which two shapes of equal rank differ (none when the ranks differ)."""
    if len(shape) != len(other):
        return set()
    return {dim for dim, (a, b) in enumerate(zip(shape, other, strict=True)) if a != b}

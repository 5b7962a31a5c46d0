"""Classical methods by name: ``build``, ``list_methods`` and rebuilding from saved data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pixelwise.classical.base import ClassicalMethod
from pixelwise.classical.edges import EdgeRegions
from pixelwise.classical.kmeans import KMeansColours
from pixelwise.classical.region import RegionGrowing, Watershed
from pixelwise.classical.thresholds import Adaptive, FixedThreshold, MultiOtsu, Otsu
from pixelwise.errors import PixelwiseError
from pixelwise.models.card import ClassicalCard
from pixelwise.models.saving import CONFIG_FILE

METHODS: dict[str, type[ClassicalMethod]] = {
    cls.name: cls
    for cls in (
        FixedThreshold, Otsu, MultiOtsu, Adaptive, EdgeRegions, KMeansColours, RegionGrowing,
        Watershed,
    )
}  # fmt: skip


def list_methods() -> dict[str, str]:
    """Method name -> one-line description."""
    return {name: cls.summary for name, cls in METHODS.items()}


def method_class(name: str) -> type[ClassicalMethod]:
    """The class of method ``name``; an unknown name is an error listing the known ones."""
    if name not in METHODS:
        known = ", ".join(METHODS)
        raise PixelwiseError(f"unknown classical method {name!r}; choose from: {known}")
    return METHODS[name]


def build(name: str, **params: Any) -> ClassicalMethod:
    """An unfitted method ``name`` with ``params``, every one checked.

    An unknown method, a parameter the method does not take, or a bad value (such as
    ``k < 2`` or a choice outside its options) raises ``PixelwiseError`` naming it.
    """
    cls = method_class(name)
    accepted = cls.param_names()
    for key in params:
        if key not in accepted:
            raise PixelwiseError(
                f"method {name!r} takes no parameter {key!r}; its parameters: {', '.join(accepted)}"
            )
    return cls(**params)


def method_from_dict(d: dict[str, Any]) -> ClassicalMethod:
    """A fitted method from :meth:`ClassicalMethod.to_dict`'s output."""
    return build(d["method"], **d["params"]).restore(d)


def load_method(folder: Path, card: ClassicalCard) -> ClassicalMethod:
    """The fitted method that ``folder``'s card describes; a bad one is a user error naming
    its ``config.json``."""
    try:
        return method_from_dict(card.method)
    except (ValueError, KeyError, TypeError, PixelwiseError) as err:
        file = folder / CONFIG_FILE
        raise PixelwiseError(f"invalid classical method in '{file}': {err}") from None

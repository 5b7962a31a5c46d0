"""How the values stored in a mask file become class indices: one rule per dataset.

- As stored: index, gray and palette masks give class indices directly.
- A value map (``--mask-values 0:0,255:1``): each stored value to a class index (or the
  ignore index); ``*`` is every other value (``0:0,*:1``: a binary mask of 0 and anything).
- A threshold (``--binarize T``): values above ``T`` are class 1, the others class 0 (a
  JPEG-compressed or resampled binary mask holds many values near 0 and 255).
- A colour table (``--mask-colors``): each RGB colour to a class (see
  :mod:`pixelwise.data.colours`).

A stored value that the rule does not cover is an error naming the file and the values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pixelwise.data.colours import ColourTable
from pixelwise.data.io import read_mask, read_rgb_mask
from pixelwise.errors import PixelwiseError

CATCH_ALL = "*"
"""The key of a value map that stands for every value the map does not list."""

ValueMap = Mapping[int | str, int]


def format_values(values: np.ndarray, limit: int = 10) -> str:
    """``[1, 7, 300]``, cut after ``limit`` values."""
    shown = ", ".join(str(v) for v in values[:limit].tolist())
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def format_map(value_map: ValueMap) -> str:
    """``0:0,255:1`` (and ``*:1`` last), the syntax of ``--mask-values``."""
    listed = sorted((k, v) for k, v in value_map.items() if k != CATCH_ALL)
    text = ",".join(f"{k}:{v}" for k, v in listed)
    if CATCH_ALL in value_map:
        text += f"{',' if text else ''}*:{value_map[CATCH_ALL]}"
    return text


@dataclass(frozen=True)
class MaskRule:
    """The rule of one dataset (at most one of ``value_map``, ``binarize``, ``colours``)."""

    value_map: ValueMap | None = None
    binarize: float | None = None
    colours: ColourTable | None = None
    _keys: np.ndarray = field(init=False, repr=False, compare=False)
    _targets: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        given = [x is not None for x in (self.value_map, self.binarize, self.colours)]
        if sum(given) > 1:
            raise PixelwiseError("give one of mask_values, binarize and mask_colors, not several")
        if self.value_map is not None:
            if not self.value_map:
                raise PixelwiseError("the mask value map is empty")
            listed = sorted(k for k in self.value_map if k != CATCH_ALL)
            object.__setattr__(self, "_keys", np.array(listed, dtype=np.int64))
            targets = [self.value_map[k] for k in listed]
            object.__setattr__(self, "_targets", np.array(targets, dtype=np.int64))

    def targets(self) -> list[int]:
        """The values the rule can produce (class indices or the ignore index); None-free."""
        if self.value_map is not None:
            return sorted(set(self.value_map.values()))
        if self.binarize is not None:
            return [0, 1]
        return []

    def read(self, path: Path, ignore_index: int) -> np.ndarray:
        """The mask file ``path`` as ``(H, W)`` int64 labels by this rule."""
        if self.colours is not None:
            return self.colours.labels(read_rgb_mask(path), ignore_index, str(path))
        stored = read_mask(path)
        if self.binarize is not None:
            return (stored > self.binarize).astype(np.int64)
        if self.value_map is not None:
            return self._mapped(stored, path, ignore_index)
        return stored

    def _mapped(self, stored: np.ndarray, path: Path, ignore_index: int) -> np.ndarray:
        keys, targets = self._keys, self._targets
        if len(keys):
            slot = np.searchsorted(keys, stored).clip(max=len(keys) - 1)
            found = keys[slot] == stored
            mapped = targets[slot]
        else:
            found = np.zeros(stored.shape, bool)
            mapped = np.zeros(stored.shape, np.int64)
        if found.all():
            return mapped
        if CATCH_ALL in self.value_map:
            return np.where(found, mapped, self.value_map[CATCH_ALL])
        raise PixelwiseError(
            f"mask '{path}' has values {format_values(np.unique(stored[~found]))} that are "
            f"not in the mask value map {format_map(self.value_map)}; add them (map a value "
            f"to {ignore_index} to ignore it, or '*' for every other value)"
        )

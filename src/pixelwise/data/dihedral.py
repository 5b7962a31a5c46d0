"""The eight flips and quarter turns of a 2-D grid (the dihedral group D4).

One element is written as three steps applied in this order: an optional transpose (rows
become columns), then an optional flip of the rows (top <-> bottom), then an optional flip
of the columns (left <-> right). EXIF orientation tags and test-time augmentation both
use them, on numpy arrays and on torch tensors alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _flip(x: Array, axis: int) -> Array:
    return x.flip(axis) if isinstance(x, torch.Tensor) else np.flip(x, axis)


@dataclass(frozen=True)
class Dihedral:
    """Transpose, then flip rows, then flip columns (each step optional)."""

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    @property
    def is_identity(self) -> bool:
        return not (self.transpose or self.flip_rows or self.flip_cols)

    def apply(self, x: Array, axes: tuple[int, int] = (0, 1)) -> Array:
        """``x`` transformed over its ``(row, column)`` ``axes``; numpy gives views."""
        rows, cols = axes
        if self.transpose:
            x = x.swapaxes(rows, cols)
        if self.flip_rows:
            x = _flip(x, rows)
        if self.flip_cols:
            x = _flip(x, cols)
        return x

    def inverse(self) -> Dihedral:
        """The element that undoes this one (a flip after a transpose moves to the other axis)."""
        if not self.transpose:
            return self
        return Dihedral(True, flip_rows=self.flip_cols, flip_cols=self.flip_rows)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(H, W)`` of the result for an input of ``height × width``."""
        return (width, height) if self.transpose else (height, width)

    def source_region(
        self, rows: tuple[int, int], cols: tuple[int, int], height: int, width: int
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """The input rows and columns ``[start, stop)`` that a region of the output comes from.

        ``height × width`` is the *output* size. Applying this element to that input region
        gives exactly the output region.
        """
        if self.flip_rows:
            rows = (height - rows[1], height - rows[0])
        if self.flip_cols:
            cols = (width - cols[1], width - cols[0])
        return (cols, rows) if self.transpose else (rows, cols)


IDENTITY = Dihedral()
HFLIP = Dihedral(flip_cols=True)
VFLIP = Dihedral(flip_rows=True)
ALL = tuple(Dihedral(t, r, c) for t in (False, True) for r in (False, True) for c in (False, True))
"""The eight elements, identity first."""

_EXIF = {
    1: IDENTITY,
    2: HFLIP,
    3: Dihedral(flip_rows=True, flip_cols=True),
    4: VFLIP,
    5: Dihedral(transpose=True),
    6: Dihedral(transpose=True, flip_cols=True),
    7: Dihedral(transpose=True, flip_rows=True, flip_cols=True),
    8: Dihedral(transpose=True, flip_rows=True),
}


def from_exif(orientation: int) -> Dihedral | None:
    """The transform from stored to displayed pixels for EXIF/TIFF orientation 1..8; else None."""
    return _EXIF.get(orientation)

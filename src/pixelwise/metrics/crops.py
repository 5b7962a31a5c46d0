"""Crop-factor evaluation: accuracy against distance from the image centre.

Each factor ``f`` selects the central crop of every image: ``round(f * H)`` rows by
``round(f * W)`` columns, at least 1 x 1. Rounding is half up (a product within 1e-9
of ``k + 0.5`` counts as ``k + 0.5``, so decimal factors behave as written). The crop
starts at row ``(H - h) // 2`` and column ``(W - w) // 2``: with an odd margin the extra
row or column is left below or to the right. Every factor has its own dataset-level
``ConfusionMatrix``.

Factors must decrease strictly, so each crop contains the next one. *Ring* ``i`` is
the pixels of crop ``f[i]`` outside crop ``f[i + 1]``, and the last ring is the
smallest crop itself; with a first factor of 1.0 the rings partition every image, from
the border inwards. Ring counts are differences of the crops' confusion matrices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.confusion import ConfusionMatrix
from pixelwise.metrics.inputs import json_floats

DEFAULT_FACTORS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)


@dataclass(frozen=True)
class CropScores:
    """Dataset-level scores of central crops, one entry per factor, in factor order.

    Attributes:
        factors: crop factors, strictly decreasing, in (0, 1].
        pixel_accuracy: correct / counted pixels inside each crop (NaN if none counted).
        miou: mean IoU inside each crop (``SegmentationScores.miou``).
        num_pixels: counted (not ignored) pixels inside each crop.
        ring_pixel_accuracy: correct / counted pixels of each ring (NaN if none counted).
        ring_num_pixels: counted pixels of each ring.
        level: always ``"dataset"``: pixels are pooled over images before dividing.
    """

    factors: tuple[float, ...]
    pixel_accuracy: tuple[float, ...]
    miou: tuple[float, ...]
    num_pixels: tuple[int, ...]
    ring_pixel_accuracy: tuple[float, ...]
    ring_num_pixels: tuple[int, ...]
    level: Literal["dataset"] = "dataset"

    def to_dict(self) -> dict:
        """The ``metrics.json`` form: lists in factor order, NaN written as ``None``.

        Keys: ``level``, ``factors``, ``pixel_accuracy``, ``miou``, ``num_pixels``,
        ``ring_pixel_accuracy`` and ``ring_num_pixels``.
        """
        return {
            "level": self.level,
            "factors": list(self.factors),
            "pixel_accuracy": json_floats(self.pixel_accuracy),
            "miou": json_floats(self.miou),
            "num_pixels": list(self.num_pixels),
            "ring_pixel_accuracy": json_floats(self.ring_pixel_accuracy),
            "ring_num_pixels": list(self.ring_num_pixels),
        }


class CropFactorScores:
    """Streaming confusion matrices of central crops, one per factor.

    Args:
        num_classes: C, the number of classes.
        ignore_index: target value of pixels to skip, or None to count every pixel.
        factors: crop sides as fractions of the image sides, strictly decreasing, in (0, 1].
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = 255,
        factors: Sequence[float] = DEFAULT_FACTORS,
    ) -> None:
        self.factors = _checked_factors(factors)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self._crops = [ConfusionMatrix(num_classes, ignore_index) for _ in self.factors]

    def reset(self) -> None:
        """Zero every count."""
        for confusion in self._crops:
            confusion.reset()

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of images, all of one size.

        Args:
            pred: float scores (N, C, H, W), reduced by argmax over dim 1; or integer
                labels (N, H, W).
            target: integer labels (N, H, W); ``ignore_index`` marks skipped pixels.

        Raises:
            ValueError: as ``ConfusionMatrix.update``, and when H and W differ.
        """
        size = tuple(target.shape[-2:])
        if tuple(pred.shape[-2:]) != size:
            raise ValueError(
                f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in H, W"
            )
        for factor, confusion in zip(self.factors, self._crops, strict=True):
            rows, cols = central_crop(size, factor)
            confusion.update(pred[..., rows, cols], target[..., rows, cols])

    def compute(self, class_names: Sequence[str] | None = None) -> CropScores:
        """Scores from the counts so far.

        Args:
            class_names: one unique name per class; default ``class_0``, ``class_1``, ...

        Raises:
            PixelwiseError: as ``ConfusionMatrix.compute``.
        """
        scores = [confusion.compute(class_names) for confusion in self._crops]
        correct = np.array([int(confusion.matrix.trace()) for confusion in self._crops])
        counted = np.array([s.num_pixels for s in scores])
        ring_correct = correct - np.append(correct[1:], 0)
        ring_counted = counted - np.append(counted[1:], 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ring_accuracy = ring_correct / ring_counted
        return CropScores(
            factors=self.factors,
            pixel_accuracy=tuple(s.pixel_accuracy for s in scores),
            miou=tuple(s.miou for s in scores),
            num_pixels=tuple(int(n) for n in counted),
            ring_pixel_accuracy=tuple(ring_accuracy.tolist()),
            ring_num_pixels=tuple(int(n) for n in ring_counted),
        )


def central_crop(size: tuple[int, int], factor: float) -> tuple[slice, slice]:
    """Row and column slices of the central crop of an (H, W) image at ``factor``."""
    height, width = size
    return _central_span(height, factor), _central_span(width, factor)


def _central_span(length: int, factor: float) -> slice:
    """The centred span of ``max(1, round_half_up(factor * length))`` of ``length`` indices."""
    kept = max(1, math.floor(factor * length + 0.5 + 1e-9))
    start = (length - kept) // 2
    return slice(start, start + kept)


def _checked_factors(factors: Sequence[float]) -> tuple[float, ...]:
    """``factors`` as floats; PixelwiseError unless non-empty, in (0, 1], strictly decreasing."""
    values = tuple(float(f) for f in factors)
    if not values:
        raise PixelwiseError("factors must name at least one crop factor")
    for f in values:
        if not 0 < f <= 1:
            raise PixelwiseError(f"crop factor {f} must lie in (0, 1]")
    for larger, smaller in pairwise(values):
        if not larger > smaller:
            raise PixelwiseError(
                f"crop factors must decrease strictly, got {larger} before {smaller} in {values}"
            )
    return values

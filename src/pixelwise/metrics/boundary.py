"""Boundary F1 (BF): how well predicted class contours follow the true ones.

The measure of Csurka et al. (2013), "What is a good evaluation measure for semantic
segmentation?", as used to evaluate SegNet. For each image and class ``c``:

- The *boundary* of a binary map is its pixels that have an 8-neighbour outside the
  map: the map minus its 3x3 erosion. Ignored target pixels are neutral: they never
  belong to a boundary, and as neighbours they count as inside every map, so a class
  next to an ignored region has no contour along it, in the target or the prediction.
  Neighbours beyond the image edge count as inside too, so the image frame is no
  contour (as in the BSDS ``seg2bmap`` convention). A region outlined only by ignored
  pixels (such as PASCAL VOC's void band around objects) thus has no contour at all.
- The maps are ``target == c`` and ``pred == c``, each restricted to pixels that are
  not ignored.
- Precision is the fraction of predicted boundary pixels that lie within ``tolerance``
  pixels (Euclidean distance between pixel centres) of a target boundary pixel; recall
  is the fraction of target boundary pixels within ``tolerance`` of a predicted one;
  ``BF = 2PR / (P + R)``, and 0 when P + R = 0.
- With both boundaries empty (the class is absent, or has no contour in either map)
  the image gives no BF for ``c``; with exactly one of them empty, BF is 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.inputs import class_names_or_default, json_float, label_arrays

_NEIGHBOURHOOD = np.ones((3, 3), dtype=np.uint8)


@dataclass(frozen=True)
class BoundaryScores:
    """Boundary F1 scores, averaged per class over the images where they are defined.

    Averaging (``"class_over_images"``): ``per_class[c]`` is the mean of the per-image
    BF of class ``c`` over the images where it is defined (NaN when there are none), and
    ``mean_bf`` is the mean of the defined ``per_class`` values (NaN when none is). This
    differs from SegNet's tables, which average each image over its classes first.

    Attributes:
        mean_bf: mean over classes of ``per_class``, in [0, 1].
        per_class: per-class mean BF over images, in [0, 1], NaN where never defined.
        images_scored: per class, the number of images where its BF was defined.
        class_names: per-class names.
        num_images: number of images seen.
        tolerance_px: the matching distance, in pixels.
        level: always ``"per_image"``: BF is computed per image, then averaged.
        averaging: always ``"class_over_images"``, the order of the averages.
    """

    mean_bf: float
    per_class: tuple[float, ...]
    images_scored: tuple[int, ...]
    class_names: tuple[str, ...]
    num_images: int
    tolerance_px: float
    level: Literal["per_image"] = "per_image"
    averaging: Literal["class_over_images"] = "class_over_images"

    def to_dict(self) -> dict:
        """The ``metrics.json`` form: plain Python numbers, NaN written as ``None``.

        Keys: ``level``, ``averaging``, ``tolerance_px``, ``mean_bf``, ``num_images``,
        ``per_class`` (name -> BF or None) and ``images_scored`` (name -> count).
        """
        return {
            "level": self.level,
            "averaging": self.averaging,
            "tolerance_px": self.tolerance_px,
            "mean_bf": json_float(self.mean_bf),
            "num_images": self.num_images,
            "per_class": {
                name: json_float(value)
                for name, value in zip(self.class_names, self.per_class, strict=True)
            },
            "images_scored": dict(zip(self.class_names, self.images_scored, strict=True)),
        }


class BoundaryF1:
    """Streaming boundary F1: per-image, per-class BF summed on the CPU.

    Args:
        num_classes: C, the number of classes.
        ignore_index: target value of pixels to leave out, or None to use every pixel.
        tolerance: the largest distance, in pixels, at which boundary pixels match; >= 0.
    """

    def __init__(
        self, num_classes: int, ignore_index: int | None = 255, tolerance: float = 2.0
    ) -> None:
        if num_classes < 1:
            raise PixelwiseError(f"num_classes must be at least 1, got {num_classes}")
        if not (math.isfinite(tolerance) and tolerance >= 0):
            raise PixelwiseError(f"tolerance must be a finite number >= 0, got {tolerance}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.tolerance = float(tolerance)
        self._sum = np.zeros(num_classes)
        self._count = np.zeros(num_classes, dtype=np.int64)
        self._num_images = 0

    def reset(self) -> None:
        """Forget every image seen."""
        self._sum[:] = 0
        self._count[:] = 0
        self._num_images = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of images.

        Args:
            pred: float scores (N, C, H, W), reduced by argmax over dim 1; or integer
                labels (N, H, W).
            target: integer labels (N, H, W); ``ignore_index`` marks ignored pixels.

        Raises:
            ValueError: on a wrong dtype, a shape mismatch or a wrong channel count.
            PixelwiseError: on labels outside ``[0, C)`` that are not the ignore index.
        """
        labels, truth = self._as_labels(pred, target)
        for image_pred, image_target in zip(labels, truth, strict=True):
            scores = self._image_scores(image_pred, image_target)
            defined = ~np.isnan(scores)
            self._sum[defined] += scores[defined]
            self._count += defined
            self._num_images += 1

    def compute(self, class_names: Sequence[str] | None = None) -> BoundaryScores:
        """Scores over the images so far.

        Args:
            class_names: one unique name per class; default ``class_0``, ``class_1``, ...

        Raises:
            PixelwiseError: if the names are wrong.
        """
        names = class_names_or_default(class_names, self.num_classes)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_class = self._sum / self._count
        defined = per_class[self._count > 0]
        return BoundaryScores(
            mean_bf=float(defined.mean()) if defined.size else math.nan,
            per_class=tuple(per_class.tolist()),
            images_scored=tuple(int(n) for n in self._count),
            class_names=names,
            num_images=self._num_images,
            tolerance_px=self.tolerance,
        )

    def _as_labels(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Predicted and target labels as int64 (N, H, W) arrays, checked."""
        c = self.num_classes
        labels, truth = label_arrays(pred, target, c)
        valid = self._valid(truth)
        for name, values in (("target", truth[valid]), ("predicted", labels[valid])):
            outside = (values < 0) | (values >= c)
            if outside.any():
                raise PixelwiseError(
                    f"{int(outside.sum())} {name} pixels have labels outside [0, {c}) "
                    f"(e.g. {int(values[outside][0])}; ignore index {self.ignore_index}); "
                    "check num_classes and the ignore index"
                )
        return labels, truth

    def _valid(self, target: np.ndarray) -> np.ndarray:
        """Boolean mask, target's shape: pixels that are not ignored."""
        if self.ignore_index is None:
            return np.ones(target.shape, dtype=bool)
        return target != self.ignore_index

    def _image_scores(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        """(C,) BF of one image's (H, W) labels; NaN for classes without any boundary."""
        valid = self._valid(target)
        ignored = ~valid
        scores = np.full(self.num_classes, math.nan)
        counts = np.bincount(pred[valid], minlength=self.num_classes)
        counts += np.bincount(target[valid], minlength=self.num_classes)
        for c in np.flatnonzero(counts):
            pred_edge = boundary((pred == c) & valid, ignored)
            target_edge = boundary((target == c) & valid, ignored)
            scores[c] = boundary_f1(pred_edge, target_edge, self.tolerance)
        return scores


def boundary(mask: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """Contour of a region: its pixels with an 8-neighbour outside it.

    Args:
        mask: (H, W) bool, the region.
        neutral: (H, W) bool, pixels that count as inside the region when they are
            neighbours (ignored pixels). Neighbours beyond the image edge count as inside.

    Returns:
        (H, W) bool: ``mask`` minus the 3x3 erosion of ``mask | neutral``.
    """
    grown = (mask | neutral).astype(np.uint8)
    # cv2.erode's default border value leaves the outside of the image neutral.
    return mask & ~cv2.erode(grown, _NEIGHBOURHOOD).astype(bool)


def boundary_f1(pred_edge: np.ndarray, target_edge: np.ndarray, tolerance: float) -> float:
    """BF of two (H, W) bool boundary maps at ``tolerance`` pixels; NaN if both are empty."""
    has_pred, has_target = bool(pred_edge.any()), bool(target_edge.any())
    if not (has_pred or has_target):
        return math.nan
    if not (has_pred and has_target):
        return 0.0
    # Every edge pixel and its nearest counterpart lie in the box: distances stay exact.
    box = _bounding_box(pred_edge | target_edge)
    pred_edge, target_edge = pred_edge[box], target_edge[box]
    precision = _matched_fraction(pred_edge, target_edge, tolerance)
    recall = _matched_fraction(target_edge, pred_edge, tolerance)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice]:
    """Row and column slices of the smallest box holding every pixel of a non-empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _matched_fraction(edge: np.ndarray, reference: np.ndarray, tolerance: float) -> float:
    """Fraction of ``edge`` pixels within ``tolerance`` pixels of a ``reference`` pixel.

    Both maps are (H, W) bool; ``reference`` must not be empty.
    """
    # Exact Euclidean distance to the nearest reference pixel, rounded to float32; the
    # tolerance is rounded alike, so a tolerance of exactly sqrt(2) matches diagonals.
    distance = cv2.distanceTransform(
        (~reference).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
    )
    return float(np.mean(distance[edge] <= np.float32(tolerance)))

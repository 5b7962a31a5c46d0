"""Object-level scores: connected regions matched one-to-one by IoU.

An instance map is an integer array (H, W): 0 is background and every other value is one
object (ids need not be contiguous). ``connected_components`` turns a semantic map into
one. ``match_instances`` computes the IoU of every (ground truth, prediction) pair at
once, from a joint histogram of the pixels' (gt id, pred id) pairs, and matches objects
one-to-one. ``MatchCounts`` turns matches into TP/FP/FN, precision, recall, F1 and the
2018 Data Science Bowl (DSB) score at IoU thresholds. ``InstanceScores`` accumulates them
over an evaluation, class by class.

Conventions:

- A match needs an IoU strictly greater than the threshold (the DSB rule), everywhere.
- For thresholds of 0.5 and above the matching is unique by construction: IoU(g, p) > 0.5
  means ``|g ∩ p| > |g ∪ p| / 2``, so p covers more than half of g and g more than half
  of p; since the objects of one map are disjoint, no other object can do the same.
  Every pair above the threshold is then a match.
- Below 0.5 an object may overlap several others above the threshold. The matching is
  then a maximum assignment (``scipy.optimize.linear_sum_assignment``): as many pairs
  above the threshold as possible and, among those, the largest total IoU.
- NaN means undefined: precision without predicted objects, recall without ground-truth
  objects, F1 and the DSB score with neither.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.inputs import class_names_or_default, json_float, label_arrays

IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
"""0.5, 0.55, ..., 0.95: the IoU thresholds of the DSB score (and of COCO's AP)."""


def connected_components(
    semantic: npt.ArrayLike, classes: Iterable[int], connectivity: int = 8
) -> np.ndarray:
    """Instance map (H, W) int64 of the connected regions of ``classes`` in ``semantic``.

    Regions of different classes are different objects even where they touch. Ids run
    from 1, class by class in the order given, and within a class in raster order of
    each region's first pixel (``scipy.ndimage.label``); every other pixel is 0.

    Args:
        semantic: (H, W) integer class labels.
        classes: the class values whose regions become objects, e.g. ``[1]`` for the
            foreground of a binary mask.
        connectivity: 4 (edge neighbours) or 8 (edge and corner neighbours).

    Raises:
        PixelwiseError: on a bad connectivity, repeated classes or a map that is not 2-D.
    """
    semantic = _label_map(semantic, "semantic")
    structure = _structure(connectivity)
    classes = list(classes)
    if len(set(classes)) != len(classes):
        raise PixelwiseError(f"classes must not repeat, got {classes}")
    instances = np.zeros(semantic.shape, dtype=np.int64)
    count = 0
    for value in classes:
        labels, found = ndimage.label(semantic == value, structure=structure)
        region = labels > 0
        instances[region] = labels[region] + count
        count += found
    return instances


@dataclass(frozen=True)
class MatchCounts:
    """TP counts of a one-to-one matching at IoU thresholds, and the scores they give.

    Counts add up (``a + b``) over images and classes; the scores of a sum are pooled.

    Attributes:
        thresholds: (T,) increasing IoU thresholds; a match needs IoU > threshold.
        true_positives: (T,) number of matches at each threshold.
        num_gt: number of ground-truth objects.
        num_pred: number of predicted objects.
    """

    thresholds: tuple[float, ...]
    true_positives: tuple[int, ...]
    num_gt: int
    num_pred: int

    @classmethod
    def zero(cls, thresholds: Sequence[float]) -> MatchCounts:
        """No objects at all, at ``thresholds``."""
        thresholds = _check_thresholds(thresholds)
        return cls(thresholds, (0,) * len(thresholds), 0, 0)

    def __add__(self, other: MatchCounts) -> MatchCounts:
        if other.thresholds != self.thresholds:
            raise ValueError(
                f"cannot add counts at thresholds {other.thresholds} to {self.thresholds}"
            )
        true_positives = tuple(
            a + b for a, b in zip(self.true_positives, other.true_positives, strict=True)
        )
        return MatchCounts(
            self.thresholds,
            true_positives,
            self.num_gt + other.num_gt,
            self.num_pred + other.num_pred,
        )

    @property
    def false_positives(self) -> np.ndarray:
        """(T,) predicted objects left unmatched."""
        return self.num_pred - np.asarray(self.true_positives)

    @property
    def false_negatives(self) -> np.ndarray:
        """(T,) ground-truth objects left unmatched."""
        return self.num_gt - np.asarray(self.true_positives)

    @property
    def precision(self) -> np.ndarray:
        """(T,) TP / (TP + FP); NaN without predicted objects."""
        return _ratio(self.true_positives, self.num_pred)

    @property
    def recall(self) -> np.ndarray:
        """(T,) TP / (TP + FN); NaN without ground-truth objects."""
        return _ratio(self.true_positives, self.num_gt)

    @property
    def f1(self) -> np.ndarray:
        """(T,) 2 TP / (2 TP + FP + FN); NaN with no objects on either side."""
        return _ratio(2 * np.asarray(self.true_positives), self.num_gt + self.num_pred)

    @property
    def dsb(self) -> np.ndarray:
        """(T,) TP / (TP + FP + FN), the DSB score at each threshold; NaN with no objects."""
        tp = np.asarray(self.true_positives)
        return _ratio(tp, self.num_gt + self.num_pred - tp)

    @property
    def ap_dsb(self) -> float:
        """Mean of ``dsb`` over the thresholds (what the DSB calls AP); NaN with no objects."""
        return float(np.mean(self.dsb))

    def to_dict(self) -> dict:
        """``precision@t``, ``recall@t``, ``f1@t`` at the first threshold t, ``ap_dsb``,
        ``num_gt`` and ``num_pred``; NaN written as None."""
        at = f"@{self.thresholds[0]:g}"
        return {
            f"precision{at}": json_float(self.precision[0]),
            f"recall{at}": json_float(self.recall[0]),
            f"f1{at}": json_float(self.f1[0]),
            "ap_dsb": json_float(self.ap_dsb),
            "num_gt": self.num_gt,
            "num_pred": self.num_pred,
        }


@dataclass(frozen=True, eq=False)
class InstanceMatch:
    """The IoU of every object pair of two instance maps and their one-to-one matching.

    Attributes:
        iou: (num_gt, num_pred) float64; ``iou[i, j]`` is the IoU of ``gt_ids[i]`` and
            ``pred_ids[j]``.
        gt_ids: (num_gt,) int64 ground-truth object ids, ascending.
        pred_ids: (num_pred,) int64 predicted object ids, ascending.
        threshold: the IoU a match must exceed.
        pairs: (M, 2) int64 matched ``(gt id, pred id)`` pairs, by ascending gt id.
        pair_iou: (M,) float64 IoU of each matched pair.
    """

    iou: np.ndarray
    gt_ids: np.ndarray
    pred_ids: np.ndarray
    threshold: float
    pairs: np.ndarray
    pair_iou: np.ndarray

    def counts(self, thresholds: Sequence[float] | None = None) -> MatchCounts:
        """Match counts at ``thresholds`` (default: this match's own threshold)."""
        thresholds = _check_thresholds((self.threshold,) if thresholds is None else thresholds)
        true_positives = tuple(len(_assign(self.iou, t)[0]) for t in thresholds)
        return MatchCounts(thresholds, true_positives, len(self.gt_ids), len(self.pred_ids))


def match_instances(
    pred: npt.ArrayLike, gt: npt.ArrayLike, threshold: float = 0.5
) -> InstanceMatch:
    """Match the objects of two instance maps one-to-one by IoU.

    Args:
        pred: (H, W) predicted instance ids, 0 for background.
        gt: (H, W) ground-truth instance ids, 0 for background.
        threshold: in [0, 1); a match needs IoU strictly greater than it. See the module
            notes for how objects are matched below 0.5.

    Raises:
        PixelwiseError: on maps that are not 2-D integer arrays of one shape, negative
            ids, or a threshold outside [0, 1).
    """
    (threshold,) = _check_thresholds((threshold,))
    pred, gt = _label_map(pred, "pred"), _label_map(gt, "gt")
    if pred.shape != gt.shape:
        raise PixelwiseError(f"pred {pred.shape} and gt {gt.shape} instance maps differ in shape")
    iou, gt_ids, pred_ids = _iou_matrix(gt, pred)
    rows, cols = _assign(iou, threshold)
    pairs = np.stack([gt_ids[rows], pred_ids[cols]], axis=1)
    return InstanceMatch(iou, gt_ids, pred_ids, threshold, pairs, iou[rows, cols])


def dsb2018_score(pred_instances: npt.ArrayLike, gt_instances: npt.ArrayLike) -> float:
    """The 2018 Data Science Bowl score of one image, in [0, 1].

    The mean over IoU thresholds 0.5, 0.55, ..., 0.95 of TP / (TP + FP + FN), where a
    match needs IoU strictly greater than the threshold.

    An image with no objects and none predicted scores 1: the prediction is exactly
    right. (The competition's formula gives 0/0 there; 1 keeps such images in a mean
    over images, as a perfect answer.)

    Args:
        pred_instances: (H, W) predicted instance ids, 0 for background.
        gt_instances: (H, W) ground-truth instance ids, 0 for background.
    """
    counts = match_instances(pred_instances, gt_instances).counts(IOU_THRESHOLDS)
    if counts.num_gt == counts.num_pred == 0:
        return 1.0
    return counts.ap_dsb


@dataclass(frozen=True)
class ObjectScores:
    """Object-level scores of one evaluation, from counts pooled over every image.

    Attributes:
        class_names: names of the scored classes.
        per_class: one ``MatchCounts`` per scored class, summed over images.
        connectivity: 4 or 8, the neighbourhood that formed the objects.
        num_images: number of images scored.
        level: always ``"object"``.
    """

    class_names: tuple[str, ...]
    per_class: tuple[MatchCounts, ...]
    connectivity: int
    num_images: int
    level: Literal["object"] = "object"

    @property
    def thresholds(self) -> tuple[float, ...]:
        """The IoU thresholds, increasing."""
        return self.per_class[0].thresholds

    @property
    def pooled(self) -> MatchCounts:
        """Counts summed over every scored class (and image)."""
        return sum(self.per_class, start=MatchCounts.zero(self.thresholds))

    def to_dict(self) -> dict:
        """The ``metrics.json`` form: plain Python numbers, NaN written as None.

        Keys: ``level`` ("object"), ``pooled_over`` ("images and classes"),
        ``connectivity``, ``classes`` (names), ``thresholds``, ``num_images``, then
        ``precision@t``, ``recall@t``, ``f1@t`` at the first (lowest) threshold t,
        ``ap_dsb`` (mean over the thresholds of TP / (TP + FP + FN)), ``num_gt`` and
        ``num_pred`` from the counts of every class and image together; ``per_class``
        maps each name to the same score keys from that class's counts. A class with no
        objects, predicted or true, has every score None. Matches need IoU > t.
        """
        return {
            "level": self.level,
            "pooled_over": "images and classes",
            "connectivity": self.connectivity,
            "classes": list(self.class_names),
            "thresholds": list(self.thresholds),
            "num_images": self.num_images,
            **self.pooled.to_dict(),
            "per_class": {
                name: counts.to_dict()
                for name, counts in zip(self.class_names, self.per_class, strict=True)
            },
        }


class InstanceScores:
    """Streaming object-level scores of semantic predictions, class by class.

    For every image and every scored class, the pixels of that class in the target and
    in the prediction are split into connected components (the objects), matched
    one-to-one by IoU (``match_instances``), and the match counts at each threshold
    are added up.

    Ignored target pixels (``ignore_index``) belong to no object. Target objects are
    therefore formed on the other pixels. Predicted objects are formed on the whole
    prediction, so an ignored band does not split them, but their ignored pixels count
    in no IoU, and a predicted object lying entirely in ignored pixels is dropped
    (neither a true nor a false positive).

    Args:
        num_classes: C, the number of classes.
        ignore_index: target value to skip, or None.
        classes: the class indices to score, default every class (0 included: pass the
            foreground classes when 0 is background).
        connectivity: 4 or 8, the neighbourhood of connected components.
        thresholds: increasing IoU thresholds in [0, 1); default 0.5, 0.55, ..., 0.95.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = 255,
        classes: Sequence[int] | None = None,
        connectivity: int = 8,
        thresholds: Sequence[float] = IOU_THRESHOLDS,
    ) -> None:
        if num_classes < 1:
            raise PixelwiseError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.classes = tuple(range(num_classes) if classes is None else (int(c) for c in classes))
        self._check_classes()
        _structure(connectivity)
        self.connectivity = connectivity
        self.thresholds = _check_thresholds(thresholds)
        self.reset()

    def _check_classes(self) -> None:
        bad = [c for c in self.classes if not 0 <= c < self.num_classes or c == self.ignore_index]
        if bad or not self.classes or len(set(self.classes)) != len(self.classes):
            raise PixelwiseError(
                f"classes must be distinct indices in [0, {self.num_classes}) other than the "
                f"ignore index {self.ignore_index}, got {list(self.classes)}"
            )

    def reset(self) -> None:
        """Forget every image."""
        self._counts = [MatchCounts.zero(self.thresholds) for _ in self.classes]
        self.num_images = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch, image by image (on the CPU).

        Args:
            pred: float scores (N, C, H, W), reduced by argmax over dim 1; or integer
                labels (N, H, W).
            target: integer labels (N, H, W); ``ignore_index`` marks skipped pixels.

        Raises:
            ValueError: on a wrong dtype, a shape mismatch or a wrong channel count.
            PixelwiseError: on labels outside [0, C) other than the ignore index.
        """
        pred, target = label_arrays(pred, target, self.num_classes)
        ignored = (
            np.zeros(target.shape, dtype=bool)
            if self.ignore_index is None
            else target == self.ignore_index
        )
        _check_range(pred, "predicted", self.num_classes)
        _check_range(np.where(ignored, 0, target), "target", self.num_classes)
        for image in zip(pred, target, ignored, strict=True):
            self._add_image(*image)
        self.num_images += len(target)

    def _add_image(self, pred: np.ndarray, target: np.ndarray, ignored: np.ndarray) -> None:
        """Add one image: labels pred, target and the ignored mask, all (H, W)."""
        predicted = np.bincount(pred.ravel(), minlength=self.num_classes)
        support = np.bincount(target[~ignored], minlength=self.num_classes)
        for k, value in enumerate(self.classes):
            if predicted[value] or support[value]:
                gt_objects = connected_components(target, [value], self.connectivity)
                pred_objects = connected_components(pred, [value], self.connectivity)
                pred_objects[ignored] = 0
                match = match_instances(pred_objects, gt_objects)
                self._counts[k] += match.counts(self.thresholds)

    def compute(self, class_names: Sequence[str] | None = None) -> ObjectScores:
        """Scores from the counts so far.

        Args:
            class_names: one unique name per class (all C of them, not only the scored
                ones); default ``class_0``, ``class_1``, ...

        Raises:
            PixelwiseError: if the names are not C unique names.
        """
        names = class_names_or_default(class_names, self.num_classes)
        return ObjectScores(
            class_names=tuple(names[c] for c in self.classes),
            per_class=tuple(self._counts),
            connectivity=self.connectivity,
            num_images=self.num_images,
        )


def _iou_matrix(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU (num_gt, num_pred) of two instance maps, and their object ids (ascending).

    One ``bincount`` over the pixels' (gt, pred) index pairs gives every intersection;
    its row and column sums (background included) give the object areas.
    """
    gt_ids, gt_index = _dense_ids(gt)
    pred_ids, pred_index = _dense_ids(pred)
    rows, cols = len(gt_ids) + 1, len(pred_ids) + 1
    joint = np.bincount(gt_index * cols + pred_index, minlength=rows * cols).reshape(rows, cols)
    intersection = joint[1:, 1:]
    union = joint[1:].sum(axis=1)[:, None] + joint[:, 1:].sum(axis=0)[None, :] - intersection
    return intersection / union, gt_ids, pred_ids


def _dense_ids(instances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Object ids (K,) ascending, and each pixel's (H*W,) position in ``(0, *ids)``.

    Ids up to the pixel count go through a lookup table (linear time); larger ones are
    sorted, so that the table never outgrows the map.
    """
    flat = instances.ravel().astype(np.int64, copy=False)
    if flat.size == 0 or flat.max() > flat.size:
        values = np.union1d(flat, [0])
        return values[1:], np.searchsorted(values, flat)
    present = np.bincount(flat) > 0
    present[0] = True
    return np.flatnonzero(present)[1:], (np.cumsum(present) - 1)[flat]


def _assign(iou: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the one-to-one matches with IoU > threshold."""
    above = iou > threshold
    if threshold >= 0.5 or not above.any():
        return np.nonzero(above)
    # One point per pair above the threshold, plus its IoU scaled so that the IoU terms
    # sum to less than one point: the most matches first, then the largest total IoU.
    weight = above + above * iou / (2 * min(iou.shape))
    rows, cols = linear_sum_assignment(weight, maximize=True)
    keep = above[rows, cols]
    return rows[keep], cols[keep]


def _label_map(array: npt.ArrayLike, name: str) -> np.ndarray:
    """``array`` as a 2-D array of non-negative integers."""
    array = np.asarray(array)
    if array.ndim != 2 or array.dtype.kind not in "iub":
        raise PixelwiseError(
            f"{name} must be a 2-D integer label map (H, W), got shape {array.shape} "
            f"and dtype {array.dtype}"
        )
    if array.size and array.min() < 0:
        raise PixelwiseError(f"{name} holds negative labels (minimum {array.min()})")
    return array


def _structure(connectivity: int) -> np.ndarray:
    """The 3x3 neighbourhood of ``scipy.ndimage.label`` for 4- or 8-connectivity."""
    if connectivity not in (4, 8):
        raise PixelwiseError(f"connectivity must be 4 or 8, got {connectivity}")
    return ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)


def _check_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(t) for t in thresholds)
    if not values or any(not 0.0 <= t < 1.0 for t in values) or list(values) != sorted(set(values)):
        raise PixelwiseError(
            f"IoU thresholds must be increasing values in [0, 1), got {list(thresholds)}"
        )
    return values


def _check_range(labels: np.ndarray, name: str, num_classes: int) -> None:
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise PixelwiseError(
            f"{name} labels outside [0, {num_classes}): {sorted(set(labels[bad].tolist()))[:5]}; "
            "check num_classes and the ignore index"
        )


def _ratio(numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> np.ndarray:
    """Element-wise float64 ``numerator / denominator``, NaN where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.broadcast_to(np.asarray(denominator, dtype=np.float64), numerator.shape)
    out = np.full(numerator.shape, math.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out

"""Scores of resampled image sets: bootstrap intervals, paired differences, Pareto fronts.

A run's evaluation is kept as one ``(C, C)`` confusion matrix per image (rows targets,
columns predictions) and one row of per-class boundary F1 per image (NaN where a class
has no contour in the image). A resample of the N images is a row of *weights*: how
many times each image was drawn. Scores of a resample pool the drawn images exactly as
the evaluation pools all of them:

- pooled scores (mIoU, pixel accuracy, class-average accuracy, per-class IoU) come from
  the weighted sum of the images' matrices, with the NaN rules of
  :class:`~pixelwise.metrics.SegmentationScores` (a class with neither pixels nor
  predictions in the resample is left out of the means);
- boundary F1 is averaged per class over the drawn images where it is defined, then
  over the classes, as :class:`~pixelwise.metrics.BoundaryF1` does.

With weights of all ones these are the evaluation's own scores. The percentile
bootstrap draws the same resamples (one seed) for every run, so the difference of two
runs on a resample is a *paired* difference: image difficulty cancels out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

POOLED = ("miou", "pixel_accuracy", "mean_accuracy")
BOUNDARY = "boundary_f1"
METRICS = (*POOLED, BOUNDARY)


def resample_weights(num_images: int, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, num_images)`` int64: how often each image is drawn (N draws with
    replacement per resample), from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, num_images, size=(resamples, num_images))
    offsets = np.arange(resamples)[:, None] * num_images
    counts = np.bincount((draws + offsets).ravel(), minlength=resamples * num_images)
    return counts.reshape(resamples, num_images)


def pooled_scores(matrices: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Pooled scores of each resample.

    Args:
        matrices: ``(N, C, C)`` per-image confusion counts.
        weights: ``(B, N)`` image weights.

    Returns:
        ``miou``, ``pixel_accuracy``, ``mean_accuracy`` shaped ``(B,)`` and ``iou``
        shaped ``(B, C)``, float64, NaN where undefined.
    """
    n, c, _ = matrices.shape
    pooled = (weights.astype(np.float64) @ matrices.reshape(n, c * c)).reshape(-1, c, c)
    tp = np.diagonal(pooled, axis1=1, axis2=2)
    support, predicted = pooled.sum(axis=2), pooled.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = tp / (support + predicted - tp)
        recall = tp / support
        accuracy = tp.sum(axis=1) / support.sum(axis=1)
    return {
        "miou": nan_mean(iou),
        "pixel_accuracy": accuracy,
        "mean_accuracy": nan_mean(recall),
        "iou": iou,
    }


def boundary_scores(boundary: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean boundary F1 of each resample, ``(B,)``, from per-image values ``(N, C)``."""
    defined = ~np.isnan(boundary)
    w = weights.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = (w @ np.where(defined, boundary, 0.0)) / (w @ defined)
    return nan_mean(per_class)


def nan_mean(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the values that are not NaN; NaN where all are."""
    defined = ~np.isnan(values)
    count = defined.sum(axis=-1)
    total = np.where(defined, values, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / count


def run_scores(
    matrices: np.ndarray, boundary: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` for each resample, ``(B,)``, plus ``iou`` ``(B, C)``."""
    return {**pooled_scores(matrices, weights), BOUNDARY: boundary_scores(boundary, weights)}


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile bootstrap interval ``[low, high]``."""

    value: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        """Whether the whole interval lies on one side of 0 (a difference beyond noise)."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, float | None]:
        return {key: _plain(getattr(self, key)) for key in ("value", "low", "high")}


def _plain(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def interval(estimate: float, resampled: np.ndarray, confidence: float) -> Interval:
    """The ``confidence`` percentile interval of the finite ``resampled`` values."""
    finite = resampled[np.isfinite(resampled)]
    if finite.size == 0:
        return Interval(estimate, np.nan, np.nan)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))


def seed_mean(per_seed: Sequence[np.ndarray]) -> np.ndarray:
    """The mean over seeds (runs of one configuration) of each resample's score."""
    return np.mean(np.stack(per_seed), axis=0)


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[bool]:
    """Which points no other point beats: none has a cost as low and a score as high,
    with one of them strictly better. NaN points are never on the front."""
    cost, score = np.asarray(costs, float), np.asarray(scores, float)
    valid = np.isfinite(cost) & np.isfinite(score)
    front = []
    for i in range(len(cost)):
        dominated = (
            valid
            & (cost <= cost[i])
            & (score >= score[i])
            & ((cost < cost[i]) | (score > score[i]))
        )
        front.append(bool(valid[i] and not dominated.any()))
    return front

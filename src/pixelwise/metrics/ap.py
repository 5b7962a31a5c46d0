"""Average precision of a ranked list of scored detections.

Each detection has a confidence score and a flag saying whether it matched a ground-truth
object (how that is decided, e.g. IoU above a threshold, is up to the caller). Ranking
by descending score gives precision and recall after each detection; ``average_precision``
summarises the curve in one of two conventions:

- ``"step"``: ``sum_n (R_n - R_{n-1}) P_n`` with ``R_0 = 0``, the un-interpolated area
  used by scikit-learn's ``average_precision_score``.
- ``"coco101"``: the 101-point interpolation of the COCO evaluation (``COCOeval.accumulate``
  in pycocotools): precision is made non-increasing from the right, read at recall
  0, 0.01, ..., 1 (the first rank whose recall reaches each point, ``searchsorted`` with
  side ``"left"``), 0 where the recall is never reached, and averaged over the 101 points.
  Precision is ``TP / (TP + FP)`` without pycocotools' ``np.spacing(1)`` added to the
  denominator (which is never 0 here), so values agree with it to rounding.

Ties: detections are ranked by a stable sort on descending score (as pycocotools'
``mergesort``), so tied detections keep their input order and each is one step of the
curve. scikit-learn instead merges tied scores into one threshold, so the two ``"step"``
values agree exactly when the scores are distinct.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from pixelwise.errors import PixelwiseError

Method = Literal["step", "coco101"]

COCO_RECALL_POINTS = np.linspace(0.0, 1.0, 101)
"""The 101 recall points of COCO's interpolation, built exactly as pycocotools builds them."""


@dataclass(frozen=True, eq=False)
class AveragePrecision:
    """AP of one ranked list, with the curve it summarises.

    Attributes:
        ap: average precision in [0, 1]; NaN when there is no ground truth
            (``num_ground_truth == 0``), where recall is undefined.
        precision: (M,) precision after each of the M ranked detections (not interpolated).
        recall: (M,) recall after each ranked detection; NaN when there is no ground truth.
        scores: (M,) the detection scores in rank order (descending).
        method: ``"step"`` or ``"coco101"``.
    """

    ap: float
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    method: Method


def average_precision(
    scores: npt.ArrayLike,
    is_true_positive: npt.ArrayLike,
    num_ground_truth: int,
    method: Method = "step",
) -> AveragePrecision:
    """AP of detections ranked by descending score (stable for ties, see the module notes).

    Args:
        scores: (M,) finite confidence scores, higher is more confident.
        is_true_positive: (M,) bool (or 0/1): whether each detection matched an object.
        num_ground_truth: number of ground-truth objects, matched or not; recall is
            divided by it, so objects that no detection found lower the AP.
        method: ``"step"`` (scikit-learn's sum) or ``"coco101"`` (COCO's interpolation).

    An empty list with ground truth gives AP 0.

    Raises:
        PixelwiseError: on a bad method, mismatched or non-1-D inputs, non-finite scores,
            flags other than 0/1, or more true positives than ``num_ground_truth``.
    """
    if method not in ("step", "coco101"):
        raise PixelwiseError(f"unknown AP method {method!r}; choose 'step' or 'coco101'")
    ranked_scores, hits = _ranked(scores, is_true_positive)
    if num_ground_truth < hits.sum():
        raise PixelwiseError(
            f"num_ground_truth={num_ground_truth} is less than the {int(hits.sum())} "
            "detections marked true positive"
        )
    true_positives = np.cumsum(hits, dtype=np.float64)
    precision = true_positives / np.arange(1, hits.size + 1)
    if num_ground_truth == 0:
        recall = np.full(hits.size, math.nan)
        return AveragePrecision(math.nan, precision, recall, ranked_scores, method)
    recall = true_positives / num_ground_truth
    summarise = _step_ap if method == "step" else _coco101_ap
    return AveragePrecision(summarise(precision, recall), precision, recall, ranked_scores, method)


def _ranked(
    scores: npt.ArrayLike, is_true_positive: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (M,) sorted descending and the matching bool flags (M,), stable for ties."""
    scores = np.asarray(scores, dtype=np.float64)
    flags = np.asarray(is_true_positive)
    if scores.ndim != 1 or flags.shape != scores.shape:
        raise PixelwiseError(
            f"scores {scores.shape} and is_true_positive {flags.shape} must be 1-D and "
            "of equal length"
        )
    if not np.isfinite(scores).all():
        raise PixelwiseError("scores must be finite, got NaN or infinity")
    if flags.dtype != bool and not np.isin(flags, (0, 1)).all():
        raise PixelwiseError(f"is_true_positive must hold 0/1 flags, got {np.unique(flags)}")
    order = np.argsort(-scores, kind="stable")
    return scores[order], flags[order].astype(bool)


def _step_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """``sum_n (R_n - R_{n-1}) P_n`` over the ranked list, with ``R_0 = 0``."""
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def _coco101_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """Mean over COCO's 101 recall points of the non-increasing precision envelope."""
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    rank = np.searchsorted(recall, COCO_RECALL_POINTS, side="left")
    reached = rank < recall.size
    sampled = np.zeros(COCO_RECALL_POINTS.size)
    sampled[reached] = envelope[rank[reached]]
    return float(sampled.mean())

"""Segmentation metrics: streaming confusion matrices and the scores they yield.

Pixel level (:class:`ConfusionMatrix`, dataset-level by default, per-image through
``build_confusion(per_image=True)``), boundary F1, crop-factor scores, object level
(instances matched by IoU) and average precision of scored detections.
"""

from pixelwise.metrics.ap import AveragePrecision, average_precision
from pixelwise.metrics.boundary import BoundaryF1, BoundaryScores
from pixelwise.metrics.confusion import ConfusionMatrix, SegmentationScores
from pixelwise.metrics.crops import CropFactorScores, CropScores
from pixelwise.metrics.instance import (
    IOU_THRESHOLDS,
    InstanceMatch,
    InstanceScores,
    MatchCounts,
    ObjectScores,
    connected_components,
    dsb2018_score,
    match_instances,
)
from pixelwise.metrics.per_image import PerImageConfusion, PerImageScores, build_confusion

__all__ = [
    "IOU_THRESHOLDS",
    "AveragePrecision",
    "BoundaryF1",
    "BoundaryScores",
    "ConfusionMatrix",
    "CropFactorScores",
    "CropScores",
    "InstanceMatch",
    "InstanceScores",
    "MatchCounts",
    "ObjectScores",
    "PerImageConfusion",
    "PerImageScores",
    "SegmentationScores",
    "average_precision",
    "build_confusion",
    "connected_components",
    "dsb2018_score",
    "match_instances",
]

"""Segmentation metrics: a streaming confusion matrix and the scores it yields."""

from pixelwise.metrics.confusion import ConfusionMatrix, SegmentationScores

__all__ = ["ConfusionMatrix", "SegmentationScores"]

"""Datasets: generated shapes, image/mask folders, CamVid and ISBI 2012; class statistics."""

from pixelwise.data.base import DatasetInfo, SegmentationDataset
from pixelwise.data.datasets import load_dataset
from pixelwise.data.stats import class_weights

__all__ = ["DatasetInfo", "SegmentationDataset", "class_weights", "load_dataset"]

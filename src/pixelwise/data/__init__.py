"""Datasets: generated shapes, image/mask folders, CamVid and ISBI 2012."""

from pixelwise.data.base import DatasetInfo, SegmentationDataset
from pixelwise.data.datasets import load_dataset

__all__ = ["DatasetInfo", "SegmentationDataset", "load_dataset"]

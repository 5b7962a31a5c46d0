"""Datasets: generated shapes, image/mask folders, CamVid, ISBI 2012, VOC, Cityscapes, KITTI, COCO.

One module per dataset; :mod:`pixelwise.data.registry` builds any of them by name.
"""

from pixelwise.data.base import DatasetInfo, SegmentationDataset
from pixelwise.data.registry import list_datasets, load_dataset, load_split
from pixelwise.data.stats import class_weights

__all__ = [
    "DatasetInfo",
    "SegmentationDataset",
    "class_weights",
    "list_datasets",
    "load_dataset",
    "load_split",
]

"""KITTI semantic segmentation, labelled as Cityscapes and mapped to its 19 train classes.

Layout under ``root``::

    training/image_2/<name>.png     200 RGB images upstream
    training/semantic/<name>.png    labelIds 0..33 (the Cityscapes label table)
    testing/image_2/<name>.png      images without labels

Masks map to the Cityscapes trainIds 0..18 by the same table as
:mod:`pixelwise.data.cityscapes`; every other labelId is ignored (255). Upstream
publishes labels for the training images only, so "train" and "val" are a seeded cut
of them, "all" is every one, and the unlabelled "test" images are for prediction.
"""

from __future__ import annotations

from pathlib import Path

from pixelwise.data.base import DatasetInfo
from pixelwise.data.cityscapes import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_COLOURS,
    CITYSCAPES_IGNORE_INDEX,
    LABEL_TO_TRAIN_ID,
)
from pixelwise.data.paired import PairedFileDataset, pair_by_stem, split_pairs
from pixelwise.errors import PixelwiseError

KITTI_SPLITS = ("train", "val", "all")
"""The splits with labels; "test" (``testing/image_2``) has none."""


def _no_test_labels(root: Path) -> PixelwiseError:
    images = root / "testing" / "image_2"
    return PixelwiseError(
        f"KITTI split 'test' has no labels: '{images}' holds images only, so it cannot be "
        f"trained or evaluated on; label it with 'pixelwise predict MODEL_OR_RUN_DIR {images} "
        f"--out OUT'. Splits with labels: {', '.join(KITTI_SPLITS)}"
    )


def kitti_dataset(
    root: str | Path, split: str, val_fraction: float = 0.2, seed: int = 0
) -> PairedFileDataset:
    """KITTI ``split`` ("train", "val" or "all") with the 19 Cityscapes classes; 255 is ignored.

    "val" is ``val_fraction`` of the training images and "train" the rest, chosen with
    ``seed`` by :func:`pixelwise.data.paired.split_pairs`; "all" is every training image.
    "test" is an error: its images have no labels.
    """
    root = Path(root)
    if split == "test":
        raise _no_test_labels(root)
    if split not in KITTI_SPLITS:
        raise PixelwiseError(
            f"unknown KITTI split '{split}'; choose from: {', '.join(KITTI_SPLITS)}"
        )
    pairs = pair_by_stem(root / "training" / "image_2", root / "training" / "semantic")
    info = DatasetInfo(CITYSCAPES_CLASSES, CITYSCAPES_COLOURS, ignore_index=CITYSCAPES_IGNORE_INDEX)
    selected = split_pairs(pairs, split, val_fraction, seed)
    return PairedFileDataset(selected, info, LABEL_TO_TRAIN_ID, name=f"kitti {split}")

"""CamVid, the SegNet version: 11 road-scene classes, void (11) ignored.

Layout under ``root``::

    <split>/<name>.png          images, for split train, val and test
    <split>annot/<name>.png     index masks 0..10, and 11 for void
"""

from __future__ import annotations

from pathlib import Path

from pixelwise.data.base import DatasetInfo
from pixelwise.data.paired import PairedFileDataset, pair_by_stem
from pixelwise.errors import PixelwiseError

CAMVID_CLASSES = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)
CAMVID_COLOURS = (
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (60, 40, 222),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
)
CAMVID_SPLITS = ("train", "val", "test")
CAMVID_IGNORE_INDEX = 11


def camvid_dataset(root: str | Path, split: str) -> PairedFileDataset:
    """CamVid (SegNet version): ``root/<split>/`` images with ``root/<split>annot/`` labels.

    Splits are train, val and test; 11 classes; void (11) is the ignore index.
    """
    if split not in CAMVID_SPLITS:
        raise PixelwiseError(
            f"unknown CamVid split '{split}'; choose from: {', '.join(CAMVID_SPLITS)}"
        )
    root = Path(root)
    info = DatasetInfo(CAMVID_CLASSES, CAMVID_COLOURS, ignore_index=CAMVID_IGNORE_INDEX)
    pairs = pair_by_stem(root / split, root / f"{split}annot")
    return PairedFileDataset(pairs, info, name=f"camvid {split}")

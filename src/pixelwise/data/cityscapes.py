"""Cityscapes fine annotations, with the official labelId -> trainId mapping.

Layout under ``root``::

    leftImg8bit/<split>/<city>/<name>_leftImg8bit.png
    gtFine/<split>/<city>/<name>_gtFine_labelIds.png

Masks store labelIds (0..33); the 19 evaluated classes get trainIds 0..18 and every
other stored value maps to the ignore index 255.
"""

from __future__ import annotations

from pathlib import Path

from pixelwise.data.base import DatasetInfo
from pixelwise.data.io import list_images
from pixelwise.data.paired import Pair, PairedFileDataset
from pixelwise.errors import PixelwiseError

CITYSCAPES_CLASSES = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)
CITYSCAPES_COLOURS = (
    (128, 64, 128),
    (244, 35, 232),
    (70, 70, 70),
    (102, 102, 156),
    (190, 153, 153),
    (153, 153, 153),
    (250, 170, 30),
    (220, 220, 0),
    (107, 142, 35),
    (152, 251, 152),
    (70, 130, 180),
    (220, 20, 60),
    (255, 0, 0),
    (0, 0, 142),
    (0, 0, 70),
    (0, 60, 100),
    (0, 80, 100),
    (0, 0, 230),
    (119, 11, 32),
)
CITYSCAPES_IGNORE_INDEX = 255
CITYSCAPES_SPLITS = ("train", "val", "test")

_TRAIN_LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
"""The labelId of each trainId 0..18, from the official ``cityscapesscripts`` label table."""

LABEL_TO_TRAIN_ID = {
    label_id: (
        _TRAIN_LABEL_IDS.index(label_id)
        if label_id in _TRAIN_LABEL_IDS
        else CITYSCAPES_IGNORE_INDEX
    )
    for label_id in range(256)
}
"""Stored labelId (any 8-bit value) -> trainId 0..18, or 255 for every unevaluated id."""

_IMAGE_SUFFIX = "_leftImg8bit"
_MASK_SUFFIX = "_gtFine_labelIds"


def _require_folder(path: Path) -> Path:
    if not path.is_dir():
        raise PixelwiseError(f"Cityscapes folder '{path}' does not exist")
    return path


def _city_pairs(images: Path, masks: Path) -> list[Pair]:
    """Pairs for one city: each ``*_leftImg8bit.png`` with its ``*_gtFine_labelIds.png``."""
    pairs = []
    for image in list_images(images):
        if not image.stem.endswith(_IMAGE_SUFFIX):
            continue
        name = image.stem.removesuffix(_IMAGE_SUFFIX)
        mask = masks / f"{name}{_MASK_SUFFIX}.png"
        if not mask.is_file():
            raise PixelwiseError(f"image '{image}' has no label file '{mask}'")
        pairs.append((image, mask))
    return pairs


def cityscapes_pairs(root: str | Path, split: str) -> list[Pair]:
    """(image, labelIds mask) paths for ``split``, sorted by city, then by name."""
    image_root = _require_folder(Path(root) / "leftImg8bit" / split)
    mask_root = _require_folder(Path(root) / "gtFine" / split)
    cities = sorted(p.name for p in image_root.iterdir() if p.is_dir())
    pairs = [
        pair
        for city in cities
        for pair in _city_pairs(image_root / city, _require_folder(mask_root / city))
    ]
    if not pairs:
        raise PixelwiseError(f"no '*{_IMAGE_SUFFIX}.png' images in the cities of '{image_root}'")
    return pairs


def cityscapes_dataset(root: str | Path, split: str) -> PairedFileDataset:
    """Cityscapes ``split`` (train, val, test) with the 19 trainId classes; 255 is ignored."""
    if split not in CITYSCAPES_SPLITS:
        raise PixelwiseError(
            f"unknown Cityscapes split '{split}'; choose from: {', '.join(CITYSCAPES_SPLITS)}"
        )
    info = DatasetInfo(CITYSCAPES_CLASSES, CITYSCAPES_COLOURS, ignore_index=CITYSCAPES_IGNORE_INDEX)
    return PairedFileDataset(
        cityscapes_pairs(root, split), info, LABEL_TO_TRAIN_ID, name=f"cityscapes {split}"
    )

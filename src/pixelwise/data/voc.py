"""PASCAL VOC 2012 segmentation: JPEG images, palette-PNG masks and split files.

Layout under ``root`` (the ``VOC2012`` folder)::

    JPEGImages/<id>.jpg
    SegmentationClass/<id>.png        palette PNGs, read as indices
    ImageSets/Segmentation/<split>.txt

Palette indices are the class indices 0..20; 255 (the object borders) is ignored.
"""

from __future__ import annotations

from pathlib import Path

from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.paired import Pair, PairedFileDataset
from pixelwise.errors import PixelwiseError

VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
VOC_COLOURS = default_colours(len(VOC_CLASSES))
"""The standard VOC colour map: the bit-interleaved palette of the mask PNGs."""
VOC_IGNORE_INDEX = 255


def read_split_file(path: Path) -> list[str]:
    """The image ids listed in split file ``path``, one a line, blank lines skipped."""
    if not path.is_file():
        raise PixelwiseError(f"VOC split file '{path}' does not exist")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise PixelwiseError(f"cannot read VOC split file '{path}': {error}") from error
    ids = [line.strip() for line in lines if line.strip()]
    if not ids:
        raise PixelwiseError(f"VOC split file '{path}' lists no images")
    return ids


def _existing(path: Path, split_file: Path) -> Path:
    if not path.is_file():
        raise PixelwiseError(f"'{path}', listed in '{split_file}', does not exist")
    return path


def voc_pairs(root: str | Path, split: str) -> list[Pair]:
    """(image, mask) paths for the ids in ``ImageSets/Segmentation/<split>.txt``, in file order."""
    root = Path(root)
    split_file = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    return [
        (
            _existing(root / "JPEGImages" / f"{image_id}.jpg", split_file),
            _existing(root / "SegmentationClass" / f"{image_id}.png", split_file),
        )
        for image_id in read_split_file(split_file)
    ]


def voc_dataset(root: str | Path, split: str) -> PairedFileDataset:
    """PASCAL VOC 2012 ``split`` ("train", "val", "trainval" or any split file's name).

    21 classes (background + 20 objects) with the VOC colours; 255 is the ignore index.
    """
    info = DatasetInfo(VOC_CLASSES, VOC_COLOURS, ignore_index=VOC_IGNORE_INDEX)
    return PairedFileDataset(voc_pairs(root, split), info, name=f"voc {split}")

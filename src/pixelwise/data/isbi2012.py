"""ISBI 2012 EM segmentation: gray slices of neural tissue, membrane against cell.

Layout under ``root``::

    train/images/<N>.png     slice N, gray
    train/labels/<N>.png     0 (membrane) or 255 (cell)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.paired import PairedFileDataset, pair_by_stem
from pixelwise.errors import PixelwiseError

ISBI2012_CLASSES = ("membrane", "cell")
ISBI2012_VALUE_MAP = {0: 0, 255: 1}


def _slice_number(image: Path) -> int:
    if not image.stem.isdigit():
        raise PixelwiseError(f"ISBI 2012 slice '{image}' is not named by its number (N.png)")
    return int(image.stem)


def isbi2012_dataset(
    root: str | Path, split: str, val_slices: Sequence[int] = (15, 16, 17, 18, 19)
) -> PairedFileDataset:
    """ISBI 2012 EM slices: ``root/train/images/N.png`` with ``root/train/labels/N.png``.

    Gray images (1 channel); stored labels 0/255 map to classes membrane (0) and
    cell (1). "val" is ``val_slices``, "train" the other slices, "all" every slice,
    each in slice order.
    """
    splits = ("train", "val", "all")
    if split not in splits:
        raise PixelwiseError(f"unknown ISBI 2012 split '{split}'; choose from: {', '.join(splits)}")
    pairs = pair_by_stem(Path(root) / "train" / "images", Path(root) / "train" / "labels")
    by_number = {_slice_number(image): (image, mask) for image, mask in pairs}
    missing = sorted(set(val_slices) - set(by_number))
    if missing:
        raise PixelwiseError(
            f"ISBI 2012 val slices {missing} do not exist in '{root}' (slices: {sorted(by_number)})"
        )
    numbers = sorted(
        n for n in by_number if split == "all" or (n in val_slices) == (split == "val")
    )
    info = DatasetInfo(
        ISBI2012_CLASSES, default_colours(len(ISBI2012_CLASSES)), ignore_index=255, channels=1
    )
    selected = [by_number[n] for n in numbers]
    return PairedFileDataset(selected, info, ISBI2012_VALUE_MAP, name=f"isbi2012 {split}")

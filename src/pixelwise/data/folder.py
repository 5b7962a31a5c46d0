"""Any image folder with a mask folder of the same stems, and the ``--mask-values`` syntax."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.io import read_mask
from pixelwise.data.paired import Pair, PairedFileDataset, format_map, pair_by_stem, split_pairs
from pixelwise.errors import PixelwiseError

logger = logging.getLogger("pixelwise")


def _classes_from_masks(pairs: Sequence[Pair], ignore_index: int, folder: Path) -> int:
    """Scan every mask; the class count is the largest value other than the ignore index + 1."""
    largest = -1
    for _, mask_path in tqdm(pairs, desc=f"scanning masks in {folder}"):
        values = read_mask(mask_path)
        values = values[values != ignore_index]
        if values.size:
            largest = max(largest, int(values.max()))
    if largest < 0:
        raise PixelwiseError(f"masks in '{folder}' hold no class values; pass the classes")
    logger.info(
        "masks in '%s' hold values up to %d: using %d classes class0..class%d",
        folder,
        largest,
        largest + 1,
        largest,
    )
    return largest + 1


def folder_dataset(
    images: str | Path,
    masks: str | Path,
    split: str = "all",
    classes: Sequence[str] | None = None,
    mask_values: Mapping[int, int] | None = None,
    ignore_index: int = 255,
    channels: int = 3,
    val_fraction: float = 0.2,
    seed: int = 0,
    skip_unpaired: bool = False,
) -> PairedFileDataset:
    """Images in one folder, masks of the same stems in another.

    An image without a mask is an error, or left out with ``skip_unpaired``.

    Classes come from ``classes``; else from the targets of ``mask_values`` (their
    largest + 1, named ``class0``...); else from scanning the masks for their largest
    value other than ``ignore_index``. ``split`` is "all", or "train"/"val" as cut by
    :func:`split_pairs` with ``val_fraction`` and ``seed``.
    """
    pairs = pair_by_stem(images, masks, skip_unpaired)
    if classes is None:
        targets = [v for v in (mask_values or {}).values() if v != ignore_index]
        if mask_values is not None and not targets:
            raise PixelwiseError(f"mask value map {format_map(mask_values)} names no class")
        count = max(targets) + 1 if targets else _classes_from_masks(pairs, ignore_index, masks)
        classes = [f"class{i}" for i in range(count)]
    info = DatasetInfo(
        classes=tuple(classes),
        colours=default_colours(len(classes)),
        ignore_index=ignore_index,
        channels=channels,
    )
    selected = split_pairs(pairs, split, val_fraction, seed)
    return PairedFileDataset(selected, info, mask_values, name=f"{Path(images).name} {split}")

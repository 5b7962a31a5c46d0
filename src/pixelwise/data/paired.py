"""Datasets of (image, mask) file pairs: the checked dataset, pairing by stem, splitting.

A :class:`PairedFileDataset` reads (image, mask) file pairs and checks each sample:
sizes must match, and mask values (after the dataset's :class:`~pixelwise.data.masks.MaskRule`)
must be class indices or the ignore index. With regions of interest, the pixels outside
a sample's region become the ignore index, so that no loss or metric counts them.
:func:`pair_by_stem` and :func:`split_pairs` pair and split by file stem (see
:mod:`pixelwise.data.pairing` for keys, manifests and split files).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pixelwise.data.base import DatasetInfo, SegmentationDataset
from pixelwise.data.io import read_image, read_mask
from pixelwise.data.masks import MaskRule, format_map, format_values
from pixelwise.data.pairing import Sample, pair_folders, select_split
from pixelwise.errors import PixelwiseError

logger = logging.getLogger("pixelwise")

Pair = tuple[Path, Path]
"""(image path, mask path)."""
LOSSY_SUFFIXES = frozenset({".jpg", ".jpeg"})


class PairedFileDataset(SegmentationDataset):
    """(image, mask) file pairs, read and checked on access.

    ``self[i]`` returns image ``(H, W, C)`` uint8 with ``C == info.channels`` and mask
    ``(H, W)`` int64. ``rule`` (or, for short, ``value_map``) turns stored mask values
    into class indices; a value it does not cover is an error. The rule is applied before
    the range check, so a stored value equal to the ignore index (such as 255) may map to
    a class. ``rois`` (one region file or None per pair): pixels where the region is 0
    become the ignore index.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        info: DatasetInfo,
        value_map: Mapping[int, int] | None = None,
        name: str = "dataset",
        rule: MaskRule | None = None,
        rois: Sequence[Path | None] | None = None,
    ) -> None:
        if 0 <= info.ignore_index < info.num_classes:
            raise PixelwiseError(
                f"{name}: ignore index {info.ignore_index} is also a class index "
                f"({info.num_classes} classes)"
            )
        self.pairs = [(Path(image), Path(mask)) for image, mask in pairs]
        self.info = info
        self.name = name
        self.rule = rule or MaskRule(value_map)
        self.rois = list(rois) if rois is not None and any(rois) else None
        bad = [v for v in self.rule.targets() if not self._is_label(v)]
        if bad:
            value_map = self.rule.value_map
            given = f"mask value map {format_map(value_map)}" if value_map else "masks"
            raise PixelwiseError(
                f"{name}: {given} targets {bad}, neither class indices "
                f"0..{info.num_classes - 1} nor the ignore index {info.ignore_index}"
            )
        lossy = [mask for _, mask in self.pairs if mask.suffix.lower() in LOSSY_SUFFIXES]
        if lossy and self.rule.binarize is None and self.rule.value_map is None:
            logger.warning(
                "%s: masks such as '%s' are JPEG, whose compression changes the values near "
                "every edge; give --binarize T (binary masks) or a value map with '*'",
                name, lossy[0],
            )  # fmt: skip

    @property
    def value_map(self) -> Mapping | None:
        return self.rule.value_map

    def _is_label(self, value: int) -> bool:
        return 0 <= value < self.info.num_classes or value == self.info.ignore_index

    def __len__(self) -> int:
        return len(self.pairs)

    def stem(self, index: int) -> str:
        return self.pairs[index][0].stem

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image_path, mask_path = self.pairs[index]
        image = read_image(image_path, self.info.channels)
        mask = self.rule.read(mask_path, self.info.ignore_index)
        _check_size(image.shape[:2], mask.shape, image_path, mask_path, "mask")
        self._check_labels(mask, mask_path)
        roi = self.rois[index] if self.rois is not None else None
        if roi is not None:
            region = read_mask(roi) != 0
            _check_size(image.shape[:2], region.shape, image_path, roi, "region of interest")
            mask = np.where(region, mask, self.info.ignore_index)
        return image, mask

    def _check_labels(self, mask: np.ndarray, mask_path: Path) -> None:
        """Raise if ``mask`` ``(H, W)`` holds anything but class indices and the ignore index."""
        ignore = self.info.ignore_index
        bad = ((mask < 0) | (mask >= self.info.num_classes)) & (mask != ignore)
        if bad.any():
            raise PixelwiseError(
                f"mask '{mask_path}' has values {format_values(np.unique(mask[bad]))} outside "
                f"the class indices 0..{self.info.num_classes - 1} (ignore index {ignore})"
            )

    def validate(self, progress: bool = True) -> None:
        """Read and check every pair now; raise ``PixelwiseError`` on the first problem."""
        for index in tqdm(range(len(self)), desc=f"checking {self.name}", disable=not progress):
            self[index]


def _check_size(
    image: tuple[int, ...], other: tuple[int, ...], image_path: Path, path: Path, what: str
) -> None:
    if image != other:
        raise PixelwiseError(
            f"image '{image_path}' is {image[1]}x{image[0]} (WxH) but its {what} '{path}' "
            f"is {other[1]}x{other[0]}"
        )


def pair_by_stem(images: str | Path, masks: str | Path, skip_unpaired: bool = False) -> list[Pair]:
    """Pair each image in folder ``images`` with the mask of the same stem in ``masks``
    (suffixes may differ), sorted by stem (see :func:`pixelwise.data.pairing.pair_folders`)."""
    return [(s.image, s.mask) for s in pair_folders(images, masks, skip_unpaired=skip_unpaired)]


def split_pairs(pairs: Sequence[Pair], split: str, val_fraction: float, seed: int) -> list[Pair]:
    """Pick ``split`` ("all", "train" or "val") from ``pairs`` by stem, deterministically
    (see :func:`pixelwise.data.pairing.select_split`)."""
    samples = [Sample(image, mask, image.stem) for image, mask in pairs]
    chosen = select_split(samples, split, val_fraction, seed)
    if split == "all":
        chosen = sorted(chosen, key=lambda s: s.key)
    return [(s.image, s.mask) for s in chosen]


__all__ = ["Pair", "PairedFileDataset", "format_map", "pair_by_stem", "split_pairs"]

"""Datasets of (image, mask) file pairs: the checked dataset, pairing by stem, splitting.

A :class:`PairedFileDataset` reads (image, mask) file pairs and checks each sample:
sizes must match, and mask values (after an optional stored-value -> class map) must
be class indices or the ignore index. :func:`pair_by_stem` finds the pairs in an
image folder and a mask folder; :func:`split_pairs` cuts them into train and val.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pixelwise.data.base import DatasetInfo, SegmentationDataset
from pixelwise.data.io import list_images, read_image, read_mask
from pixelwise.errors import PixelwiseError

Pair = tuple[Path, Path]
"""(image path, mask path)."""


def format_values(values: np.ndarray, limit: int = 10) -> str:
    """``[1, 7, 300]``, cut after ``limit`` values."""
    shown = ", ".join(str(v) for v in values[:limit].tolist())
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def format_map(value_map: Mapping[int, int]) -> str:
    """``0:0,255:1``, the syntax :func:`pixelwise.options.parse_mask_values` reads."""
    return ",".join(f"{k}:{v}" for k, v in sorted(value_map.items()))


class PairedFileDataset(SegmentationDataset):
    """(image, mask) file pairs, read and checked on access.

    ``self[i]`` returns image ``(H, W, C)`` uint8 with ``C == info.channels`` and mask
    ``(H, W)`` int64. With ``value_map`` every stored mask value is mapped to a class
    index (or to ``info.ignore_index``); a stored value missing from the map is an
    error. The map is applied before the range check, so a stored value equal to the
    ignore index (such as 255) may map to a class.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        info: DatasetInfo,
        value_map: Mapping[int, int] | None = None,
        name: str = "dataset",
    ) -> None:
        if 0 <= info.ignore_index < info.num_classes:
            raise PixelwiseError(
                f"{name}: ignore index {info.ignore_index} is also a class index "
                f"({info.num_classes} classes)"
            )
        self.pairs = [(Path(image), Path(mask)) for image, mask in pairs]
        self.info = info
        self.value_map = dict(value_map) if value_map is not None else None
        self.name = name
        if self.value_map == {}:
            raise PixelwiseError(f"{name}: the mask value map is empty")
        if self.value_map is not None:
            bad = [v for v in self.value_map.values() if not self._is_label(v)]
            if bad:
                raise PixelwiseError(
                    f"{name}: mask value map {format_map(self.value_map)} targets {bad} are "
                    f"neither class indices 0..{info.num_classes - 1} nor the ignore index "
                    f"{info.ignore_index}"
                )
            self._keys = np.array(sorted(self.value_map), dtype=np.int64)
            self._targets = np.array([self.value_map[k] for k in self._keys], dtype=np.int64)

    def _is_label(self, value: int) -> bool:
        return 0 <= value < self.info.num_classes or value == self.info.ignore_index

    def __len__(self) -> int:
        return len(self.pairs)

    def stem(self, index: int) -> str:
        return self.pairs[index][0].stem

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image_path, mask_path = self.pairs[index]
        image = read_image(image_path, self.info.channels)
        mask = read_mask(mask_path)
        if image.shape[:2] != mask.shape:
            raise PixelwiseError(
                f"image '{image_path}' is {image.shape[1]}x{image.shape[0]} (WxH) but its "
                f"mask '{mask_path}' is {mask.shape[1]}x{mask.shape[0]}"
            )
        if self.value_map is not None:
            mask = self._map_values(mask, mask_path)
        self._check_labels(mask, mask_path)
        return image, mask

    def _map_values(self, mask: np.ndarray, mask_path: Path) -> np.ndarray:
        """Map stored values ``(H, W)`` to class indices ``(H, W)`` through the value map."""
        slot = np.searchsorted(self._keys, mask).clip(max=len(self._keys) - 1)
        found = self._keys[slot] == mask
        if not found.all():
            raise PixelwiseError(
                f"mask '{mask_path}' has values {format_values(np.unique(mask[~found]))} that "
                f"are not in the mask value map {format_map(self.value_map)}; add them "
                f"(map a value to {self.info.ignore_index} to ignore it)"
            )
        return self._targets[slot]

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


def _require_folder(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise PixelwiseError(f"{what} folder '{path}' does not exist")
    return path


def _by_stem(files: Sequence[Path]) -> dict[str, Path]:
    """Index files by stem; two files with one stem (``a.png``, ``a.jpg``) are an error."""
    index: dict[str, Path] = {}
    for file in files:
        if file.stem in index:
            raise PixelwiseError(f"'{index[file.stem]}' and '{file}' have the same stem")
        index[file.stem] = file
    return index


def pair_by_stem(images: str | Path, masks: str | Path, skip_unpaired: bool = False) -> list[Pair]:
    """Pair each image in folder ``images`` with the mask of the same stem in ``masks``.

    Suffixes may differ (``a.jpg`` with ``a.png``). Returns pairs sorted by stem. An
    image without a mask is an error, or left out with ``skip_unpaired``; masks
    without an image are left out.
    """
    image_files = _by_stem(list_images(_require_folder(images, "image")))
    mask_folder = _require_folder(masks, "mask")
    mask_files = _by_stem(list_images(mask_folder))
    pairs = []
    for stem, image in sorted(image_files.items()):
        if stem not in mask_files:
            if skip_unpaired:
                continue
            raise PixelwiseError(f"image '{image}' has no mask named '{stem}.*' in '{mask_folder}'")
        pairs.append((image, mask_files[stem]))
    return pairs


def split_pairs(pairs: Sequence[Pair], split: str, val_fraction: float, seed: int) -> list[Pair]:
    """Pick ``split`` ("all", "train" or "val") from ``pairs``, deterministically.

    The pairs are sorted by image stem and shuffled with ``seed``; the last
    ``val_fraction`` (at least one pair) is "val", the rest "train". Each split keeps
    stem order.
    """
    ordered = sorted(pairs, key=lambda pair: pair[0].stem)
    if split == "all":
        return ordered
    if split not in ("train", "val"):
        raise PixelwiseError(f"unknown split '{split}'; choose from: all, train, val")
    if not 0 < val_fraction < 1:
        raise PixelwiseError(f"val_fraction must lie between 0 and 1, got {val_fraction}")
    num_val = max(1, round(len(ordered) * val_fraction))
    if num_val >= len(ordered):
        raise PixelwiseError(
            f"cannot split {len(ordered)} pairs into train and val with val_fraction {val_fraction}"
        )
    order = np.random.default_rng(seed).permutation(len(ordered))
    chosen = order[-num_val:] if split == "val" else order[:-num_val]
    return [ordered[i] for i in sorted(chosen)]

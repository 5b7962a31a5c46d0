"""Datasets of image/mask files on disk, and ``load_dataset`` to build any dataset by name.

A :class:`PairedFileDataset` reads (image, mask) file pairs and checks each sample:
sizes must match, and mask values (after an optional stored-value -> class map) must
be class indices or the ignore index. The builders below lay out where the pairs
come from: any image/mask folder pair, CamVid, and ISBI 2012.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pixelwise.data.base import DatasetInfo, SegmentationDataset, default_colours
from pixelwise.data.io import list_images, read_image, read_mask
from pixelwise.errors import PixelwiseError

logger = logging.getLogger("pixelwise")

Pair = tuple[Path, Path]

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

ISBI2012_CLASSES = ("membrane", "cell")
ISBI2012_VALUE_MAP = {0: 0, 255: 1}


def _format_values(values: np.ndarray, limit: int = 10) -> str:
    """``[1, 7, 300]``, cut after ``limit`` values."""
    shown = ", ".join(str(v) for v in values[:limit].tolist())
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def _format_map(value_map: Mapping[int, int]) -> str:
    """``0:0,255:1``, the syntax :func:`parse_mask_values` reads."""
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
                    f"{name}: mask value map {_format_map(self.value_map)} targets {bad} are "
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
                f"mask '{mask_path}' has values {_format_values(np.unique(mask[~found]))} that "
                f"are not in the mask value map {_format_map(self.value_map)}; add them "
                f"(map a value to {self.info.ignore_index} to ignore it)"
            )
        return self._targets[slot]

    def _check_labels(self, mask: np.ndarray, mask_path: Path) -> None:
        """Raise if ``mask`` ``(H, W)`` holds anything but class indices and the ignore index."""
        ignore = self.info.ignore_index
        bad = ((mask < 0) | (mask >= self.info.num_classes)) & (mask != ignore)
        if bad.any():
            raise PixelwiseError(
                f"mask '{mask_path}' has values {_format_values(np.unique(mask[bad]))} outside "
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
            raise PixelwiseError(f"mask value map {_format_map(mask_values)} names no class")
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


def _synthetic() -> Callable[..., SegmentationDataset]:
    from pixelwise.data.synthetic import SyntheticShapes

    return SyntheticShapes


def _imported(module: str, name: str) -> Callable[[], Callable[..., SegmentationDataset]]:
    """A builder that imports ``name`` from ``module`` when called."""
    return lambda: getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class DatasetSpec:
    """How :func:`load_dataset` builds a named dataset.

    ``builder()`` returns the callable that makes it (importing it on demand); that
    callable takes ``split``, ``root`` when ``needs_root``, and keyword options.
    """

    builder: Callable[[], Callable[..., SegmentationDataset]]
    needs_root: bool


DATASETS: dict[str, DatasetSpec] = {
    "synthetic": DatasetSpec(_synthetic, needs_root=False),
    "folder": DatasetSpec(lambda: folder_dataset, needs_root=False),
    "camvid": DatasetSpec(lambda: camvid_dataset, needs_root=True),
    "isbi2012": DatasetSpec(lambda: isbi2012_dataset, needs_root=True),
    "voc": DatasetSpec(_imported("pixelwise.data.voc", "voc_dataset"), needs_root=True),
    "cityscapes": DatasetSpec(
        _imported("pixelwise.data.cityscapes", "cityscapes_dataset"), needs_root=True
    ),
    "coco": DatasetSpec(_imported("pixelwise.data.coco", "coco_dataset"), needs_root=True),
}


def _check_options(name: str, make: Callable[..., SegmentationDataset], options: dict) -> None:
    """Raise on option keys ``make`` does not take, or required ones that are missing."""
    parameters = inspect.signature(make).parameters
    accepted = [p for p in parameters if p not in ("split", "root")]
    for key in options:
        if key not in accepted:
            valid = ", ".join(accepted) or "none"
            raise PixelwiseError(f"unknown option '{key}' for dataset '{name}'; valid: {valid}")
    for key in accepted:
        if parameters[key].default is inspect.Parameter.empty and key not in options:
            raise PixelwiseError(f"dataset '{name}' needs the option '{key}'")


def load_dataset(
    name: str, split: str, root: str | Path | None = None, **options
) -> SegmentationDataset:
    """Build dataset ``name`` (one of :data:`DATASETS`, e.g. "camvid", "voc") for ``split``.

    ``root`` is the dataset folder for those that need one, and must be left out for
    the others. ``options`` are the keyword arguments of the dataset's builder, e.g.
    ``images=`` and ``masks=`` for "folder" (see :func:`folder_dataset`).
    """
    if name not in DATASETS:
        raise PixelwiseError(f"unknown dataset '{name}'; choose from: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    make = spec.builder()
    _check_options(name, make, options)
    if not spec.needs_root:
        if root is not None:
            raise PixelwiseError(f"dataset '{name}' takes no root folder, got '{root}'")
        return make(split=split, **options)
    if root is None:
        raise PixelwiseError(f"dataset '{name}' needs a root folder")
    if not Path(root).is_dir():
        raise PixelwiseError(f"dataset root '{root}' does not exist")
    return make(root, split, **options)


def parse_mask_values(text: str) -> dict[int, int]:
    """Parse ``"0:0,255:1"`` (stored mask value : class index, comma separated) to a dict."""
    value_map: dict[int, int] = {}
    for part in text.split(","):
        match = re.fullmatch(r"\s*(-?\d+)\s*:\s*(-?\d+)\s*", part)
        if match is None:
            raise PixelwiseError(
                f"bad mask value map '{text}': '{part.strip()}' is not 'stored:class' "
                "(e.g. '0:0,255:1')"
            )
        stored, target = int(match[1]), int(match[2])
        if stored in value_map:
            raise PixelwiseError(f"bad mask value map '{text}': value {stored} appears twice")
        value_map[stored] = target
    return value_map

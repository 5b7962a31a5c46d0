"""Look at a dataset before training on it: sizes, class frequencies and problems.

Unlike :meth:`PairedFileDataset.validate`, which stops at the first bad sample,
:func:`inspect_dataset` reads every sample and collects every problem (a missing mask,
an image/mask size mismatch, mask values that are not labels, an unreadable file)
into one :class:`InspectionReport`. This module writes nothing; the report layer
draws and saves the inspection.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pixelwise.data.base import SegmentationDataset
from pixelwise.data.io import list_images, read_image, read_mask
from pixelwise.data.paired import PairedFileDataset
from pixelwise.data.registry import load_dataset
from pixelwise.errors import PixelwiseError

MISSING_MASK = "missing mask"
SIZE_MISMATCH = "size mismatch"
BAD_VALUES = "bad mask values"
UNREADABLE = "unreadable file"


@dataclass(frozen=True)
class Problem:
    """One bad sample: its ``kind`` (one of the constants above), file and message."""

    kind: str
    file: str
    message: str


@dataclass
class InspectionReport:
    """What :func:`inspect_dataset` found.

    ``image_sizes`` maps ``"WxH"`` to the number of images of that size (every readable
    image); ``class_pixels`` counts pixels per class over the samples without problems,
    and ``ignored_pixels`` their ignore-index pixels; ``advice`` names the flags that
    would read a folder better (:mod:`pixelwise.data.advice`).
    """

    dataset: str
    split: str
    num_samples: int
    classes: list[str]
    ignore_index: int
    image_sizes: dict[str, int] = field(default_factory=dict)
    class_pixels: list[int] = field(default_factory=list)
    ignored_pixels: int = 0
    problems: list[Problem] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def frequencies(self) -> list[float]:
        """Each class's share of the labelled (non-ignored) pixels, in [0, 1]."""
        total = sum(self.class_pixels)
        return [count / total if total else 0.0 for count in self.class_pixels]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["class_frequencies"] = dict(zip(self.classes, self.frequencies, strict=True))
        return data


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"


def _diagnose(dataset: SegmentationDataset, index: int, error: PixelwiseError) -> Problem:
    """Name what is wrong with sample ``index``, whose reading raised ``error``."""
    if not isinstance(dataset, PairedFileDataset):
        return Problem(BAD_VALUES, dataset.stem(index), str(error))
    image_path, mask_path = dataset.pairs[index]
    shapes = []
    for path, read in ((image_path, read_image), (mask_path, read_mask)):
        try:
            shapes.append(read(path).shape[:2])
        except PixelwiseError as unreadable:
            return Problem(UNREADABLE, str(path), str(unreadable))
    if shapes[0] != shapes[1]:
        return Problem(SIZE_MISMATCH, str(mask_path), str(error))
    return Problem(BAD_VALUES, str(mask_path), str(error))


def _readable_size(dataset: SegmentationDataset, index: int) -> str | None:
    """``"WxH"`` of sample ``index``'s image when it can be read on its own, else ``None``."""
    if not isinstance(dataset, PairedFileDataset):
        return None
    try:
        return _size(read_image(dataset.pairs[index][0], dataset.info.channels))
    except PixelwiseError:
        return None


def inspect_dataset(
    dataset: SegmentationDataset,
    name: str,
    split: str,
    problems: list[Problem] | None = None,
    progress: bool = True,
) -> InspectionReport:
    """Read every sample of ``dataset``; count sizes and class pixels; collect problems.

    ``problems`` found beforehand (such as missing masks) are kept at the front.
    """
    info = dataset.info
    report = InspectionReport(
        dataset=name,
        split=split,
        num_samples=len(dataset),
        classes=list(info.classes),
        ignore_index=info.ignore_index,
        class_pixels=[0] * info.num_classes,
        problems=list(problems or []),
    )
    sizes: Counter[str] = Counter()
    pixels = np.zeros(info.num_classes, np.int64)
    for index in tqdm(range(len(dataset)), desc=f"inspecting {name} {split}", disable=not progress):
        try:
            image, mask = dataset[index]
        except PixelwiseError as error:
            report.problems.append(_diagnose(dataset, index, error))
            size = _readable_size(dataset, index)
            sizes.update([size] if size else [])
            continue
        sizes[_size(image)] += 1
        labelled = mask[mask != info.ignore_index]
        pixels += np.bincount(labelled.ravel(), minlength=info.num_classes)
        report.ignored_pixels += int(mask.size - labelled.size)
    report.image_sizes = dict(sizes.most_common())
    report.class_pixels = pixels.tolist()
    return report


def missing_masks(images: str | Path, masks: str | Path) -> list[Problem]:
    """A problem for each image in folder ``images`` with no mask of its stem in ``masks``."""
    mask_stems = {path.stem for path in list_images(masks)}
    return [
        Problem(MISSING_MASK, str(image), f"image '{image}' has no mask named '{image.stem}.*'")
        for image in list_images(images)
        if image.stem not in mask_stems
    ]


def inspect_split(
    name: str,
    split: str,
    root: str | Path | None = None,
    progress: bool = True,
    **options: Any,
) -> tuple[InspectionReport, SegmentationDataset]:
    """Load dataset ``name`` (as :func:`pixelwise.data.load_dataset`) and inspect ``split``.

    For folder data, images without a mask are reported and the other pairs inspected.
    Returns the report and the dataset it describes.
    """
    found: list[Problem] = []
    if name == "folder" and "images" in options and "masks" in options:
        if options.get("pair_key") is None:
            found = missing_masks(options["images"], options["masks"])
        options = {**options, "skip_unpaired": True}
    dataset = load_dataset(name, split, root, **options)
    return inspect_dataset(dataset, name, split, found, progress), dataset

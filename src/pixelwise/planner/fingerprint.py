"""A dataset's fingerprint: the facts about its images and masks that the planner's rules read.

:func:`fingerprint` reads the training split once (a seeded sample of at most
``max_images`` images, said so in the result) and measures:

- image count, sizes (median, smallest, largest) and channels, and the seconds it takes
  to read one pair;
- per-channel intensity mean and standard deviation (0..255);
- per class: its share of the labelled pixels and of the images it appears in; its
  *object size*, the pixel-weighted median size of its connected components (the size of
  the component that a typical pixel of the class belongs to, so that specks of label
  noise do not count); and its *width*, its pixels divided by the pixels of its
  skeleton (a stripe w pixels wide and L long has area wL and a skeleton L long; a
  network of 7-pixel membranes measures about 7);
- the mean vertical position of each class (0 top, 1 bottom): classes that keep to a
  part of the frame (sky above, road below) mark photographs with a ground plane;
- the share of ignored pixels.

Masks larger than :data:`MAX_STRUCTURE_PIXELS` are measured for objects and widths on
every second (fourth, ...) row and column, and the results scaled back.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize
from tqdm.auto import tqdm

from pixelwise.data.base import SegmentationDataset
from pixelwise.errors import PixelwiseError

MAX_IMAGES = 300
"""Images read by default; a larger split is sampled (seeded)."""
MAX_STRUCTURE_PIXELS = 512 * 512
"""Masks above this size are measured for objects and widths at a stride (see above)."""


@dataclass
class ClassFacts:
    """What the fingerprint measured of one class (see the module docstring); sizes in
    pixels at the images' own resolution."""

    name: str
    pixel_share: float = 0.0
    image_share: float = 0.0
    object_pixels: float | None = None
    width: float | None = None
    vertical_position: float | None = None


@dataclass
class Fingerprint:
    """The dataset's facts (see the module docstring); sizes are ``[H, W]`` in pixels."""

    dataset: str
    split: str
    images: int
    sampled: int
    channels: int
    size_median: list[int]
    size_min: list[int]
    size_max: list[int]
    intensity_mean: list[float]
    intensity_std: list[float]
    ignored_share: float
    read_seconds: float
    classes: list[ClassFacts] = field(default_factory=list)

    @property
    def present(self) -> list[ClassFacts]:
        """The classes with labelled pixels."""
        return [c for c in self.classes if c.pixel_share > 0]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Fingerprint:
        facts = [ClassFacts(**c) for c in raw["classes"]]
        return cls(**{**raw, "classes": facts})


class _Tally:
    """Running sums over the sampled pairs."""

    def __init__(self, num_classes: int, channels: int) -> None:
        self.sizes: list[tuple[int, int]] = []
        self.sums = np.zeros(channels)
        self.squares = np.zeros(channels)
        self.values = 0
        self.class_pixels = np.zeros(num_classes, np.int64)
        self.class_images = np.zeros(num_classes, np.int64)
        self.rows = np.zeros(num_classes)
        self.ignored = 0
        self.labelled = 0
        self.components: list[list[int]] = [[] for _ in range(num_classes)]
        self.skeleton = np.zeros(num_classes)
        self.sampled_area = np.zeros(num_classes)

    def add(self, image: np.ndarray, mask: np.ndarray, ignore_index: int) -> None:
        self.sizes.append(mask.shape)
        pixels = image.reshape(-1, image.shape[-1]).astype(np.float64)
        self.sums += pixels.sum(axis=0)
        self.squares += (pixels**2).sum(axis=0)
        self.values += len(pixels)
        ignored = int(np.count_nonzero(mask == ignore_index))
        self.ignored += ignored
        self.labelled += int(mask.size) - ignored
        rows = np.linspace(0.0, 1.0, mask.shape[0])[:, None]
        for label in np.unique(mask):
            if label == ignore_index or not 0 <= label < len(self.class_pixels):
                continue
            region = mask == label
            self.class_pixels[label] += int(np.count_nonzero(region))
            self.class_images[label] += 1
            self.rows[label] += float((region * rows).sum())
            self._structures(int(label), region)

    def _structures(self, label: int, region: np.ndarray) -> None:
        step = 1
        while region[::step, ::step].size > MAX_STRUCTURE_PIXELS:
            step *= 2
        sampled = region[::step, ::step]
        labelled, _ = ndimage.label(sampled)
        self.components[label] += (np.bincount(labelled.ravel())[1:] * step * step).tolist()
        self.sampled_area[label] += np.count_nonzero(sampled)
        self.skeleton[label] += np.count_nonzero(skeletonize(sampled)) / step

    def object_pixels(self, label: int) -> float:
        """The pixel-weighted median component size of class ``label``."""
        sizes = np.sort(np.array(self.components[label], np.float64))
        total = np.cumsum(sizes)
        return float(sizes[np.searchsorted(total, total[-1] / 2)])

    def width(self, label: int) -> float:
        """Pixels per skeleton pixel of class ``label``, at full resolution."""
        skeleton = self.skeleton[label]
        return float(self.sampled_area[label] / skeleton) if skeleton else 0.0


def _sample(count: int, limit: int, seed: int) -> list[int]:
    if count <= limit:
        return list(range(count))
    return sorted(np.random.default_rng(seed).choice(count, limit, replace=False).tolist())


def fingerprint(
    dataset: SegmentationDataset,
    name: str,
    split: str,
    max_images: int = MAX_IMAGES,
    seed: int = 0,
    progress: bool = True,
) -> Fingerprint:
    """Measure ``dataset`` (a split called ``name`` ``split``) as the module docstring says.

    Raises:
        PixelwiseError: for an empty split, or one whose masks label a single class.
    """
    if len(dataset) == 0:
        raise PixelwiseError(f"{name} {split} has no images to plan from")
    info = dataset.info
    tally = _Tally(info.num_classes, info.channels)
    chosen = _sample(len(dataset), max_images, seed)
    reading = 0.0
    for index in tqdm(chosen, desc=f"fingerprinting {name} {split}", disable=not progress):
        started = time.perf_counter()
        image, mask = dataset[index]
        reading += time.perf_counter() - started
        tally.add(image, mask, info.ignore_index)
    present = int(np.count_nonzero(tally.class_pixels))
    if present < 2:
        raise PixelwiseError(
            f"{name} {split}: the masks label {present} class(es); segmentation needs at "
            "least two (check the mask values, e.g. --mask-values 0:0,255:1)"
        )
    facts = _result(tally, info, name, split, len(dataset), len(chosen))
    facts.read_seconds = round(reading / len(chosen), 5)
    return facts


def _result(tally: _Tally, info, name: str, split: str, images: int, sampled: int) -> Fingerprint:
    sizes = np.array(tally.sizes)
    mean = tally.sums / tally.values
    std = np.sqrt(np.maximum(tally.squares / tally.values - mean**2, 0.0))
    labelled = max(tally.labelled, 1)
    classes = []
    for label, class_name in enumerate(info.classes):
        facts = ClassFacts(class_name)
        pixels = int(tally.class_pixels[label])
        if pixels:
            facts.pixel_share = round(pixels / labelled, 6)
            facts.image_share = round(int(tally.class_images[label]) / sampled, 4)
            facts.object_pixels = tally.object_pixels(label)
            facts.width = round(tally.width(label), 3)
            facts.vertical_position = round(float(tally.rows[label] / pixels), 4)
        classes.append(facts)
    total = tally.labelled + tally.ignored
    return Fingerprint(
        dataset=name,
        split=split,
        images=images,
        sampled=sampled,
        channels=info.channels,
        size_median=[int(v) for v in np.median(sizes, axis=0)],
        size_min=[int(v) for v in sizes.min(axis=0)],
        size_max=[int(v) for v in sizes.max(axis=0)],
        intensity_mean=[round(float(v), 3) for v in mean],
        intensity_std=[round(float(v), 3) for v in std],
        ignored_share=round(tally.ignored / total, 6) if total else 0.0,
        read_seconds=0.0,
        classes=classes,
    )

"""Class pixel statistics of a labelled dataset, and the class weights derived from them.

Three weighting methods, over the labelled (not ignored) pixels of a dataset, where
n_c is the pixel count of class c, n = Σ n_c, and K the number of classes with n_c > 0:

- ``inverse``: w_c = n / (K·n_c), inverse frequency scaled so that a balanced dataset
  gets weight 1 everywhere (scikit-learn's ``class_weight="balanced"``);
- ``inverse_sqrt``: w_c = sqrt(n / (K·n_c)), a milder version of the same;
- ``median_frequency`` (Eigen & Fergus, 2015, as used by SegNet): freq(c) = n_c / m_c,
  where m_c counts the labelled pixels of the images in which c is present, and
  w_c = median(freq) / freq(c), the median taken over the classes with pixels.

A class with no pixels at all gets weight 0 (with a warning naming it): it has no
target pixels to weigh, and any finite weight would be a guess.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from pixelwise.config import WEIGHT_METHODS
from pixelwise.data.base import SegmentationDataset
from pixelwise.errors import PixelwiseError


@dataclass(frozen=True)
class ClassPixelCounts:
    """Per-class pixel counts of a dataset, ignored pixels excluded.

    Attributes:
        pixels: (C,) int64, n_c, the pixels labelled c.
        image_pixels: (C,) int64, m_c, the labelled pixels of the images where c occurs.
        class_names: the C class names.
    """

    pixels: np.ndarray
    image_pixels: np.ndarray
    class_names: tuple[str, ...]


def count_class_pixels(dataset: SegmentationDataset, progress: bool = True) -> ClassPixelCounts:
    """Count class pixels in one pass over ``dataset``'s masks, with a progress bar.

    Raises:
        PixelwiseError: for an empty dataset, or a mask value that is neither a class
            index nor the ignore index (the message names the sample).
    """
    info = dataset.info
    if len(dataset) == 0:
        raise PixelwiseError("cannot count class pixels of an empty dataset")
    pixels = np.zeros(info.num_classes, np.int64)
    image_pixels = np.zeros(info.num_classes, np.int64)
    for index in tqdm(range(len(dataset)), desc="counting class pixels", disable=not progress):
        counts = _mask_counts(dataset, index)
        pixels += counts
        image_pixels[counts > 0] += counts.sum()
    return ClassPixelCounts(pixels, image_pixels, info.classes)


def _mask_counts(dataset: SegmentationDataset, index: int) -> np.ndarray:
    """Pixels per class (C,) in the mask of sample ``index``."""
    info = dataset.info
    mask = np.asarray(dataset[index][1])
    labels = mask[mask != info.ignore_index]
    bad = labels[(labels < 0) | (labels >= info.num_classes)]
    if bad.size:
        raise PixelwiseError(
            f"mask of sample {dataset.stem(index)!r} holds value {bad[0]}, which is neither a "
            f"class in [0, {info.num_classes}) nor the ignore index ({info.ignore_index})"
        )
    return np.bincount(labels.astype(np.int64), minlength=info.num_classes)


def weights_from_counts(counts: ClassPixelCounts, method: str) -> np.ndarray:
    """Class weights (C,) float64 by ``method`` (see the module docstring for the formulas).

    Raises:
        PixelwiseError: for an unknown method, or when no class has any pixel.
    """
    _check_method(method)
    present = counts.pixels > 0
    if not present.any():
        raise PixelwiseError("no labelled pixels: every mask pixel is the ignore index")
    missing = [name for name, there in zip(counts.class_names, present, strict=True) if not there]
    if missing:
        warnings.warn(
            f"classes with no pixels get class weight 0: {', '.join(missing)}", stacklevel=2
        )
    n = counts.pixels[present].astype(np.float64)
    if method == "median_frequency":
        frequency = n / counts.image_pixels[present]
        chosen = np.median(frequency) / frequency
    else:
        chosen = n.sum() / (present.sum() * n)
        if method == "inverse_sqrt":
            chosen = np.sqrt(chosen)
    weights = np.zeros(len(present))
    weights[present] = chosen
    return weights


def class_weights(
    dataset: SegmentationDataset, method: str = "median_frequency", progress: bool = True
) -> np.ndarray:
    """Class weights (C,) float64 of ``dataset`` by ``method``, from one pass over its masks.

    ``method`` is ``"median_frequency"``, ``"inverse"`` or ``"inverse_sqrt"`` (formulas
    in the module docstring). Classes with no pixels get weight 0, with a warning.
    """
    _check_method(method)
    return weights_from_counts(count_class_pixels(dataset, progress), method)


def _check_method(method: str) -> None:
    if method not in WEIGHT_METHODS:
        raise PixelwiseError(
            f"unknown class weight method {method!r}; choose one of {', '.join(WEIGHT_METHODS)}"
        )


def resolve_class_weights(
    spec: str | Sequence[float] | None, dataset: SegmentationDataset, progress: bool = True
) -> list[float] | None:
    """The class weights a run configuration asks for, one per class of ``dataset``.

    ``spec`` is None (no weights), a method name (computed from ``dataset``, which should
    be the training split), or a sequence of numbers.

    Raises:
        PixelwiseError: for a bad spec, or a number of weights other than the classes'.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        return class_weights(dataset, spec, progress).tolist()
    return _checked(spec, dataset.info.num_classes)


def _checked(values: Sequence[float], num_classes: int | None) -> list[float]:
    """``values`` as floats, each finite and >= 0, ``num_classes`` of them if given."""
    weights = [float(v) for v in values]
    if num_classes is not None and len(weights) != num_classes:
        raise PixelwiseError(
            f"{len(weights)} class weights given, expected one per class ({num_classes})"
        )
    if not all(math.isfinite(w) and w >= 0 for w in weights):
        raise PixelwiseError(f"class weights must be finite and >= 0, got {weights}")
    return weights

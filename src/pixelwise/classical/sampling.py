"""The pixel subsample that every classical method fits on."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from pixelwise.data.base import SegmentationDataset
from pixelwise.errors import PixelwiseError

PixelValues = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``values(image (H, W, C) uint8, index (n,) flat pixel indices) -> (n, ...)``."""


def sample_pixels(
    dataset: SegmentationDataset,
    values: PixelValues,
    max_pixels: int,
    seed: int,
    progress: bool = True,
    desc: str = "sampling pixels",
) -> tuple[np.ndarray, np.ndarray]:
    """Values and class labels at a seeded random subsample of labelled pixels.

    Each image gives at most ``max_pixels // len(dataset)`` (at least one) pixels
    drawn without replacement from those whose mask is not the ignore index, so the
    total stays within ``max_pixels``. Image ``i`` draws from ``np.random.default_rng
    ([seed, i])``: the sample depends only on the seed and the data.

    Returns ``(values (N, ...), labels (N,) int64)``.
    """
    if len(dataset) == 0:
        raise PixelwiseError("cannot fit on an empty dataset")
    quota = max(1, max_pixels // len(dataset))
    ignore = dataset.info.ignore_index
    chunks, labels = [], []
    for i in tqdm(range(len(dataset)), desc=desc, disable=not progress):
        image, mask = dataset[i]
        flat = mask.reshape(-1)
        valid = np.flatnonzero(flat != ignore)
        rng = np.random.default_rng([seed, i])
        index = np.sort(rng.choice(valid, size=min(quota, valid.size), replace=False))
        chunks.append(values(image, index))
        labels.append(flat[index].astype(np.int64))
    if sum(len(chunk) for chunk in labels) == 0:
        raise PixelwiseError("cannot fit: every pixel of the training data is ignored")
    return np.concatenate(chunks), np.concatenate(labels)

"""Edges filled into regions: Sobel magnitude or Canny, closed, then labelled.

The edge map is closed (morphological closing with a disk) so that small gaps do not
merge neighbouring regions; the non-edge pixels are labelled into 4-connected regions.
A region's id is the bin of its mean gray level (``bins`` equal bins over 0..255), and
edge pixels have an id of their own (``bins``). ``fit`` learns each id's class by a
majority vote: which classes the dark, mid and bright regions, and the edges, belong to.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage
from skimage.feature import canny
from skimage.filters import gaussian, sobel
from skimage.morphology import disk

from pixelwise.classical.base import ClassicalMethod
from pixelwise.classical.images import GRAYSCALE_MODES, to_gray
from pixelwise.classical.params import check_choice, check_int, check_number

DETECTORS = ("canny", "sobel")


def region_mean_bins(regions: np.ndarray, gray: np.ndarray, bins: int) -> np.ndarray:
    """Each region's mean-gray bin, per pixel.

    ``regions (H, W)`` int labels ``0..R`` and ``gray (H, W)`` uint8 -> ``(H, W)`` int64
    bins in ``[0, bins)``: ``floor(mean * bins / 256)`` of the pixel's region.
    """
    flat = regions.ravel()
    sums = np.bincount(flat, weights=gray.ravel().astype(np.float64))
    counts = np.maximum(np.bincount(flat), 1)
    region_bin = np.minimum((sums / counts * bins / 256).astype(np.int64), bins - 1)
    return region_bin[regions]


class EdgeRegions(ClassicalMethod):
    """Regions between closed Sobel or Canny edges, classed by their mean gray level.

    Canny (``skimage.feature.canny``) takes ``sigma`` and the hysteresis thresholds
    ``low`` and ``high`` on the gradient of gray scaled to [0, 1]. Sobel marks
    ``sobel(gaussian(gray, sigma)) > high``. ``closing`` is the disk radius in pixels
    (0: no closing).
    """

    name = "edges"
    summary = "Sobel or Canny edges, closed, regions classed by mean gray"

    def __init__(
        self,
        *,
        detector: str = "canny",
        sigma: float = 1.0,
        low: float = 0.05,
        high: float = 0.1,
        closing: int = 1,
        bins: int = 16,
        grayscale: str = "luma",
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.detector = check_choice(self.name, "detector", detector, DETECTORS)
        self.sigma = check_number(self.name, "sigma", sigma, 0, 100)
        self.low = check_number(self.name, "low", low, 0, 10)
        self.high = check_number(self.name, "high", high, low, 10)
        self.closing = check_int(self.name, "closing", closing, 0)
        self.bins = check_int(self.name, "bins", bins, 1)
        self.grayscale = check_choice(self.name, "grayscale", grayscale, GRAYSCALE_MODES)

    @property
    def num_ids(self) -> int:
        return self.bins + 1

    def edges(self, gray: np.ndarray) -> np.ndarray:
        """``(H, W)`` uint8 gray -> ``(H, W)`` bool edge map, closed."""
        scaled = gray.astype(np.float64) / 255
        if self.detector == "canny":
            edges = canny(scaled, self.sigma, low_threshold=self.low, high_threshold=self.high)
        else:
            edges = sobel(gaussian(scaled, sigma=self.sigma)) > self.high
        if self.closing > 0:
            edges = ndimage.binary_closing(edges, structure=disk(self.closing), border_value=0)
        return edges

    def ids(self, image: np.ndarray) -> np.ndarray:
        gray = to_gray(image, self.grayscale)
        edges = self.edges(gray)
        regions, _ = ndimage.label(~edges)
        ids = region_mean_bins(regions, gray, self.bins)
        ids[edges] = self.bins
        return ids

"""Threshold methods on the gray image: a fixed value, Otsu, multi-Otsu and adaptive.

Each pixel's id is its side of the threshold(s) (0 below or at it, 1 above; multi-Otsu:
the bin between its k - 1 thresholds). Otsu, multi-Otsu and adaptive thresholds are
computed per image, as in their definitions; ``fit`` learns which bin is which class.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
from skimage.filters import threshold_local, threshold_multiotsu, threshold_otsu

from pixelwise.classical.base import ClassicalMethod
from pixelwise.classical.images import GRAYSCALE_MODES, to_gray
from pixelwise.classical.params import check_choice, check_int, check_number, check_odd

LOCAL_METHODS = ("gaussian", "mean")


class GrayThreshold(ClassicalMethod):
    """A threshold method: ``grayscale`` (see :data:`GRAYSCALE_MODES`) makes the gray image.

    ``vote`` defaults to ``balanced``: fitting learns the class order, each bin going to
    the class with the largest share of its pixels in that bin. (A plain pixel vote gives
    both sides of a threshold to a dominant class, such as ISBI 2012's cells.)
    """

    def __init__(self, *, grayscale: str = "luma", vote: str = "balanced", **common: Any) -> None:
        super().__init__(vote=vote, **common)
        self.grayscale = check_choice(self.name, "grayscale", grayscale, GRAYSCALE_MODES)

    @property
    def num_ids(self) -> int:
        return 2

    def ids(self, image: np.ndarray) -> np.ndarray:
        return self.bins(to_gray(image, self.grayscale))

    def bins(self, gray: np.ndarray) -> np.ndarray:
        """``(H, W)`` uint8 gray -> ``(H, W)`` int64: 1 above the threshold, 0 elsewhere."""
        return (gray > self.threshold_of(gray)).astype(np.int64)

    @abstractmethod
    def threshold_of(self, gray: np.ndarray) -> float | np.ndarray:
        """The threshold for ``gray (H, W)``: a number, or ``(H, W)`` local thresholds."""


class FixedThreshold(GrayThreshold):
    """``gray > value``."""

    name = "threshold"
    summary = "a fixed gray threshold 'value'"

    def __init__(
        self,
        *,
        value: float = 128,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.value = check_number(self.name, "value", value, 0, 255)

    def threshold_of(self, gray: np.ndarray) -> float:
        return self.value


class Otsu(GrayThreshold):
    """Otsu's threshold of each image (``skimage.filters.threshold_otsu``)."""

    name = "otsu"
    summary = "Otsu's threshold, per image"

    def threshold_of(self, gray: np.ndarray) -> float:
        return float(threshold_otsu(gray))


class MultiOtsu(GrayThreshold):
    """``k - 1`` multi-Otsu thresholds per image: ``k`` bins (``threshold_multiotsu``)."""

    name = "multiotsu"
    summary = "multi-Otsu thresholds into k bins, per image"

    def __init__(
        self,
        *,
        k: int = 3,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.k = check_int(self.name, "k", k, 2)

    @property
    def num_ids(self) -> int:
        return self.k

    def threshold_of(self, gray: np.ndarray) -> np.ndarray:
        """The ``(k - 1,)`` ascending thresholds; an image with fewer than ``k`` gray levels
        gets the midpoints between the levels it has."""
        levels = np.unique(gray)
        if levels.size < self.k:
            return (levels[:-1] + levels[1:]) / 2
        return threshold_multiotsu(gray, classes=self.k)

    def bins(self, gray: np.ndarray) -> np.ndarray:
        return np.digitize(gray, self.threshold_of(gray), right=True).astype(np.int64)


class Adaptive(GrayThreshold):
    """A local threshold per pixel: the ``method`` (gaussian or mean) weighted average of its
    ``block_size`` × ``block_size`` neighbourhood minus ``offset`` (``threshold_local``)."""

    name = "adaptive"
    summary = "local (mean or gaussian) threshold over block_size, minus offset"

    def __init__(
        self,
        *,
        block_size: int = 35,
        method: str = "gaussian",
        offset: float = 0.0,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.block_size = check_odd(self.name, "block_size", block_size, 3)
        self.method = check_choice(self.name, "method", method, LOCAL_METHODS)
        self.offset = check_number(self.name, "offset", offset, -255, 255)

    def threshold_of(self, gray: np.ndarray) -> np.ndarray:
        return threshold_local(gray, self.block_size, method=self.method, offset=self.offset)

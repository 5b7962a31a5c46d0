"""Seeded region growing and marker-based watershed.

Both start from seeds: the given ``seeds`` (``[row, col]`` points, the same for every
image), or else seeds from fitted statistics. ``fit`` then learns the mean gray level
of every class (on a pixel subsample), and the seeds of class ``c`` are the pixels
whose gray is nearest that class's mean and within ``seed_tolerance`` of it.

A pixel's id is the seed (point index, or class) whose region holds it; with region
growing, pixels no region reaches share one more id. ``fit`` maps ids to classes by a
majority vote, as for every classical method.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage
from skimage.filters import gaussian, sobel
from skimage.segmentation import flood, watershed

from pixelwise.classical.base import ClassicalMethod
from pixelwise.classical.images import GRAYSCALE_MODES, to_gray
from pixelwise.classical.params import check_choice, check_number, check_points
from pixelwise.data.base import SegmentationDataset
from pixelwise.errors import PixelwiseError

CONNECTIVITY = {4: 1, 8: 2}
"""Neighbourhood in pixels -> scikit-image / scipy connectivity rank."""


class SeededMethod(ClassicalMethod):
    """Seeds from ``seeds`` points, or from the class means that ``fit`` learns."""

    def __init__(
        self,
        *,
        seeds: list[list[int]] | None = None,
        seed_tolerance: float = 8.0,
        connectivity: int = 4,
        grayscale: str = "luma",
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.seeds = check_points(self.name, "seeds", seeds)
        self.seed_tolerance = check_number(self.name, "seed_tolerance", seed_tolerance, 0, 255)
        self.connectivity = check_choice(self.name, "connectivity", connectivity, [4, 8])
        self.grayscale = check_choice(self.name, "grayscale", grayscale, GRAYSCALE_MODES)
        self.class_means: np.ndarray | None = None  # (num_classes,) mean gray; NaN if unseen

    @property
    def num_seeds(self) -> int:
        """How many seed ids there are: the points, or the classes."""
        if self.seeds is not None:
            return len(self.seeds)
        if self.num_classes is None:
            raise PixelwiseError(f"{self.name}: needs a fitted method; call fit first")
        return self.num_classes

    def fit_statistics(self, dataset: SegmentationDataset, progress: bool) -> None:
        """Learn each class's mean gray level (only when no ``seeds`` points are given)."""
        if self.seeds is not None:
            return
        gray, labels = self.sample(
            dataset, lambda image, index: to_gray(image, self.grayscale).ravel()[index], progress
        )
        sums = np.bincount(labels, weights=gray.astype(np.float64), minlength=self.num_classes)
        counts = np.bincount(labels, minlength=self.num_classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.class_means = sums / counts

    def distances(self, gray: np.ndarray) -> np.ndarray:
        """``(num_classes, H, W)`` float32 |gray - class mean|; +inf for unseen classes."""
        means = np.nan_to_num(self.class_means, nan=np.inf).astype(np.float32)
        return np.abs(gray.astype(np.float32)[None] - means[:, None, None])

    def class_seeds(self, distances: np.ndarray) -> np.ndarray:
        """``(num_classes, H, W)`` bool: pixels nearest class c's mean, within seed_tolerance."""
        nearest = distances.argmin(axis=0)
        classes = np.arange(len(distances))[:, None, None]
        return (nearest[None] == classes) & (distances <= self.seed_tolerance)

    def point_markers(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The seed points as ``(rows (P,), cols (P,))``; a point outside the image is an error."""
        points = np.asarray(self.seeds)
        outside = (points[:, 0] >= shape[0]) | (points[:, 1] >= shape[1])
        if outside.any():
            raise PixelwiseError(
                f"{self.name}: seed point {points[outside][0].tolist()} lies outside the "
                f"{shape[0]}×{shape[1]} image"
            )
        return points[:, 0], points[:, 1]

    def state(self) -> dict[str, Any]:
        if self.class_means is None:
            return {}
        return {"class_means": [None if np.isnan(m) else float(m) for m in self.class_means]}

    def load_state(self, state: dict[str, Any]) -> None:
        if "class_means" in state:
            means = [np.nan if m is None else m for m in state["class_means"]]
            self.class_means = np.asarray(means, dtype=np.float64)


class RegionGrowing(SeededMethod):
    """Regions grown from seeds over connected pixels within ``tolerance`` gray levels.

    From a point, the region is ``skimage.segmentation.flood``: the pixels connected to
    it whose gray lies within ``tolerance`` of the point's own; where regions overlap,
    the earlier point wins. From fitted statistics, class c's region is every connected
    component of the pixels within ``tolerance`` of the class mean that holds a class c
    seed; where regions overlap, the nearest class mean wins. ``connectivity`` is 4 or 8.
    """

    name = "region_growing"
    summary = "regions grown from seeds (points, or fitted class means) within a tolerance"

    def __init__(
        self,
        *,
        tolerance: float = 24.0,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.tolerance = check_number(self.name, "tolerance", tolerance, 0, 255)

    @property
    def num_ids(self) -> int:
        return self.num_seeds + 1  # the last id: reached by no region

    def ids(self, image: np.ndarray) -> np.ndarray:
        gray = to_gray(image, self.grayscale)
        if self.seeds is not None:
            return self._grow_from_points(gray)
        return self._grow_from_classes(gray)

    def _grow_from_points(self, gray: np.ndarray) -> np.ndarray:
        ids = np.full(gray.shape, len(self.seeds), np.int64)
        rank = CONNECTIVITY[self.connectivity]
        rows, cols = self.point_markers(gray.shape)
        for i in reversed(range(len(rows))):  # the earlier point wins where regions overlap
            point = (int(rows[i]), int(cols[i]))
            ids[flood(gray, point, connectivity=rank, tolerance=self.tolerance)] = i
        return ids

    def _grow_from_classes(self, gray: np.ndarray) -> np.ndarray:
        distances = self.distances(gray)
        structure = ndimage.generate_binary_structure(2, CONNECTIVITY[self.connectivity])
        reached = np.zeros(distances.shape, bool)
        for c, seeds in enumerate(self.class_seeds(distances)):
            components, count = ndimage.label(distances[c] <= self.tolerance, structure)
            keep = np.zeros(count + 1, bool)
            keep[components[seeds]] = True
            keep[0] = False
            reached[c] = keep[components]
        grown = np.where(reached, distances, np.inf)
        return np.where(reached.any(axis=0), grown.argmin(axis=0), len(distances))


class Watershed(SeededMethod):
    """``skimage.segmentation.watershed`` of the gradient magnitude, from seed markers.

    The relief is ``sobel(gaussian(gray / 255, sigma))``. Each point, or each class's
    fitted seeds, is one marker; every pixel joins the basin of the marker it floods
    from. An image with no seed pixel at all takes the nearest class mean per pixel.
    """

    name = "watershed"
    summary = "watershed of the gradient magnitude from markers (points or fitted seeds)"

    def __init__(
        self,
        *,
        sigma: float = 1.0,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.sigma = check_number(self.name, "sigma", sigma, 0, 100)

    @property
    def num_ids(self) -> int:
        return self.num_seeds

    def markers(self, gray: np.ndarray) -> np.ndarray:
        """``(H, W)`` int32: seed id + 1 at the seed pixels, 0 elsewhere."""
        markers = np.zeros(gray.shape, np.int32)
        if self.seeds is not None:
            markers[self.point_markers(gray.shape)] = np.arange(1, len(self.seeds) + 1)
            return markers
        seeds = self.class_seeds(self.distances(gray))
        has_seed = seeds.any(axis=0)
        markers[has_seed] = seeds.argmax(axis=0)[has_seed] + 1
        return markers

    def ids(self, image: np.ndarray) -> np.ndarray:
        gray = to_gray(image, self.grayscale)
        markers = self.markers(gray)
        if not markers.any():
            return self.distances(gray).argmin(axis=0).astype(np.int64)
        relief = sobel(gaussian(gray / 255.0, sigma=self.sigma))
        basins = watershed(relief, markers, connectivity=CONNECTIVITY[self.connectivity])
        return basins.astype(np.int64) - 1

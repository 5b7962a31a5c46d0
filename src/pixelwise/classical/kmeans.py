"""k-means colour clustering (scikit-learn), clusters mapped to classes on training pixels.

Features per pixel: RGB scaled to [0, 1], or CIE Lab scaled to about [0, 1] (L / 100,
a / 128, b / 128); with ``xy`` also the row and column as fractions of the image's
height and width, times ``xy_weight``. Gray images are clustered as RGB with three
equal channels. ``fit`` clusters a pixel subsample and learns each cluster's class (a
majority vote) and its mean RGB colour, which :meth:`KMeansColours.quantize` paints.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from skimage.color import rgb2lab
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import pairwise_distances_argmin

from pixelwise.classical.base import ClassicalMethod
from pixelwise.classical.images import as_hwc, to_rgb
from pixelwise.classical.params import check_bool, check_choice, check_int, check_number
from pixelwise.data.base import SegmentationDataset
from pixelwise.errors import PixelwiseError

SPACES = ("rgb", "lab")
LAB_SCALE = np.array([100.0, 128.0, 128.0])


class KMeansColours(ClassicalMethod):
    """``k`` clusters of pixel colours (and optionally positions).

    ``minibatch`` uses ``MiniBatchKMeans`` instead of ``KMeans``; both start from
    k-means++ ``n_init`` times with ``random_state=seed``.
    """

    name = "kmeans"
    summary = "k-means colour clusters (rgb or lab, optionally xy), mapped to classes"

    def __init__(
        self,
        *,
        k: int = 4,
        space: str = "rgb",
        xy: bool = False,
        xy_weight: float = 1.0,
        minibatch: bool = False,
        n_init: int = 3,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.k = check_int(self.name, "k", k, 2)
        self.space = check_choice(self.name, "space", space, SPACES)
        self.xy = check_bool(self.name, "xy", xy)
        self.xy_weight = check_number(self.name, "xy_weight", xy_weight, 0, 1000)
        self.minibatch = check_bool(self.name, "minibatch", minibatch)
        self.n_init = check_int(self.name, "n_init", n_init, 1)
        self.centres: np.ndarray | None = None  # (k, F) cluster centres in feature space
        self.colours: np.ndarray | None = None  # (k, 3) uint8 mean RGB of each cluster

    @property
    def num_ids(self) -> int:
        return self.k

    def features(self, image: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        """``(N, F)`` float features of the pixels at flat ``index`` (all pixels if None)."""
        rgb = to_rgb(image)
        h, w = rgb.shape[:2]
        flat = rgb.reshape(-1, 3) if index is None else rgb.reshape(-1, 3)[index]
        if self.space == "lab":
            colour = rgb2lab(flat[None]).reshape(-1, 3) / LAB_SCALE
        else:
            colour = flat / 255.0
        if not self.xy:
            return colour
        where = np.arange(h * w) if index is None else index
        rows, cols = np.divmod(where, w)
        position = np.stack([rows / h, cols / w], axis=1) * self.xy_weight
        return np.concatenate([colour, position], axis=1)

    def _clusterer(self) -> KMeans | MiniBatchKMeans:
        kind = MiniBatchKMeans if self.minibatch else KMeans
        return kind(n_clusters=self.k, n_init=self.n_init, random_state=self.seed)

    def fit(self, dataset: SegmentationDataset, progress: bool = True) -> KMeansColours:
        """Cluster a pixel subsample; learn each cluster's class and mean colour."""
        self.num_classes = dataset.info.num_classes
        values, labels = self.sample(dataset, self._features_and_rgb, progress)
        features, rgb = values[:, :-3], values[:, -3:]
        if len(np.unique(features, axis=0)) < self.k:
            raise PixelwiseError(
                f"kmeans: the training pixels have fewer than k={self.k} distinct features"
            )
        clusters = self._clusterer().fit(features)
        ids = clusters.labels_.astype(np.int64)
        self.centres = clusters.cluster_centers_
        self.colours = self._mean_colours(ids, rgb)
        self.learn_mapping(ids, labels)
        return self

    def _features_and_rgb(self, image: np.ndarray, index: np.ndarray) -> np.ndarray:
        rgb = to_rgb(image).reshape(-1, 3)[index]
        return np.concatenate([self.features(image, index), rgb], axis=1)

    def _mean_colours(self, ids: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """``(k, 3)`` uint8: the mean RGB of each cluster's sampled pixels."""
        counts = np.maximum(np.bincount(ids, minlength=self.k), 1)[:, None]
        sums = np.stack([np.bincount(ids, rgb[:, c], self.k) for c in range(3)], axis=1)
        return np.round(sums / counts).astype(np.uint8)

    def ids(self, image: np.ndarray) -> np.ndarray:
        if self.centres is None:
            raise PixelwiseError("kmeans: needs a fitted method; call fit first")
        h, w = image.shape[:2]
        nearest = pairwise_distances_argmin(self.features(image), self.centres)
        return nearest.astype(np.int64).reshape(h, w)

    def quantize(self, image: np.ndarray) -> np.ndarray:
        """``(H, W[, C])`` uint8 -> ``(H, W, 3)`` uint8: each pixel in its cluster's colour."""
        return self.colours[self.ids(as_hwc(image))]

    def state(self) -> dict[str, Any]:
        return {"centres": self.centres.tolist(), "colours": self.colours.tolist()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.centres = np.asarray(state["centres"], dtype=np.float64)
        self.colours = np.asarray(state["colours"], dtype=np.uint8)
        if self.centres.shape[0] != self.k or self.colours.shape != (self.k, 3):
            raise ValueError(f"kmeans state does not hold k={self.k} centres and colours")

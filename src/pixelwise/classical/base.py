"""What every classical method is: image -> region/cluster ids -> classes, fitted on data.

A classical method turns an image into integer ids (a threshold bin, a k-means
cluster, an edge-bounded region's intensity bin, a seed's region). ``fit`` learns
whatever the ids need (cluster centres, class intensities) and then which class each
id stands for, by a majority vote over a pixel subsample of the training data.
``predict`` is ``mapping[ids(image)]``.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from tqdm.auto import tqdm

from pixelwise.classical.images import as_hwc
from pixelwise.classical.mapping import VOTES, hungarian_mapping, joint_counts, majority_mapping
from pixelwise.classical.params import check_choice, check_int
from pixelwise.classical.sampling import PixelValues, sample_pixels
from pixelwise.data.base import SegmentationDataset
from pixelwise.errors import PixelwiseError

DEFAULT_MAX_FIT_PIXELS = 200_000


class ClassicalMethod(ABC):
    """A fitted-on-data, non-learned segmentation method.

    Subclasses take their parameters as keyword arguments, keep each under its own
    name as an attribute (``params`` reads them back by the constructor's signature),
    and implement ``num_ids`` and ``ids``. Every method takes ``vote`` (how ids are
    mapped to classes, see :data:`~pixelwise.classical.mapping.VOTES`), ``max_fit_pixels``
    (the cap on the pixel subsample ``fit`` uses) and ``seed`` (which pixels, and any
    other randomness).
    """

    name: ClassVar[str]
    summary: ClassVar[str]

    def __init__(
        self, *, vote: str = "pixels", max_fit_pixels: int = DEFAULT_MAX_FIT_PIXELS, seed: int = 0
    ) -> None:
        self.vote = check_choice(self.name, "vote", vote, VOTES)
        self.max_fit_pixels = check_int(self.name, "max_fit_pixels", max_fit_pixels, 1)
        self.seed = check_int(self.name, "seed", seed, 0)
        self.num_classes: int | None = None
        self.mapping: np.ndarray | None = None  # (num_ids,) int64 class per id

    @classmethod
    def param_names(cls) -> list[str]:
        """The keyword parameters of the constructors along the class hierarchy, own first.

        A subclass names its own parameters and passes the rest on as ``**common``.
        """
        names: list[str] = []
        for klass in cls.__mro__:
            if "__init__" in vars(klass) and issubclass(klass, ClassicalMethod):
                parameters = inspect.signature(vars(klass)["__init__"]).parameters.values()
                names += [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
        return list(dict.fromkeys(names))

    @property
    def params(self) -> dict[str, Any]:
        """The parameters this method was built with, as plain data."""
        return {key: getattr(self, key) for key in self.param_names()}

    @property
    @abstractmethod
    def num_ids(self) -> int:
        """How many distinct ids :meth:`ids` can return."""

    @abstractmethod
    def ids(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, C)`` uint8 -> ``(H, W)`` int64 ids in ``[0, num_ids)``."""

    def fit_statistics(self, dataset: SegmentationDataset, progress: bool) -> None:  # noqa: B027
        """Learn what :meth:`ids` needs, before ids are mapped to classes (nothing by default)."""

    def fit(self, dataset: SegmentationDataset, progress: bool = True) -> ClassicalMethod:
        """Learn from ``dataset`` (its ignore index excluded); returns ``self``."""
        self.num_classes = dataset.info.num_classes
        self.fit_statistics(dataset, progress)
        ids, labels = self.sample(
            dataset, lambda image, index: self.ids(image).ravel()[index], progress
        )
        self.learn_mapping(ids, labels)
        return self

    def learn_mapping(self, ids: np.ndarray, labels: np.ndarray) -> None:
        """Each id's class by a ``vote`` over the sampled ``ids (N,)`` and ``labels (N,)``."""
        counts = joint_counts(ids, labels, self.num_ids, self.num_classes)
        self.mapping = majority_mapping(counts, self.vote)

    def sample(
        self, dataset: SegmentationDataset, values: PixelValues, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`~pixelwise.classical.sampling.sample_pixels` with this method's cap and seed."""
        desc = f"fitting {self.name}"
        return sample_pixels(dataset, values, self.max_fit_pixels, self.seed, progress, desc)

    def predict(self, image: np.ndarray) -> np.ndarray:
        """``(H, W[, C])`` uint8 -> ``(H, W)`` int64 class labels."""
        if self.mapping is None:
            raise PixelwiseError(f"{self.name}: predict needs a fitted method; call fit first")
        return self.mapping[self.ids(as_hwc(image))]

    def with_oracle_mapping(
        self, dataset: SegmentationDataset, progress: bool = True
    ) -> ClassicalMethod:
        """A copy whose ids map one-to-one to classes as best fits ``dataset`` (Hungarian).

        The counts cover every labelled pixel of ``dataset``. Scoring the copy on the same
        data gives an oracle: an upper bound for the ids, not a fair score.
        """
        num_classes = dataset.info.num_classes
        counts = np.zeros((self.num_ids, num_classes), np.int64)
        for i in tqdm(range(len(dataset)), desc="oracle mapping", disable=not progress):
            image, mask = dataset[i]
            valid = mask != dataset.info.ignore_index
            ids = self.ids(as_hwc(image))
            counts += joint_counts(ids[valid], mask[valid], self.num_ids, num_classes)
        oracle = copy.copy(self)
        oracle.mapping = hungarian_mapping(counts)
        return oracle

    def state(self) -> dict[str, Any]:
        """What ``fit`` learned besides the mapping, as JSON-ready data (nothing by default)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:  # noqa: B027
        """Restore what :meth:`state` returned."""

    def to_dict(self) -> dict[str, Any]:
        """Method name, parameters and everything learned, as JSON-ready data."""
        if self.mapping is None:
            raise PixelwiseError(f"{self.name}: only a fitted method can be saved")
        return {
            "method": self.name,
            "params": self.params,
            "num_classes": self.num_classes,
            "mapping": self.mapping.tolist(),
            "state": self.state(),
        }

    def restore(self, d: dict[str, Any]) -> ClassicalMethod:
        """Take the learned part of :meth:`to_dict`'s output; returns ``self``."""
        self.num_classes = int(d["num_classes"])
        self.mapping = np.asarray(d["mapping"], dtype=np.int64)
        self.load_state(d["state"])
        if self.mapping.shape != (self.num_ids,):
            raise ValueError(f"mapping has {self.mapping.size} ids, expected {self.num_ids}")
        return self

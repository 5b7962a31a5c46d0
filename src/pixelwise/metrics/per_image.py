"""Per-image averaged segmentation scores: each image scored from its own confusion matrix.

Dataset-level scores (``ConfusionMatrix``) pool every pixel first, so large images and
frequent classes weigh most. Per-image scores give every image one vote instead.
``build_confusion(..., per_image=True)`` picks this accumulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import torch

from pixelwise.metrics.confusion import (
    CLASS_SCORES,
    SUMMARY_SCORES,
    ConfusionMatrix,
    SegmentationScores,
    as_python,
    histogram,
    score_counts,
)


@dataclass(frozen=True, kw_only=True)
class PerImageScores(SegmentationScores):
    """Scores averaged over images, each image scored alone by the dataset-level rules.

    Conventions:

    - An image's scores are those of its own confusion matrix under the NaN rules of
      ``SegmentationScores``: its mIoU and mean Dice average the classes present in that
      image's target or prediction, its mean accuracy the classes in its target.
    - ``miou``, ``pixel_accuracy``, ``mean_accuracy``, ``fwiou`` and ``mean_dice`` are
      the means over images of each image's value.
    - A per-class score is the mean over the images where it is defined: IoU and Dice
      over the images where the class is in the target or the prediction (their number
      is ``class_images``), recall over those where it is in the target, precision over
      those where it is predicted. A class in no image is NaN (``absent_classes``).
    - An image whose pixels are all ignored has no scores: it is counted in
      ``num_images`` and ``empty_images`` and left out of every mean.
    - ``support`` and ``num_pixels`` are pixel counts over all images, as at dataset level.

    So with one image, or images that are all alike, the scores equal the dataset-level
    ones; and the mean of ``iou`` over classes is not ``miou`` in general.

    Attributes:
        num_images: images seen, empty ones included.
        empty_images: images whose pixels were all ignored.
        class_images: per class, the number of images where it is present.
        level: always ``"per_image"``.
    """

    num_images: int
    empty_images: int
    class_images: tuple[int, ...]
    level: Literal["per_image"] = "per_image"

    def to_dict(self) -> dict:
        """``SegmentationScores.to_dict()`` with ``level`` ``"per_image"``, plus
        ``num_images``, ``empty_images`` and, per class, ``images`` (``class_images``).

        The values follow the conventions of the class docstring.
        """
        document = super().to_dict()
        per_class = document.pop("per_class")
        for name, images in zip(self.class_names, self.class_images, strict=True):
            per_class[name]["images"] = images
        return {
            **document,
            "num_images": self.num_images,
            "empty_images": self.empty_images,
            "per_class": per_class,
        }


class PerImageConfusion(ConfusionMatrix):
    """Streaming per-image scores: each image of each batch scored from its own matrix.

    A ``ConfusionMatrix`` (``matrix`` holds the pooled counts, and ``update``, ``merge``,
    ``all_reduce`` and ``reset`` work as there) that also keeps, on the input device,
    the running sums of every image's scores and the number of images that define each.
    ``compute()`` returns their means as ``PerImageScores``. ``update`` does not read
    tensor values on the host.

    Args:
        num_classes: C, the number of classes.
        ignore_index: target value to skip, or None to count every pixel.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255) -> None:
        super().__init__(num_classes, ignore_index)
        # float64 (2, F + 1). Row 0 sums each image score where it is defined, row 1
        # counts the images that define it. Columns: the summary scores, each per-class
        # score for every class, then a constant 1 whose row-1 entry counts the images.
        width = len(SUMMARY_SCORES) + len(CLASS_SCORES) * num_classes + 1
        self._state["sums"] = torch.zeros(2, width, dtype=torch.float64)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch, image by image.

        Args:
            pred: float scores (N, C, H, W), reduced by argmax over dim 1, or integer
                labels (N, H, W).
            target: integer labels (N, H, W); ``ignore_index`` marks skipped pixels.

        Raises:
            ValueError: on a wrong dtype, a shape mismatch or a wrong channel count.
        """
        index = self._index(*self._checked(pred, target)).flatten(1)
        n = index.shape[0]
        # Image i counts in bins [i * bins, (i + 1) * bins) of one histogram.
        offsets = torch.arange(n, device=index.device).unsqueeze(1) * self._bins
        counts = histogram((index + offsets).flatten(), n * self._bins).view(n, self._bins)
        self._state["counts"] += counts.sum(dim=0)
        values = _flatten(score_counts(self._pairs(counts)))
        values = torch.cat([values, values.new_ones(n, 1)], dim=1)
        defined = ~values.isnan()
        self._state["sums"] += torch.stack([values.nan_to_num().sum(dim=0), defined.sum(dim=0)])

    def compute(self, class_names: Sequence[str] | None = None) -> PerImageScores:
        """Scores averaged over images, in float64, following ``PerImageScores``.

        Args:
            class_names: one unique name per class; default ``class_0``, ``class_1``, ...

        Raises:
            PixelwiseError: if labels outside ``[0, C)`` were seen, or the names are wrong.
        """
        pooled = super().compute(class_names)
        sums, defined = self._state["sums"].cpu()
        means = _unflatten(sums[:-1] / defined[:-1], self.num_classes)  # 0 / 0 -> NaN
        num_images = int(defined[-1])
        images_per_score = _unflatten(defined[:-1], self.num_classes)
        return PerImageScores(
            **{**asdict(pooled), **as_python(means), "level": "per_image"},
            num_images=num_images,
            empty_images=num_images - int(images_per_score["pixel_accuracy"]),
            class_images=tuple(int(n) for n in images_per_score["iou"]),
        )


def build_confusion(
    num_classes: int, ignore_index: int | None = 255, per_image: bool = False
) -> ConfusionMatrix:
    """The accumulator of segmentation scores, at dataset level unless ``per_image``.

    ``per_image=False`` (the default): a ``ConfusionMatrix`` whose ``compute()`` gives
    dataset-level ``SegmentationScores``. ``per_image=True``: a ``PerImageConfusion``
    whose ``compute()`` gives ``PerImageScores``. Both say which in ``level``.
    """
    kind = PerImageConfusion if per_image else ConfusionMatrix
    return kind(num_classes, ignore_index)


def _flatten(scores: dict[str, torch.Tensor]) -> torch.Tensor:
    """``score_counts`` values of N matrices as rows (N, F): summary scores, then per-class."""
    columns = [scores[key].unsqueeze(-1) for key in SUMMARY_SCORES]
    return torch.cat(columns + [scores[key] for key in CLASS_SCORES], dim=-1)


def _unflatten(row: torch.Tensor, num_classes: int) -> dict[str, torch.Tensor]:
    """The inverse of ``_flatten`` for one row (F,): summary values shaped (1,)."""
    sizes = [1] * len(SUMMARY_SCORES) + [num_classes] * len(CLASS_SCORES)
    return dict(zip(SUMMARY_SCORES + CLASS_SCORES, row.split(sizes), strict=True))

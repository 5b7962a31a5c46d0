"""Score a :class:`Segmenter` on a labelled dataset and write ``metrics.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from pixelwise.data.base import SegmentationDataset
from pixelwise.data.io import encode_png
from pixelwise.errors import PixelwiseError
from pixelwise.inference.segmenter import Segmenter
from pixelwise.metrics import ConfusionMatrix, SegmentationScores
from pixelwise.metrics.boundary import BoundaryF1
from pixelwise.metrics.crops import CropFactorScores
from pixelwise.metrics.instance import InstanceScores
from pixelwise.metrics.per_image import build_confusion
from pixelwise.ownership import OwnedFolder
from pixelwise.report.heatmap import confusion_heatmap

METRICS_FILE = "metrics.json"
HEATMAP_FILE = "confusion.png"


class Accumulator(Protocol):
    """A streaming metric: ``update(pred (N, H, W), target (N, H, W))`` then ``compute``."""

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None: ...

    def compute(self, class_names: Sequence[str] | None = None) -> Any: ...


def check_compatible(segmenter: Segmenter, dataset: SegmentationDataset, name: str) -> None:
    """The dataset must label the same number of classes as the model predicts."""
    model, data = segmenter.info, dataset.info
    if model.num_classes != data.num_classes:
        raise PixelwiseError(
            f"the model predicts {model.num_classes} classes ({', '.join(model.classes)}) "
            f"but dataset {name!r} has {data.num_classes} ({', '.join(data.classes)})"
        )


@dataclass(frozen=True)
class EvaluationOptions:
    """What to score besides the dataset-level confusion matrix.

    Args:
        per_image: also average the scores over images (``metrics.json["per_image"]``).
        boundary_tolerance: boundary F1 with this tolerance in pixels, or None.
        crop_factors: scores on central crops at these factors (1.0 down to 0.1), or None.
        instance_classes: object-level scores for these class indices, split into
            connected components, or None.
    """

    per_image: bool = False
    boundary_tolerance: float | None = None
    crop_factors: tuple[float, ...] | None = None
    instance_classes: tuple[int, ...] | None = None

    def accumulators(self, num_classes: int, ignore_index: int | None) -> dict[str, Accumulator]:
        """One streaming accumulator per requested extra, keyed as in ``metrics.json``."""
        extras: dict[str, Accumulator] = {}
        if self.per_image:
            extras["per_image"] = build_confusion(num_classes, ignore_index, per_image=True)
        if self.boundary_tolerance is not None:
            extras["boundary"] = BoundaryF1(num_classes, ignore_index, self.boundary_tolerance)
        if self.crop_factors is not None:
            extras["crops"] = CropFactorScores(num_classes, ignore_index, self.crop_factors)
        if self.instance_classes is not None:
            extras["instances"] = InstanceScores(
                num_classes, ignore_index, classes=self.instance_classes
            )
        return extras


@dataclass(frozen=True)
class EvaluationResult:
    """Dataset-level scores, their ``(C, C)`` confusion matrix, and the extras' dicts."""

    scores: SegmentationScores
    matrix: np.ndarray
    extras: dict[str, dict]


def evaluate(
    segmenter: Segmenter,
    dataset: SegmentationDataset,
    name: str = "data",
    progress: bool = True,
    options: EvaluationOptions | None = None,
) -> EvaluationResult:
    """Dataset-level scores over every image of ``dataset``, each at its own size.

    The dataset's ignore index is excluded; class names come from the model. The
    extras that ``options`` asks for see the same predictions, one image at a time.
    """
    check_compatible(segmenter, dataset, name)
    info = dataset.info
    confusion = ConfusionMatrix(info.num_classes, info.ignore_index)
    extras = (options or EvaluationOptions()).accumulators(info.num_classes, info.ignore_index)
    with segmenter.own_threads():
        for index in tqdm(range(len(dataset)), desc=f"evaluating {name}", disable=not progress):
            image, mask = dataset[index]
            prediction = segmenter.labels(image)[None]
            target = torch.as_tensor(mask, device=prediction.device)[None]
            for accumulator in (confusion, *extras.values()):
                accumulator.update(prediction, target)
    names = segmenter.info.classes
    return EvaluationResult(
        scores=confusion.compute(class_names=names),
        matrix=confusion.matrix.cpu().numpy(),
        extras={key: extra.compute(class_names=names).to_dict() for key, extra in extras.items()},
    )


METRICS_FILES = (METRICS_FILE, HEATMAP_FILE)
"""The files :func:`write_metrics` writes."""


def write_metrics(result: EvaluationResult, folder: OwnedFolder, **context: object) -> Path:
    """Write ``metrics.json`` and ``confusion.png`` into ``folder``, each atomically, and
    record them in its manifest (the caller has checked that it may replace them).

    ``metrics.json`` holds ``context`` (what was scored: model, data, split), the
    dataset-level scores, and each extra under its own key. ``confusion.png`` is the
    row-normalised confusion matrix. Returns the ``metrics.json`` path.
    """
    document = {**context, **result.scores.to_dict(), **result.extras}
    path = folder.write_text(METRICS_FILE, json.dumps(document, indent=2, allow_nan=False))
    heatmap = confusion_heatmap(result.matrix, result.scores.class_names)
    folder.write_bytes(HEATMAP_FILE, encode_png(heatmap))
    return path

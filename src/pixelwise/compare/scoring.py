"""Score one model for a comparison: every run the same way, image by image.

:func:`score_model` predicts every image of the split once, in the dataset's order, and
keeps per image its ``(C, C)`` confusion matrix and its per-class boundary F1: the data
the bootstrap resamples (:mod:`pixelwise.compare.statistics`). From the same predictions
it writes the usual ``metrics.json`` (dataset-level scores, ``per_image`` averages and
``boundary``) and ``confusion.png``. It also keeps the predicted labels of a few chosen
images (shown side by side in the report) and of the images where the model does
worst, and measures what the model costs: parameters and MACs
(:func:`pixelwise.models.summary.summary`) and the median wall time of one prediction
on this machine's CPU, at one stated image size.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from pixelwise.compare.grid import Scoring
from pixelwise.compare.statistics import nan_mean
from pixelwise.data.base import SegmentationDataset
from pixelwise.data.transforms import scaled_size
from pixelwise.files import atomic_file, write_text_atomic
from pixelwise.inference.evaluate import (
    METRICS_FILES,
    EvaluationResult,
    check_compatible,
    write_metrics,
)
from pixelwise.inference.segmenter import Segmenter
from pixelwise.inference.threads import torch_threads
from pixelwise.metrics import BoundaryF1, BoundaryScores, ConfusionMatrix
from pixelwise.metrics.per_image import PerImageConfusion
from pixelwise.models.summary import summary
from pixelwise.ownership import MANIFEST, OwnedFolder

PER_IMAGE_FILE = "per_image.npz"
PREDICTIONS_FILE = "predictions.npz"
COST_FILE = "cost.json"
SCORE_FILES = frozenset({PER_IMAGE_FILE, PREDICTIONS_FILE, COST_FILE, MANIFEST, *METRICS_FILES})


@dataclass(frozen=True)
class ImageScores:
    """A model's evaluation, image by image, in the dataset's order.

    Attributes:
        stems: ``(N,)`` image names.
        matrices: ``(N, C, C)`` int64 confusion counts ``[target, prediction]``.
        boundary: ``(N, C)`` float64 boundary F1, NaN where the class has no contour.
        class_names: the C class names.
    """

    stems: tuple[str, ...]
    matrices: np.ndarray
    boundary: np.ndarray
    class_names: tuple[str, ...]

    def image_miou(self) -> np.ndarray:
        """``(N,)`` each image's own mIoU (classes in its target or prediction); NaN if empty."""
        tp = np.diagonal(self.matrices, axis1=1, axis2=2).astype(np.float64)
        union = self.matrices.sum(axis=2) + self.matrices.sum(axis=1) - tp
        with np.errstate(divide="ignore", invalid="ignore"):
            return nan_mean(tp / union)

    def worst(self, count: int) -> list[int]:
        """Indices of the ``count`` images with the lowest own mIoU (ties: first first)."""
        miou = self.image_miou()
        order = [int(i) for i in np.argsort(np.nan_to_num(miou, nan=np.inf), kind="stable")]
        return [i for i in order if not math.isnan(miou[i])][:count]

    def save(self, path: Path) -> None:
        with atomic_file(path) as temporary, temporary.open("wb") as handle:
            np.savez_compressed(
                handle,
                stems=np.array(self.stems),
                matrices=self.matrices,
                boundary=self.boundary,
                class_names=np.array(self.class_names),
            )

    @classmethod
    def load(cls, path: Path) -> ImageScores:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                stems=tuple(str(s) for s in data["stems"]),
                matrices=data["matrices"],
                boundary=data["boundary"],
                class_names=tuple(str(s) for s in data["class_names"]),
            )


def _labels(segmenter: Segmenter, image: np.ndarray) -> torch.Tensor:
    return segmenter.labels(image).cpu()


def score_images(
    segmenter: Segmenter,
    dataset: SegmentationDataset,
    tolerance: float,
    keep: Iterable[int] = (),
    progress: bool = True,
) -> tuple[ImageScores, EvaluationResult, dict[int, np.ndarray]]:
    """Predict every image once; per-image scores, the usual evaluation, kept predictions.

    Returns the :class:`ImageScores`, an ``EvaluationResult`` with the dataset-level
    scores and the ``per_image`` and ``boundary`` extras (as ``evaluate`` writes them),
    and the ``(H, W)`` uint8 predicted labels of the images in ``keep``.
    """
    check_compatible(segmenter, dataset, "the scored split")
    info, names = dataset.info, segmenter.info.classes
    classes, count = info.num_classes, len(dataset)
    total = ConfusionMatrix(classes, info.ignore_index)
    per_image = PerImageConfusion(classes, info.ignore_index)
    one = ConfusionMatrix(classes, info.ignore_index)
    contour = BoundaryF1(classes, info.ignore_index, tolerance)
    matrices = np.zeros((count, classes, classes), np.int64)
    boundary = np.full((count, classes), np.nan)
    kept, keep = {}, set(keep)
    for index in tqdm(range(count), desc="scoring", disable=not progress):
        image, mask = dataset[index]
        labels = _labels(segmenter, image)[None]
        target = torch.as_tensor(mask)[None]
        for accumulator in (total, per_image):
            accumulator.update(labels, target)
        one.reset()
        one.update(labels, target)
        matrices[index] = one.matrix.numpy()
        contour.reset()
        contour.update(labels, target)
        boundary[index] = contour.compute().per_class
        if index in keep:
            kept[index] = labels[0].numpy().astype(np.uint8)
    scores = ImageScores(tuple(dataset.stem(i) for i in range(count)), matrices, boundary, names)
    extras = {
        "per_image": per_image.compute(class_names=names).to_dict(),
        "boundary": _boundary_summary(boundary, names, tolerance).to_dict(),
    }
    result = EvaluationResult(total.compute(class_names=names), total.matrix.numpy(), extras)
    return scores, result, kept


def _boundary_summary(
    boundary: np.ndarray, names: tuple[str, ...], tolerance: float
) -> BoundaryScores:
    """``BoundaryF1.compute`` of the per-image rows: per class over images, then over classes."""
    counts = (~np.isnan(boundary)).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = np.nansum(boundary, axis=0) / counts
    defined = per_class[counts > 0]
    return BoundaryScores(
        mean_bf=float(defined.mean()) if defined.size else math.nan,
        per_class=tuple(per_class.tolist()),
        images_scored=tuple(int(n) for n in counts),
        class_names=names,
        num_images=len(boundary),
        tolerance_px=float(tolerance),
    )


def latency_image(dataset: SegmentationDataset, size: tuple[int, int] | None) -> np.ndarray:
    """The split's first image, resized (bilinear) to ``size`` ``(H, W)`` when given."""
    image = dataset[0][0]
    if size is None or tuple(image.shape[:2]) == tuple(size):
        return image
    resized = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return resized.reshape(size[0], size[1], image.shape[2])


def model_cost(
    segmenter: Segmenter, image: np.ndarray, repeats: int, threads: int
) -> dict[str, Any]:
    """Parameters, MACs and median prediction time of ``segmenter`` on ``image``.

    MACs are counted at the size the network sees (the image at the model's working
    scale). The time is the median of ``repeats`` calls of ``Segmenter.labels`` after
    one warm-up, with ``threads`` torch threads: pre-processing, the forward pass and
    the argmax (or the classical method's prediction).
    """
    height, width = image.shape[:2]
    cost: dict[str, Any] = {
        "image_size": [height, width],
        "threads": threads,
        "parameters": None,
        "macs": None,
        "model_input_size": None,
    }
    if segmenter.model is not None:
        size = scaled_size(height, width, segmenter.card.input_scale)
        result = summary(segmenter.model, size)
        cost |= {
            "parameters": result.parameters,
            "macs": result.macs,
            "model_input_size": list(size),
        }
    with torch_threads(threads):
        _labels(segmenter, image)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            _labels(segmenter, image)
            times.append(time.perf_counter() - started)
    return cost | {"latency_ms": 1000 * statistics.median(times), "latency_repeats": repeats}


def score_model(
    model_dir: Path,
    dataset: SegmentationDataset,
    scoring: Scoring,
    examples: Iterable[int],
    folder: Path,
    progress: bool = True,
    **context: object,
) -> dict[str, Any]:
    """Score the model in ``model_dir`` on ``dataset`` and write the results into ``folder``.

    ``folder`` receives ``metrics.json`` and ``confusion.png`` (as ``evaluate`` writes
    them; ``context`` goes into ``metrics.json``), ``per_image.npz``
    (:class:`ImageScores`), ``predictions.npz`` (labels of the ``examples`` and of the
    worst images, keyed ``i<index>``) and ``cost.json``. Returns a summary: the scores,
    the worst images' indices and the cost.
    """
    segmenter = Segmenter.load(model_dir, device="cpu")
    keep = set(examples)
    scores, result, kept = score_images(
        segmenter, dataset, scoring.boundary_tolerance, keep, progress
    )
    worst = scores.worst(scoring.worst)
    for index in worst:
        if index not in kept:
            kept[index] = _labels(segmenter, dataset[index][0]).numpy().astype(np.uint8)
    image = latency_image(dataset, scoring.latency_size)
    cost = model_cost(segmenter, image, scoring.latency_repeats, scoring.latency_threads)
    write_metrics(result, OwnedFolder(folder, "compare"), **context)
    scores.save(folder / PER_IMAGE_FILE)
    with atomic_file(folder / PREDICTIONS_FILE) as temporary, temporary.open("wb") as handle:
        np.savez_compressed(handle, **{f"i{index}": labels for index, labels in kept.items()})
    write_text_atomic(folder / COST_FILE, json.dumps(cost, indent=2) + "\n")
    return {"worst": worst, "cost": cost, "num_images": len(dataset)}


def load_predictions(folder: Path) -> dict[int, np.ndarray]:
    """The kept predictions of :func:`score_model`, by image index."""
    with np.load(folder / PREDICTIONS_FILE, allow_pickle=False) as data:
        return {int(key[1:]): data[key] for key in data.files}

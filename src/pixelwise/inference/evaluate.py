"""Score a :class:`Segmenter` on a labelled dataset and write ``metrics.json``."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm.auto import tqdm

from pixelwise.config import write_text_atomic
from pixelwise.data.base import SegmentationDataset
from pixelwise.errors import PixelwiseError
from pixelwise.inference.segmenter import Segmenter
from pixelwise.metrics import ConfusionMatrix, SegmentationScores

METRICS_FILE = "metrics.json"


def check_compatible(segmenter: Segmenter, dataset: SegmentationDataset, name: str) -> None:
    """The dataset must label the same number of classes as the model predicts."""
    model, data = segmenter.info, dataset.info
    if model.num_classes != data.num_classes:
        raise PixelwiseError(
            f"the model predicts {model.num_classes} classes ({', '.join(model.classes)}) "
            f"but dataset {name!r} has {data.num_classes} ({', '.join(data.classes)})"
        )


def evaluate(
    segmenter: Segmenter, dataset: SegmentationDataset, name: str = "data", progress: bool = True
) -> SegmentationScores:
    """Dataset-level scores over every image of ``dataset``, each at its own size.

    The dataset's ignore index is excluded; class names come from the model.
    """
    check_compatible(segmenter, dataset, name)
    confusion = ConfusionMatrix(dataset.info.num_classes, dataset.info.ignore_index)
    for index in tqdm(range(len(dataset)), desc=f"evaluating {name}", disable=not progress):
        image, mask = dataset[index]
        prediction = segmenter.logits(image).argmax(dim=0)
        confusion.update(prediction[None], torch.as_tensor(mask, device=prediction.device)[None])
    return confusion.compute(class_names=segmenter.info.classes)


def write_metrics(scores: SegmentationScores, folder: Path, **context: object) -> Path:
    """Write ``folder/metrics.json`` atomically: the scores plus ``context``.

    ``context`` names what was scored (model, data, split).
    """
    path = Path(folder) / METRICS_FILE
    document = {**context, **scores.to_dict()}
    write_text_atomic(path, json.dumps(document, indent=2, allow_nan=False))
    return path

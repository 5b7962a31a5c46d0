"""Dataset-level segmentation scores from one streaming confusion matrix.

``ConfusionMatrix`` counts (target, prediction) pixel pairs over a whole evaluation on
the model's device, without host synchronisation per batch; ``compute()`` turns the
counts into ``SegmentationScores`` (IoU, Dice, precision, recall and their means).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from pixelwise.errors import PixelwiseError


@dataclass(frozen=True)
class SegmentationScores:
    """Scores of one evaluation, pooled over every pixel of the dataset.

    All fractions lie in [0, 1]. Per-class tuples have one entry per class, in class order.

    NaN rules (NaN means "undefined", never "zero"):

    - A class with no support (no target pixels) and no predictions is *absent*: its
      IoU, Dice, precision and recall are NaN and it is left out of every mean.
    - A class predicted but with no support: IoU 0, Dice 0, precision 0, recall NaN
      (so it counts in ``miou``/``mean_dice`` but not in ``mean_accuracy``).
    - A class with support but never predicted: IoU 0, Dice 0, recall 0, precision NaN.
    - When every pixel was ignored (``num_pixels == 0``) every score is NaN.

    Attributes:
        miou: mean IoU over the classes that are not absent.
        pixel_accuracy: correctly labelled pixels / all counted pixels.
        mean_accuracy: class-average accuracy, the mean recall over classes with support.
        fwiou: frequency-weighted IoU, sum over classes of support share x IoU.
        mean_dice: mean Dice (F1) over the classes that are not absent.
        iou, dice, precision, recall: per-class values.
        support: per-class number of target pixels.
        class_names: per-class names.
        absent_classes: number of classes with no support and no predictions.
        num_pixels: number of pixels counted (ignored pixels excluded).
        level: always ``"dataset"``: pixels are pooled before dividing.
    """

    miou: float
    pixel_accuracy: float
    mean_accuracy: float
    fwiou: float
    mean_dice: float
    iou: tuple[float, ...]
    dice: tuple[float, ...]
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    support: tuple[int, ...]
    class_names: tuple[str, ...]
    absent_classes: int
    num_pixels: int
    level: Literal["dataset"] = "dataset"

    def to_dict(self) -> dict:
        """The ``metrics.json`` form: plain Python numbers, NaN written as ``None``.

        Keys: ``level``, ``miou``, ``pixel_accuracy``, ``mean_accuracy``, ``fwiou``,
        ``mean_dice``, ``absent_classes``, ``num_pixels`` and ``per_class``
        (name -> ``iou``, ``dice``, ``precision``, ``recall``, ``support``). The result
        passes ``json.dumps(..., allow_nan=False)``.
        """
        per_class = {
            name: {
                "iou": _json_float(self.iou[i]),
                "dice": _json_float(self.dice[i]),
                "precision": _json_float(self.precision[i]),
                "recall": _json_float(self.recall[i]),
                "support": self.support[i],
            }
            for i, name in enumerate(self.class_names)
        }
        return {
            "level": self.level,
            "miou": _json_float(self.miou),
            "pixel_accuracy": _json_float(self.pixel_accuracy),
            "mean_accuracy": _json_float(self.mean_accuracy),
            "fwiou": _json_float(self.fwiou),
            "mean_dice": _json_float(self.mean_dice),
            "absent_classes": self.absent_classes,
            "num_pixels": self.num_pixels,
            "per_class": per_class,
        }


class ConfusionMatrix:
    """Streaming (C, C) pixel confusion matrix: rows are targets, columns predictions.

    The counts are an int64 tensor that follows the device of the tensors given to
    ``update`` (it starts on the CPU and moves on the first update), so accumulation
    stays on the model's device. ``update`` never reads tensor values on the host.

    Target pixels equal to ``ignore_index`` are skipped. Labels outside ``[0, C)`` (a
    target that is not the ignore index, or a predicted label) are never written into
    the matrix: they are counted apart, and ``compute()`` raises ``PixelwiseError``
    if there were any, since they mean a wrong ``num_classes`` or ignore index.

    Args:
        num_classes: C, the number of classes.
        ignore_index: target value to skip, or None to count every pixel.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255) -> None:
        if num_classes < 1:
            raise PixelwiseError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        # C*C pair counts, then three extra bins: ignored, bad target, bad prediction.
        self._counts = torch.zeros(num_classes * num_classes + 3, dtype=torch.int64)

    @property
    def matrix(self) -> torch.Tensor:
        """The (C, C) int64 counts, ``matrix[target, prediction]`` (a view, not a copy)."""
        c = self.num_classes
        return self._counts[: c * c].view(c, c)

    def reset(self) -> None:
        """Zero every count, keeping the device."""
        self._counts.zero_()

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch.

        Args:
            pred: float scores (N, C, H, W), logits or probabilities, reduced by argmax
                over dim 1; or integer labels (N, H, W).
            target: integer labels (N, H, W); ``ignore_index`` marks skipped pixels.

        Raises:
            ValueError: on a wrong dtype, a shape mismatch or a wrong channel count.
        """
        c = self.num_classes
        if target.dtype.is_floating_point or target.dtype == torch.bool:
            raise ValueError(f"target must hold integer labels, got dtype {target.dtype}")
        if pred.dtype.is_floating_point:
            if pred.ndim != 4 or pred.shape[1] != c:
                raise ValueError(f"float pred must be (N, {c}, H, W), got {tuple(pred.shape)}")
            pred = pred.argmax(dim=1)
        elif pred.dtype == torch.bool:
            raise ValueError("pred must be float scores or integer labels, got dtype bool")
        if pred.shape != target.shape:
            raise ValueError(
                f"pred labels {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape"
            )
        if self._counts.device != target.device:
            self._counts = self._counts.to(target.device)
        target, pred = target.long(), pred.long()
        bad_target = (target < 0) | (target >= c)
        index = torch.where((pred < 0) | (pred >= c), c * c + 2, target * c + pred)
        index = torch.where(bad_target, c * c + 1, index)
        if self.ignore_index is not None:
            index = torch.where(target == self.ignore_index, c * c, index)
        self._counts += torch.bincount(index.flatten(), minlength=c * c + 3)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add ``other``'s counts (e.g. from another process) in place; returns self."""
        if other.num_classes != self.num_classes or other.ignore_index != self.ignore_index:
            raise ValueError(
                f"cannot merge a matrix with {other.num_classes} classes and ignore index "
                f"{other.ignore_index} into one with {self.num_classes} and {self.ignore_index}"
            )
        self._counts += other._counts.to(self._counts.device)
        return self

    def compute(self, class_names: Sequence[str] | None = None) -> SegmentationScores:
        """Scores from the counts so far, computed in float64 on the CPU.

        Args:
            class_names: one unique name per class; default ``class_0``, ``class_1``, ...

        Raises:
            PixelwiseError: if labels outside ``[0, C)`` were seen, or the names are wrong.
        """
        c = self.num_classes
        names = (
            tuple(class_names) if class_names is not None else tuple(f"class_{i}" for i in range(c))
        )
        if len(names) != c or len(set(names)) != c:
            raise PixelwiseError(f"need {c} unique class names, got {list(names)}")
        counts = self._counts.cpu()
        bad_target, bad_pred = int(counts[c * c + 1]), int(counts[c * c + 2])
        if bad_target or bad_pred:
            raise PixelwiseError(
                f"labels outside [0, {c}) (ignore index {self.ignore_index}): "
                f"{bad_target} target pixels, {bad_pred} predicted pixels; "
                "check num_classes and the ignore index"
            )
        m = counts[: c * c].view(c, c).double().numpy()
        tp = np.diag(m)
        support, predicted = m.sum(axis=1), m.sum(axis=0)
        total = m.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = tp / (support + predicted - tp)
            dice = 2 * tp / (support + predicted)
            precision = tp / predicted
            recall = tp / support
            pixel_accuracy = tp.sum() / total
            fwiou = float(np.sum((support / total * iou)[support > 0])) if total else math.nan
        return SegmentationScores(
            miou=_nanmean(iou),
            pixel_accuracy=float(pixel_accuracy),
            mean_accuracy=_nanmean(recall),
            fwiou=fwiou,
            mean_dice=_nanmean(dice),
            iou=tuple(iou.tolist()),
            dice=tuple(dice.tolist()),
            precision=tuple(precision.tolist()),
            recall=tuple(recall.tolist()),
            support=tuple(int(s) for s in support),
            class_names=names,
            absent_classes=int(np.sum((support == 0) & (predicted == 0))),
            num_pixels=int(total),
        )


def _nanmean(values: np.ndarray) -> float:
    """Mean over the finite entries; NaN (without a warning) when there are none."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)

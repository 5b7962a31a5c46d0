"""Dataset-level segmentation scores from one streaming confusion matrix.

``ConfusionMatrix`` counts (target, prediction) pixel pairs over a whole evaluation on
the model's device, without host synchronisation per batch, and sums them over
processes under ``torch.distributed``; ``compute()`` turns the counts into
``SegmentationScores`` (IoU, Dice, precision, recall and their means).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.distributed as dist

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.inputs import checked_labels, class_names_or_default, json_float

# The scores of one matrix: one number each, then one number per class each.
SUMMARY_SCORES = ("miou", "pixel_accuracy", "mean_accuracy", "fwiou", "mean_dice")
CLASS_SCORES = ("iou", "dice", "precision", "recall")
# Pixels binned at a time on the CPU (1 MiB of int64 labels): the temporaries then stay
# in cache, 2-3 times faster than whole 2-Mpixel batches.
CPU_BLOCK = 1 << 17


@dataclass(frozen=True)
class SegmentationScores:
    """Scores of one evaluation; with ``level == "dataset"`` every pixel is pooled first.

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
        level: ``"dataset"``: pixels are pooled before dividing; ``"per_image"``: each
            image is scored alone and the scores are averaged (see ``PerImageScores``).
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
    level: Literal["dataset", "per_image"] = "dataset"

    def to_dict(self) -> dict:
        """The ``metrics.json`` form: plain Python numbers, NaN written as ``None``.

        Keys: ``level``, ``miou``, ``pixel_accuracy``, ``mean_accuracy``, ``fwiou``,
        ``mean_dice``, ``absent_classes``, ``num_pixels`` and ``per_class``
        (name -> ``iou``, ``dice``, ``precision``, ``recall``, ``support``). The result
        passes ``json.dumps(..., allow_nan=False)``.
        """
        per_class = {
            name: {
                "iou": json_float(self.iou[i]),
                "dice": json_float(self.dice[i]),
                "precision": json_float(self.precision[i]),
                "recall": json_float(self.recall[i]),
                "support": self.support[i],
            }
            for i, name in enumerate(self.class_names)
        }
        return {
            "level": self.level,
            "miou": json_float(self.miou),
            "pixel_accuracy": json_float(self.pixel_accuracy),
            "mean_accuracy": json_float(self.mean_accuracy),
            "fwiou": json_float(self.fwiou),
            "mean_dice": json_float(self.mean_dice),
            "absent_classes": self.absent_classes,
            "num_pixels": self.num_pixels,
            "per_class": per_class,
        }


def score_counts(matrix: torch.Tensor) -> dict[str, torch.Tensor]:
    """Scores of confusion matrices (..., C, C), rows targets, following the NaN rules.

    Returns float64 tensors on ``matrix``'s device: each of ``SUMMARY_SCORES`` shaped
    (...), each of ``CLASS_SCORES`` shaped (..., C). Nothing is read back to the host.
    """
    m = matrix.double()
    tp = m.diagonal(dim1=-2, dim2=-1)
    support, predicted = m.sum(dim=-1), m.sum(dim=-2)
    total = support.sum(dim=-1)
    # 0 / 0 is NaN, and tp never exceeds a denominator, so undefined means NaN here.
    iou = tp / (support + predicted - tp)
    dice = 2 * tp / (support + predicted)
    recall = tp / support
    return {
        "miou": iou.nanmean(dim=-1),
        "pixel_accuracy": tp.sum(dim=-1) / total,
        "mean_accuracy": recall.nanmean(dim=-1),
        # IoU is NaN only for absent classes, whose weight (support) is 0.
        "fwiou": (support * iou.nan_to_num()).sum(dim=-1) / total,
        "mean_dice": dice.nanmean(dim=-1),
        "iou": iou,
        "dice": dice,
        "precision": tp / predicted,
        "recall": recall,
    }


def histogram(index: torch.Tensor, size: int) -> torch.Tensor:
    """int64 counts (size,) of each value of the 1-D integer ``index``, all in [0, size).

    On the CPU ``torch.bincount`` is the fastest count and reads int16 directly. On
    other devices it is avoided: CUDA's ``bincount`` reads the index's min and max back
    to the host, a synchronisation per call. ``index_add_`` of ones into a tensor of
    known size does the same count without one (and is deterministic on integers).
    """
    if index.device.type == "cpu":
        return torch.bincount(index, minlength=size)
    return count_on_device(index, size)


def count_on_device(index: torch.Tensor, size: int) -> torch.Tensor:
    """``histogram`` without host synchronisation on any device: ``index_add_`` of ones."""
    ones = torch.ones((), dtype=torch.int64, device=index.device).expand(index.numel())
    counts = torch.zeros(size, dtype=torch.int64, device=index.device)
    return counts.index_add_(0, index.long(), ones)


def all_reduce_sum(tensor: torch.Tensor, group: dist.ProcessGroup | None = None) -> None:
    """Sum ``tensor`` in place over the processes of ``group``; nothing without a group.

    The tensor must live where the backend works (CUDA for NCCL, any for gloo).
    """
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)


class ConfusionMatrix:
    """Streaming (C, C) pixel confusion matrix: rows are targets, columns predictions.

    The counts are int64 tensors that follow the device of the tensors given to
    ``update`` (they start on the CPU and move on the first update), so accumulation
    stays on the model's device. ``update`` reads no tensor value back to the host
    (on the CPU it reads one flag, see ``predicted_labels``).

    Target pixels equal to ``ignore_index`` are skipped. Labels outside ``[0, C)`` (a
    target that is not the ignore index, or a predicted label) are never written into
    the matrix: they are counted apart, and ``compute()`` raises ``PixelwiseError``
    if there were any, since they mean a wrong ``num_classes`` or ignore index.

    Counts from other batches, matrices or processes add up exactly: ``merge`` adds
    another matrix, ``all_reduce`` sums over ``torch.distributed`` processes.

    Args:
        num_classes: C, the number of classes.
        ignore_index: target value to skip, or None to count every pixel.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255) -> None:
        if num_classes < 1:
            raise PixelwiseError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        # Labels are clamped to [-1, C], so -1 and C stand for every label outside [0, C),
        # and ignored targets become C + 1. Pixels then count in the bins of a
        # (C + 3, C + 2) grid over (target + 1, prediction + 1): the (C, C) matrix is its
        # inner block, and the outer rows and columns hold ignored and invalid pixels.
        self._bins = (num_classes + 3) * (num_classes + 2)
        self._index_dtype = next(
            dtype
            for dtype in (torch.int16, torch.int32, torch.int64)
            if self._bins <= torch.iinfo(dtype).max
        )
        # Every tensor of the state is a sum: merge, all_reduce and reset treat them alike.
        self._state = {"counts": torch.zeros(self._bins, dtype=torch.int64)}

    @property
    def matrix(self) -> torch.Tensor:
        """The (C, C) int64 counts, ``matrix[target, prediction]`` (a view, not a copy)."""
        return self._pairs(self._state["counts"])

    def reset(self) -> None:
        """Zero every count, keeping the device."""
        for tensor in self._state.values():
            tensor.zero_()

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch.

        On the CPU, float scores take a channel argmax that is much faster than
        ``torch.argmax`` over dim 1 (see ``predicted_labels``).

        Args:
            pred: float scores (N, C, H, W), logits or probabilities, reduced by argmax
                over dim 1; or integer labels (N, H, W).
            target: integer labels (N, H, W); ``ignore_index`` marks skipped pixels.

        Raises:
            ValueError: on a wrong dtype, a shape mismatch or a wrong channel count.
        """
        labels, target = self._checked(pred, target)
        labels, target = labels.flatten(), target.flatten()
        # On the CPU, blocks of pixels keep every temporary in cache; elsewhere one block.
        block = CPU_BLOCK if target.device.type == "cpu" else max(1, target.numel())
        for start in range(0, target.numel(), block):
            index = self._index(labels[start : start + block], target[start : start + block])
            self._state["counts"] += histogram(index, self._bins)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add ``other``'s counts (e.g. from another process) in place; returns self."""
        if (type(other), other.num_classes, other.ignore_index) != (
            type(self),
            self.num_classes,
            self.ignore_index,
        ):
            raise ValueError(
                f"cannot merge a {type(other).__name__} with {other.num_classes} classes and "
                f"ignore index {other.ignore_index} into a {type(self).__name__} with "
                f"{self.num_classes} and {self.ignore_index}"
            )
        for key, tensor in self._state.items():
            tensor += other._state[key].to(tensor.device)
        return self

    def all_reduce(self, group: dist.ProcessGroup | None = None) -> ConfusionMatrix:
        """Sum the counts over every process of ``group`` in place; returns self.

        A no-op unless ``torch.distributed`` is initialised. Every process must call it
        (it is a collective), with its counts where the backend works: on the GPU for
        NCCL, which is where ``update`` puts them when it is fed GPU tensors. After it,
        every process holds the same counts and computes the same scores.

        Under DDP, ``DistributedSampler`` pads the dataset to a multiple of the number
        of processes by repeating a few samples (at most one per process), and those
        count twice: exact dataset-level scores need one process or a sampler that does
        not pad.
        """
        for tensor in self._state.values():
            all_reduce_sum(tensor, group)
        return self

    def compute(self, class_names: Sequence[str] | None = None) -> SegmentationScores:
        """Scores from the counts so far, computed in float64 on the CPU.

        Args:
            class_names: one unique name per class; default ``class_0``, ``class_1``, ...

        Raises:
            PixelwiseError: if labels outside ``[0, C)`` were seen, or the names are wrong.
        """
        names = class_names_or_default(class_names, self.num_classes)
        counts = self._state["counts"].cpu()
        self._check_labels(counts)
        matrix = self._pairs(counts)
        support, predicted = matrix.sum(dim=1), matrix.sum(dim=0)
        return SegmentationScores(
            **as_python(score_counts(matrix)),
            support=tuple(support.tolist()),
            class_names=names,
            absent_classes=int(((support == 0) & (predicted == 0)).sum()),
            num_pixels=int(support.sum()),
        )

    def _pairs(self, counts: torch.Tensor) -> torch.Tensor:
        """The (..., C, C) matrices inside bin counts (..., bins), as a view."""
        c = self.num_classes
        return counts.unflatten(-1, (c + 3, c + 2))[..., 1 : c + 1, 1 : c + 1]

    def _checked(
        self, pred: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted labels (N, H, W) and the target, checked; moves the state to its device."""
        labels, target = checked_labels(pred, target, self.num_classes, self._index_dtype)
        self._state = {key: tensor.to(target.device) for key, tensor in self._state.items()}
        return labels, target

    def _index(self, labels: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each pixel's bin, shaped like ``target``, in the smallest dtype that holds the bins."""
        c = self.num_classes
        rows = _clamped(target, c, self._index_dtype)
        if self.ignore_index is not None:
            rows.masked_fill_(target == self.ignore_index, c + 1)
        # (row + 1) * (C + 2) + (column + 1), built in place in the fresh column tensor.
        return _clamped(labels, c, self._index_dtype).add_(rows, alpha=c + 2).add_(c + 3)

    def _check_labels(self, counts: torch.Tensor) -> None:
        """Raise if any pixel had a label outside ``[0, C)`` (bin counts on the CPU)."""
        c = self.num_classes
        grid = counts.view(c + 3, c + 2)
        bad_target = int(grid[0].sum() + grid[c + 1].sum())
        bad_pred = int(grid[1 : c + 1, 0].sum() + grid[1 : c + 1, c + 1].sum())
        if bad_target or bad_pred:
            raise PixelwiseError(
                f"labels outside [0, {c}) (ignore index {self.ignore_index}): "
                f"{bad_target} target pixels, {bad_pred} predicted pixels; "
                "check num_classes and the ignore index"
            )


def _clamped(labels: torch.Tensor, high: int, dtype: torch.dtype) -> torch.Tensor:
    """A new tensor of integer ``labels`` clamped to [-1, high], in ``dtype``.

    Labels that ``dtype`` holds are converted first and clamped in place (a bound of -1
    would wrap round in uint8); wider ones are clamped first, so that none wraps round.
    """
    wide, narrow = torch.iinfo(dtype), torch.iinfo(labels.dtype)
    if wide.min <= narrow.min and narrow.max <= wide.max:
        return labels.to(dtype, copy=True).clamp_(-1, high)
    return labels.clamp(-1, high).to(dtype)


def as_python(scores: dict[str, torch.Tensor]) -> dict[str, float | tuple[float, ...]]:
    """``score_counts``-shaped values for one matrix as a float or a tuple of floats each."""
    return {
        key: float(value) if key in SUMMARY_SCORES else tuple(value.tolist())
        for key, value in scores.items()
    }

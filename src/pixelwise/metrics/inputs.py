"""Checking metric inputs, class names, and JSON-ready numbers: shared by every metric."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from pixelwise.errors import PixelwiseError

# pixels per block of the CPU argmax: a block's scores and temporaries stay in cache
ARGMAX_BLOCK_PIXELS = 1 << 15


def predicted_labels(pred: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """Labels (N, H, W) from scores (N, C, H, W) by argmax over dim 1, or integer labels as given.

    On the CPU, labels come in ``dtype`` from :func:`_first_top_channel`, block by block of
    rows: the same labels as ``torch.argmax`` (ties go to the lowest channel), several
    times faster, since ``torch.argmax`` over the channels of an NCHW tensor is slow
    there. Other devices use ``torch.argmax``.

    Raises:
        ValueError: on bool ``pred`` or float ``pred`` not shaped (N, C, H, W).
    """
    if pred.dtype == torch.bool:
        raise ValueError("pred must be float scores or integer labels, got dtype bool")
    if not pred.dtype.is_floating_point:
        return pred
    if pred.ndim != 4 or pred.shape[1] != num_classes:
        raise ValueError(f"float pred must be (N, {num_classes}, H, W), got {tuple(pred.shape)}")
    if pred.device.type != "cpu":
        return pred.argmax(dim=1)
    images, _, height, width = pred.shape
    labels = torch.empty((images, height, width), dtype=dtype)
    rows = max(1, ARGMAX_BLOCK_PIXELS // max(1, width))
    for image in range(images):
        for first in range(0, height, rows):
            block = pred[image, :, first : first + rows]
            labels[image, first : first + rows] = _first_top_channel(block)
    return labels


def argmax_labels(logits: torch.Tensor) -> torch.Tensor:
    """Labels ``(N, H, W)`` int64 of scores ``(N, K, H, W)``: :func:`predicted_labels` over
    however many classes the scores hold."""
    return predicted_labels(logits, logits.shape[1], torch.int64)


def _first_top_channel(scores: torch.Tensor) -> torch.Tensor:
    """``(C, h, w)`` float scores -> ``(h, w)``: the first channel that reaches the maximum.

    Each channel that reaches the maximum is ranked ``C - c``; the largest rank is the
    first such channel. Scores with a NaN take ``torch.argmax`` itself, so NaN handling
    stays torch's (reading that flag is the one host read).
    """
    channels = scores.shape[0]
    top = scores.amax(dim=0)
    if top.isnan().any():
        return scores.argmax(dim=0)
    rank_dtype = torch.uint8 if channels < 256 else torch.int32
    rank = torch.arange(channels, 0, -1, dtype=rank_dtype).view(channels, 1, 1)
    hits = (scores == top).to(rank_dtype).mul_(rank)
    return channels - hits.amax(dim=0)


def checked_labels(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.int64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted labels (see :func:`predicted_labels`) and ``target``, checked alike.

    Args:
        pred: float scores (N, C, H, W), or integer labels shaped like ``target``.
        target: integer labels (N, H, W).

    Raises:
        ValueError: on a float or bool target, bad scores, or a shape mismatch.
    """
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise ValueError(f"target must hold integer labels, got dtype {target.dtype}")
    labels = predicted_labels(pred, num_classes, dtype)
    if labels.shape != target.shape:
        raise ValueError(
            f"pred labels {tuple(labels.shape)} and target {tuple(target.shape)} differ in shape"
        )
    return labels, target


def label_arrays(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`checked_labels` as int64 CPU arrays; both must be (N, H, W)."""
    labels, target = checked_labels(pred, target, num_classes)
    if target.ndim != 3:
        raise ValueError(f"labels must be (N, H, W), got {tuple(target.shape)}")
    return labels.long().cpu().numpy(), target.long().cpu().numpy()


def class_names_or_default(class_names: Sequence[str] | None, num_classes: int) -> tuple[str, ...]:
    """The given names, checked, or ``class_0``, ``class_1``, ..."""
    if class_names is None:
        return tuple(f"class_{i}" for i in range(num_classes))
    names = tuple(class_names)
    if len(names) != num_classes or len(set(names)) != num_classes:
        raise PixelwiseError(f"need {num_classes} unique class names, got {list(names)}")
    return names


def json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def json_floats(values: Sequence[float]) -> list[float | None]:
    """:func:`json_float` of each value."""
    return [json_float(value) for value in values]

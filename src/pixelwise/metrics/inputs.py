"""Checking metric inputs, class names, and JSON-ready numbers: shared by every metric."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from pixelwise.errors import PixelwiseError


def predicted_labels(pred: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """Labels (N, H, W) from scores (N, C, H, W) by argmax over dim 1, or integer labels as given.

    On the CPU the argmax is ``amax`` followed by a search for the first channel that
    reaches the maximum, with labels in ``dtype``: the same labels as ``torch.argmax``
    (ties go to the lowest channel), about five times faster, since ``torch.argmax``
    over the channels of an NCHW tensor is slow there. Scores with a NaN anywhere take
    ``torch.argmax`` itself, so NaN handling stays torch's. Reading that one flag is
    the only host read, and only on the CPU. Other devices use ``torch.argmax``.

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
    top = pred.amax(dim=1)
    if top.isnan().any():
        return pred.argmax(dim=1)
    labels = torch.empty(top.shape, dtype=dtype)
    for channel in range(num_classes - 1, -1, -1):  # downwards, so the lowest channel wins
        labels.masked_fill_(pred[:, channel] == top, channel)
    return labels


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

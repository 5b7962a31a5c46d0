"""How losses turn per-pixel or per-class values into the scalar they return."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from pixelwise.errors import PixelwiseError

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS: tuple[Reduction, ...] = ("mean", "sum", "none")


def check_reduction(reduction: str) -> None:
    """Raise ``PixelwiseError`` unless ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``."""
    if reduction not in REDUCTIONS:
        raise PixelwiseError(
            f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}"
        )


def reduce_pixels(
    losses: torch.Tensor, weights: torch.Tensor, reduction: Reduction
) -> torch.Tensor:
    """Reduce per-pixel losses (N, H, W), which are 0 at ignored pixels.

    ``"none"`` returns them as they are, ``"sum"`` adds them up, and ``"mean"`` divides
    the sum by ``weights.sum()``, where ``weights`` (N, H, W) is 1 per counted pixel (or
    its class weight) and 0 per ignored pixel. With every pixel ignored the mean is an
    attached 0, not NaN.
    """
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    return total / weights.sum().clamp_min(torch.finfo(losses.dtype).tiny)


def mean_over_classes(
    losses: torch.Tensor, present: torch.Tensor, classes: Sequence[int] | None
) -> torch.Tensor:
    """Mean of per-class losses (K,) over the classes that are ``present`` (K,) bool.

    ``classes`` further restricts the mean to those class indices. With no class left
    the result is an attached 0.
    """
    include = present.clone()
    if classes is not None:
        chosen = torch.zeros_like(include)
        chosen[list(classes)] = True
        include &= chosen
    kept = include.to(losses.dtype)
    return (losses * kept).sum() / kept.sum().clamp_min(1.0)

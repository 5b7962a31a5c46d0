"""Pixel-wise (softmax) cross-entropy with class weights, an ignore index and label smoothing."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.losses.inputs import LossInputs, Mode, PixelLoss
from pixelwise.losses.reduction import Reduction, check_reduction, reduce_pixels

Weights = Sequence[float] | torch.Tensor | None


def weight_buffer(weight: Weights) -> torch.Tensor | None:
    """One float32 weight per class (C,), copied, or None."""
    return None if weight is None else torch.as_tensor(weight, dtype=torch.float32).clone()


def pixel_cross_entropy(
    scores: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None,
    target_weight: torch.Tensor | None,
    smoothing: float,
) -> torch.Tensor:
    """Per-pixel losses (N, H, W) of scores (N, C, H, W) against labels (N, H, W), as
    ``F.cross_entropy(..., reduction="none")`` gives them: (1 − ε)·w_t·(−log p_t) +
    (ε/C)·Σ_c w_c·(−log p_c). ``weight`` is w (C,) and ``target_weight`` each pixel's
    w_t, ``weight[target]`` (N, H, W), both None when the classes are not weighted.

    The log-probability of each pixel's label is gathered, which works in any memory
    layout (``F.cross_entropy`` copies channels-last scores to the contiguous layout, and
    their gradient back).
    """
    log_probs = scores.log_softmax(dim=1)
    own = log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
    if target_weight is not None:
        own = own * target_weight
    if not smoothing:
        return -own
    if weight is not None:
        log_probs = log_probs * weight.view(1, -1, 1, 1)
    spread = log_probs.sum(dim=1)
    return -(1 - smoothing) * own - smoothing / scores.shape[1] * spread


class CrossEntropyLoss(PixelLoss):
    """Pixel-wise cross-entropy of logits (N, C, H, W) against labels (N, H, W).

    With ``reduction="mean"`` it equals ``F.cross_entropy(logits, target, weight,
    ignore_index=..., label_smoothing=...)``: the mean over the pixels that are not
    ignored, which with class weights is the weighted sum divided by the sum of the
    target pixels' weights. A batch in which every pixel is ignored gives 0, still
    attached to the graph, instead of NaN. ``"none"`` returns the (N, H, W) per-pixel
    losses (0 at ignored pixels) and ``"sum"`` their sum.

    Args:
        weight: one weight per class (C,), or None for equal weights. Kept as a buffer,
            so it follows ``.to(device)``.
        ignore_index: target value whose pixels add nothing to the loss or gradient, or
            None.
        label_smoothing: in [0, 1]; mixes the one-hot target with the uniform one.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """

    mode: Mode = "multiclass"
    weight: torch.Tensor | None

    def __init__(
        self,
        weight: Weights = None,
        ignore_index: int | None = 255,
        label_smoothing: float = 0.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise PixelwiseError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
        check_reduction(reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.reduction = reduction
        self.register_buffer("weight", weight_buffer(weight))

    def of_inputs(self, inputs: LossInputs) -> torch.Tensor:
        """The loss of prepared logits (N, C, H, W) against labels (N, H, W)."""
        scores, labels = inputs.scores, inputs.labels
        weight = None if self.weight is None else self.weight.to(scores.dtype)
        target_weight = None if weight is None else weight[labels.target]
        losses = pixel_cross_entropy(
            scores, labels.target, weight, target_weight, self.label_smoothing
        )
        weights = labels.valid.to(losses.dtype)
        if target_weight is not None:
            weights = weights * target_weight
        return reduce_pixels(losses * labels.valid, weights, self.reduction)

    def extra_repr(self) -> str:
        return (
            f"ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}, "
            f"reduction={self.reduction!r}"
        )

"""Binary cross-entropy, plain and class-balanced (HED), on one foreground channel.

Both take scores (N, 1, H, W), logits by default or probabilities with
``from_logits=False``, and 0/1 targets (N, 1, H, W) or (N, H, W). With ``reduction="mean"``
the per-pixel losses are averaged over the pixels that are not ignored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.losses.inputs import LossInputs, Mode, PixelLoss
from pixelwise.losses.reduction import Reduction, check_reduction, reduce_pixels


def binary_nll(
    scores: torch.Tensor,
    target: torch.Tensor,
    positive_weight: float | torch.Tensor,
    negative_weight: float | torch.Tensor,
    from_logits: bool,
) -> torch.Tensor:
    """Per-pixel −[w₊·y·log ŷ + w₋·(1 − y)·log(1 − ŷ)] for scores and 0/1 targets (N, H, W).

    From logits, log ŷ = logsigmoid(x) and log(1 − ŷ) = logsigmoid(−x), which stay finite
    for any finite x. From probabilities, ``F.binary_cross_entropy`` clamps each log at
    −100, as PyTorch does.
    """
    y = target.to(scores.dtype)
    if from_logits:
        return -(
            positive_weight * y * F.logsigmoid(scores)
            + negative_weight * (1 - y) * F.logsigmoid(-scores)
        )
    if ((scores < 0) | (scores > 1)).any():
        raise PixelwiseError(
            "from_logits=False takes probabilities in [0, 1]; got values outside it "
            "(pass from_logits=True for logits)"
        )
    weight = positive_weight * y + negative_weight * (1 - y)
    return F.binary_cross_entropy(scores, y, weight=weight, reduction="none")


class _BinaryLoss(PixelLoss):
    """Reads binary inputs and reduces; subclasses give the two class weights per batch."""

    mode: Mode = "binary"

    def __init__(self, from_logits: bool, ignore_index: int | None, reduction: Reduction) -> None:
        super().__init__()
        check_reduction(reduction)
        self.from_logits = from_logits
        self.ignore_index = ignore_index
        self.reduction = reduction

    def term_weights(
        self, target: torch.Tensor, valid: torch.Tensor
    ) -> tuple[float | torch.Tensor, float | torch.Tensor]:
        """(w₊, w₋) for 0/1 targets (N, H, W) and their valid pixels (N, H, W)."""
        raise NotImplementedError

    def of_inputs(self, inputs: LossInputs) -> torch.Tensor:
        """The loss of prepared scores (N, 1, H, W) against 0/1 targets (N, H, W)."""
        labels = inputs.labels
        positive, negative = self.term_weights(labels.target, labels.valid)
        scores = inputs.scores[:, 0]
        losses = binary_nll(scores, labels.target, positive, negative, self.from_logits)
        valid = labels.valid.to(losses.dtype)
        return reduce_pixels(losses * valid, valid, self.reduction)

    def extra_repr(self) -> str:
        return (
            f"from_logits={self.from_logits}, ignore_index={self.ignore_index}, "
            f"reduction={self.reduction!r}"
        )


class BinaryCrossEntropyLoss(_BinaryLoss):
    """Binary cross-entropy −[p·y·log ŷ + (1 − y)·log(1 − ŷ)], p = ``pos_weight``.

    From logits it equals ``F.binary_cross_entropy_with_logits(x, y, pos_weight=p)``
    over the pixels that are not ignored.

    Args:
        from_logits: scores are logits (True) or probabilities in [0, 1] (False).
        pos_weight: p >= 0, the weight of the positive term; None means 1.
        ignore_index: target value whose pixels add nothing, or None (then every target
            value must be 0 or 1).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-pixel (N, H, W)).
    """

    def __init__(
        self,
        from_logits: bool = True,
        pos_weight: float | None = None,
        ignore_index: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(from_logits, ignore_index, reduction)
        if pos_weight is not None and not pos_weight >= 0:
            raise PixelwiseError(f"pos_weight must be >= 0, got {pos_weight}")
        self.pos_weight = 1.0 if pos_weight is None else float(pos_weight)

    def term_weights(self, target: torch.Tensor, valid: torch.Tensor) -> tuple[float, float]:
        return self.pos_weight, 1.0

    def extra_repr(self) -> str:
        return f"pos_weight={self.pos_weight}, {super().extra_repr()}"


class BalancedBCELoss(_BinaryLoss):
    """Class-balanced BCE (HED): −[β·y·log ŷ + (1 − β)·(1 − y)·log(1 − ŷ)].

    With ``beta=None``, β is the fraction of negative pixels among the batch's pixels
    that are not ignored, |Y₋| / |Y|, so the rarer class weighs more (Xie & Tu, 2015).
    HED sums over pixels; ``"mean"`` divides that sum by the number of counted pixels.

    Args:
        beta: a fixed β in [0, 1], or None to compute it per batch.
        from_logits: scores are logits (True) or probabilities in [0, 1] (False).
        ignore_index: target value whose pixels add nothing (nor count in β), or None.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-pixel (N, H, W)).
    """

    def __init__(
        self,
        beta: float | None = None,
        from_logits: bool = True,
        ignore_index: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(from_logits, ignore_index, reduction)
        if beta is not None and not 0.0 <= beta <= 1.0:
            raise PixelwiseError(f"beta must lie in [0, 1], got {beta}")
        self.beta = beta

    def term_weights(
        self, target: torch.Tensor, valid: torch.Tensor
    ) -> tuple[float | torch.Tensor, float | torch.Tensor]:
        if self.beta is not None:
            return self.beta, 1.0 - self.beta
        counted = valid.sum().clamp_min(1)
        beta = ((target == 0) & valid).sum() / counted
        return beta, 1.0 - beta

    def extra_repr(self) -> str:
        return f"beta={self.beta}, {super().extra_repr()}"

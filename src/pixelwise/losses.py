"""Segmentation losses, selectable by name through ``build_loss``.

Every loss takes logits (N, C, H, W) and integer targets (N, H, W) and skips target
pixels equal to the ignore index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pixelwise.errors import PixelwiseError

Weights = Sequence[float] | torch.Tensor | None


class CrossEntropyLoss(nn.Module):
    """Pixel-wise cross-entropy, averaged over the pixels that are not ignored.

    Equals ``F.cross_entropy(logits, target, weight, ignore_index=..., label_smoothing=...)``
    (with class weights the mean is weighted: divided by the sum of the target pixels'
    weights), except that a batch in which every pixel is ignored gives 0, still
    attached to the graph, instead of NaN.

    Args:
        weight: one weight per class (C,), or None for equal weights. Kept as a buffer,
            so it follows ``.to(device)``.
        ignore_index: target value whose pixels add nothing to the loss or gradient.
        label_smoothing: in [0, 1]; mixes the one-hot target with the uniform one.
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        weight: Weights = None,
        ignore_index: int = 255,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise PixelwiseError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.register_buffer(
            "weight",
            None if weight is None else torch.as_tensor(weight, dtype=torch.float32).clone(),
        )

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of logits (N, C, H, W) against int64 labels (N, H, W); a scalar."""
        summed = F.cross_entropy(
            logits,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction="sum",
            label_smoothing=self.label_smoothing,
        )
        valid = target != self.ignore_index
        if self.weight is None:
            denominator = valid.sum().float()
        else:
            denominator = (self.weight[target.masked_fill(~valid, 0)] * valid).sum().float()
        # With every pixel ignored the sum is an attached 0; the clamp keeps it 0, not NaN.
        return summed / denominator.clamp_min(torch.finfo(torch.float32).tiny)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}"


def _cross_entropy(num_classes: int, ignore_index: int, class_weights: Weights) -> nn.Module:
    return CrossEntropyLoss(class_weights, ignore_index=ignore_index)


_LOSSES: dict[str, Callable[[int, int, Weights], nn.Module]] = {
    "ce": _cross_entropy,
}


def build_loss(
    name: str,
    num_classes: int,
    ignore_index: int,
    class_weights: Weights = None,
) -> nn.Module:
    """The loss called ``name`` (one of ``"ce"``) for ``num_classes`` classes.

    Args:
        name: loss name.
        num_classes: C, the number of classes the model predicts.
        ignore_index: target value to skip.
        class_weights: one weight per class (C,), or None.

    Raises:
        PixelwiseError: for an unknown name or a wrong number of class weights.
    """
    if name not in _LOSSES:
        raise PixelwiseError(f"unknown loss {name!r}; choose one of {', '.join(sorted(_LOSSES))}")
    if class_weights is not None and len(class_weights) != num_classes:
        raise PixelwiseError(
            f"class_weights has {len(class_weights)} entries, expected one per class "
            f"({num_classes})"
        )
    return _LOSSES[name](num_classes, ignore_index, class_weights)

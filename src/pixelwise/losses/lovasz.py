"""Lovász losses (Berman et al., 2018): a convex surrogate of the Jaccard (IoU) loss.

The Jaccard loss of class c, as a function of the set M of mispredicted pixels, is
Δ(M) = |M| / |G ∪ M| (G the pixels of class c). Its Lovász extension, evaluated at
per-pixel errors m, sorts the errors in decreasing order π and sums
m_π(i)·[Δ({π(1), …, π(i)}) − Δ({π(1), …, π(i−1)})].

Like the overlap losses, both modes aggregate over the whole batch: every pixel of
every image that is not ignored enters one sorted list per class.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.losses.inputs import (
    LossInputs,
    Mode,
    PixelLoss,
    check_classes,
    check_mode,
    class_maps,
)
from pixelwise.losses.reduction import mean_over_classes


def lovasz_gradient(truth_sorted: torch.Tensor) -> torch.Tensor:
    """Δ increments along 0/1 targets (P, K) sorted by decreasing error, one column per class.

    Row i holds Δ(first i + 1 pixels) − Δ(first i pixels), where Δ(first i) =
    1 − |G \\ first i| / |G ∪ first i| is the Jaccard loss when exactly those pixels are
    wrong. Computed from cumulative sums in O(P) per class.
    """
    total = truth_sorted.sum(dim=0)
    intersection = total - truth_sorted.cumsum(dim=0)
    union = total + (1 - truth_sorted).cumsum(dim=0)
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


def lovasz_extension(errors: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """The Lovász extension of the Jaccard loss, one value per column (K,).

    Args:
        errors: (P, K) non-negative per-pixel errors, one column per class.
        truth: (P, K) 0/1 membership of each pixel in the class.
    """
    errors_sorted, order = errors.sort(dim=0, descending=True)
    return (errors_sorted * lovasz_gradient(truth.gather(0, order))).sum(dim=0)


class LovaszLoss(PixelLoss):
    """Lovász-softmax (multiclass) or Lovász-hinge (binary) loss, from logits.

    - multiclass: errors |g_c − p_c| with p = softmax(logits); one Lovász extension per
      class, averaged over the classes with target pixels in the batch (the paper's
      ``classes="present"``), limited to ``classes`` if given; with none left, an
      attached 0.
    - binary: hinge errors max(0, 1 − x·(2y − 1)) of the foreground logit x; one Lovász
      extension. An empty target still counts: the loss is then the largest hinge error.

    Args:
        mode: ``"binary"`` (logits (N, 1, H, W), 0/1 targets) or ``"multiclass"``
            (logits (N, C, H, W), labels (N, H, W)).
        ignore_index: target value whose pixels add nothing, or None.
        classes: multiclass only, the class indices to average over; None for all.
    """

    def __init__(
        self,
        mode: Mode = "multiclass",
        ignore_index: int | None = None,
        classes: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        check_mode(mode)
        if mode == "binary" and classes is not None:
            raise PixelwiseError("classes applies to multiclass mode only")
        self.mode = mode
        self.ignore_index = ignore_index
        self.classes = None if classes is None else tuple(classes)

    def of_inputs(self, inputs: LossInputs) -> torch.Tensor:
        """The loss of prepared logits (N, C, H, W) against labels (N, H, W) (or 0/1
        targets); a scalar."""
        logits, labels = inputs.scores, inputs.labels
        check_classes(self.classes, logits.shape[1])
        keep = labels.valid.flatten()
        if self.mode == "binary":
            x = logits.flatten()[keep]
            truth = labels.target.flatten()[keep].to(x.dtype)
            errors = F.relu(1 - x * (2 * truth - 1))
            return lovasz_extension(errors[:, None], truth[:, None])[0]
        probs, onehot = class_maps(self.mode, logits, labels, from_logits=True)
        probs, onehot = (_pixels_by_class(t)[keep] for t in (probs, onehot))
        losses = lovasz_extension((onehot - probs).abs(), onehot)
        return mean_over_classes(losses, onehot.sum(dim=0) > 0, self.classes)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, ignore_index={self.ignore_index}, classes={self.classes}"


def _pixels_by_class(maps: torch.Tensor) -> torch.Tensor:
    """(N, K, H, W) -> (N·H·W, K), pixels in the order of ``valid.flatten()``."""
    return maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1])

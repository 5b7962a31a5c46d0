"""Soft overlap losses: Tversky (Salehi et al., 2017) and Dice, its symmetric case.

Both are region losses, aggregated over the whole batch: the soft counts

    TP_c = Σ p_c·g_c,   FP_c = Σ p_c·(1 − g_c),   FN_c = Σ (1 − p_c)·g_c

run over every pixel of every image that is not ignored (p_c the predicted probability
of class c, g_c its one-hot target), then each class gets one index and the loss is
the mean of 1 − index over the classes that count (see ``TverskyLoss``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pixelwise.errors import PixelwiseError
from pixelwise.losses.inputs import (
    LossInputs,
    Mode,
    PixelLoss,
    check_classes,
    check_mode,
    class_sums,
)
from pixelwise.losses.reduction import mean_over_classes

DEFAULT_SMOOTH = 1.0


class TverskyLoss(PixelLoss):
    """1 − Tversky index, with the index of class c smoothed by s:

        TI_c = (2·TP_c + s) / (2·TP_c + 2α·FP_c + 2β·FN_c + s)

    This is the paper's TP / (TP + α·FP + β·FN) with s/2 added to its numerator and
    denominator. α weighs false positives and β false negatives; α = β = ½ gives the Dice
    coefficient (2·TP + s) / (2·TP + FP + FN + s), so ``TverskyLoss(alpha=0.5, beta=0.5)``
    equals ``DiceLoss()`` (they share the default ``smooth``).

    Which classes count:

    - binary mode: the foreground, always. An empty target with an empty prediction
      gives TI = s / s = 1 (loss 0) for s > 0, and by definition also for s = 0
      (0/0 is read as a perfect match); an empty target with predicted foreground gives
      TI = s / (2α·FP + s), a loss that grows with the false positives.
    - multiclass mode: the classes with at least one target pixel in the batch, limited to
      ``classes`` if given. A class absent from the whole batch's target is left out of
      the mean (its loss and gradient are 0); its predicted probability is still pushed
      down, since under the softmax it is missing from the true classes' TP. With no
      class left (every pixel ignored) the loss is an attached 0.

    Args:
        mode: ``"binary"`` (scores (N, 1, H, W), 0/1 targets) or ``"multiclass"``
            (scores (N, C, H, W), labels (N, H, W)).
        alpha: α >= 0, weight of false positives.
        beta: β >= 0, weight of false negatives.
        smooth: s >= 0, added to numerator and denominator.
        from_logits: scores are logits (sigmoid/softmax applied here) or probabilities.
        ignore_index: target value whose pixels add nothing, or None.
        classes: multiclass only, the class indices to average over (e.g. without
            the background); None for all.
    """

    def __init__(
        self,
        mode: Mode = "multiclass",
        alpha: float = 0.5,
        beta: float = 0.5,
        smooth: float = DEFAULT_SMOOTH,
        from_logits: bool = True,
        ignore_index: int | None = None,
        classes: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        check_mode(mode)
        for name, value in (("alpha", alpha), ("beta", beta), ("smooth", smooth)):
            if not value >= 0:
                raise PixelwiseError(f"{name} must be >= 0, got {value}")
        if mode == "binary" and classes is not None:
            raise PixelwiseError("classes applies to multiclass mode only")
        self.mode = mode
        self.alpha = alpha
        self.beta = beta
        self.smooth = smooth
        self.from_logits = from_logits
        self.ignore_index = ignore_index
        self.classes = None if classes is None else tuple(classes)

    def of_inputs(self, inputs: LossInputs) -> torch.Tensor:
        """The loss of prepared scores (N, C, H, W) against labels (N, H, W) (or 0/1
        targets); a scalar."""
        check_classes(self.classes, inputs.scores.shape[1])
        summed, tp, support = class_sums(self.mode, inputs.scores, inputs.labels, self.from_logits)
        fp = summed - tp
        fn = support - tp
        numerator = 2 * tp + self.smooth
        denominator = 2 * tp + 2 * self.alpha * fp + 2 * self.beta * fn + self.smooth
        tiny = torch.finfo(denominator.dtype).tiny
        index = torch.where(denominator > 0, numerator / denominator.clamp_min(tiny), 1.0)
        present = torch.ones_like(tp, dtype=torch.bool) if self.mode == "binary" else support > 0
        return mean_over_classes(1 - index, present, self.classes)

    def extra_repr(self) -> str:
        return (
            f"mode={self.mode!r}, alpha={self.alpha}, beta={self.beta}, smooth={self.smooth}, "
            f"from_logits={self.from_logits}, ignore_index={self.ignore_index}, "
            f"classes={self.classes}"
        )


class DiceLoss(TverskyLoss):
    """1 − soft Dice coefficient (2·TP + s) / (2·TP + FP + FN + s) = (2·Σpg + s) / (Σp + Σg + s).

    The Tversky loss with α = β = ½; the batch aggregation, the classes that count and
    the empty-target rules are those of :class:`TverskyLoss`. On hard 0/1 predictions
    with ``smooth=0`` the per-class index is the F1 score.
    """

    def __init__(
        self,
        mode: Mode = "multiclass",
        from_logits: bool = True,
        smooth: float = DEFAULT_SMOOTH,
        ignore_index: int | None = None,
        classes: Sequence[int] | None = None,
    ) -> None:
        super().__init__(mode, 0.5, 0.5, smooth, from_logits, ignore_index, classes)

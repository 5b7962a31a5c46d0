"""Focal loss (Lin et al., 2017): cross-entropy that down-weights well-classified pixels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.losses.cross_entropy import weight_buffer
from pixelwise.losses.inputs import Labels, LossInputs, Mode, PixelLoss, check_mode
from pixelwise.losses.reduction import Reduction, check_reduction, reduce_pixels


def log_true_class(
    mode: Mode, logits: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p_t, log(1 − p_t)), each (N, H, W), for logits (N, C, H, W) and labels (N, H, W).

    p_t is the predicted probability of the true class. Both logs are computed without
    forming 1 − p_t, so they stay finite (with finite gradients) when p_t rounds to 1:
    binary, log p_t = logsigmoid(±x) and log(1 − p_t) = logsigmoid(∓x); multiclass,
    log(1 − p_t) = logsumexp over the other classes − logsumexp over all classes.
    """
    if mode == "binary":
        signed = logits[:, 0] * (2 * target - 1).to(logits.dtype)
        return F.logsigmoid(signed), F.logsigmoid(-signed)
    log_norm = logits.logsumexp(dim=1)
    true = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).bool()
    log_p = logits.gather(1, target.unsqueeze(1))[:, 0] - log_norm
    log_rest = logits.masked_fill(true, float("-inf")).logsumexp(dim=1) - log_norm
    return log_p, log_rest


class FocalLoss(PixelLoss):
    """Focal loss −α_t·(1 − p_t)^γ·log p_t per pixel, from logits.

    p_t is the predicted probability of the true class (sigmoid in binary mode, softmax
    in multiclass mode). With ``gamma=0`` and ``alpha=None`` it is exactly the
    (binary) cross-entropy. ``reduction="mean"`` divides the sum by the number of
    counted pixels, as the paper normalises by the number of anchors; α scales the terms
    but does not enter the denominator (unlike class-weighted cross-entropy).

    Args:
        mode: ``"binary"`` (logits (N, 1, H, W), 0/1 targets) or ``"multiclass"``
            (logits (N, C, H, W), labels (N, H, W)).
        gamma: focusing parameter γ >= 0.
        alpha: binary, a float α in [0, 1] weighting positives (negatives get 1 − α);
            multiclass, one weight per class (C,). None weighs everything 1.
        ignore_index: target value whose pixels add nothing, or None.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-pixel (N, H, W)).
    """

    alpha: torch.Tensor | None

    def __init__(
        self,
        mode: Mode = "multiclass",
        gamma: float = 2.0,
        alpha: float | Sequence[float] | torch.Tensor | None = None,
        ignore_index: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        check_mode(mode)
        check_reduction(reduction)
        if not gamma >= 0:
            raise PixelwiseError(f"gamma must be >= 0, got {gamma}")
        _check_alpha(mode, alpha)
        self.mode = mode
        self.gamma = gamma
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.register_buffer("alpha", weight_buffer(alpha))

    def of_inputs(self, inputs: LossInputs) -> torch.Tensor:
        """The loss of prepared logits (N, C, H, W) against labels (N, H, W) (or 0/1
        targets)."""
        logits, labels = inputs.scores, inputs.labels
        log_p, log_rest = log_true_class(self.mode, logits, labels.target)
        losses = -self._alpha_t(labels, logits) * torch.exp(self.gamma * log_rest) * log_p
        valid = labels.valid.to(losses.dtype)
        return reduce_pixels(losses * valid, valid, self.reduction)

    def _alpha_t(self, labels: Labels, logits: torch.Tensor) -> torch.Tensor | float:
        """α_t per pixel (N, H, W), or 1.0 without ``alpha``."""
        if self.alpha is None:
            return 1.0
        if self.mode == "multiclass":
            if len(self.alpha) != logits.shape[1]:
                raise PixelwiseError(
                    f"alpha has {len(self.alpha)} entries for {logits.shape[1]} classes"
                )
            return self.alpha[labels.target]
        y = labels.target.to(logits.dtype)
        return self.alpha * y + (1 - self.alpha) * (1 - y)

    def extra_repr(self) -> str:
        return (
            f"mode={self.mode!r}, gamma={self.gamma}, ignore_index={self.ignore_index}, "
            f"reduction={self.reduction!r}"
        )


def _check_alpha(mode: str, alpha: float | Sequence[float] | torch.Tensor | None) -> None:
    if alpha is None:
        return
    values = torch.as_tensor(alpha, dtype=torch.float64)
    if mode == "binary" and (values.ndim != 0 or not 0 <= values <= 1):
        raise PixelwiseError(f"binary focal alpha must be one number in [0, 1], got {alpha}")
    if mode == "multiclass" and (values.ndim != 1 or (values < 0).any()):
        raise PixelwiseError(
            f"multiclass focal alpha must be one weight >= 0 per class, got {alpha}"
        )

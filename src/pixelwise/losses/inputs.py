"""How every loss reads its inputs: shape and label checks, ignored pixels, class maps.

Two conventions, chosen by a loss's ``mode``:

- ``"multiclass"``: scores (N, C, H, W) with C >= 2, and integer labels (N, H, W) in
  ``[0, C)`` or the ignore index;
- ``"binary"``: scores (N, 1, H, W), and 0/1 targets (N, 1, H, W) or (N, H, W), or the
  ignore index. Any other target value is an error, so a 0/255 mask is never read as
  "255 means positive": map it to 0/1, or pass ``ignore_index=255`` to skip those pixels.

Scores are logits, or probabilities where a loss takes ``from_logits=False``.

Every loss is a :class:`PixelLoss`: it reads its inputs with :func:`read_inputs` and
computes on the result, so that a sum of losses that read alike
(:class:`~pixelwise.losses.build.WeightedSum`) checks the labels and prepares the scores
once for all its terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from pixelwise.errors import PixelwiseError

Mode = Literal["binary", "multiclass"]
MODES: tuple[Mode, ...] = ("binary", "multiclass")


@dataclass(frozen=True)
class Labels:
    """Checked targets.

    Attributes:
        target: (N, H, W) int64 labels (0/1 in binary mode), 0 at ignored pixels.
        valid: (N, H, W) bool, False at ignored pixels.
    """

    target: torch.Tensor
    valid: torch.Tensor


@dataclass(frozen=True)
class LossInputs:
    """What a loss computes on.

    Attributes:
        scores: (N, C, H, W) from :func:`prepare_scores`: float32 or wider, contiguous,
            0 at ignored pixels.
        labels: the checked targets (:class:`Labels`).
    """

    scores: torch.Tensor
    labels: Labels


def read_inputs(
    mode: Mode, scores: torch.Tensor, target: torch.Tensor, ignore_index: int | None
) -> LossInputs:
    """Scores (N, C, H, W) and ``target`` checked (:func:`read_labels`) and prepared
    (:func:`prepare_scores`)."""
    labels = read_labels(mode, scores, target, ignore_index)
    return LossInputs(prepare_scores(scores, labels.valid), labels)


class PixelLoss(nn.Module):
    """A loss of scores (N, C, H, W) against a target, read in ``mode`` with
    ``ignore_index`` by :func:`read_inputs`: ``loss(scores, target)`` is
    ``loss.of_inputs(read_inputs(loss.mode, scores, target, loss.ignore_index))``."""

    mode: Mode
    ignore_index: int | None

    def forward(self, scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of ``scores`` against ``target``; a scalar unless a subclass's
        ``reduction`` says otherwise."""
        return self.of_inputs(read_inputs(self.mode, scores, target, self.ignore_index))

    def of_inputs(self, inputs: LossInputs) -> torch.Tensor:
        """The loss of inputs that :func:`read_inputs` read."""
        raise NotImplementedError


def check_mode(mode: str) -> None:
    """Raise ``PixelwiseError`` unless ``mode`` is ``"binary"`` or ``"multiclass"``."""
    if mode not in MODES:
        raise PixelwiseError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")


def read_labels(
    mode: Mode, scores: torch.Tensor, target: torch.Tensor, ignore_index: int | None
) -> Labels:
    """Check scores (N, C, H, W) against ``target`` in ``mode``; the labels and valid pixels.

    Raises:
        PixelwiseError: on a shape mismatch, a wrong channel count, or a target value
            that is neither a label nor the ignore index (the message names the value).
    """
    channels = scores.shape[1] if scores.ndim == 4 else None
    if mode == "binary":
        if channels != 1:
            raise PixelwiseError(f"binary mode takes scores (N, 1, H, W), got {_shape(scores)}")
        if target.ndim == 4 and target.shape[1] == 1:
            target = target[:, 0]
        if target.dtype == torch.bool:
            target = target.long()
        num_labels = 2
    else:
        if channels is None or channels < 2:
            raise PixelwiseError(
                f"multiclass mode takes scores (N, C, H, W) with C >= 2, got {_shape(scores)}; "
                "use mode='binary' for one channel"
            )
        if target.dtype.is_floating_point or target.dtype == torch.bool:
            raise PixelwiseError(f"multiclass targets must be integer labels, got {target.dtype}")
        num_labels = channels
    expected = (scores.shape[0], *scores.shape[2:])
    if tuple(target.shape) != expected:
        raise PixelwiseError(
            f"target shape {_shape(target)} does not match scores {_shape(scores)}; "
            f"expected {expected}"
        )
    return _checked(target, num_labels, ignore_index, mode)


def _checked(target: torch.Tensor, num_labels: int, ignore_index: int | None, mode: str) -> Labels:
    if ignore_index is None:
        valid = torch.ones_like(target, dtype=torch.bool)
    else:
        valid = target != ignore_index
    in_range = (target >= 0) & (target < num_labels) & (target == target.round())
    bad = valid & ~in_range
    if bad.any():
        value = target[bad][0].item()
        hint = (
            "; map a 0/255 mask to 0/1, or set ignore_index to skip those pixels"
            if mode == "binary"
            else ""
        )
        raise PixelwiseError(
            f"{mode} target holds {value!r}, which is neither a label in [0, {num_labels}) "
            f"nor the ignore index ({ignore_index}){hint}"
        )
    return Labels(target.long().masked_fill(~valid, 0), valid)


def _shape(tensor: torch.Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


def prepare_scores(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Scores (N, C, H, W) in float32 or wider and the contiguous layout (:func:`widen`),
    with 0 at ignored pixels.

    Whatever the scores hold at ignored pixels (even inf or NaN) then reaches neither
    the loss nor the gradient, and their gradient is exactly 0. With no pixel ignored
    the scores are only widened (no copy of float32 contiguous scores, nothing to mask).
    """
    scores = widen(scores)
    if bool(valid.all()):
        return scores
    return ZeroIgnored.apply(scores, valid.unsqueeze(1))


class ZeroIgnored(torch.autograd.Function):
    """Scores (N, C, H, W) with 0 where ``valid`` (N, 1, H, W) is False; the gradient
    likewise. One pass each way (autograd's own ``where`` backward took four times its
    forward pass on the CPU)."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, scores: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        ctx.save_for_backward(valid)
        return torch.where(valid, scores, 0)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor, None]:
        (valid,) = ctx.saved_tensors
        return torch.where(valid, grad, 0), None


def widen(scores: torch.Tensor) -> torch.Tensor:
    """``scores`` in float32 (or a wider float type they already have) and the contiguous
    layout, copied only if they are not so already.

    Half-precision scores (as under mixed precision) are widened, since their sums over
    a batch overflow. Channels-last scores (from a network trained in that layout) are
    laid out contiguously in the same copy: the softmax over classes would otherwise
    copy them to that layout itself, and their gradient back, once for each loss.
    """
    dtype = torch.promote_types(scores.dtype, torch.float32)
    return scores.to(dtype, memory_format=torch.contiguous_format)


def class_maps(
    mode: Mode, scores: torch.Tensor, labels: Labels, from_logits: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class probabilities and one-hot targets, both (N, K, H, W) and 0 at ignored pixels,
    from scores (N, C, H, W) prepared by :func:`prepare_scores`.

    K is 1 in binary mode (the foreground) and C in multiclass mode. Logits go through
    the sigmoid (binary) or the softmax over classes (multiclass).
    """
    if from_logits:
        scores = torch.sigmoid(scores) if mode == "binary" else scores.softmax(dim=1)
    keep = labels.valid.unsqueeze(1).to(scores.dtype)
    if mode == "binary":
        onehot = labels.target.unsqueeze(1)
    else:
        onehot = F.one_hot(labels.target, scores.shape[1]).permute(0, 3, 1, 2)
    return scores * keep, onehot.to(scores.dtype) * keep


def class_sums(
    mode: Mode, scores: torch.Tensor, labels: Labels, from_logits: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per class (K,), over the pixels that are not ignored: the summed probabilities
    Σ p_c, the true positives Σ p_c·g_c and the support Σ g_c (g the one-hot target), from
    scores (N, C, H, W) prepared by :func:`prepare_scores`.

    The sums of :func:`class_maps`'s maps, without making them: in multiclass mode the
    true positives gather each pixel's probability of its own label, and the summed
    probabilities run over every pixel less the ignored ones, whose logits
    :func:`prepare_scores` set to 0, so that each contributes softmax(0) = 1/C per class.
    """
    if mode == "binary":
        probs, onehot = class_maps(mode, scores, labels, from_logits)
        return probs.sum((0, 2, 3)), (probs * onehot).sum((0, 2, 3)), onehot.sum((0, 2, 3))
    probs = scores.softmax(dim=1) if from_logits else scores
    classes = probs.shape[1]
    keep = labels.valid.to(probs.dtype)
    own = probs.gather(1, labels.target.unsqueeze(1)).squeeze(1) * keep
    index = labels.target.flatten()
    true_positives = own.new_zeros(classes).index_add(0, index, own.flatten())
    support = torch.bincount(labels.target[labels.valid], minlength=classes)
    summed = probs.sum((0, 2, 3))
    ignored = labels.valid.numel() - keep.sum()
    if from_logits:
        summed = summed - ignored / classes
    return summed, true_positives, support.to(probs.dtype)


def check_classes(classes: Sequence[int] | None, num_classes: int) -> None:
    """Raise ``PixelwiseError`` unless every entry of ``classes`` lies in ``[0, num_classes)``."""
    if classes is None:
        return
    outside = [c for c in classes if not 0 <= c < num_classes]
    if outside or not classes:
        raise PixelwiseError(
            f"classes {list(classes)} must be a non-empty list of class indices in "
            f"[0, {num_classes})"
        )

"""How close two backends' logits are: the tolerances exported graphs are held to."""

from __future__ import annotations

from dataclasses import dataclass

import torch

RTOL, ATOL = 1e-3, 1e-5
MIN_AGREEMENT = 0.9999


@dataclass(frozen=True)
class Parity:
    """Logits of a backend against reference logits of the same input.

    ``max_abs_diff``: largest absolute difference; ``agreement``: fraction of pixels
    whose class (the logits' argmax, or the labels each backend predicts) is the same;
    ``close``: every element within ``ATOL + RTOL·|reference|`` and the agreement at
    least :data:`MIN_AGREEMENT`.
    """

    max_abs_diff: float
    agreement: float
    close: bool


def compare_logits(
    reference: torch.Tensor,
    other: torch.Tensor,
    labels: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Parity:
    """Compare ``other`` with ``reference``, both ``(N, K, H, W)`` or ``(K, H, W)``; the
    agreement is that of ``labels`` (the reference's, the other's; ``(N, H, W)`` or
    ``(H, W)``) when given, else of the logits' argmax."""
    reference, other = reference.float().cpu(), other.float().cpu()
    if reference.shape != other.shape:
        raise ValueError(f"logits of shapes {tuple(reference.shape)} and {tuple(other.shape)}")
    within = torch.allclose(other, reference, rtol=RTOL, atol=ATOL)
    class_dim = reference.ndim - 3
    reference_labels, other_labels = labels or (
        reference.argmax(class_dim),
        other.argmax(class_dim),
    )
    agreement = (reference_labels.cpu() == other_labels.cpu()).float().mean().item()
    difference = (other - reference).abs().max().item()
    return Parity(difference, agreement, within and agreement >= MIN_AGREEMENT)

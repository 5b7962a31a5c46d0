"""Losses by name for the segmentation engine, and weighted sums of them ("ce+0.5*dice").

The engine's models output logits (N, C, H, W) with C = num_classes and take labels
(N, H, W). Names map to losses as follows:

- ``ce``: :class:`CrossEntropyLoss` (takes the class weights).
- ``focal``, ``dice``, ``tversky``, ``lovasz``: the multiclass mode of
  :class:`FocalLoss` (class weights become its α), :class:`DiceLoss`,
  :class:`TverskyLoss` (α = β = ½) and :class:`LovaszLoss`, with default settings.
- ``bce``, ``balanced_bce``: :class:`BinaryCrossEntropyLoss` and :class:`BalancedBCELoss`
  on one binary logit. A two-class model's binary logit is the margin z₁ − z₀, since
  sigmoid(z₁ − z₀) = softmax(z)₁ is the probability of class 1; a one-class model's
  single channel is used as it is. Other class counts are an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.losses.binary import BalancedBCELoss, BinaryCrossEntropyLoss
from pixelwise.losses.cross_entropy import CrossEntropyLoss, Weights
from pixelwise.losses.focal import FocalLoss
from pixelwise.losses.inputs import Mode, PixelLoss, read_inputs, widen
from pixelwise.losses.lovasz import LovaszLoss
from pixelwise.losses.overlap import DiceLoss, TverskyLoss

Factory = Callable[[int | None, Weights], nn.Module]

_MULTICLASS: dict[str, Factory] = {
    "ce": lambda ignore, weights: CrossEntropyLoss(weights, ignore_index=ignore),
    "focal": lambda ignore, weights: FocalLoss(alpha=weights, ignore_index=ignore),
    "dice": lambda ignore, _: DiceLoss(ignore_index=ignore),
    "tversky": lambda ignore, _: TverskyLoss(ignore_index=ignore),
    "lovasz": lambda ignore, _: LovaszLoss(ignore_index=ignore),
}
_BINARY: dict[str, Factory] = {
    "bce": lambda ignore, _: BinaryCrossEntropyLoss(ignore_index=ignore),
    "balanced_bce": lambda ignore, _: BalancedBCELoss(ignore_index=ignore),
}
LOSS_NAMES: tuple[str, ...] = (*_MULTICLASS, *_BINARY)
WEIGHTED_LOSSES: tuple[str, ...] = ("ce", "focal")
"""The names whose losses take class weights; the others take none."""


class TwoClassMargin(nn.Module):
    """A binary loss applied to a two-class model through the logit margin.

    ``forward(logits (N, 2, H, W), target)`` returns ``loss(z₁ − z₀ (N, 1, H, W), target)``.
    """

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 4 or logits.shape[1] != 2:
            raise PixelwiseError(f"expected logits (N, 2, H, W), got {tuple(logits.shape)}")
        logits = widen(logits)
        return self.loss(logits[:, 1:] - logits[:, :1], target)


class WeightedSum(nn.Module):
    """Σ wᵢ·lossᵢ(logits, target) over ``terms``, a sequence of (weight, loss) pairs.

    When every term is a :class:`~pixelwise.losses.inputs.PixelLoss` reading in the same
    mode with the same ignore index (as ``build_loss`` makes them), the target is checked
    and the logits prepared (widened to float32, laid out contiguously, ignored pixels
    zeroed) once for all the terms; otherwise each term reads them itself, from logits
    widened once."""

    def __init__(self, terms: list[tuple[float, nn.Module]]) -> None:
        super().__init__()
        self.weights = [weight for weight, _ in terms]
        self.losses = nn.ModuleList(loss for _, loss in terms)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        reading = self.shared_reading()
        if reading is None:
            logits = widen(logits)
            values = [loss(logits, target) for loss in self.losses]
        else:
            inputs = read_inputs(reading[0], logits, target, reading[1])
            values = [loss.of_inputs(inputs) for loss in self.losses]
        pairs = zip(self.weights, values, strict=True)
        return torch.stack([weight * value for weight, value in pairs]).sum()

    def shared_reading(self) -> tuple[Mode, int | None] | None:
        """The (mode, ignore index) all the terms read their inputs with, or None if
        they do not all read alike."""
        if not all(isinstance(loss, PixelLoss) for loss in self.losses):
            return None
        readings = {(loss.mode, loss.ignore_index) for loss in self.losses}
        return readings.pop() if len(readings) == 1 else None

    def extra_repr(self) -> str:
        return f"weights={self.weights}"


def parse_loss_spec(spec: str) -> list[tuple[float, str]]:
    """Split ``"ce+0.5*dice"`` into ``[(1.0, "ce"), (0.5, "dice")]``.

    A spec is terms joined by ``+``; a term is a name, optionally preceded by a positive
    weight and ``*``. Spaces around the parts are allowed.

    Raises:
        PixelwiseError: for an empty term, a weight that is not a positive finite
            number, or an unknown name; the message names the term and the valid names.
    """
    terms = []
    for term in spec.split("+"):
        weight_text, star, name = term.strip().rpartition("*")
        name = name.strip()
        if not name:
            raise PixelwiseError(f"loss spec {spec!r} has an empty term; {_grammar()}")
        weight = _weight(weight_text, term, spec) if star else 1.0
        if name not in LOSS_NAMES:
            raise PixelwiseError(
                f"unknown loss {name!r} in loss spec {spec!r}; valid names: {', '.join(LOSS_NAMES)}"
            )
        terms.append((weight, name))
    return terms


def _weight(text: str, term: str, spec: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        weight = math.nan
    if not (math.isfinite(weight) and weight > 0):
        raise PixelwiseError(
            f"loss term {term.strip()!r} in {spec!r}: weight {text.strip()!r} is not a "
            f"positive number; {_grammar()}"
        )
    return weight


def _grammar() -> str:
    names = ", ".join(LOSS_NAMES)
    return f"join names with '+', each optionally weighted, as in 'ce+0.5*dice'; names: {names}"


def build_loss(
    spec: str,
    num_classes: int,
    ignore_index: int | None,
    class_weights: Weights = None,
) -> nn.Module:
    """The loss ``spec`` names, for a model with ``num_classes`` output channels.

    ``spec`` is one name from ``LOSS_NAMES`` or a weighted sum such as ``"ce+0.5*dice"``
    (see :func:`parse_loss_spec`). The result is called as ``criterion(logits (N, C, H, W),
    target (N, H, W) int64)`` and returns a scalar. A single unweighted name gives that
    loss itself; anything else gives a :class:`WeightedSum`.

    Args:
        spec: loss name or weighted sum of names.
        num_classes: C, the number of classes the model predicts.
        ignore_index: target value to skip, or None.
        class_weights: one weight per class (C,), or None. They weight the ``ce`` and
            ``focal`` terms (``WEIGHTED_LOSSES``); the other terms of a sum ignore them.

    Raises:
        PixelwiseError: for a bad spec, a binary loss with more than two classes, wrong
            class weights, or class weights with no term to take them.
    """
    terms = parse_loss_spec(spec)
    if class_weights is not None:
        _check_class_weights(class_weights, num_classes, spec, [name for _, name in terms])
    losses = [(w, _named_loss(name, num_classes, ignore_index, class_weights)) for w, name in terms]
    if len(losses) == 1 and losses[0][0] == 1.0:
        return losses[0][1]
    return WeightedSum(losses)


def _named_loss(
    name: str, num_classes: int, ignore_index: int | None, class_weights: Weights
) -> nn.Module:
    if name in _MULTICLASS:
        return _MULTICLASS[name](ignore_index, class_weights)
    loss = _BINARY[name](ignore_index, None)
    if num_classes == 2:
        return TwoClassMargin(loss)
    if num_classes == 1:
        return loss
    raise PixelwiseError(
        f"loss {name!r} is binary: it needs a model with 2 classes (or 1), got {num_classes}; "
        f"for more classes use one of {', '.join(_MULTICLASS)}"
    )


def _check_class_weights(weights: Weights, num_classes: int, spec: str, names: list[str]) -> None:
    if isinstance(weights, str):
        raise PixelwiseError(
            f"class weights {weights!r} must be numbers here; a method name is resolved "
            "from the data by pixelwise.data.stats.resolve_class_weights"
        )
    values = torch.as_tensor(weights, dtype=torch.float64)
    if values.ndim != 1 or len(values) != num_classes:
        raise PixelwiseError(
            f"class_weights has {values.numel()} entries, expected one per class ({num_classes})"
        )
    if not (torch.isfinite(values).all() and (values >= 0).all()):
        raise PixelwiseError(f"class_weights must be finite and >= 0, got {values.tolist()}")
    if not any(name in WEIGHTED_LOSSES for name in names):
        raise PixelwiseError(
            f"class weights apply to the losses {', '.join(WEIGHTED_LOSSES)}; loss {spec!r} "
            "has none of them"
        )

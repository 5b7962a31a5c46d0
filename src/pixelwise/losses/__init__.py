"""Segmentation losses, one module per family, and ``build_loss`` to pick them by name.

- :mod:`~pixelwise.losses.cross_entropy`: softmax cross-entropy.
- :mod:`~pixelwise.losses.binary`: binary and class-balanced binary cross-entropy.
- :mod:`~pixelwise.losses.focal`: focal loss.
- :mod:`~pixelwise.losses.overlap`: soft Dice and Tversky.
- :mod:`~pixelwise.losses.lovasz`: Lovász-softmax and Lovász-hinge.
- :mod:`~pixelwise.losses.build`: names, weighted sums, the two-class adaptation.

Shapes and ignored pixels follow :mod:`~pixelwise.losses.inputs`: every loss is called as
``loss(scores, target)`` and returns a scalar (or per-pixel values with
``reduction="none"`` where offered). Pixels whose target is the ignore index add nothing
to the loss, and their scores get a gradient of exactly 0.
"""

from pixelwise.losses.binary import BalancedBCELoss, BinaryCrossEntropyLoss
from pixelwise.losses.build import (
    LOSS_NAMES,
    WEIGHTED_LOSSES,
    TwoClassMargin,
    WeightedSum,
    build_loss,
    parse_loss_spec,
)
from pixelwise.losses.cross_entropy import CrossEntropyLoss
from pixelwise.losses.focal import FocalLoss
from pixelwise.losses.lovasz import LovaszLoss
from pixelwise.losses.overlap import DiceLoss, TverskyLoss

__all__ = [
    "LOSS_NAMES",
    "WEIGHTED_LOSSES",
    "BalancedBCELoss",
    "BinaryCrossEntropyLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "LovaszLoss",
    "TverskyLoss",
    "TwoClassMargin",
    "WeightedSum",
    "build_loss",
    "parse_loss_spec",
]

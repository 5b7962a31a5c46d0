"""The rules that turn a fingerprint and a time budget into run settings, each with its reason.

Every rule is a small pure function of the :class:`~pixelwise.planner.fingerprint.Fingerprint`
(and, for the choices that depend on speed, of measured timings); each returns
:class:`Decision` objects that name the configuration key, the value and, in words, the
fact and the rule behind it. ``docs/auto.md`` gives the reasoning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pixelwise.planner.fingerprint import Fingerprint

SCALES = (1.0, 0.75, 0.5, 0.375, 0.25)
"""Working scales tried, full resolution first."""
MIN_WIDTH = 1.5
"""Pixels the thinnest class must keep at the working scale (below it, it vanishes)."""
THIN_SHARE = 0.005
"""Classes with less of the labelled pixels than this do not set the width floor."""
MAX_CROP_SIDE = 256
"""Longest side of a training crop: larger images are cropped, not shrunk further."""
SIDE_MULTIPLE = 16
"""Crop sides are multiples of this (the U-Net's output stride at depth 4)."""
BATCH_PIXELS = 350_000
"""Crop pixels a batch holds: 8 crops of 176×240, 4 of 256×256."""
MIN_EPOCHS = 40
"""Epochs a plan must fit into the budget (or :data:`MIN_SAMPLES`); a wider network or a
finer scale that leaves fewer is not taken."""
MIN_SAMPLES = 15_000
"""Training samples that are enough whatever the epochs: a large dataset needs fewer
passes (40 epochs of CamVid's 367 images are 14,680)."""
VALIDATION_SHARE = 0.15
"""Most of an epoch's time that validation may take: small datasets repeat their images."""
MAJOR_SHARE = 0.02
"""Classes with at least this share of the labelled pixels place the ground-plane test."""
GROUND_PLANE_SPREAD = 0.25
"""Spread of the classes' mean heights (0 top, 1 bottom) that marks a photograph with an
up and a down."""
IMBALANCE = 10.0
"""Ratio of the largest to the smallest class share above which the loss weighs classes."""


@dataclass(frozen=True)
class Decision:
    """A run setting (dotted configuration key and value) and the reason for it."""

    key: str
    value: Any
    reason: str


def width_floor(fp: Fingerprint) -> tuple[float, str]:
    """The smallest working scale that keeps the thinnest class (of those with at least
    :data:`THIN_SHARE` of the pixels) :data:`MIN_WIDTH` pixels wide, and that class."""
    candidates = [c for c in fp.present if c.pixel_share >= THIN_SHARE and c.width]
    thinnest = min(candidates, key=lambda c: c.width)
    return min(1.0, MIN_WIDTH / thinnest.width), thinnest.name


def candidate_scales(fp: Fingerprint) -> list[float]:
    """:data:`SCALES` down to the width floor (always full resolution)."""
    floor, _ = width_floor(fp)
    return [s for s in SCALES if s >= floor - 1e-9] or [1.0]


def scaled(size: list[int], scale: float) -> tuple[int, int]:
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def crop_for(fp: Fingerprint, scale: float) -> tuple[int, int]:
    """The training crop at ``scale``: the median image, each side at most
    :data:`MAX_CROP_SIDE` and rounded down to a multiple of :data:`SIDE_MULTIPLE`."""
    height, width = scaled(fp.size_median, scale)

    def side(length: int) -> int:
        capped = min(length, MAX_CROP_SIDE)
        return max(SIDE_MULTIPLE, capped - capped % SIDE_MULTIPLE)

    return side(height), side(width)


def batch_for(crop: tuple[int, int]) -> int:
    """A power of two near :data:`BATCH_PIXELS` / crop pixels, within 2..16."""
    fits = BATCH_PIXELS / (crop[0] * crop[1])
    return int(min(16, max(2, 2 ** math.floor(math.log2(fits)))))


def trains_enough(epochs: int, samples_per_epoch: int) -> bool:
    """At least :data:`MIN_EPOCHS` epochs, or :data:`MIN_SAMPLES` samples in all."""
    return epochs >= MIN_EPOCHS or epochs * samples_per_epoch >= MIN_SAMPLES


def repeats_for(train_seconds: float, validation_seconds: float) -> int:
    """Passes over the training images an epoch, so that validation (``validation_seconds``
    an epoch) takes at most :data:`VALIDATION_SHARE` of an epoch whose single pass trains
    for ``train_seconds``."""
    needed = validation_seconds * (1 - VALIDATION_SHARE) / VALIDATION_SHARE
    return max(1, math.ceil(needed / max(train_seconds, 1e-9)))


def learning_rate(batch: int) -> float:
    """AdamW's rate: 0.001 × √batch (0.0028 for 8 crops, 0.002 for 4: the recipes')."""
    return float(f"{0.001 * math.sqrt(batch):.2g}")


def loss_decisions(fp: Fingerprint) -> list[Decision]:
    """Cross-entropy plus Dice; inverse-square-root class weights when classes are imbalanced."""
    shares = [c.pixel_share for c in fp.present]
    ratio = max(shares) / min(shares)
    decisions = [
        Decision(
            "train.loss", "ce+dice",
            "cross-entropy for every pixel plus Dice, which counts a small class as much "
            "as a large one (thin and rare structures)",
        )
    ]  # fmt: skip
    if ratio >= IMBALANCE:
        reason = (f"the largest class has {ratio:.0f}x the pixels of the smallest (>= "
                  f"{IMBALANCE:g}): weigh the cross-entropy by 1/sqrt(frequency)")  # fmt: skip
        decisions.append(Decision("train.class_weights", "inverse_sqrt", reason))
    else:
        reason = f"class shares within {ratio:.1f}x of each other (< {IMBALANCE:g}): no weights"
        decisions.append(Decision("train.class_weights", None, reason))
    return decisions


def has_ground_plane(fp: Fingerprint) -> tuple[bool, float]:
    """Whether the major classes keep to parts of the frame (sky above, road below), and the
    spread of their mean heights."""
    heights = [c.vertical_position for c in fp.present if c.pixel_share >= MAJOR_SHARE]
    spread = max(heights) - min(heights) if len(heights) > 1 else 0.0
    return spread >= GROUND_PLANE_SPREAD, spread


def augmentation(fp: Fingerprint, crop: tuple[int, int]) -> Decision:
    """Photographs with an up: scale, left-right flips, colour. Top-down views: every flip
    and quarter turn; elastic deformation for single-channel images (tissue, cells)."""
    upright, spread = has_ground_plane(fp)
    gray = fp.channels == 1
    colour = {"name": "color_jitter", "brightness": 0.2, "contrast": 0.2,
              "saturation": 0.0 if gray else 0.2, "hue": 0.0}  # fmt: skip
    if upright:
        steps = [{"name": "scale_crop", "scale": [0.75, 1.25]}, {"name": "hflip"}, colour]
        reason = (f"the classes' mean heights spread over {spread:.2f} of the frame (>= "
                  f"{GROUND_PLANE_SPREAD}): photographs with an up; scale, left-right flips, "
                  "colour")  # fmt: skip
        return Decision("data.augment", steps, reason)
    steps = [{"name": "crop"}, {"name": "hflip"}, {"name": "vflip"}]
    if crop[0] == crop[1]:
        steps.append({"name": "rot90"})
    if gray:
        steps.append({"name": "elastic", "alpha": 34, "sigma": 4})
    steps.append({**colour, "brightness": 0.1, "contrast": 0.1})
    reason = (f"the classes' mean heights spread over {spread:.2f} of the frame (< "
              f"{GROUND_PLANE_SPREAD}): a top-down view without an up; every flip"
              + (" and quarter turn" if crop[0] == crop[1] else "")
              + ("; elastic deformation for single-channel images (cells, tissue)" if gray
                 else ""))  # fmt: skip
    return Decision("data.augment", steps, reason)


def normalization(fp: Fingerprint) -> Decision:
    """The data's own per-channel mean and standard deviation."""
    mean = [round(v / 255, 4) for v in fp.intensity_mean]
    std = [round(max(v, 1.0) / 255, 4) for v in fp.intensity_std]
    reason = (f"the training images' own intensities: mean {fp.intensity_mean}, std "
              f"{fp.intensity_std} (0..255)")  # fmt: skip
    return Decision("data.normalization", {"mean": mean, "std": std}, reason)

"""Plain-text tables of scores for the terminal."""

from __future__ import annotations

import math

from pixelwise.metrics import SegmentationScores


def _cell(value: float) -> str:
    return "   -" if math.isnan(value) else f"{value:.3f}"


def per_class_table(scores: SegmentationScores) -> str:
    """One row per class (IoU, Dice, precision, recall, support), then the summary scores."""
    width = max(8, *(len(n) for n in scores.class_names))
    header = (
        f"{'class':<{width}}  {'IoU':>6}  {'Dice':>6}  {'prec':>6}  {'recall':>6}  {'support':>10}"
    )
    lines = [header, "-" * len(header)]
    for i, name in enumerate(scores.class_names):
        cells = (scores.iou[i], scores.dice[i], scores.precision[i], scores.recall[i])
        row = "  ".join(f"{_cell(v):>6}" for v in cells)
        lines.append(f"{name:<{width}}  {row}  {scores.support[i]:>10}")
    lines.append("-" * len(header))
    lines.append(
        f"mIoU {_cell(scores.miou)}   pixel acc {_cell(scores.pixel_accuracy)}   "
        f"mean acc {_cell(scores.mean_accuracy)}   fwIoU {_cell(scores.fwiou)}   "
        f"mean Dice {_cell(scores.mean_dice)}   ({scores.level}-level, {scores.num_pixels} pixels)"
    )
    if scores.absent_classes:
        lines.append(
            f"{scores.absent_classes} class(es) absent from data and predictions: not in the means"
        )
    return "\n".join(lines)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def extras_summary(extras: dict[str, dict]) -> str:
    """A few lines summing up each extra score of an evaluation (their ``metrics.json`` forms).

    ``per_image``: the per-image means; ``boundary``: boundary F1; ``crops``: mIoU and
    pixel accuracy per crop factor; ``instances``: object-level F1 and AP. Empty when
    there are no extras.
    """
    lines = []
    if "per_image" in extras:
        scores = extras["per_image"]
        lines.append(
            f"per-image means over {scores['num_images']} images: mIoU {_score(scores['miou'])}"
            f"   pixel acc {_score(scores['pixel_accuracy'])}"
            f"   mean Dice {_score(scores['mean_dice'])}"
        )
    if "boundary" in extras:
        scores = extras["boundary"]
        lines.append(
            f"boundary F1 (tolerance {scores['tolerance_px']:g} px, per class over images): "
            f"{_score(scores['mean_bf'])}"
        )
    if "crops" in extras:
        scores = extras["crops"]
        cells = zip(scores["factors"], scores["miou"], scores["pixel_accuracy"], strict=True)
        lines.append("central crops (factor: mIoU / pixel acc): " + ", ".join(
            f"{factor:g}: {_score(miou)} / {_score(accuracy)}" for factor, miou, accuracy in cells
        ))  # fmt: skip
    if "instances" in extras:
        scores = extras["instances"]
        threshold = scores["thresholds"][0]
        lines.append(
            f"objects ({scores['num_gt']} true, {scores['num_pred']} predicted): "
            f"F1@{threshold:g} {_score(scores[f'f1@{threshold:g}'])}"
            f"   AP (mean over IoU {threshold:g}..{scores['thresholds'][-1]:g}) "
            f"{_score(scores['ap_dsb'])}"
        )
    return "\n".join(lines)

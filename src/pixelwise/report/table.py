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

"""A picture of predictions against the ground truth: titled columns, errors, class legend."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pixelwise.data.base import DatasetInfo
from pixelwise.report.overlay import error_map, overlay, to_rgb

COLUMNS = ("input", "ground truth", "prediction", "errors (red)")
PANEL_INCHES = 1.9

Sample = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(image (H, W[, C]) uint8, target (H, W), predicted labels (H, W))``."""


def prediction_figure(samples: Sequence[Sample], info: DatasetInfo) -> np.ndarray:
    """One row per sample: input | ground truth | prediction | errors, titled, with a legend.

    Ground truth and prediction are the class colours at a fixed opacity over the image in
    grey; the error column marks wrong pixels in red (ignored pixels are never wrong).
    The legend names every class with its colour. Returns ``(H, W, 3)`` uint8 RGB.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = len(samples)
    figure = Figure(
        figsize=(PANEL_INCHES * len(COLUMNS), PANEL_INCHES * rows + 0.9),
        dpi=100,
        layout="constrained",
    )
    axes = figure.subplots(rows, len(COLUMNS), squeeze=False)
    for row, (image, target, labels) in enumerate(samples):
        panels = (
            to_rgb(image),
            overlay(image, target, info.colours),
            overlay(image, labels, info.colours),
            error_map(image, labels, target, info.ignore_index),
        )
        for column, panel in enumerate(panels):
            axis = axes[row][column]
            axis.imshow(panel, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(COLUMNS[column], fontsize=11)
    handles = [
        Patch(facecolor=np.asarray(colour) / 255, edgecolor="black", label=name)
        for name, colour in zip(info.classes, info.colours, strict=True)
    ]
    figure.legend(
        handles=handles, loc="outside lower center", ncols=min(len(handles), 6), frameon=False
    )
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()

"""Confusion-matrix heatmap: rows normalised to the share of each true class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """``(C, C)`` counts ``[target, prediction]`` -> each row divided by its sum.

    A row with no pixels (a class absent from the targets) stays all zeros.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def confusion_heatmap(matrix: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """Render the row-normalised matrix with class names on both axes.

    Returns an ``(H, W, 3)`` uint8 RGB picture. Each cell shows its share in percent;
    the diagonal is per-class recall.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shares = row_normalised(matrix)
    size = len(class_names)
    side = 2.5 + 0.45 * size
    figure = Figure(figsize=(side + 1.0, side), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of the true class's pixels")
    axes.set_xticks(range(size), class_names, rotation=45, ha="right")
    axes.set_yticks(range(size), class_names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    if size <= 25:
        for row, col in np.ndindex(shares.shape):
            share = shares[row, col]
            colour = "white" if share > 0.5 else "black"
            axes.text(col, row, f"{100 * share:.0f}", ha="center", va="center", color=colour)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()

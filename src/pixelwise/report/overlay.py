"""Pictures of predictions: colour masks, overlays and comparison grids, as uint8 arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pixelwise.data.base import Colour

IGNORE_COLOUR = (255, 255, 255)


def colorize(
    labels: np.ndarray, colours: Sequence[Colour], ignore_index: int | None = None
) -> np.ndarray:
    """``(H, W)`` class labels -> ``(H, W, 3)`` uint8 colours; ignored pixels are white."""
    palette = np.zeros((max(256, len(colours), int(labels.max(initial=0)) + 1), 3), np.uint8)
    palette[: len(colours)] = np.asarray(colours, np.uint8).reshape(-1, 3)
    if ignore_index is not None and ignore_index < len(palette):
        palette[ignore_index] = IGNORE_COLOUR
    return palette[labels]


def to_rgb(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 1|3)`` uint8 -> ``(H, W, 3)``."""
    if image.ndim == 2:
        image = image[:, :, None]
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[:, :, :3]


def overlay(
    image: np.ndarray, labels: np.ndarray, colours: Sequence[Colour], alpha: float = 0.5
) -> np.ndarray:
    """Blend the colour mask of ``labels (H, W)`` over ``image (H, W[, C])``.

    Returns ``(H, W, 3)`` uint8.
    """
    blended = (1 - alpha) * to_rgb(image).astype(np.float32) + alpha * colorize(labels, colours)
    return blended.round().astype(np.uint8)


def grid(rows: Sequence[Sequence[np.ndarray]], gap: int = 2, scale: int = 1) -> np.ndarray:
    """Tile equally sized ``(H, W, 3)`` uint8 panels into rows and columns with white gaps.

    Each panel is enlarged ``scale`` times (pixel replication), so small images stay legible.
    """
    h, w = rows[0][0].shape[0] * scale, rows[0][0].shape[1] * scale
    cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + gap) - gap, cols * (w + gap) - gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, panel in enumerate(row):
            big = panel.repeat(scale, axis=0).repeat(scale, axis=1)
            out[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = big
    return out

"""Pictures of predictions: colour masks, overlays and comparison grids, as uint8 arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pixelwise.data.base import Colour

IGNORE_COLOUR = (255, 255, 255)
ERROR_COLOUR = (230, 25, 25)


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


def desaturate(image: np.ndarray) -> np.ndarray:
    """``(H, W[, C])`` uint8 -> ``(H, W, 3)`` float32 grey (ITU-R 601 luma), 0..255."""
    rgb = to_rgb(image).astype(np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat(grey[:, :, None], 3, axis=2)


def overlay(
    image: np.ndarray, labels: np.ndarray, colours: Sequence[Colour], alpha: float = 0.6
) -> np.ndarray:
    """The class colours of ``labels (H, W)`` at opacity ``alpha`` over ``image`` in grey.

    The image is desaturated first, so class colours are not mixed with the image's
    own colours (a red object under a green label would turn brown). Returns
    ``(H, W, 3)`` uint8.
    """
    blended = (1 - alpha) * desaturate(image) + alpha * colorize(labels, colours)
    return blended.round().astype(np.uint8)


def error_map(
    image: np.ndarray, labels: np.ndarray, target: np.ndarray, ignore_index: int | None
) -> np.ndarray:
    """Wrong pixels in red over the dimmed grey ``image``; ignored pixels stay grey.

    ``labels`` and ``target`` are ``(H, W)``; returns ``(H, W, 3)`` uint8.
    """
    picture = 0.5 * desaturate(image) + 64
    wrong = labels != target
    if ignore_index is not None:
        wrong &= target != ignore_index
    picture[wrong] = ERROR_COLOUR
    return picture.round().astype(np.uint8)


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

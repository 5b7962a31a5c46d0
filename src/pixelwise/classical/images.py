"""Image forms the classical methods work on: checked (H, W, C) uint8, grayscale, RGB."""

from __future__ import annotations

import cv2
import numpy as np

from pixelwise.errors import PixelwiseError

GRAYSCALE_MODES = ("luma", "mean", "red", "green", "blue")
"""How colour becomes gray: ``luma`` is ITU-R 601 (0.299 R + 0.587 G + 0.114 B, as PIL's
"L"), ``mean`` the channel average, ``red``/``green``/``blue`` one channel."""


def as_hwc(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, C)`` uint8 with C in 1, 3 -> ``(H, W, C)`` uint8."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.dtype != np.uint8 or image.shape[2] not in (1, 3):
        raise PixelwiseError(
            f"expected an (H, W), (H, W, 1) or (H, W, 3) uint8 image, "
            f"got shape {image.shape} {image.dtype}"
        )
    return image


def to_gray(image: np.ndarray, mode: str = "luma") -> np.ndarray:
    """``(H, W[, C])`` uint8 -> ``(H, W)`` uint8 gray by ``mode`` (see :data:`GRAYSCALE_MODES`).

    A one-channel image is its own gray, whatever ``mode`` says.
    """
    image = as_hwc(image)
    if image.shape[2] == 1:
        return image[:, :, 0]
    if mode == "luma":
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    if mode == "mean":
        return np.round(image.mean(axis=2)).astype(np.uint8)
    return image[:, :, GRAYSCALE_MODES.index(mode) - 2]


def to_rgb(image: np.ndarray) -> np.ndarray:
    """``(H, W[, C])`` uint8 -> ``(H, W, 3)`` uint8; gray is repeated into the three channels."""
    image = as_hwc(image)
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image

"""Colour masks, overlays and grids."""

from __future__ import annotations

import numpy as np

from pixelwise.report.overlay import colorize, grid, overlay

COLOURS = ((0, 0, 0), (255, 0, 0), (0, 0, 255))


def test_colorize_maps_labels_and_whitens_ignored_pixels() -> None:
    labels = np.array([[0, 1], [2, 255]])
    out = colorize(labels, COLOURS, ignore_index=255)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert out[0, 1].tolist() == [255, 0, 0] and out[1, 0].tolist() == [0, 0, 255]
    assert out[1, 1].tolist() == [255, 255, 255]


def test_overlay_blends_half_and_half() -> None:
    image = np.full((1, 2), 100, np.uint8)  # grayscale input
    out = overlay(image, np.array([[1, 2]]), COLOURS, alpha=0.5)
    assert out.tolist() == [[[178, 50, 50], [50, 50, 178]]]


def test_grid_places_enlarged_panels_with_gaps() -> None:
    red = np.zeros((2, 3, 3), np.uint8)
    red[..., 0] = 255
    out = grid([[red, red], [red]], gap=1, scale=2)
    assert out.shape == (2 * 4 + 1, 2 * 6 + 1, 3)
    assert (out[:4, :6] == red[0, 0]).all()
    assert (out[4] == 255).all()  # the white gap row
    assert (out[5:, 7:] == 255).all()  # the missing panel stays white

"""Colour masks, overlays, grids and the confusion-matrix heatmap."""

from __future__ import annotations

import numpy as np

from pixelwise.data.base import DatasetInfo
from pixelwise.report.heatmap import confusion_heatmap, row_normalised
from pixelwise.report.overlay import ERROR_COLOUR, colorize, error_map, grid, overlay
from pixelwise.report.predictions import prediction_figure

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


def test_rows_are_normalised_to_the_true_class_and_empty_rows_stay_zero() -> None:
    counts = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    shares = row_normalised(counts)
    assert shares.tolist() == [[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]]


def test_heatmap_is_an_rgb_picture() -> None:
    counts = np.diag([90, 5, 50]) + 1
    picture = confusion_heatmap(counts, ["a", "b", "c"])
    assert picture.dtype == np.uint8 and picture.ndim == 3 and min(picture.shape[:2]) > 100


def test_overlay_desaturates_the_image_first() -> None:
    red = np.zeros((1, 1, 3), np.uint8)
    red[..., 0] = 200  # luma 0.299 * 200 = 59.8
    out = overlay(red, np.array([[1]]), COLOURS, alpha=0.6)
    expected = 0.4 * 59.8 + 0.6 * np.array(COLOURS[1])
    assert out[0, 0].tolist() == np.round(expected).astype(int).tolist()


def test_error_map_marks_wrong_pixels_but_not_ignored_ones() -> None:
    image = np.full((1, 3), 100, np.uint8)
    target = np.array([[0, 1, 255]])
    labels = np.array([[0, 2, 2]])
    out = error_map(image, labels, target, ignore_index=255)
    assert out[0, 1].tolist() == list(ERROR_COLOUR)
    assert out[0, 0].tolist() == out[0, 2].tolist() == [114, 114, 114]  # 0.5 * 100 + 64


def test_prediction_figure_has_four_titled_columns_and_shows_errors() -> None:
    info = DatasetInfo(("background", "object"), ((0, 0, 0), (0, 114, 178)))
    image = np.full((16, 16, 3), 90, np.uint8)
    target = np.zeros((16, 16), np.int64)
    target[4:12, 4:12] = 1
    labels = np.zeros_like(target)  # the object is missed: 64 wrong pixels
    picture = prediction_figure([(image, target, labels)] * 2, info)
    assert picture.dtype == np.uint8 and picture.shape[1] > 3 * picture.shape[0] / 2
    assert (picture == np.array(ERROR_COLOUR, np.uint8)).all(axis=2).any()

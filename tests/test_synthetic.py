"""The synthetic shapes dataset: deterministic, well-formed, and class is shape, not colour."""

from __future__ import annotations

import numpy as np
import pytest

from pixelwise.data.synthetic import (
    OBJECT_PALETTE,
    SHAPE_CLASSES,
    SyntheticShapes,
    generate_shapes,
)
from pixelwise.errors import PixelwiseError

OBJECT_CLASSES = range(1, len(SHAPE_CLASSES))


@pytest.fixture(scope="module")
def shapes() -> tuple[np.ndarray, np.ndarray]:
    """300 images ``(N, 64, 64, 3)`` and masks ``(N, 64, 64)``."""
    return generate_shapes(300, size=64, seed=7)


def nearest_palette(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest ``OBJECT_PALETTE`` colour for each ``(P, 3)`` pixel, and
    the distance to it."""
    dist = np.linalg.norm(pixels[:, None].astype(np.float32) - OBJECT_PALETTE[None], axis=-1)
    return dist.argmin(axis=1), dist.min(axis=1)


def test_same_seed_same_arrays() -> None:
    a_images, a_masks = generate_shapes(8, seed=3)
    b_images, b_masks = generate_shapes(8, seed=3)
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a_masks, b_masks)


def test_different_seed_differs() -> None:
    a_images, a_masks = generate_shapes(8, seed=3)
    b_images, b_masks = generate_shapes(8, seed=4)
    assert not np.array_equal(a_images, b_images)
    assert not np.array_equal(a_masks, b_masks)


def test_splits_differ() -> None:
    train = SyntheticShapes("train", num_images=8, seed=0)
    val = SyntheticShapes("val", num_images=8, seed=0)
    assert all(not np.array_equal(train[i][0], val[i][0]) for i in range(len(train)))


def test_shapes_and_dtypes(shapes: tuple[np.ndarray, np.ndarray]) -> None:
    images, masks = shapes
    assert images.shape == (300, 64, 64, 3) and images.dtype == np.uint8
    assert masks.shape == (300, 64, 64) and masks.dtype == np.uint8


def test_rectangular_size() -> None:
    images, masks = generate_shapes(2, size=(32, 48))
    assert images.shape == (2, 32, 48, 3) and masks.shape == (2, 32, 48)


def test_mask_values_and_objects(shapes: tuple[np.ndarray, np.ndarray]) -> None:
    _, masks = shapes
    assert set(np.unique(masks)) <= set(range(len(SHAPE_CLASSES)))
    assert (masks.reshape(len(masks), -1) > 0).any(axis=1).all()
    assert set(np.unique(masks[:200])) == set(range(len(SHAPE_CLASSES)))


def test_at_most_max_objects() -> None:
    _, masks = generate_shapes(50, seed=1, max_objects=1)
    classes_per_image = [np.unique(m[m > 0]).size for m in masks]
    assert max(classes_per_image) == 1


def test_object_pixels_are_palette_colours(shapes: tuple[np.ndarray, np.ndarray]) -> None:
    images, masks = shapes
    _, dist = nearest_palette(images[masks > 0])
    assert np.mean(dist < 70) > 0.95


def test_every_colour_with_every_class(shapes: tuple[np.ndarray, np.ndarray]) -> None:
    images, masks = shapes
    colour, dist = nearest_palette(images[masks > 0])
    cls = masks[masks > 0]
    close = dist < 70
    counts = np.zeros((len(SHAPE_CLASSES), len(OBJECT_PALETTE)), np.int64)
    np.add.at(counts, (cls[close], colour[close]), 1)
    # At least five small objects' worth of pixels in every (class, colour) cell.
    assert (counts[1:] >= 1000).all(), counts


def test_colour_lookup_cannot_tell_classes(shapes: tuple[np.ndarray, np.ndarray]) -> None:
    """The best colour-bin -> class table, fitted on the very pixels it is scored on,
    still gets most object pixels wrong."""
    images, masks = shapes
    pixels = images[masks > 0] // 32  # 8 levels per channel
    bins = (pixels[:, 0].astype(np.int64) * 8 + pixels[:, 1]) * 8 + pixels[:, 2]
    counts = np.zeros((512, len(SHAPE_CLASSES)), np.int64)
    np.add.at(counts, (bins, masks[masks > 0]), 1)
    accuracy = counts.max(axis=1).sum() / counts.sum()
    majority = np.bincount(masks[masks > 0]).max() / counts.sum()
    assert accuracy < 0.6
    assert accuracy < majority + 0.1


def test_background_is_textured(shapes: tuple[np.ndarray, np.ndarray]) -> None:
    images, masks = shapes
    stds = [image[mask == 0].std(axis=0).mean() for image, mask in zip(images, masks, strict=True)]
    assert min(stds) > 10


def test_dataset_item_and_info() -> None:
    ds = SyntheticShapes("test", num_images=3, size=32, seed=1)
    image, mask = ds[2]
    assert len(ds) == 3
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert mask.shape == (32, 32) and mask.dtype == np.int64
    assert ds.stem(2) == "test-00002"
    assert ds.info.classes == SHAPE_CLASSES
    assert len(set(ds.info.colours)) == len(SHAPE_CLASSES)
    assert ds.info.ignore_index == 255 and ds.info.channels == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "bogus"}, r"'bogus'.*train, val, test"),
        ({"num_images": 0}, "num_images"),
        ({"size": 8}, "size"),
        ({"size": (64, 12)}, "size"),
        ({"max_objects": 0}, "max_objects"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(PixelwiseError, match=match):
        SyntheticShapes(**kwargs)

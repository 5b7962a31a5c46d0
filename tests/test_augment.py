"""Augmentation steps: image and mask move together, masks keep valid labels, errors are clear."""

from __future__ import annotations

import numpy as np
import pytest

from pixelwise.data.augment import STEPS, build_augmentation, default_steps
from pixelwise.errors import PixelwiseError

IGNORE = 255
NUM_CLASSES = 4
COLOURS = np.array([[0, 0, 0], [250, 0, 0], [0, 250, 0], [0, 0, 250]], np.uint8)
GEOMETRIC = [
    {"name": "crop"},
    {"name": "scale_crop", "scale": [0.5, 2.0]},
    {"name": "hflip", "p": 1.0},
    {"name": "vflip", "p": 1.0},
    {"name": "rot90", "p": 1.0},
    {"name": "rotate", "limit": 30, "p": 1.0},
    {"name": "elastic", "alpha": 34, "sigma": 4, "p": 1.0},
]
PHOTOMETRIC = [
    {"name": "color_jitter", "brightness": 0.3, "p": 1.0},
    {"name": "gauss_noise", "p": 1.0},
    {"name": "blur", "p": 1.0},
]


def blocks(size: int = 64, block: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Image ``(size, size, 3)`` uint8 whose colour encodes its mask ``(size, size)`` of blocks."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, NUM_CLASSES, (size // block, size // block))
    mask = np.kron(cells, np.ones((block, block), np.int64))
    return COLOURS[mask], mask


def apply(steps: list[dict], seed: int = 0, crop: tuple[int, int] | None = (48, 48)):
    image, mask = blocks()
    out = build_augmentation(steps, crop, IGNORE, seed)(image=image, mask=mask)
    return out["image"], out["mask"]


@pytest.mark.parametrize("step", GEOMETRIC, ids=lambda s: s["name"])
def test_geometric_steps_keep_image_and_mask_aligned(step: dict) -> None:
    steps = [step] if step["name"] in ("crop", "scale_crop") else [step, {"name": "crop"}]
    image, mask = apply(steps)
    labelled = mask != IGNORE
    assert labelled.mean() > 0.5
    # the colour the mask predicts matches the image, except on interpolated block edges
    distance = np.abs(COLOURS[np.where(labelled, mask, 0)].astype(int) - image.astype(int))
    matches = distance.max(axis=2)[labelled] < 60
    assert matches.mean() > 0.9


@pytest.mark.parametrize("step", PHOTOMETRIC, ids=lambda s: s["name"])
def test_photometric_steps_change_the_image_but_not_the_mask(step: dict) -> None:
    original_image, original_mask = blocks()
    image, mask = apply([step], crop=None)
    np.testing.assert_array_equal(mask, original_mask)
    assert not np.array_equal(image, original_image)


@pytest.mark.parametrize("step", GEOMETRIC + PHOTOMETRIC, ids=lambda s: s["name"])
def test_masks_hold_only_classes_and_the_ignore_index(step: dict) -> None:
    for seed in range(3):
        _, mask = apply([step, {"name": "crop"}], seed=seed)
        assert set(np.unique(mask)) <= set(range(NUM_CLASSES)) | {IGNORE}


def test_padding_uses_the_ignore_index() -> None:
    image, mask = blocks(size=32)
    out = build_augmentation([{"name": "crop"}], (40, 50), IGNORE, 0)(image=image, mask=mask)
    assert out["mask"].shape == (40, 50) and out["image"].shape == (40, 50, 3)
    assert (out["mask"] == IGNORE).sum() == 40 * 50 - 32 * 32
    assert (out["image"][out["mask"] == IGNORE] == 0).all()


def test_rotation_fills_uncovered_corners_with_the_ignore_index() -> None:
    _, mask = apply([{"name": "rotate", "limit": [45, 45], "p": 1.0}], crop=None)
    assert mask[0, 0] == IGNORE and mask[-1, -1] == IGNORE


def test_a_seed_fixes_the_result() -> None:
    steps = GEOMETRIC[1:] + PHOTOMETRIC
    first, second, other = apply(steps, seed=7), apply(steps, seed=7), apply(steps, seed=8)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0])


def test_the_default_is_a_random_crop_and_a_horizontal_flip() -> None:
    assert default_steps([48, 48]) == [{"name": "crop"}, {"name": "hflip"}]
    assert default_steps(None) == [{"name": "hflip"}]
    image, mask = apply(None)  # type: ignore[arg-type]
    assert image.shape == (48, 48, 3) and mask.shape == (48, 48)


def test_every_step_has_a_name_in_the_table() -> None:
    assert {s["name"] for s in GEOMETRIC + PHOTOMETRIC} == set(STEPS)


@pytest.mark.parametrize(
    ("steps", "crop", "message"),
    [
        ([{"name": "mirror"}], None, "unknown augmentation step 'mirror'; choose from: crop"),
        ([{"name": "rotate", "angle": 3}], None, "unknown parameter 'angle'.*valid: limit, p"),
        ([{"hflip": True}], None, "mapping with a 'name'"),
        ([{"name": "crop"}], None, "'crop' needs data.crop"),
        ([{"name": "hflip"}], (8, 8), "no 'crop' or 'scale_crop' step"),
        ([{"name": "scale_crop", "scale": 2}, {"name": "hflip"}], (8, 8), "scale must be"),
        ([{"name": "hflip", "p": 3}], None, "'hflip' rejects"),
    ],
)
def test_mistakes_name_the_bad_value(steps: list, crop, message: str) -> None:
    with pytest.raises(PixelwiseError, match=message):
        build_augmentation(steps, crop, IGNORE, 0)


def test_the_configured_steps_reach_the_training_batches() -> None:
    from pixelwise.config import RunConfig
    from pixelwise.data.synthetic import SyntheticShapes
    from pixelwise.data.transforms import Normalization
    from pixelwise.engine.datamodule import SegmentationDataModule

    steps = [{"name": "scale_crop", "scale": [1.0, 2.0]}, {"name": "vflip"}]
    config = RunConfig.from_dict({"data": {"augment": steps, "crop": [8, 12]}})
    shapes = SyntheticShapes("train", num_images=4, size=16)
    config.data.batch_size = 2
    data = SegmentationDataModule(
        shapes, shapes, Normalization.default(3), config.data, num_workers=0, seed=0
    )
    images, masks = next(iter(data.train_dataloader()))
    assert images.shape == (2, 3, 8, 12) and masks.shape == (2, 8, 12)
    assert next(iter(data.val_dataloader()))[1].shape == (1, 16, 16)

"""Class weights from data: the three formulas, zero-pixel classes, specs, the train flag."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from pixelwise.cli import build_parser, run_config
from pixelwise.config import RunConfig
from pixelwise.data import SegmentationDataset, class_weights
from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.stats import (
    count_class_pixels,
    resolve_class_weights,
)
from pixelwise.data.synthetic import SyntheticShapes
from pixelwise.errors import PixelwiseError

IGNORE = 255


class Masks(SegmentationDataset):
    """Blank images with the given masks (H, W)."""

    def __init__(self, masks: list[np.ndarray], num_classes: int) -> None:
        names = tuple(f"class{c}" for c in range(num_classes))
        self.info = DatasetInfo(names, default_colours(num_classes), ignore_index=IGNORE)
        self.masks = masks

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        mask = self.masks[index]
        return np.zeros((*mask.shape, 3), np.uint8), mask

    def stem(self, index: int) -> str:
        return f"mask{index}"


def _hand_example() -> Masks:
    # Image A: class 0 x3, class 1 x1 (4 labelled pixels).
    # Image B: class 0 x1, class 2 x2, one ignored pixel (3 labelled pixels).
    return Masks([np.array([[0, 0], [0, 1]]), np.array([[0, 2], [2, IGNORE]])], num_classes=3)


def test_hand_computed_weights() -> None:
    data = _hand_example()
    counts = count_class_pixels(data, progress=False)
    assert counts.pixels.tolist() == [4, 1, 2]
    assert counts.image_pixels.tolist() == [7, 4, 3]
    # freq = (4/7, 1/4, 2/3); median 4/7; weights 1, (4/7)/(1/4) = 16/7, (4/7)/(2/3) = 6/7.
    median = class_weights(data, "median_frequency", progress=False)
    np.testing.assert_allclose(median, [1, 16 / 7, 6 / 7])
    # n / (K n_c) with n = 7, K = 3: 7/12, 7/3, 7/6; and their square roots.
    inverse = class_weights(data, "inverse", progress=False)
    np.testing.assert_allclose(inverse, [7 / 12, 7 / 3, 7 / 6])
    root = class_weights(data, "inverse_sqrt", progress=False)
    np.testing.assert_allclose(root, np.sqrt([7 / 12, 7 / 3, 7 / 6]))


def _random_masks(seed: int) -> Masks:
    """Six masks of random sizes for five classes, drawn from classes 0-3 (4 never occurs)."""
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(6):
        # Each image draws from a random subset of classes, so presence varies by image.
        classes = rng.choice(4, size=rng.integers(1, 5), replace=False)
        mask = rng.choice(classes, size=(rng.integers(3, 9), rng.integers(3, 9)))
        mask[rng.random(mask.shape) < 0.1] = IGNORE
        masks.append(mask)
    return Masks(masks, num_classes=5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inverse_weights_match_scikit_learn(seed: int) -> None:
    data = _random_masks(seed)
    labels = np.concatenate([m[m != IGNORE] for m in data.masks])
    present = np.unique(labels)
    expected = np.zeros(5)
    expected[present] = compute_class_weight("balanced", classes=present, y=labels)
    with pytest.warns(UserWarning, match="no pixels get class weight 0: class4"):
        inverse = class_weights(data, "inverse", progress=False)
        root = class_weights(data, "inverse_sqrt", progress=False)
    np.testing.assert_allclose(inverse, expected)
    np.testing.assert_allclose(root, np.sqrt(expected))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_median_frequency_matches_a_per_image_computation(seed: int) -> None:
    data = _random_masks(seed)
    # Per image and class: (pixels of c, labelled pixels if c occurs else 0).
    per_image = np.array(
        [
            [((m == c).sum(), (m != IGNORE).sum() * (m == c).any()) for c in range(5)]
            for m in data.masks
        ]
    )
    pixels, image_pixels = per_image.sum(axis=0).T
    present = pixels > 0
    frequency = pixels[present] / image_pixels[present]
    expected = np.zeros(5)
    expected[present] = np.median(frequency) / frequency
    with pytest.warns(UserWarning, match="no pixels"):
        weights = class_weights(data, progress=False)
    np.testing.assert_allclose(weights, expected)


def test_class_without_pixels_gets_weight_zero_and_a_warning() -> None:
    data = Masks([np.array([[0, 0, 0], [1, 2, 2]])], num_classes=4)
    for method in ("median_frequency", "inverse", "inverse_sqrt"):
        with pytest.warns(UserWarning, match="no pixels get class weight 0: class3"):
            weights = class_weights(data, method, progress=False)
        assert weights[3] == 0
        assert np.all(weights[:3] > 0) and np.all(np.isfinite(weights))
    # Median over the three classes with pixels only: freq = (3/6, 1/6, 2/6), median 2/6.
    with pytest.warns(UserWarning):
        median = class_weights(data, progress=False)
    np.testing.assert_allclose(median, [2 / 3, 2, 1, 0])


def test_errors() -> None:
    with pytest.raises(PixelwiseError, match="every mask pixel is the ignore index"):
        class_weights(Masks([np.full((2, 2), IGNORE)], 2), progress=False)
    with pytest.raises(PixelwiseError, match="empty dataset"):
        class_weights(Masks([], 2), progress=False)
    bad = Masks([np.zeros((2, 2), int), np.array([[0, 5], [1, 1]])], 2)
    with pytest.raises(PixelwiseError, match=r"sample 'mask1' holds value 5.*\[0, 2\)"):
        class_weights(bad, progress=False)
    with pytest.raises(PixelwiseError, match="unknown class weight method 'median'"):
        class_weights(_hand_example(), "median", progress=False)


def test_progress_bar(capsys: pytest.CaptureFixture) -> None:
    class_weights(_hand_example(), progress=True)
    assert "counting class pixels" in capsys.readouterr().err
    class_weights(_hand_example(), progress=False)
    assert "counting class pixels" not in capsys.readouterr().err


def test_synthetic_shapes_weigh_the_background_least() -> None:
    data = SyntheticShapes("train", num_images=6, size=32, seed=3)
    for method in ("median_frequency", "inverse", "inverse_sqrt"):
        weights = class_weights(data, method, progress=False)
        assert weights.shape == (data.info.num_classes,)
        assert weights.argmin() == 0, method  # the background has the most pixels


def test_class_weight_specs_are_checked_with_the_configuration() -> None:
    def config(weights: object):
        return RunConfig.from_dict({"train": {"class_weights": weights}}).train.class_weights

    assert config("inverse") == "inverse"
    assert config([1, 2.5, 0]) == [1.0, 2.5, 0.0]
    for bad in ("median", [1, -2], [1, float("inf")], "1,2"):
        with pytest.raises(PixelwiseError, match=r"train.class_weights must be one of"):
            config(bad)


def test_resolve_class_weights() -> None:
    data = _hand_example()
    assert resolve_class_weights(None, data) is None
    inverse = resolve_class_weights("inverse", data, progress=False)
    assert inverse == pytest.approx([7 / 12, 7 / 3, 7 / 6])
    assert isinstance(inverse, list) and all(isinstance(w, float) for w in inverse)
    assert resolve_class_weights([1, 2, 3], data) == [1.0, 2.0, 3.0]
    with pytest.raises(
        PixelwiseError, match=r"2 class weights given, expected one per class \(3\)"
    ):
        resolve_class_weights([1.0, 2.0], data)
    with pytest.raises(PixelwiseError, match="finite and >= 0"):
        resolve_class_weights([1.0, math.nan, 2.0], data)


def test_class_weights_flag_sets_the_run_configuration() -> None:
    def config(*flags: str):
        return run_config(build_parser().parse_args(["train", *flags])).train

    assert config().class_weights is None
    assert config("--class-weights", "median_frequency").class_weights == "median_frequency"
    assert config("--class-weights", "1,2.5,0.5").class_weights == [1.0, 2.5, 0.5]
    with pytest.raises(PixelwiseError, match=r"--class-weights expects .*, got 'mfb'"):
        config("--class-weights", "mfb")

"""CropFactorScores: hand-worked crops and rings, odd sizes, ignored pixels, factor checks."""

from __future__ import annotations

import json
import math

import pytest
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.metrics.confusion import ConfusionMatrix
from pixelwise.metrics.crops import DEFAULT_FACTORS, CropFactorScores, central_crop

IGNORE = 255


def _wrong_border() -> tuple[torch.Tensor, torch.Tensor]:
    """Labels (1, 10, 10): target class 0 on cols 0-4, class 1 on cols 5-9; the prediction
    is right on the inner 8x8 (rows/cols 1-8) and says class 2 on the 1-pixel border."""
    target = torch.zeros(1, 10, 10, dtype=torch.long)
    target[..., 5:] = 1
    pred = torch.full_like(target, 2)
    pred[:, 1:9, 1:9] = target[:, 1:9, 1:9]
    return pred, target


def test_right_centre_wrong_border_hand_computed() -> None:
    pred, target = _wrong_border()
    metric = CropFactorScores(3, ignore_index=IGNORE)
    metric.update(pred, target)
    s = metric.compute()
    assert s.factors == DEFAULT_FACTORS
    # Crop sides 10, 9, ..., 1. The 9x9 crop starts at (10 - 9) // 2 = 0: it holds row 0
    # and col 0 of the border (9 + 8 = 17 wrong pixels); the 8x8 crop is the inner square.
    assert s.num_pixels == (100, 81, 64, 49, 36, 25, 16, 9, 4, 1)
    assert s.pixel_accuracy[:2] == pytest.approx((64 / 100, 64 / 81))
    assert s.pixel_accuracy[2:] == (1.0,) * 8
    # Full image: IoU 32 / 50 for classes 0 and 1, 0 for class 2 (36 predicted, no support).
    assert s.miou[0] == pytest.approx((32 / 50 + 32 / 50 + 0) / 3)
    # The 6x6 crop (cols 2-7) sees 18 pixels of each class, all right; class 2 is absent.
    assert s.miou[2:] == (1.0,) * 8
    # Rings: 19 border pixels outside the 9x9 crop, 17 between 9x9 and 8x8, then rings
    # of the inner square, and the 1x1 centre.
    assert s.ring_num_pixels == (19, 17, 15, 13, 11, 9, 7, 5, 3, 1)
    assert s.ring_pixel_accuracy == (0.0, 0.0) + (1.0,) * 8


def test_full_crop_equals_confusion_matrix() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 13, 11, generator=g)
    target = torch.randint(0, 4, (3, 13, 11), generator=g)
    target[torch.rand(3, 13, 11, generator=g) < 0.1] = IGNORE
    metric = CropFactorScores(4, ignore_index=IGNORE, factors=(1.0, 0.5))
    metric.update(logits, target)
    s = metric.compute()
    # Half of 13 x 11, rounded half up: 7 rows from (13 - 7) // 2 = 3, 6 cols from 2.
    crops = [(slice(None), slice(None)), (slice(3, 10), slice(2, 8))]
    for index, (rows, cols) in enumerate(crops):
        reference = ConfusionMatrix(4, ignore_index=IGNORE)
        reference.update(logits[..., rows, cols], target[..., rows, cols])
        expected = reference.compute()
        assert s.pixel_accuracy[index] == expected.pixel_accuracy
        assert s.miou[index] == expected.miou
        assert s.num_pixels[index] == expected.num_pixels
    # The rings split the full image's counts.
    assert sum(s.ring_num_pixels) == s.num_pixels[0]
    correct = sum(a * n for a, n in zip(s.ring_pixel_accuracy, s.ring_num_pixels, strict=True))
    assert correct / s.num_pixels[0] == pytest.approx(s.pixel_accuracy[0])


def test_odd_sizes_and_half_up_rounding() -> None:
    # 7 x 5 image. 0.5: 3.5 -> 4 rows from (7-4)//2 = 1, 2.5 -> 3 cols from (5-3)//2 = 1.
    # 0.3: 2.1 -> 2 rows from 2, 1.5 -> 2 cols from 1. 0.1: 0.7 -> 1 row from 3, 0.5 -> 1 col
    # from 2.
    assert central_crop((7, 5), 0.5) == (slice(1, 5), slice(1, 4))
    assert central_crop((7, 5), 0.3) == (slice(2, 4), slice(1, 3))
    assert central_crop((7, 5), 0.1) == (slice(3, 4), slice(2, 3))
    assert central_crop((7, 5), 0.01) == (slice(3, 4), slice(2, 3))  # at least 1 x 1
    assert central_crop((7, 5), 1.0) == (slice(0, 7), slice(0, 5))
    # 0.29 * 50 is 14.499999999999998 in floating point; as written it is 14.5 -> 15.
    assert central_crop((50, 50), 0.29) == (slice(17, 32), slice(17, 32))

    metric = CropFactorScores(2, factors=(1.0, 0.5, 0.3, 0.1))
    target = torch.zeros(2, 7, 5, dtype=torch.long)
    metric.update(target, target)
    s = metric.compute()
    assert s.num_pixels == (70, 24, 8, 2)
    assert s.ring_num_pixels == (46, 16, 6, 2)


def test_ignored_pixels_are_not_counted() -> None:
    pred, target = _wrong_border()
    target[:, 0, :] = IGNORE  # the top row, where the prediction is wrong
    metric = CropFactorScores(3, ignore_index=IGNORE, factors=(1.0, 0.9, 0.1))
    metric.update(pred, target)
    s = metric.compute()
    # The 9x9 crop loses its 9 top-row pixels: 72 counted, 8 wrong (col 0, rows 1-8).
    assert s.num_pixels == (90, 72, 1)
    assert s.pixel_accuracy == pytest.approx((64 / 90, 64 / 72, 1.0))
    assert s.ring_num_pixels == (18, 71, 1)
    assert s.ring_pixel_accuracy == pytest.approx((0.0, 63 / 71, 1.0))


def test_all_ignored_ring_is_none_in_json() -> None:
    metric = CropFactorScores(2, ignore_index=IGNORE, factors=(1.0, 0.5))
    target = torch.full((1, 4, 4), IGNORE)
    target[:, 1:3, 1:3] = 1
    metric.update(torch.ones(1, 4, 4, dtype=torch.long), target)
    d = metric.compute(class_names=["bg", "fg"]).to_dict()
    assert d == {
        "level": "dataset",
        "factors": [1.0, 0.5],
        "pixel_accuracy": [1.0, 1.0],
        "miou": [1.0, 1.0],
        "num_pixels": [4, 4],
        "ring_pixel_accuracy": [None, 1.0],
        "ring_num_pixels": [0, 4],
    }
    json.dumps(d, allow_nan=False)


def test_streaming_reset_and_size_mismatch() -> None:
    pred, target = _wrong_border()
    metric = CropFactorScores(3)
    metric.update(pred, target)
    metric.update(target, target)
    s = metric.compute()
    assert s.pixel_accuracy[0] == pytest.approx(164 / 200)
    metric.reset()
    assert metric.compute().num_pixels == (0,) * 10
    assert math.isnan(metric.compute().pixel_accuracy[0])
    with pytest.raises(ValueError, match="differ in H, W"):
        metric.update(pred[..., :9], target)


@pytest.mark.parametrize(
    ("factors", "message"),
    [
        ((1.0, 0.0), r"crop factor 0\.0 must lie in \(0, 1\]"),
        ((1.1,), r"crop factor 1\.1"),
        ((-0.5,), r"crop factor -0\.5"),
        ((math.nan,), r"crop factor nan"),
        ((), "at least one"),
        ((1.0, 0.5, 0.5), r"decrease strictly, got 0\.5 before 0\.5"),
        ((0.5, 0.7), r"decrease strictly, got 0\.5 before 0\.7"),
    ],
)
def test_bad_factors(factors: tuple[float, ...], message: str) -> None:
    with pytest.raises(PixelwiseError, match=message):
        CropFactorScores(3, factors=factors)
